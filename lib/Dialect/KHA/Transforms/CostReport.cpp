//===- CostReport.cpp - the kha-cost-report analysis pass -----------------===//

#include "kha/Analysis/Cost.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHACOSTREPORTPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

/// True for the ops the cost model describes (whether or not their shapes
/// are static): linalg and the kha ops above the kernel level.
static bool isModelled(Operation *op) {
  return isa<linalg::LinalgOp>(op) || (isa<KHADialect>(op->getDialect()) &&
                                       !isa<WarpgroupMmaRegisterAOp>(op));
}

namespace {
struct CostReportPass : kha::impl::KHACostReportPassBase<CostReportPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      OpCost total;
      int64_t estimated = 0, unknown = 0;
      func.walk([&](Operation *op) {
        if (!isModelled(op))
          return;
        std::optional<OpCost> cost = estimateCost(op);
        if (!cost) {
          ++unknown;
          if (perOp)
            op->emitRemark("cost: not estimated (dynamic shapes)");
          return;
        }
        ++estimated;
        total += *cost;
        if (perOp)
          op->emitRemark() << "cost: " << cost->flops << " FLOPs, "
                           << cost->bytes << " bytes";
      });
      InFlightDiagnostic remark = func.emitRemark();
      remark << "total cost of '" << func.getName() << "': " << total.flops
             << " FLOPs, " << total.bytes << " bytes over " << estimated
             << " ops";
      if (unknown)
        remark << " (" << unknown << " ops not estimated: dynamic shapes)";
    }
    markAllAnalysesPreserved();
  }
};
} // namespace
