//===- GPUTarget.h - the default NVIDIA GPU kha compiles for ----*- C++ -*-===//
//
// One default for every tool, pass, pipeline and API that takes a chip:
// kha-opt's --kha-gpu-pipeline and kha-gpu-select-kernels, kha-compile's
// --cuda-chip, the C API's khaCompileOptions.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_SUPPORT_GPUTARGET_H
#define KHA_SUPPORT_GPUTARGET_H

namespace mlir {
namespace kha {

/// Hopper (H100/H200): the TMA + wgmma kernels.
inline constexpr const char kDefaultCudaChip[] = "sm_90a";

} // namespace kha
} // namespace mlir

#endif // KHA_SUPPORT_GPUTARGET_H
