//===- Builders.cpp - IR construction helpers shared by kha rewrites ------===//

#include "kha/Dialect/KHA/Utils/Builders.h"

#include <limits>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

SmallVector<OpFoldResult> kha::getDims(OpBuilder &builder, Location loc,
                                       Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> dims;
  for (int64_t i = 0, e = type.getRank(); i < e; ++i) {
    if (type.isDynamicDim(i))
      dims.push_back(tensor::DimOp::create(builder, loc, value, i).getResult());
    else
      dims.push_back(builder.getIndexAttr(type.getDimSize(i)));
  }
  return dims;
}

Value kha::buildEmpty(OpBuilder &builder, Location loc,
                      ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(builder, loc, sizes, elementType);
}

Value kha::buildKeyPaddingMask(OpBuilder &builder, Location loc, Value keep,
                               Type elementType) {
  MLIRContext *ctx = builder.getContext();
  SmallVector<OpFoldResult> keepDims = getDims(builder, loc, keep);
  Value init = buildEmpty(builder, loc,
                          {keepDims[0], builder.getIndexAttr(1),
                           builder.getIndexAttr(1), keepDims[1]},
                          elementType);
  AffineExpr b, s;
  bindDims(ctx, b, s);
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  auto maps =
      SmallVector<AffineMap>{AffineMap::get(2, 0, {b, s}, ctx),
                             AffineMap::get(2, 0, {b, zero, zero, s}, ctx)};
  auto generic = linalg::GenericOp::create(
      builder, loc, init.getType(), ValueRange{keep}, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value zeroInt = arith::ConstantOp::create(
            b, l, b.getIntegerAttr(args[0].getType(), 0));
        Value padding = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                              args[0], zeroInt);
        Value none =
            arith::ConstantOp::create(b, l, b.getFloatAttr(elementType, 0.0));
        Value minusInf = arith::ConstantOp::create(
            b, l,
            b.getFloatAttr(elementType,
                           -std::numeric_limits<double>::infinity()));
        linalg::YieldOp::create(
            b, l,
            ValueRange{arith::SelectOp::create(b, l, padding, minusInf, none)});
      });
  return generic.getResult(0);
}

Value kha::buildFilled(OpBuilder &builder, Location loc,
                       ArrayRef<OpFoldResult> sizes, Type elementType,
                       double value) {
  Value empty = buildEmpty(builder, loc, sizes, elementType);
  Value scalar = arith::ConstantOp::create(
      builder, loc, elementType, builder.getFloatAttr(elementType, value));
  return linalg::FillOp::create(builder, loc, ValueRange{scalar},
                                ValueRange{empty})
      .getResult(0);
}

Value kha::widenToF32(OpBuilder &builder, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  Type f32 = builder.getF32Type();
  if (type.getElementType() == f32)
    return value;
  return arith::ExtFOp::create(builder, loc, type.clone(f32), value);
}

Type kha::storageElementType(Value value) {
  if (auto extension = value.getDefiningOp<arith::ExtFOp>())
    return getElementTypeOrSelf(extension.getIn().getType());
  return getElementTypeOrSelf(value.getType());
}

Value kha::roundThrough(OpBuilder &builder, Location loc, Value value,
                        Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  if (elementType.getIntOrFloatBitWidth() >=
      type.getElementType().getIntOrFloatBitWidth())
    return value;
  Value narrow =
      arith::TruncFOp::create(builder, loc, type.clone(elementType), value);
  return arith::ExtFOp::create(builder, loc, type, narrow);
}

Value kha::castFloat(OpBuilder &builder, Location loc, Value value, Type type) {
  unsigned from = value.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (value.getType() == type)
    return value;
  if (from < to)
    return arith::ExtFOp::create(builder, loc, type, value);
  return arith::TruncFOp::create(builder, loc, type, value);
}

