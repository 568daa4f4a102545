// kha-fuse-knock-mlp: the MLP knock tiled over one batch entry and a block
// of tokens by the upstream tile-and-fuse driver, the value projection
// fused into each tile; V exists one block at a time.
// RUN: kha-opt %s -kha-fuse-knock-mlp -split-input-file | FileCheck %s
// RUN: kha-opt %s -kha-fuse-knock-mlp="rows=16" -split-input-file | FileCheck %s --check-prefix=ROWS
// RUN: kha-opt %s -kha-fuse-knock-mlp -split-input-file | kha-opt -kha-lower-to-linalg -canonicalize -split-input-file | FileCheck %s --check-prefix=LOWERED

// CHECK-LABEL: func @fuse
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[UP:.*]]: tensor<4x4xf32>, %[[GATE:.*]]: tensor<4x4xf32>, %[[DOWN:.*]]: tensor<4x4xf32>, %[[B:.*]]: index, %[[L:.*]]: index)
// CHECK-NOT: linalg.matmul
// CHECK: %[[OUT:.*]] = scf.for %[[BI:.*]] = %{{.*}} to %[[B]] step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x?x2x4xf32>)
// CHECK:   scf.for %[[LI:.*]] = %{{.*}} to %[[L]] step %c64 iter_args(%[[ACC2:.*]] = %[[ACC]])
// CHECK:     %[[N:.*]] = affine.min
// CHECK:     %[[ROW:.*]] = affine.linearize_index disjoint [%[[BI]], %[[LI]]] by (%[[B]], %[[L]])
// CHECK:     %[[XB:.*]] = tensor.extract_slice %[[X]][%[[ROW]], 0] [%[[N]], 16] [1, 1]
// CHECK:     %[[ZERO:.*]] = linalg.fill
// CHECK:     %[[V:.*]] = linalg.matmul ins(%[[XB]], %[[W]] : tensor<?x16xf32>, tensor<16x8xf32>) outs(%[[ZERO]]
// CHECK:     %[[VE:.*]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1], [2, 3]] output_shape [1, %[[N]], 2, 4]
// CHECK:     %[[K:.*]] = kha.mlp_knock %[[VE]], %[[UP]], %[[GATE]], %[[DOWN]] : tensor<1x?x2x4xf32>
// CHECK:     tensor.insert_slice %[[K]] into %[[ACC2]][%[[BI]], %[[LI]], 0, 0] [1, %[[N]], 2, 4] [1, 1, 1, 1]
// CHECK-NOT: linalg.matmul
// CHECK: return %[[OUT]]
// ROWS-LABEL: func @fuse
// ROWS: scf.for
// ROWS: scf.for {{.*}} step %c16
// The tile's knock lowers inside the loop: the MLP on the tile's head vectors.
// LOWERED-LABEL: func @fuse
// LOWERED: scf.for
// LOWERED: scf.for
// LOWERED: linalg.matmul
// LOWERED: math.exp
// LOWERED: tensor.insert_slice
// LOWERED-NOT: kha.mlp_knock
func.func @fuse(%x: tensor<?x16xf32>, %w: tensor<16x8xf32>, %up: tensor<4x4xf32>, %gate: tensor<4x4xf32>, %down: tensor<4x4xf32>, %b: index, %l: index) -> tensor<?x?x2x4xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%m) : tensor<?x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %p = linalg.matmul ins(%x, %w : tensor<?x16xf32>, tensor<16x8xf32>) outs(%f : tensor<?x8xf32>) -> tensor<?x8xf32>
  %v = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [%b, %l, 2, 4] : tensor<?x8xf32> into tensor<?x?x2x4xf32>
  %k = kha.mlp_knock %v, %up, %gate, %down : tensor<?x?x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<?x?x2x4xf32>
}

// -----

// bf16: the projection is fused unrounded, the MLP's matrices widened once,
// and the tile stays in f32 from the projection through the MLP; the
// result is rounded once, after it.
// CHECK-LABEL: func @bf16
// CHECK-COUNT-3: arith.extf %{{.*}} : tensor<4x4xbf16> to tensor<4x4xf32>
// CHECK: %[[OUT:.*]] = scf.for
// CHECK:   scf.for
// CHECK-NOT: arith.truncf
// CHECK:     linalg.matmul
// CHECK:     kha.mlp_knock %{{.*}} : tensor<1x?x2x4xf32>, tensor<4x4xf32>
// CHECK: arith.truncf %[[OUT]] : tensor<2x3x2x4xf32> to tensor<2x3x2x4xbf16>
// CHECK-NOT: kha.mlp_knock
func.func @bf16(%x: tensor<6x16xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xbf16>) -> tensor<2x3x2x4xbf16> {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %n = arith.truncf %p : tensor<6x8xf32> to tensor<6x8xbf16>
  %v = tensor.expand_shape %n [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xbf16> into tensor<2x3x2x4xbf16>
  %k = kha.mlp_knock %v, %m, %m, %m : tensor<2x3x2x4xbf16>, tensor<4x4xbf16>
  return %k : tensor<2x3x2x4xbf16>
}

// -----

// Left alone: an MLP knock after another op (RoPE), and one whose projection
// has another user.
// CHECK-LABEL: func @refusals
// CHECK-NOT: scf.for
// CHECK-COUNT-2: kha.mlp_knock
func.func @refusals(%x: tensor<6x16xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>)
    -> (tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<6x8xf32>) {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p0 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %v0 = tensor.expand_shape %p0 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %r0 = kha.rope %v0 {theta = 1.0e4 : f64} : tensor<2x3x2x4xf32>
  %k0 = kha.mlp_knock %r0, %m, %m, %m : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  %p1 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %v1 = tensor.expand_shape %p1 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k1 = kha.mlp_knock %v1, %m, %m, %m : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k0, %k1, %p1 : tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<6x8xf32>
}

// -----

// Left alone: a batched projection (the blocked loop is built for the 2-D
// token matrix our lowering emits); the MLP knock is then lowered on its own.
// CHECK-LABEL: func @batched
// CHECK-NOT: scf.for
// CHECK: kha.mlp_knock
func.func @batched(%x: tensor<2x3x16xf32>, %w: tensor<16x8xf32>, %m: tensor<4x4xf32>) -> tensor<2x3x2x4xf32> {
  %e = tensor.empty() : tensor<2x3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %p = linalg.batch_matmul
         indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                          affine_map<(b, m, n, k) -> (k, n)>,
                          affine_map<(b, m, n, k) -> (b, m, n)>]
         ins(%x, %w : tensor<2x3x16xf32>, tensor<16x8xf32>) outs(%f : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %h = tensor.expand_shape %p [[0], [1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  %k = kha.mlp_knock %h, %m, %m, %m : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<2x3x2x4xf32>
}
