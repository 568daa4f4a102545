// kha-verify-lowered: only what the translation to LLVM IR takes may be left
// (the LLVM dialect, gpu.binary, gpu.launch_func); the first other op is
// named, and an unrealized cast points at what it stands for.
// RUN: kha-opt %s -kha-verify-lowered -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: llvm.func @lowered
module attributes {gpu.container_module} {
  gpu.binary @kernels [#gpu.object<#nvvm.target, "">]
  llvm.func @lowered(%x: f32) -> f32 {
    %c1 = llvm.mlir.constant(1 : index) : i64
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64
    llvm.return %x : f32
  }
}

// -----

llvm.func @left(%x: f32) -> f32 {
  // expected-error @+1 {{'math.erf' was not lowered to the LLVM dialect by the pipeline}}
  %y = math.erf %x : f32
  llvm.return %y : f32
}

// -----

llvm.func @cast(%x: f32) -> i64 {
  // expected-note @+1 {{it stands for the result of 'llvm.fptosi'}}
  %i = llvm.fptosi %x : f32 to i32
  // expected-error @+1 {{'builtin.unrealized_conversion_cast' was not lowered to the LLVM dialect by the pipeline}}
  %c = builtin.unrealized_conversion_cast %i : i32 to i64
  llvm.return %c : i64
}
