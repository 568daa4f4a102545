// kha-gpu-report-kernels for sm_90a: the Hopper kernels (TMA + wgmma) where
// they take the op, the mma.sync kernels where they do not.
// RUN: kha-opt %s -kha-gpu-report-kernels="chip=sm_90a" -split-input-file -verify-diagnostics -o /dev/null

// Attention, d = 64, 4 query heads per key/value head: two warpgroups of 64
// rows sharing K/V tiles of 64 keys in three stages, and a producer
// warpgroup loading them (12 warps).
func.func @attention_d64(%q: tensor<2x?x8x64xbf16>, %k: tensor<2x?x2x64xbf16>, %v: tensor<2x?x2x64xbf16>) -> tensor<2x?x8x64xbf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x8x64xbf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x8x64xbf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 64, warps = 12, stages = 3, padding = 0>}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64} : (tensor<2x?x8x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x8x64xbf16>) -> tensor<2x?x8x64xbf16>
  return %o : tensor<2x?x8x64xbf16>
}

// -----

// Head dim 128: the same kernel with two boxes per row (dynamic shared
// memory).
func.func @attention_d128(%q: tensor<1x?x16x128xf16>, %k: tensor<1x?x16x128xf16>, %v: tensor<1x?x16x128xf16>) -> tensor<1x?x16x128xf16> {
  %sdpa_c2_1 = arith.constant 1 : index
  %sdpa_d2_1 = tensor.dim %q, %sdpa_c2_1 : tensor<1x?x16x128xf16>
  %sdpa_init2 = tensor.empty(%sdpa_d2_1) : tensor<1x?x16x128xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 128, warps = 12, stages = 3, padding = 0>}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init2) {causal, scale = 0.088 : f64} : (tensor<1x?x16x128xf16>, tensor<1x?x16x128xf16>, tensor<1x?x16x128xf16>, tensor<1x?x16x128xf16>) -> tensor<1x?x16x128xf16>
  return %o : tensor<1x?x16x128xf16>
}

// -----

// Head dim 256: three stages need 256 KiB with the 64 KiB Q tile, more than
// the 227 KiB a block may have, so two; O needs more registers than a
// consumer of a warp-specialised block has (240), so no producer warpgroup.
func.func @attention_d256(%q: tensor<1x?x4x256xbf16>, %k: tensor<1x?x4x256xbf16>, %v: tensor<1x?x4x256xbf16>) -> tensor<1x?x4x256xbf16> {
  %sdpa_c3_1 = arith.constant 1 : index
  %sdpa_d3_1 = tensor.dim %q, %sdpa_c3_1 : tensor<1x?x4x256xbf16>
  %sdpa_init3 = tensor.empty(%sdpa_d3_1) : tensor<1x?x4x256xbf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 64, tile_k = 256, warps = 8, stages = 2, padding = 0>}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.0625 : f64} : (tensor<1x?x4x256xbf16>, tensor<1x?x4x256xbf16>, tensor<1x?x4x256xbf16>, tensor<1x?x4x256xbf16>) -> tensor<1x?x4x256xbf16>
  return %o : tensor<1x?x4x256xbf16>
}

// -----

// Three query heads per key/value head do not divide the 64 rows of a TMA
// box: the mma.sync kernel.
func.func @attention_r3(%q: tensor<1x16x6x64xf16>, %k: tensor<1x16x2x64xf16>, %v: tensor<1x16x2x64xf16>) -> tensor<1x16x6x64xf16> {
  %sdpa_init4 = tensor.empty() : tensor<1x16x6x64xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = mma_sync}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init4) {scale = 0.125 : f64} : (tensor<1x16x6x64xf16>, tensor<1x16x2x64xf16>, tensor<1x16x2x64xf16>, tensor<1x16x6x64xf16>) -> tensor<1x16x6x64xf16>
  return %o : tensor<1x16x6x64xf16>
}

// -----

// Head dim 40: half of a box zero-filled (tile_k the head dim rounded up
// to 64); 16 rows in all (L r = 16): one warpgroup.
func.func @attention_d40(%q: tensor<1x16x2x40xf16>, %k: tensor<1x16x2x40xf16>, %v: tensor<1x16x2x40xf16>) -> tensor<1x16x2x40xf16> {
  %sdpa_init5 = tensor.empty() : tensor<1x16x2x40xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64,}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init5) {scale = 0.16 : f64} : (tensor<1x16x2x40xf16>, tensor<1x16x2x40xf16>, tensor<1x16x2x40xf16>, tensor<1x16x2x40xf16>) -> tensor<1x16x2x40xf16>
  return %o : tensor<1x16x2x40xf16>
}

