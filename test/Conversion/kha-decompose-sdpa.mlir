// kha-decompose-sdpa: kha.sdpa as an online softmax in linalg.
// RUN: kha-opt %s -kha-decompose-sdpa -split-input-file -verify-diagnostics | FileCheck %s
// RUN: kha-opt %s -kha-decompose-sdpa=key-block-size=4 -canonicalize -cse -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=BLOCKS

// All keys in one step (the default). GQA by grouping: the r = H/G query
// heads that read one key/value head are stacked into one matmul against
// that head's K and V (no copy of K or V per query head). f16 operands are
// widened and every product accumulates in f32; the causal mask comes from
// iteration indices (no L x L mask tensor); the softmax subtracts the row
// maximum; a row that sees no key gives zero.
// CHECK-DAG: #[[$ACC:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d3, d1, d4)>
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d3, d1)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func @gqa_causal_f16
// CHECK-SAME: (%[[QA:[a-z0-9]+]]: tensor<2x?x4x8xf16>, %[[KA:[a-z0-9]+]]: tensor<2x?x2x8xf16>, %[[VA:[a-z0-9]+]]: tensor<2x?x2x8xf16>)
// CHECK-NOT: scf.for
// CHECK: %[[INIT:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x4x8xf16>
// CHECK: %[[QE:.*]] = tensor.expand_shape %[[QA]] {{\[\[}}0], [1], [2, 3], [4]] {{.*}} into tensor<2x?x2x2x8xf16>
// CHECK: %[[QT:.*]] = linalg.transpose ins(%[[QE]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x?x8xf16>) permutation = [0, 2, 3, 1, 4]
// CHECK: %[[QG:.*]] = tensor.collapse_shape %[[QT]] {{.*}} into tensor<4x?x8xf16>
// CHECK: %[[QW:.*]] = arith.extf %[[QG]] : tensor<4x?x8xf16> to tensor<4x?x8xf32>
// CHECK: %[[M0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x?xf32>)
// CHECK: %[[KT:.*]] = linalg.transpose ins(%[[KA]] : {{.*}}) outs(%{{.*}} : tensor<2x2x8x?xf16>) permutation = [0, 2, 3, 1]
// CHECK: %[[KG:.*]] = tensor.collapse_shape %[[KT]] {{.*}} into tensor<4x8x?xf16>
// CHECK: %[[KW:.*]] = arith.extf %[[KG]] : tensor<4x8x?xf16> to tensor<4x8x?xf32>
// CHECK: %[[S:.*]] = linalg.batch_matmul ins(%[[QW]], %[[KW]] : tensor<4x?x8xf32>, tensor<4x8x?xf32>) outs(%{{.*}} : tensor<4x?x?xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<4x?x?xf32>) outs(%[[M0]] : tensor<4x?xf32>)
// CHECK: arith.constant 2.500000e-01
// CHECK: %[[ROW:.*]] = linalg.index 1
// CHECK: %[[COL:.*]] = linalg.index 2
// CHECK: %[[KEY:.*]] = arith.addi %{{.*}}, %[[COL]] : index
// CHECK: %[[POS:.*]] = arith.remui %[[ROW]], %{{.*}} : index
// CHECK: %[[PLACE:.*]] = arith.addi %[[POS]], %{{.*}} : index
// CHECK: %[[FUT:.*]] = arith.cmpi sgt, %[[KEY]], %[[PLACE]]
// CHECK: arith.select %[[FUT]], %{{.*}}, %{{.*}}
// CHECK: arith.maximumf
// CHECK: %[[E:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[MAX]] : {{.*}})
// CHECK: arith.cmpf oeq
// CHECK: math.exp
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<4x?x?xf32>)
// CHECK: arith.addf
// CHECK: %[[VT:.*]] = linalg.transpose ins(%[[VA]] : {{.*}}) outs(%{{.*}} : tensor<2x2x?x8xf16>) permutation = [0, 2, 1, 3]
// CHECK: %[[VG:.*]] = tensor.collapse_shape %[[VT]] {{.*}} into tensor<4x?x8xf16>
// CHECK: %[[VW:.*]] = arith.extf %[[VG]] : tensor<4x?x8xf16> to tensor<4x?x8xf32>
// CHECK: %[[PV:.*]] = linalg.batch_matmul ins(%[[E]], %[[VW]] : tensor<4x?x?xf32>, tensor<4x?x8xf32>)
// The normalisation writes the destination in its own layout: no transpose.
// CHECK: %[[AE:.*]] = tensor.expand_shape %[[PV]] {{\[\[}}0, 1], [2, 3], [4]] {{.*}} into tensor<2x2x2x?x8xf32>
// CHECK: %[[SE:.*]] = tensor.expand_shape %[[SUM]] {{\[\[}}0, 1], [2, 3]] {{.*}} into tensor<2x2x2x?xf32>
// CHECK: %[[DE:.*]] = tensor.expand_shape %[[INIT]] {{\[\[}}0], [1], [2, 3], [4]] {{.*}} into tensor<2x?x2x2x8xf16>
// CHECK: %[[O:.*]] = linalg.generic {indexing_maps = [#[[$ACC]], #[[$ROWS]], #[[$OUT]]], {{.*}} ins(%[[AE]], %[[SE]] : {{.*}}) outs(%[[DE]] : tensor<2x?x2x2x8xf16>)
// CHECK: arith.cmpf oeq
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK-NOT: linalg.transpose
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[O]] {{\[\[}}0], [1], [2, 3], [4]] : tensor<2x?x2x2x8xf16> into tensor<2x?x4x8xf16>
// CHECK: return %[[R]]
func.func @gqa_causal_f16(%q: tensor<2x?x4x8xf16>, %k: tensor<2x?x2x8xf16>, %v: tensor<2x?x2x8xf16>) -> tensor<2x?x4x8xf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x4x8xf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x4x8xf16>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.25 : f64} : (tensor<2x?x4x8xf16>, tensor<2x?x2x8xf16>, tensor<2x?x2x8xf16>, tensor<2x?x4x8xf16>) -> tensor<2x?x4x8xf16>
  return %0 : tensor<2x?x4x8xf16>
}

