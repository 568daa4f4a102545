// kha-entry-point-ownership: public functions read their arguments only and
// return buffers the caller owns; private functions are left alone.
// RUN: kha-opt %s -kha-entry-point-ownership -split-input-file | FileCheck %s

// A value returned twice, an argument returned as it is, a constant: each
// result gets its own copy; a fresh result (the rope) is returned as it is.
// CHECK-LABEL: func @shared_results
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x2x8xf32> {bufferization.writable = false})
// CHECK: %[[R:.*]] = kha.rope %[[X]]
// CHECK: %[[C0:.*]] = linalg.copy ins(%[[R]] : tensor<?x4x2x8xf32>)
// CHECK: %[[C1:.*]] = linalg.copy ins(%[[X]] : tensor<?x4x2x8xf32>)
// CHECK: %[[C2:.*]] = linalg.copy ins(%{{.*}} : tensor<2xf32>)
// CHECK: return %[[R]], %[[C0]], %[[C1]], %[[C2]]
func.func @shared_results(%x: tensor<?x4x2x8xf32>) -> (tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<2xf32>) {
  %r = kha.rope %x {theta = 10000.0 : f64} : tensor<?x4x2x8xf32>
  %c = arith.constant dense<1.0> : tensor<2xf32>
  return %r, %r, %x, %c : tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<2xf32>
}

// -----

// Left alone: a private function (called, not exported).
// CHECK-LABEL: func private @helper
// CHECK-SAME: (%{{.*}}: tensor<4xf32>)
// CHECK-NOT: linalg.copy
// CHECK: return
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// Views share their source's memory: a reshape of an argument, a slice of
// another result and a reshape of a constant each get their own copy; a
// reshape of a fresh value returned once is returned as it is.
// CHECK-LABEL: func @views
// CHECK-SAME: (%[[X:.*]]: tensor<36xbf16> {bufferization.writable = false}
// CHECK: %[[E:.*]] = tensor.expand_shape %[[X]]
// CHECK: %[[S:.*]] = tensor.extract_slice %[[R:.*]][0, 0] [2, 2]
// CHECK: %[[C0:.*]] = linalg.copy ins(%[[E]] : tensor<6x6xbf16>)
// CHECK: %[[C1:.*]] = linalg.copy ins(%[[S]] : tensor<2x2xf32>)
// CHECK: %[[C2:.*]] = linalg.copy ins(%{{.*}} : tensor<2x2xf32>)
// CHECK: return %[[C0]], %[[R]], %[[C1]], %[[C2]], %{{.*}} :
func.func @views(%x: tensor<36xbf16>, %y: tensor<4x4xf32>) -> (tensor<6x6xbf16>, tensor<4x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x8xf32>) {
  %e = tensor.expand_shape %x [[0, 1]] output_shape [6, 6] : tensor<36xbf16> into tensor<6x6xbf16>
  %r = arith.addf %y, %y : tensor<4x4xf32>
  %s = tensor.extract_slice %r[0, 0] [2, 2] [1, 1] : tensor<4x4xf32> to tensor<2x2xf32>
  %c = arith.constant dense<1.0> : tensor<4xf32>
  %ce = tensor.expand_shape %c [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  %f = arith.mulf %y, %y : tensor<4x4xf32>
  %fr = tensor.collapse_shape %f [[0, 1]] : tensor<4x4xf32> into tensor<16xf32>
  %fe = tensor.expand_shape %fr [[0, 1]] output_shape [2, 8] : tensor<16xf32> into tensor<2x8xf32>
  return %e, %r, %s, %ce, %fe : tensor<6x6xbf16>, tensor<4x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x8xf32>
}
