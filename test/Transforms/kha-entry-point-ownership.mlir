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
