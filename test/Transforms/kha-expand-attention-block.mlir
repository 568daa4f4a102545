// kha-expand-attention-block rewrites the layer op into linalg projections and
// mid-level kha ops, in the order projection, knock, norm, RoPE, SDPA, W^O.
// RUN: kha-opt %s -kha-expand-attention-block -split-input-file | FileCheck %s

// Every part present, static shapes, GQA (H = 4, G = 2, d = 8, D = 24 != H*d).
// CHECK-LABEL: func @full
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x3x24xf32>, %[[WQ:[a-z0-9]+]]: tensor<24x32xf32>, %[[WK:[a-z0-9]+]]: tensor<24x16xf32>, %[[WV:[a-z0-9]+]]: tensor<24x16xf32>, %[[WO:[a-z0-9]+]]: tensor<32x24xf32>, %[[TQ:[a-z0-9]+]]: tensor<8x8xf32>, %[[TK:[a-z0-9]+]]: tensor<8x8xf32>, %[[TV:[a-z0-9]+]]: tensor<8x8xf32>, %[[QN:[a-z0-9]+]]: tensor<8xf32>, %[[KN:[a-z0-9]+]]: tensor<8xf32>)
// CHECK: %[[TOK:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x3x24xf32> into tensor<6x24xf32>
// CHECK: %[[Q2:.*]] = linalg.matmul ins(%[[TOK]], %[[WQ]] : tensor<6x24xf32>, tensor<24x32xf32>)
// CHECK: %[[Q:.*]] = tensor.expand_shape %[[Q2]] {{\[\[}}0, 1], [2, 3]] output_shape [2, 3, 4, 8] : tensor<6x32xf32> into tensor<2x3x4x8xf32>
// CHECK: %[[K2:.*]] = linalg.matmul ins(%[[TOK]], %[[WK]] :
// CHECK: %[[K:.*]] = tensor.expand_shape %[[K2]] {{.*}} into tensor<2x3x2x8xf32>
// CHECK: %[[V2:.*]] = linalg.matmul ins(%[[TOK]], %[[WV]] :
// CHECK: %[[V:.*]] = tensor.expand_shape %[[V2]] {{.*}} into tensor<2x3x2x8xf32>
// CHECK: %[[QK:.*]] = kha.linear_knock %[[Q]], %[[TQ]] : tensor<2x3x4x8xf32>, tensor<8x8xf32>
// CHECK: %[[KK:.*]] = kha.linear_knock %[[K]], %[[TK]] : tensor<2x3x2x8xf32>, tensor<8x8xf32>
// CHECK: %[[VK:.*]] = kha.linear_knock %[[V]], %[[TV]] : tensor<2x3x2x8xf32>, tensor<8x8xf32>
// CHECK: %[[QNO:.*]] = kha.rms_norm %[[QK]], %[[QN]] {epsilon = 1.000000e-05 : f64}
// CHECK: %[[KNO:.*]] = kha.rms_norm %[[KK]], %[[KN]] {epsilon = 1.000000e-05 : f64}
// CHECK: %[[QR:.*]] = kha.rope %[[QNO]] {theta = 1.000000e+04 : f64} : tensor<2x3x4x8xf32>
// CHECK: %[[KR:.*]] = kha.rope %[[KNO]] {theta = 1.000000e+04 : f64} : tensor<2x3x2x8xf32>
// CHECK: %[[O:.*]] = kha.sdpa %[[QR]], %[[KR]], %[[VK]] outs(%{{.*}}) {causal, scale = 0.35355339059327373 : f64}
// CHECK: %[[OF:.*]] = tensor.collapse_shape %[[O]] {{\[\[}}0, 1], [2, 3]] : tensor<2x3x4x8xf32> into tensor<6x32xf32>
// CHECK: %[[Y2:.*]] = linalg.matmul ins(%[[OF]], %[[WO]] : tensor<6x32xf32>, tensor<32x24xf32>)
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[Y2]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 24] : tensor<6x24xf32> into tensor<2x3x24xf32>
// CHECK-NOT: kha.attention_block
// CHECK: return %[[Y]]
func.func @full(%x: tensor<2x3x24xf32>, %wq: tensor<24x32xf32>, %wk: tensor<24x16xf32>,
                %wv: tensor<24x16xf32>, %wo: tensor<32x24xf32>, %tq: tensor<8x8xf32>,
                %tk: tensor<8x8xf32>, %tv: tensor<8x8xf32>, %qn: tensor<8xf32>,
                %kn: tensor<8xf32>) -> tensor<2x3x24xf32> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo knock_q(%tq) knock_k(%tk)
         knock_v(%tv) qk_norm(%qn, %kn)
         {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal,
          rope_theta = 10000.0 : f64, rms_norm_eps = 1.0e-5 : f64}
       : (tensor<2x3x24xf32>, tensor<24x32xf32>, tensor<24x16xf32>,
          tensor<24x16xf32>, tensor<32x24xf32>, tensor<8x8xf32>, tensor<8x8xf32>,
          tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x24xf32>
  return %y : tensor<2x3x24xf32>
}

