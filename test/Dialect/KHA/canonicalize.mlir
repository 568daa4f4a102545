// The knock ops' folders and canonicalization patterns under -canonicalize.
// RUN: kha-opt %s -canonicalize -split-input-file | FileCheck %s

// A linear knock with a constant identity matrix (its initial value) folds.
// CHECK-LABEL: func @identity_linear_knock
// CHECK-SAME: (%[[K:.*]]: tensor<1x3x2x4xf32>)
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[K]]
func.func @identity_linear_knock(%k: tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32> {
  %t = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                             [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %0 = kha.linear_knock %k, %t : tensor<1x3x2x4xf32>, tensor<4x4xf32>
  return %0 : tensor<1x3x2x4xf32>
}

// -----

// A constant matrix that is not the identity stays.
// CHECK-LABEL: func @scaled_identity_stays
// CHECK: %[[T:.*]] = arith.constant dense<{{\[\[}}2.000000e+00, 0.000000e+00]
// CHECK: %[[R:.*]] = kha.linear_knock %{{.*}}, %[[T]]
// CHECK: return %[[R]]
func.func @scaled_identity_stays(%k: tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> {
  %t = arith.constant dense<[[2.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %0 = kha.linear_knock %k, %t : tensor<1x3x2x2xf32>, tensor<2x2xf32>
  return %0 : tensor<1x3x2x2xf32>
}

// -----

// A splat 1 is the identity only for d = 1.
// CHECK-LABEL: func @splat_ones
// CHECK: kha.linear_knock %{{.*}}, %{{.*}} : tensor<1x3x2x2xf16>
// CHECK-NOT: kha.linear_knock
// CHECK: return
func.func @splat_ones(%k: tensor<1x3x2x2xf16>, %k1: tensor<1x3x2x1xf16>)
    -> (tensor<1x3x2x2xf16>, tensor<1x3x2x1xf16>) {
  %t = arith.constant dense<1.0> : tensor<2x2xf16>
  %t1 = arith.constant dense<1.0> : tensor<1x1xf16>
  %0 = kha.linear_knock %k, %t : tensor<1x3x2x2xf16>, tensor<2x2xf16>
  %1 = kha.linear_knock %k1, %t1 : tensor<1x3x2x1xf16>, tensor<1x1xf16>
  return %0, %1 : tensor<1x3x2x2xf16>, tensor<1x3x2x1xf16>
}

// -----

// A runtime matrix stays.
// CHECK-LABEL: func @runtime_matrix_stays
// CHECK: kha.linear_knock
func.func @runtime_matrix_stays(%k: tensor<?x?x2x4xf32>, %t: tensor<4x4xf32>)
    -> tensor<?x?x2x4xf32> {
  %0 = kha.linear_knock %k, %t : tensor<?x?x2x4xf32>, tensor<4x4xf32>
  return %0 : tensor<?x?x2x4xf32>
}

// -----

// The MLP knock at the paper's initialisation (up = down = I, gate = 0) folds.
// CHECK-LABEL: func @initial_mlp_knock
// CHECK-SAME: (%[[V:.*]]: tensor<2x5x1x2xbf16>)
// CHECK-NOT: kha.mlp_knock
// CHECK: return %[[V]]
func.func @initial_mlp_knock(%v: tensor<2x5x1x2xbf16>) -> tensor<2x5x1x2xbf16> {
  %i = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xbf16>
  %z = arith.constant dense<0.0> : tensor<2x2xbf16>
  %0 = kha.mlp_knock %v, %i, %z, %i : tensor<2x5x1x2xbf16>, tensor<2x2xbf16>
  return %0 : tensor<2x5x1x2xbf16>
}

// -----

// A non-zero gate, or an up matrix that is not the identity, keeps the MLP.
// CHECK-LABEL: func @trained_mlp_knock_stays
// CHECK: kha.mlp_knock
// CHECK: kha.mlp_knock
func.func @trained_mlp_knock_stays(%v: tensor<2x5x1x2xf32>)
    -> (tensor<2x5x1x2xf32>, tensor<2x5x1x2xf32>) {
  %i = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %z = arith.constant dense<0.0> : tensor<2x2xf32>
  %g = arith.constant dense<[[0.0, 0.5], [0.0, 0.0]]> : tensor<2x2xf32>
  %u = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kha.mlp_knock %v, %i, %g, %i : tensor<2x5x1x2xf32>, tensor<2x2xf32>
  %1 = kha.mlp_knock %v, %u, %z, %i : tensor<2x5x1x2xf32>, tensor<2x2xf32>
  return %0, %1 : tensor<2x5x1x2xf32>, tensor<2x5x1x2xf32>
}

// -----

// Two linear knocks with runtime matrices compose: T = T1 T2, a d x d matmul.
// CHECK-LABEL: func @compose_runtime
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x2x4xf32>, %[[T1:.*]]: tensor<4x4xf32>, %[[T2:.*]]: tensor<4x4xf32>)
// CHECK: %[[FILL:.*]] = linalg.fill
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[T1]], %[[T2]] : tensor<4x4xf32>, tensor<4x4xf32>) outs(%[[FILL]] : tensor<4x4xf32>)
// CHECK: %[[R:.*]] = kha.linear_knock %[[X]], %[[T]]
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[R]]
func.func @compose_runtime(%x: tensor<?x?x2x4xf32>, %t1: tensor<4x4xf32>,
                           %t2: tensor<4x4xf32>) -> tensor<?x?x2x4xf32> {
  %0 = kha.linear_knock %x, %t1 : tensor<?x?x2x4xf32>, tensor<4x4xf32>
  %1 = kha.linear_knock %0, %t2 : tensor<?x?x2x4xf32>, tensor<4x4xf32>
  return %1 : tensor<?x?x2x4xf32>
}

// -----

// In f16 the two matrices are multiplied in f32 and the product rounded once.
// CHECK-LABEL: func @compose_runtime_f16
// CHECK: %[[A:.*]] = arith.extf %{{.*}} : tensor<4x4xf16> to tensor<4x4xf32>
// CHECK: %[[B:.*]] = arith.extf %{{.*}} : tensor<4x4xf16> to tensor<4x4xf32>
// CHECK: %[[P:.*]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<4x4xf32>, tensor<4x4xf32>) outs(%{{.*}} : tensor<4x4xf32>)
// CHECK: %[[T:.*]] = arith.truncf %[[P]] : tensor<4x4xf32> to tensor<4x4xf16>
// CHECK: kha.linear_knock %{{.*}}, %[[T]]
func.func @compose_runtime_f16(%x: tensor<1x2x2x4xf16>, %t1: tensor<4x4xf16>,
                               %t2: tensor<4x4xf16>) -> tensor<1x2x2x4xf16> {
  %0 = kha.linear_knock %x, %t1 : tensor<1x2x2x4xf16>, tensor<4x4xf16>
  %1 = kha.linear_knock %0, %t2 : tensor<1x2x2x4xf16>, tensor<4x4xf16>
  return %1 : tensor<1x2x2x4xf16>
}

// -----

// Two constant matrices compose into a new constant, computed at compile time:
// [[1,2],[3,4]] x [[0,1],[1,0]] = [[2,1],[4,3]].
// CHECK-LABEL: func @compose_constants
// CHECK: %[[T:.*]] = arith.constant dense<{{\[\[}}2.000000e+00, 1.000000e+00], [4.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[R:.*]] = kha.linear_knock %{{.*}}, %[[T]]
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[R]]
func.func @compose_constants(%x: tensor<1x2x3x2xf32>) -> tensor<1x2x3x2xf32> {
  %t1 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %t2 = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kha.linear_knock %x, %t1 : tensor<1x2x3x2xf32>, tensor<2x2xf32>
  %1 = kha.linear_knock %0, %t2 : tensor<1x2x3x2xf32>, tensor<2x2xf32>
  return %1 : tensor<1x2x3x2xf32>
}

// -----

// An inner knock with another user is computed anyway: no composition.
// CHECK-LABEL: func @no_compose_with_other_user
// CHECK: %[[A:.*]] = kha.linear_knock %{{.*}}, %{{.*}}
// CHECK: %[[B:.*]] = kha.linear_knock %[[A]], %{{.*}}
// CHECK: return %[[A]], %[[B]]
func.func @no_compose_with_other_user(%x: tensor<1x2x2x4xf32>, %t1: tensor<4x4xf32>,
                                      %t2: tensor<4x4xf32>)
    -> (tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) {
  %0 = kha.linear_knock %x, %t1 : tensor<1x2x2x4xf32>, tensor<4x4xf32>
  %1 = kha.linear_knock %0, %t2 : tensor<1x2x2x4xf32>, tensor<4x4xf32>
  return %0, %1 : tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>
}
