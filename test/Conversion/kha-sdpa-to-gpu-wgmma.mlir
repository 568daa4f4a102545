// kha-sdpa-to-gpu under a wgmma #kha.gpu_kernel (sm_90a): TMA boxes of Q, K
// and V on an mbarrier ring, S = Q K^T by warpgroup MMAs from shared memory,
// the softmax on the accumulators' registers, O += P V by register-A
// warpgroup MMAs (P never leaves the registers); head dims past 64 in
// dynamic shared memory, zero-filled past the head dim; a wgmma
// configuration that does not fit is an error.
// RUN: kha-opt %s -kha-sdpa-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// GQA (2 query heads per key/value head), d = 64: 40 KiB of static shared
// memory (Q, then two stages of K and V).
// CHECK-LABEL: func @gqa_d64
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<1x32x2x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
// CHECK-COUNT-2: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<1x64x1x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128{{.*}}) workgroup(%[[SMEM:.*]] : memref<40960xi8, #gpu.address_space<workgroup>>)
// CHECK: nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 3>
// CHECK-COUNT-3: nvgpu.mbarrier.init
// Q: one box of 8 KiB on mbarrier 2, then the first two K/V tiles.
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c8192
// CHECK: nvgpu.tma.async.load
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// Tile 0 before the loop, when there is one: its S (waited for) and softmax.
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: %[[T0:.*]]:3 = scf.if %{{.*}} -> (vector<2xf32>, vector<2xf32>, vector<32xbf16>)
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK-COUNT-3: nvgpu.warpgroup.mma {{.*}} {waitGroup = 4 : i64} : <tensor = memref<64x16xbf16, #gpu.address_space<workgroup>>>, <tensor = memref<16x64xbf16, #gpu.address_space<workgroup>>>
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 0 : i64}
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>> to vector<32xf32>
// CHECK: gpu.shuffle xor
// CHECK: math.exp2
// P in registers: its two rows back in the accumulator's register order,
// which is the register layout of a wgmma A operand.
// CHECK: %[[PAIRS:.*]] = vector.shuffle %{{.*}}, %{{.*}} [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, {{.*}}, 14, 15, 30, 31] : vector<16xf32>, vector<16xf32>
// CHECK: %[[P0:.*]] = arith.truncf %[[PAIRS]] : vector<32xf32> to vector<32xbf16>
// CHECK: scf.yield %{{.*}}, %{{.*}}, %[[P0]]
// No tile (S = 0 at run time): nothing waited for, every row sums to 0.
// CHECK: } else {
// CHECK-NOT: nvgpu.mbarrier.try_wait.parity
// CHECK: scf.yield
// Tiles 1 ..: S_j = Q K_j^T (K a K-major operand, no transposeB) stays in
// flight while O += P_{j-1} V_{j-1} is issued (P from registers, V an
// N-major operand); waiting for all but that group completes S_j, whose
// softmax overlaps it; O is rescaled once every group is done, then the
// stage of tile j - 1 is refilled.
// CHECK: %[[LOOP:.*]]:4 = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[T0]]#0, %{{.*}} = %[[T0]]#1, %[[P:.*]] = %[[T0]]#2, %[[O:.*]] = %{{.*}}) -> (vector<2xf32>, vector<2xf32>, vector<32xbf16>, vector<32xf32>)
// CHECK:   nvgpu.mbarrier.try_wait.parity
// CHECK-COUNT-4: nvgpu.warpgroup.mma {{.*}} {waitGroup = 4 : i64} : <tensor = memref<64x16xbf16, #gpu.address_space<workgroup>>>, <tensor = memref<16x64xbf16, #gpu.address_space<workgroup>>>
// CHECK-NOT: gpu.barrier
// CHECK:   %[[PV:.*]] = kha.warpgroup_mma_register_a %[[P]], %{{.*}}, %[[O]] {transposeB, waitGroup = 1 : i64} : vector<32xbf16>, <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
// CHECK:   builtin.unrealized_conversion_cast %{{.*}} : !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>> to vector<32xf32>
// CHECK:   math.exp2
// CHECK-NOT: gpu.barrier
// CHECK:   nvvm.wgmma.wait.group.sync.aligned 0
// P_j is rounded into the A registers only after the wait: the P V in flight
// reads P_{j-1}'s until then.
// CHECK:   arith.truncf %{{.*}} : vector<32xf32> to vector<32xbf16>
// CHECK:   arith.mulf %[[PV]], %{{.*}} : vector<32xf32>
// CHECK:   gpu.barrier
// CHECK:   nvgpu.tma.async.load
// The last tile's P V waits (if there is a tile).
// CHECK: scf.if %{{.*}} -> (vector<32xf32>)
// CHECK: kha.warpgroup_mma_register_a %[[LOOP]]#2, %{{.*}}, %[[LOOP]]#3 {transposeB} :
// CHECK: } else {
// CHECK: scf.yield %[[LOOP]]#3
// CHECK: vector.store {{.*}} : memref<2x?x4x64xbf16>, vector<2xbf16>
func.func @gqa_d64(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x2x64xbf16>, %v: tensor<2x?x2x64xbf16>) -> tensor<2x?x4x64xbf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x4x64xbf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x4x64xbf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>} : (tensor<2x?x4x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x4x64xbf16>) -> tensor<2x?x4x64xbf16>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// d = 128: two boxes per row, 80 KiB of dynamic shared memory; P V is one
// m64n128 MMA per k16 step, over both boxes of V.
// CHECK-LABEL: func @mha_d128
// CHECK: %[[BYTES:.*]] = arith.constant 81920 : i32
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size %[[BYTES]]
// CHECK: gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// CHECK-COUNT-2: nvgpu.tma.async.load
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c32768
// CHECK-COUNT-4: nvgpu.tma.async.load
// CHECK-COUNT-7: nvgpu.warpgroup.mma {{.*}} {waitGroup = 8 : i64}
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 0 : i64}
// CHECK: scf.for {{.*}} -> (vector<2xf32>, vector<2xf32>, vector<32xf16>, vector<64xf32>)
// CHECK-COUNT-8: nvgpu.warpgroup.mma {{.*}} {waitGroup = 8 : i64}
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB, waitGroup = 1 : i64} : vector<32xf16>, <tensor = memref<64x128xf16, #gpu.address_space<workgroup>>>, vector<64xf32>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB} : vector<32xf16>, <tensor = memref<64x128xf16, #gpu.address_space<workgroup>>>, vector<64xf32>
func.func @mha_d128(%q: tensor<1x?x2x128xf16>, %k: tensor<1x?x2x128xf16>, %v: tensor<1x?x2x128xf16>) -> tensor<1x?x2x128xf16> {
  %sdpa_c2_1 = arith.constant 1 : index
  %sdpa_d2_1 = tensor.dim %q, %sdpa_c2_1 : tensor<1x?x2x128xf16>
  %sdpa_init2 = tensor.empty(%sdpa_d2_1) : tensor<1x?x2x128xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init2) {scale = 0.088 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 128, warps = 4, stages = 2, padding = 0>} : (tensor<1x?x2x128xf16>, tensor<1x?x2x128xf16>, tensor<1x?x2x128xf16>, tensor<1x?x2x128xf16>) -> tensor<1x?x2x128xf16>
  return %o : tensor<1x?x2x128xf16>
}

