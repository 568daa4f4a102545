//===- Passes.h - kha conversion passes ---------------------------*- C++ -*-===//

#ifndef KHA_CONVERSION_PASSES_H
#define KHA_CONVERSION_PASSES_H

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Pass/Pass.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"

namespace mlir {
namespace kha {

#define GEN_PASS_DECL
#include "kha/Conversion/Passes.h.inc"

/// Adds the patterns lowering each mid-level kha op to linalg on tensors.
void populateKHAToLinalgConversionPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "kha/Conversion/Passes.h.inc"

} // namespace kha
} // namespace mlir

#endif // KHA_CONVERSION_PASSES_H
