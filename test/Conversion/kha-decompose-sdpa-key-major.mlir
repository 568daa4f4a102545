// kha-decompose-sdpa with transpose-scores: key-major scores where the query
// rows are static and at least 16, the row-major form elsewhere.
// RUN: kha-opt %s -kha-decompose-sdpa="key-block-size=16 transpose-scores=true" -canonicalize -cse -split-input-file | FileCheck %s

// A CPU attention tile (one head, 64 query rows from query_offset): the
// queries are transposed once, as a 64 x 16 transpose (the dimensions of size
// 1 reshaped away); each key block is read as it lies (a view) and multiplies
// Q^T into s^T [1, keys, rows]; the row maximum and sum reduce the middle
// (key) loop; the causal mask reads the row from index 2 and the key from
// index 1, with no remainder (one query head per key/value head); the value
// product reads p^T through a transposed map.
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$PT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d1)>
// CHECK-DAG: #[[$V:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[$ACC:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func @tile
// CHECK-SAME: (%[[Q:.*]]: tensor<1x64x1x16xf32>, %[[K:.*]]: tensor<1x32x1x16xf32>, %[[V:.*]]: tensor<1x32x1x16xf32>, %[[OFF:.*]]: index)
// CHECK: %[[QF:.*]] = tensor.collapse_shape %[[Q]] {{\[\[}}0, 1], [2, 3]] : tensor<1x64x1x16xf32> into tensor<64x16xf32>
// CHECK: %[[QT:.*]] = linalg.transpose ins(%[[QF]] : tensor<64x16xf32>) outs(%{{.*}} : tensor<16x64xf32>) permutation = [1, 0]
// CHECK: %[[QG:.*]] = tensor.expand_shape %[[QT]] {{.*}} into tensor<1x16x64xf32>
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK-NOT: linalg.transpose
// CHECK: %[[KB:.*]] = tensor.extract_slice %[[K]][0, %[[J]], 0, 0] [1, 16, 1, 16]
// CHECK: %[[KG:.*]] = tensor.collapse_shape %[[KB]] {{.*}} into tensor<1x16x16xf32>
// CHECK: %[[S:.*]] = linalg.batch_matmul ins(%[[KG]], %[[QG]] : tensor<1x16x16xf32>, tensor<1x16x64xf32>) outs(%{{.*}} : tensor<1x16x64xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROWS]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[S]] : tensor<1x16x64xf32>) outs(%{{.*}} : tensor<1x64xf32>)
// CHECK: %[[ROW:.*]] = linalg.index 2
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK-NOT: arith.remui
// CHECK: %[[KEY:.*]] = arith.addi %[[J]], %[[COL]]
// CHECK: %[[PLACE:.*]] = arith.addi %[[ROW]], %[[OFF]]
// CHECK: arith.cmpi sgt, %[[KEY]], %[[PLACE]]
// CHECK: arith.maximumf
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROWS]], #[[$ID]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[S]], %{{.*}} : tensor<1x16x64xf32>, tensor<1x64xf32>)
// CHECK: math.exp
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$ROWS]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[P]] : tensor<1x16x64xf32>)
// CHECK: arith.addf
// CHECK: %[[VB:.*]] = tensor.extract_slice %[[V]][0, %[[J]], 0, 0] [1, 16, 1, 16]
// CHECK: %[[VG:.*]] = tensor.collapse_shape %[[VB]] {{.*}} into tensor<1x16x16xf32>
// CHECK: linalg.batch_matmul indexing_maps = [#[[$PT]], #[[$V]], #[[$ACC]]] ins(%[[P]], %[[VG]] : tensor<1x16x64xf32>, tensor<1x16x16xf32>) outs(%{{.*}} : tensor<1x64x16xf32>)
func.func @tile(%q: tensor<1x64x1x16xf32>, %k: tensor<1x32x1x16xf32>, %v: tensor<1x32x1x16xf32>, %off: index) -> tensor<1x64x1x16xf32> {
  %init = tensor.empty() : tensor<1x64x1x16xf32>
  %o = kha.sdpa %q, %k, %v query_offset(%off) outs(%init) {causal, scale = 0.25 : f64} : (tensor<1x64x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, index, tensor<1x64x1x16xf32>) -> tensor<1x64x1x16xf32>
  return %o : tensor<1x64x1x16xf32>
}

