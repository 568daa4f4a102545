func.func @f(%x: tensor<1x4x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x4x16xf32> {
  %y = kha.attention_block %x, %w, %w, %w, %w {num_heads = 2 : i64, num_kv_he