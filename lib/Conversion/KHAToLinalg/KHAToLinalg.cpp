//===- KHAToLinalg.cpp - lower mid-level kha ops to linalg on tensors -----===//
//
// Every reduction runs in f32 whatever the element type; each op rounds its
// result to the element type once. docs/semantics.md states the math.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHALOWERTOLINALGPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
constexpr utils::IteratorType kPar = utils::IteratorType::parallel;
constexpr utils::IteratorType kRed = utils::IteratorType::reduction;

/// The map from an `numDims`-dimensional iteration space to `results`.
AffineMap dimsMap(MLIRContext *ctx, unsigned numDims,
                  ArrayRef<AffineExpr> results) {
  return AffineMap::get(numDims, 0, results, ctx);
}

Value f32Const(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

Type elementTypeOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

/// Rounds an f32 tensor to `elementType` when that is narrower.
Value narrowTensor(OpBuilder &b, Location loc, Value value, Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == elementType)
    return value;
  return arith::TruncFOp::create(b, loc, type.clone(elementType), value);
}

//===----------------------------------------------------------------------===//
// Knocks
//===----------------------------------------------------------------------===//

/// [B, L, N, d] -> [B*L*N, d]: a knock is one matmul over every head vector.
const ReassociationIndices kHeadsOuter[] = {{0, 1, 2}, {3}};

struct LowerLinearKnock : OpRewritePattern<LinearKnockOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearKnockOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, op.getInput());
    Value rows = tensor::CollapseShapeOp::create(rewriter, loc, op.getInput(),
                                                 kHeadsOuter);
    Value product = buildMatmul(rewriter, loc, rows, op.getTransform());
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, op.getType(),
                                                       product, kHeadsOuter,
                                                       dims);
    return success();
  }
};

struct LowerMlpKnock : OpRewritePattern<MlpKnockOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MlpKnockOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, op.getInput());
    Value rows = tensor::CollapseShapeOp::create(rewriter, loc, op.getInput(),
                                                 kHeadsOuter);
    Value up = buildMatmulF32(rewriter, loc, rows, op.getUp());
    Value gate = buildMatmulF32(rewriter, loc, rows, op.getGate());

    // 2 * up * sigmoid(gate), in f32.
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    Value gatedInit = buildEmpty(rewriter, loc, getDims(rewriter, loc, up),
                                 rewriter.getF32Type());
    Value gated =
        linalg::GenericOp::create(
            rewriter, loc, gatedInit.getType(), ValueRange{up, gate},
            ValueRange{gatedInit}, ArrayRef<AffineMap>{id, id, id},
            ArrayRef<utils::IteratorType>{kPar, kPar},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value one = f32Const(b, l, 1.0);
              Value negGate = arith::NegFOp::create(b, l, args[1]);
              Value denom = arith::AddFOp::create(
                  b, l, one, math::ExpOp::create(b, l, negGate));
              Value twice = arith::AddFOp::create(b, l, args[0], args[0]);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::DivFOp::create(b, l, twice, denom)});
            })
            .getResult(0);

    Value down = buildMatmulF32(rewriter, loc, gated, op.getDown());
    down = narrowTensor(rewriter, loc, down, elementTypeOf(op.getInput()));
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, op.getType(), down,
                                                       kHeadsOuter, dims);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// RMSNorm and RoPE
//===----------------------------------------------------------------------===//

struct LowerRMSNorm : OpRewritePattern<RMSNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RMSNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = op.getInput();
    Type elementType = elementTypeOf(x);
    Type f32 = rewriter.getF32Type();
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, x);
    int64_t d = op.getType().getDimSize(3);
    AffineExpr b0, l1, n2, c3;
    bindDims(ctx, b0, l1, n2, c3);
    AffineMap all = dimsMap(ctx, 4, {b0, l1, n2, c3});
    AffineMap rows = dimsMap(ctx, 4, {b0, l1, n2});
    AffineMap last = dimsMap(ctx, 4, {c3});

    Value sumInit = buildFilled(rewriter, loc, ArrayRef(dims).take_front(3),
                                f32, 0.0);
    Value sumSq =
        linalg::GenericOp::create(
            rewriter, loc, sumInit.getType(), ValueRange{x},
            ValueRange{sumInit}, ArrayRef<AffineMap>{all, rows},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kRed},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value v = castFloat(b, l, args[0], f32);
              Value sq = arith::MulFOp::create(b, l, v, v);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[1], sq)});
            })
            .getResult(0);

    double eps = op.getEpsilon().convertToDouble();
    Value init = buildEmpty(rewriter, loc, dims, elementType);
    rewriter.replaceOpWithNewOp<linalg::GenericOp>(
        op, op.getType(), ValueRange{x, sumSq, op.getWeight()},
        ValueRange{init}, ArrayRef<AffineMap>{all, rows, last, all},
        ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value mean = arith::MulFOp::create(b, l, args[1],
                                             f32Const(b, l, 1.0 / double(d)));
          Value var =
              arith::AddFOp::create(b, l, mean, f32Const(b, l, eps));
          Value inv = arith::DivFOp::create(b, l, f32Const(b, l, 1.0),
                                            math::SqrtOp::create(b, l, var));
          Value y = arith::MulFOp::create(b, l, castFloat(b, l, args[0], f32),
                                          inv);
          y = arith::MulFOp::create(b, l, y, castFloat(b, l, args[2], f32));
          linalg::YieldOp::create(b, l,
                                  ValueRange{castFloat(b, l, y, elementType)});
        });
    return success();
  }
};

