//===- FoldMatmulExtensions.cpp - matmuls on narrow operands --------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFOLDMATMULEXTENSIONSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// `source` reshaped as `reshape` (a tensor.collapse_shape or
/// tensor.expand_shape) reshapes its operand, with elements of type `element`.
Value reshapeLike(OpBuilder &b, Operation *reshape, Value source,
                  Type element) {
  auto type =
      cast<RankedTensorType>(reshape->getResult(0).getType()).clone(element);
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(reshape))
    return tensor::CollapseShapeOp::create(b, collapse.getLoc(), type, source,
                                           collapse.getReassociationIndices());
  auto expand = cast<tensor::ExpandShapeOp>(reshape);
  return tensor::ExpandShapeOp::create(b, expand.getLoc(), type, source,
                                       expand.getReassociationIndices(),
                                       expand.getMixedOutputShape());
}

/// The tensor extension (`arith.extf`) that `value` is, seen through
/// tensor.collapse_shape and tensor.expand_shape (which commute with an
/// elementwise extension; collected into `reshapes`, outermost first), or
/// null.
arith::ExtFOp findExtension(Value value,
                            SmallVectorImpl<Operation *> &reshapes) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def))
      break;
    reshapes.push_back(def);
    value = def->getOperand(0);
  }
  auto extension = value.getDefiningOp<arith::ExtFOp>();
  if (!extension || !isa<RankedTensorType>(extension.getIn().getType()))
    return {};
  return extension;
}

/// The narrow tensor that `value` widens: `x` for `value = arith.extf x`, or
/// for `value = reshape(...(arith.extf x))`, `x` reshaped the same way (built
/// before `before`). Null otherwise.
Value narrowSource(PatternRewriter &rewriter, Operation *before, Value value) {
  SmallVector<Operation *> reshapes;
  arith::ExtFOp extension = findExtension(value, reshapes);
  if (!extension)
    return {};
  Value narrow = extension.getIn();
  Type element = getElementTypeOrSelf(narrow.getType());
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(before);
  for (Operation *reshape : llvm::reverse(reshapes))
    narrow = reshapeLike(rewriter, reshape, narrow, element);
  return narrow;
}

/// The element type that `value` is extended from (as narrowSource sees
/// it), or null.
Type narrowType(Value value) {
  SmallVector<Operation *> reshapes;
  arith::ExtFOp extension = findExtension(value, reshapes);
  return extension ? getElementTypeOrSelf(extension.getIn().getType()) : Type();
}

/// linalg.matmul(extf a, extf b) -> linalg.matmul(a, b): the matmul's body
/// extends each operand to the result's element type, which is what the
/// (exact) float extension did. Extensions seen through reshapes are folded
/// too (the reshapes then move to the narrow tensors).
/// With `elementTypes` (names of float types), only matmuls both of whose
/// operands extend the same one of those types are folded.
struct FoldExtensionsIntoMatmul : OpRewritePattern<linalg::MatmulOp> {
  FoldExtensionsIntoMatmul(MLIRContext *context,
                           ArrayRef<std::string> elementTypes)
      : OpRewritePattern(context), elementTypes(elementTypes) {}

  /// True when operands extended from `type` may be folded.
  bool folds(Type type) const {
    if (elementTypes.empty())
      return true;
    std::string name;
    llvm::raw_string_ostream os(name);
    type.print(os);
    return llvm::is_contained(elementTypes, name);
  }

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(op, "not a plain matmul on tensors");
    SmallVector<Value> inputs(op.getDpsInputs());
    if (!elementTypes.empty()) {
      // Both or neither: a half-folded matmul would mix element types.
      Type lhs = narrowType(inputs[0]), rhs = narrowType(inputs[1]);
      if (!lhs || lhs != rhs || !folds(lhs))
        return rewriter.notifyMatchFailure(
            op, "operands not both extended from one listed type");
    }
    bool folded = false;
    for (Value &input : inputs) {
      Value narrow = narrowSource(rewriter, op, input);
      if (!narrow)
        continue;
      input = narrow;
      folded = true;
    }
    if (!folded)
      return rewriter.notifyMatchFailure(op, "no extended operand");
    auto matmul = linalg::MatmulOp::create(
        rewriter, op.getLoc(), op.getResultTypes(), inputs, op.getDpsInits());
    matmul->setDiscardableAttrs(op->getDiscardableAttrDictionary());
    rewriter.replaceOp(op, matmul->getResults());
    return success();
  }

  SmallVector<std::string> elementTypes;
};

/// arith.truncf(reshape(...(x))) -> reshape(...(arith.truncf x)) through
/// single-use tensor.collapse_shape/expand_shape: the rounding of a matmul's
/// product (a folded weight, say) then directly follows the matmul, whose
/// kernel stores the rounded values instead of an f32 copy.
struct RoundBeforeReshapes : OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!type)
      return rewriter.notifyMatchFailure(op, "not on tensors");
    SmallVector<Operation *> reshapes;
    Value value = op.getIn();
    while (Operation *def = value.getDefiningOp()) {
      if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def) ||
          !def->getResult(0).hasOneUse())
        break;
      reshapes.push_back(def);
      value = def->getOperand(0);
    }
    if (reshapes.empty())
      return rewriter.notifyMatchFailure(op, "not a rounding of a reshape");
    Type element = type.getElementType();
    Value narrow = arith::TruncFOp::create(
        rewriter, op.getLoc(),
        cast<RankedTensorType>(value.getType()).clone(element), value,
        op.getRoundingmodeAttr(), op.getFastmathAttr());
    for (Operation *reshape : llvm::reverse(reshapes))
      narrow = reshapeLike(rewriter, reshape, narrow, element);
    rewriter.replaceOp(op, narrow);
    // The f32 reshapes (already visited by the walk) are dead now.
    for (Operation *reshape : reshapes)
      rewriter.eraseOp(reshape);
    return success();
  }
};

struct FoldMatmulExtensionsPass
    : kha::impl::KHAFoldMatmulExtensionsPassBase<FoldMatmulExtensionsPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateFoldMatmulExtensionsPatterns(patterns, elementTypes);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateFoldMatmulExtensionsPatterns(
    RewritePatternSet &patterns, ArrayRef<std::string> elementTypes) {
  patterns.add<FoldExtensionsIntoMatmul>(patterns.getContext(), elementTypes);
  if (elementTypes.empty())
    patterns.add<RoundBeforeReshapes>(patterns.getContext());
}
