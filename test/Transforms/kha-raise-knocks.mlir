// RUN: kha-opt %s --kha-raise-knocks --split-input-file | FileCheck %s
// RUN: kha-opt %s --kha-raise-knocks --kha-fold-knock --split-input-file | FileCheck %s --check-prefix=FOLD

// The knock as an einsum-style generic, after a projection written as
// matmul + expand_shape: raised, then folded into the weight.

#x = affine_map<(b, l, n, e, c) -> (b, l, n, c)>
#t = affine_map<(b, l, n, e, c) -> (c, e)>
#y = affine_map<(b, l, n, e, c) -> (b, l, n, e)>

// CHECK-LABEL: func.func @einsum_after_projection
// CHECK: %[[H:.*]] = tensor.expand_shape
// CHECK: %[[K:.*]] = kha.linear_knock %[[H]], %{{.*}} : tensor<2x5x4x8xf32>, tensor<8x8xf32>
// CHECK: return %[[K]]
// FOLD-LABEL: func.func @einsum_after_projection
// FOLD-NOT: kha.linear_knock
// FOLD-NOT: linalg.generic
// FOLD: return
func.func @einsum_after_projection(%x: tensor<10x16xf32>, %w: tensor<16x32xf32>,
                                   %t: tensor<8x8xf32>) -> tensor<2x5x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<10x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<10x32xf32>) -> tensor<10x32xf32>
  %p = linalg.matmul ins(%x, %w : tensor<10x16xf32>, tensor<16x32xf32>) outs(%z : tensor<10x32xf32>) -> tensor<10x32xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [2, 5, 4, 8] : tensor<10x32xf32> into tensor<2x5x4x8xf32>
  %e2 = tensor.empty() : tensor<2x5x4x8xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x5x4x8xf32>) -> tensor<2x5x4x8xf32>
  %k = linalg.generic {indexing_maps = [#x, #t, #y],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%h, %t : tensor<2x5x4x8xf32>, tensor<8x8xf32>) outs(%z2 : tensor<2x5x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<2x5x4x8xf32>
  return %k : tensor<2x5x4x8xf32>
}

// -----

// torch.matmul's lowering: [B, L, N, d] collapsed to rows, times T,
// expanded back; dynamic B and L.

// CHECK-LABEL: func.func @collapsed_matmul
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x4x8xf32>, %[[T:.*]]: tensor<8x8xf32>)
// CHECK: %[[K:.*]] = kha.linear_knock %[[X]], %[[T]] : tensor<?x?x4x8xf32>, tensor<8x8xf32>
// CHECK: return %[[K]]
func.func @collapsed_matmul(%x: tensor<?x?x4x8xf32>, %t: tensor<8x8xf32>) -> tensor<?x?x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %B = tensor.dim %x, %c0 : tensor<?x?x4x8xf32>
  %L = tensor.dim %x, %c1 : tensor<?x?x4x8xf32>
  %rows = tensor.collapse_shape %x [[0, 1, 2], [3]] : tensor<?x?x4x8xf32> into tensor<?x8xf32>
  %n = tensor.dim %rows, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%n) : tensor<?x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %m = linalg.matmul ins(%rows, %t : tensor<?x8xf32>, tensor<8x8xf32>) outs(%z : tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = tensor.expand_shape %m [[0, 1, 2], [3]] output_shape [%B, %L, 4, 8] : tensor<?x8xf32> into tensor<?x?x4x8xf32>
  return %y : tensor<?x?x4x8xf32>
}

// -----

// T read transposed (y = x T^T): the knock takes a transposed T.

#x = affine_map<(b, l, n, e, c) -> (b, l, n, c)>
#tt = affine_map<(b, l, n, e, c) -> (e, c)>
#y = affine_map<(b, l, n, e, c) -> (b, l, n, e)>

