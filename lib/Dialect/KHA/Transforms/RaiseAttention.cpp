//===- RaiseAttention.cpp - linalg attention to kha.sdpa ------------------===//
//
// Replaces scaled dot-product attention written in linalg (whatever its
// spelling: see AttentionMatcher) with kha.sdpa, with the transposes and
// reshapes that bring the operands to kha's [B, L, H, d] layout and the
// result back to the original one. Canonicalisation then folds the
// transposes that cancel.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "AttentionMatcher.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHARAISEATTENTIONPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {

/// The order of the roles ([batch..., sequence, feature]) in kha's layout
/// [B, X, H, F] once the unit dimensions are dropped: [b0, X, b1, F] with two
/// batch dimensions, [b0, X, F] with one (H = 1: each batch, often B*H
/// flattened, is a batch of one head), [X, F] with none (B = H = 1).
SmallVector<int64_t> headLayoutRoles(unsigned numBatch) {
  switch (numBatch) {
  case 2:
    return {0, 2, 1, 3};
  case 1:
    return {0, 1, 2};
  default:
    return {0, 1};
  }
}

/// How the unit dimensions are added to (or dropped from) the layout above.
SmallVector<ReassociationIndices> headLayoutGroups(unsigned numBatch) {
  if (numBatch == 1)
    return {{0}, {1}, {2, 3}};
  return {{0, 1}, {2, 3}};
}

Value transpose(PatternRewriter &rewriter, Location loc, Value input,
                ArrayRef<int64_t> permutation) {
  if (llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
    return input;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, input);
  SmallVector<OpFoldResult> permuted;
  for (int64_t dim : permutation)
    permuted.push_back(sizes[dim]);
  Value init = tensor::EmptyOp::create(rewriter, loc, permuted,
                                       getElementTypeOrSelf(input.getType()));
  return linalg::TransposeOp::create(rewriter, loc, input, init, permutation)
      ->getResult(0);
}

/// An operand in kha's [B, X, H, F] layout.
Value toHeadLayout(PatternRewriter &rewriter, Location loc,
                   const AttentionOperand &operand, unsigned numBatch) {
  SmallVector<int64_t> permutation;
  for (int64_t role : headLayoutRoles(numBatch))
    permutation.push_back(operand.dims[role]);
  Value v = transpose(rewriter, loc, operand.source, permutation);
  if (numBatch == 2)
    return v;
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  if (numBatch == 0)
    shape.insert(shape.begin(), 1);
  shape.insert(shape.begin() + 2, 1);
  return tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get(shape, type.getElementType()), v,
      headLayoutGroups(numBatch));
}

/// The size of `role` of `operand`.
OpFoldResult roleSize(PatternRewriter &rewriter, Location loc,
                      const AttentionOperand &operand, int64_t role) {
  return tensor::getMixedSize(rewriter, loc, operand.source,
                              operand.dims[role]);
}

/// The mask as kha.sdpa takes it: [L, S] when it does not vary with the
/// batch dimensions, else [B, H, L, S]; materialised (broadcast, times its
/// coefficient) where it is not already such a tensor.
Value buildMask(PatternRewriter &rewriter, Location loc,
                const AttentionMatch &match) {
  const AttentionMask &mask = *match.mask;
  unsigned nb = match.numBatch, rank = nb + 2;
  MLIRContext *ctx = rewriter.getContext();
  bool rowsAndColumnsOnly =
      llvm::all_of(mask.map.getResults(), [&](AffineExpr e) {
        auto dim = dyn_cast<AffineDimExpr>(e);
        return !dim || dim.getPosition() >= nb;
      });
  AffineMap lsMap = AffineMap::get(
      rank, 0, {getAffineDimExpr(nb, ctx), getAffineDimExpr(nb + 1, ctx)}, ctx);
  Value tensor = mask.tensor;
  bool already = mask.coefficient == 1.0 &&
                 (mask.map == lsMap || (mask.map.isIdentity() && nb == 2));
  if (!already) {
    // A generic over [L, S] or the scores' space writes coefficient * mask.
    SmallVector<OpFoldResult> sizes;
    AffineMap inputMap = mask.map;
    if (rowsAndColumnsOnly) {
      SmallVector<AffineExpr> toFull(nb, getAffineConstantExpr(0, ctx));
      toFull.append({getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)});
      inputMap = mask.map.compose(AffineMap::get(2, 0, toFull, ctx));
    } else {
      for (unsigned b = 0; b < nb; ++b)
        sizes.push_back(roleSize(rewriter, loc, match.query, b));
    }
    sizes.push_back(roleSize(rewriter, loc, match.query, nb));
    sizes.push_back(roleSize(rewriter, loc, match.key, nb));
    Type elementType = getElementTypeOrSelf(tensor.getType());
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, elementType);
    unsigned loops = sizes.size();
    SmallVector<AffineMap> maps = {
        inputMap, AffineMap::getMultiDimIdentityMap(loops, ctx)};
    SmallVector<utils::IteratorType> iterators(loops,
                                               utils::IteratorType::parallel);
    double coefficient = mask.coefficient;
    tensor = linalg::GenericOp::create(
                 rewriter, loc, init.getType(), ValueRange{tensor},
                 ValueRange{init}, maps, iterators,
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   Value x = args[0];
                   if (coefficient != 1.0) {
                     Value c = arith::ConstantOp::create(
                         b, l, b.getFloatAttr(elementType, coefficient));
                     x = arith::MulFOp::create(b, l, x, c);
                   }
                   linalg::YieldOp::create(b, l, x);
                 })
                 ->getResult(0);
    if (rowsAndColumnsOnly)
      return tensor;
  } else if (mask.map == lsMap) {
    return tensor;
  }
  // [batch..., L, S] as [B, H, L, S]: with one batch dimension, H = 1.
  if (nb == 2)
    return tensor;
  auto type = cast<RankedTensorType>(tensor.getType());
  if (nb == 0)
    return tensor; // [L, S]
  SmallVector<int64_t> shape(type.getShape());
  shape.insert(shape.begin() + 1, 1);
  return tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get(shape, type.getElementType()),
      tensor, SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
}

