//===- PipelineSteps.h - steps the CPU and GPU pipelines --------*- C++ -*-===//

#ifndef KHA_LIB_PIPELINES_PIPELINESTEPS_H
#define KHA_LIB_PIPELINES_PIPELINESTEPS_H

#include "kha/Pipelines/Pipelines.h"
#include "mlir/Pass/PassManager.h"

namespace mlir {
namespace kha {

/// One-shot bufferisation across function boundaries with identity layouts:
/// results are fresh buffers the caller owns.
void addBufferization(OpPassManager &pm);

/// Loops, vectors and math on host buffers to the LLVM dialect for the host
/// (public functions get a `_mlir_ciface_` entry point). `bf16Dot` is the
/// CPU pipeline's choice for AVX512-BF16 dot products: "avx512bf16" lowers
/// them to the instruction, "emulate" to f32 vector arithmetic with the
/// instruction's flushing of subnormals, "widen" to plain f32 FMAs.
void addHostLowering(OpPassManager &pm, StringRef bf16Dot = "none");

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_PIPELINES_PIPELINESTEPS_H
