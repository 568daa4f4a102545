//===- EmulateBF16Dot.cpp - vdpbf16ps as f32 vector arithmetic -----------===//
//
// The kha-emulate-bf16-dot pass: x86vector.avx512.dot rewritten into what
// the instruction computes (Intel's definition of VDPBF16PS: per 32-bit
// lane, acc += a.odd * b.odd, then acc += a.even * b.even, each rounded to
// nearest even, subnormal inputs and results flushed to zero), so that code
// made for AVX512-BF16 runs, and is checked, on any CPU.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAEMULATEBF16DOTPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// With `flush` false, the same without the flushing of subnormals: IEEE
/// f32 arithmetic.
struct EmulateBF16Dot : OpRewritePattern<x86vector::DotBF16Op> {
  EmulateBF16Dot(MLIRContext *context, bool flush)
      : OpRewritePattern(context), flush(flush) {}

  LogicalResult matchAndRewrite(x86vector::DotBF16Op op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    VectorType accType = op.getSrc().getType();
    auto wordsType = accType.clone(rewriter.getI32Type());
    auto constant = [&](uint32_t bits) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(wordsType, rewriter.getI32IntegerAttr(bits)));
    };
    Value zero = constant(0), exponent = constant(0x7F800000u),
          sign = constant(0x80000000u);
    // `words` with the lanes whose exponent field is zero (zeros and
    // subnormals) replaced by their sign alone: a signed zero.
    auto flushSubnormals = [&](Value words) -> Value {
      if (!flush)
        return words;
      Value field = arith::AndIOp::create(rewriter, loc, words, exponent);
      Value tiny = arith::CmpIOp::create(rewriter, loc,
                                         arith::CmpIPredicate::eq, field, zero);
      Value signOnly = arith::AndIOp::create(rewriter, loc, words, sign);
      return arith::SelectOp::create(rewriter, loc, tiny, signOnly, words);
    };
    auto toF32 = [&](Value words) -> Value {
      return arith::BitcastOp::create(rewriter, loc, accType,
                                      flushSubnormals(words));
    };
    // The pairs' elements as f32: 2i in a lane's low half (moved up), 2i+1
    // in its high half (the low half cleared).
    auto halves = [&](Value pairs) -> std::pair<Value, Value> {
      Value words = vector::BitCastOp::create(rewriter, loc, wordsType, pairs);
      Value even = arith::ShLIOp::create(rewriter, loc, words, constant(16));
      Value odd =
          arith::AndIOp::create(rewriter, loc, words, constant(0xFFFF0000u));
      return {toF32(even), toF32(odd)};
    };
    auto flushResult = [&](Value value) -> Value {
      if (!flush)
        return value;
      return toF32(arith::BitcastOp::create(rewriter, loc, wordsType, value));
    };
    auto [aEven, aOdd] = halves(op.getA());
    auto [bEven, bOdd] = halves(op.getB());
    Value acc = flushResult(op.getSrc());
    acc = flushResult(math::FmaOp::create(rewriter, loc, aOdd, bOdd, acc));
    acc = flushResult(math::FmaOp::create(rewriter, loc, aEven, bEven, acc));
    rewriter.replaceOp(op, acc);
    return success();
  }

  bool flush;
};

struct EmulateBF16DotPass
    : kha::impl::KHAEmulateBF16DotPassBase<EmulateBF16DotPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateEmulateBF16DotPatterns(patterns, flushSubnormals);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateEmulateBF16DotPatterns(RewritePatternSet &patterns,
                                         bool flushSubnormals) {
  patterns.add<EmulateBF16Dot>(patterns.getContext(), flushSubnormals);
}