// -----

func.func @d36(%q: tensor<1x8x2x36xf16>, %k: tensor<1x8x2x36xf16>, %v: tensor<1x8x2x36xf16>) -> tensor<1x8x2x36xf16> {
  %sdpa_init3 = tensor.empty() : tensor<1x8x2x36xf16>
  // expected-error @+1 {{kha-sdpa-to-gpu: #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0> does not fit: the wgmma attention kernel takes head dims that are multiples of 8 up to 256 (got 36/36)}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.17 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>} : (tensor<1x8x2x36xf16>, tensor<1x8x2x36xf16>, tensor<1x8x2x36xf16>, tensor<1x8x2x36xf16>) -> tensor<1x8x2x36xf16>
  return %o : tensor<1x8x2x36xf16>
}

// -----

// 128 query rows over two warpgroups (256 threads): the Q box holds 128
// rows, each warpgroup's S MMAs read its 64 of them (8 KiB apart); P stays
// in each warpgroup's registers (16 KiB + 2 x 16 KiB of dynamic shared
// memory).
// CHECK-LABEL: func @two_warpgroups
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<1x64x2x64xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[BYTES:.*]] = arith.constant 49152 : i32
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c256{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// CHECK: scf.for
// CHECK-COUNT-4: nvgpu.warpgroup.mma {{.*}} : <tensor = memref<64x16xbf16, #gpu.address_space<workgroup>>>
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB, waitGroup = 1 : i64} :
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB} :
func.func @two_warpgroups(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x2x64xbf16>, %v: tensor<2x?x2x64xbf16>) -> tensor<2x?x4x64xbf16> {
  %sdpa_c4_1 = arith.constant 1 : index
  %sdpa_d4_1 = tensor.dim %q, %sdpa_c4_1 : tensor<2x?x4x64xbf16>
  %sdpa_init4 = tensor.empty(%sdpa_d4_1) : tensor<2x?x4x64xbf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init4) {causal, scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 64, warps = 8, stages = 2, padding = 0>} : (tensor<2x?x4x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x4x64xbf16>) -> tensor<2x?x4x64xbf16>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// Warp specialisation (12 warps: two consumer warpgroups and a producer):