// -----

// Dynamic B and L, MQA with the MLP knock on values only, no norm, no RoPE, not
// causal: the reshapes take B and L from the input.
// CHECK-LABEL: func @dynamic_mlp
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x?x16xf32>
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[L:.*]] = tensor.dim %[[X]], %c1
// CHECK: tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<?x?x16xf32> into tensor<?x16xf32>
// CHECK: tensor.expand_shape %{{.*}} output_shape [%[[B]], %[[L]], 2, 8] : tensor<?x16xf32> into tensor<?x?x2x8xf32>
// CHECK: %[[V:.*]] = tensor.expand_shape %{{.*}} output_shape [%[[B]], %[[L]], 1, 8] : tensor<?x8xf32> into tensor<?x?x1x8xf32>
// CHECK: %[[V2:.*]] = tensor.expand_shape %{{.*}} output_shape [%[[B]], %[[L]], 1, 8] : tensor<?x8xf32> into tensor<?x?x1x8xf32>
// CHECK: %[[VM:.*]] = kha.mlp_knock %[[V2]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x1x8xf32>, tensor<8x8xf32>
// CHECK-NOT: kha.rms_norm
// CHECK-NOT: kha.rope
// CHECK: kha.sdpa %{{.*}}, %[[V]], %[[VM]] outs(%{{.*}}) {scale = 0.35355339059327373 : f64}
// CHECK: tensor.expand_shape %{{.*}} output_shape [%[[B]], %[[L]], 16] : tensor<?x16xf32> into tensor<?x?x16xf32>
func.func @dynamic_mlp(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x8xf32>,
                       %wv: tensor<16x8xf32>, %wo: tensor<16x16xf32>, %up: tensor<8x8xf32>,
                       %gate: tensor<8x8xf32>, %down: tensor<8x8xf32>) -> tensor<?x?x16xf32> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo knock_v_mlp(%up, %gate, %down)
         {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>,
          tensor<16x16xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>)
         -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// f16: the projections are computed in f32 and rounded back to f16.
// CHECK-LABEL: func @half
// CHECK: arith.extf %{{.*}} : tensor<4x8xf16> to tensor<4x8xf32>
// CHECK: arith.extf %{{.*}} : tensor<8x8xf16> to tensor<8x8xf32>
// CHECK: %[[P:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK: arith.truncf %[[P]] : tensor<4x8xf32> to tensor<4x8xf16>
// CHECK: kha.sdpa {{.*}} -> tensor<1x4x2x4xf16>
func.func @half(%x: tensor<1x4x8xf16>, %w: tensor<8x8xf16>) -> tensor<1x4x8xf16> {
  %y = kha.attention_block %x, %w, %w, %w, %w {num_heads = 2 : i64, num_kv_heads = 2 : i64}
       : (tensor<1x4x8xf16>, tensor<8x8xf16>, tensor<8x8xf16>, tensor<8x8xf16>,
          tensor<8x8xf16>) -> tensor<1x4x8xf16>
  return %y : tensor<1x4x8xf16>
}

