//===- AttentionMatcher.h - recognise attention in linalg IR ----*- C++ -*-===//
//
// The analysis behind kha-raise-attention: given the contraction that
// multiplies probabilities by values, finds the scaled dot-product attention
// that computes it, whatever form the frontend wrote it in.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_DIALECT_KHA_TRANSFORMS_ATTENTIONMATCHER_H
#define KHA_DIALECT_KHA_TRANSFORMS_ATTENTIONMATCHER_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <optional>
#include <string>

namespace mlir {
namespace kha {

/// A query, key or value operand traced back through transposes, constant
/// scalings and (keys and values) the broadcast that repeats key/value heads
/// for grouped-query attention. `dims` gives, for each role, the dimension of
/// `source` that holds it, in the order [batch..., sequence, feature] (0 to 2
/// batch dimensions, as the attention has).
struct AttentionOperand {
  Value source;
  SmallVector<int64_t> dims;
  /// Query heads per source head on the last batch dimension (GQA).
  int64_t headRepeat = 1;
  /// The product of the constant factors the operand was multiplied by.
  double scale = 1.0;
};

/// An additive mask: `tensor` read at `map` (from the scores' dimensions
/// [batch..., L, S] to the tensor's), times `coefficient`.
struct AttentionMask {
  Value tensor;
  AffineMap map;
  double coefficient = 1.0;
};

/// `O = softmax(scale * Q K^T + mask [+ causal]) V`, as found.
struct AttentionMatch {
  /// The contraction producing the scores and the one producing O.
  linalg::LinalgOp scores, output;
  /// Batch dimensions of the contractions, 0 to 2: [B, H], [B*H] or none.
  unsigned numBatch = 0;
  AttentionOperand query, key, value;
  double scale = 1.0;
  bool causal = false;
  std::optional<AttentionMask> mask;
  /// For each role of O, [batch..., L, dv], its dimension in O.
  SmallVector<int64_t> outputDims;
};

/// Matches the attention whose last contraction is `output`. On failure,
/// `why` says what did not match.
FailureOr<AttentionMatch> matchAttention(linalg::LinalgOp output,
                                         std::string &why);

} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_TRANSFORMS_ATTENTIONMATCHER_H