// CHECK-LABEL: func.func @transposed_matrix
// CHECK: %[[TT:.*]] = linalg.transpose ins(%{{.*}} : tensor<8x8xf32>) {{.*}} permutation = [1, 0]
// CHECK: kha.linear_knock %{{.*}}, %[[TT]]
func.func @transposed_matrix(%x: tensor<2x5x4x8xf32>, %t: tensor<8x8xf32>) -> tensor<2x5x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x5x4x8xf32>) -> tensor<2x5x4x8xf32>
  %k = linalg.generic {indexing_maps = [#x, #tt, #y],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %t : tensor<2x5x4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<2x5x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<2x5x4x8xf32>
  return %k : tensor<2x5x4x8xf32>
}

// -----

// Near misses, left alone.

#x = affine_map<(b, l, n, e, c) -> (b, l, n, c)>
#tn = affine_map<(b, l, n, e, c) -> (n, c, e)>
#y = affine_map<(b, l, n, e, c) -> (b, l, n, e)>

// A matrix per head [N, d, d]: not shared, not a knock.
// CHECK-LABEL: func.func @per_head_matrix
// CHECK-NOT: kha.linear_knock
// CHECK: linalg.generic
func.func @per_head_matrix(%x: tensor<2x5x4x8xf32>, %t: tensor<4x8x8xf32>) -> tensor<2x5x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x5x4x8xf32>) -> tensor<2x5x4x8xf32>
  %k = linalg.generic {indexing_maps = [#x, #tn, #y],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %t : tensor<2x5x4x8xf32>, tensor<4x8x8xf32>) outs(%z : tensor<2x5x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<2x5x4x8xf32>
  return %k : tensor<2x5x4x8xf32>
}

// Not square: [d, 2d] changes the head width.
// CHECK-LABEL: func.func @not_square
// CHECK-NOT: kha.linear_knock
// CHECK: linalg.matmul
func.func @not_square(%x: tensor<2x5x4x8xf32>, %t: tensor<8x16xf32>) -> tensor<2x5x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %rows = tensor.collapse_shape %x [[0, 1, 2], [3]] : tensor<2x5x4x8xf32> into tensor<40x8xf32>
  %e = tensor.empty() : tensor<40x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<40x16xf32>) -> tensor<40x16xf32>
  %m = linalg.matmul ins(%rows, %t : tensor<40x8xf32>, tensor<8x16xf32>) outs(%z : tensor<40x16xf32>) -> tensor<40x16xf32>
  %y = tensor.expand_shape %m [[0, 1, 2], [3]] output_shape [2, 5, 4, 16] : tensor<40x16xf32> into tensor<2x5x4x16xf32>
  return %y : tensor<2x5x4x16xf32>
}

// Accumulating into x itself (a residual), not into zeros.
// CHECK-LABEL: func.func @accumulating
// CHECK-NOT: kha.linear_knock
// CHECK: linalg.matmul
func.func @accumulating(%x: tensor<2x5x4x8xf32>, %t: tensor<8x8xf32>) -> tensor<2x5x4x8xf32> {
  %rows = tensor.collapse_shape %x [[0, 1, 2], [3]] : tensor<2x5x4x8xf32> into tensor<40x8xf32>
  %m = linalg.matmul ins(%rows, %t : tensor<40x8xf32>, tensor<8x8xf32>) outs(%rows : tensor<40x8xf32>) -> tensor<40x8xf32>
  %y = tensor.expand_shape %m [[0, 1, 2], [3]] output_shape [2, 5, 4, 8] : tensor<40x8xf32> into tensor<2x5x4x8xf32>
  return %y : tensor<2x5x4x8xf32>
}

// The rows collapsed differently ([B*L, N*d]): the product mixes heads.
// CHECK-LABEL: func.func @heads_mixed
// CHECK-NOT: kha.linear_knock
// CHECK: linalg.matmul
func.func @heads_mixed(%x: tensor<2x5x4x8xf32>, %t: tensor<32x32xf32>) -> tensor<2x5x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %rows = tensor.collapse_shape %x [[0, 1], [2, 3]] : tensor<2x5x4x8xf32> into tensor<10x32xf32>
  %e = tensor.empty() : tensor<10x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<10x32xf32>) -> tensor<10x32xf32>
  %m = linalg.matmul ins(%rows, %t : tensor<10x32xf32>, tensor<32x32xf32>) outs(%z : tensor<10x32xf32>) -> tensor<10x32xf32>
  %y = tensor.expand_shape %m [[0, 1], [2, 3]] output_shape [2, 5, 4, 8] : tensor<10x32xf32> into tensor<2x5x4x8xf32>
  return %y : tensor<2x5x4x8xf32>
}
