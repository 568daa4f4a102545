//===- KnockSimplification.cpp - canonical forms of knocks ----------------===//
//
// Knocks equal to their initial value fold away (KHAOps.cpp); this file adds
// the composition of two linear knocks in a row, (X T1) T2 = X (T1 T2).
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::kha;

namespace {
/// linear_knock(linear_knock(x, T1), T2) -> linear_knock(x, T1 T2), when the
/// inner knock has no other user (otherwise it would be computed anyway).
struct ComposeLinearKnocks : OpRewritePattern<LinearKnockOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearKnockOp outer,
                                PatternRewriter &rewriter) const override {
    auto inner = outer.getInput().getDefiningOp<LinearKnockOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(outer, "input is not a linear knock");
    if (!inner->hasOneUse())
      return rewriter.notifyMatchFailure(outer, "inner knock has other users");

    Location loc = rewriter.getFusedLoc({inner.getLoc(), outer.getLoc()});
    DenseFPElementsAttr first, second;
    Value composed;
    if (matchPattern(inner.getTransform(), m_Constant(&first)) &&
        matchPattern(outer.getTransform(), m_Constant(&second))) {
      composed = arith::ConstantOp::create(
          rewriter, loc,
          cast<TypedAttr>(multiplyConstantMatrices(first, second)));
    } else {
      composed = buildMatmul(rewriter, loc, inner.getTransform(),
                             outer.getTransform());
    }
    rewriter.replaceOpWithNewOp<LinearKnockOp>(outer, outer.getType(),
                                               inner.getInput(), composed);
    return success();
  }
};
} // namespace

void kha::populateKnockSimplificationPatterns(RewritePatternSet &patterns) {
  patterns.add<ComposeLinearKnocks>(patterns.getContext());
}

void LinearKnockOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                MLIRContext *context) {
  populateKnockSimplificationPatterns(results);
}
