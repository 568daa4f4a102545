// kha-gpu-merge-kernel-modules: the outlined kernels move into one
// gpu.module; launches follow them, and a name clash is renamed.
// RUN: kha-opt %s -kha-gpu-merge-kernel-modules -split-input-file | FileCheck %s

// CHECK: gpu.module @kha_kernels
// CHECK-DAG: gpu.func @k(
// CHECK-DAG: gpu.func @k_0(
// CHECK-NOT: gpu.module
// CHECK-LABEL: func @host
// CHECK: gpu.launch_func @kha_kernels::@k blocks
// CHECK: gpu.launch_func @kha_kernels::@k_0 blocks
module attributes {gpu.container_module} {
  gpu.module @a {
    gpu.func @k(%m: memref<4xf32>) kernel { gpu.return }
  }
  gpu.module @b {
    gpu.func @k(%m: memref<4xf32>) kernel { gpu.return }
  }
  func.func @host(%m: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @a::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    gpu.launch_func @b::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    return
  }
}

// -----

// Kernel names become PTX identifiers (a function named "my layer" gives a
// kernel "my layer_kernel"; a leading digit gets a `_`); a module already
// called kha_kernels is merged like the others.
// CHECK: gpu.module @kha_kernels
// CHECK-DAG: gpu.func @my_layer_kernel(
// CHECK-DAG: gpu.func @_1st_kernel(
// CHECK-NOT: gpu.module
// CHECK-LABEL: func @"my layer"
// CHECK: gpu.launch_func @kha_kernels::@my_layer_kernel blocks
// CHECK: gpu.launch_func @kha_kernels::@_1st_kernel blocks
module attributes {gpu.container_module} {
  gpu.module @kha_kernels {
    gpu.func @"my layer_kernel"(%m: memref<4xf32>) kernel { gpu.return }
  }
  gpu.module @b {
    gpu.func @"1st-kernel"(%m: memref<4xf32>) kernel { gpu.return }
  }
  func.func @"my layer"(%m: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kha_kernels::@"my layer_kernel" blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    gpu.launch_func @b::@"1st-kernel" blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    return
  }
}
