//===- ExpandAttentionBlock.cpp - kha.attention_block to mid-level ops ----===//
//
// The expansion follows the order of docs/semantics.md section 4:
// projection (+ bias) -> knock -> QK-RMSNorm -> RoPE -> SDPA -> output
// projection (+ bias).
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
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
/// Where L new tokens go in a cache `[B, S, G, d]` holding `length` tokens:
/// rows `start .. start + rows - 1`, with `start = length` and `rows = L`
/// whenever `0 <= length <= S - L`. Other lengths are clamped so that every
/// access stays inside the cache.
struct CacheWindow {
  Value start; ///< index: min(max(length, 0), max(S - L, 0))
  Value rows;  ///< index: min(L, S)
  Value used;  ///< index: min(start + L, S), the rows attended over

  static CacheWindow build(OpBuilder &b, Location loc, Value cache,
                           Value length, OpFoldResult newTokens) {
    CacheWindow w;
    Value capacity = tensor::DimOp::create(b, loc, cache, 1);
    Value tokens = getValueOrCreateConstantIndexOp(b, loc, newTokens);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value room = arith::MaxSIOp::create(
        b, loc, arith::SubIOp::create(b, loc, capacity, tokens), zero);
    Value asIndex =
        arith::IndexCastOp::create(b, loc, b.getIndexType(), length);
    w.start = arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, asIndex, zero), room);
    w.rows = arith::MinSIOp::create(b, loc, tokens, capacity);
    w.used = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, w.start, tokens), capacity);
    return w;
  }

  /// `positions[b, l] = start + l` `[B, L]`: the new tokens follow the
  /// cached ones.
  Value defaultPositions(OpBuilder &b, Location loc, OpFoldResult batch,
                         OpFoldResult tokens) {
    Value init = buildEmpty(b, loc, {batch, tokens}, b.getI64Type());
    Value startI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), start);
    auto generic = linalg::GenericOp::create(
        b, loc, init.getType(), ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{b.getMultiDimIdentityMap(2)},
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&](OpBuilder &bb, Location l, ValueRange) {
          Value index = linalg::IndexOp::create(bb, l, 1);
          Value asI64 =
              arith::IndexCastOp::create(bb, l, bb.getI64Type(), index);
          linalg::YieldOp::create(
              bb, l, ValueRange{arith::AddIOp::create(bb, l, startI64, asI64)});
        });
    return generic.getResult(0);
  }

  /// `cache` with the first `rows` of the new per-head rows `fresh`
  /// `[B, L, G, d]` written from row `start` on.
  Value insert(OpBuilder &b, Location loc, Value fresh, Value cache) {
    SmallVector<OpFoldResult> dims = getDims(b, loc, fresh);
    dims[1] = rows;
    SmallVector<OpFoldResult> zeros(4, b.getIndexAttr(0));
    SmallVector<OpFoldResult> ones(4, b.getIndexAttr(1));
    Value slice =
        tensor::ExtractSliceOp::create(b, loc, fresh, zeros, dims, ones);
    SmallVector<OpFoldResult> offsets = zeros;
    offsets[1] = start;
    return tensor::InsertSliceOp::create(b, loc, slice, cache, offsets, dims,
                                         ones);
  }

  /// The first `used` rows of a cache `[B, S, G, d]`.
  Value usedRows(OpBuilder &b, Location loc, Value cache) {
    return leading(b, loc, cache, 4);
  }

  /// The first `used` columns of a mask `[B, S]`.
  Value usedColumns(OpBuilder &b, Location loc, Value mask) {
    return leading(b, loc, mask, 2);
  }

private:
  Value leading(OpBuilder &b, Location loc, Value value, int64_t rank) {
    SmallVector<OpFoldResult> dims = getDims(b, loc, value);
    dims[1] = used;
    SmallVector<OpFoldResult> zeros(rank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> ones(rank, b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, value, zeros, dims, ones);
  }
};

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

    // With a cache: where the new tokens go (clamped into the cache).
    std::optional<CacheWindow> window;
    if (op.hasKVCache())
      window = CacheWindow::build(rewriter, loc, op.getKCache(),
                                  op.getCacheLength(), xDims[1]);

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
      if (!positions && window)
        positions = window->defaultPositions(rewriter, loc, xDims[0], xDims[1]);
      q = RoPEOp::create(rewriter, loc, q.getType(), q, positions, theta,
                         frequencies, attentionFactor);
      k = RoPEOp::create(rewriter, loc, k.getType(), k, positions, theta,
                         frequencies, attentionFactor);
    }

    // With a cache: the new keys and values go into it, and the queries
    // attend over its first `length + L` rows, the newest last.
    Value keep = op.getAttentionMask();
    SmallVector<Value> updatedCaches;
    if (window) {
      updatedCaches = {window->insert(rewriter, loc, k, op.getKCache()),
                       window->insert(rewriter, loc, v, op.getVCache())};
      k = window->usedRows(rewriter, loc, updatedCaches[0]);
      v = window->usedRows(rewriter, loc, updatedCaches[1]);
      if (keep)
        keep = window->usedColumns(rewriter, loc, keep);
    }

    // Padded keys: an additive [B, 1, 1, S] mask shared by heads and queries.
    Value mask;
    if (keep)
      mask = buildKeyPaddingMask(rewriter, loc, keep, elementType);
    FloatAttr scale = rewriter.getF64FloatAttr(1.0 / std::sqrt(double(d)));
    UnitAttr bottomRight =
        window && op.getCausal() ? rewriter.getUnitAttr() : UnitAttr();
    Value init = SDPAOp::createInit(rewriter, loc, q, v);
    Value attention = SDPAOp::create(rewriter, loc, init.getType(), q, k, v,
                                     mask, /*query_offset=*/Value(), init,
                                     scale, op.getCausalAttr(), bottomRight);

    // [B, L, H, d] -> [B*L, H*d] -> W^O -> [B, L, D].
    Value heads = tensor::CollapseShapeOp::create(
        rewriter, loc, attention,
        ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}});
    Value out = buildMatmul(rewriter, loc, heads, op.getWo());
    if (Value bo = op.getBo())
      out = buildBiasAdd(rewriter, loc, out, bo);
    SmallVector<Value> results = {tensor::ExpandShapeOp::create(
        rewriter, loc, xType, out, ArrayRef<ReassociationIndices>{{0, 1}, {2}},
        xDims)};
    results.append(updatedCaches);
    rewriter.replaceOp(op, results);
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
