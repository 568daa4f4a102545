func.func @f(%q: memref<1x4x2x8xf32>, %t: tensor<8x8xf32>) {
  %0 = kha.linear_knock %q, %t : memref<1x4x2x8xf32>, tensor<8x8xf32>
  return
}