// -----

// Mid-level ops and everything else are left alone, dead ops included.
// CHECK-LABEL: func @leaves_other_ops
// CHECK: arith.mulf
// CHECK: kha.linear_knock
// CHECK: kha.sdpa
// CHECK-NOT: linalg.matmul
func.func @leaves_other_ops(%q: tensor<1x4x2x8xf32>, %t: tensor<8x8xf32>, %a: f32)
    -> tensor<1x4x2x8xf32> {
  %dead = arith.mulf %a, %a : f32
  %k = kha.linear_knock %q, %t : tensor<1x4x2x8xf32>, tensor<8x8xf32>
  %sdpa_init = tensor.empty() : tensor<1x4x2x8xf32>
  %o = kha.sdpa %q, %k, %k outs(%sdpa_init) {scale = 1.0 : f64}
     : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return %o : tensor<1x4x2x8xf32>
}

// -----

// Projection biases (qkv_bias, o_bias) with a linear knock on queries and an
// MLP knock on values: the knock stays right after its projection (where
// kha-fold-knock folds it) and the bias follows it as b T, a [H, d] x [d, d]
// product; the value bias goes before the MLP; the output bias after W^O.
// CHECK-LABEL: func @biases
// CHECK-SAME: %[[BQ:[a-z0-9]+]]: tensor<32xf32>, %[[BK:[a-z0-9]+]]: tensor<16xf32>, %[[BV:[a-z0-9]+]]: tensor<16xf32>, %[[BO:[a-z0-9]+]]: tensor<24xf32>)
// CHECK: %[[Q:.*]] = tensor.expand_shape {{.*}} into tensor<2x3x4x8xf32>
// CHECK: %[[K:.*]] = tensor.expand_shape {{.*}} into tensor<2x3x2x8xf32>
// CHECK: %[[V:.*]] = tensor.expand_shape {{.*}} into tensor<2x3x2x8xf32>
// CHECK: %[[QK:.*]] = kha.linear_knock %[[Q]], %[[TQ:[a-z0-9]+]]
// CHECK: %[[BQH:.*]] = tensor.expand_shape %[[BQ]] {{\[\[}}0, 1]] output_shape [4, 8] : tensor<32xf32> into tensor<4x8xf32>
// CHECK: %[[BQT:.*]] = linalg.matmul ins(%[[BQH]], %[[TQ]] : tensor<4x8xf32>, tensor<8x8xf32>)
// CHECK: %[[QB:.*]] = linalg.generic {{.*}} ins(%[[QK]], %[[BQT]] : tensor<2x3x4x8xf32>, tensor<4x8xf32>)
// CHECK: %[[BKH:.*]] = tensor.expand_shape %[[BK]]
// CHECK: %[[KB:.*]] = linalg.generic {{.*}} ins(%[[K]], %[[BKH]] : tensor<2x3x2x8xf32>, tensor<2x8xf32>)
// CHECK: %[[BVH:.*]] = tensor.expand_shape %[[BV]]
// CHECK: %[[VB:.*]] = linalg.generic {{.*}} ins(%[[V]], %[[BVH]] : tensor<2x3x2x8xf32>, tensor<2x8xf32>)
// CHECK: %[[VM:.*]] = kha.mlp_knock %[[VB]]
// CHECK: kha.sdpa %[[QB]], %[[KB]], %[[VM]]
// CHECK: %[[Y2:.*]] = linalg.matmul
// CHECK: %[[YB:.*]] = linalg.generic {{.*}} ins(%[[Y2]], %[[BO]] : tensor<6x24xf32>, tensor<24xf32>)
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[YB]]
// CHECK: return %[[Y]]
func.func @biases(%x: tensor<2x3x24xf32>, %wq: tensor<24x32xf32>, %wk: tensor<24x16xf32>,
                  %wv: tensor<24x16xf32>, %wo: tensor<32x24xf32>, %tq: tensor<8x8xf32>,
                  %up: tensor<8x8xf32>, %gate: tensor<8x8xf32>, %down: tensor<8x8xf32>,
                  %bq: tensor<32xf32>, %bk: tensor<16xf32>, %bv: tensor<16xf32>,
                  %bo: tensor<24xf32>) -> tensor<2x3x24xf32> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo knock_q(%tq) knock_v_mlp(%up, %gate, %down)
         qkv_bias(%bq, %bk, %bv) o_bias(%bo) {num_heads = 4 : i64, num_kv_heads = 2 : i64}
       : (tensor<2x3x24xf32>, tensor<24x32xf32>, tensor<24x16xf32>, tensor<24x16xf32>,
          tensor<32x24xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>,
          tensor<8x8xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16xf32>,
          tensor<24xf32>) -> tensor<2x3x24xf32>
  return %y : tensor<2x3x24xf32>
}

