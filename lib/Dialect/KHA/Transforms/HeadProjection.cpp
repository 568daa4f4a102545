//===- HeadProjection.cpp - match a projection split into heads -----------===//

#include "HeadProjection.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::kha;

/// True when `init` is a linalg.fill of +0.0, so that the matmul is a plain
/// product.
static bool isZeroFilled(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  FloatAttr value;
  return matchPattern(fill.getInputs()[0], m_Constant(&value)) &&
         value.getValue().isPosZero();
}

void HeadProjection::erase(PatternRewriter &rewriter) {
  rewriter.eraseOp(expand);
  if (trunc)
    rewriter.eraseOp(trunc);
  rewriter.eraseOp(matmul);
}

FailureOr<HeadProjection>
kha::matchHeadProjection(Value heads, Operation *user,
                         PatternRewriter &rewriter) {
  HeadProjection match;
  match.expand = heads.getDefiningOp<tensor::ExpandShapeOp>();
  if (!match.expand || !match.expand->hasOneUse() ||
      match.expand.getReassociationIndices() !=
          SmallVector<ReassociationIndices>{{0, 1}, {2, 3}})
    return rewriter.notifyMatchFailure(
        user, "input is not a projection split into heads");
  Value projection = match.expand.getSrc();
  match.trunc = projection.getDefiningOp<arith::TruncFOp>();
  if (match.trunc) {
    if (!match.trunc->hasOneUse())
      return rewriter.notifyMatchFailure(user, "rounding has other users");
    projection = match.trunc.getIn();
  }
  match.matmul = projection.getDefiningOp<linalg::MatmulOp>();
  if (!match.matmul || !match.matmul->hasOneUse() ||
      match.matmul.hasUserDefinedMaps() ||
      !isZeroFilled(match.matmul.getDpsInits()[0]))
    return rewriter.notifyMatchFailure(
        user, "not fed by a plain, single-use linalg.matmul");
  auto weightType = cast<RankedTensorType>(match.weight().getType());
  int64_t d = cast<ShapedType>(heads.getType()).getDimSize(3);
  if (!weightType.hasStaticShape() || ShapedType::isDynamic(d) ||
      weightType.getDimSize(1) % d != 0)
    return rewriter.notifyMatchFailure(user, "weights are not [D, N*d]");
  return match;
}
