//===- KHAOps.h - kha dialect operations ------------------------*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_IR_KHAOPS_H
#define KHA_DIALECT_KHA_IR_KHAOPS_H

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"

#define GET_OP_CLASSES
#include "kha/Dialect/KHA/IR/KHAOps.h.inc"

namespace mlir {
namespace kha {

/// Adds the knock simplifications: removal of knocks equal to their initial
/// value (also available as folders) and the composition of two linear knocks
/// in a row into one. These are the ops' canonicalization patterns.
void populateKnockSimplificationPatterns(RewritePatternSet &patterns);

} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_IR_KHAOPS_H
