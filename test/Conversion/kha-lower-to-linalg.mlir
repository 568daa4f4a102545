// kha-lower-to-linalg: each mid-level op becomes linalg on tensors.
// RUN: kha-opt %s -kha-lower-to-linalg -split-input-file | FileCheck %s

// GQA by grouping: the r = H/G query heads that read one key/value head are
// stacked into one matmul against that head's K and V (no copy of K or V per
// query head). f16 operands are widened and every product accumulates in f32;
// the causal mask comes from iteration indices (no L x L mask tensor); the
// softmax subtracts the row maximum; a fully masked row gives zero.
// CHECK-LABEL: func @sdpa_gqa_causal_f16
// CHECK-SAME: (%[[QA:.*]]: tensor<2x?x4x8xf16>, %[[KA:.*]]: tensor<2x?x2x8xf16>, %[[VA:.*]]: tensor<2x?x2x8xf16>)
// CHECK: %[[QE:.*]] = tensor.expand_shape %[[QA]] {{\[\[}}0], [1], [2, 3], [4]] {{.*}} into tensor<2x?x2x2x8xf16>
// CHECK: %[[QT:.*]] = linalg.transpose ins(%[[QE]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x?x8xf16>) permutation = [0, 2, 3, 1, 4]
// CHECK: %[[QG:.*]] = tensor.collapse_shape %[[QT]] {{.*}} into tensor<4x?x8xf16>
// CHECK: %[[KT:.*]] = linalg.transpose ins(%[[KA]] : {{.*}}) outs(%{{.*}} : tensor<2x2x8x?xf16>) permutation = [0, 2, 3, 1]
// CHECK: %[[KG:.*]] = tensor.collapse_shape %[[KT]] {{.*}} into tensor<4x8x?xf16>
// CHECK: %[[VT:.*]] = linalg.transpose ins(%[[VA]] : {{.*}}) outs(%{{.*}} : tensor<2x2x?x8xf16>) permutation = [0, 2, 1, 3]
// CHECK: %[[VG:.*]] = tensor.collapse_shape %[[VT]] {{.*}} into tensor<4x?x8xf16>
// CHECK: %[[QW:.*]] = arith.extf %[[QG]] : tensor<4x?x8xf16> to tensor<4x?x8xf32>
// CHECK: %[[KW:.*]] = arith.extf %[[KG]] : tensor<4x8x?xf16> to tensor<4x8x?xf32>
// CHECK: %[[VW:.*]] = arith.extf %[[VG]] : tensor<4x?x8xf16> to tensor<4x?x8xf32>
// CHECK: %[[S:.*]] = linalg.batch_matmul {kha.attention = "scores"} ins(%[[QW]], %[[KW]] : tensor<4x?x8xf32>, tensor<4x8x?xf32>) outs(%{{.*}} : tensor<4x?x?xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<4x?x?xf32>) outs(%{{.*}} : tensor<4x?xf32>) attrs = {kha.attention = "max"}
// CHECK: arith.constant 2.500000e-01
// CHECK: %[[ROW:.*]] = linalg.index 1
// CHECK: %[[COL:.*]] = linalg.index 2
// CHECK: %[[POS:.*]] = arith.remui %[[ROW]], %{{.*}} : index
// CHECK: %[[FUT:.*]] = arith.cmpi ugt, %[[COL]], %[[POS]]
// CHECK: arith.select %[[FUT]], %{{.*}}, %{{.*}}
// CHECK: arith.maximumf
// CHECK: %[[E:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[MAX]] : {{.*}}) attrs = {kha.attention = "exp"}
// CHECK: arith.cmpf oeq
// CHECK: math.exp
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<4x?x?xf32>) {{.*}} attrs = {kha.attention = "sum"}
// CHECK: %[[PV:.*]] = linalg.batch_matmul {kha.attention = "pv"} ins(%[[E]], %[[VW]] : tensor<4x?x?xf32>, tensor<4x?x8xf32>)
// CHECK: %[[O:.*]] = linalg.generic {{.*}} ins(%[[PV]], %[[SUM]] : {{.*}}) outs(%{{.*}} : tensor<4x?x8xf16>) attrs = {kha.attention = "root", kha.rows = 3 : i64}
// CHECK: arith.cmpf oeq
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: %[[OE:.*]] = tensor.expand_shape %[[O]] {{.*}} into tensor<2x2x2x?x8xf16>
// CHECK: %[[OT:.*]] = linalg.transpose ins(%[[OE]] : {{.*}}) outs(%{{.*}} : tensor<2x?x2x2x8xf16>) permutation = [0, 3, 1, 2, 4]
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[OT]] {{\[\[}}0], [1], [2, 3], [4]] : tensor<2x?x2x2x8xf16> into tensor<2x?x4x8xf16>
// CHECK: return %[[R]]
func.func @sdpa_gqa_causal_f16(%q: tensor<2x?x4x8xf16>, %k: tensor<2x?x2x8xf16>, %v: tensor<2x?x2x8xf16>) -> tensor<2x?x4x8xf16> {
  %0 = kha.sdpa %q, %k, %v {causal, scale = 0.25 : f64} : (tensor<2x?x4x8xf16>, tensor<2x?x2x8xf16>, tensor<2x?x2x8xf16>) -> tensor<2x?x4x8xf16>
  return %0 : tensor<2x?x4x8xf16>
}

