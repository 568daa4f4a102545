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
#include "mlir/Dialect/Utils/StaticValueUtils.h"
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

/// Marks a row-wise generic for the CPU schedule (kha-cpu-schedule vectorises
/// its rows) when its last dimension, the row, is static.
void markRows(linalg::GenericOp op) {
  auto type = cast<ShapedType>(op.getDpsInits()[0].getType());
  int64_t rank = op.getNumLoops();
  if (!ShapedType::isDynamic(
          op.getStaticLoopRanges()[op.getNumLoops() - 1]) &&
      rank >= 2 && rank <= 5 && type.hasRank())
    op->setAttr("kha.rows", IntegerAttr::get(
                                IntegerType::get(op.getContext(), 64), rank));
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
    markRows(cast<linalg::GenericOp>(gated.getDefiningOp()));

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
    markRows(cast<linalg::GenericOp>(sumSq.getDefiningOp()));

    double eps = op.getEpsilon().convertToDouble();
    Value init = buildEmpty(rewriter, loc, dims, elementType);
    auto normalised = rewriter.replaceOpWithNewOp<linalg::GenericOp>(
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
    markRows(normalised);
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

    markRows(rotated);
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

/// Reshapes and transposes `value` into a new tensor: `expand` splits
/// dimensions (empty: none), `perm` permutes, `collapse` merges.
Value relayout(OpBuilder &b, Location loc, Value value,
               ArrayRef<ReassociationIndices> expand,
               ArrayRef<OpFoldResult> expandedSizes, ArrayRef<int64_t> perm,
               ArrayRef<ReassociationIndices> collapse) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!expand.empty()) {
    SmallVector<int64_t> shape;
    for (OpFoldResult size : expandedSizes) {
      std::optional<int64_t> c = getConstantIntValue(size);
      shape.push_back(c ? *c : ShapedType::kDynamic);
    }
    value = tensor::ExpandShapeOp::create(b, loc, type.clone(shape), value,
                                          expand, expandedSizes);
  }
  SmallVector<OpFoldResult> dims = getDims(b, loc, value);
  SmallVector<OpFoldResult> permuted;
  for (int64_t p : perm)
    permuted.push_back(dims[p]);
  Value init = buildEmpty(b, loc, permuted, type.getElementType());
  value = linalg::TransposeOp::create(b, loc, value, init, perm).getResult()[0];
  if (collapse.empty())
    return value;
  return tensor::CollapseShapeOp::create(b, loc, value, collapse);
}