struct LowerRoPE : OpRewritePattern<RoPEOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RoPEOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = op.getInput();
    Type elementType = elementTypeOf(x);
    Type f32 = rewriter.getF32Type(), f64 = rewriter.getF64Type();
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, x);
    int64_t d = op.getType().getDimSize(3), half = d / 2;
    double theta = op.getTheta().convertToDouble();

    // cos/sin tables [L, d/2], computed in f64: at position p the angle
    // p * theta^(-2j/d) must be exact to far below f32 precision.
    SmallVector<OpFoldResult> tableDims = {dims[1], rewriter.getIndexAttr(half)};
    Value tableInit = buildEmpty(rewriter, loc, tableDims, f32);
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto tables = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableInit.getType(), tableInit.getType()},
        ValueRange{}, ValueRange{tableInit, tableInit},
        ArrayRef<AffineMap>{id2, id2},
        ArrayRef<utils::IteratorType>{kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange) {
          auto toF64 = [&](unsigned dim) -> Value {
            Value index = linalg::IndexOp::create(b, l, dim);
            Value i64 =
                arith::IndexCastOp::create(b, l, b.getI64Type(), index);
            return arith::SIToFPOp::create(b, l, f64, i64);
          };
          Value pos = toF64(0), j = toF64(1);
          Value exponent = arith::MulFOp::create(
              b, l, j,
              arith::ConstantOp::create(b, l, b.getF64FloatAttr(-2.0 / d)));
          Value base =
              arith::ConstantOp::create(b, l, b.getF64FloatAttr(theta));
          Value angle = arith::MulFOp::create(
              b, l, pos, math::PowFOp::create(b, l, base, exponent));
          Value c = castFloat(b, l, math::CosOp::create(b, l, angle), f32);
          Value s = castFloat(b, l, math::SinOp::create(b, l, angle), f32);
          linalg::YieldOp::create(b, l, ValueRange{c, s});
        });

    // Rotate the halves: out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin.
    SmallVector<OpFoldResult> halfDims = dims;
    halfDims[3] = rewriter.getIndexAttr(half);
    SmallVector<OpFoldResult> zeros(4, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> upper = zeros;
    upper[3] = rewriter.getIndexAttr(half);
    SmallVector<OpFoldResult> ones(4, rewriter.getIndexAttr(1));
    Value x1 =
        tensor::ExtractSliceOp::create(rewriter, loc, x, zeros, halfDims, ones);
    Value x2 =
        tensor::ExtractSliceOp::create(rewriter, loc, x, upper, halfDims, ones);

    AffineExpr b0, l1, n2, j3;
    bindDims(ctx, b0, l1, n2, j3);
    AffineMap all = dimsMap(ctx, 4, {b0, l1, n2, j3});
    AffineMap table = dimsMap(ctx, 4, {l1, j3});
    Value halfInit = buildEmpty(rewriter, loc, halfDims, elementType);
    auto rotated = linalg::GenericOp::create(
        rewriter, loc, TypeRange{halfInit.getType(), halfInit.getType()},
        ValueRange{x1, x2, tables.getResult(0), tables.getResult(1)},
        ValueRange{halfInit, halfInit},
        ArrayRef<AffineMap>{all, all, table, table, all, all},
        ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value a = castFloat(b, l, args[0], f32);
          Value c = castFloat(b, l, args[1], f32);
          Value cosA = args[2], sinA = args[3];
          Value out1 = arith::SubFOp::create(
              b, l, arith::MulFOp::create(b, l, a, cosA),
              arith::MulFOp::create(b, l, c, sinA));
          Value out2 = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, c, cosA),
              arith::MulFOp::create(b, l, a, sinA));
          linalg::YieldOp::create(
              b, l,
              ValueRange{castFloat(b, l, out1, elementType),
                         castFloat(b, l, out2, elementType)});
        });

    Value result = buildEmpty(rewriter, loc, dims, elementType);
    result = tensor::InsertSliceOp::create(rewriter, loc, rotated.getResult(0),
                                           result, zeros, halfDims, ones);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, rotated.getResult(1), result, upper, halfDims, ones);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// SDPA
