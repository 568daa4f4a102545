//===- SDPATiling.cpp - kha.sdpa as a tileable structured op --------------===//
//
// The iteration domain of kha.sdpa is (b, l, g, r, e): batch, query row,
// key/value head, query head within the group (h = g * H/G + r) and value
// column, all parallel. The key positions are not a loop of the domain: the
// softmax needs every key of a row, and kha-decompose-sdpa walks them in
// blocks with an online softmax.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::kha;

namespace {
/// The loops of the iteration domain.
enum SDPALoop : unsigned { kBatch, kRow, kKVHead, kGroupHead, kColumn, kLoops };

/// `expr(operands)` as a folded affine.apply of symbols.
OpFoldResult apply(OpBuilder &b, Location loc, AffineExpr expr,
                   ArrayRef<OpFoldResult> operands) {
  return affine::makeComposedFoldedAffineApply(b, loc, expr, operands);
}

/// The static query heads per key/value head, or nullopt when H or G is
/// dynamic.
std::optional<int64_t> groupSize(SDPAOp op) {
  int64_t heads = op.getQuery().getType().getDimSize(2);
  int64_t kvHeads = op.getKey().getType().getDimSize(2);
  if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads))
    return std::nullopt;
  return heads / kvHeads;
}

/// The query heads a tile of (g, r) covers, as one contiguous range of H:
/// it is one when the tile takes whole groups or a single group.
struct HeadRange {
  OpFoldResult offset, size;
};
FailureOr<HeadRange> queryHeads(OpBuilder &b, Location loc, int64_t group,
                                ArrayRef<OpFoldResult> offsets,
                                ArrayRef<OpFoldResult> sizes) {
  std::optional<int64_t> groups = getConstantIntValue(sizes[kKVHead]);
  std::optional<int64_t> within = getConstantIntValue(sizes[kGroupHead]);
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  OpFoldResult offset =
      apply(b, loc, s0 * group + s1, {offsets[kKVHead], offsets[kGroupHead]});
  if (within && *within == group)
    return HeadRange{offset, apply(b, loc, s0 * group, {sizes[kKVHead]})};
  if (groups && *groups == 1)
    return HeadRange{offset, sizes[kGroupHead]};
  return failure();
}

Value slice(OpBuilder &b, Location loc, Value source,
            ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
            SmallVectorImpl<Operation *> &slices) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  auto op =
      tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes, strides);
  slices.push_back(op);
  return op.getResult();
}
} // namespace

OpFoldResult SDPAOp::getCausalBase(OpBuilder &b) {
  if (Value offset = getQueryOffset())
    return offset;
  if (!getBottomRight())
    return b.getIndexAttr(0);
  Location loc = getLoc();
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  return apply(b, loc, s0 - s1,
               {tensor::getMixedSize(b, loc, getKey(), 1),
                tensor::getMixedSize(b, loc, getQuery(), 1)});
}

Value SDPAOp::createInit(OpBuilder &b, Location loc, Value query, Value value) {
  SmallVector<OpFoldResult> dims = tensor::getMixedSizes(b, loc, query);
  dims[3] = tensor::getMixedSize(b, loc, value, 3);
  return tensor::EmptyOp::create(
      b, loc, dims, cast<RankedTensorType>(query.getType()).getElementType());
}

LogicalResult
SDPAOp::reifyResultShapes(OpBuilder &b,
                          ReifiedRankedShapedTypeDims &reifiedReturnShapes) {
  reifiedReturnShapes.push_back(tensor::getMixedSizes(b, getLoc(), getInit()));
  return success();
}

SmallVector<utils::IteratorType> SDPAOp::getLoopIteratorTypes() {
  return SmallVector<utils::IteratorType>(kLoops,
                                          utils::IteratorType::parallel);
}

