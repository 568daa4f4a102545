// RUN: kha-opt %s -kha-emit-c-interface | FileCheck %s

// CHECK-LABEL: func.func @public_fn
// CHECK-SAME: attributes {llvm.emit_c_interface}
func.func @public_fn(%a: memref<4xf32>) {
  return
}

// Private functions and declarations are left alone.
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: llvm.emit_c_interface
// CHECK-LABEL: func.func private @external
// CHECK-NOT: llvm.emit_c_interface
func.func private @helper(%a: memref<4xf32>) {
  return
}
func.func private @external(%a: memref<4xf32>)
