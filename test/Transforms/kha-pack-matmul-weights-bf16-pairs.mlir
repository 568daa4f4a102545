// kha-pack-matmul-weights{bf16-pairs}: bf16 x bf16 -> f32 products with an
// even K read their weights as panels of pairs along K (for AVX512-BF16 dot
// products); everything else is packed as without the option.
// RUN: kha-opt %s --pass-pipeline='builtin.module(func.func(kha-pack-matmul-weights{panel-width=4 bf16-pairs}))' -split-input-file | FileCheck %s

// A weight packed in pairs: inner tiles [4, 2] (4 columns, 2 rows of K),
// A viewed as M x K/2 x 2, a contraction over (m, j, c, k, p).
// CHECK-DAG:   #[[$A:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d4)>
// CHECK-DAG:   #[[$B:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d1, d3, d2, d4)>
// CHECK-DAG:   #[[$O:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @pairs(
// CHECK-SAME:    %[[X:.*]]: tensor<?x8xbf16>, %[[W:.*]]: tensor<8x12xbf16> {kha.weight}, %[[C:.*]]: tensor<?x12xf32>)
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<3x4x4x2xbf16>
// CHECK:         %[[P:.*]] = linalg.pack %[[W]] outer_dims_perm = [1, 0] inner_dims_pos = [1, 0] inner_tiles = [4, 2] into %[[E]] : tensor<8x12xbf16> -> tensor<3x4x4x2xbf16>
// CHECK:         %[[V:.*]] = tensor.expand_shape %[[C]] {{\[}}[0], [1, 2]] output_shape [%{{.*}}, 3, 4] : tensor<?x12xf32> into tensor<?x3x4xf32>
// CHECK:         %[[X2:.*]] = tensor.expand_shape %[[X]] {{\[}}[0], [1, 2]] output_shape [%{{.*}}, 4, 2] : tensor<?x8xbf16> into tensor<?x4x2xbf16>
// CHECK:         %[[R:.*]] = linalg.contract indexing_maps = [#[[$A]], #[[$B]], #[[$O]]] ins(%[[X2]], %[[P]] : tensor<?x4x2xbf16>, tensor<3x4x4x2xbf16>) outs(%[[V]] : tensor<?x3x4xf32>)
// CHECK:         %[[Y:.*]] = tensor.collapse_shape %[[R]] {{\[}}[0], [1, 2]] : tensor<?x3x4xf32> into tensor<?x12xf32>
// CHECK:         return %[[Y]]
func.func @pairs(%x: tensor<?x8xbf16>, %w: tensor<8x12xbf16> {kha.weight}, %c: tensor<?x12xf32>) -> tensor<?x12xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<?x8xbf16>, tensor<8x12xbf16>) outs(%c : tensor<?x12xf32>) -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}

// -----

// A constant weight is packed in pairs at compile time: element
// [j, k, c, p] is W[2k + p, 4j + c]. W = [[1..8], [9..16], [17..24], [25..32]]
// (4 x 8, two panels): panel 0 pairs rows 0-1 then rows 2-3 of columns 0-3.
// CHECK-LABEL: func.func @constant(
// CHECK:         arith.constant dense<{{\[}}{{\[}}{{\[}}[1.000000e+00, 9.000000e+00], [2.000000e+00, 1.000000e+01], [3.000000e+00, 1.100000e+01], [4.000000e+00, 1.200000e+01]], {{\[}}[1.700000e+01, 2.500000e+01], [1.800000e+01, 2.600000e+01], [1.900000e+01, 2.700000e+01], [2.000000e+01, 2.800000e+01]]], {{\[}}{{\[}}[5.000000e+00, 1.300000e+01], [6.000000e+00, 1.400000e+01], [7.000000e+00, 1.500000e+01], [8.000000e+00, 1.600000e+01]], {{\[}}[2.100000e+01, 2.900000e+01], [2.200000e+01, 3.000000e+01], [2.300000e+01, 3.100000e+01], [2.400000e+01, 3.200000e+01]]]]> : tensor<2x2x4x2xbf16>
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.contract
func.func @constant(%x: tensor<?x4xbf16>, %c: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                             [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0],
                             [17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0],
                             [25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0]]> : tensor<4x8xbf16>
  %y = linalg.matmul ins(%x, %w : tensor<?x4xbf16>, tensor<4x8xbf16>) outs(%c : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// An odd K cannot be split into pairs: the bf16 product is left a matmul
// (mixed element types are not packed without pairs).
// CHECK-LABEL: func.func @odd_k(
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.matmul
func.func @odd_k(%x: tensor<?x7xbf16>, %w: tensor<7x12xbf16> {kha.weight}, %c: tensor<?x12xf32>) -> tensor<?x12xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<?x7xbf16>, tensor<7x12xbf16>) outs(%c : tensor<?x12xf32>) -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}

// -----

// f16 products are not dot products: left alone; f32 ones are packed in
// plain panels as without the option.
// CHECK-LABEL: func.func @other_types(
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x8xf16>, tensor<8x12xf16>)
// CHECK:         linalg.pack %{{.*}} outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [4] {{.*}} : tensor<8x12xf32> -> tensor<3x8x4xf32>
func.func @other_types(%x: tensor<?x8xf16>, %w: tensor<8x12xf16> {kha.weight}, %c: tensor<?x12xf32>,
                       %x2: tensor<?x8xf32>, %w2: tensor<8x12xf32> {kha.weight}) -> (tensor<?x12xf32>, tensor<?x12xf32>) {
  %y = linalg.matmul ins(%x, %w : tensor<?x8xf16>, tensor<8x12xf16>) outs(%c : tensor<?x12xf32>) -> tensor<?x12xf32>
  %y2 = linalg.matmul ins(%x2, %w2 : tensor<?x8xf32>, tensor<8x12xf32>) outs(%c : tensor<?x12xf32>) -> tensor<?x12xf32>
  return %y, %y2 : tensor<?x12xf32>, tensor<?x12xf32>
}

// -----

// Columns past the last whole panel stay a bf16 matmul on slices.
// CHECK-LABEL: func.func @rest(
// CHECK:         linalg.pack %{{.*}} inner_dims_pos = [1, 0] inner_tiles = [4, 2] {{.*}} : tensor<8x8xbf16> -> tensor<2x4x4x2xbf16>
// CHECK:         linalg.contract
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x8xbf16>, tensor<8x2xbf16>)
func.func @rest(%x: tensor<?x8xbf16>, %w: tensor<8x10xbf16> {kha.weight}, %c: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<?x8xbf16>, tensor<8x10xbf16>) outs(%c : tensor<?x10xf32>) -> tensor<?x10xf32>
  return %y : tensor<?x10xf32>
}
