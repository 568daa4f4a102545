// Every kha op parses, verifies and prints back to a form that parses to the
// same IR, in the custom and in the generic syntax.
// RUN: kha-opt %s | kha-opt | FileCheck %s
// RUN: kha-opt %s --mlir-print-op-generic | kha-opt | FileCheck %s

// CHECK-LABEL: func @block_plain
// CHECK: kha.attention_block %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 8 : i64, num_kv_heads = 8 : i64}
// CHECK-SAME: -> tensor<2x16x512xf32>
func.func @block_plain(%x: tensor<2x16x512xf32>, %wq: tensor<512x512xf32>,
                       %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                       %wo: tensor<512x512xf32>) -> tensor<2x16x512xf32> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo
         {num_heads = 8 : i64, num_kv_heads = 8 : i64}
       : (tensor<2x16x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
          tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<2x16x512xf32>
  return %y : tensor<2x16x512xf32>
}

// CHECK-LABEL: func @block_linear_knocks
// CHECK: kha.attention_block %{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}} knock_q(%{{[a-z0-9]+}}) knock_k(%{{[a-z0-9]+}}) knock_v(%{{[a-z0-9]+}}) qk_norm(%{{[a-z0-9]+}}, %{{[a-z0-9]+}})
// CHECK-SAME: {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, rms_norm_eps = 1.000000e-05 : f64, rope_theta = 5.000000e+05 : f64}
func.func @block_linear_knocks(%x: tensor<?x?x96xf16>, %wq: tensor<96x128xf16>,
    %wk: tensor<96x64xf16>, %wv: tensor<96x64xf16>, %wo: tensor<128x96xf16>,
    %tq: tensor<32x32xf16>, %tk: tensor<32x32xf16>, %tv: tensor<32x32xf16>,
    %qn: tensor<32xf16>, %kn: tensor<32xf16>) -> tensor<?x?x96xf16> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo
         knock_q(%tq) knock_k(%tk) knock_v(%tv) qk_norm(%qn, %kn)
         {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal,
          rope_theta = 500000.0 : f64, rms_norm_eps = 1.0e-5 : f64}
       : (tensor<?x?x96xf16>, tensor<96x128xf16>, tensor<96x64xf16>,
          tensor<96x64xf16>, tensor<128x96xf16>, tensor<32x32xf16>,
          tensor<32x32xf16>, tensor<32x32xf16>, tensor<32xf16>,
          tensor<32xf16>) -> tensor<?x?x96xf16>
  return %y : tensor<?x?x96xf16>
}

// CHECK-LABEL: func @block_biases
// CHECK: kha.attention_block {{.*}} qkv_bias(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) o_bias(%{{[a-z0-9]+}}) {num_heads = 4 : i64, num_kv_heads = 2 : i64}
func.func @block_biases(%x: tensor<?x?x96xbf16>, %wq: tensor<96x128xbf16>,
    %wk: tensor<96x64xbf16>, %wv: tensor<96x64xbf16>, %wo: tensor<128x96xbf16>,
    %bq: tensor<128xbf16>, %bk: tensor<64xbf16>, %bv: tensor<64xbf16>,
    %bo: tensor<96xbf16>) -> tensor<?x?x96xbf16> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo qkv_bias(%bq, %bk, %bv) o_bias(%bo)
         {num_heads = 4 : i64, num_kv_heads = 2 : i64}
       : (tensor<?x?x96xbf16>, tensor<96x128xbf16>, tensor<96x64xbf16>,
          tensor<96x64xbf16>, tensor<128x96xbf16>, tensor<128xbf16>,
          tensor<64xbf16>, tensor<64xbf16>, tensor<96xbf16>) -> tensor<?x?x96xbf16>
  return %y : tensor<?x?x96xbf16>
}

// CHECK-LABEL: func @block_mlp_knock
// CHECK: kha.attention_block {{.*}} knock_v_mlp(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) {num_heads = 4 : i64, num_kv_heads = 1 : i64}
// CHECK-SAME: tensor<1x1x64xbf16>
func.func @block_mlp_knock(%x: tensor<1x1x64xbf16>, %wq: tensor<64x64xbf16>,
    %wk: tensor<64x16xbf16>, %wv: tensor<64x16xbf16>, %wo: tensor<64x64xbf16>,
    %up: tensor<16x16xbf16>, %gate: tensor<16x16xbf16>,
    %down: tensor<16x16xbf16>) -> tensor<1x1x64xbf16> {
  %y = kha.attention_block %x, %wq, %wk, %wv, %wo
         knock_v_mlp(%up, %gate, %down)
         {num_heads = 4 : i64, num_kv_heads = 1 : i64}
       : (tensor<1x1x64xbf16>, tensor<64x64xbf16>, tensor<64x16xbf16>,
          tensor<64x16xbf16>, tensor<64x64xbf16>, tensor<16x16xbf16>,
          tensor<16x16xbf16>, tensor<16x16xbf16>) -> tensor<1x1x64xbf16>
  return %y : tensor<1x1x64xbf16>
}

