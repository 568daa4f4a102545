// RUN: kha-opt %s -kha-math-approximation | FileCheck %s

// f32 exp becomes a polynomial (no call per lane); f64 math is left alone.
// CHECK-LABEL: func @exp
// CHECK-NOT: math.exp %{{.*}} : vector<16xf32>
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK: math.cos %{{.*}} : f64
func.func @exp(%x: vector<16xf32>, %y: f64) -> (vector<16xf32>, f64) {
  %0 = math.exp %x : vector<16xf32>
  %1 = math.cos %y : f64
  return %0, %1 : vector<16xf32>, f64
}
