func.func @f(%x: tensor<1x4x16xi32>, %w: tensor<16x16xi32>) -> tensor<1x4x16xi32> {
  %y = kha.attention_block %x, %w, %w, %w, %w {num_heads = 2 : i64, num_kv_heads = 2 : i64}
       : (tensor<1x4x16xi32>, tensor<16x16xi32>, tensor<16x16xi32>, tensor<16x16xi32>, tensor<16x16xi32>) -> tensor<1x4x16xi32>
  return %y : tensor<1x4x16xi32>
}