// CHECK-LABEL: func @linear_knock
// CHECK: kha.linear_knock %{{.*}}, %{{.*}} : tensor<2x?x4x64xf32>, tensor<64x64xf32>
func.func @linear_knock(%k: tensor<2x?x4x64xf32>, %t: tensor<64x64xf32>)
    -> tensor<2x?x4x64xf32> {
  %0 = kha.linear_knock %k, %t : tensor<2x?x4x64xf32>, tensor<64x64xf32>
  return %0 : tensor<2x?x4x64xf32>
}

// CHECK-LABEL: func @mlp_knock
// CHECK: kha.mlp_knock %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x2x8xbf16>, tensor<8x8xbf16>
func.func @mlp_knock(%v: tensor<?x?x2x8xbf16>, %up: tensor<8x8xbf16>,
                     %gate: tensor<8x8xbf16>, %down: tensor<8x8xbf16>)
    -> tensor<?x?x2x8xbf16> {
  %0 = kha.mlp_knock %v, %up, %gate, %down : tensor<?x?x2x8xbf16>, tensor<8x8xbf16>
  return %0 : tensor<?x?x2x8xbf16>
}

// CHECK-LABEL: func @rms_norm
// CHECK: kha.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<1x3x8x16xf16>, tensor<16xf16>
func.func @rms_norm(%q: tensor<1x3x8x16xf16>, %w: tensor<16xf16>)
    -> tensor<1x3x8x16xf16> {
  %0 = kha.rms_norm %q, %w {epsilon = 1.0e-6 : f64} : tensor<1x3x8x16xf16>, tensor<16xf16>
  return %0 : tensor<1x3x8x16xf16>
}

// CHECK-LABEL: func @rope
// CHECK: kha.rope %{{.*}} {theta = 1.000000e+04 : f64} : tensor<?x7x8x16xf32>
func.func @rope(%q: tensor<?x7x8x16xf32>) -> tensor<?x7x8x16xf32> {
  %0 = kha.rope %q {theta = 10000.0 : f64} : tensor<?x7x8x16xf32>
  return %0 : tensor<?x7x8x16xf32>
}

// CHECK-LABEL: func @sdpa_gqa_causal
// CHECK: kha.sdpa %{{.*}}, %{{.*}}, %{{.*}} outs(%{{.*}}) {causal, scale = 1.250000e-01 : f64}
// CHECK-SAME: -> tensor<2x5x8x32xf32>
func.func @sdpa_gqa_causal(%q: tensor<2x5x8x64xf32>, %k: tensor<2x5x2x64xf32>,
                           %v: tensor<2x5x2x32xf32>) -> tensor<2x5x8x32xf32> {
  %sdpa_init = tensor.empty() : tensor<2x5x8x32xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64}
     : (tensor<2x5x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>, tensor<2x5x8x32xf32>)
       -> tensor<2x5x8x32xf32>
  return %0 : tensor<2x5x8x32xf32>
}

// CHECK-LABEL: func @sdpa_masks
// CHECK: kha.sdpa %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) outs(%{{.*}}) {scale = 5.000000e-01 : f64} : (tensor<?x?x4x4xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>, tensor<?x?xf32>, tensor<?x?x4x4xf32>)
// CHECK: kha.sdpa %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) outs(%{{.*}}) {scale = 5.000000e-01 : f64} : (tensor<?x?x4x4xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>, tensor<?x4x?x?xf32>, tensor<?x?x4x4xf32>)
func.func @sdpa_masks(%q: tensor<?x?x4x4xf32>, %k: tensor<?x?x1x4xf32>,
                      %v: tensor<?x?x1x4xf32>, %m2: tensor<?x?xf32>,
                      %m4: tensor<?x4x?x?xf32>)
    -> (tensor<?x?x4x4xf32>, tensor<?x?x4x4xf32>) {
  %sdpa_c2_0 = arith.constant 0 : index
  %sdpa_d2_0 = tensor.dim %q, %sdpa_c2_0 : tensor<?x?x4x4xf32>
  %sdpa_c2_1 = arith.constant 1 : index
  %sdpa_d2_1 = tensor.dim %q, %sdpa_c2_1 : tensor<?x?x4x4xf32>
  %sdpa_init2 = tensor.empty(%sdpa_d2_0, %sdpa_d2_1) : tensor<?x?x4x4xf32>
  %0 = kha.sdpa %q, %k, %v mask(%m2) outs(%sdpa_init2) {scale = 0.5 : f64}
     : (tensor<?x?x4x4xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>,
        tensor<?x?xf32>, tensor<?x?x4x4xf32>) -> tensor<?x?x4x4xf32>
  %sdpa_c3_0 = arith.constant 0 : index
  %sdpa_d3_0 = tensor.dim %q, %sdpa_c3_0 : tensor<?x?x4x4xf32>
  %sdpa_c3_1 = arith.constant 1 : index
  %sdpa_d3_1 = tensor.dim %q, %sdpa_c3_1 : tensor<?x?x4x4xf32>
  %sdpa_init3 = tensor.empty(%sdpa_d3_0, %sdpa_d3_1) : tensor<?x?x4x4xf32>
  %1 = kha.sdpa %q, %k, %v mask(%m4) outs(%sdpa_init3) {scale = 0.5 : f64}
     : (tensor<?x?x4x4xf32>, tensor<?x?x1x4xf32>, tensor<?x?x1x4xf32>,
        tensor<?x4x?x?xf32>, tensor<?x?x4x4xf32>) -> tensor<?x?x4x4xf32>
  return %0, %1 : tensor<?x?x4x4xf32>, tensor<?x?x4x4xf32>
}

