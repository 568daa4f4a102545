// kha-sdpa-to-gpu under a tensor-core #kha.gpu_kernel: the FlashAttention-2
// kernel on mma.sync; a configuration that does not fit is an error.
// RUN: kha-opt %s -kha-sdpa-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// GQA (r = 4), causal, f16, d = 64, tiles of 64 keys: grid over L r rows.
// CHECK-LABEL: func @gqa_causal
// CHECK: %[[ROWS:.*]] = arith.muli %{{.*}}, %c4
// CHECK: %[[TILES:.*]] = arith.ceildivui %[[ROWS]], %c64
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[TILES]], %{{.*}} = %c2, %{{.*}} = %{{.*}}) threads({{.*}}) in (%{{.*}} = %c128{{.*}}) workgroup(%[[KS:.*]] : memref<2x64x72xf16, #gpu.address_space<workgroup>>, %[[VS:.*]] : memref<2x64x72xf16, #gpu.address_space<workgroup>>)
// Q fragments: pairs loaded once, 4-byte aligned.
// CHECK-COUNT-16: vector.load %{{.*}} {alignment = 4 : i64} : memref<2x?x8x64xf16>, vector<2xf16>
// The first K/V tile: 16-byte cp.async chunks, zero-filled past S.
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[KS]][%{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: %[[FIRST:.*]] = nvgpu.device_async_create_group
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<2xf32>, vector<2xf32>, vector<2x2xf32>
// Prefetch of the next tile, wait for this one, barrier.
// CHECK:   nvgpu.device_async_copy
// CHECK:   %[[GROUP:.*]] = nvgpu.device_async_create_group
// CHECK:   nvgpu.device_async_wait %[[GROUP]] {numGroups = 1 : i32}
// CHECK:   gpu.barrier
// S = Q K^T: K without .trans.
// CHECK:   nvgpu.ldmatrix %[[KS]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:   nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// Only tiles that cross the diagonal or the end of S are masked.
// CHECK:   scf.if %{{.*}} -> (vector<2x2xf32>
// CHECK:     arith.cmpi ule
// Online softmax in base 2 with quad shuffles.
// CHECK:   gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK:   gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK:   math.exp2
// P re-packed in registers, V through ldmatrix.trans.
// CHECK:   arith.truncf %{{.*}} : vector<2xf32> to vector<2xf16>
// CHECK:   nvgpu.ldmatrix %[[VS]]{{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK:   nvgpu.mma.sync
// CHECK:   gpu.barrier
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 0 : i32}
// CHECK: vector.store %{{.*}} {alignment = 4 : i64} : memref<2x?x8x64xf16>, vector<2xf16>
// CHECK-NOT: kha.sdpa
func.func @gqa_causal(%q: tensor<2x?x8x64xf16>, %k: tensor<2x?x2x64xf16>, %v: tensor<2x?x2x64xf16>) -> tensor<2x?x8x64xf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x8x64xf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x8x64xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 8>} : (tensor<2x?x8x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x8x64xf16>) -> tensor<2x?x8x64xf16>
  return %o : tensor<2x?x8x64xf16>
}

// -----

// Not causal: no diagonal, masking only past S.
// CHECK-LABEL: func @not_causal
// CHECK-NOT: arith.cmpi ule
// CHECK: gpu.terminator
func.func @not_causal(%q: tensor<1x5x2x32xbf16>, %k: tensor<1x9x2x32xbf16>, %v: tensor<1x9x2x32xbf16>) -> tensor<1x5x2x32xbf16> {
  %sdpa_init2 = tensor.empty() : tensor<1x5x2x32xbf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init2) {scale = 0.17 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 32, warps = 4, stages = 2, padding = 8>} : (tensor<1x5x2x32xbf16>, tensor<1x9x2x32xbf16>, tensor<1x9x2x32xbf16>, tensor<1x5x2x32xbf16>) -> tensor<1x5x2x32xbf16>
  return %o : tensor<1x5x2x32xbf16>
}

// -----

func.func @f32_refused(%q: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %sdpa_init3 = tensor.empty() : tensor<1x4x2x16xf32>
  // expected-error @below {{does not fit: the element type is not f16 or bf16 throughout}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init3) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 16, warps = 4, stages = 2, padding = 8>} : (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

// -----

func.func @too_much_shared_memory(%q: tensor<1x4x2x128xf16>) -> tensor<1x4x2x128xf16> {
  %sdpa_init4 = tensor.empty() : tensor<1x4x2x128xf16>
  // expected-error @below {{does not fit: its K/V tiles need more than 48 KiB of shared memory}}
  %o = kha.sdpa %q, %q, %q outs(%sdpa_init4) {scale = 0.25 : f64, kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64, tile_n = 64, tile_k = 128, warps = 4, stages = 2, padding = 8>} : (tensor<1x4x2x128xf16>, tensor<1x4x2x128xf16>, tensor<1x4x2x128xf16>, tensor<1x4x2x128xf16>) -> tensor<1x4x2x128xf16>
  return %o : tensor<1x4x2x128xf16>
}
