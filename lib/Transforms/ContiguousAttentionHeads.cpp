//===- ContiguousAttentionHeads.cpp - one head's keys in one place --------===//
//
// The kha-contiguous-attention-heads pass. Keys and values are laid out
// [B, S, G, d]: one key/value head's rows lie G * d elements apart,
// interleaved with the other heads'. A tile of kha.sdpa reads one head, and
// with power-of-two G * d those rows fall into a few cache sets, so that a
// head's keys and values do not stay in cache between the key blocks and
// tiles that reread them. This pass transposes the operand once, to
// [B, G, S, d], before the loops that slice it, and gives each tile its
// head as a contiguous slice of the copy (reshaped to the op's layout:
// only dimensions of size 1 move).
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHACONTIGUOUSATTENTIONHEADSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
/// Dimensions of kha.sdpa's key and value operands.
enum { kBatch = 0, kSeq = 1, kHead = 2, kWidth = 3 };

/// The slice of one key/value head that `operand` is, if it is one: a
/// unit-stride tensor.extract_slice of size 1 along the heads and whole
/// along the width, of a source with more than one (static) head that is
/// defined outside the loop `op` is in.
tensor::ExtractSliceOp headSlice(Value operand, Operation *op) {
  auto slice = operand.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || !slice.hasUnitStride())
    return {};
  RankedTensorType source = slice.getSourceType();
  if (source.getRank() != 4 || slice.getType().getRank() != 4)
    return {};
  int64_t heads = source.getDimSize(kHead);
  if (ShapedType::isDynamic(heads) || heads < 2 ||
      ShapedType::isDynamic(source.getDimSize(kWidth)))
    return {};
  SmallVector<OpFoldResult> sizes = slice.getMixedSizes();
  std::optional<int64_t> headSize = getConstantIntValue(sizes[kHead]);
  std::optional<int64_t> width = getConstantIntValue(sizes[kWidth]);
  std::optional<int64_t> widthOffset =
      getConstantIntValue(slice.getMixedOffsets()[kWidth]);
  if (headSize != 1 || width != source.getDimSize(kWidth) || widthOffset != 0)
    return {};
  // A source made inside the loop would be transposed on every iteration.
  Region *sourceRegion = slice.getSource().getParentRegion();
  if (sourceRegion == op->getParentRegion() ||
      !sourceRegion->isProperAncestor(op->getParentRegion()))
    return {};
  return slice;
}

/// `slice` of [B, S, G, d] taken instead from the source transposed to
/// [B, G, S, d] (made right after the source), reshaped back to the slice's
/// type: [1, n, 1, d] and [1, 1, n, d] differ only in where the dimensions of
/// size 1 are.
Value sliceOfHeadMajorCopy(RewriterBase &rewriter,
                           tensor::ExtractSliceOp slice) {
  Value source = slice.getSource();
  Location loc = slice.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  if (Operation *def = source.getDefiningOp())
    rewriter.setInsertionPointAfter(def);
  else
    rewriter.setInsertionPointToStart(source.getParentBlock());
  SmallVector<int64_t> perm = {kBatch, kHead, kSeq, kWidth};
  SmallVector<OpFoldResult> dims = tensor::getMixedSizes(rewriter, loc, source);
  SmallVector<OpFoldResult> transposedDims;
  for (int64_t p : perm)
    transposedDims.push_back(dims[p]);
  Value init = tensor::EmptyOp::create(rewriter, loc, transposedDims,
                                       slice.getSourceType().getElementType());
  Value headMajor =
      linalg::TransposeOp::create(rewriter, loc, source, init, perm)
          .getResult()[0];

  rewriter.setInsertionPoint(slice);
  SmallVector<OpFoldResult> offsets, sizes;
  for (int64_t p : perm) {
    offsets.push_back(slice.getMixedOffsets()[p]);
    sizes.push_back(slice.getMixedSizes()[p]);
  }
  SmallVector<OpFoldResult> strides(4, rewriter.getIndexAttr(1));
  Value head = tensor::ExtractSliceOp::create(rewriter, loc, headMajor, offsets,
                                              sizes, strides);
  // [b, 1, n, d] -> [b*n, d] -> [b, n, 1, d]: the batch size of a tile is
  // 1, or the head dimension would not be the only one moved.
  SmallVector<ReassociationIndices> groups = {{0, 1, 2}, {3}};
  Value rows = tensor::CollapseShapeOp::create(rewriter, loc, head, groups);
  return tensor::ExpandShapeOp::create(rewriter, loc, slice.getType(), rows,
                                       groups, slice.getMixedSizes());
}

struct ContiguousAttentionHeads : OpRewritePattern<SDPAOp> {
  ContiguousAttentionHeads(MLIRContext *ctx, int64_t minRows)
      : OpRewritePattern(ctx), minRows(minRows) {}

  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    // Each key is reread by a tile's query rows: with few of them
    // (decoding) the copy would cost more than it saves.
    RankedTensorType query = op.getQuery().getType();
    int64_t len = query.getDimSize(1), heads = query.getDimSize(2);
    int64_t kvHeads = op.getKey().getType().getDimSize(2);
    if (ShapedType::isDynamic(len) || ShapedType::isDynamic(heads) ||
        ShapedType::isDynamic(kvHeads) || len * (heads / kvHeads) < minRows)
      return rewriter.notifyMatchFailure(op, "too few query rows");
    bool changed = false;
    for (OpOperand *operand : {&op.getKeyMutable(), &op.getValueMutable()}) {
      tensor::ExtractSliceOp slice = headSlice(operand->get(), op);
      // The batch dimension must be sliced to size 1 too (see above).
      if (!slice || getConstantIntValue(slice.getMixedSizes()[kBatch]) != 1)
        continue;
      Value head = sliceOfHeadMajorCopy(rewriter, slice);
      rewriter.modifyOpInPlace(op, [&] { operand->set(head); });
      changed = true;
    }
    return success(changed);
  }

  int64_t minRows;
};

struct ContiguousAttentionHeadsPass
    : kha::impl::KHAContiguousAttentionHeadsPassBase<
          ContiguousAttentionHeadsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateContiguousAttentionHeadsPatterns(patterns, minRows);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateContiguousAttentionHeadsPatterns(RewritePatternSet &patterns,
                                                   int64_t minRows) {
  patterns.add<ContiguousAttentionHeads>(patterns.getContext(), minRows);
}