// A warpgroup MMA with A from registers (the kernel-level op).
// CHECK-LABEL: func @warpgroup_mma_register_a
// CHECK: kha.warpgroup_mma_register_a %{{.*}}, %{{.*}}, %{{.*}} {transposeB, waitGroup = 1 : i64} : vector<32xbf16>, <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
// CHECK: kha.warpgroup_mma_register_a %{{.*}}, %{{.*}}, %{{.*}} : vector<8xf16>, <tensor = memref<16x8xf16, #gpu.address_space<workgroup>>>, vector<4xf32>
func.func @warpgroup_mma_register_a(%a: vector<32xbf16>, %b: !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, %c: vector<32xf32>, %a2: vector<8xf16>, %b2: !nvgpu.warpgroup.descriptor<tensor = memref<16x8xf16, #gpu.address_space<workgroup>>>, %c2: vector<4xf32>) -> (vector<32xf32>, vector<4xf32>) {
  %d = kha.warpgroup_mma_register_a %a, %b, %c {transposeB, waitGroup = 1} : vector<32xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>, vector<32xf32>
  %d2 = kha.warpgroup_mma_register_a %a2, %b2, %c2 : vector<8xf16>, !nvgpu.warpgroup.descriptor<tensor = memref<16x8xf16, #gpu.address_space<workgroup>>>, vector<4xf32>
  return %d, %d2 : vector<32xf32>, vector<4xf32>
}

// CHECK-LABEL: func @block_kv_cache
// CHECK: kha.attention_block {{.*}} attention_mask(%{{[a-z0-9]+}}) kv_cache(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}, %{{[a-z0-9]+}}) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, rope_theta = 1.000000e+04 : f64}
// CHECK-SAME: -> (tensor<?x?x96xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>)
func.func @block_kv_cache(%x: tensor<?x?x96xf32>, %wq: tensor<96x128xf32>,
    %wk: tensor<96x64xf32>, %wv: tensor<96x64xf32>, %wo: tensor<128x96xf32>,
    %m: tensor<?x?xi64>, %kc: tensor<?x?x2x32xf32>, %vc: tensor<?x?x2x32xf32>,
    %n: i64) -> tensor<?x?x96xf32> {
  %y, %k, %v = kha.attention_block %x, %wq, %wk, %wv, %wo attention_mask(%m)
         kv_cache(%kc, %vc, %n)
         {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal, rope_theta = 10000.0 : f64}
       : (tensor<?x?x96xf32>, tensor<96x128xf32>, tensor<96x64xf32>,
          tensor<96x64xf32>, tensor<128x96xf32>, tensor<?x?xi64>,
          tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>, i64)
         -> (tensor<?x?x96xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>)
  return %y : tensor<?x?x96xf32>
}

// CHECK-LABEL: func @sdpa_bottom_right
// CHECK: kha.sdpa %{{.*}}, %{{.*}}, %{{.*}} outs(%{{.*}}) {bottom_right, causal, scale = 1.250000e-01 : f64}
func.func @sdpa_bottom_right(%q: tensor<2x1x8x64xf32>, %k: tensor<2x?x2x64xf32>,
    %v: tensor<2x?x2x64xf32>) -> tensor<2x1x8x64xf32> {
  %sdpa_init4 = tensor.empty() : tensor<2x1x8x64xf32>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init4) {scale = 0.125 : f64, causal, bottom_right}
     : (tensor<2x1x8x64xf32>, tensor<2x?x2x64xf32>, tensor<2x?x2x64xf32>, tensor<2x1x8x64xf32>) -> tensor<2x1x8x64xf32>
  return %o : tensor<2x1x8x64xf32>
}