// -----

// Positions and a padding mask: both RoPE ops read the positions; the mask
// [B, L] (int64, 0: padding) becomes an additive [B, 1, 1, L] mask of the
// layer's type (-inf at padding) that the attention adds to every head and
// query.
// CHECK-LABEL: func @positions_and_mask
// CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<2x?xi64>, %[[M:[a-z0-9]+]]: tensor<2x?xi64>)
// CHECK: %[[Q:.*]] = kha.rope %{{.*}} positions(%[[P]] : tensor<2x?xi64>)
// CHECK: %[[K:.*]] = kha.rope %{{.*}} positions(%[[P]] : tensor<2x?xi64>)
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x1x1x?xf16>
// CHECK: %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[M]] : tensor<2x?xi64>) outs(%[[E]] : tensor<2x1x1x?xf16>)
// CHECK: arith.cmpi eq
// CHECK: arith.constant 0xFC00 : f16
// CHECK: arith.select
// CHECK: kha.sdpa %[[Q]], %[[K]], %{{.*}} mask(%[[ADD]]) outs(%{{.*}}) {causal
func.func @positions_and_mask(%x: tensor<2x?x16xf16>, %w: tensor<16x16xf16>, %p: tensor<2x?xi64>, %m: tensor<2x?xi64>) -> tensor<2x?x16xf16> {
  %y = kha.attention_block %x, %w, %w, %w, %w positions(%p) attention_mask(%m)
       {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal, rope_theta = 10000.0 : f64}
       : (tensor<2x?x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<2x?xi64>, tensor<2x?xi64>) -> tensor<2x?x16xf16>
  return %y : tensor<2x?x16xf16>
}

// -----

