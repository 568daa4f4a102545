//===- Builders.h - IR construction helpers shared by kha rewrites -*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_UTILS_BUILDERS_H
#define KHA_DIALECT_KHA_UTILS_BUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir {
namespace kha {

/// Builds `lhs [M, K] x rhs [K, N]` as a `linalg.matmul` on tensors. The product
/// is accumulated in f32 whatever the operands' element type, and truncated back
/// to that type afterwards when it is narrower (f16, bf16).
Value buildMatmul(OpBuilder &builder, Location loc, Value lhs, Value rhs);

/// The sizes of `value`'s dimensions as OpFoldResults: static sizes as index
/// attributes, dynamic ones through `tensor.dim`.
SmallVector<OpFoldResult> getDims(OpBuilder &builder, Location loc,
                                  Value value);

} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_UTILS_BUILDERS_H
