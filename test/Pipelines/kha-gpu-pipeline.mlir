// --kha-gpu-pipeline: a kha layer to one embedded kernel image (PTX for the
// chip asked) and host code calling the mgpu* runtime, with no conversion
// casts left; bad options are errors.
// RUN: kha-opt %s --kha-gpu-pipeline="chip=sm_90a format=isa" | FileCheck %s
// RUN: kha-opt %s --kha-gpu-pipeline="chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: kha-opt %s --kha-gpu-pipeline="host-emulation" | FileCheck %s --check-prefix=HOST
// RUN: not kha-opt %s --kha-gpu-pipeline="chip=sm_75" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not kha-opt %s --kha-gpu-pipeline="format=elf" 2>&1 | FileCheck %s --check-prefix=FORMAT

// CHECK-LABEL: llvm.func @layer(
// CHECK: llvm.call @mgpuStreamCreate
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @kha_kernels::@
// CHECK: llvm.call @mgpuMemFree
// CHECK: llvm.call @mgpuStreamSynchronize
// CHECK-LABEL: llvm.func @_mlir_ciface_layer(
// CHECK: gpu.binary @kha_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .target sm_90a
// CHECK-NOT: gpu.binary
// CHECK-NOT: unrealized_conversion_cast
// SM80: chip = "sm_80"
// CHECK-NOT: kha.
// host-emulation: the same kernels as host loops in plain LLVM, no runtime
// calls, no kernel image.
// HOST-NOT: mgpu
// HOST-NOT: gpu.
// HOST-LABEL: llvm.func @layer(
// HOST: llvm.alloca
// HOST-NOT: mgpu
// HOST-NOT: gpu.
// HOST-LABEL: llvm.func @_mlir_ciface_layer(
// HOST-NOT: gpu.binary
// HOST-NOT: unrealized_conversion_cast
// CHIP: error: kha-gpu-pipeline: chip must be sm_80, sm_86, sm_89, sm_90 or sm_90a, got 'sm_75'
// FORMAT: error: kha-gpu-pipeline: format must be isa, bin or fatbin, got 'elf'
func.func @layer(%x: tensor<?x4x2x8xf32>, %t: tensor<8x8xf32>, %w: tensor<8xf32>) -> tensor<?x4x2x8xf32> {
  %k = kha.linear_knock %x, %t : tensor<?x4x2x8xf32>, tensor<8x8xf32>
  %n = kha.rms_norm %k, %w {epsilon = 1.0e-6 : f64} : tensor<?x4x2x8xf32>, tensor<8xf32>
  %r = kha.rope %n {theta = 10000.0 : f64} : tensor<?x4x2x8xf32>
  %sdpa_c1_0 = arith.constant 0 : index
  %sdpa_d1_0 = tensor.dim %r, %sdpa_c1_0 : tensor<?x4x2x8xf32>
  %sdpa_init = tensor.empty(%sdpa_d1_0) : tensor<?x4x2x8xf32>
  %o = kha.sdpa %r, %r, %r outs(%sdpa_init) {causal, scale = 0.35 : f64} : (tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>, tensor<?x4x2x8xf32>) -> tensor<?x4x2x8xf32>
  return %o : tensor<?x4x2x8xf32>
}