SmallVector<Range> SDPAOp::getIterationDomain(OpBuilder &b) {
  Location loc = getLoc();
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult heads = tensor::getMixedSize(b, loc, getQuery(), 2);
  OpFoldResult kvHeads = tensor::getMixedSize(b, loc, getKey(), 2);
  OpFoldResult group;
  if (std::optional<int64_t> r = groupSize(*this)) {
    group = b.getIndexAttr(*r);
  } else {
    group = arith::DivUIOp::create(
                b, loc, getValueOrCreateConstantIndexOp(b, loc, heads),
                getValueOrCreateConstantIndexOp(b, loc, kvHeads))
                .getResult();
  }
  SmallVector<OpFoldResult> sizes = {
      tensor::getMixedSize(b, loc, getQuery(), 0),
      tensor::getMixedSize(b, loc, getQuery(), 1), kvHeads, group,
      tensor::getMixedSize(b, loc, getValue(), 3)};
  SmallVector<Range> domain;
  for (OpFoldResult size : sizes)
    domain.push_back(Range{zero, size, one});
  return domain;
}

FailureOr<TilingResult>
SDPAOp::getTiledImplementation(OpBuilder &b, ArrayRef<OpFoldResult> offsets,
                               ArrayRef<OpFoldResult> sizes) {
  Location loc = getLoc();
  std::optional<int64_t> group = groupSize(*this);
  if (!group)
    return failure();
  FailureOr<HeadRange> heads = queryHeads(b, loc, *group, offsets, sizes);
  if (failed(heads))
    return failure();
  OpFoldResult zero = b.getIndexAttr(0);
  OpFoldResult keyLen = tensor::getMixedSize(b, loc, getKey(), 1);
  OpFoldResult d = tensor::getMixedSize(b, loc, getQuery(), 3);

  // With a causal mask the tile's last row sees keys up to its place on the
  // diagonal plus one: clamp(l0 + rows + base, 0, S) keys, from key 0.
  OpFoldResult keys = keyLen, rowOffset;
  if (getCausal()) {
    OpFoldResult base = getCausalBase(b);
    AffineExpr s0, s1, s2, s3;
    bindSymbols(b.getContext(), s0, s1, s2, s3);
    MLIRContext *ctx = b.getContext();
    OpFoldResult end = affine::makeComposedFoldedAffineMin(
        b, loc, AffineMap::get(0, 4, {s0 + s1 + s2, s3}, ctx),
        {offsets[kRow], sizes[kRow], base, keyLen});
    keys = affine::makeComposedFoldedAffineMax(
        b, loc, AffineMap::get(0, 1, {s0, b.getAffineConstantExpr(0)}, ctx),
        {end});
    rowOffset = apply(b, loc, s0 + s1, {base, offsets[kRow]});
  }

  SmallVector<Operation *> slices;
  Value init =
      slice(b, loc, getInit(),
            {offsets[kBatch], offsets[kRow], heads->offset, offsets[kColumn]},
            {sizes[kBatch], sizes[kRow], heads->size, sizes[kColumn]}, slices);

  // Every key is above the diagonal: the tile is zeros.
  if (std::optional<int64_t> n = getConstantIntValue(keys); n && *n == 0) {
    Value zeroValue = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(getType().getElementType()));
    auto fill = linalg::FillOp::create(b, loc, zeroValue, init);
    return TilingResult{{fill}, {fill.getResult(0)}, slices};
  }

  Value query = slice(b, loc, getQuery(),
                      {offsets[kBatch], offsets[kRow], heads->offset, zero},
                      {sizes[kBatch], sizes[kRow], heads->size, d}, slices);
  Value key =
      slice(b, loc, getKey(), {offsets[kBatch], zero, offsets[kKVHead], zero},
            {sizes[kBatch], keys, sizes[kKVHead], d}, slices);
  Value value =
      slice(b, loc, getValue(),
            {offsets[kBatch], zero, offsets[kKVHead], offsets[kColumn]},
            {sizes[kBatch], keys, sizes[kKVHead], sizes[kColumn]}, slices);
  Value mask;
  if (Value fullMask = getMask()) {
    auto maskType = cast<RankedTensorType>(fullMask.getType());
    // [L, S], or [B, H, L, S] where a size of 1 is shared (not sliced).
    SmallVector<OpFoldResult> maskOffsets, maskSizes;
    SmallVector<std::pair<OpFoldResult, OpFoldResult>> dims = {
        {offsets[kRow], sizes[kRow]}};
    if (maskType.getRank() == 4)
      dims = {{offsets[kBatch], sizes[kBatch]},
              {heads->offset, heads->size},
              {offsets[kRow], sizes[kRow]}};
    for (auto [i, dim] : llvm::enumerate(dims)) {
      bool shared = maskType.getDimSize(i) == 1;
      maskOffsets.push_back(shared ? zero : dim.first);
      maskSizes.push_back(shared ? b.getIndexAttr(1) : dim.second);
    }
    maskOffsets.push_back(zero);
    maskSizes.push_back(keys);
    mask = slice(b, loc, fullMask, maskOffsets, maskSizes, slices);
  }

  Value queryOffset;
  if (getCausal()) {
    std::optional<int64_t> c = getConstantIntValue(rowOffset);
    if (!c || *c != 0)
      queryOffset = getValueOrCreateConstantIndexOp(b, loc, rowOffset);
  }
  auto tiled = SDPAOp::create(b, loc, init.getType(), query, key, value, mask,
                              queryOffset, init, getScaleAttr(),
                              getCausalAttr(), /*bottom_right=*/UnitAttr());
  return TilingResult{{tiled}, {tiled.getResult()}, slices};
}

