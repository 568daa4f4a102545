//===- ForallToThreads.cpp - outermost scf.forall loops on threads --------===//
//
// The outermost scf.forall loops (on buffers) become scf.parallel, for
// convert-scf-to-openmp; nested ones, or all of them without threads,
// become scf.for.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFORALLTOTHREADSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Whether `op` runs inside a loop that is (or will be) run on threads.
bool insideParallelLoop(Operation *op) {
  return op->getParentOfType<scf::ForallOp>() ||
         op->getParentOfType<scf::ParallelOp>();
}

struct ForallToThreadsPass
    : kha::impl::KHAForallToThreadsPassBase<ForallToThreadsPass> {
  using Base::Base;
  void runOnOperation() override {
    // Innermost first, so that a loop is converted before the one around it
    // and "nested" is judged on the loops as they were.
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp loop) {
      if (loop.getNumResults() == 0)
        loops.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForallOp loop : loops) {
      rewriter.setInsertionPoint(loop);
      LogicalResult converted = threads && !insideParallelLoop(loop)
                                    ? scf::forallToParallelLoop(rewriter, loop)
                                    : scf::forallToForLoop(rewriter, loop);
      if (failed(converted)) {
        loop.emitError("could not convert this scf.forall into loops");
        return signalPassFailure();
      }
    }
  }
};
} // namespace
