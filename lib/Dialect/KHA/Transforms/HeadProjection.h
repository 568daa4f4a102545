//===- HeadProjection.h - match a projection split into heads ---*- C++ -*-===//
//
// Shared by the knock fusions: the IR any frontend emits for "project, then
// split the columns into heads".
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H
#define KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H

#include "kha/Dialect/KHA/Utils/Builders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace kha {

/// `%h = tensor.expand_shape (arith.truncf? (C = A B)) [..., [r-1, r]]` where
/// C = A B is any linalg contraction from a zero fill (linalg.matmul,
/// linalg.batch_matmul, their transposed/broadcast indexing maps, or a
/// linalg.generic multiply-add) whose output columns are the heads' N*d
/// columns, and B is one [D, N*d] weight matrix, or its transpose [N*d, D],
/// used as it is or broadcast over a batch (by the indexing map or by a
/// linalg.broadcast).
struct HeadProjection {
  tensor::ExpandShapeOp expand;
  arith::TruncFOp trunc; // null when the projection is not rounded
  linalg::LinalgOp contraction;
  linalg::BroadcastOp broadcast; // null unless B is a linalg.broadcast
  unsigned weightInput = 1;      // which input of the contraction is B
  bool transposed = false;       // the weight is stored [N*d, D]

  Value tokens() { return contraction.getDpsInputs()[1 - weightInput]; }
  /// The 2-D weight matrix, before any broadcast.
  Value weight() {
    return broadcast ? broadcast.getInput()
                     : contraction.getDpsInputs()[weightInput];
  }
  /// True for the form our own lowering emits and the MLP fusion rewrites:
  /// linalg.matmul with its default maps, x [M, D] times W [D, N*d].
  bool isPlainMatmul();
  /// Erases the matched ops, once the heads value has no user left.
  void erase(PatternRewriter &rewriter);
};

/// Matches the projection producing `heads` (the input of `user`), where each
/// matched op has a single user, so that rewriting it loses nothing; the
/// weights must be static with the head width d of `heads`.
FailureOr<HeadProjection> matchHeadProjection(Value heads, Operation *user,
                                              PatternRewriter &rewriter);

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_DIALECT_KHA_TRANSFORMS_HEADPROJECTION_H
