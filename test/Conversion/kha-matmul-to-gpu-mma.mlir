// kha-matmul-to-gpu under a tensor-core #kha.gpu_kernel: cp.async pipelined
// mma.sync tiles; a configuration that does not fit is an error.
// RUN: kha-opt %s -kha-matmul-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func @bf16
// CHECK: gpu.launch {{.*}} in (%{{.*}} = %c128{{.*}}) workgroup(%[[AS:.*]] : memref<3x64x40xbf16, #gpu.address_space<workgroup>>, %[[BS:.*]] : memref<3x32x72xbf16, #gpu.address_space<workgroup>>)
// Two steps in flight before the loop (3 stages).
// CHECK-COUNT-2: nvgpu.device_async_create_group
// CHECK: scf.for {{.*}} -> (vector<2x2xf32>
// CHECK:   nvgpu.device_async_wait %{{.*}} {numGroups = 2 : i32}
// CHECK:   gpu.barrier
// CHECK:   nvgpu.ldmatrix %[[AS]]{{.*}}transpose = false
// CHECK:   nvgpu.ldmatrix %[[BS]]{{.*}}transpose = true
// CHECK:   nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK:   gpu.barrier
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: vector.store {{.*}} : memref<?x48xbf16>, vector<2xbf16>
func.func @bf16(%a: tensor<?x64xbf16>, %b: tensor<64x48xbf16>) -> tensor<?x48xbf16> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x64xbf16>
  %z = arith.constant 0.0 : bf16
  %e = tensor.empty(%d) : tensor<?x48xbf16>
  %f = linalg.fill ins(%z : bf16) outs(%e : tensor<?x48xbf16>) -> tensor<?x48xbf16>
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>} ins(%a, %b : tensor<?x64xbf16>, tensor<64x48xbf16>) outs(%f : tensor<?x48xbf16>) -> tensor<?x48xbf16>
  return %r : tensor<?x48xbf16>
}

// -----

func.func @n_not_multiple_of_8(%a: tensor<16x64xf16>, %b: tensor<64x36xf16>) -> tensor<16x36xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x36xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<16x36xf32>) -> tensor<16x36xf32>
  // expected-error @below {{does not fit: K and N are not static multiples of 8 (16-byte rows)}}
  %r = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>} ins(%a, %b : tensor<16x64xf16>, tensor<64x36xf16>) outs(%f : tensor<16x36xf32>) -> tensor<16x36xf32>
  return %r : tensor<16x36xf32>
}

// -----

// An f32 product whose only use rounds it to f16 (the elementwise
// linalg.generic of the pipeline, or arith.truncf): one kernel that stores
// the rounded values, no f32 product in memory.
// CHECK-LABEL: func @rounded
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<32x64xf16>
// CHECK: gpu.launch
// CHECK: nvgpu.mma.sync({{.*}}) -> vector<2x2xf32>
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xf16>
// CHECK: vector.store %{{.*}}, %[[OUT]]{{.*}} : memref<32x64xf16>, vector<2xf16>
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[OUT]]
// CHECK-NOT: linalg.generic
// CHECK: %[[OUT2:.*]] = memref.alloc() : memref<32x64xf16>
// CHECK: gpu.launch
// CHECK: vector.store %{{.*}}, %[[OUT2]]{{.*}} : memref<32x64xf16>, vector<2xf16>
// CHECK: %[[T2:.*]] = bufferization.to_tensor %[[OUT2]]
// CHECK-NOT: arith.truncf %{{.*}} : tensor
// CHECK: return %[[T]], %[[T2]]
#id = affine_map<(i, j) -> (i, j)>
func.func @rounded(%a: tensor<32x64xf16>, %b: tensor<64x64xf16>) -> (tensor<32x64xf16>, tensor<32x64xf16>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x64xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<32x64xf32>) -> tensor<32x64xf32>
  %p = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>} ins(%a, %b : tensor<32x64xf16>, tensor<64x64xf16>) outs(%f : tensor<32x64xf32>) -> tensor<32x64xf32>
  %h = tensor.empty() : tensor<32x64xf16>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<32x64xf32>) outs(%h : tensor<32x64xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<32x64xf16>
  %p2 = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>} ins(%a, %b : tensor<32x64xf16>, tensor<64x64xf16>) outs(%f : tensor<32x64xf32>) -> tensor<32x64xf32>
  %r2 = arith.truncf %p2 : tensor<32x64xf32> to tensor<32x64xf16>
  return %r, %r2 : tensor<32x64xf16>, tensor<32x64xf16>
}

// -----

// The product has another use: the kernel stores it in f32 and the rounding
// stays.
// CHECK-LABEL: func @rounded_and_used
// CHECK: memref.alloc() : memref<32x64xf32>
// CHECK: vector.store %{{.*}} : memref<32x64xf32>, vector<2xf32>
// CHECK: arith.truncf %{{.*}} : tensor<32x64xf32> to tensor<32x64xf16>
func.func @rounded_and_used(%a: tensor<32x64xf16>, %b: tensor<64x64xf16>) -> (tensor<32x64xf16>, tensor<32x64xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x64xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<32x64xf32>) -> tensor<32x64xf32>
  %p = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>} ins(%a, %b : tensor<32x64xf16>, tensor<64x64xf16>) outs(%f : tensor<32x64xf32>) -> tensor<32x64xf32>
  %r = arith.truncf %p : tensor<32x64xf32> to tensor<32x64xf16>
  return %r, %p : tensor<32x64xf16>, tensor<32x64xf32>
}