// -----

// Blocks of 4 of 10 keys: two full blocks in a loop that carries the row
// maximum, the row sum and the output in place, then the last 2 keys. With
// 6 grouped query rows (fewer than 16) each key block is multiplied as it
// lies (rows of d, transposed indexing maps).
// BLOCKS-DAG: #[[$A:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// BLOCKS-DAG: #[[$B:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// BLOCKS-DAG: #[[$C:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// BLOCKS-LABEL: func @blocks
// BLOCKS-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x3x2x8xf32>, %[[K:[a-z0-9]+]]: tensor<1x10x1x8xf32>, %[[V:[a-z0-9]+]]: tensor<1x10x1x8xf32>)
// BLOCKS: %[[R:.*]]:3 = scf.for %[[J:.*]] = %c0 to %c8 step %c4 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<1x6xf32>, tensor<1x6xf32>, tensor<1x6x8xf32>)
// BLOCKS: tensor.extract_slice %[[K]][0, %[[J]], 0, 0] [1, 4, 1, 8]
// BLOCKS: %[[S:.*]] = linalg.batch_matmul indexing_maps = [#[[$A]], #[[$B]], #[[$C]]] ins(%{{.*}}, %{{.*}} : tensor<1x6x8xf32>, tensor<1x4x8xf32>) outs(%{{.*}} : tensor<1x6x4xf32>)
// BLOCKS: %[[BM:.*]] = linalg.generic {{.*}}["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<1x6x4xf32>)
// BLOCKS: arith.addi %[[J]], %{{.*}} : index
// BLOCKS: %[[UP:.*]]:2 = linalg.generic {{.*}} ins(%[[BM]] : tensor<1x6xf32>) outs(%[[M]], %{{.*}} : tensor<1x6xf32>, tensor<1x6xf32>)
// BLOCKS: arith.maximumf
// BLOCKS: math.exp
// BLOCKS: linalg.yield
// BLOCKS: %[[P:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[UP]]#0 : tensor<1x6x4xf32>, tensor<1x6xf32>)
// BLOCKS: %[[L2:.*]] = linalg.generic {{.*}} ins(%[[UP]]#1 : tensor<1x6xf32>) outs(%[[L]] : tensor<1x6xf32>)
// BLOCKS: arith.mulf
// BLOCKS: %[[ACC2:.*]] = linalg.generic {{.*}} ins(%[[UP]]#1 : tensor<1x6xf32>) outs(%[[ACC]] : tensor<1x6x8xf32>)
// BLOCKS: arith.mulf
// BLOCKS: %[[L3:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<1x6x4xf32>) outs(%[[L2]] : tensor<1x6xf32>)
// BLOCKS: tensor.extract_slice %[[V]][0, %[[J]], 0, 0] [1, 4, 1, 8]
// BLOCKS: %[[ACC3:.*]] = linalg.batch_matmul ins(%[[P]], %{{.*}} : tensor<1x6x4xf32>, tensor<1x4x8xf32>) outs(%[[ACC2]] : tensor<1x6x8xf32>)
// BLOCKS: scf.yield %[[UP]]#0, %[[L3]], %[[ACC3]]
// BLOCKS: tensor.extract_slice %[[K]][0, 8, 0, 0] [1, 2, 1, 8]
// BLOCKS: linalg.batch_matmul {{.*}} outs(%{{.*}} : tensor<1x6x2xf32>)
// BLOCKS: arith.addi %{{.*}}, %c8 : index
// BLOCKS: linalg.generic {{.*}} outs(%[[R]]#0, %{{.*}} : tensor<1x6xf32>, tensor<1x6xf32>)
// BLOCKS: tensor.extract_slice %[[V]][0, 8, 0, 0] [1, 2, 1, 8]
// BLOCKS: arith.divf
// BLOCKS: return
func.func @blocks(%q: tensor<1x3x2x8xf32>, %k: tensor<1x10x1x8xf32>, %v: tensor<1x10x1x8xf32>) -> tensor<1x3x2x8xf32> {
  %sdpa_init2 = tensor.empty() : tensor<1x3x2x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init2) {causal, scale = 0.35 : f64} : (tensor<1x3x2x8xf32>, tensor<1x10x1x8xf32>, tensor<1x10x1x8xf32>, tensor<1x3x2x8xf32>) -> tensor<1x3x2x8xf32>
  return %0 : tensor<1x3x2x8xf32>
}