/// Attention as two batched matmuls around a row-wise softmax. Query heads
/// are grouped by the key/value head they read, so each group is one matmul
/// against its K and V (GQA without copying K or V per query head):
///
///   Q [B, L, G*r, d] -> [B*G, r*L, d],  K -> [B*G, d, S],  V -> [B*G, S, dv]
///   scores = Q K          [B*G, r*L, S]   (seen as [B, G, r, L, S])
///   m = max_j(scores * scale + mask), e = exp(... - m), l = sum_j e
///   out = (e V) / l        back to [B, L, G*r, dv]
struct LowerSDPA : OpRewritePattern<SDPAOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t heads = op.getQuery().getType().getDimSize(2);
    int64_t kvHeads = op.getKey().getType().getDimSize(2);
    int64_t d = op.getQuery().getType().getDimSize(3);
    int64_t dv = op.getValue().getType().getDimSize(3);
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) ||
        ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
      return rewriter.notifyMatchFailure(
          op, "head counts and widths must be static to lower");
    int64_t group = heads / kvHeads;
    Type elementType = elementTypeOf(q);
    Type f32 = rewriter.getF32Type();
    SmallVector<OpFoldResult> qDims = getDims(rewriter, loc, q);
    SmallVector<OpFoldResult> kDims = getDims(rewriter, loc, k);
    OpFoldResult batch = qDims[0], len = qDims[1], keyLen = kDims[1];
    auto idx = [&](int64_t n) -> OpFoldResult {
      return rewriter.getIndexAttr(n);
    };
    const double negInf = -std::numeric_limits<double>::infinity();

    // Q [B, L, G, r, d] -> [B, G, r, L, d] -> [B*G, r*L, d].
    Value qg = relayout(rewriter, loc, q, {{0}, {1}, {2, 3}, {4}},
                        {batch, len, idx(kvHeads), idx(group), idx(d)},
                        {0, 2, 3, 1, 4}, {{0, 1}, {2, 3}, {4}});
    // K [B, S, G, d] -> [B, G, d, S] -> [B*G, d, S].
    Value kt = relayout(rewriter, loc, k, {}, {}, {0, 2, 3, 1},
                        {{0, 1}, {2}, {3}});
    // V [B, S, G, dv] -> [B, G, S, dv] -> [B*G, S, dv].
    Value vg = relayout(rewriter, loc, v, {}, {}, {0, 2, 1, 3},
                        {{0, 1}, {2}, {3}});


    // Both matmuls run on f32 operands.
    auto widen = [&](Value value) -> Value {
      auto type = cast<RankedTensorType>(value.getType());
      if (type.getElementType() == f32)
        return value;
      return arith::ExtFOp::create(rewriter, loc, type.clone(f32), value);
    };
    qg = widen(qg);
    kt = widen(kt);
    vg = widen(vg);

    // scores = Q K, accumulated in f32.
    SmallVector<OpFoldResult> qgDims = getDims(rewriter, loc, qg);
    Value scoreInit = buildFilled(rewriter, loc, {qgDims[0], qgDims[1], keyLen},
                                  f32, 0.0);
    Value scores = linalg::BatchMatmulOp::create(
                       rewriter, loc, ValueRange{qg, kt}, ValueRange{scoreInit})
                       .getResult(0);
    // ... seen as [B, G, r, L, S] for the softmax.
    SmallVector<OpFoldResult> rowSpace = {batch, idx(kvHeads), idx(group), len,
                                          keyLen};
    Value scores5 = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get(
            {op.getQuery().getType().getDimSize(0), kvHeads, group,
             op.getQuery().getType().getDimSize(1),
             op.getKey().getType().getDimSize(1)},
            f32),
        scores, ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}, {4}}, rowSpace);

    // Iteration space (b, g, rr, i, j): query head h = g * r + rr.
    AffineExpr b, g, rr, i, j;
    bindDims(ctx, b, g, rr, i, j);
    AffineMap all5 = dimsMap(ctx, 5, {b, g, rr, i, j});
    AffineMap rows5 = dimsMap(ctx, 5, {b, g, rr, i});
    SmallVector<Value> scoreInputs = {scores5};
    SmallVector<AffineMap> scoreMaps = {all5};
    Value mask = op.getMask();
    if (mask) {
      scoreInputs.push_back(mask);
      bool perHead = cast<ShapedType>(mask.getType()).getRank() == 4;
      scoreMaps.push_back(perHead ? dimsMap(ctx, 5, {b, g * group + rr, i, j})
                                  : dimsMap(ctx, 5, {i, j}));
    }
    double scale = op.getScale().convertToDouble();
    bool causal = op.getCausal();
    // The scaled, masked score of the current (b, g, rr, i, j).
    auto maskedScore = [&](OpBuilder &bb, Location l, ValueRange args) {
      Value s = arith::MulFOp::create(bb, l, args[0], f32Const(bb, l, scale));
      if (mask)
        s = arith::AddFOp::create(bb, l, s, castFloat(bb, l, args[1], f32));
      if (causal) {
        Value row = linalg::IndexOp::create(bb, l, 3);
        Value col = linalg::IndexOp::create(bb, l, 4);
        Value future = arith::CmpIOp::create(bb, l, arith::CmpIPredicate::ugt,
                                             col, row);
        s = arith::SelectOp::create(bb, l, future, f32Const(bb, l, negInf), s);
      }
      return s;
    };
    SmallVector<utils::IteratorType> rowReduction = {kPar, kPar, kPar, kPar,
                                                     kRed};
    SmallVector<utils::IteratorType> allParallel(5, kPar);

    // m = max_j masked score.
    SmallVector<OpFoldResult> rowDims(rowSpace.begin(), rowSpace.end() - 1);
    Value maxInit = buildFilled(rewriter, loc, rowDims, f32, negInf);
    SmallVector<AffineMap> maxMaps = scoreMaps;
    maxMaps.push_back(rows5);
    auto rowMax = linalg::GenericOp::create(
        rewriter, loc, maxInit.getType(), scoreInputs, ValueRange{maxInit},
        maxMaps, rowReduction, [&](OpBuilder &bb, Location l, ValueRange args) {
          Value s = maskedScore(bb, l, args);
          linalg::YieldOp::create(
              bb, l, ValueRange{arith::MaximumFOp::create(bb, l, s, args.back())});
        });
    markRows(rowMax);

    // e = exp(masked score - m); a fully masked row (m = -inf) subtracts 0,
    // so that its e is 0 rather than NaN.
    SmallVector<Value> expInputs = scoreInputs;
    expInputs.push_back(rowMax.getResult(0));
    SmallVector<AffineMap> expMaps = scoreMaps;
    expMaps.append({rows5, all5});
    Value expInit = buildEmpty(rewriter, loc, rowSpace, f32);
    auto exps = linalg::GenericOp::create(
        rewriter, loc, expInit.getType(), expInputs, ValueRange{expInit},
        expMaps, allParallel, [&](OpBuilder &bb, Location l, ValueRange args) {
          Value s = maskedScore(bb, l, args);
          Value m = args[args.size() - 2];
          Value isEmpty = arith::CmpFOp::create(
              bb, l, arith::CmpFPredicate::OEQ, m, f32Const(bb, l, negInf));
          Value shift =
              arith::SelectOp::create(bb, l, isEmpty, f32Const(bb, l, 0.0), m);
          Value e = math::ExpOp::create(bb, l,
                                        arith::SubFOp::create(bb, l, s, shift));
          linalg::YieldOp::create(bb, l, ValueRange{e});
        });
    markRows(exps);

    // l = sum_j e.
    Value sumInit = buildFilled(rewriter, loc, rowDims, f32, 0.0);
    auto rowSum = linalg::GenericOp::create(
        rewriter, loc, sumInit.getType(), ValueRange{exps.getResult(0)},
        ValueRange{sumInit}, ArrayRef<AffineMap>{all5, rows5}, rowReduction,
        [&](OpBuilder &bb, Location l, ValueRange args) {
          linalg::YieldOp::create(
              bb, l, ValueRange{arith::AddFOp::create(bb, l, args[0], args[1])});
        });
    markRows(rowSum);

    // pv = e V, in f32: [B*G, r*L, S] x [B*G, S, dv].
    Value e3 = tensor::CollapseShapeOp::create(
        rewriter, loc, exps.getResult(0),
        ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}, {4}});
    Value pvInit =
        buildFilled(rewriter, loc, {qgDims[0], qgDims[1], idx(dv)}, f32, 0.0);
    Value pv = linalg::BatchMatmulOp::create(rewriter, loc,
                                             ValueRange{e3, vg},
                                             ValueRange{pvInit})
                   .getResult(0);
    Value pv5 = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get(
            {op.getQuery().getType().getDimSize(0), kvHeads, group,
             op.getQuery().getType().getDimSize(1), dv},
            f32),
        pv, ArrayRef<ReassociationIndices>{{0, 1}, {2, 3}, {4}},
        ArrayRef<OpFoldResult>{batch, idx(kvHeads), idx(group), len, idx(dv)});

    // out[b, i, g, rr, c] = pv / l (0 for fully masked rows), then heads
    // merged: [B, L, G, r, dv] -> [B, L, H, dv].
    AffineExpr ob, oi, og, orr, oc;
    bindDims(ctx, ob, oi, og, orr, oc);
    Value outInit = buildEmpty(
        rewriter, loc, {batch, len, idx(kvHeads), idx(group), idx(dv)},
        elementType);
    auto normalised = linalg::GenericOp::create(
        rewriter, loc, outInit.getType(), ValueRange{pv5, rowSum.getResult(0)},
        ValueRange{outInit},
        ArrayRef<AffineMap>{dimsMap(ctx, 5, {ob, og, orr, oi, oc}),
                            dimsMap(ctx, 5, {ob, og, orr, oi}),
                            dimsMap(ctx, 5, {ob, oi, og, orr, oc})},
        allParallel, [&](OpBuilder &bb, Location l, ValueRange args) {
          Value isEmpty = arith::CmpFOp::create(
              bb, l, arith::CmpFPredicate::OEQ, args[1], f32Const(bb, l, 0.0));
          Value denom = arith::SelectOp::create(bb, l, isEmpty,
                                                f32Const(bb, l, 1.0), args[1]);
          Value o = arith::DivFOp::create(bb, l, args[0], denom);
          linalg::YieldOp::create(bb, l,
                                  ValueRange{castFloat(bb, l, o, elementType)});
        });
    markRows(normalised);
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getType(), normalised.getResult(0),
        ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
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
