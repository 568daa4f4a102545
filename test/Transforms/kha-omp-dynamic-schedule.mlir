// RUN: kha-opt %s -kha-omp-dynamic-schedule | FileCheck %s

// A work-sharing loop without a schedule hands out its iterations
// dynamically; one with a schedule keeps it.
// CHECK-LABEL: func @schedules
// CHECK: omp.wsloop schedule(dynamic) {
// CHECK: omp.wsloop schedule(static) {
func.func @schedules(%buffer: memref<8xf32>, %value: f32) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c1 = arith.constant 1 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c8) step (%c1) {
        memref.store %value, %buffer[%i] : memref<8xf32>
        omp.yield
      }
    }
    omp.wsloop schedule(static) {
      omp.loop_nest (%i) : index = (%c0) to (%c8) step (%c1) {
        memref.store %value, %buffer[%i] : memref<8xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