// -----

// A dynamic number of keys: full blocks up to (S floordiv 4) * 4, then the
// remainder S mod 4 only when it is not empty.
// BLOCKS-DAG: #[[$FULL:.*]] = affine_map<()[s0] -> ((s0 floordiv 4) * 4)>
// BLOCKS-DAG: #[[$REST:.*]] = affine_map<()[s0] -> (s0 mod 4)>
// BLOCKS-LABEL: func @dynamic_blocks
// BLOCKS-SAME: (%{{.*}}: tensor<1x?x2x8xf32>, %[[K:[a-z0-9]+]]: tensor<1x?x1x8xf32>
// BLOCKS: %[[S:.*]] = tensor.dim %[[K]], %c1
// BLOCKS: %[[F:.*]] = affine.apply #[[$FULL]]()[%[[S]]]
// BLOCKS: scf.for %{{.*}} = %c0 to %[[F]] step %c4
// BLOCKS: %[[N:.*]] = affine.apply #[[$REST]]()[%[[S]]]
// BLOCKS: %[[ANY:.*]] = arith.cmpi sgt, %[[N]], %c0
// BLOCKS: scf.if %[[ANY]]
// BLOCKS: tensor.extract_slice %[[K]][0, %[[F]], 0, 0] [1, %[[N]], 1, 8]
// BLOCKS: } else {
func.func @dynamic_blocks(%q: tensor<1x?x2x8xf32>, %k: tensor<1x?x1x8xf32>, %v: tensor<1x?x1x8xf32>) -> tensor<1x?x2x8xf32> {
  %sdpa_c3_1 = arith.constant 1 : index
  %sdpa_d3_1 = tensor.dim %q, %sdpa_c3_1 : tensor<1x?x2x8xf32>
  %sdpa_init3 = tensor.empty(%sdpa_d3_1) : tensor<1x?x2x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.35 : f64} : (tensor<1x?x2x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32>
  return %0 : tensor<1x?x2x8xf32>
}

