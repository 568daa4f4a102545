//===- SimplifyKnocks.cpp - the kha-simplify-knocks pass ------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHASIMPLIFYKNOCKSPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
struct SimplifyKnocksPass
    : kha::impl::KHASimplifyKnocksPassBase<SimplifyKnocksPass> {
  void runOnOperation() override {
    // Only knock ops (and the ops the rewrites create) are visited, so the
    // rest of the IR is left exactly as it was.
    SmallVector<Operation *> knocks;
    getOperation()->walk([&](Operation *op) {
      if (isa<LinearKnockOp, MlpKnockOp>(op))
        knocks.push_back(op);
    });
    RewritePatternSet patterns(&getContext());
    populateKnockSimplificationPatterns(patterns);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    if (failed(applyOpPatternsGreedily(knocks, std::move(patterns), config)))
      signalPassFailure();
  }
};
} // namespace
