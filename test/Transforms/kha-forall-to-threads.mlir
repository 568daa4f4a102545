// RUN: kha-opt %s -kha-forall-to-threads -split-input-file | FileCheck %s
// RUN: kha-opt %s -kha-forall-to-threads=threads=false -split-input-file | FileCheck %s --check-prefix=ONE

// The outermost loop runs on threads (scf.parallel, for
// convert-scf-to-openmp); the one inside it in order.
// CHECK-LABEL: func @nested
// CHECK-NOT: scf.forall
// CHECK: scf.parallel (%[[I:.*]], %[[J:.*]]) = (%{{.*}}, %{{.*}}) to (%{{.*}}, %{{.*}}) step (%{{.*}}, %{{.*}}) {
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[I]], %[[J]], %[[K]]]
// CHECK-NOT: scf.parallel
// ONE-LABEL: func @nested
// ONE-NOT: scf.parallel
// ONE-NOT: scf.forall
// ONE: scf.for
// ONE: scf.for
// ONE: scf.for
// ONE: memref.store
func.func @nested(%buffer: memref<4x8x2xf32>, %value: f32) {
  scf.forall (%i, %j) in (4, 8) {
    scf.forall (%k) in (2) {
      memref.store %value, %buffer[%i, %j, %k] : memref<4x8x2xf32>
    }
  }
  return
}

// -----

// Inside a sequential loop, each loop is the outermost parallel one.
// CHECK-LABEL: func @in_sequence
// CHECK: scf.for
// CHECK: scf.parallel
// ONE-LABEL: func @in_sequence
// ONE-NOT: scf.parallel
func.func @in_sequence(%buffer: memref<4x8xf32>, %value: f32) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c4 step %c1 {
    scf.forall (%j) in (8) {
      memref.store %value, %buffer[%i, %j] : memref<4x8xf32>
    }
  }
  return
}

// -----

// A loop on tensors (before bufferization) is left alone.
// CHECK-LABEL: func @on_tensors
// CHECK: scf.forall
// CHECK-NOT: scf.parallel
func.func @on_tensors(%t: tensor<8xf32>, %value: f32) -> tensor<8xf32> {
  %r = scf.forall (%i) in (8) shared_outs(%o = %t) -> tensor<8xf32> {
    %e = tensor.from_elements %value : tensor<1xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %e into %o[%i] [1] [1] : tensor<1xf32> into tensor<8xf32>
    }
  }
  return %r : tensor<8xf32>
}
