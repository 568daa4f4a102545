// Attention on the CPU: kha-cpu-schedule's kha_tile_attention tiles kha.sdpa
// (tiles of 64 query rows and one key/value head), kha-decompose-sdpa makes
// each tile an online softmax over blocks of 64 keys, and the main schedule
// vectorises the blocks. No tensor of all the scores is ever created, and a
// causal tile stops at the diagonal.
// RUN: kha-opt %s -kha-cpu-schedule=entry-point=kha_tile_attention -canonicalize \
// RUN:   -kha-decompose-sdpa=key-block-size=64 -canonicalize -cse -kha-cpu-schedule | FileCheck %s

// CHECK-LABEL: func @attention
// CHECK-NOT: tensor<{{.*}}x256xf32>
// Query rows in tiles of 64, each key/value head (the batch of 1 folds away):
// 4 x 2 independent tiles.
// CHECK: scf.forall (%[[L:.*]], %{{.*}}) in (4, 2) shared_outs
// A causal tile reads keys [0, l0 + 64).
// CHECK: %[[KEYS:.*]] = affine.min #{{.*}}(%[[L]])
// Full blocks of 64 keys: the scores as an 8 x 32 register tile, the
// exponentials one vector of 64 keys per row.
// CHECK: scf.for %[[J:.*]] = %c0 to %{{.*}} step %c64
// CHECK: vector.contract {{.*}} into vector<1x8x32xf32>
// CHECK: math.exp %{{.*}} : vector<1x1x64xf32>
// CHECK: vector.contract {{.*}} into vector<1x8x32xf32>
// CHECK-NOT: tensor<{{.*}}x256xf32>
// CHECK: return
func.func @attention(%q: tensor<1x256x4x32xf32>, %k: tensor<1x256x2x32xf32>, %v: tensor<1x256x2x32xf32>) -> tensor<1x256x4x32xf32> {
  %sdpa_init = tensor.empty() : tensor<1x256x4x32xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.17 : f64} : (tensor<1x256x4x32xf32>, tensor<1x256x2x32xf32>, tensor<1x256x2x32xf32>, tensor<1x256x4x32xf32>) -> tensor<1x256x4x32xf32>
  return %0 : tensor<1x256x4x32xf32>
}
