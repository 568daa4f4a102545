//===- FuseKnockMlp.cpp - the MLP knock in the value projection's epilogue ===//
//
// The value projection and the MLP knock run block by block: V exists one
// block of tokens at a time and never makes a round trip through memory.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "HeadProjection.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFUSEKNOCKMLPPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
struct FuseMlpKnockIntoProjection : OpRewritePattern<MlpKnockOp> {
  FuseMlpKnockIntoProjection(MLIRContext *context, int64_t rows)
      : OpRewritePattern(context), rows(rows) {}

  LogicalResult matchAndRewrite(MlpKnockOp knock,
                                PatternRewriter &rewriter) const override {
    FailureOr<HeadProjection> projection =
        matchHeadProjection(knock.getInput(), knock, rewriter);
    if (failed(projection))
      return failure();
    if (!projection->isPlainMatmul())
      return rewriter.notifyMatchFailure(
          knock, "only a plain linalg.matmul projection is blocked by rows");
    Location loc = rewriter.getFusedLoc(
        {projection->contraction.getLoc(), knock.getLoc()});
    Value tokens = projection->tokens();
    Value weight = projection->weight();
    auto headsType = knock.getType();
    Type elementType = headsType.getElementType();
    int64_t d = headsType.getDimSize(3);
    int64_t width = cast<ShapedType>(weight.getType()).getDimSize(1);
    int64_t heads = width / d;
    int64_t modelDim = cast<ShapedType>(tokens.getType()).getDimSize(1);

    // for i in 0..M step rows: out[i:i+n] = mlp(x[i:i+n] W), n = min(rows, M-i)
    OpFoldResult count = getDims(rewriter, loc, tokens)[0];
    Value total = getValueOrCreateConstantIndexOp(rewriter, loc, count);
    Value init = buildEmpty(rewriter, loc,
                            {count, rewriter.getIndexAttr(width)}, elementType);
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value step = arith::ConstantIndexOp::create(rewriter, loc, rows);
    auto loop = scf::ForOp::create(
        rewriter, loc, zero, total, step, ValueRange{init},
        [&](OpBuilder &b, Location l, Value i, ValueRange iterArgs) {
          Value left = arith::SubIOp::create(b, l, total, i);
          Value n = arith::MinSIOp::create(b, l, step, left);
          SmallVector<OpFoldResult> offsets = {i, b.getIndexAttr(0)};
          SmallVector<OpFoldResult> ones(2, b.getIndexAttr(1));
          Value block = tensor::ExtractSliceOp::create(
              b, l, tokens, offsets,
              ArrayRef<OpFoldResult>{n, b.getIndexAttr(modelDim)}, ones);
          // V of this block, [n, G*d] in f32, seen as n*G head vectors.
          Value v = buildMatmulF32(b, l, block, weight);
          auto f32 = b.getF32Type();
          Value perHead = tensor::ExpandShapeOp::create(
              b, l,
              RankedTensorType::get({ShapedType::kDynamic, heads, d}, f32), v,
              ArrayRef<ReassociationIndices>{{0}, {1, 2}},
              ArrayRef<OpFoldResult>{n, b.getIndexAttr(heads),
                                     b.getIndexAttr(d)});
          Value vectors = tensor::CollapseShapeOp::create(
              b, l, perHead, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
          Value knocked = buildGatedMlp(b, l, vectors, knock.getUp(),
                                        knock.getGate(), knock.getDown());
          Value back = tensor::ExpandShapeOp::create(
              b, l,
              RankedTensorType::get({ShapedType::kDynamic, heads, d}, f32),
              knocked, ArrayRef<ReassociationIndices>{{0, 1}, {2}},
              ArrayRef<OpFoldResult>{n, b.getIndexAttr(heads),
                                     b.getIndexAttr(d)});
          Value result = tensor::CollapseShapeOp::create(
              b, l, back, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
          if (elementType != f32)
            result = arith::TruncFOp::create(
                b, l,
                cast<RankedTensorType>(result.getType()).clone(elementType),
                result);
          Value updated = tensor::InsertSliceOp::create(
              b, l, result, iterArgs[0], offsets,
              ArrayRef<OpFoldResult>{n, b.getIndexAttr(width)}, ones);
          scf::YieldOp::create(b, l, updated);
        });
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        knock, headsType, loop.getResult(0),
        projection->expand.getReassociationIndices(),
        projection->expand.getMixedOutputShape());
    projection->erase(rewriter);
    return success();
  }

  int64_t rows;
};

struct FuseKnockMlpPass : kha::impl::KHAFuseKnockMlpPassBase<FuseKnockMlpPass> {
  using Base::Base;
  void runOnOperation() override {
    if (rows <= 0) {
      getOperation()->emitError("kha-fuse-knock-mlp: rows must be positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateFuseKnockMlpPatterns(patterns, rows);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateFuseKnockMlpPatterns(RewritePatternSet &patterns,
                                       int64_t rows) {
  patterns.add<FuseMlpKnockIntoProjection>(patterns.getContext(), rows);
}
