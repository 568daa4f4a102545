// kha-cpu-schedule: register-tiled, vectorised matmuls and row-vectorised
// generics; what the schedule cannot vectorise (partial edge tiles) stays as
// linalg, still correct.
// RUN: kha-opt %s -kha-cpu-schedule -split-input-file | FileCheck %s

// A static matmul: 8 x 32 tiles, a K loop carrying the accumulator as a
// vector (hoisted out of the loop), one vector.contract per K step.
// CHECK-LABEL: func @matmul_static
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c8
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c32
// CHECK: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<8x32xf32>, vector<8x32xf32>
// CHECK: %[[K:.*]] = scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (vector<8x32xf32>)
// CHECK: vector.contract {{.*}} %[[ACC]] : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: vector.transfer_write %[[K]]
// CHECK-NOT: linalg.matmul
func.func @matmul_static(%a: tensor<64x16xf32>, %b: tensor<16x64xf32>, %c: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<64x16xf32>, tensor<16x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  return %0 : tensor<64x64xf32>
}

// -----

// Sizes the tiles do not divide: the loops are peeled; full tiles vectorise,
// the edge tiles stay linalg.matmul (lowered to loops later).
// CHECK-LABEL: func @matmul_edges
// CHECK: vector.contract
// CHECK: linalg.matmul
func.func @matmul_edges(%a: tensor<?x16xf32>, %b: tensor<16x40xf32>, %c: tensor<?x40xf32>) -> tensor<?x40xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x16xf32>, tensor<16x40xf32>) outs(%c : tensor<?x40xf32>) -> tensor<?x40xf32>
  return %0 : tensor<?x40xf32>
}

// -----

// Batched matmuls get the same register tile per batch.
// CHECK-LABEL: func @batch_matmul
// CHECK: vector.contract {{.*}} : vector<1x8x1xf32>, vector<1x1x32xf32> into vector<1x8x32xf32>
// CHECK-NOT: linalg.batch_matmul
func.func @batch_matmul(%a: tensor<2x8x4xf32>, %b: tensor<2x4x32xf32>, %c: tensor<2x8x32xf32>) -> tensor<2x8x32xf32> {
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x32xf32>) outs(%c : tensor<2x8x32xf32>) -> tensor<2x8x32xf32>
  return %0 : tensor<2x8x32xf32>
}

// -----

// A generic tagged kha.rows = 3 is vectorised one row at a time; an untagged
// one is left alone.
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @rows
// CHECK: scf.for
// CHECK: scf.for
// CHECK: math.exp %{{.*}} : vector<1x1x64xf32>
// CHECK: linalg.generic
// CHECK: math.exp %{{.*}} : f32
func.func @rows(%x: tensor<?x4x64xf32>, %o: tensor<?x4x64xf32>) -> (tensor<?x4x64xf32>, tensor<?x4x64xf32>) {
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<?x4x64xf32>) outs(%o : tensor<?x4x64xf32>) attrs = {kha.rows = 3 : i64} {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<?x4x64xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<?x4x64xf32>) outs(%o : tensor<?x4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<?x4x64xf32>
  return %0, %1 : tensor<?x4x64xf32>, tensor<?x4x64xf32>
}
