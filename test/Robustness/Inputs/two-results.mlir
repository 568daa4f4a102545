func.func @f(%q: tensor<1x4x2x8xf32>) {
  %0:2 = "kha.rope"(%q) {theta = 1.0e4 : f64} : (tensor<1x4x2x8xf32>) -> (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>)
  return
}
