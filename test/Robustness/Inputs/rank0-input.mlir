func.func @f(%q: tensor<f32>, %t: tensor<8x8xf32>) -> tensor<f32> {
  %0 = kha.linear_knock %q, %t : tensor<f32>, tensor<8x8xf32>
  return %0 : tensor<f32>
}
