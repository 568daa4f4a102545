func.func @f(%x: tensor<1x4x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x4x16xf32> {
  %y = kha.attention_block %x, %w, %w, %w, %w {num_kv_heads = 2 : i64}
       : (tensor<1x4x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return %y : tensor<1x4x16xf32>
}
