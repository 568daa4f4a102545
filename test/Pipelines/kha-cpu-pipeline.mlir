// --kha-cpu-pipeline lowers a whole layer to the LLVM dialect with a C entry
// point, and calls nothing but malloc/free and libm (self-contained libraries).
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline | FileCheck %s
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline="vectorize=false" | FileCheck %s

// CHECK-NOT: kha.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// CHECK-NOT: llvm.call @memrefCopy
// CHECK: llvm.func @kha_layer(
// CHECK: llvm.func @_mlir_ciface_kha_layer(
// CHECK-NOT: func.func
