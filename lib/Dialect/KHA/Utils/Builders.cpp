//===- Builders.cpp - IR construction helpers shared by kha rewrites ------===//

#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

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

Value kha::buildMatmul(OpBuilder &builder, Location loc, Value lhs, Value rhs) {
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  Type elementType = lhsType.getElementType();
  Type accType = builder.getF32Type();

  SmallVector<OpFoldResult> sizes = {getDims(builder, loc, lhs)[0],
                                     getDims(builder, loc, rhs)[1]};
  Value empty = tensor::EmptyOp::create(builder, loc, sizes, accType);
  Value zero = arith::ConstantOp::create(builder, loc, accType,
                                         builder.getFloatAttr(accType, 0.0));
  Value init =
      linalg::FillOp::create(builder, loc, ValueRange{zero}, ValueRange{empty})
          .getResult(0);
  Value product = linalg::MatmulOp::create(builder, loc, ValueRange{lhs, rhs},
                                           ValueRange{init})
                      .getResult(0);
  if (elementType == accType)
    return product;
  auto narrowType = cast<RankedTensorType>(product.getType())
                        .clone(elementType);
  return arith::TruncFOp::create(builder, loc, narrowType, product);
}
