// kha-gpu-launch-to-host-loops: a launch of one-thread blocks becomes loops
// over its grid (z, y, x) with stack buffers for its workgroup memory and no
// barriers; a block of several threads is refused.
// RUN: kha-opt %s -kha-gpu-launch-to-host-loops -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func @one_thread
// CHECK-SAME: (%[[GX:.*]]: index, %[[GY:.*]]: index, %[[OUT:.*]]: memref<?x?xf32>)
// CHECK: scf.for %[[Z:.*]] = %c0 to %c1
// CHECK:   scf.for %[[Y:.*]] = %c0 to %[[GY]]
// CHECK:     scf.for %[[X:.*]] = %c0 to %[[GX]]
// CHECK:       %[[TILE:.*]] = memref.alloca() : memref<4xf32>
// CHECK:       memref.store %{{.*}}, %[[TILE]][%c0]
// CHECK-NOT:   gpu.barrier
// CHECK:       %[[V:.*]] = memref.load %[[TILE]][%c0]
// CHECK:       memref.store %[[V]], %[[OUT]][%[[Y]], %[[X]]]
// CHECK-NOT: gpu.launch
func.func @one_thread(%gx: index, %gy: index, %out: memref<?x?xf32>) {
  %c1 = arith.constant 1 : index
  %f = arith.constant 2.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %gx, %y = %gy, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1)
             workgroup(%tile : memref<4xf32, #gpu.address_space<workgroup>>) {
    memref.store %f, %tile[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %v = memref.load %tile[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out[%by, %bx] : memref<?x?xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @many_threads(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  // expected-error @+1 {{only synchronous launches of one-thread blocks can run as host loops}}
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    gpu.terminator
  }
  return
}
