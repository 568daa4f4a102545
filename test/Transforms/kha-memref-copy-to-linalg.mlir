// RUN: kha-opt %s -kha-memref-copy-to-linalg | FileCheck %s

// CHECK-LABEL: func @copy
// CHECK-SAME: (%[[A:.*]]: memref<?x8xf32>, %[[B:.*]]: memref<?x8xf32, strided<[16, 1]>>)
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[A]] : memref<?x8xf32>) outs(%[[B]] : memref<?x8xf32, strided<[16, 1]>>)
func.func @copy(%a: memref<?x8xf32>, %b: memref<?x8xf32, strided<[16, 1]>>) {
  memref.copy %a, %b : memref<?x8xf32> to memref<?x8xf32, strided<[16, 1]>>
  return
}