// -----

// Head dim 12 (not a multiple of 8) has no kernel on the tensor cores.
func.func @attention_d12(%q: tensor<1x16x2x12xf16>, %k: tensor<1x16x2x12xf16>, %v: tensor<1x16x2x12xf16>) -> tensor<1x16x2x12xf16> {
  %sdpa_init6 = tensor.empty() : tensor<1x16x2x12xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: head dim 12/12 is not a multiple of 16 up to 256)}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init6) {scale = 0.29 : f64} : (tensor<1x16x2x12xf16>, tensor<1x16x2x12xf16>, tensor<1x16x2x12xf16>, tensor<1x16x2x12xf16>) -> tensor<1x16x2x12xf16>
  return %o : tensor<1x16x2x12xf16>
}

// -----

// A projection with 256 columns or more: 128 x 256 tiles (two warpgroups,
// m64n256k16), four stages of 64 along K.
func.func @projection(%a: tensor<?x512xbf16>, %b: tensor<512x512xbf16>) -> tensor<?x512xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x512xbf16>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%m) : tensor<?x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x512xf32>) -> tensor<?x512xf32>
  // expected-remark @below {{projection kernel (linalg.matmul ?x512 * 512x512) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 256, tile_k = 64, warps = 8, stages = 4, padding = 0>}}
  %r = linalg.matmul ins(%a, %b : tensor<?x512xbf16>, tensor<512x512xbf16>) outs(%f : tensor<?x512xf32>) -> tensor<?x512xf32>
  return %r : tensor<?x512xf32>
}

// -----

// Fewer than 256 columns (here 192): 128 x 128 tiles.
func.func @narrow_projection(%a: tensor<1024x512xbf16>, %b: tensor<512x192xbf16>) -> tensor<1024x192xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1024x192xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1024x192xf32>) -> tensor<1024x192xf32>
  // expected-remark @below {{projection kernel (linalg.matmul 1024x512 * 512x192) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 128, tile_n = 128, tile_k = 64, warps = 8, stages = 4, padding = 0>}}
  %r = linalg.matmul ins(%a, %b : tensor<1024x512xbf16>, tensor<512x192xbf16>) outs(%f : tensor<1024x192xf32>) -> tensor<1024x192xf32>
  return %r : tensor<1024x192xf32>
}

// -----

// A decode-sized projection (M = 1, N = 64, K = 128): 64 x 64 tiles, two
// stages.
func.func @small_projection(%a: tensor<1x128xf16>, %b: tensor<128x64xf16>) -> tensor<1x64xf16> {
  %z = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<1x64xf16>
  %f = linalg.fill ins(%z : f16) outs(%e : tensor<1x64xf16>) -> tensor<1x64xf16>
  // expected-remark @below {{projection kernel (linalg.matmul 1x128 * 128x64) on sm_90a: #kha.gpu_kernel<mma = wgmma, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 0>}}
  %r = linalg.matmul ins(%a, %b : tensor<1x128xf16>, tensor<128x64xf16>) outs(%f : tensor<1x64xf16>) -> tensor<1x64xf16>
  return %r : tensor<1x64xf16>
}

// -----

// Decoding with a cache (the causal mask aligned bottom right) takes the
// SIMT kernel, which splits the keys across blocks.
func.func @attention_decode(%q: tensor<1x1x8x64xf16>, %k: tensor<1x?x2x64xf16>, %v: tensor<1x?x2x64xf16>) -> tensor<1x1x8x64xf16> {
  %sdpa_init7 = tensor.empty() : tensor<1x1x8x64xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_90a: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: its causal mask is aligned bottom right (decoding with a cache))}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init7) {scale = 0.125 : f64, causal, bottom_right} : (tensor<1x1x8x64xf16>, tensor<1x?x2x64xf16>, tensor<1x?x2x64xf16>, tensor<1x1x8x64xf16>) -> tensor<1x1x8x64xf16>
  return %o : tensor<1x1x8x64xf16>
}
