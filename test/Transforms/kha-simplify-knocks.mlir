// kha-simplify-knocks applies the knock simplifications to knock ops only.
// RUN: kha-opt %s -kha-simplify-knocks -split-input-file | FileCheck %s

// Identity knocks vanish; composition of runtime knocks emits one d x d matmul.
// CHECK-LABEL: func @simplify
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x2x2xf32>, %[[T1:.*]]: tensor<2x2xf32>, %[[T2:.*]]: tensor<2x2xf32>)
// CHECK: %[[T:.*]] = linalg.matmul ins(%[[T1]], %[[T2]] :
// CHECK: %[[R:.*]] = kha.linear_knock %[[X]], %[[T]]
// CHECK-NOT: kha.linear_knock
// CHECK-NOT: kha.mlp_knock
// CHECK: return %[[R]]
func.func @simplify(%x: tensor<1x4x2x2xf32>, %t1: tensor<2x2xf32>, %t2: tensor<2x2xf32>)
    -> tensor<1x4x2x2xf32> {
  %i = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %z = arith.constant dense<0.0> : tensor<2x2xf32>
  %0 = kha.mlp_knock %x, %i, %z, %i : tensor<1x4x2x2xf32>, tensor<2x2xf32>
  %1 = kha.linear_knock %0, %i : tensor<1x4x2x2xf32>, tensor<2x2xf32>
  %2 = kha.linear_knock %1, %t1 : tensor<1x4x2x2xf32>, tensor<2x2xf32>
  %3 = kha.linear_knock %2, %t2 : tensor<1x4x2x2xf32>, tensor<2x2xf32>
  return %3 : tensor<1x4x2x2xf32>
}

// -----

// What is not a knock is left exactly as it was: the pass does not fold or
// erase other ops the way -canonicalize would.
// CHECK-LABEL: func @leaves_other_ops
// CHECK: %[[A:.*]] = arith.constant 1.0
// CHECK: %[[B:.*]] = arith.constant 2.0
// CHECK: arith.addf %[[A]], %[[B]]
// CHECK: %[[DEAD:.*]] = arith.mulf
// CHECK: kha.rope
// CHECK: kha.linear_knock
func.func @leaves_other_ops(%x: tensor<1x4x2x2xf32>, %t: tensor<2x2xf32>)
    -> (f32, tensor<1x4x2x2xf32>) {
  %a = arith.constant 1.0 : f32
  %b = arith.constant 2.0 : f32
  %c = arith.addf %a, %b : f32
  %dead = arith.mulf %a, %b : f32
  %r = kha.rope %x {theta = 10000.0 : f64} : tensor<1x4x2x2xf32>
  // A knock after RoPE is not composed with anything.
  %k = kha.linear_knock %r, %t : tensor<1x4x2x2xf32>, tensor<2x2xf32>
  return %c, %k : f32, tensor<1x4x2x2xf32>
}