// 384 threads; mbarriers full 0-2, Q 3, empty 4-6 (256 arrivals each, one
// per consumer thread). The consumers (threads 0-255) raise their registers
// to 240, wait for Q and each full stage, and release tile j - 1's stage
// by an arrive instead of a block barrier; the producer cuts its registers
// to 24, and its first thread loads Q, then tile j into stage j % 3 after
// waiting for the stage's release of the pass before (parity
// (j / 3 + 1) % 2; on the first pass the wait returns at once).
// CHECK-LABEL: func @warp_specialised
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c384{{.*}})
// CHECK: nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 7>
// CHECK-COUNT-4: nvgpu.mbarrier.init %{{.*}}[%{{.*}}], %c1
// CHECK-COUNT-3: nvgpu.mbarrier.init %{{.*}}[%{{.*}}], %c256
// CHECK: gpu.barrier
// CHECK: %[[CONSUMER:.*]] = arith.cmpi ult, %{{.*}}, %c256{{.*}} : index
// CHECK: scf.if %[[CONSUMER]] {
// CHECK:   nvvm.setmaxregister  increase 240
// CHECK-NOT: nvgpu.tma.async.load
// CHECK:   scf.for
// CHECK:     nvgpu.mbarrier.try_wait.parity
// CHECK:     kha.warpgroup_mma_register_a {{.*}} {transposeB, waitGroup = 1 : i64} :
// CHECK:     nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: gpu.barrier
// CHECK:     nvgpu.mbarrier.arrive %{{.*}}[%{{.*}}] : <memorySpace = #gpu.address_space<workgroup>, num_barriers = 7> -> !nvgpu.mbarrier.token
// CHECK-NOT: gpu.barrier
// CHECK:   vector.store
// CHECK: } else {
// CHECK:   nvvm.setmaxregister  decrease 24
// CHECK:   %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c256{{.*}} : index
// CHECK:   scf.if %[[FIRST]] {
// CHECK:     nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// CHECK:     scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK:       %[[PASS:.*]] = arith.divui %[[J]], %c3
// CHECK:       %[[NEXT:.*]] = arith.addi %[[PASS]], %c1
// CHECK:       %[[PAR:.*]] = arith.remui %[[NEXT]], %c2
// CHECK:       %[[BIT:.*]] = arith.index_castui %[[PAR]] : index to i1
// CHECK:       %[[STAGE:.*]] = arith.remui %[[J]], %c3
// CHECK:       %[[EMPTY:.*]] = arith.addi %[[STAGE]], %c4
// CHECK:       nvgpu.mbarrier.try_wait.parity %{{.*}}[%[[EMPTY]]], %[[BIT]]
// CHECK:       nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%[[STAGE]]], %c16384
// CHECK-COUNT-2: nvgpu.tma.async.load
// CHECK-NOT: gpu.barrier
// CHECK: gpu.terminator
func.func @warp_specialised(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x2x64xbf16>, %v: tensor<2x?x2x64xbf16>) -> tensor<2x?x4x64xbf16> {
  %sdpa_c5_1 = arith.constant 1 : index
  %sdpa_d5_1 = tensor.dim %q, %sdpa_c5_1 : tensor<2x?x4x64xbf16>
  %sdpa_init5 = tensor.empty(%sdpa_d5_1) : tensor<2x?x4x64xbf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init5) {causal, scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 64, warps = 12, stages = 3, padding = 0>} : (tensor<2x?x4x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x4x64xbf16>) -> tensor<2x?x4x64xbf16>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// A producer warpgroup needs two consumer warpgroups (tile_m 128).
