//===- Passes.h - kha dialect passes ----------------------------*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_TRANSFORMS_PASSES_H
#define KHA_DIALECT_KHA_TRANSFORMS_PASSES_H

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace kha {

#define GEN_PASS_DECL
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"

/// Adds the pattern that rewrites kha.attention_block into linalg projections
/// and mid-level kha ops.
void populateExpandAttentionBlockPatterns(RewritePatternSet &patterns);

/// Adds the pattern folding a linear knock into the projection that feeds it.
void populateFoldKnockPatterns(RewritePatternSet &patterns);

/// Fuses `knock` and the value projection feeding it (matched as
/// kha-fold-knock matches it) into one loop nest over tiles of one batch
/// entry and `rows` tokens, through upstream tile-and-fuse; fails, leaving
/// the IR as it was, where it cannot.
LogicalResult fuseKnockMlpIntoProjection(PatternRewriter &rewriter,
                                         MlpKnockOp knock, int64_t rows);

/// Adds the pattern raising linalg attention to kha.sdpa
/// (kha-raise-attention).
void populateRaiseAttentionPatterns(RewritePatternSet &patterns);

/// Adds the patterns raising head-shared d x d products to kha.linear_knock
/// (kha-raise-knocks).
void populateRaiseKnocksPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"

} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_TRANSFORMS_PASSES_H
