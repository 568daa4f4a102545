// kha-sdpa-to-gpu: one fused flash-attention kernel per kha.sdpa.
// RUN: kha-opt %s -kha-sdpa-to-gpu="tensor-cores=false" -split-input-file | FileCheck %s

// GQA (H = 8 over G = 2, r = 4), causal, f16, d = 64: 4 lanes per (head,
// row), 8 rows per block for all 4 heads of a group = 128 threads; grid
// (ceil(L/8), G, B); 64-key f32 tiles of K and V in shared memory.
// CHECK-LABEL: func @gqa_causal
// CHECK-DAG: %[[Q:.*]] = bufferization.to_buffer %arg0 read_only
// CHECK-DAG: %[[K:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK-DAG: %[[V:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<2x?x8x64xf16>
// CHECK: %[[TILES:.*]] = arith.ceildivui %{{.*}}, %c8
// CHECK: gpu.launch blocks(%{{.*}}, %[[G:.*]], %[[B:.*]]) in (%{{.*}} = %[[TILES]], %{{.*}} = %c2, %{{.*}} = %{{.*}}) threads(%[[TID:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128, {{.*}}) workgroup(%[[KS:.*]] : memref<64x64xf32, #gpu.address_space<workgroup>>, %[[VS:.*]] : memref<64x64xf32, #gpu.address_space<workgroup>>)
// The query slice (16 values) is loaded once, widened to f32.
// CHECK-COUNT-16: arith.extf
// Causal: key tiles only up to the query tile's last row.
// CHECK: %[[END:.*]] = arith.minui
// CHECK: scf.for %[[KV0:.*]] = %{{.*}} to %[[END]] step %c64{{[_0-9]*}} iter_args({{.*}}) -> (f32, f32, vector<16xf32>)
// CHECK:   scf.for %{{.*}} = %[[TID]] to %c4096{{[_0-9]*}} step %c128{{[_0-9]*}}
// CHECK:     memref.load %[[K]]
// CHECK:     memref.store %{{.*}}, %[[KS]]
// CHECK:   scf.for %{{.*}} = %[[TID]] to %c4096{{[_0-9]*}} step %c128{{[_0-9]*}}
// CHECK:     memref.load %[[V]]
// CHECK:     memref.store %{{.*}}, %[[VS]]
// CHECK:   gpu.barrier
// CHECK:   scf.for {{.*}} iter_args({{.*}}) -> (f32, f32, vector<16xf32>)
// CHECK:     vector.load %[[KS]]
// CHECK:     vector.reduction <add>
// CHECK:     gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32{{.*}}
// CHECK:     gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32{{.*}}
// CHECK:     arith.cmpi ule
// CHECK:     arith.maximumf
// CHECK:     math.exp
// CHECK:     math.exp
// CHECK:     vector.load %[[VS]]
// CHECK:     vector.fma
// CHECK:   gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-16: arith.truncf %{{.*}} : f32 to f16
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: kha.sdpa
func.func @gqa_causal(%q: tensor<2x?x8x64xf16>, %k: tensor<2x?x2x64xf16>, %v: tensor<2x?x2x64xf16>) -> tensor<2x?x8x64xf16> {
  %sdpa_c1_1 = arith.constant 1 : index
  %sdpa_d1_1 = tensor.dim %q, %sdpa_c1_1 : tensor<2x?x8x64xf16>
  %sdpa_init = tensor.empty(%sdpa_d1_1) : tensor<2x?x8x64xf16>
  %o = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64} : (tensor<2x?x8x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x2x64xf16>, tensor<2x?x8x64xf16>) -> tensor<2x?x8x64xf16>
  return %o : tensor<2x?x8x64xf16>
}

// -----

// MQA with an [L, S] mask, not causal, odd d = 5 (one lane per row, no
// shuffles): every key tile is visited, the mask is added per score.
// CHECK-LABEL: func @mqa_mask
// CHECK: %[[M:.*]] = bufferization.to_buffer %arg3 read_only
// CHECK: gpu.launch
// CHECK-NOT: arith.minui %dim
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %dim{{.*}} step
// CHECK-NOT: gpu.shuffle
// CHECK: memref.load %[[M]]
// CHECK: math.exp
func.func @mqa_mask(%q: tensor<1x7x4x5xf32>, %k: tensor<1x?x1x5xf32>, %v: tensor<1x?x1x5xf32>, %m: tensor<7x?xf32>) -> tensor<1x7x4x5xf32> {
  %sdpa_init2 = tensor.empty() : tensor<1x7x4x5xf32>
  %o = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init2) {scale = 0.5 : f64} : (tensor<1x7x4x5xf32>, tensor<1x?x1x5xf32>, tensor<1x?x1x5xf32>, tensor<7x?xf32>, tensor<1x7x4x5xf32>) -> tensor<1x7x4x5xf32>
  return %o : tensor<1x7x4x5xf32>
}

// -----