Value kha::buildMatmulF32(OpBuilder &builder, Location loc, Value lhs,
                          Value rhs) {
  Type f32 = builder.getF32Type();
  // Narrow operands are widened first: the product is computed entirely in
  // f32, and the CPU code generator only vectorises same-type contractions.
  lhs = widenToF32(builder, loc, lhs);
  rhs = widenToF32(builder, loc, rhs);
  SmallVector<OpFoldResult> sizes = {getDims(builder, loc, lhs)[0],
                                     getDims(builder, loc, rhs)[1]};
  Value init = buildFilled(builder, loc, sizes, f32, 0.0);
  return linalg::MatmulOp::create(builder, loc, ValueRange{lhs, rhs},
                                  ValueRange{init})
      .getResult(0);
}

Value kha::buildMatmul(OpBuilder &builder, Location loc, Value lhs, Value rhs) {
  Type elementType = cast<RankedTensorType>(lhs.getType()).getElementType();
  Value product = buildMatmulF32(builder, loc, lhs, rhs);
  if (elementType == cast<RankedTensorType>(product.getType()).getElementType())
    return product;
  auto narrowType =
      cast<RankedTensorType>(product.getType()).clone(elementType);
  return arith::TruncFOp::create(builder, loc, narrowType, product);
}

Value kha::buildBiasAdd(OpBuilder &builder, Location loc, Value value,
                        Value bias) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  int64_t biasRank = cast<RankedTensorType>(bias.getType()).getRank();
  MLIRContext *ctx = builder.getContext();
  SmallVector<AffineExpr> trailing;
  for (int64_t i = rank - biasRank; i < rank; ++i)
    trailing.push_back(getAffineDimExpr(i, ctx));
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, trailing, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value init = buildEmpty(builder, loc, getDims(builder, loc, value),
                          type.getElementType());
  Type f32 = builder.getF32Type();
  return linalg::GenericOp::create(
             builder, loc, type, ValueRange{value, bias}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value x = args[0], y = args[1];
               bool narrow = x.getType() != f32;
               if (narrow) {
                 x = arith::ExtFOp::create(b, l, f32, x);
                 y = arith::ExtFOp::create(b, l, f32, y);
               }
               Value sum = arith::AddFOp::create(b, l, x, y);
               if (narrow)
                 sum = arith::TruncFOp::create(b, l, args[0].getType(), sum);
               linalg::YieldOp::create(b, l, sum);
             })
      ->getResult(0);
}

DenseElementsAttr kha::multiplyConstantMatrices(DenseFPElementsAttr lhs,
                                                DenseFPElementsAttr rhs) {
  auto lhsType = cast<ShapedType>(lhs.getType());
  auto rhsType = cast<ShapedType>(rhs.getType());
  int64_t m = lhsType.getDimSize(0), k = lhsType.getDimSize(1),
          n = rhsType.getDimSize(1);
  auto toDoubles = [](DenseFPElementsAttr attr) {
    SmallVector<double> values;
    for (const APFloat &v : attr.getValues<APFloat>())
      values.push_back(v.convertToDouble());
    return values;
  };
  SmallVector<double> a = toDoubles(lhs), b = toDoubles(rhs);
  const llvm::fltSemantics &semantics =
      cast<FloatType>(lhsType.getElementType()).getFloatSemantics();
  SmallVector<APFloat> product;
  product.reserve(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t c = 0; c < k; ++c)
        sum += a[i * k + c] * b[c * n + j];
      APFloat value(sum);
      bool losesInfo;
      value.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
      product.push_back(value);
    }
  }
  return DenseElementsAttr::get(
      RankedTensorType::get({m, n}, lhsType.getElementType()), product);
}

static std::optional<DenseFPElementsAttr> getConstantElements(Value value) {
  DenseFPElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  return attr;
}

bool kha::isConstantIdentity(Value value) {
  std::optional<DenseFPElementsAttr> attr = getConstantElements(value);
  if (!attr)
    return false;
  auto type = cast<ShapedType>(attr->getType());
  if (type.getRank() != 2 || type.getDimSize(0) != type.getDimSize(1))
    return false;
  int64_t n = type.getDimSize(0);
  int64_t index = 0;
  for (const APFloat &element : attr->getValues<APFloat>()) {
    bool onDiagonal = index / n == index % n;
    ++index;
    if (onDiagonal ? !element.isExactlyValue(1.0) : !element.isZero())
      return false;
  }
  return true;
}

