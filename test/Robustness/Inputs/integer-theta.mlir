func.func @f(%q: tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32> {
  %0 = kha.rope %q {theta = 10000 : i64} : tensor<1x4x2x8xf32>
  return %0 : tensor<1x4x2x8xf32>
}