// Left alone: a group too wide for one block (r = 512 heads of 4 lanes).
// CHECK-LABEL: func @too_wide
// CHECK: kha.sdpa
// CHECK-NOT: gpu.launch
func.func @too_wide(%q: tensor<1x2x512x4xf32>, %k: tensor<1x2x1x4xf32>) -> tensor<1x2x512x4xf32> {
  %sdpa_init3 = tensor.empty() : tensor<1x2x512x4xf32>
  %o = kha.sdpa %q, %k, %k outs(%sdpa_init3) {scale = 0.5 : f64} : (tensor<1x2x512x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x512x4xf32>) -> tensor<1x2x512x4xf32>
  return %o : tensor<1x2x512x4xf32>
}

// -----

// A result type with dynamic head dimensions (the verifier allows it): the
// output buffer gets every dynamic size.
// CHECK-LABEL: func @dynamic_result_heads
// CHECK: memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<1x?x?x?xf32>
// CHECK: gpu.launch
func.func @dynamic_result_heads(%q: tensor<1x?x4x8xf32>, %k: tensor<1x?x2x8xf32>) -> tensor<1x?x?x?xf32> {
  %sdpa_c4_1 = arith.constant 1 : index
  %sdpa_d4_1 = tensor.dim %q, %sdpa_c4_1 : tensor<1x?x4x8xf32>
  %sdpa_c4_2 = arith.constant 2 : index
  %sdpa_d4_2 = tensor.dim %q, %sdpa_c4_2 : tensor<1x?x4x8xf32>
  %sdpa_c4_3 = arith.constant 3 : index
  %sdpa_d4_3 = tensor.dim %k, %sdpa_c4_3 : tensor<1x?x2x8xf32>
  %sdpa_init4 = tensor.empty(%sdpa_d4_1, %sdpa_d4_2, %sdpa_d4_3) : tensor<1x?x?x?xf32>
  %o = kha.sdpa %q, %k, %k outs(%sdpa_init4) {scale = 0.5 : f64} : (tensor<1x?x4x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x?x?xf32>) -> tensor<1x?x?x?xf32>
  return %o : tensor<1x?x?x?xf32>
}

// -----

// Decoding (bottom_right): flash-decoding. K and V are read in place through
// strided buffers (the used rows of a cache); 32 lanes per (head, row) and
// one row per block (128 threads for r = 4), so that a single query row
// keeps the block busy; the keys are split into `splits` ranges,
// min(ceil(512 / blocks), max(ceil(S / 64), 1)), each a multiple of the
// 64-key tile; one block per (row tile, split) x G x B writes its rows' m, l
// and unnormalised o; a second kernel, one block per (row, head, batch) and
// one thread per output column, combines them.
// CHECK-LABEL: func @decode_split_keys
// CHECK-DAG: %[[K:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<1x?x2x64xf32> to memref<1x?x2x64xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK-DAG: %[[V:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<1x?x2x64xf32> to memref<1x?x2x64xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: %[[S:.*]] = memref.dim %[[K]], %{{.*}}
// CHECK: %[[WANTED:.*]] = arith.ceildivui %c512, %{{.*}} : index
// CHECK: %[[MOST0:.*]] = arith.ceildivui %[[S]], %c64{{.*}} : index
// CHECK: %[[MOST:.*]] = arith.maxui %[[MOST0]], %{{.*}} : index
// CHECK: %[[SPLITS:.*]] = arith.minui %[[WANTED]], %[[MOST]] : index
// CHECK: %[[M:.*]] = memref.alloc(%[[SPLITS]], %{{.*}}, %{{.*}}) : memref<?x?x?x8xf32>
// CHECK: %[[L:.*]] = memref.alloc(%[[SPLITS]], %{{.*}}, %{{.*}}) : memref<?x?x?x8xf32>
// CHECK: %[[O:.*]] = memref.alloc(%[[SPLITS]], %{{.*}}, %{{.*}}) : memref<?x?x?x8x64xf32>
// CHECK: gpu.launch blocks({{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}})
// CHECK: arith.remui %{{.*}}, %[[SPLITS]]
// CHECK: arith.divui %{{.*}}, %[[SPLITS]]
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %[[O]]
// CHECK: memref.store %{{.*}}, %[[M]]
// CHECK: memref.store %{{.*}}, %[[L]]
// CHECK: gpu.terminator
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %c8{{.*}}, %{{.*}} = %{{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c64{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}})
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[SPLITS]]
// CHECK: arith.maximumf
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[SPLITS]]
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: memref.store
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor
func.func @decode_split_keys(%q: tensor<1x1x8x64xf32>, %k: tensor<1x?x2x64xf32>, %v: tensor<1x?x2x64xf32>) -> tensor<1x1x8x64xf32> {
  %sdpa_init5 = tensor.empty() : tensor<1x1x8x64xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init5) {causal, bottom_right, scale = 0.125 : f64} : (tensor<1x1x8x64xf32>, tensor<1x?x2x64xf32>, tensor<1x?x2x64xf32>, tensor<1x1x8x64xf32>) -> tensor<1x1x8x64xf32>
  return %0 : tensor<1x1x8x64xf32>
}
