//===- KHADialect.h - the kha dialect ---------------------------*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_IR_KHADIALECT_H
#define KHA_DIALECT_KHA_IR_KHADIALECT_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

#include "kha/Dialect/KHA/IR/KHAOpsDialect.h.inc"

#include "kha/Dialect/KHA/IR/KHAEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "kha/Dialect/KHA/IR/KHAAttrs.h.inc"

namespace mlir {
namespace kha {
/// `kha.weight` (unit) on a function argument: a weight, bound once by the
/// caller and read by every call (kha-outline-weight-preparation).
inline constexpr llvm::StringLiteral kWeightAttrName = "kha.weight";
/// `kha.prepare = [@f_prepare, @f_prepared]` on a function whose work on its
/// weights alone was outlined.
inline constexpr llvm::StringLiteral kPrepareAttrName = "kha.prepare";
} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_IR_KHADIALECT_H
