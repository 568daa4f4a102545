//===- InitAll.h - register everything kha provides ---------------*- C++ -*-===//

#ifndef KHA_INITALL_H
#define KHA_INITALL_H

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Pipelines/Pipelines.h"
#include "kha/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"

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

} // namespace kha
} // namespace mlir

#endif // KHA_INITALL_H