// -----

// Without causal or mask there is no index code; a mask is gathered per
// score: [L, S] at (row mod L, j), [B, H, L, S] at (n / G, (n mod G) * r +
// row / L, row mod L, j), with index 0 along its size-1 dimensions (a
// [B, 1, 1, S] padding mask). Masked rows are not tagged for row
// vectorisation.
// CHECK-LABEL: func @sdpa_mask
// CHECK: linalg.generic {{.*}} attrs = {kha.attention = "max"}
// CHECK: %[[P:.*]] = arith.remui
// CHECK: tensor.extract %{{.*}}[%[[P]], %{{.*}}] : tensor<4x6xf32>
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} attrs = {kha.attention = "root", kha.rows = 3 : i64}
// CHECK: linalg.generic {{.*}} attrs = {kha.attention = "max"}
// CHECK: %[[N:.*]] = linalg.index 0
// CHECK: %[[B:.*]] = arith.divui %[[N]], %{{.*}}
// CHECK: tensor.extract %{{.*}}[%[[B]], %{{.*}}, %{{.*}}, %{{.*}}] : tensor<2x2x4x6xf32>
// CHECK: linalg.generic {{.*}} attrs = {kha.attention = "max"}
// CHECK: %[[Z:.*]] = arith.constant 0 : index
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %c0{{.*}}, %c0{{.*}}, %{{.*}}] : tensor<2x1x1x6xf32>
// CHECK: return
func.func @sdpa_mask(%q: tensor<2x4x2x8xf32>, %k: tensor<2x6x1x8xf32>, %v: tensor<2x6x1x8xf32>, %m: tensor<4x6xf32>, %m4: tensor<2x2x4x6xf32>, %pad: tensor<2x1x1x6xf32>) -> (tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>) {
  %0 = kha.sdpa %q, %k, %v mask(%m) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<4x6xf32>) -> tensor<2x4x2x8xf32>
  %1 = kha.sdpa %q, %k, %v mask(%m4) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<2x2x4x6xf32>) -> tensor<2x4x2x8xf32>
  %2 = kha.sdpa %q, %k, %v mask(%pad) {scale = 1.0 : f64} : (tensor<2x4x2x8xf32>, tensor<2x6x1x8xf32>, tensor<2x6x1x8xf32>, tensor<2x1x1x6xf32>) -> tensor<2x4x2x8xf32>
  return %0, %1, %2 : tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>
}

// -----

// A linear knock is one matmul over all head vectors.
// CHECK-LABEL: func @linear_knock
// CHECK-SAME: (%[[X:.*]]: tensor<?x3x2x8xf32>, %[[T:.*]]: tensor<8x8xf32>)
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1, 2], [3]] : tensor<?x3x2x8xf32> into tensor<?x8xf32>
// CHECK: %[[P:.*]] = linalg.matmul ins(%[[ROWS]], %[[T]] : tensor<?x8xf32>, tensor<8x8xf32>)
// CHECK: %[[R:.*]] = tensor.expand_shape %[[P]] {{\[\[}}0, 1, 2], [3]] output_shape [%{{.*}}, 3, 2, 8]
// CHECK: return %[[R]]
func.func @linear_knock(%x: tensor<?x3x2x8xf32>, %t: tensor<8x8xf32>) -> tensor<?x3x2x8xf32> {
  %0 = kha.linear_knock %x, %t : tensor<?x3x2x8xf32>, tensor<8x8xf32>
  return %0 : tensor<?x3x2x8xf32>
}

// -----

