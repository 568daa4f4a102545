//===- KHAToLinalg.cpp - lower mid-level kha ops to linalg on tensors -----===//
//
// Every reduction runs in f32 whatever the element type; each op rounds its
// result to the element type once. docs/semantics.md states the math.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
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
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        op, op.getType(), product, kHeadsOuter, dims);
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
    Value down = buildGatedMlp(rewriter, loc, rows, op.getUp(), op.getGate(),
                               op.getDown());
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

    Value sumInit =
        buildFilled(rewriter, loc, ArrayRef(dims).take_front(3), f32, 0.0);
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

    // The row's scale 1 / sqrt(mean + eps), once per row: computed in the
    // elementwise op below, it would be one square root and division per
    // element once vectorised along the row.
    double eps = op.getEpsilon().convertToDouble();
    AffineMap rowsOnly = AffineMap::getMultiDimIdentityMap(3, ctx);
    Value scale =
        linalg::GenericOp::create(
            rewriter, loc, sumInit.getType(), ValueRange{sumSq},
            ValueRange{
                buildEmpty(rewriter, loc, ArrayRef(dims).take_front(3), f32)},
            ArrayRef<AffineMap>{rowsOnly, rowsOnly},
            ArrayRef<utils::IteratorType>{kPar, kPar, kPar},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value mean = arith::MulFOp::create(
                  b, l, args[0], buildF32Constant(b, l, 1.0 / double(d)));
              Value var = arith::AddFOp::create(b, l, mean,
                                                buildF32Constant(b, l, eps));
              Value inv =
                  arith::DivFOp::create(b, l, buildF32Constant(b, l, 1.0),
                                        math::SqrtOp::create(b, l, var));
              linalg::YieldOp::create(b, l, ValueRange{inv});
            })
            .getResult(0);

    Value init = buildEmpty(rewriter, loc, dims, elementType);
    rewriter.replaceOpWithNewOp<linalg::GenericOp>(
        op, op.getType(), ValueRange{x, scale, op.getWeight()},
        ValueRange{init}, ArrayRef<AffineMap>{all, rows, last, all},
        ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value y = arith::MulFOp::create(b, l, castFloat(b, l, args[0], f32),
                                          args[1]);
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

    // cos/sin tables [L, d/2] (with given positions, [B, L, d/2]), computed
    // in f64: at position p the angle p * f_j (f_j = theta^(-2j/d), or a
    // scaled RoPE's given frequencies) must be exact to far below f32
    // precision.
    Value positions = op.getPositions();
    unsigned tableRank = positions ? 3 : 2;
    SmallVector<OpFoldResult> tableDims = {dims[1],
                                           rewriter.getIndexAttr(half)};
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
    double attentionFactor = op.getAttentionFactor()
                                 ? op.getAttentionFactor()->convertToDouble()
                                 : 1.0;
    auto tables = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableInit.getType(), tableInit.getType()},
        tableInputs, ValueRange{tableInit, tableInit}, tableMaps,
        SmallVector<utils::IteratorType>(tableRank, kPar),
        [&](OpBuilder &b, Location l, ValueRange args) {
          auto toF64 = [&](unsigned dim) -> Value {
            Value index = linalg::IndexOp::create(b, l, dim);
            Value i64 = arith::IndexCastOp::create(b, l, b.getI64Type(), index);
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
              b, l,
              ValueRange{castFloat(b, l, c, f32), castFloat(b, l, s, f32)});
        });

    // Rotate the halves: out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin,
    // written as one result [B, L, H, 2, d/2] (half h of the row at h) that
    // is the op's result reshaped: bufferised, the rotation is computed in
    // place rather than into two halves copied into the row.
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

    AffineExpr b0, l1, n2, h3, j4;
    bindDims(ctx, b0, l1, n2, h3, j4);
    AffineMap row = dimsMap(ctx, 5, {b0, l1, n2, j4});
    AffineMap all = dimsMap(ctx, 5, {b0, l1, n2, h3, j4});
    AffineMap table =
        positions ? dimsMap(ctx, 5, {b0, l1, j4}) : dimsMap(ctx, 5, {l1, j4});
    SmallVector<OpFoldResult> splitDims = halfDims;
    splitDims.insert(splitDims.begin() + 3, rewriter.getIndexAttr(2));
    Value init = buildEmpty(rewriter, loc, splitDims, elementType);
    auto rotated = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()},
        ValueRange{x1, x2, tables.getResult(0), tables.getResult(1)},
        ValueRange{init}, ArrayRef<AffineMap>{row, row, table, table, all},
        SmallVector<utils::IteratorType>(5, kPar),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value a = castFloat(b, l, args[0], f32);
          Value c = castFloat(b, l, args[1], f32);
          Value cosA = args[2], sinA = args[3];
          Value out1 =
              arith::SubFOp::create(b, l, arith::MulFOp::create(b, l, a, cosA),
                                    arith::MulFOp::create(b, l, c, sinA));
          Value out2 =
              arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, c, cosA),
                                    arith::MulFOp::create(b, l, a, sinA));
          Value lower = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::eq, linalg::IndexOp::create(b, l, 3),
              arith::ConstantIndexOp::create(b, l, 0));
          Value out = arith::SelectOp::create(b, l, lower, out1, out2);
          linalg::YieldOp::create(
              b, l, ValueRange{castFloat(b, l, out, elementType)});
        });
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getType(), rotated.getResult(0),
        ArrayRef<ReassociationIndices>{{0}, {1}, {2}, {3, 4}});
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
  patterns.add<LowerLinearKnock, LowerMlpKnock, LowerRMSNorm, LowerRoPE>(
      patterns.getContext());
  populateDecomposeSDPAPatterns(patterns);
}
