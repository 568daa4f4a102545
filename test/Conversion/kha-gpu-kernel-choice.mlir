// The kernel generators choose each op's kernel for the chip themselves (no
// pass writes a configuration on the ops): tensor cores where they can take
// the op, else the SIMT kernel with a remark (an error under
// require-tensor-cores, none with tensor-cores=false).
// RUN: kha-opt %s -kha-sdpa-to-gpu="chip=sm_80" -kha-matmul-to-gpu="chip=sm_80" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=SM80
// RUN: kha-opt %s -kha-sdpa-to-gpu="chip=sm_90a" -kha-matmul-to-gpu="chip=sm_90a" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=SM90
// RUN: kha-opt %s -kha-sdpa-to-gpu="tensor-cores=false" -kha-matmul-to-gpu="tensor-cores=false" -split-input-file 2>&1 | FileCheck %s --check-prefix=SIMT
// RUN: not kha-opt %s -kha-sdpa-to-gpu="chip=sm_80 require-tensor-cores" -split-input-file 2>&1 | FileCheck %s --check-prefix=STRICT

// f16 attention, d = 64: mma.sync on sm_80, wgmma on sm_90a, neither with
// tensor-cores=false (and no remark then).
// SM80-LABEL: func @f16_attention
// SM80: nvgpu.ldmatrix
// SM80: nvgpu.mma.sync
// SM80-NOT: kha.sdpa
// SM90-LABEL: func @f16_attention
// SM90: nvgpu.warpgroup.mma
// SIMT-NOT: remark
// SIMT-LABEL: func @f16_attention
// SIMT-NOT: nvgpu.mma.sync
// SIMT: gpu.shuffle
// SIMT-NOT: nvgpu.mma.sync
// SIMT: return
func.func @f16_attention(%q: tensor<1x32x4x64xf16>, %k: tensor<1x32x4x64xf16>, %v: tensor<1x32x4x64xf16>) -> tensor<1x32x4x64xf16> {
  %sdpa_init = tensor.empty() : tensor<1x32x4x64xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64} : (tensor<1x32x4x64xf16>, tensor<1x32x4x64xf16>, tensor<1x32x4x64xf16>, tensor<1x32x4x64xf16>) -> tensor<1x32x4x64xf16>
  return %o : tensor<1x32x4x64xf16>
}

// -----

// f32 attention has no tensor-core kernel: the SIMT kernel, with a remark
// saying why.
// SM80-LABEL: func @f32_attention
// SM80-NOT: nvgpu.mma.sync
// SM80: gpu.launch
// STRICT: error: attention kernel (kha.sdpa) cannot use the tensor cores on sm_80: the element type is not f16 or bf16 throughout
func.func @f32_attention(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>, %v: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %sdpa_init2 = tensor.empty() : tensor<1x4x2x16xf32>
  // expected-remark @below {{attention kernel (kha.sdpa) falls back to the CUDA cores on sm_80: the element type is not f16 or bf16 throughout}}
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init2) {scale = 0.25 : f64} : (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

// -----

// A bf16 projection: the mma.sync kernel on sm_80, wgmma on sm_90a; an f32
// one falls back with a remark.
// SM80-LABEL: func @projections
// SM80: nvgpu.mma.sync
// SM80-NOT: linalg.matmul
// SM90-LABEL: func @projections
// SM90: nvgpu.warpgroup.mma
func.func @projections(%a: tensor<32x64xbf16>, %b: tensor<64x48xbf16>, %x: tensor<8x8xf32>) -> (tensor<32x48xf32>, tensor<8x8xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x48xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<32x48xf32>) -> tensor<32x48xf32>
  %r = linalg.matmul ins(%a, %b : tensor<32x64xbf16>, tensor<64x48xbf16>) outs(%f : tensor<32x48xf32>) -> tensor<32x48xf32>
  %e2 = tensor.empty() : tensor<8x8xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<8x8xf32>) -> tensor<8x8xf32>
  // expected-remark @below {{projection kernel (linalg.matmul 8x8 * 8x8) falls back to the CUDA cores on sm_80: its operands are not both f16 or both bf16}}
  %r2 = linalg.matmul ins(%x, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f2 : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %r, %r2 : tensor<32x48xf32>, tensor<8x8xf32>
}

// -----

// A configuration written on the op is followed: the SIMT kernel here, with
// no remark, on any chip.
// SM80-LABEL: func @written
// SM80-NOT: nvgpu.mma.sync
// SM80: gpu.launch
// SM90-LABEL: func @written
// SM90-NOT: nvgpu.warpgroup.mma
// SM90: return
func.func @written(%q: tensor<1x4x2x64xf16>, %k: tensor<1x4x2x64xf16>, %v: tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16> {
  %sdpa_init3 = tensor.empty() : tensor<1x4x2x64xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init3) {scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} : (tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>) -> tensor<1x4x2x64xf16>
  return %o : tensor<1x4x2x64xf16>
}
