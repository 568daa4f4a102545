// kha-cpu-schedule fuses attention: the normalisation is tiled by 16 rows and
// the scores, softmax and P.V are computed inside the row loop, so no tensor of
// all scores ([B*G, r*L, S]) is ever created.
// RUN: kha-opt %s -kha-lower-to-linalg -canonicalize -cse -kha-cpu-schedule | FileCheck %s

// CHECK-LABEL: func @attention
// CHECK-NOT: tensor.empty() : tensor<2x64x32xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c16
// CHECK: vector.contract {{.*}} into vector<1x8x32xf32>
// CHECK: math.exp %{{.*}} : vector<1x1x32xf32>
// CHECK: vector.contract {{.*}} into vector<1x8x16xf32>
// CHECK: arith.divf %{{.*}} : vector<1x1x16xf32>
// CHECK-NOT: tensor.empty() : tensor<2x64x32xf32>
// CHECK: return
func.func @attention(%q: tensor<1x32x4x16xf32>, %k: tensor<1x32x2x16xf32>, %v: tensor<1x32x2x16xf32>) -> tensor<1x32x4x16xf32> {
  %0 = kha.sdpa %q, %k, %v {causal, scale = 0.25 : f64} : (tensor<1x32x4x16xf32>, tensor<1x32x2x16xf32>, tensor<1x32x2x16xf32>) -> tensor<1x32x4x16xf32>
  return %0 : tensor<1x32x4x16xf32>
}
