// RUN: kha-opt %s -kha-expand-shape-to-reinterpret-cast -split-input-file | FileCheck %s

// Two dynamic sizes from one: row-major strides computed from the output sizes.
// CHECK-LABEL: func @dynamic_group
// CHECK-SAME: (%[[A:.*]]: memref<?x16xf32>, %[[B:.*]]: index, %[[L:.*]]: index)
// CHECK: %[[S:.*]] = arith.muli %{{.*}}, %[[L]] : index
// CHECK-NOT: arith.muli
// CHECK: %[[R:.*]] = memref.reinterpret_cast %[[A]] to offset: [0], sizes: [%[[B]], %[[L]], 4, 4], strides: [%[[S]], 16, 4, 1] : memref<?x16xf32> to memref<?x?x4x4xf32>
// CHECK: return %[[R]]
func.func @dynamic_group(%a: memref<?x16xf32>, %b: index, %l: index) -> memref<?x?x4x4xf32> {
  %e = memref.expand_shape %a [[0, 1], [2, 3]] output_shape [%b, %l, 4, 4] : memref<?x16xf32> into memref<?x?x4x4xf32>
  return %e : memref<?x?x4x4xf32>
}

// -----

// Static shapes: all strides are constants.
// CHECK-LABEL: func @static
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [2, 3, 8], strides: [24, 8, 1]
func.func @static(%a: memref<6x8xf32>) -> memref<2x3x8xf32> {
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [2, 3, 8] : memref<6x8xf32> into memref<2x3x8xf32>
  return %e : memref<2x3x8xf32>
}

// -----

// A strided source is left alone.
// CHECK-LABEL: func @strided_source
// CHECK: memref.expand_shape
// CHECK-NOT: memref.reinterpret_cast
func.func @strided_source(%a: memref<6x8xf32, strided<[16, 1]>>) -> memref<2x3x8xf32, strided<[48, 16, 1]>> {
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [2, 3, 8] : memref<6x8xf32, strided<[16, 1]>> into memref<2x3x8xf32, strided<[48, 16, 1]>>
  return %e : memref<2x3x8xf32, strided<[48, 16, 1]>>
}
