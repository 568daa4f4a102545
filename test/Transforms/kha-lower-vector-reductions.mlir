// RUN: kha-opt %s -kha-lower-vector-reductions | FileCheck %s

// CHECK-LABEL: func @row_sum
// CHECK-NOT: vector.multi_reduction
// CHECK: vector.reduction <add>, %{{.*}}, %{{.*}} : vector<64xf32> into f32
func.func @row_sum(%v: vector<1x64xf32>, %acc: vector<1xf32>) -> vector<1xf32> {
  %0 = vector.multi_reduction <add>, %v, %acc [1] : vector<1x64xf32> to vector<1xf32>
  return %0 : vector<1xf32>
}
