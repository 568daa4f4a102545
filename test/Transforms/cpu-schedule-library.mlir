// The CPU schedule is a transform library in the source tree
// (lib/Transforms/Schedules/cpu.mlir): it runs on its own with the transform
// interpreter, in kha-opt and in Debian's stock mlir-opt-22 with kha's plugin
// (test/Plugin/cpu-schedule-library.mlir, on this file).
// RUN: kha-opt %s --transform-preload-library=transform-library-paths=%kha_src/lib/Transforms/Schedules/cpu.mlir \
// RUN:   --transform-interpreter=entry-point=kha_tile_attention | FileCheck %s --check-prefix=TILE
// RUN: kha-opt %s --transform-preload-library=transform-library-paths=%kha_src/lib/Transforms/Schedules/cpu.mlir \
// RUN:   --transform-interpreter | FileCheck %s --check-prefix=MAIN
// RUN: kha-opt %s --transform-preload-library=transform-library-paths=%kha_src/lib/Transforms/Schedules/cpu.mlir \
// RUN:   --transform-interpreter=entry-point=kha_codegen_256 | FileCheck %s --check-prefix=AVX2
// RUN: kha-opt %s --transform-preload-library=transform-library-paths=%kha_src/lib/Transforms/Schedules/cpu.mlir \
// RUN:   --transform-interpreter=entry-point=kha_codegen_128 | FileCheck %s --check-prefix=SSE

// kha_tile_attention tiles kha.sdpa (64 query rows, one key/value head) into
// independent tiles (scf.forall: batch, row block, key/value head), each
// writing its slice of the destination, and leaves linalg alone.
// TILE-LABEL: func @layer
// TILE: scf.forall (%[[B:[a-z0-9_]+]], %[[L:[a-z0-9_]+]], %[[G:[a-z0-9_]+]]) in (1, 2, 2) shared_outs(%[[O:[a-z0-9_]+]] = %{{.*}})
// TILE: %[[ROW:[a-z0-9_]+]] = affine.apply #{{.*}}(%[[L]])
// TILE: %[[DEST:[a-z0-9_]+]] = tensor.extract_slice %[[O]][%[[B]], %[[ROW]], %{{.*}}, 0] [1, 64, 2, 64]
// TILE: %[[T:[a-z0-9_]+]] = kha.sdpa {{.*}} query_offset(%[[ROW]]) outs(%[[DEST]]) {causal, scale = 1.250000e-01 : f64} : (tensor<1x64x2x64xf32>, tensor<1x?x1x64xf32>, tensor<1x?x1x64xf32>, index, tensor<1x64x2x64xf32>) -> tensor<1x64x2x64xf32>
// TILE: scf.forall.in_parallel
// TILE: tensor.parallel_insert_slice %[[T]] into %[[O]]
// TILE: linalg.matmul
// The main entry point vectorises linalg and leaves kha.sdpa alone.
// MAIN-LABEL: func @layer
// MAIN: kha.sdpa
// MAIN: vector.contract {{.*}} into vector<8x32xf32>
// MAIN-NOT: linalg.matmul
// The register tile follows the vector registers: 8 x 32 f32 for 512-bit
// (above), 6 x 16 for 256-bit, 4 x 8 for 128-bit.
// AVX2-LABEL: func @layer
// AVX2: vector.contract {{.*}} into vector<6x16xf32>
// AVX2-NOT: linalg.matmul
// SSE-LABEL: func @layer
// SSE: vector.contract {{.*}} into vector<4x8xf32>
// SSE-NOT: linalg.matmul
func.func @layer(%q: tensor<1x128x4x64xf32>, %k: tensor<1x128x2x64xf32>, %v: tensor<1x128x2x64xf32>,
                 %a: tensor<128x256xf32>, %w: tensor<256x256xf32>, %c: tensor<128x256xf32>)
    -> (tensor<1x128x4x64xf32>, tensor<128x256xf32>) {
  %sdpa_init = tensor.empty() : tensor<1x128x4x64xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.125 : f64} : (tensor<1x128x4x64xf32>, tensor<1x128x2x64xf32>, tensor<1x128x2x64xf32>, tensor<1x128x4x64xf32>) -> tensor<1x128x4x64xf32>
  %1 = linalg.matmul ins(%a, %w : tensor<128x256xf32>, tensor<256x256xf32>) outs(%c : tensor<128x256xf32>) -> tensor<128x256xf32>
  return %0, %1 : tensor<1x128x4x64xf32>, tensor<128x256xf32>
}
