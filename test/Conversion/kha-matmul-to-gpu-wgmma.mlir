// kha-matmul-to-gpu under a wgmma #kha.gpu_kernel (sm_90a): TMA loads into
// a ring of swizzled stages on mbarriers, warpgroup MMAs, C through shared
// memory; a wgmma configuration that does not fit is an error.
// RUN: kha-opt %s -kha-matmul-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func @bf16
// CHECK-COUNT-2: nvgpu.tma.create.descriptor {{.*}} box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
// CHECK: gpu.launch {{.*}} workgroup(%[[SMEM:.*]] : memref<32768xi8, #gpu.address_space<workgroup>>)
// CHECK: nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 2>
// CHECK-COUNT-2: nvgpu.mbarrier.init
// The prologue fills both stages (16 KiB each).
// CHECK-COUNT-2: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c16384
// CHECK: scf.for {{.*}} -> (!nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>)
// CHECK:   nvgpu.mbarrier.try_wait.parity
// CHECK:   nvgpu.warpgroup.generate.descriptor
// CHECK:   nvgpu.warpgroup.generate.descriptor
// CHECK:   nvgpu.warpgroup.mma {{.*}} {transposeB, waitGroup = 0 : i64}
// CHECK:   gpu.barrier
// CHECK:   nvgpu.tma.async.load
// CHECK:   nvgpu.tma.async.load
// CHECK: nvgpu.warpgroup.mma.store
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @bf16(%a: tensor<?x200xbf16>, %b: tensor<200x48xbf16>) -> tensor<?x48xbf16> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x200xbf16>
  %z = arith.constant 0.0 : bf16
  %e = tensor.empty(%d) : tensor<?x48xbf16>
  %f = linalg.fill ins(%z : bf16) outs(%e : tensor<?x48xbf16>) -> tensor<?x48xbf16>
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>} ins(%a, %b : tensor<?x200xbf16>, tensor<200x48xbf16>) outs(%f : tensor<?x48xbf16>) -> tensor<?x48xbf16>
  return %r : tensor<?x48xbf16>
}

// -----

// 128 x 128 tiles: two warpgroups, each its 64 rows of the A box; the B
// tile two 64 x 64 boxes, read as one 64 x 128 operand; four stages of
// 32 KiB in dynamic shared memory.
// CHECK-LABEL: func @tile_128x128
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<128x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b
// CHECK: nvgpu.tma.create.descriptor {{.*}} -> <tensor = memref<64x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b
// CHECK: %[[BYTES:.*]] = arith.constant 131072 : i32
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c256{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: gpu.dynamic_shared_memory
// CHECK-COUNT-4: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c32768
// CHECK: scf.for {{.*}} -> (!nvgpu.warpgroup.accumulator<fragmented = vector<64x128xf32>>)
// CHECK:   nvgpu.warpgroup.mma {{.*}} {transposeB, waitGroup = 0 : i64} : <tensor = memref<64x64xf16, #gpu.address_space<workgroup>>>, <tensor = memref<64x128xf16, #gpu.address_space<workgroup>>>, <fragmented = vector<64x128xf32>>
// CHECK: nvgpu.warpgroup.mma.store %{{.*}}, %{{.*}} : <fragmented = vector<64x128xf32>> to memref<64x128xf32, #gpu.address_space<workgroup>>
func.func @tile_128x128(%a: tensor<?x512xf16>, %b: tensor<512x256xf16>) -> tensor<?x256xf32> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x512xf16>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%d) : tensor<?x256xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x256xf32>) -> tensor<?x256xf32>
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 128, tile_k = 64, warps = 8, stages = 4, padding = 0>} ins(%a, %b : tensor<?x512xf16>, tensor<512x256xf16>) outs(%f : tensor<?x256xf32>) -> tensor<?x256xf32>
  return %r : tensor<?x256xf32>
}

// -----

func.func @n_not_multiple_of_8(%a: tensor<16x64xf16>, %b: tensor<64x36xf16>) -> tensor<16x36xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x36xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<16x36xf32>) -> tensor<16x36xf32>
  // expected-error @+1 {{kha-matmul-to-gpu: #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0> does not fit: K and N are not static multiples of 8 (16-byte rows)}}
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>} ins(%a, %b : tensor<16x64xf16>, tensor<64x36xf16>) outs(%f : tensor<16x36xf32>) -> tensor<16x36xf32>
  return %r : tensor<16x36xf32>
}

// -----

func.func @tile_n_96(%a: tensor<16x64xf16>, %b: tensor<64x96xf16>) -> tensor<16x96xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x96xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<16x96xf32>) -> tensor<16x96xf32>
  // expected-error @+1 {{does not fit: the wgmma matmul kernel has a warpgroup per 64 rows of a 64 or 128 x 64, 128 or 256 tile, and steps of 64 along K}}
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 192, tile_k = 64, warps = 4, stages = 2, padding = 0>} ins(%a, %b : tensor<16x64xf16>, tensor<64x96xf16>) outs(%f : tensor<16x96xf32>) -> tensor<16x96xf32>
  return %r : tensor<16x96xf32>
}
