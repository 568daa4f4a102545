func.func @f(%q: tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32> {
  %0 = kha.attention %q : tensor<1x4x2x8xf32>
  return %0 : tensor<1x4x2x8xf32>
}