// -----

// A tile of rows placed by query_offset: key j is masked when
// j > row + offset (signed). In blocks, the full blocks no row can see past
// (up to (offset + 1) floordiv 4 blocks, at most all full blocks) come first
// and skip the mask's arithmetic; the later ones, and the remainder, mask.
// BLOCKS-DAG: #[[$BELOW:.*]] = affine_map<()[s0, s1] -> ((s0 floordiv 4) * 4, ((s1 + 1) floordiv 4) * 4)>
// BLOCKS-DAG: #[[$NONNEG:.*]] = affine_map<()[s0] -> (0, s0)>
// BLOCKS-LABEL: func @tile_offset
// BLOCKS-SAME: %[[O:[a-z0-9]+]]: index
// BLOCKS: %[[FULL:.*]] = affine.apply #{{.*}}()[%[[S:.*]]]
// BLOCKS: %[[BELOW:.*]] = affine.min #[[$BELOW]]()[%[[S]], %[[O]]]
// BLOCKS: %[[FROM:.*]] = affine.max #[[$NONNEG]]()[%[[BELOW]]]
// BLOCKS: scf.for %{{.*}} = %c0 to %[[FROM]] step %c4
// BLOCKS-NOT: arith.cmpi
// BLOCKS: scf.yield
// BLOCKS: scf.for %{{.*}} = %[[FROM]] to %[[FULL]] step %c4
// BLOCKS: arith.cmpi sgt
// BLOCKS: scf.yield
// BLOCKS: scf.if
// BLOCKS: arith.cmpi sgt
// CHECK-LABEL: func @tile_offset
// CHECK-SAME: %[[O:[a-z0-9]+]]: index
// CHECK: linalg.generic
// CHECK: %[[POS:.*]] = arith.remui
// CHECK: %[[PLACE:.*]] = arith.addi %[[POS]], %[[O]] : index
// CHECK: arith.cmpi sgt, %{{.*}}, %[[PLACE]] : index
func.func @tile_offset(%q: tensor<1x16x2x8xf32>, %k: tensor<1x?x1x8xf32>, %v: tensor<1x?x1x8xf32>, %o: index) -> tensor<1x16x2x8xf32> {
  %sdpa_init4 = tensor.empty() : tensor<1x16x2x8xf32>
  %0 = kha.sdpa %q, %k, %v query_offset(%o) outs(%sdpa_init4) {causal, scale = 0.35 : f64} : (tensor<1x16x2x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x1x8xf32>, index, tensor<1x16x2x8xf32>) -> tensor<1x16x2x8xf32>
  return %0 : tensor<1x16x2x8xf32>
}

// -----

// Aligned bottom right: query row 0 sits at key S - L (10 - 3). In blocks of
// 4, both full blocks (keys 0-7) are at or before row 0's place and skip the
// mask; only the last 2 keys are masked.
// BLOCKS-LABEL: func @bottom_right
// BLOCKS: scf.for %{{.*}} = %c0 to %c8 step %c4
// BLOCKS-NOT: arith.cmpi
// BLOCKS: scf.yield
// BLOCKS-NOT: scf.for
// BLOCKS: arith.cmpi sgt
// CHECK-LABEL: func @bottom_right
// CHECK: %[[OFF:.*]] = arith.constant 7 : index
// CHECK: linalg.generic
// CHECK: %[[POS:.*]] = arith.remui
// CHECK: %[[PLACE:.*]] = arith.addi %[[POS]], %[[OFF]] : index
// CHECK: arith.cmpi sgt, %{{.*}}, %[[PLACE]] : index
func.func @bottom_right(%q: tensor<1x3x2x8xf32>, %k: tensor<1x10x1x8xf32>, %v: tensor<1x10x1x8xf32>) -> tensor<1x3x2x8xf32> {
  %sdpa_init5 = tensor.empty() : tensor<1x3x2x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init5) {causal, bottom_right, scale = 0.35 : f64} : (tensor<1x3x2x8xf32>, tensor<1x10x1x8xf32>, tensor<1x10x1x8xf32>, tensor<1x3x2x8xf32>) -> tensor<1x3x2x8xf32>
  return %0 : tensor<1x3x2x8xf32>
}

