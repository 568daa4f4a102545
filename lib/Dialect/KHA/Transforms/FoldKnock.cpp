//===- FoldKnock.cpp - fold linear knocks into projection weights ---------===//
//
// (x W_n) T = x (W_n T): the shared matrix joins every head block of the
// projection weights, and the knock costs nothing per token.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "HeadProjection.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFOLDKNOCKPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

/// W [D, N*d] times T [d, d] per head block: W viewed as [D*N, d] (the same
/// row-major data), multiplied by T, viewed back as [D, N*d].
static Value foldWeights(PatternRewriter &rewriter, Location loc, Value weight,
                         Value transform, int64_t d) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rows = type.getDimSize(0), heads = type.getDimSize(1) / d;
  DenseFPElementsAttr w, t;
  if (matchPattern(weight, m_Constant(&w)) &&
      matchPattern(transform, m_Constant(&t))) {
    DenseElementsAttr product = multiplyConstantMatrices(
        cast<DenseFPElementsAttr>(w.reshape(
            RankedTensorType::get({rows * heads, d}, type.getElementType()))),
        t);
    return arith::ConstantOp::create(
        rewriter, loc, cast<TypedAttr>(product.reshape(type)));
  }
  auto blocks = RankedTensorType::get({rows, heads, d}, type.getElementType());
  Value perHead = tensor::ExpandShapeOp::create(
      rewriter, loc, blocks, weight,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value flat = tensor::CollapseShapeOp::create(
      rewriter, loc, perHead, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  Value product = buildMatmul(rewriter, loc, flat, transform);
  Value back = tensor::ExpandShapeOp::create(
      rewriter, loc, blocks, product,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  return tensor::CollapseShapeOp::create(
      rewriter, loc, back, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
}

namespace {
struct FoldLinearKnockIntoProjection : OpRewritePattern<LinearKnockOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearKnockOp knock,
                                PatternRewriter &rewriter) const override {
    FailureOr<HeadProjection> projection =
        matchHeadProjection(knock.getInput(), knock, rewriter);
    if (failed(projection))
      return failure();
    Value weight = projection->weight();
    auto weightType = cast<RankedTensorType>(weight.getType());
    int64_t d = knock.getType().getDimSize(3);

    // The knock matrix in the weights' element type (the projection may
    // compute in f32 what the layer stores in f16/bf16).
    Value transform = knock.getTransform();
    Type weightElement = weightType.getElementType();
    if (getElementTypeOrSelf(transform.getType()) != weightElement) {
      if (!weightElement.isF32())
        return rewriter.notifyMatchFailure(knock, "mixed element types");
      transform = widenToF32(rewriter, knock.getLoc(), transform);
    }

    linalg::MatmulOp matmul = projection->matmul;
    Location loc = rewriter.getFusedLoc({matmul.getLoc(), knock.getLoc()});
    Value folded = foldWeights(rewriter, loc, weight, transform, d);
    Value product =
        linalg::MatmulOp::create(rewriter, loc,
                                 ValueRange{projection->tokens(), folded},
                                 ValueRange{matmul.getDpsInits()[0]})
            .getResult(0);
    if (projection->trunc)
      product = arith::TruncFOp::create(rewriter, loc,
                                        projection->trunc.getType(), product);
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        knock, knock.getType(), product,
        projection->expand.getReassociationIndices(),
        projection->expand.getMixedOutputShape());
    projection->erase(rewriter);
    return success();
  }
};

struct FoldKnockPass : kha::impl::KHAFoldKnockPassBase<FoldKnockPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFoldKnockPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateFoldKnockPatterns(RewritePatternSet &patterns) {
  patterns.add<FoldLinearKnockIntoProjection>(patterns.getContext());
}
