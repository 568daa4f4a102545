// Attention on the CPU: kha-cpu-schedule's kha_tile_attention tiles kha.sdpa
// (tiles of 64 query rows and one key/value head), kha-decompose-sdpa makes
// each tile an online softmax over blocks of 64 keys, and the main schedule
// vectorises the blocks. No tensor of all the scores is ever created, and a
// causal tile stops at the diagonal.
// RUN: kha-opt %s -kha-cpu-schedule=entry-point=kha_tile_attention -canonicalize \
// RUN:   -kha-decompose-sdpa=key-block-size=64 -canonicalize -cse -kha-cpu-schedule | FileCheck %s
// The CPU pipeline's form: contiguous key/value heads and key-major scores.
// RUN: kha-opt %s -kha-cpu-schedule=entry-point=kha_tile_attention -canonicalize \
// RUN:   -kha-contiguous-attention-heads -cse \
// RUN:   -kha-decompose-sdpa="key-block-size=64 transpose-scores=true" -canonicalize -cse \
// RUN:   -kha-cpu-schedule | FileCheck %s --check-prefix=KM

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

// K and V are made head-major once, outside the tiles, in vectorised 8 x 16
// blocks; each tile's scores s^T = K Q^T are 64 keys x 128 grouped rows
// (two query heads of 64 rows), an 8 x 32 register tile; the row maximum is
// one elementwise maximum per key on 16 rows at a time (no reduction within
// a vector); the exponentials are two vectors of 64 rows per key (rows
// longer than 64 go in chunks of 64).
// KM-LABEL: func @attention
// KM-COUNT-2: vector.transfer_write {{.*}} : vector<1x1x8x16xf32>, tensor<1x1x8x16xf32>
// KM: scf.forall (%{{.*}}, %{{.*}}) in (4, 2) shared_outs
// KM: scf.for %{{.*}} = %c0 to %{{.*}} step %c64
// KM-NOT: vector.transpose {{.*}}xf32>
// KM: vector.contract {{.*}} into vector<1x8x32xf32>
// KM: scf.for %{{.*}} = %c0 to %c128 step %c16
// KM-NOT: vector.multi_reduction
// KM-COUNT-64: arith.maximumf %{{.*}}, %{{.*}} : vector<16xf32>
// KM: scf.for %{{.*}} = %c0 to %c128 step %c64
// KM: math.exp %{{.*}} : vector<1x1x64xf32>
// KM: vector.contract {{.*}} into vector<1x8x32xf32>
// KM-NOT: vector.multi_reduction
// KM: return
func.func @attention(%q: tensor<1x256x4x32xf32>, %k: tensor<1x256x2x32xf32>, %v: tensor<1x256x2x32xf32>) -> tensor<1x256x4x32xf32> {
  %sdpa_init = tensor.empty() : tensor<1x256x4x32xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.17 : f64} : (tensor<1x256x4x32xf32>, tensor<1x256x2x32xf32>, tensor<1x256x2x32xf32>, tensor<1x256x4x32xf32>) -> tensor<1x256x4x32xf32>
  return %0 : tensor<1x256x4x32xf32>
}
