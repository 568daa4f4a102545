// kha-warpgroup-mma-register-a-to-nvvm: the register-A warpgroup MMA as one
// inline PTX wgmma.mma_async per k16 step between the NVVM fence, commit and
// wait; A's elements in pairs (32-bit registers) in fragment order, the B
// descriptor advanced per step (32 bytes K-major, 16 rows of 128 bytes
// N-major; an N-major one's leading byte offset set to K rows of 128
// bytes), the accumulators tied from input to output.
// RUN: kha-opt %s -split-input-file -kha-warpgroup-mma-register-a-to-nvvm | FileCheck %s

// CHECK-LABEL: func @k_major_f16
// CHECK-SAME: (%[[A:.*]]: vector<16xf16>, %[[B:.*]]: !nvgpu.warpgroup.descriptor<{{.*}}>, %[[C:.*]]: vector<4xf32>)
// CHECK: %[[DESC:.*]] = builtin.unrealized_conversion_cast %[[B]] : {{.*}} to i64
// CHECK-NOT: llvm.and
// CHECK: %[[C0:.*]] = vector.extract %[[C]][0]
// CHECK: %[[C3:.*]] = vector.extract %[[C]][3]
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: %[[ONE:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: %[[P0:.*]] = vector.shuffle %[[A]], %[[A]] [0, 1]
// CHECK: %[[R0:.*]] = llvm.bitcast %[[P0]] : vector<2xf16> to i32
// CHECK: vector.shuffle %[[A]], %[[A]] [2, 3]
// CHECK: vector.shuffle %[[A]], %[[A]] [4, 5]
// CHECK: vector.shuffle %[[A]], %[[A]] [6, 7]
// CHECK: %[[S0:.*]] = llvm.mlir.constant(0 : i64) : i64
// CHECK: %[[D0:.*]] = llvm.add %[[DESC]], %[[S0]] : i64
// CHECK: %[[M0:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "{ .reg .pred p; setp.ne.b32 p, $9, 0; wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {$0, $1, $2, $3}, {$4, $5, $6, $7}, $8, p, 1, 1, 0; }", "=f,=f,=f,=f,r,r,r,r,l,r,0,1,2,3" %[[R0]], %{{.*}}, %{{.*}}, %{{.*}}, %[[D0]], %[[ONE]], %[[C0]], %{{.*}}, %{{.*}}, %[[C3]] : (i32, i32, i32, i32, i64, i32, f32, f32, f32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: %[[N0:.*]] = llvm.extractvalue %[[M0]][0]
// CHECK: vector.shuffle %[[A]], %[[A]] [8, 9]
// CHECK: vector.shuffle %[[A]], %[[A]] [14, 15]
// CHECK: %[[S1:.*]] = llvm.mlir.constant(2 : i64) : i64
// CHECK: %[[D1:.*]] = llvm.add %[[DESC]], %[[S1]] : i64
// CHECK: %[[M1:.*]] = llvm.inline_asm {{.*}}m64n8k16.f32.f16.f16{{.*}} %[[D1]], %[[ONE]], %[[N0]],
// CHECK: %[[E0:.*]] = llvm.extractvalue %[[M1]][0]
// CHECK-NOT: llvm.inline_asm
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: vector.insert %[[E0]], %{{.*}} [0] : f32 into vector<4xf32>
func.func @k_major_f16(%a: vector<16xf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<32x8xf16, #gpu.address_space<workgroup>>>, %c: vector<4xf32>) -> vector<4xf32> {
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<16xf16>, !nvgpu.warpgroup.descriptor<tensor = memref<32x8xf16, #gpu.address_space<workgroup>>>, vector<4xf32>
  return %d : vector<4xf32>
}

// -----

// N-major B (transposeB), the P V of the Hopper attention kernel: the
// leading byte offset set to 64 rows of 128 bytes (512 units in bits 16-29),
// four steps 2048 bytes (128 descriptor units) apart, the group left in
// flight.
// CHECK-LABEL: func @n_major_bf16
// CHECK: %[[RAW:.*]] = builtin.unrealized_conversion_cast
// CHECK: %[[MASK:.*]] = llvm.mlir.constant(-1073676289 : i64) : i64
// CHECK: %[[CLEARED:.*]] = llvm.and %[[RAW]], %[[MASK]] : i64
// CHECK: %[[LBO:.*]] = llvm.mlir.constant(33554432 : i64) : i64
// CHECK: %[[DESC:.*]] = llvm.or %[[CLEARED]], %[[LBO]] : i64
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: llvm.mlir.constant(0 : i64)
// CHECK: llvm.add %[[DESC]]
// CHECK: llvm.inline_asm has_side_effects asm_dialect = att "{ .reg .pred p; setp.ne.b32 p, $37, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0, $1, {{.*}}, $31}, {$32, $33, $34, $35}, $36, p, 1, 1, 1; }", "{{(=f,)+}}r,r,r,r,l,r,0,1,{{.*}},31"
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [8, 9] : vector<32xbf16>
// CHECK: llvm.mlir.constant(128 : i64)
// CHECK: llvm.inline_asm
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [16, 17] : vector<32xbf16>
// CHECK: llvm.mlir.constant(256 : i64)
// CHECK: llvm.inline_asm
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [30, 31] : vector<32xbf16>
// CHECK: llvm.mlir.constant(384 : i64)
// CHECK: llvm.inline_asm
// CHECK-NOT: llvm.inline_asm
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 2
func.func @n_major_bf16(%a: vector<32xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  %d = kha.warpgroup_mma_register_a %a, %b, %c {transposeB, waitGroup = 2} : vector<32xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// Left alone: warpgroup MMAs with both operands from shared memory are
// convert-nvgpu-to-nvvm's.
// CHECK-LABEL: func @shared_a
// CHECK: nvgpu.warpgroup.mma
// CHECK-NOT: llvm.inline_asm
func.func @shared_a(%a: !nvgpu.warpgroup.descriptor<tensor = memref<64x16xf16, #gpu.address_space<workgroup>>>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<16x64xf16, #gpu.address_space<workgroup>>>, %c: !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>) -> !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>> {
  %d = nvgpu.warpgroup.mma %a, %b, %c : <tensor = memref<64x16xf16, #gpu.address_space<workgroup>>>, <tensor = memref<16x64xf16, #gpu.address_space<workgroup>>>, <fragmented = vector<64x64xf32>> -> <fragmented = vector<64x64xf32>>
  return %d : !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
}