DenseFPElementsAttr kha::transposeConstant(DenseFPElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  SmallVector<APFloat> values(attr.getValues<APFloat>());
  SmallVector<APFloat> transposed;
  transposed.reserve(values.size());
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r)
      transposed.push_back(values[r * cols + c]);
  return cast<DenseFPElementsAttr>(DenseElementsAttr::get(
      RankedTensorType::get({cols, rows}, type.getElementType()), transposed));
}

Value kha::buildTransposedMatrix(OpBuilder &builder, Location loc,
                                 Value matrix) {
  DenseFPElementsAttr attr;
  if (matchPattern(matrix, m_Constant(&attr)))
    return arith::ConstantOp::create(builder, loc, transposeConstant(attr));
  auto type = cast<RankedTensorType>(matrix.getType());
  SmallVector<OpFoldResult> dims = getDims(builder, loc, matrix);
  Value init =
      buildEmpty(builder, loc, {dims[1], dims[0]}, type.getElementType());
  return linalg::TransposeOp::create(builder, loc, matrix, init,
                                     ArrayRef<int64_t>{1, 0})
      ->getResult(0);
}

bool kha::isZeroInit(Value init) {
  return isZeroFilled(init) || isConstantZero(init);
}

bool kha::isConstantZero(Value value) {
  std::optional<DenseFPElementsAttr> attr = getConstantElements(value);
  return attr && llvm::all_of(attr->getValues<APFloat>(),
                              [](const APFloat &v) { return v.isZero(); });
}

bool kha::isZeroFilled(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  FloatAttr value;
  return fill && matchPattern(fill.getInputs()[0], m_Constant(&value)) &&
         value.getValue().isPosZero();
}

Value kha::buildGatedMlp(OpBuilder &builder, Location loc, Value rows, Value up,
                         Value gate, Value down) {
  // Head vectors kept in f16/bf16 keep the MLP's intermediates (its up and
  // gate products, its hidden layer) in that type too, as a f16/bf16 module
  // does: every matmul of the layer then multiplies narrow operands and
  // stores a narrow product. The arithmetic is f32 throughout.
  Type f32 = builder.getF32Type();
  Type storage = storageElementType(rows);
  if (storage.getIntOrFloatBitWidth() >= 32)
    storage = f32;
  auto keep = [&](Value product) -> Value {
    if (storage == f32)
      return product;
    auto type = cast<RankedTensorType>(product.getType());
    return arith::TruncFOp::create(builder, loc, type.clone(storage), product);
  };
  Value u = keep(buildMatmulF32(builder, loc, rows, up));
  Value g = keep(buildMatmulF32(builder, loc, rows, gate));
  // 2 * u * sigmoid(g).
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, builder.getContext());
  Value init = buildEmpty(builder, loc, getDims(builder, loc, u), storage);
  auto gated = linalg::GenericOp::create(
      builder, loc, init.getType(), ValueRange{u, g}, ValueRange{init},
      ArrayRef<AffineMap>{id, id, id},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel},
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value upValue = castFloat(b, l, args[0], f32);
        Value gateValue = castFloat(b, l, args[1], f32);
        Value negGate = arith::NegFOp::create(b, l, gateValue);
        Value denom = arith::AddFOp::create(b, l, buildF32Constant(b, l, 1.0),
                                            math::ExpOp::create(b, l, negGate));
        Value twice = arith::AddFOp::create(b, l, upValue, upValue);
        Value hidden = arith::DivFOp::create(b, l, twice, denom);
        linalg::YieldOp::create(b, l,
                                ValueRange{castFloat(b, l, hidden, storage)});
      });
  // A constant identity down projection (kha-fold-knock moved it into the
  // output projection) costs nothing.
  if (isConstantIdentity(down))
    return gated.getResult(0);
  return buildMatmulF32(builder, loc, gated.getResult(0), down);
}

Value kha::buildF32Constant(OpBuilder &builder, Location loc, double value) {
  return arith::ConstantOp::create(builder, loc,
                                   builder.getF32FloatAttr(value));
}
