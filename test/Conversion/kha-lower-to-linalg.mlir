// kha-lower-to-linalg: each mid-level op becomes linalg on tensors.
// RUN: kha-opt %s -kha-lower-to-linalg -split-input-file | FileCheck %s

// kha.sdpa goes through kha-decompose-sdpa's patterns (test/Conversion/
// kha-decompose-sdpa.mlir), all keys in one step.
// CHECK-LABEL: func @sdpa
// CHECK-NOT: kha.sdpa
// CHECK-NOT: scf.for
// CHECK: linalg.batch_matmul
// CHECK: math.exp
// CHECK: linalg.batch_matmul
// CHECK: return
func.func @sdpa(%q: tensor<2x?x4x8xf32>, %k: tensor<2x?x2x8xf32>, %v: tensor<2x?x2x8xf32>) -> tensor<2x?x4x8xf32> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x4x8xf32>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x4x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.25 : f64} : (tensor<2x?x4x8xf32>, tensor<2x?x2x8xf32>, tensor<2x?x2x8xf32>, tensor<2x?x4x8xf32>) -> tensor<2x?x4x8xf32>
  return %0 : tensor<2x?x4x8xf32>
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

// RMSNorm: a sum of squares over d in f32, the row's scale
// 1 / sqrt(mean + eps) once per row, then x * scale * w.
// CHECK-LABEL: func @rms_norm
// CHECK: %[[SS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x?x2xf32>)
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[SCALE:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[SS]] : tensor<1x?x2xf32>) outs(%{{.*}} : tensor<1x?x2xf32>)
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK: arith.constant 9.99999997E-7 : f32
// CHECK: math.sqrt
// CHECK: arith.divf
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[SCALE]], %{{.*}} : tensor<1x?x2x8xf16>, tensor<1x?x2xf32>, tensor<8xf16>)
// CHECK-NOT: math.sqrt
// CHECK: arith.truncf
func.func @rms_norm(%x: tensor<1x?x2x8xf16>, %w: tensor<8xf16>) -> tensor<1x?x2x8xf16> {
  %0 = kha.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : tensor<1x?x2x8xf16>, tensor<8xf16>
  return %0 : tensor<1x?x2x8xf16>
}

// -----

// RoPE: cos/sin tables [L, d/2] computed once in f64, then the two halves
// rotated into one result [B, L, H, 2, d/2] (half h at index h), which is the
// op's result reshaped.
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
// CHECK: %[[INIT:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x3x2x4xf32>
// CHECK: %[[ROT:.*]] = linalg.generic {{.*}} ins(%[[X1]], %[[X2]], %[[TAB]]#0, %[[TAB]]#1 : {{.*}} outs(%[[INIT]] : tensor<2x?x3x2x4xf32>)
// CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[COS:.*]]: f32, %[[SIN:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[AC:.*]] = arith.mulf %[[A]], %[[COS]]
// CHECK: %[[BS:.*]] = arith.mulf %[[B]], %[[SIN]]
// CHECK: %[[LOW:.*]] = arith.subf %[[AC]], %[[BS]]
// CHECK: %[[BC:.*]] = arith.mulf %[[B]], %[[COS]]
// CHECK: %[[AS:.*]] = arith.mulf %[[A]], %[[SIN]]
// CHECK: %[[HIGH:.*]] = arith.addf %[[BC]], %[[AS]]
// CHECK: %[[H:.*]] = linalg.index 3
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[H]], %{{.*}}
// CHECK: arith.select %[[FIRST]], %[[LOW]], %[[HIGH]]
// CHECK: tensor.collapse_shape %[[ROT]] {{\[}}[0], [1], [2], [3, 4]] : tensor<2x?x3x2x4xf32> into tensor<2x?x3x8xf32>
// CHECK-NOT: tensor.insert_slice
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

