// kha-gpu-merge-kernel-modules: the outlined kernels move into one
// gpu.module; launches follow them, and a name clash is renamed.
// RUN: kha-opt %s -kha-gpu-merge-kernel-modules | FileCheck %s

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
