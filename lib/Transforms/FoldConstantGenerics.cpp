//===- FoldConstantGenerics.cpp - generics of constants as constants ------===//
//
// A linalg.generic on tensors that reads only constants and its loop
// indices (RoPE's cos/sin tables when the sequence length is static) is
// evaluated at compile time: each point of its iteration space runs the
// body through the ops' own folders, and the results become constants.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFOLDCONSTANTGENERICSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Row-major linear position of `point` (already mapped to the tensor's
/// dimensions) in a tensor of `shape`.
int64_t linearIndex(ArrayRef<int64_t> point, ArrayRef<int64_t> shape) {
  int64_t index = 0;
  for (auto [p, size] : llvm::zip_equal(point, shape))
    index = index * size + p;
  return index;
}

/// `map` (a projected permutation) applied to an iteration point.
SmallVector<int64_t> mapPoint(AffineMap map, ArrayRef<int64_t> point) {
  SmallVector<int64_t> result;
  for (AffineExpr expr : map.getResults())
    result.push_back(point[cast<AffineDimExpr>(expr).getPosition()]);
  return result;
}

/// An `arith.truncf` of a constant with the default rounding (to nearest,
/// ties to even, as the code generated for it rounds), which the op's own
/// folder leaves alone where the result is inexact; null otherwise.
Attribute roundToNearestEven(Operation &op, ArrayRef<Attribute> operands) {
  auto trunc = dyn_cast<arith::TruncFOp>(op);
  auto value = operands.empty() ? FloatAttr()
                                : dyn_cast_if_present<FloatAttr>(operands[0]);
  if (!trunc || trunc.getRoundingmode() || !value)
    return {};
  auto type = dyn_cast<FloatType>(trunc.getType());
  if (!type)
    return {};
  APFloat rounded = value.getValue();
  bool losesInfo = false;
  rounded.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
  return FloatAttr::get(type, rounded);
}

struct FoldConstantGeneric : OpRewritePattern<linalg::GenericOp> {
  FoldConstantGeneric(MLIRContext *ctx, int64_t maxElements)
      : OpRewritePattern(ctx), maxElements(maxElements) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getNumReductionLoops() != 0)
      return rewriter.notifyMatchFailure(op, "not parallel on tensors");
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    int64_t points = 1;
    for (int64_t range : ranges) {
      if (ShapedType::isDynamic(range))
        return rewriter.notifyMatchFailure(op, "dynamic iteration space");
      points *= range;
      if (points > maxElements)
        return rewriter.notifyMatchFailure(op, "too many elements");
    }

    // Inputs: constants; outputs: written once at every point (permutation
    // maps), their initial values never read.
    SmallVector<DenseElementsAttr> inputs;
    for (OpOperand *input : op.getDpsInputOperands()) {
      DenseElementsAttr values;
      if (!matchPattern(input->get(), m_Constant(&values)) ||
          !op.getMatchingIndexingMap(input).isProjectedPermutation())
        return rewriter.notifyMatchFailure(op, "an input is not a constant");
      inputs.push_back(values);
    }
    for (OpOperand &init : op.getDpsInitsMutable())
      if (!op.getMatchingIndexingMap(&init).isPermutation() ||
          !op.getMatchingBlockArgument(&init).use_empty())
        return rewriter.notifyMatchFailure(op, "an output is read");
    Block &body = *op.getBlock();
    for (Operation &bodyOp : body.without_terminator())
      if (bodyOp.getNumRegions() != 0 || !isMemoryEffectFree(&bodyOp))
        return rewriter.notifyMatchFailure(op, "body op with effects");

    SmallVector<SmallVector<Attribute>> results(op.getNumDpsInits());
    for (auto &values : results)
      values.resize(points);
    SmallVector<int64_t> point(ranges.size(), 0);
    // The point's values: the body's, and constants defined above it.
    DenseMap<Value, Attribute> known;
    auto valueOf = [&](Value value) {
      Attribute attr = known.lookup(value);
      if (!attr)
        matchPattern(value, m_Constant(&attr));
      return attr;
    };
    SmallVector<Attribute> operands;
    SmallVector<OpFoldResult> folded;
    for (int64_t step = 0; step < points; ++step) {
      known.clear();
      for (auto [i, values] : llvm::enumerate(inputs)) {
        OpOperand *operand = op.getDpsInputOperand(i);
        auto shape = values.getType().getShape();
        SmallVector<int64_t> at =
            mapPoint(op.getMatchingIndexingMap(operand), point);
        known[op.getMatchingBlockArgument(operand)] =
            values.isSplat()
                ? values.getSplatValue<Attribute>()
                : values.getValues<Attribute>()[linearIndex(at, shape)];
      }
      for (Operation &bodyOp : body.without_terminator()) {
        if (auto index = dyn_cast<linalg::IndexOp>(bodyOp)) {
          known[index] = rewriter.getIndexAttr(point[index.getDim()]);
          continue;
        }
        operands.clear();
        for (Value operand : bodyOp.getOperands())
          operands.push_back(valueOf(operand));
        folded.clear();
        if (Attribute rounded = roundToNearestEven(bodyOp, operands)) {
          folded.push_back(rounded);
        } else if (failed(bodyOp.fold(operands, folded)) ||
                   folded.size() != bodyOp.getNumResults()) {
          return rewriter.notifyMatchFailure(&bodyOp, "does not fold");
        }
        for (auto [result, value] : llvm::zip(bodyOp.getResults(), folded)) {
          Attribute attr = dyn_cast<Attribute>(value);
          if (!attr)
            attr = valueOf(cast<Value>(value));
          if (!attr)
            return rewriter.notifyMatchFailure(&bodyOp, "no constant result");
          known[result] = attr;
        }
      }
      auto yield = cast<linalg::YieldOp>(body.getTerminator());
      for (auto [i, yielded] : llvm::enumerate(yield.getValues())) {
        Attribute value = valueOf(yielded);
        if (!value)
          return rewriter.notifyMatchFailure(op, "a yielded value is unknown");
        OpOperand *init = op.getDpsInitOperand(i);
        auto shape = cast<RankedTensorType>(init->get().getType()).getShape();
        results[i][linearIndex(mapPoint(op.getMatchingIndexingMap(init), point),
                               shape)] = value;
      }
      // Next point, last dimension fastest.
      for (int64_t d = static_cast<int64_t>(point.size()) - 1; d >= 0; --d) {
        if (++point[d] < ranges[d])
          break;
        point[d] = 0;
      }
    }

    SmallVector<Value> constants;
    for (auto [result, values] : llvm::zip(op.getResults(), results)) {
      auto type = cast<RankedTensorType>(result.getType());
      if (llvm::any_of(values, [&](Attribute value) {
            auto typed = dyn_cast<TypedAttr>(value);
            return !typed || typed.getType() != type.getElementType();
          }))
        return rewriter.notifyMatchFailure(op, "a result of another type");
      constants.push_back(arith::ConstantOp::create(
          rewriter, op.getLoc(), DenseElementsAttr::get(type, values)));
    }
    rewriter.replaceOp(op, constants);
    return success();
  }

  int64_t maxElements;
};

struct FoldConstantGenericsPass
    : kha::impl::KHAFoldConstantGenericsPassBase<FoldConstantGenericsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateFoldConstantGenericsPatterns(patterns, maxElements);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void kha::populateFoldConstantGenericsPatterns(RewritePatternSet &patterns,
                                               int64_t maxElements) {
  patterns.add<FoldConstantGeneric>(patterns.getContext(), maxElements);
}
