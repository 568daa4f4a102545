//===- ExpandBF16Rounding.cpp - f32 -> bf16 rounding as integer math ------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAEXPANDBF16ROUNDINGPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct ExpandBF16Truncation : OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    Type in = op.getIn().getType(), out = op.getType();
    if (!getElementTypeOrSelf(in).isF32() || !getElementTypeOrSelf(out).isBF16())
      return rewriter.notifyMatchFailure(op, "not f32 to bf16");
    Location loc = op.getLoc();
    auto like = [&](Type element) -> Type {
      if (auto vector = dyn_cast<VectorType>(in))
        return vector.clone(element);
      return element;
    };
    Type i32 = like(rewriter.getI32Type()), i16 = like(rewriter.getI16Type());
    auto constant = [&](int64_t v) -> Value {
      TypedAttr attr = rewriter.getIntegerAttr(rewriter.getI32Type(), v);
      if (auto vector = dyn_cast<VectorType>(i32))
        attr = SplatElementsAttr::get(vector, attr);
      return arith::ConstantOp::create(rewriter, loc, attr);
    };
    Value bits = arith::BitcastOp::create(rewriter, loc, i32, op.getIn());
    // Round to nearest even at bit 16: add 0x7FFF plus the kept lowest bit;
    // a NaN is made quiet and not rounded (which could carry it into an
    // infinity). Masks rather than selects: LLVM would turn a select here
    // into one of bf16 values, which the host rounds through the routine
    // this pass avoids.
    Value isNaN = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::UNO,
                                        op.getIn(), op.getIn());
    Value nanMask = arith::SubIOp::create(
        rewriter, loc, constant(0),
        arith::ExtUIOp::create(rewriter, loc, i32, isNaN));
    Value odd = arith::AndIOp::create(
        rewriter, loc, arith::ShRUIOp::create(rewriter, loc, bits, constant(16)),
        constant(1));
    Value increment = arith::AndIOp::create(
        rewriter, loc, arith::AddIOp::create(rewriter, loc, odd, constant(0x7FFF)),
        arith::XOrIOp::create(rewriter, loc, nanMask, constant(-1)));
    Value quieted = arith::OrIOp::create(
        rewriter, loc, bits,
        arith::AndIOp::create(rewriter, loc, nanMask, constant(0x00400000)));
    Value result = arith::ShRUIOp::create(
        rewriter, loc, arith::AddIOp::create(rewriter, loc, quieted, increment),
        constant(16));
    Value half = arith::TruncIOp::create(rewriter, loc, i16, result);
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, out, half);
    return success();
  }
};

struct ExpandBF16RoundingPass
    : kha::impl::KHAExpandBF16RoundingPassBase<ExpandBF16RoundingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandBF16Truncation>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
