func.func @f(%q: tensor<1x4x2x99999999999999999999999xf32>) {
  return
}
