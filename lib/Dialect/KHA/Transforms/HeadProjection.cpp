//===- HeadProjection.cpp - match a projection split into heads -----------===//

#include "HeadProjection.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::kha;

bool HeadProjection::isPlainMatmul() {
  auto matmul = dyn_cast<linalg::MatmulOp>(contraction.getOperation());
  return matmul && !matmul.hasUserDefinedMaps() && !broadcast &&
         weightInput == 1 && !transposed;
}

void HeadProjection::erase(PatternRewriter &rewriter) {
  rewriter.eraseOp(expand);
  if (trunc)
    rewriter.eraseOp(trunc);
  rewriter.eraseOp(contraction);
  if (broadcast && broadcast->use_empty())
    rewriter.eraseOp(broadcast);
}

FailureOr<HeadProjection> kha::matchHeadProjection(Value heads, Operation *user,
                                                   PatternRewriter &rewriter) {
  HeadProjection match;
  match.expand = heads.getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> groups;
  if (match.expand)
    groups = match.expand.getReassociationIndices();
  if (!match.expand || !match.expand->hasOneUse() || groups.empty() ||
      groups.back() != ReassociationIndices{2, 3})
    return rewriter.notifyMatchFailure(
        user, "input is not a projection split into heads");
  Value projection = match.expand.getSrc();
  match.trunc = projection.getDefiningOp<arith::TruncFOp>();
  if (match.trunc) {
    if (!match.trunc->hasOneUse())
      return rewriter.notifyMatchFailure(user, "rounding has other users");
    projection = match.trunc.getIn();
  }

  // C = A B, with C's last dimension the columns split into heads.
  match.contraction = projection.getDefiningOp<linalg::LinalgOp>();
  linalg::LinalgOp op = match.contraction;
  if (!op || !op->hasOneUse() || !op.hasPureTensorSemantics() ||
      op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op) ||
      !isZeroFilled(op.getDpsInits()[0]))
    return rewriter.notifyMatchFailure(
        user, "not fed by a single-use contraction from zero");
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->n.size() != 1 || dims->k.size() != 1)
    return rewriter.notifyMatchFailure(user, "not one [D, N*d] weight");
  unsigned n = dims->n[0], k = dims->k[0];
  AffineMap outMap = op.getIndexingMapMatchingResult(op->getResult(0));
  if (outMap.getNumResults() == 0 ||
      outMap.getResults().back() != getAffineDimExpr(n, op->getContext()))
    return rewriter.notifyMatchFailure(user, "heads are not the last columns");

  // B: the input indexed by n; its map is (batch..., k, n) in some order.
  AffineMap bMap;
  for (unsigned i = 0; i < 2; ++i) {
    AffineMap map = op.getMatchingIndexingMap(op.getDpsInputOperand(i));
    if (map.isFunctionOfDim(n)) {
      match.weightInput = i;
      bMap = map;
    }
  }
  if (!bMap.isProjectedPermutation())
    return rewriter.notifyMatchFailure(user, "weights are not a plain matrix");
  std::optional<unsigned> kPos =
      bMap.getResultPosition(getAffineDimExpr(k, op->getContext()));
  std::optional<unsigned> nPos =
      bMap.getResultPosition(getAffineDimExpr(n, op->getContext()));
  if (!kPos || !nPos)
    return rewriter.notifyMatchFailure(user, "weights are not a plain matrix");
  SmallVector<int64_t> batchPositions;
  for (unsigned p = 0; p < bMap.getNumResults(); ++p)
    if (p != *kPos && p != *nPos)
      batchPositions.push_back(p);
  match.transposed = *nPos < *kPos;
  if (!batchPositions.empty()) {
    // One weight per batch entry is folded only when they are all the same
    // matrix, broadcast.
    match.broadcast = op.getDpsInputs()[match.weightInput]
                          .getDefiningOp<linalg::BroadcastOp>();
    if (!match.broadcast ||
        match.broadcast.getDimensions() != ArrayRef<int64_t>(batchPositions))
      return rewriter.notifyMatchFailure(
          user, "weights differ across the batch (not a broadcast matrix)");
  }

  auto weightType = cast<RankedTensorType>(match.weight().getType());
  int64_t d = cast<ShapedType>(heads.getType()).getDimSize(3);
  int64_t columns = weightType.getDimSize(match.transposed ? 0 : 1);
  if (weightType.getRank() != 2 || !weightType.hasStaticShape() ||
      ShapedType::isDynamic(d) || columns % d != 0)
    return rewriter.notifyMatchFailure(user, "weights are not [D, N*d]");
  return match;
}
