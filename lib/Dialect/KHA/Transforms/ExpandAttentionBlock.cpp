//===- ExpandAttentionBlock.cpp - kha.attention_block to mid-level ops ----===//
//
// The expansion follows the order of docs/semantics.md section 4:
// projection (+ bias) -> knock -> QK-RMSNorm -> RoPE -> SDPA -> output
// projection (+ bias).
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAEXPANDATTENTIONBLOCKPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
struct ExpandAttentionBlock : OpRewritePattern<AttentionBlockOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionBlockOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    Type elementType = xType.getElementType();
    int64_t d = op.getHeadDim();
    int64_t numHeads = op.getNumHeads(), numKvHeads = op.getNumKvHeads();

    // [B, L, D] -> [B*L, D]: the projections are plain 2-D matmuls.
    SmallVector<OpFoldResult> xDims = getDims(rewriter, loc, x);
    Value tokens = tensor::CollapseShapeOp::create(
        rewriter, loc, x, ArrayRef<ReassociationIndices>{{0, 1}, {2}});

    // Projects the tokens with `weight` and splits the columns into heads:
    // [B*L, N*d] -> [B, L, N, d].
    auto project = [&](Value weight, int64_t heads) -> Value {
      Value flat = buildMatmul(rewriter, loc, tokens, weight);
      auto type = RankedTensorType::get(
          {xType.getDimSize(0), xType.getDimSize(1), heads, d}, elementType);
      return tensor::ExpandShapeOp::create(
          rewriter, loc, type, flat,
          ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}},
          ArrayRef<OpFoldResult>{xDims[0], xDims[1],
                                 rewriter.getIndexAttr(heads),
                                 rewriter.getIndexAttr(d)});
    };
    Value q = project(op.getWq(), numHeads);
    Value k = project(op.getWk(), numKvHeads);
    Value v = project(op.getWv(), numKvHeads);

    // A projection bias [N*d] viewed per head, [N, d].
    auto headBias = [&](Value bias, int64_t heads) -> Value {
      auto type = RankedTensorType::get({heads, d}, elementType);
      return tensor::ExpandShapeOp::create(
          rewriter, loc, type, bias, ArrayRef<ReassociationIndices>{{0, 1}});
    };
    // The linear knocks sit directly after the projections, where
    // kha-fold-knock folds them into the weights; a bias goes around them:
    // (x W + b) T = (x W) T + b T, with b T a small [N, d] x [d, d] product.
    auto knock = [&](Value heads, Value t, Value bias, int64_t n) -> Value {
      if (t)
        heads = LinearKnockOp::create(rewriter, loc, heads.getType(), heads, t);
      if (!bias)
        return heads;
      Value b = headBias(bias, n);
      if (t)
        b = buildMatmul(rewriter, loc, b, t);
      return buildBiasAdd(rewriter, loc, heads, b);
    };
    q = knock(q, op.getTq(), op.getBq(), numHeads);
    k = knock(k, op.getTk(), op.getBk(), numKvHeads);
    if (op.hasMlpKnock()) {
      // The MLP is not linear: its input has the bias added.
      if (Value bv = op.getBv())
        v = buildBiasAdd(rewriter, loc, v, headBias(bv, numKvHeads));
      v = MlpKnockOp::create(rewriter, loc, v.getType(), v, op.getVUp(),
                             op.getVGate(), op.getVDown());
    } else {
      v = knock(v, op.getTv(), op.getBv(), numKvHeads);
    }

    // QK-RMSNorm, then RoPE, on queries and keys only.
    if (op.getQNorm()) {
      FloatAttr eps = op.getRmsNormEpsAttr();
      q = RMSNormOp::create(rewriter, loc, q.getType(), q, op.getQNorm(), eps);
      k = RMSNormOp::create(rewriter, loc, k.getType(), k, op.getKNorm(), eps);
    }
    if (FloatAttr theta = op.getRopeThetaAttr()) {
      DenseF64ArrayAttr frequencies = op.getRopeFrequenciesAttr();
      FloatAttr attentionFactor = op.getRopeAttentionFactorAttr();
      Value positions = op.getPositions();
      q = RoPEOp::create(rewriter, loc, q.getType(), q, positions, theta,
                         frequencies, attentionFactor);
      k = RoPEOp::create(rewriter, loc, k.getType(), k, positions, theta,
                         frequencies, attentionFactor);
    }

    // Padded keys: an additive [B, 1, 1, L] mask shared by heads and queries.
    Value mask;
    if (Value keep = op.getAttentionMask())
      mask = buildKeyPaddingMask(rewriter, loc, keep, elementType);
    FloatAttr scale = rewriter.getF64FloatAttr(1.0 / std::sqrt(double(d)));
    Value attention = SDPAOp::create(rewriter, loc, q.getType(), q, k, v, mask,
                                     scale, op.getCausalAttr());

    // [B, L, H, d] -> [B*L, H*d] -> W^O -> [B, L, D].
    Value heads = tensor::CollapseShapeOp::create(
        rewriter, loc, attention,
        ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}});
    Value out = buildMatmul(rewriter, loc, heads, op.getWo());
    if (Value bo = op.getBo())
      out = buildBiasAdd(rewriter, loc, out, bo);
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        op, xType, out, ArrayRef<ReassociationIndices>{{0, 1}, {2}}, xDims);
    return success();
  }
};

struct ExpandAttentionBlockPass
    : kha::impl::KHAExpandAttentionBlockPassBase<ExpandAttentionBlockPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateExpandAttentionBlockPatterns(patterns);
    // One walk suffices: the pattern creates no attention blocks, and unlike
    // the greedy driver the walk driver neither folds nor erases dead ops, so
    // the rest of the IR is left as it was.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateExpandAttentionBlockPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandAttentionBlock>(patterns.getContext());
}
