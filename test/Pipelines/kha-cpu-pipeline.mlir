// --kha-cpu-pipeline lowers a whole layer to the LLVM dialect with a C entry
// point, and calls nothing but malloc/free and libm (self-contained libraries)
// and, for threads, OpenMP: the attention tiles and the projections' blocks
// run in OpenMP work-sharing loops with a dynamic schedule. threads=false
// leaves no OpenMP.
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline | FileCheck %s --check-prefix=THREADS
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline="threads=false" | FileCheck %s --check-prefix=ONE
// THREADS: omp.parallel
// THREADS: omp.wsloop schedule(dynamic)
// ONE-NOT: omp.
// ONE: llvm.func @_mlir_ciface_kha_layer(
// ONE-NOT: omp.
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline | FileCheck %s
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline="vectorize=false" | FileCheck %s
// The register tiles follow vector-bits (kha-compile sets it from the
// target's features); another width is an error.
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline="vector-bits=256" | FileCheck %s
// RUN: kha-translate --import-layer-config %examples/mqa.json | kha-opt --kha-cpu-pipeline="vector-bits=128" | FileCheck %s
// RUN: not kha-opt %s --kha-cpu-pipeline="vector-bits=384" 2>&1 | FileCheck %s --check-prefix=BITS
// BITS: kha-cpu-pipeline: vector-bits must be 128, 256 or 512, got 384

// CHECK-NOT: kha.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// CHECK-NOT: llvm.call @memrefCopy
// CHECK: llvm.func @kha_layer(
// CHECK: llvm.func @_mlir_ciface_kha_layer(
// CHECK-NOT: func.func
