// Every verifier rule of the kha ops (numbered R1.. in docs/semantics.md) with a
// case that breaks it and the diagnostic it must produce.
// RUN: kha-opt %s -split-input-file -verify-diagnostics

// R1: the input is [B, L, D]
func.func @r1_the_input_is_b_l_d(%a0: tensor<4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'input' must be a rank-3 tensor [B, L, D], got rank 2}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

// R1: D is static
func.func @r1_d_is_static(%a0: tensor<1x4x?xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{the model width D (the input's last dimension) must be static and positive}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x?xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x?xf32>
  return
}

// -----

// R2: the result has the input type
func.func @r2_the_result_has_the_input_type(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{result type 'tensor<1x4x8xf32>' must equal the input type 'tensor<1x4x16xf32>'}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

// R3: H > 0
func.func @r3_h_positive(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 0 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R4: G > 0
func.func @r4_g_positive(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{num_kv_heads must be positive, got -1}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = -1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R5: G divides H
func.func @r5_g_divides_h(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{num_kv_heads (3) must divide num_heads (2)}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 3 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R6: the MLP knock is complete
func.func @r6_the_mlp_knock_is_complete(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8x8xf32>, %a6: tensor<8x8xf32>) {
  // expected-error @+1 {{the MLP knock needs all of v_up, v_gate and v_down}}
  %y = "kha.attention_block"(%a0, %a1, %a2, %a3, %a4, %a5, %a6) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>}>
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R6: one value knock
func.func @r6_one_value_knock(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8x8xf32>, %a6: tensor<8x8xf32>, %a7: tensor<8x8xf32>, %a8: tensor<8x8xf32>) {
  // expected-error @+1 {{values take a linear knock or an MLP knock, not both}}
  %y = "kha.attention_block"(%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>}>
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R6: QK-norm weights come in pairs
func.func @r6_qk_norm_weights_come_in_pairs(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8xf32>) {
  // expected-error @+1 {{QK-norm needs both q_norm and k_norm}}
  %y = "kha.attention_block"(%a0, %a1, %a2, %a3, %a4, %a5) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>}>
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R7: weights are static
func.func @r7_weights_are_static(%a0: tensor<1x4x16xf32>, %a1: tensor<16x?xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{weight 'wq' must have a static shape, got 'tensor<16x?xf32>'}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x?xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R8: one element type
func.func @r8_one_element_type(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf16>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{element types must agree: 'input' has 'f32' but 'wk' has 'f16'}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf16>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: projections are matrices
func.func @r9_projections_are_matrices(%a0: tensor<1x4x16xf32>, %a1: tensor<16x2x8xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'wq' must be a rank-2 tensor (a projection matrix), got rank 3}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x2x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: wq is D x H*d
func.func @r9_wq_is_d_x_h_d(%a0: tensor<1x4x16xf32>, %a1: tensor<12x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'wq' must have D = 16 rows, got 12}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<12x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: H divides the columns of wq
func.func @r9_h_divides_the_columns_of_wq(%a0: tensor<1x4x16xf32>, %a1: tensor<16x15xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'wq' has 15 columns, not a multiple of num_heads (2)}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x15xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: wk is D x G*d
func.func @r9_wk_is_d_x_g_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x16xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'wk' must have shape [16, 8] (D x G*d), got [16, 16]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: wv is D x G*d
func.func @r9_wv_is_d_x_g_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x4xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'wv' must have shape [16, 8] (D x G*d), got [16, 4]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x4xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R9: wo is H*d x D
func.func @r9_wo_is_h_d_x_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x12xf32>) {
  // expected-error @+1 {{'wo' must have shape [16, 16] (H*d x D), got [16, 12]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x12xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R10: knock matrices are d x d
func.func @r10_knock_matrices_are_d_x_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8x4xf32>) {
  // expected-error @+1 {{'tq' must have shape [8, 8] (d x d), got [8, 4]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 knock_q(%a5) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8x4xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R10: MLP knock matrices are d x d
func.func @r10_mlp_knock_matrices_are_d_x(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8x8xf32>, %a6: tensor<4x4xf32>, %a7: tensor<8x8xf32>) {
  // expected-error @+1 {{'v_gate' must have shape [8, 8] (d x d), got [4, 4]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 knock_v_mlp(%a5, %a6, %a7) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8x8xf32>, tensor<4x4xf32>, tensor<8x8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R26: biases have one element per output column
func.func @r26_biases_have_one_element_per_output(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<16xf32>, %a6: tensor<16xf32>, %a7: tensor<8xf32>) {
  // expected-error @+1 {{'bk' must have shape [8] (G*d), got [16]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 qkv_bias(%a5, %a6, %a7) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R26: the output bias has D elements
func.func @r26_the_output_bias_has_d_elements(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8xf32>) {
  // expected-error @+1 {{'bo' must have shape [16] (D), got [8]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 o_bias(%a5) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R6: the projection biases come together (the generic form can split them)
func.func @r6_the_projection_biases_come_together_the(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<16xf32>) {
  // expected-error @+1 {{the projection biases need all of bq, bk and bv}}
  %y = "kha.attention_block"(%a0, %a1, %a2, %a3, %a4, %a5) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0>}>
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R11: norm weights have d elements
func.func @r11_norm_weights_have_d_elements(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %a5: tensor<8xf32>, %a6: tensor<16xf32>) {
  // expected-error @+1 {{'k_norm' must have shape [8] (d), got [16]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 qk_norm(%a5, %a6) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R12: RoPE needs an even d
func.func @r12_rope_needs_an_even_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x14xf32>, %a2: tensor<16x7xf32>, %a3: tensor<16x7xf32>, %a4: tensor<14x16xf32>) {
  // expected-error @+1 {{RoPE needs an even head dimension, got d = 7}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64, rope_theta = 10000.0 : f64}
       : (tensor<1x4x16xf32>, tensor<16x14xf32>, tensor<16x7xf32>, tensor<16x7xf32>, tensor<14x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R12: theta > 0
func.func @r12_theta_positive(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'rope_theta' must be a positive finite number, got 0}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64, rope_theta = 0.0 : f64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R13: eps > 0
func.func @r13_eps_positive(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'rms_norm_eps' must be a positive finite number, got -1}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64, rms_norm_eps = -1.0 : f64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R8: element types are f32, f16 or bf16
func.func @r8_element_types_are_f32_f16_or(%a0: tensor<1x4x16xi32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xi32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xi32>
  return
}

// -----

// R14: per-head inputs are [B, L, N, d]
func.func @r14_per_head_inputs_are_b_l(%x: tensor<4x2x8xf32>, %t: tensor<8x8xf32>) {
  // expected-error @+1 {{'input' must be a rank-4 tensor [B, L, N, d], got rank 3}}
  %0 = kha.linear_knock %x, %t : tensor<4x2x8xf32>, tensor<8x8xf32>
  return
}

// -----

// R14: the head width is static
func.func @r14_the_head_width_is_static(%x: tensor<1x4x2x?xf32>) {
  // expected-error @+1 {{the head dimension d (the input's last dimension) must be static}}
  %0 = kha.rope %x {theta = 1.0e4 : f64} : tensor<1x4x2x?xf32>
  return
}

// -----

// R15: the linear knock matrix is d x d
func.func @r15_the_linear_knock_matrix_is_d(%x: tensor<1x4x2x8xf32>, %t: tensor<8x16xf32>) {
  // expected-error @+1 {{'transform' must have shape [8, 8] (d x d), got [8, 16]}}
  %0 = kha.linear_knock %x, %t : tensor<1x4x2x8xf32>, tensor<8x16xf32>
  return
}

// -----

// R15: the linear knock matrix is a matrix
func.func @r15_the_linear_knock_matrix_is_a(%x: tensor<1x4x2x8xf32>, %t: tensor<8xf32>) {
  // expected-error @+1 {{'transform' must be a rank-2 tensor [d, d], got rank 1}}
  %0 = kha.linear_knock %x, %t : tensor<1x4x2x8xf32>, tensor<8xf32>
  return
}

// -----

// R8: the knock matrix has the input element type
func.func @r8_the_knock_matrix_has_the_input(%x: tensor<1x4x2x8xf32>, %t: tensor<8x8xbf16>) {
  // expected-error @+1 {{element types must agree: 'input' has 'f32' but 'transform' has 'bf16'}}
  %0 = kha.linear_knock %x, %t : tensor<1x4x2x8xf32>, tensor<8x8xbf16>
  return
}

// -----

// R15: MLP knock matrices are d x d
func.func @r15_mlp_knock_matrices_are_d_x(%x: tensor<1x4x2x8xf32>, %u: tensor<4x4xf32>) {
  // expected-error @+1 {{'up' must have shape [8, 8] (d x d), got [4, 4]}}
  %0 = kha.mlp_knock %x, %u, %u, %u : tensor<1x4x2x8xf32>, tensor<4x4xf32>
  return
}

// -----

// R15: the MLP knock matrices share one type
func.func @r15_the_mlp_knock_matrices_share_one(%x: tensor<1x4x2x8xf32>, %u: tensor<8x8xf32>, %g: tensor<4x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {up, gate, down} have same type}}
  %0 = "kha.mlp_knock"(%x, %u, %g, %u) : (tensor<1x4x2x8xf32>, tensor<8x8xf32>, tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

// R2: per-head ops keep their input type
func.func @r2_per_head_ops_keep_their_input(%x: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result} have same type}}
  %0 = "kha.rope"(%x) {theta = 1.0e4 : f64} : (tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf16>
  return
}

// -----

// R11: the RMSNorm weight has d elements
func.func @r11_the_rmsnorm_weight_has_d_elements(%x: tensor<1x4x2x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'weight' must have shape [8] (d), got [4]}}
  %0 = kha.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : tensor<1x4x2x8xf32>, tensor<4xf32>
  return
}

// -----

// R13: the RMSNorm epsilon is positive
func.func @r13_the_rmsnorm_epsilon_is_positive(%x: tensor<1x4x2x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number, got 0}}
  %0 = kha.rms_norm %x, %w {epsilon = 0.0 : f64} : tensor<1x4x2x8xf32>, tensor<8xf32>
  return
}

// -----

// R12: RoPE needs an even d
func.func @r12_rope_needs_an_even_d(%x: tensor<1x4x2x5xf32>) {
  // expected-error @+1 {{RoPE needs an even head dimension, got d = 5}}
  %0 = kha.rope %x {theta = 1.0e4 : f64} : tensor<1x4x2x5xf32>
  return
}

// -----

// R12: the RoPE theta is positive
func.func @r12_the_rope_theta_is_positive(%x: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{'theta' must be a positive finite number, got -2}}
  %0 = kha.rope %x {theta = -2.0 : f64} : tensor<1x4x2x8xf32>
  return
}

// -----

// R16: SDPA operands are rank 4
func.func @r16_sdpa_operands_are_rank_4(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x6x2x8xf32>) {
  %sdpa_init = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'key' must be a rank-4 tensor [B, S, G, d], got rank 3}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x8xf32>, tensor<2x6x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R17: one batch size
func.func @r17_one_batch_size(%q: tensor<2x4x4x8xf32>, %k: tensor<3x6x2x8xf32>, %v: tensor<2x6x2x8xf32>) {
  %sdpa_init2 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{query, key and value must have the same batch size, got [2, 3, 2]}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init2) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<3x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R17: key and value agree
func.func @r17_key_and_value_agree(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x5x2x8xf32>) {
  %sdpa_init3 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{key [2, 6, 2, 8] and value [2, 5, 2, 8] must agree in sequence length and head count}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x5x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R18: query and key widths agree
func.func @r18_query_and_key_widths_agree(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x4xf32>, %v: tensor<2x6x2x8xf32>) {
  %sdpa_init4 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{query and key head widths must agree, got 8 and 4}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init4) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x4xf32>, tensor<2x6x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R5: G divides H in SDPA
func.func @r5_g_divides_h_in_sdpa(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x3x8xf32>, %v: tensor<2x6x3x8xf32>) {
  %sdpa_init5 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{the number of key/value heads (3) must divide the number of query heads (4)}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init5) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x3x8xf32>, tensor<2x6x3x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R22: no static size of 0 (here zero key/value heads, which R5 would
// otherwise divide by)
func.func @r22_no_static_size_of_0_here(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x0x8xf32>, %v: tensor<2x6x0x8xf32>) {
  %sdpa_init6 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'key' has a size of 0 in [2, 6, 0, 8]; empty tensors are not supported}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init6) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x0x8xf32>, tensor<2x6x0x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R19: the result is [B, L, H, dv]
func.func @r19_the_result_is_b_l_h(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x16xf32>) {
  %sdpa_init7 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'result' must have shape [2, 4, 4, 16] (B x L x H x dv), got [2, 4, 4, 8]}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init7) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x16xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R19: the destination has the result's type
func.func @r19_the_destination_has_the_result_type(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>) {
  %init = tensor.empty() : tensor<2x4x4x16xf32>
  // expected-error @+1 {{expected type of operand #3 ('tensor<2x4x4x16xf32>') to match type of corresponding result ('tensor<2x4x4x8xf32>')}}
  %0 = kha.sdpa %q, %k, %v outs(%init) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<2x4x4x16xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R20: a mask is [L, S] or [B, H, L, S]
func.func @r20_a_mask_is_l_s_or(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>, %m: tensor<4x4x6xf32>) {
  %sdpa_init8 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'mask' must be [L, S] or [B, H, L, S], got rank 3}}
  %0 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init8) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<4x4x6xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R20: a 2-D mask is [L, S]
func.func @r20_a_2_d_mask_is_l(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>, %m: tensor<4x4xf32>) {
  %sdpa_init9 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'mask' must have shape [4, 6] (L x S), got [4, 4]}}
  %0 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init9) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<4x4xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R20: a 4-D mask is [B, H, L, S]
func.func @r20_a_4_d_mask_is_b(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>, %m: tensor<2x2x4x6xf32>) {
  %sdpa_init10 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'mask' must have shape [2, 4, 4, 6] (B x H x L x S, each of B, H, L or 1), got [2, 2, 4, 6]}}
  %0 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init10) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<2x2x4x6xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R8: the mask has the element type of the query
func.func @r8_the_mask_has_the_element_type(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>, %m: tensor<4x6xf16>) {
  %sdpa_init11 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{element types must agree: 'query' has 'f32' but 'mask' has 'f16'}}
  %0 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init11) {scale = 0.5 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<4x6xf16>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R21: the scale is positive
func.func @r21_the_scale_is_positive(%q: tensor<2x4x4x8xf32>, %k: tensor<2x6x2x8xf32>, %v: tensor<2x6x2x8xf32>) {
  %sdpa_init12 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'scale' must be a positive finite number, got 0}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init12) {scale = 0.0 : f64} : (tensor<2x4x4x8xf32>, tensor<2x6x2x8xf32>, tensor<2x6x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// The custom syntax: an MLP knock needs its three matrices.
func.func @syntax_mlp_knock_needs_three_matrices(%x: tensor<1x4x16xf32>, %w: tensor<16x16xf32>, %u: tensor<8x8xf32>) {
  // expected-error @+1 {{expected ','}}
  %y = kha.attention_block %x, %w, %w, %w, %w knock_v_mlp(%u, %u
       ) {num_heads = 2 : i64, num_kv_heads = 2 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R1: D is positive
func.func @r1_d_is_positive(%a0: tensor<1x4x0xf32>, %a1: tensor<0x16xf32>, %a2: tensor<0x8xf32>, %a3: tensor<0x8xf32>, %a4: tensor<16x0xf32>) {
  // expected-error @+1 {{the model width D (the input's last dimension) must be static and positive}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x0xf32>, tensor<0x16xf32>, tensor<0x8xf32>, tensor<0x8xf32>, tensor<16x0xf32>) -> tensor<1x4x0xf32>
  return
}

// -----

// R9/R22: the head width is positive (weights with 0 columns are empty)
func.func @r9_the_head_width_is_positive_weights(%a0: tensor<1x4x16xf32>, %a1: tensor<16x0xf32>, %a2: tensor<16x0xf32>, %a3: tensor<16x0xf32>, %a4: tensor<0x16xf32>) {
  // expected-error @+1 {{'wq' has a size of 0 in [16, 0]; empty tensors are not supported}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x4x16xf32>, tensor<16x0xf32>, tensor<16x0xf32>, tensor<16x0xf32>, tensor<0x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// #kha.gpu_kernel: a simt configuration has no tiles.
func.func @gpu_kernel_simt_tiles(%q: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %sdpa_init13 = tensor.empty() : tensor<1x4x2x16xf32>
  // expected-error @below {{a simt kernel configuration has no tiles, warps, stages or padding (all 0)}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init13) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 64, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} : (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

// -----

func.func @gpu_kernel_tiles(%q: tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16> {
  %sdpa_init14 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-error @below {{mma_sync tiles must be positive multiples of 16, got 64x24x16}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init14) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 24, tile_k = 16, warps = 4, stages = 2, padding = 8>} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return %o : tensor<1x4x2x16xf16>
}

// -----

func.func @gpu_kernel_warps(%q: tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16> {
  %sdpa_init15 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-error @below {{warps must be in 1..32, got 0}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init15) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 16, warps = 0, stages = 2, padding = 8>} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return %o : tensor<1x4x2x16xf16>
}

// -----

func.func @gpu_kernel_stages(%q: tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16> {
  %sdpa_init16 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-error @below {{stages must be in 1..8, got 0}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init16) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 16, warps = 4, stages = 0, padding = 8>} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return %o : tensor<1x4x2x16xf16>
}

// -----

func.func @gpu_kernel_padding(%q: tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16> {
  %sdpa_init17 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-error @below {{padding must be a non-negative multiple of 8 elements (16 bytes), got 4}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init17) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 16, warps = 4, stages = 2, padding = 4>} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return %o : tensor<1x4x2x16xf16>
}

// -----

func.func @gpu_kernel_wgmma_tiles(%q: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init18 = tensor.empty() : tensor<1x4x2x64xf16>
  // expected-error @below {{wgmma tiles must be positive multiples of 64, got 64x64x96}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init18) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 96, warps = 4, stages = 2, padding = 0>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}

// -----

func.func @gpu_kernel_wgmma_warps(%q: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init19 = tensor.empty() : tensor<1x4x2x64xf16>
  // expected-error @below {{a wgmma kernel has a warpgroup (4 warps) per 64 rows of its tile, and at most one producer warpgroup, got 12 warps}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init19) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 12, stages = 2, padding = 0>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}

// -----

func.func @gpu_kernel_wgmma_stages(%q: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init20 = tensor.empty() : tensor<1x4x2x64xf16>
  // expected-error @below {{stages must be in 1..8, got 9}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init20) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 9, padding = 0>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}

// -----

func.func @gpu_kernel_wgmma_padding(%q: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init21 = tensor.empty() : tensor<1x4x2x64xf16>
  // expected-error @below {{a wgmma kernel's shared tiles are swizzled, not padded (padding 0), got 8}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init21) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 8>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}

// -----

// R22: no static size of 0 (an empty sequence in a per-head op)
func.func @r22_no_static_size_of_0_an(%x: tensor<1x0x2x8xf32>) {
  // expected-error @+1 {{'input' has a size of 0 in [1, 0, 2, 8]; empty tensors are not supported}}
  %0 = kha.rope %x {theta = 10000.0 : f64} : tensor<1x0x2x8xf32>
  return
}

// -----

// R23: A and B of a register-A warpgroup MMA share one element type
func.func @wgmma_register_a_types(%a: vector<32xf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  // expected-error @+1 {{A ('f16') and B ('bf16') must have the same element type}}
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<32xf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// R24: the B tile is a static K x N memref
func.func @wgmma_register_a_dynamic_b(%a: vector<32xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x?xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  // expected-error @+1 {{the B tile must be a static K x N memref}}
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<32xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x?xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// R24: K a multiple of 16, N a multiple of 8 from 8 to 256 (m64nNk16)
func.func @wgmma_register_a_shape(%a: vector<12xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<24x64xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  // expected-error @+1 {{the B tile must be K x N with K a positive multiple of 16 and N a multiple of 8 from 8 to 256, got 24 x 64}}
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<12xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<24x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// R25: each thread holds K / 2 elements of A
func.func @wgmma_register_a_fragment(%a: vector<16xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  // expected-error @+1 {{a 64-deep MMA takes 32 elements of A per thread, got 16}}
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<16xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// R25: and N / 2 accumulator registers
func.func @wgmma_register_a_accumulator(%a: vector<32xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x128xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>) -> vector<32xf32> {
  // expected-error @+1 {{an MMA 128 columns wide takes 64 accumulator registers per thread, got 32}}
  %d = kha.warpgroup_mma_register_a %a, %b, %c : vector<32xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x128xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  return %d : vector<32xf32>
}

// -----

// R27: a scaled RoPE gives d/2 frequencies
func.func @r27_a_scaled_rope_gives_d_2(%x: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{'frequencies' must hold d/2 = 4 values, got 3}}
  %y = kha.rope %x {theta = 1.0e+04 : f64, frequencies = array<f64: 1.0, 0.5, 0.25>} : tensor<1x4x2x8xf32>
  return
}

// -----

// R27: the frequencies are positive
func.func @r27_the_frequencies_are_positive(%x: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{'frequencies' must be positive and finite, got -5.000000e-01}}
  %y = kha.rope %x {theta = 1.0e+04 : f64, frequencies = array<f64: 1.0, -0.5, 0.25, 0.125>} : tensor<1x4x2x8xf32>
  return
}

// -----

// R27: the attention factor is positive
func.func @r27_the_attention_factor_is_positive(%x: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{'attention_factor' must be a positive finite number, got 0}}
  %y = kha.rope %x {theta = 1.0e+04 : f64, attention_factor = 0.0 : f64} : tensor<1x4x2x8xf32>
  return
}

// -----

// R27: a scaled RoPE in the block needs RoPE
func.func @r27_a_scaled_rope_in_the_block(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'rope_frequencies' and 'rope_attention_factor' need 'rope_theta' (RoPE)}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64, rope_frequencies = array<f64: 1.0, 0.5, 0.25, 0.125>}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R27: the block's frequencies are d/2
func.func @r27_the_block_s_frequencies_are_d(%a0: tensor<1x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{'rope_frequencies' must hold d/2 = 4 values, got 2}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64, rope_theta = 1.0e+04 : f64, rope_frequencies = array<f64: 1.0, 0.5>}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// R28: kha.weight is a unit attribute
// expected-error @+1 {{'kha.weight' is a unit attribute}}
func.func @r28_kha_weight_is_a_unit_attribute(%x: tensor<4xf32>, %w: tensor<4xf32> {kha.weight = 1 : i64}) {
  return
}

// -----

// R28: the only kha argument attribute is kha.weight
// expected-error @+1 {{unknown kha argument attribute 'kha.weights'}}
func.func @r28_the_only_kha_argument_attribute_is(%x: tensor<4xf32>, %w: tensor<4xf32> {kha.weights}) {
  return
}

// -----

// R29: kha.prepare names two functions
// expected-error @+1 {{'kha.prepare' is an array of two function names on a function: [@prepare, @prepared]}}
func.func @r29_kha_prepare_names_two_functions() attributes {kha.prepare = [@g]} {
  return
}

// -----

// R29: on a function only
func.func @r29_on_a_function_only() {
  // expected-error @+1 {{'kha.prepare' is an array of two function names on a function: [@prepare, @prepared]}}
  %c = arith.constant {kha.prepare = [@a, @b]} 0 : i32
  return
}

// -----

// R30: positions are [B, L]
func.func @r30_positions_are_b_l(%q: tensor<2x4x2x8xf32>, %p: tensor<2x5xi64>) {
  // expected-error @+1 {{'positions' must have shape [2, 4] (B x L), got [2, 5]}}
  %0 = kha.rope %q positions(%p : tensor<2x5xi64>) {theta = 1.0e+04 : f64} : tensor<2x4x2x8xf32>
  return
}

// -----

// R30: the block's attention mask is [B, L]
func.func @r30_the_block_s_attention_mask_is(%a0: tensor<2x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %m: tensor<4x2xi64>) {
  // expected-error @+1 {{'attention_mask' must have shape [2, 4] (B x L), got [4, 2]}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 attention_mask(%m) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<4x2xi64>) -> tensor<2x4x16xf32>
  return
}

// -----

// R30: the block's positions need RoPE
func.func @r30_the_block_s_positions_need_rope(%a0: tensor<2x4x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %p: tensor<2x4xi64>) {
  // expected-error @+1 {{'positions' need 'rope_theta' (RoPE)}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 positions(%p) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x4x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x4xi64>) -> tensor<2x4x16xf32>
  return
}

// -----

// R30: positions are integers (int64)
func.func @r30_positions_are_integers_int64(%q: tensor<2x4x2x8xf32>, %p: tensor<2x4xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 64-bit signless integer values}}
  %0 = "kha.rope"(%q, %p) <{theta = 1.0e+04 : f64}> : (tensor<2x4x2x8xf32>, tensor<2x4xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

// R22: static sizes past 2^48 elements
func.func @r22_static_sizes_past_2_48_elements(%x: tensor<16x4611686018427387904x2x8xf32>, %t: tensor<8x8xf32>) {
  // expected-error @+1 {{'input' of shape [16, 4611686018427387904, 2, 8] has more than 2^48 elements; no buffer that large can be allocated}}
  %0 = kha.linear_knock %x, %t : tensor<16x4611686018427387904x2x8xf32>, tensor<8x8xf32>
  return
}

// -----

// R22: the block's query projection [B, L, H*d] past 2^48 elements
func.func @r22_the_block_s_query_projection_b(%a0: tensor<1x8589934592x1xf32>, %a1: tensor<1x65536xf32>, %a2: tensor<1x65536xf32>, %a3: tensor<1x65536xf32>, %a4: tensor<65536x1xf32>) {
  // expected-error @+1 {{'the query projection' of shape [1, 8589934592, 65536] has more than 2^48 elements}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 1 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x8589934592x1xf32>, tensor<1x65536xf32>, tensor<1x65536xf32>, tensor<1x65536xf32>, tensor<65536x1xf32>) -> tensor<1x8589934592x1xf32>
  return
}

// -----

// R31: a cache has the input's batch, G key/value heads and d
func.func @r31_a_cache_has_the_input_s(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x2x8xf32>, %vc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{'k_cache' must have shape [2, 32, 1, 8] (B x S x G x d), got [2, 32, 2, 8]}}
  %y:3 = kha.attention_block %a0, %a1, %a2, %a3, %a4 kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64, causal}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x2x8xf32>, tensor<2x32x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x2x8xf32>, tensor<2x32x1x8xf32>)
  return
}

// -----

// R31: a cache is rank 4
func.func @r31_a_cache_is_rank_4(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x8xf32>, %vc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{'k_cache' must be a rank-4 tensor [B, S, G, d], got rank 3}}
  %y:3 = kha.attention_block %a0, %a1, %a2, %a3, %a4 kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x8xf32>, tensor<2x32x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x8xf32>, tensor<2x32x1x8xf32>)
  return
}

// -----

// R31: the two caches have one capacity
func.func @r31_the_two_caches_have_one_capacity(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x1x8xf32>, %vc: tensor<2x16x1x8xf32>, %n: i64) {
  // expected-error @+1 {{'k_cache' and 'v_cache' must have one capacity S, got 32 and 16}}
  %y:3 = kha.attention_block %a0, %a1, %a2, %a3, %a4 kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x1x8xf32>, tensor<2x16x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x1x8xf32>, tensor<2x16x1x8xf32>)
  return
}

// -----

// R31: a cache has the input's element type
func.func @r31_a_cache_has_the_input_s(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x1x8xf16>, %vc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{'k_cache' must have the input's element type 'f32', got 'f16'}}
  %y:3 = kha.attention_block %a0, %a1, %a2, %a3, %a4 kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x1x8xf16>, tensor<2x32x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x1x8xf16>, tensor<2x32x1x8xf32>)
  return
}

// -----

// R31: with a cache the block returns the updated caches
func.func @r31_with_a_cache_the_block_returns(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x1x8xf32>, %vc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{with a cache the block returns the updated k_cache and v_cache, got 0 more results}}
  %y = kha.attention_block %a0, %a1, %a2, %a3, %a4 kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x1x8xf32>, tensor<2x32x1x8xf32>, i64) -> tensor<2x1x16xf32>
  return
}

// -----

// R31: without a cache the block has one result
func.func @r31_without_a_cache_the_block_has(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>) {
  // expected-error @+1 {{without a cache the block has one result, got 2}}
  %y:2 = kha.attention_block %a0, %a1, %a2, %a3, %a4 {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> (tensor<2x1x16xf32>, tensor<2x1x16xf32>)
  return
}

// -----

// R31: a cache needs both caches and the length (the generic form)
func.func @r31_a_cache_needs_both_caches_and(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %kc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{a cache needs k_cache, v_cache and cache_length}}
  %y:2 = "kha.attention_block"(%a0, %a1, %a2, %a3, %a4, %kc, %n) <{num_heads = 2 : i64, num_kv_heads = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1>}>
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x32x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x1x8xf32>)
  return
}

// -----

// R30: with a cache the attention mask is [B, S], one entry per cache slot
func.func @r30_with_a_cache_the_attention_mask(%a0: tensor<2x1x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x8xf32>, %a3: tensor<16x8xf32>, %a4: tensor<16x16xf32>, %m: tensor<2x1xi64>, %kc: tensor<2x32x1x8xf32>, %vc: tensor<2x32x1x8xf32>, %n: i64) {
  // expected-error @+1 {{'attention_mask' must have shape [2, 32] (B x S (one entry per cache slot)), got [2, 1]}}
  %y:3 = kha.attention_block %a0, %a1, %a2, %a3, %a4 attention_mask(%m) kv_cache(%kc, %vc, %n) {num_heads = 2 : i64, num_kv_heads = 1 : i64}
       : (tensor<2x1x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x1xi64>, tensor<2x32x1x8xf32>, tensor<2x32x1x8xf32>, i64) -> (tensor<2x1x16xf32>, tensor<2x32x1x8xf32>, tensor<2x32x1x8xf32>)
  return
}

// -----

// R32: the bottom-right alignment is one of the causal mask
func.func @r32_the_bottom_right_alignment_is_one(%q: tensor<2x1x4x8xf32>, %k: tensor<2x9x2x8xf32>, %v: tensor<2x9x2x8xf32>) {
  %sdpa_init22 = tensor.empty() : tensor<2x1x4x8xf32>
  // expected-error @+1 {{'bottom_right' aligns the causal mask and needs 'causal'}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init22) {scale = 0.35 : f64, bottom_right} : (tensor<2x1x4x8xf32>, tensor<2x9x2x8xf32>, tensor<2x9x2x8xf32>, tensor<2x1x4x8xf32>) -> tensor<2x1x4x8xf32>
  return
}

// -----

// R33: a query offset places the rows on the causal diagonal
func.func @r33_a_query_offset_places_the_rows(%q: tensor<2x4x4x8xf32>, %k: tensor<2x9x2x8xf32>, %v: tensor<2x9x2x8xf32>, %o: index) {
  %sdpa_init23 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'query_offset' places query rows on the causal diagonal and needs 'causal'}}
  %0 = kha.sdpa %q, %k, %v query_offset(%o) outs(%sdpa_init23) {scale = 0.35 : f64} : (tensor<2x4x4x8xf32>, tensor<2x9x2x8xf32>, tensor<2x9x2x8xf32>, index, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R33: one placement of the query rows
func.func @r33_one_placement_of_the_query_rows(%q: tensor<2x4x4x8xf32>, %k: tensor<2x9x2x8xf32>, %v: tensor<2x9x2x8xf32>, %o: index) {
  %sdpa_init24 = tensor.empty() : tensor<2x4x4x8xf32>
  // expected-error @+1 {{'query_offset' and 'bottom_right' both place the query rows; give one}}
  %0 = kha.sdpa %q, %k, %v query_offset(%o) outs(%sdpa_init24) {scale = 0.35 : f64, causal, bottom_right} : (tensor<2x4x4x8xf32>, tensor<2x9x2x8xf32>, tensor<2x9x2x8xf32>, index, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return
}

// -----

// R34: a kernel configuration is a #kha.gpu_kernel
func.func @r34_a_kernel_configuration_is_a_gpu_kernel(%q: tensor<1x4x2x16xf16>) {
  %sdpa_init25 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-error @+1 {{'kha.gpu_kernel' is a #kha.gpu_kernel on a kha.sdpa or a linalg.matmul}}
  %0 = kha.sdpa %q, %q, %q outs(%sdpa_init25) {scale = 0.25 : f64, kha.gpu_kernel = 3 : i64} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return
}

// -----

// R34: only attention and matmuls have a kernel configuration
func.func @r34_only_attention_and_matmuls_have_a_kernel(%x: tensor<4xf32>) {
  // expected-error @+1 {{'kha.gpu_kernel' is a #kha.gpu_kernel on a kha.sdpa or a linalg.matmul}}
  %0 = arith.addf %x, %x {kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} : tensor<4xf32>
  return
}
