// kha-verify-pipeline-input: kha ops the pipelines cannot lower are errors
// at the op; kha ops at the top level of a function pass, as does anything
// without kha ops.
// RUN: kha-opt %s -kha-verify-pipeline-input -split-input-file -verify-diagnostics | FileCheck %s
// RUN: not kha-opt %s -kha-cpu-pipeline -split-input-file 2>&1 | FileCheck %s --check-prefix=PIPELINE

// CHECK-LABEL: func @top_level
// CHECK: kha.rope
func.func @top_level(%x: tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32> {
  %0 = kha.rope %x {theta = 10000.0 : f64} : tensor<2x4x2x8xf32>
  return %0 : tensor<2x4x2x8xf32>
}

// -----

module {
  module @inner {
    func.func @f(%x: tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32> {
      // expected-error @+1 {{'kha.rope' is inside the nested module @inner, which the kha pipelines do not lower; run the pipeline on that module itself}}
      %0 = kha.rope %x {theta = 10000.0 : f64} : tensor<2x4x2x8xf32>
      return %0 : tensor<2x4x2x8xf32>
    }
  }
  // A nested module without kha ops is fine.
  module @plain {
    func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
      return %x : tensor<4xf32>
    }
  }
}
// PIPELINE: error: 'kha.rope' is inside the nested module @inner

// -----

func.func @in_loop(%x: tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%a = %x) -> tensor<2x4x2x8xf32> {
    // expected-error @+1 {{'kha.rope' inside 'scf.for' is not supported: the kha pipelines lower kha ops at the top level of a function body}}
    %0 = kha.rope %a {theta = 10000.0 : f64} : tensor<2x4x2x8xf32>
    scf.yield %0 : tensor<2x4x2x8xf32>
  }
  return %r : tensor<2x4x2x8xf32>
}
// PIPELINE: error: 'kha.rope' inside 'scf.for' is not supported