// The MLP knock: up and gate matmuls accumulated in f32, their products kept
// in bf16 (the layer's dtype), 2 * u * sigmoid(g) in f32 kept in bf16, the
// down matmul, one rounding to bf16.
// CHECK-LABEL: func @mlp_knock
// CHECK-SAME: (%[[X:.*]]: tensor<1x3x2x8xbf16>, %[[UP:.*]]: tensor<8x8xbf16>, %[[GATE:.*]]: tensor<8x8xbf16>, %[[DOWN:.*]]: tensor<8x8xbf16>)
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[X]]
// CHECK: %[[XW:.*]] = arith.extf %[[ROWS]] : tensor<6x8xbf16> to tensor<6x8xf32>
// CHECK: %[[UPW:.*]] = arith.extf %[[UP]] : tensor<8x8xbf16> to tensor<8x8xf32>
// CHECK: %[[U32:.*]] = linalg.matmul ins(%[[XW]], %[[UPW]] : tensor<6x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<6x8xf32>)
// CHECK: %[[U:.*]] = arith.truncf %[[U32]] : tensor<6x8xf32> to tensor<6x8xbf16>
// CHECK: %[[GATEW:.*]] = arith.extf %[[GATE]] : tensor<8x8xbf16> to tensor<8x8xf32>
// CHECK: %[[G32:.*]] = linalg.matmul ins(%{{.*}}, %[[GATEW]] : tensor<6x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<6x8xf32>)
// CHECK: %[[G:.*]] = arith.truncf %[[G32]] : tensor<6x8xf32> to tensor<6x8xbf16>
// CHECK: %[[H:.*]] = linalg.generic {{.*}} ins(%[[U]], %[[G]] : tensor<6x8xbf16>, tensor<6x8xbf16>) outs(%{{.*}} : tensor<6x8xbf16>)
// CHECK: arith.extf
// CHECK: arith.extf
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: %[[HW:.*]] = arith.extf %[[H]] : tensor<6x8xbf16> to tensor<6x8xf32>
// CHECK: %[[DOWNW:.*]] = arith.extf %[[DOWN]] : tensor<8x8xbf16> to tensor<8x8xf32>
// CHECK: %[[D:.*]] = linalg.matmul ins(%[[HW]], %[[DOWNW]] : tensor<6x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<6x8xf32>)
// CHECK: %[[N:.*]] = arith.truncf %[[D]] : tensor<6x8xf32> to tensor<6x8xbf16>
// CHECK: tensor.expand_shape %[[N]]
func.func @mlp_knock(%x: tensor<1x3x2x8xbf16>, %up: tensor<8x8xbf16>, %gate: tensor<8x8xbf16>, %down: tensor<8x8xbf16>) -> tensor<1x3x2x8xbf16> {
  %0 = kha.mlp_knock %x, %up, %gate, %down : tensor<1x3x2x8xbf16>, tensor<8x8xbf16>
  return %0 : tensor<1x3x2x8xbf16>
}

// -----

// A constant identity down projection (left by kha-fold-knock after moving
// it into the output projection) costs no matmul: up, gate, the gating.
// CHECK-LABEL: func @mlp_knock_identity_down
// CHECK-COUNT-2: linalg.matmul
// CHECK-NOT: linalg.matmul
// CHECK: %[[H:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: tensor.expand_shape %[[H]]
func.func @mlp_knock_identity_down(%x: tensor<1x3x2x2xf32>, %up: tensor<2x2xf32>, %gate: tensor<2x2xf32>) -> tensor<1x3x2x2xf32> {
  %eye = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %0 = kha.mlp_knock %x, %up, %gate, %eye : tensor<1x3x2x2xf32>, tensor<2x2xf32>
  return %0 : tensor<1x3x2x2xf32>
}

// -----

// RMSNorm: a sum of squares over d in f32, then x * rsqrt(mean + eps) * w.
// CHECK-LABEL: func @rms_norm
// CHECK: %[[SS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x?x2xf32>)
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[SS]], %{{.*}} : tensor<1x?x2x8xf16>, tensor<1x?x2xf32>, tensor<8xf16>)
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK: arith.constant 9.99999997E-7 : f32
// CHECK: math.sqrt
// CHECK: arith.truncf
func.func @rms_norm(%x: tensor<1x?x2x8xf16>, %w: tensor<8xf16>) -> tensor<1x?x2x8xf16> {
  %0 = kha.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : tensor<1x?x2x8xf16>, tensor<8xf16>
  return %0 : tensor<1x?x2x8xf16>
}

// -----

// RoPE: cos/sin tables [L, d/2] computed once in f64, then the two halves
// rotated and written into the result.
// CHECK-LABEL: func @rope
// CHECK: %[[TAB:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK: linalg.index 0
// CHECK: linalg.index 1
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: math.powf %{{.*}}, %{{.*}} : f64
// CHECK: math.cos %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f64
// CHECK: %[[X1:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [2, %{{.*}}, 3, 4] [1, 1, 1, 1]
// CHECK: %[[X2:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 4] [2, %{{.*}}, 3, 4] [1, 1, 1, 1]
// CHECK: %[[ROT:.*]]:2 = linalg.generic {{.*}} ins(%[[X1]], %[[X2]], %[[TAB]]#0, %[[TAB]]#1 :
// CHECK: %[[LO:.*]] = tensor.insert_slice %[[ROT]]#0 into %{{.*}}[0, 0, 0, 0]
// CHECK: tensor.insert_slice %[[ROT]]#1 into %[[LO]][0, 0, 0, 4]
func.func @rope(%x: tensor<2x?x3x8xf32>) -> tensor<2x?x3x8xf32> {
  %0 = kha.rope %x {theta = 10000.0 : f64} : tensor<2x?x3x8xf32>
  return %0 : tensor<2x?x3x8xf32>
}

