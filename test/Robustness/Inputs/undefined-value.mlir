func.func @f() -> tensor<1x4x2x8xf32> {
  %0 = kha.rope %nothing {theta = 1.0e4 : f64} : tensor<1x4x2x8xf32>
  return %0 : tensor<1x4x2x8xf32>
}