struct RaiseAttentionPattern
    : public OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || !linalg::isaContractionOpInterface(op))
      return failure();
    std::string why;
    FailureOr<AttentionMatch> match = matchAttention(op, why);
    if (failed(match))
      return rewriter.notifyMatchFailure(op, why);
    unsigned nb = match->numBatch;
    // kha.sdpa needs the head counts and widths statically.
    auto staticRole = [](const AttentionOperand &operand, int64_t role) {
      return cast<RankedTensorType>(operand.source.getType())
          .getDimSize(operand.dims[role]);
    };
    int64_t heads = nb == 2 ? staticRole(match->query, 1) : 1;
    int64_t kvHeads = nb == 2 ? staticRole(match->key, 1) : 1;
    int64_t width = staticRole(match->query, nb + 1);
    int64_t valueWidth = staticRole(match->value, nb + 1);
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) ||
        ShapedType::isDynamic(width) || ShapedType::isDynamic(valueWidth))
      return rewriter.notifyMatchFailure(op, "dynamic head count or width");
    if (nb == 2 && staticRole(match->value, 1) != kvHeads)
      return rewriter.notifyMatchFailure(op, "keys and values differ in heads");
    if (kvHeads <= 0 || heads % kvHeads != 0 ||
        (nb == 2 && heads != kvHeads * match->key.headRepeat))
      return rewriter.notifyMatchFailure(op, "heads do not group");

    Location loc =
        rewriter.getFusedLoc({match->scores->getLoc(), op->getLoc()});
    Value q = toHeadLayout(rewriter, loc, match->query, nb);
    Value k = toHeadLayout(rewriter, loc, match->key, nb);
    Value v = toHeadLayout(rewriter, loc, match->value, nb);
    Value mask = match->mask ? buildMask(rewriter, loc, *match) : Value();

    Value init = SDPAOp::createInit(rewriter, loc, q, v);
    Value result = SDPAOp::create(
        rewriter, loc, init.getType(), q, k, v, mask,
        /*query_offset=*/Value(), init, rewriter.getF64FloatAttr(match->scale),
        match->causal ? rewriter.getUnitAttr() : UnitAttr(),
        /*bottom_right=*/UnitAttr());
    if (nb != 2)
      result = tensor::CollapseShapeOp::create(rewriter, loc, result,
                                               headLayoutGroups(nb));
    // Back to the output's layout: its dimension i holds the role r with
    // outputDims[r] = i.
    SmallVector<int64_t> roles = headLayoutRoles(nb), permutation;
    for (int64_t i = 0, e = roles.size(); i < e; ++i) {
      int64_t role =
          llvm::find(match->outputDims, i) - match->outputDims.begin();
      permutation.push_back(llvm::find(roles, role) - roles.begin());
    }
    result = transpose(rewriter, loc, result, permutation);
    if (result.getType() != op->getResult(0).getType())
      result = tensor::CastOp::create(rewriter, loc, op->getResult(0).getType(),
                                      result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct KHARaiseAttentionPass
    : public kha::impl::KHARaiseAttentionPassBase<KHARaiseAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRaiseAttentionPatterns(patterns);
    // Transposes that cancel, and the ops left dead.
    linalg::TransposeOp::getCanonicalizationPatterns(patterns, &getContext());
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, &getContext());
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns,
                                                         &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void kha::populateRaiseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseAttentionPattern>(patterns.getContext());
}
