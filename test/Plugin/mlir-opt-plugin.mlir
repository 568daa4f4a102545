// Debian's stock mlir-opt-22 loads libKHAPlugin.so: it parses kha IR (dialect
// plugin) and runs kha passes and the CPU pipeline (pass plugin).
// RUN: %mlir_opt --load-dialect-plugin=%kha_plugin --load-pass-plugin=%kha_plugin %s \
// RUN:   --pass-pipeline="builtin.module(func.func(kha-simplify-knocks))" | FileCheck %s
// RUN: %mlir_opt --load-dialect-plugin=%kha_plugin --load-pass-plugin=%kha_plugin %s \
// RUN:   --pass-pipeline="builtin.module(kha-lower-to-linalg)" | FileCheck %s --check-prefix=LINALG
// RUN: %mlir_opt --load-dialect-plugin=%kha_plugin --load-pass-plugin=%kha_plugin %s \
// RUN:   --pass-pipeline="builtin.module(kha-cpu-pipeline)" | FileCheck %s --check-prefix=LLVM
// Without the dialect plugin, kha IR is foreign to mlir-opt.
// RUN: not %mlir_opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// Two linear knocks compose into one by T1 T2.
// CHECK-LABEL: func @compose
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x2x4xf32>, %[[T:.*]]: tensor<4x4xf32>, %[[U:.*]]: tensor<4x4xf32>)
// CHECK: %[[TU:.*]] = linalg.matmul ins(%[[T]], %[[U]] : tensor<4x4xf32>, tensor<4x4xf32>)
// CHECK: %[[K:.*]] = kha.linear_knock %[[X]], %[[TU]]
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[K]]
// LINALG-LABEL: func @compose
// LINALG-NOT: kha.
// LINALG: linalg.matmul
// LLVM: llvm.func @compose
// LLVM-NOT: kha.
// NOPLUGIN: error: Dialect `kha' not found for custom op 'kha.linear_knock'
func.func @compose(%x: tensor<1x2x2x4xf32>, %t: tensor<4x4xf32>, %u: tensor<4x4xf32>) -> tensor<1x2x2x4xf32> {
  %a = kha.linear_knock %x, %t : tensor<1x2x2x4xf32>, tensor<4x4xf32>
  %b = kha.linear_knock %a, %u : tensor<1x2x2x4xf32>, tensor<4x4xf32>
  return %b : tensor<1x2x2x4xf32>
}