// A key/value cache: the new keys (after RoPE) and values go into the caches
// at the length, clamped into the cache (start = min(max(n, 0), max(S - L,
// 0)), rows = min(L, S)); RoPE places the new tokens at start + l; the
// attention reads the first start + L rows of the updated caches and the
// mask's first start + L columns, its causal mask aligned bottom right; the
// block's extra results are the updated caches.
// CHECK-LABEL: func @kv_cache
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<?x?x1x8xf32>, %[[VC:[a-z0-9]+]]: tensor<?x?x1x8xf32>, %[[N:[a-z0-9]+]]: i64)
// CHECK-DAG: %[[L:.*]] = tensor.dim %{{.*}}, %c1 : tensor<?x?x16xf32>
// CHECK: %[[S:.*]] = tensor.dim %[[KC]], %{{.*}} : tensor<?x?x1x8xf32>
// CHECK: %[[ROOM:.*]] = arith.subi %[[S]], %[[L]] : index
// CHECK: %[[ROOM0:.*]] = arith.maxsi %[[ROOM]], %{{c0[_0-9]*}} : index
// CHECK: %[[NI:.*]] = arith.index_cast %[[N]] : i64 to index
// CHECK: %[[NPOS:.*]] = arith.maxsi %[[NI]], %{{c0[_0-9]*}} : index
// CHECK: %[[START:.*]] = arith.minsi %[[NPOS]], %[[ROOM0]] : index
// CHECK: %[[ROWS:.*]] = arith.minsi %[[L]], %[[S]] : index
// CHECK: %[[END:.*]] = arith.addi %[[START]], %[[L]] : index
// CHECK: %[[USED:.*]] = arith.minsi %[[END]], %[[S]] : index
// CHECK: %[[POS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x?xi64>)
// CHECK: linalg.index 1
// CHECK: kha.rope %{{.*}} positions(%[[POS]] : tensor<?x?xi64>)
// CHECK: %[[K:.*]] = kha.rope %{{.*}} positions(%[[POS]] : tensor<?x?xi64>)
// CHECK: %[[KNEW:.*]] = tensor.extract_slice %[[K]][0, 0, 0, 0] [%{{.*}}, %[[ROWS]], 1, 8] [1, 1, 1, 1]
// CHECK: %[[KC2:.*]] = tensor.insert_slice %[[KNEW]] into %[[KC]][0, %[[START]], 0, 0] [%{{.*}}, %[[ROWS]], 1, 8] [1, 1, 1, 1]
// CHECK: %[[VC2:.*]] = tensor.insert_slice %{{.*}} into %[[VC]][0, %[[START]], 0, 0] [%{{.*}}, %[[ROWS]], 1, 8] [1, 1, 1, 1]
// CHECK: %[[KU:.*]] = tensor.extract_slice %[[KC2]][0, 0, 0, 0] [%{{.*}}, %[[USED]], 1, 8] [1, 1, 1, 1]
// CHECK: %[[VU:.*]] = tensor.extract_slice %[[VC2]][0, 0, 0, 0] [%{{.*}}, %[[USED]], 1, 8] [1, 1, 1, 1]
// CHECK: %[[MU:.*]] = tensor.extract_slice %{{.*}}[0, 0] [%{{.*}}, %[[USED]]] [1, 1]
// CHECK: %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[MU]] : tensor<?x?xi64>)
// CHECK: kha.sdpa %{{.*}}, %[[KU]], %[[VU]] mask(%[[ADD]]) outs(%{{.*}}) {bottom_right, causal
// CHECK: return %{{.*}}, %[[KC2]], %[[VC2]]
func.func @kv_cache(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x8xf32>, %m: tensor<?x?xi64>, %kc: tensor<?x?x1x8xf32>, %vc: tensor<?x?x1x8xf32>, %n: i64) -> (tensor<?x?x16xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32>) {
  %y:3 = kha.attention_block %x, %wq, %wk, %wk, %wq attention_mask(%m) kv_cache(%kc, %vc, %n)
       {num_heads = 2 : i64, num_kv_heads = 1 : i64, causal, rope_theta = 10000.0 : f64}
       : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<?x?xi64>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32>, i64) -> (tensor<?x?x16xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32>)
  return %y#0, %y#1, %y#2 : tensor<?x?x16xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32>
}

// -----

// Without causal masking a cached layer attends over every used row: no
// bottom-right alignment.
// CHECK-LABEL: func @kv_cache_not_causal
// CHECK: kha.sdpa
// CHECK-NOT: bottom_right
// CHECK-SAME: -> tensor<1x1x2x8xf32>
func.func @kv_cache_not_causal(%x: tensor<1x1x16xf32>, %w: tensor<16x16xf32>, %kc: tensor<1x32x2x8xf32>, %n: i64) -> tensor<1x1x16xf32> {
  %y:3 = kha.attention_block %x, %w, %w, %w, %w kv_cache(%kc, %kc, %n)
       {num_heads = 2 : i64, num_kv_heads = 2 : i64}
       : (tensor<1x1x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, i64) -> (tensor<1x1x16xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>)
  return %y#0 : tensor<1x1x16xf32>
}
