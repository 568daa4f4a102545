//===- InitAll.h - register everything kha provides -------------*- C++ -*-===//

#ifndef KHA_INITALL_H
#define KHA_INITALL_H

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Pipelines/Pipelines.h"
#include "kha/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"

namespace mlir {
namespace kha {

/// Adds the kha dialect to `registry`.
inline void registerAllKHADialects(DialectRegistry &registry) {
  registry.insert<KHADialect>();
}

/// Registers every kha pass and named pipeline.
inline void registerAllKHAPasses() {
  registerKHAPasses();
  registerKHAConversionPasses();
  registerKHACodegenPasses();
  registerKHAPipelines();
}

/// Everything a context needs to run kha's pipelines: MLIR's dialects and
/// their extensions (among them the transform dialect's, which the CPU
/// schedule uses) and the kha dialect. The tools, the C API and Python use
/// it; an embedder that registers less may find `--kha-cpu-pipeline`
/// refusing an unknown transform op.
inline void registerKHAPipelineDependencies(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllKHADialects(registry);
}

/// kha's passes and pipelines and MLIR's own (canonicalize, cse, ...), so
/// that textual pipelines may mix them.
inline void registerKHAAndUpstreamPasses() {
  registerAllPasses();
  registerAllKHAPasses();
}

} // namespace kha
} // namespace mlir

#endif // KHA_INITALL_H
