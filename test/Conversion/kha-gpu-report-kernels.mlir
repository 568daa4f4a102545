// kha-gpu-report-kernels: a remark per attention and projection naming the
// kernel (#kha.gpu_kernel) the generators build for sm_80, tensor cores
// where they fit, else the SIMT kernels with the reason; the IR is left as
// it is.
// RUN: kha-opt %s -kha-gpu-report-kernels="chip=sm_80" -split-input-file -verify-diagnostics | FileCheck %s

// No configuration is written on the ops.
// CHECK-LABEL: func @f16_d64
// CHECK-NOT: kha.gpu_kernel
// CHECK: return

// f16, d = 64: 64 query rows over 4 warps, K/V tiles of 64 keys (two
// stages of 64 x 72 f16 each for K and V: 36 KiB).
func.func @f16_d64(%q: tensor<2x?x8x64xf16>, %k: tensor<2x?x2x64xf16>, %v: tensor<2x?x2x64xf16>) -> tensor<2x?x8x64xf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x8x64xf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x8x64xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 8>}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64} : (tensor<2x?x8x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x8x64xf16>) -> tensor<2x?x8x64xf16>
  return %o : tensor<2x?x8x64xf16>
}

// -----

// bf16, d = 128: tiles of 32 keys (64 would need 68 KiB).
func.func @bf16_d128(%q: tensor<1x16x2x128xbf16>, %k: tensor<1x16x2x128xbf16>, %v: tensor<1x16x2x128xbf16>) -> tensor<1x16x2x128xbf16> {
  %sdpa_init2 = tensor.empty() : tensor<1x16x2x128xbf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 32, tile_k = 128, warps = 4, stages = 2, padding = 8>}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init2) {scale = 0.088 : f64} : (tensor<1x16x2x128xbf16>, tensor<1x16x2x128xbf16>, tensor<1x16x2x128xbf16>, tensor<1x16x2x128xbf16>) -> tensor<1x16x2x128xbf16>
  return %o : tensor<1x16x2x128xbf16>
}

// -----

// f32 attention: the SIMT kernel, with the reason.
func.func @f32_attention(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>, %v: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %sdpa_init3 = tensor.empty() : tensor<1x4x2x16xf32>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: the element type is not f16 or bf16 throughout)}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.25 : f64} : (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

// -----

// A head dim that is not a multiple of 16.
func.func @d12(%q: tensor<1x4x2x12xf16>, %k: tensor<1x4x2x12xf16>, %v: tensor<1x4x2x12xf16>) -> tensor<1x4x2x12xf16> {
  %sdpa_init4 = tensor.empty() : tensor<1x4x2x12xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: head dim 12/12 is not a multiple of 16 up to 256)}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init4) {scale = 0.29 : f64} : (tensor<1x4x2x12xf16>, tensor<1x4x2x12xf16>, tensor<1x4x2x12xf16>, tensor<1x4x2x12xf16>) -> tensor<1x4x2x12xf16>
  return %o : tensor<1x4x2x12xf16>
}

// -----

// An additive mask stays on the SIMT kernel.
func.func @masked(%q: tensor<1x4x2x16xf16>, %k: tensor<1x4x2x16xf16>, %v: tensor<1x4x2x16xf16>, %m: tensor<4x4xf16>) -> tensor<1x4x2x16xf16> {
  %sdpa_init5 = tensor.empty() : tensor<1x4x2x16xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: it has an additive mask)}}
  %o = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init5) {scale = 0.25 : f64} : (tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<4x4xf16>, tensor<1x4x2x16xf16>) -> tensor<1x4x2x16xf16>
  return %o : tensor<1x4x2x16xf16>
}

// -----

// Projections: bf16 with K and N multiples of 8 on the tensor cores (64 x 64
// tiles, steps of 32, 3 stages); an N of 36 and an f32 matmul fall back;
// an accumulating matmul (no zero fill) is not a projection and is left
// alone.
func.func @projections(%a: tensor<?x64xbf16>, %b: tensor<64x48xbf16>, %c: tensor<64x36xbf16>,
                       %x: tensor<8x8xf32>, %acc: tensor<8x8xf32>) -> (tensor<?x48xf32>, tensor<?x36xf32>, tensor<8x8xf32>, tensor<8x8xf32>) {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x64xbf16>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%d) : tensor<?x48xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x48xf32>) -> tensor<?x48xf32>
  // expected-remark @below {{projection kernel (linalg.matmul ?x64 * 64x48) on sm_80: #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 3, padding = 8>}}
  %r = linalg.matmul ins(%a, %b : tensor<?x64xbf16>, tensor<64x48xbf16>) outs(%f : tensor<?x48xf32>) -> tensor<?x48xf32>
  %e2 = tensor.empty(%d) : tensor<?x36xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<?x36xf32>) -> tensor<?x36xf32>
  // expected-remark @below {{projection kernel (linalg.matmul ?x64 * 64x36) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: K and N are not static multiples of 8 (16-byte rows))}}
  %r2 = linalg.matmul ins(%a, %c : tensor<?x64xbf16>, tensor<64x36xbf16>) outs(%f2 : tensor<?x36xf32>) -> tensor<?x36xf32>
  %e3 = tensor.empty() : tensor<8x8xf32>
  %f3 = linalg.fill ins(%z : f32) outs(%e3 : tensor<8x8xf32>) -> tensor<8x8xf32>
  // expected-remark @below {{projection kernel (linalg.matmul 8x8 * 8x8) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (the CUDA cores: its operands are not both f16 or both bf16)}}
  %r3 = linalg.matmul ins(%x, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f3 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %r4 = linalg.matmul ins(%x, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %r, %r2, %r3, %r4 : tensor<?x48xf32>, tensor<?x36xf32>, tensor<8x8xf32>, tensor<8x8xf32>
}

// -----

// A configuration written on the op is what the generators follow.
func.func @kept(%q: tensor<1x4x2x64xf16>, %k: tensor<1x4x2x64xf16>, %v: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init6 = tensor.empty() : tensor<1x4x2x64xf16>
  // expected-remark @below {{attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0> (written on the op)}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init6) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}

// -----

// K = 32 fits in one step: 2 stages, not 3.
func.func @one_step(%a: tensor<16x32xf16>, %b: tensor<32x48xf16>) -> tensor<16x48xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x48xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<16x48xf32>) -> tensor<16x48xf32>
  // expected-remark @below {{projection kernel (linalg.matmul 16x32 * 32x48) on sm_80: #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 2, padding = 8>}}
  %r = linalg.matmul ins(%a, %b : tensor<16x32xf16>, tensor<32x48xf16>) outs(%f : tensor<16x48xf32>) -> tensor<16x48xf32>
  return %r : tensor<16x48xf32>
}