// -----

// Without causal or mask there is no index code; a mask is gathered per
// score: [L, S] at (row mod L, j), [B, H, L, S] at (n / G, (n mod G) * r +
// row / L, row mod L, j), with index 0 along its size-1 dimensions (a
// [B, 1, 1, S] padding mask).
// CHECK-LABEL: func @masks
// CHECK: linalg.generic
// CHECK: %[[P:.*]] = arith.remui
// CHECK: tensor.extract %{{.*}}[%[[P]], %{{.*}}] : tensor<4x6xf32>
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: %[[N:.*]] = linalg.index 0
// CHECK: %[[B:.*]] = arith.divui %[[N]], %{{.*}}
// CHECK: tensor.extract %{{.*}}[%[[B]], %{{.*}}, %{{.*}}, %{{.*}}] : tensor<2x2x4x6xf32>
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %c0{{.*}}, %c0{{.*}}, %{{.*}}] : tensor<2x1x1x6xf32>
// CHECK: return
func.func @masks(%q: tensor<2x4x2x8xf32>, %k: tensor<2x6x1x8xf32>, %v: tensor<2x6x1x8xf32>, %m: tensor<4x6xf32>, %m4: tensor<2x2x4x6xf32>, %pad: tensor<2x1x1x6xf32>) -> (tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>) {
  %sdpa_init6 = tensor.empty() : tensor<2x4x2x8xf32>
  %0 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init6) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<4x6xf32>, tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  %sdpa_init7 = tensor.empty() : tensor<2x4x2x8xf32>
  %1 = kha.sdpa %q, %k, %v mask(%m4) outs(%sdpa_init7) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<2x2x4x6xf32>, tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  %sdpa_init8 = tensor.empty() : tensor<2x4x2x8xf32>
  %2 = kha.sdpa %q, %k, %v mask(%pad) outs(%sdpa_init8) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<2x1x1x6xf32>, tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return %0, %1, %2 : tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>
}

// -----

// Only kha.sdpa is decomposed: other kha ops stay for kha-lower-to-linalg.
// CHECK-LABEL: func @leaves_others
// CHECK: kha.rms_norm
// CHECK-NOT: kha.sdpa
func.func @leaves_others(%x: tensor<1x4x2x8xf32>, %w: tensor<8xf32>) -> tensor<1x4x2x8xf32> {
  %0 = kha.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : tensor<1x4x2x8xf32>, tensor<8xf32>
  %sdpa_init9 = tensor.empty() : tensor<1x4x2x8xf32>
  %1 = kha.sdpa %0, %0, %0 outs(%sdpa_init9) {scale = 1.0 : f64} : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return %1 : tensor<1x4x2x8xf32>
}

// -----

// Head counts that are not static cannot be grouped.
func.func @dynamic_heads(%q: tensor<1x4x?x8xf32>, %k: tensor<1x4x?x8xf32>, %v: tensor<1x4x?x8xf32>) -> tensor<1x4x?x8xf32> {
  %sdpa_c10_2 = arith.constant 2 : index
  %sdpa_d10_2 = tensor.dim %q, %sdpa_c10_2 : tensor<1x4x?x8xf32>
  %sdpa_init10 = tensor.empty(%sdpa_d10_2) : tensor<1x4x?x8xf32>
  // expected-error @+1 {{could not decompose kha.sdpa: head counts and widths must be static}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init10) {scale = 1.0 : f64} : (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>) -> tensor<1x4x?x8xf32>
  return %0 : tensor<1x4x?x8xf32>
}
