func.func @f(%q: tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32> {
  %sdpa_init = tensor.empty() : tensor<1x4x2x8xf32>
  %0 = kha.sdpa %q, %q, %q outs(%sdpa_init) {scale = 0x7FF8000000000000 : f64}
     : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return %0 : tensor<1x4x2x8xf32>
}
