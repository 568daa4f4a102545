//===- PerHeadTiling.cpp - per-head ops as tileable structured ops --------===//
//
// kha.linear_knock, kha.mlp_knock and kha.rms_norm map each head vector
// input[b, l, n, :] to result[b, l, n, :] with parameters shared by every
// head and token. Their iteration domain is (b, l, n), all parallel; a
// tile reads its head vectors whole (the d entries of a vector mix) and the
// parameters as they are.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

using namespace mlir;
using namespace mlir::kha;

namespace {
/// The loops of the iteration domain: batch, token, head.
constexpr unsigned kPerHeadLoops = 3;

/// The head vectors of a (b, l, n) tile: its positions, and the whole last
/// dimension.
void vectorsOf(OpBuilder &b, Value input, ArrayRef<OpFoldResult> offsets,
               ArrayRef<OpFoldResult> sizes,
               SmallVectorImpl<OpFoldResult> &vectorOffsets,
               SmallVectorImpl<OpFoldResult> &vectorSizes) {
  vectorOffsets.assign(offsets.begin(), offsets.end());
  vectorOffsets.push_back(b.getIndexAttr(0));
  vectorSizes.assign(sizes.begin(), sizes.end());
  vectorSizes.push_back(tensor::getMixedSize(b, input.getLoc(), input, 3));
}

LogicalResult reifyPerHead(Operation *op, OpBuilder &b,
                           ReifiedRankedShapedTypeDims &shapes) {
  Value input = op->getOperand(0);
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<OpFoldResult> dims =
      tensor::getMixedSizes(b, op->getLoc(), input);
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!type.isDynamicDim(i))
      dims[i] = b.getIndexAttr(type.getDimSize(i));
  shapes.push_back(dims);
  return success();
}

SmallVector<Range> perHeadDomain(Operation *op, OpBuilder &b) {
  Value input = op->getOperand(0);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<Range> domain;
  for (unsigned i = 0; i < kPerHeadLoops; ++i)
    domain.push_back(
        Range{zero, tensor::getMixedSize(b, op->getLoc(), input, i), one});
  return domain;
}

/// The op on the tile's head vectors (the parameters unchanged).
FailureOr<TilingResult> tilePerHead(Operation *op, OpBuilder &b,
                                    ArrayRef<OpFoldResult> offsets,
                                    ArrayRef<OpFoldResult> sizes) {
  Location loc = op->getLoc();
  Value input = op->getOperand(0);
  SmallVector<OpFoldResult> vectorOffsets, vectorSizes;
  vectorsOf(b, input, offsets, sizes, vectorOffsets, vectorSizes);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  auto slice = tensor::ExtractSliceOp::create(b, loc, input, vectorOffsets,
                                              vectorSizes, strides);
  SmallVector<Value> operands(op->getOperands());
  operands[0] = slice;
  Operation *tiled = clone(b, op, {slice.getType()}, operands);
  return TilingResult{{tiled}, {tiled->getResult(0)}, {slice}};
}

LogicalResult perHeadResultTile(Operation *op, OpBuilder &b,
                                ArrayRef<OpFoldResult> offsets,
                                ArrayRef<OpFoldResult> sizes,
                                SmallVector<OpFoldResult> &resultOffsets,
                                SmallVector<OpFoldResult> &resultSizes) {
  vectorsOf(b, op->getOperand(0), offsets, sizes, resultOffsets, resultSizes);
  return success();
}

/// A tile of the result: whole head vectors only (their entries mix).
FailureOr<TilingResult> perHeadResultTileValue(Operation *op, OpBuilder &b,
                                               ArrayRef<OpFoldResult> offsets,
                                               ArrayRef<OpFoldResult> sizes) {
  OpFoldResult d = tensor::getMixedSize(b, op->getLoc(), op->getOperand(0), 3);
  if (!isZeroInteger(offsets[3]) || !isEqualConstantIntOrValue(sizes[3], d))
    return failure();
  return tilePerHead(op, b, offsets.take_front(kPerHeadLoops),
                     sizes.take_front(kPerHeadLoops));
}
} // namespace

#define KHA_PER_HEAD_TILING(OP)                                                \
  LogicalResult OP::reifyResultShapes(OpBuilder &b,                            \
                                      ReifiedRankedShapedTypeDims &shapes) {   \
    return reifyPerHead(*this, b, shapes);                                     \
  }                                                                            \
  SmallVector<utils::IteratorType> OP::getLoopIteratorTypes() {                \
    return SmallVector<utils::IteratorType>(kPerHeadLoops,                     \
                                            utils::IteratorType::parallel);    \
  }                                                                            \
  SmallVector<Range> OP::getIterationDomain(OpBuilder &b) {                    \
    return perHeadDomain(*this, b);                                            \
  }                                                                            \
  FailureOr<TilingResult> OP::getTiledImplementation(                          \
      OpBuilder &b, ArrayRef<OpFoldResult> offsets,                            \
      ArrayRef<OpFoldResult> sizes) {                                          \
    return tilePerHead(*this, b, offsets, sizes);                              \
  }                                                                            \
  LogicalResult OP::getResultTilePosition(                                     \
      OpBuilder &b, unsigned, ArrayRef<OpFoldResult> offsets,                  \
      ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,  \
      SmallVector<OpFoldResult> &resultSizes) {                                \
    return perHeadResultTile(*this, b, offsets, sizes, resultOffsets,          \
                             resultSizes);                                     \
  }                                                                            \
  FailureOr<TilingResult> OP::generateResultTileValue(                         \
      OpBuilder &b, unsigned, ArrayRef<OpFoldResult> offsets,                  \
      ArrayRef<OpFoldResult> sizes) {                                          \
    return perHeadResultTileValue(*this, b, offsets, sizes);                   \
  }

KHA_PER_HEAD_TILING(LinearKnockOp)
KHA_PER_HEAD_TILING(MlpKnockOp)
KHA_PER_HEAD_TILING(RMSNormOp)
