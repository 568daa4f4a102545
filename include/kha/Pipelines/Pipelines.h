//===- Pipelines.h - the named kha pipelines ----------------------*- C++ -*-===//

#ifndef KHA_PIPELINES_PIPELINES_H
#define KHA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
namespace kha {

/// Options of `--kha-cpu-pipeline`.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> vectorize{
      *this, "vectorize",
      llvm::cl::desc("tile and vectorise matmuls and attention (off: plain "
                     "loops, for debugging)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> foldKnocks{
      *this, "fold-knocks",
      llvm::cl::desc("fold linear knocks into the projection weights "
                     "(kha-fold-knock)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseKnockMlp{
      *this, "fuse-knock-mlp",
      llvm::cl::desc("fuse MLP knocks into the value projection "
                     "(kha-fuse-knock-mlp)"),
      llvm::cl::init(true)};
  PassOptions::Option<std::string> scheduleFile{
      *this, "schedule-file",
      llvm::cl::desc("a transform script to use instead of the built-in CPU "
                     "schedule (for experiments)"),
      llvm::cl::init("")};
};

/// Lowers a module of kha (and linalg) ops on tensors to the LLVM dialect for
/// the host CPU: kha to linalg, bufferisation with deallocation, the CPU
/// schedule, then the standard conversions to LLVM. Public functions get a
/// `_mlir_ciface_` entry point.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `--kha-cpu-pipeline`.
void registerKHAPipelines();

} // namespace kha
} // namespace mlir

#endif // KHA_PIPELINES_PIPELINES_H
