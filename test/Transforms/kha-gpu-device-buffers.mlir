// kha-gpu-device-buffers: host allocations become device allocations, and
// constants are copied to the device once per call; kernels are untouched.
// RUN: kha-opt %s -kha-gpu-device-buffers | FileCheck %s

// CHECK-LABEL: func @host
// CHECK: %[[B:.*]] = gpu.alloc (%{{.*}}) : memref<?x8xf32>
// CHECK: %[[G:.*]] = memref.get_global @weights : memref<8xf32>
// CHECK: %[[D:.*]] = gpu.alloc () : memref<8xf32>
// CHECK: gpu.memcpy %[[D]], %[[G]] : memref<8xf32>, memref<8xf32>
// CHECK: gpu.launch
// CHECK:   memref.load %[[D]]
// CHECK:   memref.store %{{.*}}, %[[B]]
// CHECK: gpu.dealloc %[[B]] : memref<?x8xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
memref.global "private" constant @weights : memref<8xf32> = dense<1.0>
func.func @host(%n: index) {
  %b = memref.alloc(%n) : memref<?x8xf32>
  %w = memref.get_global @weights : memref<8xf32>
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1) {
    %v = memref.load %w[%tx] : memref<8xf32>
    memref.store %v, %b[%bx, %tx] : memref<?x8xf32>
    gpu.terminator
  }
  memref.dealloc %b : memref<?x8xf32>
  return
}
