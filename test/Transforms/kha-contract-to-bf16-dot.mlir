// kha-contract-to-bf16-dot: register tiles of the bf16 pair contraction
// (A[m, k, p] x P[j, k, c, p] into C[m, j, c]) become AVX512-BF16 dot
// products, one per row and per 16 columns.
// RUN: kha-opt %s -kha-contract-to-bf16-dot -split-input-file | FileCheck %s

#a = affine_map<(m, j, c, k, p) -> (m, k, p)>
#b = affine_map<(m, j, c, k, p) -> (j, k, c, p)>
#o = affine_map<(m, j, c, k, p) -> (m, j, c)>

// Two rows x 32 columns: per row, the pair broadcast as one 32-bit value,
// and two dot products (columns 0-15 and 16-31, each 32 consecutive bf16
// of the panel).
// CHECK-LABEL: func @tile
// CHECK-SAME:    (%[[A:.*]]: vector<2x1x2xbf16>, %[[B:.*]]: vector<1x1x32x2xbf16>, %[[ACC:.*]]: vector<2x1x32xf32>)
// CHECK-DAG:     %[[ROW0:.*]] = vector.extract %[[ACC]][0, 0] : vector<32xf32> from vector<2x1x32xf32>
// CHECK-DAG:     %[[S00:.*]] = vector.extract_strided_slice %[[ROW0]] {offsets = [0], sizes = [16], strides = [1]}
// CHECK-DAG:     %[[S01:.*]] = vector.extract_strided_slice %[[ROW0]] {offsets = [16], sizes = [16], strides = [1]}
// CHECK-DAG:     %[[FLAT:.*]] = vector.shape_cast %[[B]] : vector<1x1x32x2xbf16> to vector<64xbf16>
// CHECK-DAG:     %[[B0:.*]] = vector.extract_strided_slice %[[FLAT]] {offsets = [0], sizes = [32], strides = [1]}
// CHECK-DAG:     %[[B1:.*]] = vector.extract_strided_slice %[[FLAT]] {offsets = [32], sizes = [32], strides = [1]}
// CHECK:         %[[PAIR0:.*]] = vector.extract %[[A]][0, 0] : vector<2xbf16> from vector<2x1x2xbf16>
// CHECK:         %[[WORD0:.*]] = vector.bitcast %[[PAIR0]] : vector<2xbf16> to vector<1xi32>
// CHECK:         %[[SPLAT0:.*]] = vector.broadcast %[[WORD0]] : vector<1xi32> to vector<16xi32>
// CHECK:         %[[A0:.*]] = vector.bitcast %[[SPLAT0]] : vector<16xi32> to vector<32xbf16>
// CHECK:         %[[D00:.*]] = x86vector.avx512.dot %[[S00]], %[[A0]], %[[B0]] : vector<32xbf16> -> vector<16xf32>
// CHECK:         %[[D01:.*]] = x86vector.avx512.dot %[[S01]], %[[A0]], %[[B1]] : vector<32xbf16> -> vector<16xf32>
// CHECK:         vector.extract %[[A]][1, 0]
// CHECK-COUNT-2: x86vector.avx512.dot
// CHECK:         %[[R0:.*]] = vector.insert_strided_slice %[[D00]], %{{.*}} {offsets = [0], strides = [1]} : vector<16xf32> into vector<32xf32>
// CHECK:         %[[R1:.*]] = vector.insert_strided_slice %[[D01]], %[[R0]] {offsets = [16], strides = [1]} : vector<16xf32> into vector<32xf32>
// CHECK:         vector.insert %[[R1]], %[[ACC]] [0, 0] : vector<32xf32> into vector<2x1x32xf32>
// CHECK-NOT:     vector.contract
func.func @tile(%a: vector<2x1x2xbf16>, %b: vector<1x1x32x2xbf16>, %acc: vector<2x1x32xf32>) -> vector<2x1x32xf32> {
  %r = vector.contract {indexing_maps = [#a, #b, #o],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                        kind = #vector.kind<add>} %a, %b, %acc
      : vector<2x1x2xbf16>, vector<1x1x32x2xbf16> into vector<2x1x32xf32>
  return %r : vector<2x1x32xf32>
}

// -----

#a = affine_map<(m, j, c, k, p) -> (m, k, p)>
#b = affine_map<(m, j, c, k, p) -> (j, k, c, p)>
#o = affine_map<(m, j, c, k, p) -> (m, j, c)>

// A panel tile read whole from a tensor slice is read again through a flat
// view of the slice: one 1-D read, sliced per dot product.
// CHECK-LABEL: func @flat_read
// CHECK-SAME:    (%{{.*}}: vector<1x1x2xbf16>, %[[T:.*]]: tensor<1x1x16x2xbf16>,
// CHECK:         %[[V:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0, 1, 2, 3]] : tensor<1x1x16x2xbf16> into tensor<32xbf16>
// CHECK:         %[[R:.*]] = vector.transfer_read %[[V]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<32xbf16>, vector<32xbf16>
// CHECK:         x86vector.avx512.dot %{{.*}}, %{{.*}}, %[[R]] : vector<32xbf16> -> vector<16xf32>
func.func @flat_read(%a: vector<1x1x2xbf16>, %t: tensor<1x1x16x2xbf16>, %acc: vector<1x1x16xf32>) -> vector<1x1x16xf32> {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : bf16
  %b = vector.transfer_read %t[%c0, %c0, %c0, %c0], %pad {in_bounds = [true, true, true, true]}
      : tensor<1x1x16x2xbf16>, vector<1x1x16x2xbf16>
  %r = vector.contract {indexing_maps = [#a, #b, #o],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                        kind = #vector.kind<add>} %a, %b, %acc
      : vector<1x1x2xbf16>, vector<1x1x16x2xbf16> into vector<1x1x16xf32>
  return %r : vector<1x1x16xf32>
}

// -----

#a = affine_map<(m, j, c, k, p) -> (m, k, p)>
#b = affine_map<(m, j, c, k, p) -> (j, k, c, p)>
#o = affine_map<(m, j, c, k, p) -> (m, j, c)>

// Narrow panels use the 256- and 128-bit forms (8 and 4 columns); two steps
// of the pair loop are two dot products into the same accumulator.
// CHECK-LABEL: func @narrow
// CHECK-COUNT-2: x86vector.avx512.dot %{{.*}} : vector<16xbf16> -> vector<8xf32>
// CHECK:         x86vector.avx512.dot %{{.*}} : vector<8xbf16> -> vector<4xf32>
// CHECK-NOT:     vector.contract
func.func @narrow(%a: vector<1x2x2xbf16>, %b: vector<1x2x8x2xbf16>, %acc: vector<1x1x8xf32>,
                  %a4: vector<1x1x2xbf16>, %b4: vector<1x1x4x2xbf16>, %acc4: vector<1x1x4xf32>)
    -> (vector<1x1x8xf32>, vector<1x1x4xf32>) {
  %r = vector.contract {indexing_maps = [#a, #b, #o],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                        kind = #vector.kind<add>} %a, %b, %acc
      : vector<1x2x2xbf16>, vector<1x2x8x2xbf16> into vector<1x1x8xf32>
  %r4 = vector.contract {indexing_maps = [#a, #b, #o],
                         iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                         kind = #vector.kind<add>} %a4, %b4, %acc4
      : vector<1x1x2xbf16>, vector<1x1x4x2xbf16> into vector<1x1x4xf32>
  return %r, %r4 : vector<1x1x8xf32>, vector<1x1x4xf32>
}

// -----

#a = affine_map<(m, j, c, k, p) -> (m, k, p)>
#b = affine_map<(m, j, c, k, p) -> (j, k, c, p)>
#o = affine_map<(m, j, c, k, p) -> (m, j, c)>
#a3 = affine_map<(m, n, k) -> (m, k)>
#b3 = affine_map<(m, n, k) -> (k, n)>
#o3 = affine_map<(m, n, k) -> (m, n)>

// Left alone: f32 operands, a width that is not a multiple of 4, a plain
// matmul's maps, a product (not a sum) of products.
// CHECK-LABEL: func @left_alone
// CHECK-NOT:     x86vector.avx512.dot
// CHECK-COUNT-4: vector.contract
// CHECK-NOT:     x86vector.avx512.dot
func.func @left_alone(%af: vector<2x1x2xf32>, %bf: vector<1x1x16x2xf32>, %acc: vector<2x1x16xf32>,
                      %a: vector<2x1x2xbf16>, %b6: vector<1x1x6x2xbf16>, %acc6: vector<2x1x6xf32>,
                      %a3: vector<2x4xbf16>, %b3: vector<4x16xbf16>, %acc3: vector<2x16xf32>,
                      %b: vector<1x1x16x2xbf16>)
    -> (vector<2x1x16xf32>, vector<2x1x6xf32>, vector<2x16xf32>, vector<2x1x16xf32>) {
  %r = vector.contract {indexing_maps = [#a, #b, #o],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                        kind = #vector.kind<add>} %af, %bf, %acc
      : vector<2x1x2xf32>, vector<1x1x16x2xf32> into vector<2x1x16xf32>
  %r6 = vector.contract {indexing_maps = [#a, #b, #o],
                         iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                         kind = #vector.kind<add>} %a, %b6, %acc6
      : vector<2x1x2xbf16>, vector<1x1x6x2xbf16> into vector<2x1x6xf32>
  %r3 = vector.contract {indexing_maps = [#a3, #b3, #o3],
                         iterator_types = ["parallel", "parallel", "reduction"],
                         kind = #vector.kind<add>} %a3, %b3, %acc3
      : vector<2x4xbf16>, vector<4x16xbf16> into vector<2x16xf32>
  %rm = vector.contract {indexing_maps = [#a, #b, #o],
                         iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"],
                         kind = #vector.kind<mul>} %a, %b, %acc
      : vector<2x1x2xbf16>, vector<1x1x16x2xbf16> into vector<2x1x16xf32>
  return %r, %r6, %r3, %rm : vector<2x1x16xf32>, vector<2x1x6xf32>, vector<2x16xf32>, vector<2x1x16xf32>
}
