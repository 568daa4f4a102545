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
#include "mlir/Dialect/Arith/Utils/Utils.h"
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
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, op.getInput());
    Value rows = tensor::CollapseShapeOp::create(rewriter, loc, op.getInput(),
                                                 kHeadsOuter);
    Value down =
        buildGatedMlp(rewriter, loc, rows, op.getUp(), op.getGate(), op.getDown());
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
    markRowWise(cast<linalg::GenericOp>(sumSq.getDefiningOp()));

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
    markRowWise(normalised);
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

    // cos/sin tables [L, d/2] (with given positions, [B, L, d/2]), computed
    // in f64: at position p the angle p * f_j (f_j = theta^(-2j/d), or a
    // scaled RoPE's given frequencies) must be exact to far below f32
    // precision.
    Value positions = op.getPositions();
    unsigned tableRank = positions ? 3 : 2;
    SmallVector<OpFoldResult> tableDims = {dims[1], rewriter.getIndexAttr(half)};
    if (positions)
      tableDims.insert(tableDims.begin(), dims[0]);
    Value tableInit = buildEmpty(rewriter, loc, tableDims, f32);
    AffineMap idTable = AffineMap::getMultiDimIdentityMap(tableRank, ctx);
    AffineExpr freqDim = getAffineDimExpr(tableRank - 1, ctx);
    SmallVector<Value> tableInputs;
    SmallVector<AffineMap> tableMaps;
    if (positions) {
      tableInputs.push_back(positions);
      tableMaps.push_back(AffineMap::get(
          3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx));
    }
    bool givenFrequencies = op.getFrequencies().has_value();
    if (std::optional<ArrayRef<double>> given = op.getFrequencies()) {
      auto type = RankedTensorType::get({half}, f64);
      tableInputs.push_back(arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(type, *given)));
      tableMaps.push_back(AffineMap::get(tableRank, 0, {freqDim}, ctx));
    }
    tableMaps.append({idTable, idTable});
    double attentionFactor =
        op.getAttentionFactor() ? op.getAttentionFactor()->convertToDouble()
                                : 1.0;
    auto tables = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableInit.getType(), tableInit.getType()},
        tableInputs, ValueRange{tableInit, tableInit}, tableMaps,
        SmallVector<utils::IteratorType>(tableRank, kPar),
        [&](OpBuilder &b, Location l, ValueRange args) {
          auto toF64 = [&](unsigned dim) -> Value {
            Value index = linalg::IndexOp::create(b, l, dim);
            Value i64 =
                arith::IndexCastOp::create(b, l, b.getI64Type(), index);
            return arith::SIToFPOp::create(b, l, f64, i64);
          };
          Value pos = positions ? arith::SIToFPOp::create(b, l, f64, args[0])
                                : toF64(0);
          Value frequency;
          if (givenFrequencies) {
            frequency = args[positions ? 1 : 0];
          } else {
            Value exponent = arith::MulFOp::create(
                b, l, toF64(tableRank - 1),
                arith::ConstantOp::create(b, l, b.getF64FloatAttr(-2.0 / d)));
            Value base =
                arith::ConstantOp::create(b, l, b.getF64FloatAttr(theta));
            frequency = math::PowFOp::create(b, l, base, exponent);
          }
          Value angle = arith::MulFOp::create(b, l, pos, frequency);
          Value c = math::CosOp::create(b, l, angle);
          Value s = math::SinOp::create(b, l, angle);
          if (attentionFactor != 1.0) {
            Value factor = arith::ConstantOp::create(
                b, l, b.getF64FloatAttr(attentionFactor));
            c = arith::MulFOp::create(b, l, c, factor);
            s = arith::MulFOp::create(b, l, s, factor);
          }
          linalg::YieldOp::create(
              b, l, ValueRange{castFloat(b, l, c, f32), castFloat(b, l, s, f32)});
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
    AffineMap table = positions ? dimsMap(ctx, 4, {b0, l1, j3})
                                : dimsMap(ctx, 4, {l1, j3});
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

    markRowWise(rotated);
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
    // K [B, S, G, d] -> [B, G, d, S] -> [B*G, d, S]. Decoding (bottom_right:
    // few query rows against a long cache) keeps d innermost instead,
    // [B*G, S, d], and multiplies by its transpose: a copy of the cache's
    // rows rather than a transpose through strided loads, which would cost
    // more than the attention itself.
    bool keysByRow = op.getBottomRight();
    Value kt = keysByRow ? relayout(rewriter, loc, k, {}, {}, {0, 2, 1, 3},
                                    {{0, 1}, {2}, {3}})
                         : relayout(rewriter, loc, k, {}, {}, {0, 2, 3, 1},
                                    {{0, 1}, {2}, {3}});
    // V [B, S, G, dv] -> [B, G, S, dv] -> [B*G, S, dv].
    Value vg = relayout(rewriter, loc, v, {}, {}, {0, 2, 1, 3},
                        {{0, 1}, {2}, {3}});

    // Both matmuls run on f32 operands.
    qg = widenToF32(rewriter, loc, qg);
    kt = widenToF32(rewriter, loc, kt);
    vg = widenToF32(rewriter, loc, vg);

    // scores = Q K: [N, R, S] with N = B*G and R = r*L. Row (n, row) is batch
    // n / G, query head (n mod G) * r + row / L, query position row mod L.
    SmallVector<OpFoldResult> qgDims = getDims(rewriter, loc, qg);
    OpFoldResult groups = qgDims[0], rows = qgDims[1];
    auto tag = [&](Operation *tagged, StringRef role) {
      tagged->setAttr("kha.attention", rewriter.getStringAttr(role));
    };
    Value scoreInit =
        buildFilled(rewriter, loc, {groups, rows, keyLen}, f32, 0.0);
    auto scoresOp = linalg::BatchMatmulOp::create(
        rewriter, loc, ValueRange{qg, kt}, ValueRange{scoreInit});
    if (keysByRow) {
      AffineExpr b, m, n, kk;
      bindDims(ctx, b, m, n, kk);
      scoresOp.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(
          {AffineMap::get(4, 0, {b, m, kk}, ctx),
           AffineMap::get(4, 0, {b, n, kk}, ctx),
           AffineMap::get(4, 0, {b, m, n}, ctx)}));
    }
    tag(scoresOp, "scores");
    Value scores = scoresOp.getResult(0);

    AffineExpr n, r, jj;
    bindDims(ctx, n, r, jj);
    AffineMap all3 = dimsMap(ctx, 3, {n, r, jj});
    AffineMap rows3 = dimsMap(ctx, 3, {n, r});
    SmallVector<utils::IteratorType> rowReduction = {kPar, kPar, kRed};
    SmallVector<utils::IteratorType> allParallel(3, kPar);
    Value lenValue = getValueOrCreateConstantIndexOp(rewriter, loc, len);
    Value keyLenValue = getValueOrCreateConstantIndexOp(rewriter, loc, keyLen);
    Value mask = op.getMask();
    double scale = op.getScale().convertToDouble();
    bool causal = op.getCausal();
    // The scaled, masked score at the current (n, row, j); `score` is the
    // product Q K there. A mask is gathered with tensor.extract (its index
    // is not an affine function of (n, row, j) when L is dynamic).
    auto maskedScore = [&](OpBuilder &bb, Location l, Value score) {
      Value s = arith::MulFOp::create(bb, l, score, f32Const(bb, l, scale));
      if (!causal && !mask)
        return s;
      Value row = linalg::IndexOp::create(bb, l, 1);
      Value col = linalg::IndexOp::create(bb, l, 2);
      Value pos = arith::RemUIOp::create(bb, l, row, lenValue);
      if (mask) {
        SmallVector<Value> at = {pos, col};
        if (cast<ShapedType>(mask.getType()).getRank() == 4) {
          Value nIndex = linalg::IndexOp::create(bb, l, 0);
          Value kv = arith::ConstantIndexOp::create(bb, l, kvHeads);
          Value batchIndex = arith::DivUIOp::create(bb, l, nIndex, kv);
          Value head = arith::AddIOp::create(
              bb, l,
              arith::MulIOp::create(
                  bb, l, arith::RemUIOp::create(bb, l, nIndex, kv),
                  arith::ConstantIndexOp::create(bb, l, group)),
              arith::DivUIOp::create(bb, l, row, lenValue));
          at = {batchIndex, head, pos, col};
          // Size-1 dimensions are shared (broadcast).
          auto maskShape = cast<ShapedType>(mask.getType()).getShape();
          for (int64_t i = 0; i < 3; ++i)
            if (maskShape[i] == 1)
              at[i] = arith::ConstantIndexOp::create(bb, l, 0);
        }
        Value m = tensor::ExtractOp::create(bb, l, mask, at);
        s = arith::AddFOp::create(bb, l, s, castFloat(bb, l, m, f32));
      }
      if (causal) {
        // Key j is in query i's future when j > i, or, aligned bottom
        // right, j > i + S - L, i.e. j + L > i + S (no negative index).
        Value lhs = col, rhs = pos;
        if (op.getBottomRight()) {
          lhs = arith::AddIOp::create(bb, l, col, lenValue);
          rhs = arith::AddIOp::create(bb, l, pos, keyLenValue);
        }
        Value future = arith::CmpIOp::create(bb, l, arith::CmpIPredicate::ugt,
                                             lhs, rhs);
        s = arith::SelectOp::create(bb, l, future, f32Const(bb, l, negInf), s);
      }
      return s;
    };
    // Row-wise ops are vectorised by the CPU schedule unless a mask is
    // gathered.
    auto rowWise = [&](linalg::GenericOp generic, StringRef role) {
      tag(generic, role);
      if (!mask)
        markRowWise(generic);
    };

    // m = max_j masked score.
    Value maxInit = buildFilled(rewriter, loc, {groups, rows}, f32, negInf);
    auto rowMax = linalg::GenericOp::create(
        rewriter, loc, maxInit.getType(), ValueRange{scores},
        ValueRange{maxInit}, ArrayRef<AffineMap>{all3, rows3}, rowReduction,
        [&](OpBuilder &bb, Location l, ValueRange args) {
          Value s = maskedScore(bb, l, args[0]);
          linalg::YieldOp::create(
              bb, l, ValueRange{arith::MaximumFOp::create(bb, l, s, args[1])});
        });
    rowWise(rowMax, "max");

    // e = exp(masked score - m); a fully masked row (m = -inf) subtracts 0,
    // so that its e is 0 rather than NaN.
    Value expInit = buildEmpty(rewriter, loc, {groups, rows, keyLen}, f32);
    auto exps = linalg::GenericOp::create(
        rewriter, loc, expInit.getType(), ValueRange{scores, rowMax.getResult(0)},
        ValueRange{expInit}, ArrayRef<AffineMap>{all3, rows3, all3},
        allParallel, [&](OpBuilder &bb, Location l, ValueRange args) {
          Value s = maskedScore(bb, l, args[0]);
          Value isEmpty = arith::CmpFOp::create(
              bb, l, arith::CmpFPredicate::OEQ, args[1], f32Const(bb, l, negInf));
          Value shift = arith::SelectOp::create(bb, l, isEmpty,
                                                f32Const(bb, l, 0.0), args[1]);
          Value e = math::ExpOp::create(bb, l,
                                        arith::SubFOp::create(bb, l, s, shift));
          linalg::YieldOp::create(bb, l, ValueRange{e});
        });
    rowWise(exps, "exp");

    // l = sum_j e.
    Value sumInit = buildFilled(rewriter, loc, {groups, rows}, f32, 0.0);
    auto rowSum = linalg::GenericOp::create(
        rewriter, loc, sumInit.getType(), ValueRange{exps.getResult(0)},
        ValueRange{sumInit}, ArrayRef<AffineMap>{all3, rows3}, rowReduction,
        [&](OpBuilder &bb, Location l, ValueRange args) {
          linalg::YieldOp::create(
              bb, l, ValueRange{arith::AddFOp::create(bb, l, args[0], args[1])});
        });
    tag(rowSum, "sum");
    markRowWise(rowSum);

    // pv = e V: [N, R, S] x [N, S, dv], in f32.
    Value pvInit = buildFilled(rewriter, loc, {groups, rows, idx(dv)}, f32, 0.0);
    auto pvOp = linalg::BatchMatmulOp::create(
        rewriter, loc, ValueRange{exps.getResult(0), vg}, ValueRange{pvInit});
    tag(pvOp, "pv");

    // out = pv / l (0 for fully masked rows), rounded to the element type;
    // the root of the fused attention loop (kha-cpu-schedule).
    Value outInit =
        buildEmpty(rewriter, loc, {groups, rows, idx(dv)}, elementType);
    auto normalised = linalg::GenericOp::create(
        rewriter, loc, outInit.getType(),
        ValueRange{pvOp.getResult(0), rowSum.getResult(0)}, ValueRange{outInit},
        ArrayRef<AffineMap>{all3, rows3, all3}, allParallel,
        [&](OpBuilder &bb, Location l, ValueRange args) {
          Value isEmpty = arith::CmpFOp::create(
              bb, l, arith::CmpFPredicate::OEQ, args[1], f32Const(bb, l, 0.0));
          Value denom = arith::SelectOp::create(bb, l, isEmpty,
                                                f32Const(bb, l, 1.0), args[1]);
          Value o = arith::DivFOp::create(bb, l, args[0], denom);
          linalg::YieldOp::create(bb, l,
                                  ValueRange{castFloat(bb, l, o, elementType)});
        });
    tag(normalised, "root");
    markRowWise(normalised);

    // [B*G, r*L, dv] -> [B, G, r, L, dv] -> [B, L, G, r, dv] -> [B, L, H, dv].
    Value out = relayout(rewriter, loc, normalised.getResult(0),
                         {{0, 1}, {2, 3}, {4}},
                         {batch, idx(kvHeads), idx(group), len, idx(dv)},
                         {0, 3, 1, 2, 4}, {{0}, {1}, {2, 3}, {4}});
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct LowerToLinalgPass
    : kha::impl::KHALowerToLinalgPassBase<LowerToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<KHADialect>();
    // Kernel-level ops (inside GPU kernels already generated) stay.
    target.addLegalOp<WarpgroupMmaRegisterAOp>();
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