// -----

// RoPE at given positions: the tables are [B, L, d/2], their angle read from
// positions[b, l] (int64) instead of the index along L, and the rotation reads
// them at (b, l).
// CHECK-LABEL: func @rope_positions
// CHECK-SAME: %[[X:.*]]: tensor<2x?x3x8xf32>, %[[P:.*]]: tensor<2x?xi64>
// CHECK: %[[TAB:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]{{.*}} ins(%[[P]] : tensor<2x?xi64>) outs(%{{.*}}, %{{.*}} : tensor<2x?x4xf32>, tensor<2x?x4xf32>)
// CHECK: ^bb0(%[[POS:.*]]: i64,
// CHECK: arith.sitofp %[[POS]] : i64 to f64
// CHECK: linalg.index 2
// CHECK: math.powf
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #[[TABMAP:.*]], #[[TABMAP]], {{.*}} ins(%{{.*}}, %{{.*}}, %[[TAB]]#0, %[[TAB]]#1 :
func.func @rope_positions(%x: tensor<2x?x3x8xf32>, %p: tensor<2x?xi64>) -> tensor<2x?x3x8xf32> {
  %0 = kha.rope %x positions(%p : tensor<2x?xi64>) {theta = 10000.0 : f64} : tensor<2x?x3x8xf32>
  return %0 : tensor<2x?x3x8xf32>
}

// -----

// The attention block is expanded and lowered in one go; nothing of kha remains.
// CHECK-LABEL: func @block
// CHECK-NOT: = kha.
// CHECK: return
func.func @block(%x: tensor<1x4x16xf32>, %w: tensor<16x16xf32>, %t: tensor<8x8xf32>) -> tensor<1x4x16xf32> {
  %y = kha.attention_block %x, %w, %w, %w, %w knock_v(%t) {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal, rope_theta = 10000.0 : f64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<8x8xf32>) -> tensor<1x4x16xf32>
  return %y : tensor<1x4x16xf32>
}

// -----

// Aligned bottom right (the queries are the newest L of S keys), key j is in
// query i's future when j + L > i + S. Decoding keeps K's rows whole
// ([B*G, S, d], d innermost, as the cache holds them) and multiplies by
// their transpose through the batch matmul's indexing maps.
// CHECK-DAG: #map{{[0-9]*}} = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #map{{[0-9]*}} = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #map{{[0-9]*}} = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func @sdpa_bottom_right
// CHECK-DAG: %[[L:.*]] = tensor.dim %{{.*}}, %c1{{.*}} : tensor<1x?x2x8xf32>
// CHECK-DAG: %[[S:.*]] = tensor.dim %{{.*}}, %c1{{.*}} : tensor<1x?x1x8xf32>
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x?x1x8xf32>) outs(%{{.*}} : tensor<1x1x?x8xf32>) permutation = [0, 2, 1, 3]
// CHECK: linalg.batch_matmul indexing_maps = [#map{{[0-9]*}}, #map{{[0-9]*}}, #map{{[0-9]*}}] {kha.attention = "scores"} ins(%{{.*}}, %{{.*}} : tensor<1x?x8xf32>, tensor<1x?x8xf32>)
// CHECK: linalg.generic
// CHECK: %[[ROW:.*]] = linalg.index 1
// CHECK: %[[COL:.*]] = linalg.index 2
// CHECK: %[[POS:.*]] = arith.remui %[[ROW]], %[[L]] : index
// CHECK: %[[LHS:.*]] = arith.addi %[[COL]], %[[L]] : index
// CHECK: %[[RHS:.*]] = arith.addi %[[POS]], %[[S]] : index
// CHECK: arith.cmpi ugt, %[[LHS]], %[[RHS]] : index
func.func @sdpa_bottom_right(%q: tensor<1x?x2x8xf32>, %k: tensor<1x?x1x8xf32>, %v: tensor<1x?x1x8xf32>) -> tensor<1x?x2x8xf32> {
  %0 = kha.sdpa %q, %k, %v {causal, bottom_right, scale = 0.35 : f64} : (tensor<1x?x2x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x1x8xf32>) -> tensor<1x?x2x8xf32>
  return %0 : tensor<1x?x2x8xf32>
}
