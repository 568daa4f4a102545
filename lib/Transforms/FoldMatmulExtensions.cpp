//===- FoldMatmulExtensions.cpp - matmuls on narrow operands --------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFOLDMATMULEXTENSIONSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// linalg.matmul(extf a, extf b) -> linalg.matmul(a, b): the matmul's body
/// extends each operand to the result's element type, which is what the
/// (exact) float extension did.
struct FoldExtensionsIntoMatmul : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(op, "not a plain matmul on tensors");
    SmallVector<Value> inputs(op.getDpsInputs());
    bool folded = false;
    for (Value &input : inputs) {
      auto extension = input.getDefiningOp<arith::ExtFOp>();
      if (!extension || !isa<RankedTensorType>(extension.getIn().getType()))
        continue;
      input = extension.getIn();
      folded = true;
    }
    if (!folded)
      return rewriter.notifyMatchFailure(op, "no extended operand");
    auto matmul = linalg::MatmulOp::create(rewriter, op.getLoc(),
                                           op.getResultTypes(), inputs,
                                           op.getDpsInits());
    matmul->setDiscardableAttrs(op->getDiscardableAttrDictionary());
    rewriter.replaceOp(op, matmul->getResults());
    return success();
  }
};

struct FoldMatmulExtensionsPass
    : kha::impl::KHAFoldMatmulExtensionsPassBase<FoldMatmulExtensionsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateFoldMatmulExtensionsPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateFoldMatmulExtensionsPatterns(RewritePatternSet &patterns) {
  patterns.add<FoldExtensionsIntoMatmul>(patterns.getContext());
}