// -----

// GQA with L static: the r = 2 query heads of a key/value head are its rows
// (r * L = 32); a row's position is its index modulo L.
// CHECK-LABEL: func @gqa
// CHECK: %[[QT:.*]] = linalg.transpose ins(%{{.*}} : tensor<2x16x2x2x8xf32>) outs(%{{.*}} : tensor<2x2x8x2x16xf32>) permutation = [0, 2, 4, 3, 1]
// CHECK: %[[QG:.*]] = tensor.collapse_shape %[[QT]] {{\[\[}}0, 1], [2], [3, 4]] : tensor<2x2x8x2x16xf32> into tensor<4x8x32xf32>
// CHECK: %[[KG:.*]] = tensor.collapse_shape %{{.*}} : tensor<2x2x16x8xf32> into tensor<4x16x8xf32>
// CHECK: %[[S:.*]] = linalg.batch_matmul ins(%[[KG]], %[[QG]] : tensor<4x16x8xf32>, tensor<4x8x32xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[S]] : tensor<4x16x32xf32>)
// CHECK: %[[ROW:.*]] = linalg.index 2
// CHECK: arith.remui %[[ROW]], %c16
func.func @gqa(%q: tensor<2x16x4x8xf32>, %k: tensor<2x20x2x8xf32>, %v: tensor<2x20x2x8xf32>) -> tensor<2x16x4x8xf32> {
  %init = tensor.empty() : tensor<2x16x4x8xf32>
  %o = kha.sdpa %q, %k, %v outs(%init) {causal, bottom_right, scale = 0.25 : f64} : (tensor<2x16x4x8xf32>, tensor<2x20x2x8xf32>, tensor<2x20x2x8xf32>, tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32>
  return %o : tensor<2x16x4x8xf32>
}

// -----

// Left row-major: fewer than 16 query rows (a decoding step multiplies each
// key block as it lies) ...
// CHECK-LABEL: func @few_rows
// CHECK-NOT: linalg.transpose
// CHECK: linalg.batch_matmul indexing_maps = [{{.*}}] ins(%{{.*}}, %{{.*}} : tensor<1x4x16xf32>, tensor<1x16x16xf32>) outs(%{{.*}} : tensor<1x4x16xf32>)
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
func.func @few_rows(%q: tensor<1x4x1x16xf32>, %k: tensor<1x32x1x16xf32>, %v: tensor<1x32x1x16xf32>) -> tensor<1x4x1x16xf32> {
  %init = tensor.empty() : tensor<1x4x1x16xf32>
  %o = kha.sdpa %q, %k, %v outs(%init) {scale = 0.25 : f64} : (tensor<1x4x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}

// -----

// ... and a dynamic number of query rows (its scores are not vectorised
// along the rows): the key blocks are transposed instead, as 16 x 16
// transposes.
// CHECK-LABEL: func @dynamic_rows
// CHECK: linalg.transpose ins(%{{.*}} : tensor<16x16xf32>) outs(%{{.*}} : tensor<16x16xf32>) permutation = [1, 0]
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<1x?x16xf32>, tensor<1x16x16xf32>) outs(%{{.*}} : tensor<1x?x16xf32>)
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
func.func @dynamic_rows(%q: tensor<1x?x1x16xf32>, %k: tensor<1x32x1x16xf32>, %v: tensor<1x32x1x16xf32>) -> tensor<1x?x1x16xf32> {
  %c1 = arith.constant 1 : index
  %l = tensor.dim %q, %c1 : tensor<1x?x1x16xf32>
  %init = tensor.empty(%l) : tensor<1x?x1x16xf32>
  %o = kha.sdpa %q, %k, %v outs(%init) {scale = 0.25 : f64} : (tensor<1x?x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x?x1x16xf32>) -> tensor<1x?x1x16xf32>
  return %o : tensor<1x?x1x16xf32>
}
