func.func @f(%q: tensor<*xf32>) -> tensor<*xf32> {
  %0 = kha.rope %q {theta = 1.0e4 : f64} : tensor<*xf32>
  return %0 : tensor<*xf32>
}
