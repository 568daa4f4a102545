// kha-free-intermediate-buffers: a buffer is freed after its last use
// (through views, inside kernels); returned buffers and multi-block
// functions are left alone.
// RUN: kha-opt %s -kha-free-intermediate-buffers -split-input-file | FileCheck %s

// CHECK-LABEL: func @straight
// CHECK: %[[T:.*]] = memref.alloc
// CHECK: %[[R:.*]] = memref.alloc
// CHECK: %[[V:.*]] = memref.expand_shape %[[T]]
// CHECK: gpu.launch
// CHECK:   memref.load %[[V]]
// CHECK: gpu.terminator
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc %[[T]]
// CHECK-NOT: memref.dealloc %[[R]]
// CHECK: return %[[R]]
func.func @straight(%n: index) -> memref<?xf32> {
  %t = memref.alloc(%n) : memref<?xf32>
  %r = memref.alloc(%n) : memref<?xf32>
  %v = memref.expand_shape %t [[0, 1]] output_shape [%n, 1] : memref<?xf32> into memref<?x1xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1) {
    %a = memref.load %v[%tx, %c0] : memref<?x1xf32>
    memref.store %a, %r[%tx] : memref<?xf32>
    gpu.terminator
  }
  return %r : memref<?xf32>
}

// -----

// CHECK-LABEL: func @branches
// CHECK-NOT: memref.dealloc
func.func @branches(%n: index, %c: i1) {
  %t = memref.alloc(%n) : memref<?xf32>
  cf.cond_br %c, ^a, ^b
^a:
  return
^b:
  return
}

// -----

// A buffer read through a TMA tensor map is freed after the kernel that
// takes the map, not after the map is made.
// CHECK-LABEL: func @tensor_map
// CHECK: %[[T:.*]] = memref.alloc
// CHECK: nvgpu.tma.create.descriptor
// CHECK-NOT: memref.dealloc
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc %[[T]]
!map = !nvgpu.tensormap.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
func.func @tensor_map(%n: index) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %t = memref.alloc(%n) : memref<?x64xf16>
  %u = memref.cast %t : memref<?x64xf16> to memref<*xf16>
  %map = nvgpu.tma.create.descriptor %u box[%c64, %c64] : memref<*xf16> -> !map
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1) {
    nvgpu.tma.prefetch.descriptor %map : !map
    gpu.terminator
  }
  return
}

// -----

// A buffer a call to the module's function returns is the caller's: freed
// after its last use, unless returned; an external function's result is
// left alone (its ownership is not known).
// CHECK-LABEL: func @caller
// CHECK: %[[P:.*]] = call @prepare()
// CHECK: %[[Y:.*]] = call @prepared(%[[P]])
// CHECK-NEXT: memref.dealloc %[[P]]
// CHECK: %[[E:.*]] = call @external()
// CHECK-NOT: memref.dealloc %[[E]]
// CHECK-NOT: memref.dealloc %[[Y]]
// CHECK: return %[[Y]]
func.func @prepare() -> memref<4xf32> {
  %b = memref.alloc() : memref<4xf32>
  return %b : memref<4xf32>
}
func.func @prepared(%p: memref<4xf32>) -> memref<4xf32> {
  %b = memref.alloc() : memref<4xf32>
  memref.copy %p, %b : memref<4xf32> to memref<4xf32>
  return %b : memref<4xf32>
}
func.func private @external() -> memref<4xf32>
func.func @caller() -> memref<4xf32> {
  %p = call @prepare() : () -> memref<4xf32>
  %y = call @prepared(%p) : (memref<4xf32>) -> memref<4xf32>
  %e = call @external() : () -> memref<4xf32>
  memref.copy %e, %y : memref<4xf32> to memref<4xf32>
  return %y : memref<4xf32>
}
