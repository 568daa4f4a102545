//===- RaiseKnocks.cpp - head-shared d x d products to kha.linear_knock ---===//
//
// A KHA model exported by another frontend multiplies every head's vectors
// by one d x d matrix as a plain contraction. Raised to kha.linear_knock, the
// knock is visible to kha-fold-knock, which folds it into the projection
// weights. Two spellings are recognised:
//
//   y[b, l, n, e] = sum_c x[b, l, n, c] T[c, e]     (a generic or named
//                                                    contraction, T maybe
//                                                    read transposed)
//   y = expand(matmul(collapse(x) [B*L*N, d], T))   (torch.matmul's lowering)
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHARAISEKNOCKSPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {

/// A square d x d matrix of the same element type as `like`.
bool isSquareMatrixFor(Value matrix, Value like) {
  auto type = dyn_cast<RankedTensorType>(matrix.getType());
  auto likeType = cast<RankedTensorType>(like.getType());
  int64_t d = likeType.getShape().back();
  return type && type.getRank() == 2 && !ShapedType::isDynamic(d) &&
         type.getDimSize(0) == d && type.getDimSize(1) == d &&
         type.getElementType() == likeType.getElementType();
}

/// y[b, l, n, e] = sum_c x[b, l, n, c] T[c, e] as one contraction.
struct RaiseHeadContraction
    : public OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
      return failure();
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    // Three row dimensions (b, l, n), one output column, one reduction.
    if (failed(dims) || !dims->batch.empty() || dims->m.size() != 3 ||
        dims->n.size() != 1 || dims->k.size() != 1)
      return rewriter.notifyMatchFailure(op, "not x[b,l,n,c] T[c,e]");
    OpOperand *x = op.getDpsInputOperand(0), *t = op.getDpsInputOperand(1);
    MLIRContext *ctx = op.getContext();
    auto dim = [&](unsigned d) { return getAffineDimExpr(d, ctx); };
    if (op.getMatchingIndexingMap(x).getNumResults() == 2)
      std::swap(x, t);
    AffineMap xMap = op.getMatchingIndexingMap(x);
    AffineMap tMap = op.getMatchingIndexingMap(t);
    AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    unsigned k = dims->k[0], e = dims->n[0];
    // x and y read their row dimensions in the same order, the head
    // dimension last.
    if (xMap.getNumResults() != 4 || outMap.getNumResults() != 4 ||
        xMap.getResult(3) != dim(k) || outMap.getResult(3) != dim(e))
      return rewriter.notifyMatchFailure(op, "head dimension not last");
    for (unsigned i = 0; i < 3; ++i)
      if (xMap.getResult(i) != outMap.getResult(i))
        return rewriter.notifyMatchFailure(op, "rows in another order");
    bool transposed;
    if (tMap.getNumResults() == 2 && tMap.getResult(0) == dim(k) &&
        tMap.getResult(1) == dim(e))
      transposed = false;
    else if (tMap.getNumResults() == 2 && tMap.getResult(0) == dim(e) &&
             tMap.getResult(1) == dim(k))
      transposed = true;
    else
      return rewriter.notifyMatchFailure(op, "matrix not read as [c, e]");
    Value input = x->get(), matrix = t->get();
    Value result = op->getResult(0);
    if (!isSquareMatrixFor(matrix, input) ||
        input.getType() != result.getType() ||
        !isZeroInit(op.getDpsInitOperand(0)->get()))
      return rewriter.notifyMatchFailure(
          op, "not a square shared matrix into zeros, of one type");
    if (transposed)
      matrix = buildTransposedMatrix(rewriter, op.getLoc(), matrix);
    rewriter.replaceOpWithNewOp<LinearKnockOp>(op, result.getType(), input,
                                               matrix);
    return success();
  }
};

/// expand(matmul(collapse(x) [B*L*N, d], T)) back to [B, L, N, d].
struct RaiseCollapsedMatmul : public OpRewritePattern<tensor::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ExpandShapeOp expand,
                                PatternRewriter &rewriter) const override {
    auto matmul = expand.getSrc().getDefiningOp<linalg::MatmulOp>();
    if (!matmul || !matmul.hasPureTensorSemantics() ||
        matmul.hasUserDefinedMaps())
      return failure();
    auto collapse =
        matmul.getInputs()[0].getDefiningOp<tensor::CollapseShapeOp>();
    if (!collapse)
      return failure();
    Value input = collapse.getSrc();
    using Groups = SmallVector<ReassociationIndices>;
    Groups rows = {{0, 1, 2}, {3}};
    auto inputType = cast<RankedTensorType>(input.getType());
    if (inputType.getRank() != 4 ||
        collapse.getReassociationIndices() != rows ||
        expand.getReassociationIndices() != rows ||
        expand.getResultType() != inputType)
      return rewriter.notifyMatchFailure(expand, "not [B, L, N, d] around");
    // Both views of the same [B, L, N]: the expansion's sizes are the
    // collapsed input's.
    SmallVector<OpFoldResult> outSizes = expand.getMixedOutputShape();
    for (int64_t i = 0; i < 3; ++i) {
      if (!inputType.isDynamicDim(i))
        continue;
      auto dimOp = dyn_cast_if_present<Value>(outSizes[i])
                       ? cast<Value>(outSizes[i]).getDefiningOp<tensor::DimOp>()
                       : tensor::DimOp();
      std::optional<int64_t> index =
          dimOp ? dimOp.getConstantIndex() : std::nullopt;
      if (!dimOp || dimOp.getSource() != input || index != i)
        return rewriter.notifyMatchFailure(expand, "sizes not the input's");
    }
    Value matrix = matmul.getInputs()[1];
    if (!isSquareMatrixFor(matrix, input) ||
        !isZeroInit(matmul.getOutputs()[0]))
      return rewriter.notifyMatchFailure(expand, "not a shared d x d matrix");
    rewriter.replaceOpWithNewOp<LinearKnockOp>(expand, inputType, input,
                                               matrix);
    return success();
  }
};

struct KHARaiseKnocksPass
    : public kha::impl::KHARaiseKnocksPassBase<KHARaiseKnocksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRaiseKnocksPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void kha::populateRaiseKnocksPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseHeadContraction, RaiseCollapsedMatmul>(
      patterns.getContext());
}
