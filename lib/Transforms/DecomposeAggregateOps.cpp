//===- DecomposeAggregateOps.cpp - aggregate linalg ops as simpler ones ---===//
//
// Upstream linalg has ops that stand for several (linalg.softmax: a max, a
// subtraction, an exponential, a sum and a division), implementing
// AggregatedOpInterface, which no lowering takes as they are. Each becomes
// the ops its decomposition gives.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHADECOMPOSEAGGREGATEOPSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct DecomposeAggregateOpsPass
    : kha::impl::KHADecomposeAggregateOpsPassBase<DecomposeAggregateOpsPass> {
  void runOnOperation() override {
    SmallVector<linalg::AggregatedOpInterface> aggregates;
    getOperation()->walk(
        [&](linalg::AggregatedOpInterface op) { aggregates.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::AggregatedOpInterface op : aggregates) {
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> parts = op.decomposeOperation(rewriter);
      if (failed(parts)) {
        op->emitError("cannot be decomposed into simpler linalg ops");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *parts);
    }
  }
};
} // namespace