LogicalResult SDPAOp::getResultTilePosition(
    OpBuilder &b, unsigned resultNumber, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,
    SmallVector<OpFoldResult> &resultSizes) {
  std::optional<int64_t> group = groupSize(*this);
  if (!group)
    return failure();
  FailureOr<HeadRange> heads = queryHeads(b, getLoc(), *group, offsets, sizes);
  if (failed(heads))
    return failure();
  resultOffsets = {offsets[kBatch], offsets[kRow], heads->offset,
                   offsets[kColumn]};
  resultSizes = {sizes[kBatch], sizes[kRow], heads->size, sizes[kColumn]};
  return success();
}

FailureOr<TilingResult>
SDPAOp::generateResultTileValue(OpBuilder &b, unsigned resultNumber,
                                ArrayRef<OpFoldResult> offsets,
                                ArrayRef<OpFoldResult> sizes) {
  // Result heads [h0, h0 + n) as (g, r): whole groups when n is a multiple
  // of H/G, part of one group when it divides H/G (h0 is then assumed not to
  // cross a group, as tiles of size n starting at multiples of n do not).
  std::optional<int64_t> group = groupSize(*this);
  std::optional<int64_t> n = getConstantIntValue(sizes[2]);
  if (!group || !n)
    return failure();
  Location loc = getLoc();
  AffineExpr s0;
  bindSymbols(b.getContext(), s0);
  OpFoldResult kvOffset = apply(b, loc, s0.floorDiv(*group), {offsets[2]});
  OpFoldResult withinOffset = apply(b, loc, s0 % *group, {offsets[2]});
  SmallVector<OpFoldResult> domainOffsets = {offsets[0], offsets[1], kvOffset,
                                             withinOffset, offsets[3]};
  SmallVector<OpFoldResult> domainSizes = {
      sizes[0], sizes[1], b.getIndexAttr(1), sizes[2], sizes[3]};
  if (*n % *group == 0) {
    domainSizes[kKVHead] = b.getIndexAttr(*n / *group);
    domainSizes[kGroupHead] = b.getIndexAttr(*group);
  } else if (*group % *n != 0) {
    return failure();
  }
  return getTiledImplementation(b, domainOffsets, domainSizes);
}
