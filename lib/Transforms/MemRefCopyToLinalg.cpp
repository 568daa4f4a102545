//===- MemRefCopyToLinalg.cpp - memref.copy as linalg.copy ----------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAMEMREFCOPYTOLINALGPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct CopyToLinalg : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::CopyOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(),
                                                op.getTarget());
    return success();
  }
};

struct MemRefCopyToLinalgPass
    : kha::impl::KHAMemRefCopyToLinalgPassBase<MemRefCopyToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<CopyToLinalg>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
