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
#include "mlir/IR/Dominance.h"
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

/// The constant `attr` [r, c] transposed to [c, r].
static DenseFPElementsAttr transposeConstant(DenseFPElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  SmallVector<APFloat> values(attr.getValues<APFloat>());
  SmallVector<APFloat> transposed;
  transposed.reserve(values.size());
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r)
      transposed.push_back(values[r * cols + c]);
  return cast<DenseFPElementsAttr>(DenseElementsAttr::get(
      RankedTensorType::get({cols, rows}, type.getElementType()), transposed));
}

/// W [D, N*d] times T [d, d] per head block: W viewed as [D*N, d] (the same
/// row-major data), multiplied by T, viewed back as [D, N*d].
static Value foldWeights(PatternRewriter &rewriter, Location loc, Value weight,
                         Value transform, int64_t d) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rows = type.getDimSize(0), heads = type.getDimSize(1) / d;
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

/// The transposed layout Wt [N*d, D] (as nn.Linear stores it): block n of the
/// folded weight is (W_n T)^T = T^T Wt_n. Wt is viewed as [N, d, D], permuted
/// to [d, N*D] so that one [d, d] x [d, N*D] matmul folds every head, and
/// permuted back.
static Value foldTransposedWeights(PatternRewriter &rewriter, Location loc,
                                   Value weight, Value transform, int64_t d) {
  auto type = cast<RankedTensorType>(weight.getType());
  Type element = type.getElementType();
  int64_t heads = type.getDimSize(0) / d, cols = type.getDimSize(1);
  auto transposeTo = [&](Value value, ArrayRef<int64_t> shape,
                         ArrayRef<int64_t> permutation) -> Value {
    Value init = tensor::EmptyOp::create(rewriter, loc, shape, element);
    return linalg::TransposeOp::create(rewriter, loc, value, init, permutation)
        ->getResult(0);
  };
  Value transformT = transposeTo(transform, {d, d}, {1, 0});
  Value blocks = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({heads, d, cols}, element), weight,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  Value inner = transposeTo(blocks, {d, heads, cols}, {1, 0, 2});
  Value flat = tensor::CollapseShapeOp::create(
      rewriter, loc, inner, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value product = buildMatmul(rewriter, loc, transformT, flat);
  Value back = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({d, heads, cols}, element), product,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value outer = transposeTo(back, {heads, d, cols}, {1, 0, 2});
  return tensor::CollapseShapeOp::create(
      rewriter, loc, outer, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
}

/// The folded weight in the layout of `weight`: a new constant when both
/// matrices are constants, else the ops that compute it once per call.
static Value buildFoldedWeight(PatternRewriter &rewriter, Location loc,
                               Value weight, Value transform, int64_t d,
                               bool transposed) {
  auto type = cast<RankedTensorType>(weight.getType());
  DenseFPElementsAttr w, t;
  if (matchPattern(weight, m_Constant(&w)) &&
      matchPattern(transform, m_Constant(&t))) {
    if (transposed)
      w = transposeConstant(w);
    int64_t rows = w.getType().getDimSize(0);
    int64_t heads = w.getType().getDimSize(1) / d;
    auto product = cast<DenseFPElementsAttr>(multiplyConstantMatrices(
        cast<DenseFPElementsAttr>(w.reshape(RankedTensorType::get(
            {rows * heads, d}, type.getElementType()))),
        t).reshape(w.getType()));
    if (transposed)
      product = transposeConstant(product);
    return arith::ConstantOp::create(rewriter, loc, product);
  }
  return transposed ? foldTransposedWeights(rewriter, loc, weight, transform, d)
                    : foldWeights(rewriter, loc, weight, transform, d);
}

namespace {
/// Replaces the projection's weight operand by the folded weight, in place:
/// whatever form the contraction has (batched, broadcast, transposed maps,
/// generic) is kept, and the knock becomes the projection itself.
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

    // The folded weight is built where the weight enters the projection, so
    // the knock matrix must be available there.
    Operation *weightUser = projection->broadcast
                                ? projection->broadcast.getOperation()
                                : projection->contraction.getOperation();
    Value transform = knock.getTransform();
    if (!DominanceInfo().properlyDominates(transform, weightUser))
      return rewriter.notifyMatchFailure(
          knock, "knock matrix is defined after the projection");

    // The knock matrix in the weights' element type (the projection may
    // compute in f32 what the layer stores in f16/bf16).
    Type weightElement = weightType.getElementType();
    rewriter.setInsertionPoint(weightUser);
    Location loc =
        rewriter.getFusedLoc({projection->contraction.getLoc(), knock.getLoc()});
    if (getElementTypeOrSelf(transform.getType()) != weightElement) {
      if (!weightElement.isF32())
        return rewriter.notifyMatchFailure(knock, "mixed element types");
      transform = widenToF32(rewriter, loc, transform);
    }

    Value folded = buildFoldedWeight(rewriter, loc, weight, transform, d,
                                     projection->transposed);
    Value operand = folded;
    if (linalg::BroadcastOp broadcast = projection->broadcast) {
      operand = linalg::BroadcastOp::create(rewriter, loc, folded,
                                            broadcast.getInit(),
                                            broadcast.getDimensions())
                    ->getResult(0);
    }
    linalg::LinalgOp contraction = projection->contraction;
    rewriter.modifyOpInPlace(contraction, [&] {
      contraction.getDpsInputOperand(projection->weightInput)->set(operand);
    });
    if (projection->broadcast && projection->broadcast->use_empty())
      rewriter.eraseOp(projection->broadcast);
    rewriter.replaceOp(knock, knock.getInput());
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
