//===- GPUTarget.h - the default NVIDIA GPU kha compiles for ----*- C++ -*-===//
//
// One default for every tool, pass, pipeline and API that takes a chip:
// kha-opt's --kha-gpu-pipeline and the kernel generator passes,
// kha-compile's --cuda-chip, the C API's khaCompileOptions.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_SUPPORT_GPUTARGET_H
#define KHA_SUPPORT_GPUTARGET_H

#include <string>

namespace mlir {
namespace kha {

/// Hopper (H100/H200): the TMA + wgmma kernels.
inline constexpr const char kDefaultCudaChip[] = "sm_90a";

/// What the GPU kernel generators build for.
struct KernelTarget {
  /// The NVIDIA GPU (sm_80 ... sm_90a).
  std::string chip = kDefaultCudaChip;
  /// Whether kernels may use the tensor cores (else every op gets the SIMT
  /// kernels).
  bool tensorCores = true;
};

} // namespace kha
} // namespace mlir

#endif // KHA_SUPPORT_GPUTARGET_H
