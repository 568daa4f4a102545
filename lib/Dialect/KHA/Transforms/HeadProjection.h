//===- HeadProjection.h - match a projection split into heads -----*- C++ -*-===//
//
// Shared by the knock fusions: the IR any frontend emits for "project, then
// split the columns into heads".
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H
#define KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace kha {

/// `%h = tensor.expand_shape (arith.truncf? (linalg.matmul ins(%x, %w)
/// outs(zero fill))) [[0, 1], [2, 3]]`: [M, N*d] -> [B, L, N, d].
struct HeadProjection {
  tensor::ExpandShapeOp expand;
  arith::TruncFOp trunc; // null when the projection is not rounded
  linalg::MatmulOp matmul;

  Value tokens() { return matmul.getDpsInputs()[0]; }
  Value weight() { return matmul.getDpsInputs()[1]; }
  /// Erases the matched ops, once the heads value has no user left.
  void erase(PatternRewriter &rewriter);
};

/// Matches the projection producing `heads` (the input of `user`), where each
/// matched op has a single user, so that rewriting it loses nothing; the
/// weights must be static [D, N*d] with the head width d of `heads`.
FailureOr<HeadProjection> matchHeadProjection(Value heads, Operation *user,
                                              PatternRewriter &rewriter);

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H
