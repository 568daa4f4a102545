// kha-decompose-aggregate-ops: linalg.softmax becomes its max, exp, sum and
// division; other linalg ops are left alone. Through --kha-cpu-pipeline a
// softmax now lowers to the LLVM dialect (it used to survive the pipeline).
// RUN: kha-opt %s -kha-decompose-aggregate-ops | FileCheck %s
// RUN: kha-opt %s --kha-cpu-pipeline | FileCheck %s --check-prefix=CPU

// CHECK-LABEL: func @softmax
// CHECK-NOT: linalg.softmax
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:   arith.maxnumf
// CHECK: linalg.generic
// CHECK:   arith.subf
// CHECK:   math.exp
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:   arith.addf
// CHECK: linalg.generic
// CHECK:   arith.divf
// CHECK: linalg.matmul
// CPU-LABEL: llvm.func @softmax
// CPU-NOT: linalg.
func.func @softmax(%x: tensor<2x16xf32>, %w: tensor<16x4xf32>) -> tensor<2x4xf32> {
  %e = tensor.empty() : tensor<2x16xf32>
  %y = linalg.softmax dimension(1) ins(%x : tensor<2x16xf32>) outs(%e : tensor<2x16xf32>) -> tensor<2x16xf32>
  %z0 = tensor.empty() : tensor<2x4xf32>
  %c0 = arith.constant 0.0 : f32
  %z = linalg.fill ins(%c0 : f32) outs(%z0 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = linalg.matmul ins(%y, %w : tensor<2x16xf32>, tensor<16x4xf32>) outs(%z : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}