//===----------------------------------------------------------------------===//

struct LowerSDPA : OpRewritePattern<SDPAOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t heads = op.getQuery().getType().getDimSize(2);
    int64_t kvHeads = op.getKey().getType().getDimSize(2);
    int64_t dv = op.getValue().getType().getDimSize(3);
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) ||
        ShapedType::isDynamic(dv))
      return rewriter.notifyMatchFailure(
          op, "head counts and the value width must be static to lower");
    int64_t group = heads / kvHeads;
    Type elementType = elementTypeOf(q);
    Type f32 = rewriter.getF32Type();
    SmallVector<OpFoldResult> qDims = getDims(rewriter, loc, q);
    SmallVector<OpFoldResult> kDims = getDims(rewriter, loc, k);
    OpFoldResult batch = qDims[0], len = qDims[1], keyLen = kDims[1];
    SmallVector<OpFoldResult> scoreDims = {
        batch, rewriter.getIndexAttr(heads), len, keyLen};
    SmallVector<OpFoldResult> rowDims = {batch, rewriter.getIndexAttr(heads),
                                         len};
    const double negInf = -std::numeric_limits<double>::infinity();

    // Iteration space (b, h, i, j, c): query head h reads key/value head
    // h floordiv (H/G) through the indexing map, never through a copy.
    AffineExpr b, h, i, j, c;
    bindDims(ctx, b, h, i, j, c);
    AffineExpr g = h.floorDiv(group);
    AffineMap scoreMap4 = dimsMap(ctx, 4, {b, h, i, j});
    AffineMap rowMap4 = dimsMap(ctx, 4, {b, h, i});

    // scores[b, h, i, j] = sum_c q[b, i, h, c] k[b, j, g, c]
    Value scoreInit = buildFilled(rewriter, loc, scoreDims, f32, 0.0);
    Value scores =
        linalg::GenericOp::create(
            rewriter, loc, scoreInit.getType(), ValueRange{q, k},
            ValueRange{scoreInit},
            ArrayRef<AffineMap>{dimsMap(ctx, 5, {b, i, h, c}),
                                dimsMap(ctx, 5, {b, j, g, c}),
                                dimsMap(ctx, 5, {b, h, i, j})},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar, kRed},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Value prod = arith::MulFOp::create(
                  bb, l, castFloat(bb, l, args[0], f32),
                  castFloat(bb, l, args[1], f32));
              linalg::YieldOp::create(
                  bb, l, ValueRange{arith::AddFOp::create(bb, l, args[2], prod)});
            })
            .getResult(0);

    // Scale, additive mask, and the causal mask from the iteration indices.
    SmallVector<Value> maskInputs = {scores};
    SmallVector<AffineMap> maskMaps = {scoreMap4};
    if (Value mask = op.getMask()) {
      maskInputs.push_back(mask);
      bool perHead = cast<ShapedType>(mask.getType()).getRank() == 4;
      maskMaps.push_back(perHead ? scoreMap4 : dimsMap(ctx, 4, {i, j}));
    }
    maskMaps.push_back(scoreMap4);
    double scale = op.getScale().convertToDouble();
    bool causal = op.getCausal();
    bool hasMask = static_cast<bool>(op.getMask());
    Value maskedInit = buildEmpty(rewriter, loc, scoreDims, f32);
    Value masked =
        linalg::GenericOp::create(
            rewriter, loc, maskedInit.getType(), maskInputs,
            ValueRange{maskedInit}, maskMaps,
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Value s = arith::MulFOp::create(bb, l, args[0],
                                              f32Const(bb, l, scale));
              if (hasMask)
                s = arith::AddFOp::create(bb, l, s,
                                          castFloat(bb, l, args[1], f32));
              if (causal) {
                Value row = linalg::IndexOp::create(bb, l, 2);
                Value col = linalg::IndexOp::create(bb, l, 3);
                Value future = arith::CmpIOp::create(
                    bb, l, arith::CmpIPredicate::ugt, col, row);
                s = arith::SelectOp::create(bb, l, future,
                                            f32Const(bb, l, negInf), s);
              }
              linalg::YieldOp::create(bb, l, ValueRange{s});
            })
            .getResult(0);

    // Row maximum, for a numerically stable softmax.
    Value maxInit = buildFilled(rewriter, loc, rowDims, f32, negInf);
    Value rowMax =
        linalg::GenericOp::create(
            rewriter, loc, maxInit.getType(), ValueRange{masked},
            ValueRange{maxInit}, ArrayRef<AffineMap>{scoreMap4, rowMap4},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kRed},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  bb, l,
                  ValueRange{arith::MaximumFOp::create(bb, l, args[0], args[1])});
            })
            .getResult(0);

    // e = exp(s - max); a fully masked row (max = -inf) subtracts 0 instead,
    // so that its e is 0 rather than NaN.
    Value expInit = buildEmpty(rewriter, loc, scoreDims, f32);
    Value exps =
        linalg::GenericOp::create(
            rewriter, loc, expInit.getType(), ValueRange{masked, rowMax},
            ValueRange{expInit},
            ArrayRef<AffineMap>{scoreMap4, rowMap4, scoreMap4},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Value isEmpty = arith::CmpFOp::create(
                  bb, l, arith::CmpFPredicate::OEQ, args[1],
                  f32Const(bb, l, negInf));
              Value shift = arith::SelectOp::create(
                  bb, l, isEmpty, f32Const(bb, l, 0.0), args[1]);
              Value e = math::ExpOp::create(
                  bb, l, arith::SubFOp::create(bb, l, args[0], shift));
              linalg::YieldOp::create(bb, l, ValueRange{e});
            })
            .getResult(0);

    Value sumInit = buildFilled(rewriter, loc, rowDims, f32, 0.0);
    Value rowSum =
        linalg::GenericOp::create(
            rewriter, loc, sumInit.getType(), ValueRange{exps},
            ValueRange{sumInit}, ArrayRef<AffineMap>{scoreMap4, rowMap4},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kRed},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  bb, l, ValueRange{arith::AddFOp::create(bb, l, args[0], args[1])});
            })
            .getResult(0);

    // pv[b, i, h, c] = sum_j e[b, h, i, j] v[b, j, g, c], iterating
    // (b, h, i, c, j) so that the reduction is innermost.
    AffineExpr cc = j, jj = c; // dims 3 and 4 swap roles here
    SmallVector<OpFoldResult> outDims = {batch, len,
                                         rewriter.getIndexAttr(heads),
                                         rewriter.getIndexAttr(dv)};
    Value pvInit = buildFilled(rewriter, loc, outDims, f32, 0.0);
    Value pv =
        linalg::GenericOp::create(
            rewriter, loc, pvInit.getType(), ValueRange{exps, v},
            ValueRange{pvInit},
            ArrayRef<AffineMap>{dimsMap(ctx, 5, {b, h, i, jj}),
                                dimsMap(ctx, 5, {b, jj, g, cc}),
                                dimsMap(ctx, 5, {b, i, h, cc})},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar, kRed},
            [&](OpBuilder &bb, Location l, ValueRange args) {
              Value prod = arith::MulFOp::create(
                  bb, l, args[0], castFloat(bb, l, args[1], f32));
              linalg::YieldOp::create(
                  bb, l, ValueRange{arith::AddFOp::create(bb, l, args[2], prod)});
            })
            .getResult(0);

    // Normalise by the row sum (0 for fully masked rows, whose pv is 0).
    AffineExpr ob, oi, oh, oc;
    bindDims(ctx, ob, oi, oh, oc);
    Value outInit = buildEmpty(rewriter, loc, outDims, elementType);
    rewriter.replaceOpWithNewOp<linalg::GenericOp>(
        op, op.getType(), ValueRange{pv, rowSum}, ValueRange{outInit},
        ArrayRef<AffineMap>{dimsMap(ctx, 4, {ob, oi, oh, oc}),
                            dimsMap(ctx, 4, {ob, oh, oi}),
                            dimsMap(ctx, 4, {ob, oi, oh, oc})},
        ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
        [&](OpBuilder &bb, Location l, ValueRange args) {
          Value isEmpty = arith::CmpFOp::create(
              bb, l, arith::CmpFPredicate::OEQ, args[1], f32Const(bb, l, 0.0));
          Value denom = arith::SelectOp::create(bb, l, isEmpty,
                                                f32Const(bb, l, 1.0), args[1]);
          Value o = arith::DivFOp::create(bb, l, args[0], denom);
          linalg::YieldOp::create(bb, l,
                                  ValueRange{castFloat(bb, l, o, elementType)});
        });
    return success();
  }
};

struct LowerToLinalgPass
    : kha::impl::KHALowerToLinalgPassBase<LowerToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<KHADialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateExpandAttentionBlockPatterns(patterns);
    populateKHAToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void kha::populateKHAToLinalgConversionPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerLinearKnock, LowerMlpKnock, LowerRMSNorm, LowerRoPE,
               LowerSDPA>(patterns.getContext());
}