func.func @producer_one_consumer(%q: tensor<1x8x2x64xf16>) -> tensor<1x8x2x64xf16> {
  %sdpa_init6 = tensor.empty() : tensor<1x8x2x64xf16>
  // expected-error @+1 {{does not fit: the wgmma attention kernel has a producer warpgroup only with two consumer warpgroups (tile_m 128) and value head dims up to 128}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init6) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 8, stages = 2, padding = 0>} : (tensor<1x8x2x64xf16>, tensor<1x8x2x64xf16>, tensor<1x8x2x64xf16>, tensor<1x8x2x64xf16>) -> tensor<1x8x2x64xf16>
  return %o : tensor<1x8x2x64xf16>
}

// -----

// A producer warpgroup leaves each consumer 240 registers: not enough for
// O with a value head dim of 256.
func.func @producer_d256(%q: tensor<1x?x2x256xbf16>) -> tensor<1x?x2x256xbf16> {
  %sdpa_c7_1 = arith.constant 1 : index
  %sdpa_d7_1 = tensor.dim %q, %sdpa_c7_1 : tensor<1x?x2x256xbf16>
  %sdpa_init7 = tensor.empty(%sdpa_d7_1) : tensor<1x?x2x256xbf16>
  // expected-error @+1 {{the wgmma attention kernel has a producer warpgroup only with two consumer warpgroups (tile_m 128) and value head dims up to 128}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init7) {scale = 0.0625 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 256, warps = 12, stages = 2, padding = 0>} : (tensor<1x?x2x256xbf16>, tensor<1x?x2x256xbf16>, tensor<1x?x2x256xbf16>, tensor<1x?x2x256xbf16>) -> tensor<1x?x2x256xbf16>
  return %o : tensor<1x?x2x256xbf16>
}

// -----

// d = 96: two boxes per row, the second half zero-filled by TMA; six k16
// steps for S; only the 96 columns of O stored (12 pairs per row).
// CHECK-LABEL: func @d96
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// CHECK-COUNT-5: nvgpu.warpgroup.mma {{.*}} {waitGroup = 6 : i64}
// CHECK: nvgpu.warpgroup.mma {{.*}} {waitGroup = 0 : i64}
// CHECK: scf.for
// CHECK-COUNT-6: nvgpu.warpgroup.mma {{.*}} {waitGroup = 6 : i64}
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB, waitGroup = 1 : i64} : vector<32xf16>, <tensor = memref<64x128xf16
// CHECK: kha.warpgroup_mma_register_a {{.*}} {transposeB} :
// CHECK-COUNT-24: vector.store {{.*}} : memref<1x?x2x96xf16>, vector<2xf16>
// CHECK-NOT: vector.store
func.func @d96(%q: tensor<1x?x2x96xf16>, %k: tensor<1x?x2x96xf16>, %v: tensor<1x?x2x96xf16>) -> tensor<1x?x2x96xf16> {
  %sdpa_c8_1 = arith.constant 1 : index
  %sdpa_d8_1 = tensor.dim %q, %sdpa_c8_1 : tensor<1x?x2x96xf16>
  %sdpa_init8 = tensor.empty(%sdpa_d8_1) : tensor<1x?x2x96xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init8) {scale = 0.1 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 128, warps = 4, stages = 2, padding = 0>} : (tensor<1x?x2x96xf16>, tensor<1x?x2x96xf16>, tensor<1x?x2x96xf16>, tensor<1x?x2x96xf16>) -> tensor<1x?x2x96xf16>
  return %o : tensor<1x?x2x96xf16>
}

// -----

func.func @three_heads_per_group(%q: tensor<1x8x6x64xf16>, %k: tensor<1x8x2x64xf16>, %v: tensor<1x8x2x64xf16>) -> tensor<1x8x6x64xf16> {
  %sdpa_init9 = tensor.empty() : tensor<1x8x6x64xf16>
  // expected-error @+1 {{does not fit: the query heads per key/value head (3) do not divide 64}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init9) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>} : (tensor<1x8x6x64xf16>, tensor<1x8x2x64xf16>, tensor<1x8x2x64xf16>, tensor<1x8x6x64xf16>) -> tensor<1x8x6x64xf16>
  return %o : tensor<1x8x6x64xf16>
}
