// kha-fuse-knock-mlp: the MLP knock runs inside the value projection's loop
// over blocks of tokens; V exists one block at a time.
// RUN: kha-opt %s -kha-fuse-knock-mlp -split-input-file | FileCheck %s
// RUN: kha-opt %s -kha-fuse-knock-mlp="rows=16" -split-input-file | FileCheck %s --check-prefix=ROWS

// CHECK-LABEL: func @fuse
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[UP:.*]]: tensor<4x4xf32>, %[[GATE:.*]]: tensor<4x4xf32>, %[[DOWN:.*]]: tensor<4x4xf32>

// CHECK: %[[OUT:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %c64 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x8xf32>)
// CHECK:   %[[N:.*]] = arith.minsi
// CHECK:   %[[XB:.*]] = tensor.extract_slice %[[X]][%[[I]], 0] [%[[N]], 16] [1, 1]
// CHECK:   %[[V:.*]] = linalg.matmul ins(%[[XB]], %[[W]] : tensor<?x16xf32>, tensor<16x8xf32>)
// CHECK:   %[[VE:.*]] = tensor.expand_shape %[[V]] {{\[\[}}0], [1, 2]] output_shape [%[[N]], 2, 4]
// CHECK:   %[[VH:.*]] = tensor.collapse_shape %[[VE]] {{\[\[}}0, 1], [2]] : tensor<?x2x4xf32> into tensor<?x4xf32>
// CHECK:   linalg.matmul ins(%[[VH]], %[[UP]]
// CHECK:   linalg.matmul ins(%[[VH]], %[[GATE]]
// CHECK:   linalg.generic
// CHECK:     math.exp
// CHECK:   %[[D:.*]] = linalg.matmul ins(%{{.*}}, %[[DOWN]]
// CHECK:   tensor.insert_slice %{{.*}} into %[[ACC]][%[[I]], 0] [%[[N]], 8] [1, 1]
// CHECK: %[[R:.*]] = tensor.expand_shape %[[OUT]] {{\[\[}}0, 1], [2, 3]]
// CHECK-NOT: kha.mlp_knock
// CHECK: return %[[R]]
// ROWS-LABEL: func @fuse
// ROWS: scf.for {{.*}} step %c16
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

// bf16: the block stays in f32 from the projection through the MLP and is
// rounded once, after it.
// CHECK-LABEL: func @bf16
// CHECK: scf.for
// CHECK-NOT: arith.truncf
// CHECK: math.exp
// CHECK: linalg.matmul
// CHECK-NEXT: tensor.expand_shape
// CHECK-NEXT: tensor.collapse_shape
// CHECK-NEXT: arith.truncf %{{.*}} : tensor<?x8xf32> to tensor<?x8xbf16>
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
