func.func @f(%q: tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf16> {
  %0 = kha.rope %q {theta = 1.0e4 : f64} : tensor<1x4x2x8xf32>
  return %0 : tensor<1x4x2x8xf16>
}
