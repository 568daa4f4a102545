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

/// `lhs x rhs` for two constant d x d matrices, computed in double and rounded
/// once to the element type.
static DenseElementsAttr multiplyConstants(DenseFPElementsAttr lhs,
                                           DenseFPElementsAttr rhs) {
  auto type = cast<ShapedType>(lhs.getType());
  int64_t n = type.getDimSize(0);
  auto toDoubles = [](DenseFPElementsAttr attr) {
    SmallVector<double> values;
    for (const APFloat &v : attr.getValues<APFloat>())
      values.push_back(v.convertToDouble() /* exact for f32/f16/bf16 */);
    return values;
  };
  SmallVector<double> a = toDoubles(lhs), b = toDoubles(rhs);
  const llvm::fltSemantics &semantics =
      cast<FloatType>(type.getElementType()).getFloatSemantics();
  SmallVector<APFloat> product;
  product.reserve(n * n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k)
        sum += a[i * n + k] * b[k * n + j];
      APFloat value(sum);
      bool losesInfo;
      value.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
      product.push_back(value);
    }
  }
  return DenseElementsAttr::get(type, product);
}

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
          rewriter, loc, cast<TypedAttr>(multiplyConstants(first, second)));
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
