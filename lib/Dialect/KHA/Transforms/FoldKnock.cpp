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

/// W [R, N*d] with each column block W_n multiplied by T [d, d] on the
/// right: W viewed as [R*N, d] (the same row-major data), times T, viewed
/// back. A new constant when both are constants.
static Value multiplyColumnBlocks(PatternRewriter &rewriter, Location loc,
                                  Value weight, Value transform, int64_t d) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rows = type.getDimSize(0), heads = type.getDimSize(1) / d;
  DenseFPElementsAttr w, t;
  if (matchPattern(weight, m_Constant(&w)) &&
      matchPattern(transform, m_Constant(&t))) {
    DenseElementsAttr product = multiplyConstantMatrices(
        cast<DenseFPElementsAttr>(w.reshape(
            RankedTensorType::get({rows * heads, d}, type.getElementType()))),
        t);
    return arith::ConstantOp::create(rewriter, loc,
                                     cast<TypedAttr>(product.reshape(type)));
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

/// W [N*d, C] with each row block W_n multiplied by M [d, d] on the left:
/// W viewed as [N, d, C], permuted to [d, N*C] so that one [d, d] x [d, N*C]
/// matmul does every block, and permuted back. A new constant when both are
/// constants (M W_n = (W_n^T M^T)^T, the column-block product of W^T).
static Value multiplyRowBlocks(PatternRewriter &rewriter, Location loc,
                               Value matrix, Value weight, int64_t d) {
  auto type = cast<RankedTensorType>(weight.getType());
  Type element = type.getElementType();
  int64_t heads = type.getDimSize(0) / d, cols = type.getDimSize(1);
  DenseFPElementsAttr w, m;
  if (matchPattern(weight, m_Constant(&w)) &&
      matchPattern(matrix, m_Constant(&m))) {
    auto wt = transposeConstant(w);
    auto product = cast<DenseFPElementsAttr>(
        multiplyConstantMatrices(
            cast<DenseFPElementsAttr>(
                wt.reshape(RankedTensorType::get({cols * heads, d}, element))),
            transposeConstant(m))
            .reshape(wt.getType()));
    return arith::ConstantOp::create(rewriter, loc, transposeConstant(product));
  }
  auto transposeTo = [&](Value value, ArrayRef<int64_t> shape,
                         ArrayRef<int64_t> permutation) -> Value {
    Value init = tensor::EmptyOp::create(rewriter, loc, shape, element);
    return linalg::TransposeOp::create(rewriter, loc, value, init, permutation)
        ->getResult(0);
  };
  Value blocks = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({heads, d, cols}, element), weight,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  Value inner = transposeTo(blocks, {d, heads, cols}, {1, 0, 2});
  Value flat = tensor::CollapseShapeOp::create(
      rewriter, loc, inner, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value product = buildMatmul(rewriter, loc, matrix, flat);
  Value back = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({d, heads, cols}, element), product,
      ArrayRef<ReassociationIndices>{{0}, {1, 2}});
  Value outer = transposeTo(back, {heads, d, cols}, {1, 0, 2});
  return tensor::CollapseShapeOp::create(
      rewriter, loc, outer, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
}

/// The weight with the knock T folded in, in the layout of `weight`:
/// [D, N*d] -> W_n T; transposed [N*d, D] (nn.Linear's layout) ->
/// (W_n T)^T = T^T Wt_n.
static Value buildFoldedWeight(PatternRewriter &rewriter, Location loc,
                               Value weight, Value transform, int64_t d,
                               bool transposed) {
  if (!transposed)
    return multiplyColumnBlocks(rewriter, loc, weight, transform, d);
  return multiplyRowBlocks(rewriter, loc,
                           buildTransposedMatrix(rewriter, loc, transform),
                           weight, d);
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
    Location loc = rewriter.getFusedLoc(
        {projection->contraction.getLoc(), knock.getLoc()});
    if (getElementTypeOrSelf(transform.getType()) != weightElement) {
      if (!weightElement.isF32())
        return rewriter.notifyMatchFailure(knock, "mixed element types");
      transform = widenToF32(rewriter, loc, transform);
    }

    Value folded = buildFoldedWeight(rewriter, loc, weight, transform, d,
                                     projection->transposed);
    // Computed in f32, kept in the element type the weights are stored in,
    // so that a f16/bf16 projection still multiplies narrow operands.
    folded = roundThrough(rewriter, loc, folded, storageElementType(weight));
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

/// The MLP knock's down projection is linear, and so is attention in its
/// values: with V' = M D (M the gated part, per key/value head),
///   O_h = P_h V'_g = (P_h M_g) D   and   y = sum_h O_h Wo_h = sum_h (P_h M_g)
///   (D Wo_h),
/// so D joins every row block of the output projection (Wo_h <- D Wo_h) and
/// the knock keeps only its up and gate matmuls (down becomes the identity,
/// which costs nothing).
struct FoldMlpDownIntoOutputProjection : OpRewritePattern<MlpKnockOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MlpKnockOp knock,
                                PatternRewriter &rewriter) const override {
    Value down = knock.getDown();
    if (isConstantIdentity(down))
      return rewriter.notifyMatchFailure(knock, "down is already the identity");
    if (!knock->hasOneUse())
      return rewriter.notifyMatchFailure(knock,
                                         "knocked values have other users");
    auto sdpa = dyn_cast<SDPAOp>(*knock->user_begin());
    if (!sdpa || sdpa.getValue() != knock.getResult() ||
        sdpa.getQuery() == knock.getResult() ||
        sdpa.getKey() == knock.getResult() || !sdpa->hasOneUse())
      return rewriter.notifyMatchFailure(
          knock, "not the values of an attention whose output has one user");
    auto collapse = dyn_cast<tensor::CollapseShapeOp>(*sdpa->user_begin());
    if (!collapse ||
        collapse.getReassociationIndices().back() != ReassociationIndices{2, 3})
      return rewriter.notifyMatchFailure(
          knock, "attention heads are not merged into the output projection");
    // One projection reads the merged heads; with dynamic sizes, tensor.dim
    // ops read their sizes too, which the fold leaves valid.
    SmallVector<Operation *> readers;
    for (Operation *user : collapse->getUsers())
      if (!isa<tensor::DimOp>(user))
        readers.push_back(user);
    if (readers.size() != 1)
      return rewriter.notifyMatchFailure(
          knock, "merged attention heads have other users");
    auto matmul = dyn_cast<linalg::MatmulOp>(readers.front());
    if (!matmul || matmul.hasUserDefinedMaps() ||
        matmul.getDpsInputs()[0] != collapse.getResult() ||
        !isZeroFilled(matmul.getDpsInits()[0]))
      return rewriter.notifyMatchFailure(
          knock, "attention output does not feed a plain output projection");
    Value weight = matmul.getDpsInputs()[1];
    auto weightType = cast<RankedTensorType>(weight.getType());
    int64_t d = knock.getType().getDimSize(3);
    if (!weightType.hasStaticShape() || weightType.getDimSize(0) % d != 0)
      return rewriter.notifyMatchFailure(knock,
                                         "output weights are not [H*d, D]");
    if (!DominanceInfo().properlyDominates(down, matmul))
      return rewriter.notifyMatchFailure(
          knock, "down matrix is defined after the output projection");
    Type weightElement = weightType.getElementType();
    if (getElementTypeOrSelf(down.getType()) != weightElement &&
        !weightElement.isF32())
      return rewriter.notifyMatchFailure(knock, "mixed element types");

    Location loc = rewriter.getFusedLoc({knock.getLoc(), matmul.getLoc()});
    rewriter.setInsertionPoint(matmul);
    Value matrix = down;
    if (getElementTypeOrSelf(matrix.getType()) != weightElement)
      matrix = widenToF32(rewriter, loc, matrix);
    // Wo_h <- D Wo_h for every row block of Wo [H*d, D].
    Value folded = multiplyRowBlocks(rewriter, loc, matrix, weight, d);
    folded = roundThrough(rewriter, loc, folded, storageElementType(weight));
    rewriter.modifyOpInPlace(
        matmul, [&] { matmul.getDpsInputOperand(1)->set(folded); });

    rewriter.setInsertionPoint(knock);
    auto downType = cast<RankedTensorType>(down.getType());
    auto element = cast<FloatType>(downType.getElementType());
    SmallVector<APFloat> identity;
    for (int64_t i = 0; i < d * d; ++i)
      identity.push_back(
          APFloat(element.getFloatSemantics(), i / d == i % d ? 1 : 0));
    Value eye = arith::ConstantOp::create(
        rewriter, knock.getLoc(),
        DenseElementsAttr::get(downType, ArrayRef<APFloat>(identity)));
    rewriter.modifyOpInPlace(knock,
                             [&] { knock.getDownMutable().assign(eye); });
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
  patterns.add<FoldLinearKnockIntoProjection, FoldMlpDownIntoOutputProjection>(
      patterns.getContext());
}
