// kha-matmul-to-gpu: a plain matmul from zero becomes a 64 x 64-tiled kernel
// staging A and B through shared memory; others are left alone.
// RUN: kha-opt %s -kha-matmul-to-gpu="tensor-cores=false" -split-input-file | FileCheck %s

// CHECK-LABEL: func @projection
// CHECK-DAG: %[[A:.*]] = bufferization.to_buffer %arg0 read_only : tensor<?x48xf32>
// CHECK-DAG: %[[B:.*]] = bufferization.to_buffer %arg1 read_only : tensor<48x40xf32>
// CHECK: %[[C:.*]] = memref.alloc(%{{.*}}) : memref<?x40xf32>
// CHECK: %[[GX:.*]] = arith.ceildivui %{{.*}}, %c64
// CHECK: %[[GY:.*]] = arith.ceildivui %{{.*}}, %c64
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %[[GX]], %{{.*}} = %[[GY]], %{{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c256, {{.*}}) workgroup(%[[AS:.*]] : memref<16x64xf32, #gpu.address_space<workgroup>>, %[[BS:.*]] : memref<16x64xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %{{.*}} step %c16{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf32>)
// CHECK-COUNT-4: memref.store %{{.*}}, %[[AS]]
// CHECK-COUNT-4: memref.store %{{.*}}, %[[BS]]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK-COUNT-4: memref.load %[[AS]]
// CHECK-COUNT-4: memref.load %[[BS]]
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: gpu.barrier
// CHECK-COUNT-16: memref.store %{{.*}}, %[[C]]
// CHECK: bufferization.to_tensor %[[C]] restrict writable
// CHECK-NOT: linalg.matmul
func.func @projection(%x: tensor<?x48xf32>, %w: tensor<48x40xf32>) -> tensor<?x40xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x48xf32>
  %e = tensor.empty(%m) : tensor<?x40xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x40xf32>) -> tensor<?x40xf32>
  %p = linalg.matmul ins(%x, %w : tensor<?x48xf32>, tensor<48x40xf32>) outs(%f : tensor<?x40xf32>) -> tensor<?x40xf32>
  return %p : tensor<?x40xf32>
}

// -----

// Left alone: accumulation into a non-zero value, a transposed map, f64.
// CHECK-LABEL: func @refusals
// CHECK-NOT: gpu.launch
// CHECK-COUNT-3: linalg.matmul
func.func @refusals(%x: tensor<6x8xf32>, %w: tensor<8x4xf32>, %c: tensor<6x4xf32>, %wt: tensor<4x8xf32>, %x64: tensor<6x8xf64>, %w64: tensor<8x4xf64>) -> (tensor<6x4xf32>, tensor<6x4xf32>, tensor<6x4xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<6x8xf32>, tensor<8x4xf32>) outs(%c : tensor<6x4xf32>) -> tensor<6x4xf32>
  %e = tensor.empty() : tensor<6x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x4xf32>) -> tensor<6x4xf32>
  %q = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
         ins(%x, %wt : tensor<6x8xf32>, tensor<4x8xf32>) outs(%f : tensor<6x4xf32>) -> tensor<6x4xf32>
  %e64 = tensor.empty() : tensor<6x4xf64>
  %z64 = arith.constant 0.0 : f64
  %f64 = linalg.fill ins(%z64 : f64) outs(%e64 : tensor<6x4xf64>) -> tensor<6x4xf64>
  %r = linalg.matmul ins(%x64, %w64 : tensor<6x8xf64>, tensor<8x4xf64>) outs(%f64 : tensor<6x4xf64>) -> tensor<6x4xf64>
  return %p, %q, %r : tensor<6x4xf32>, tensor<6x4xf32>, tensor<6x4xf64>
}
