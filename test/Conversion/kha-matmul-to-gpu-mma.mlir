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
