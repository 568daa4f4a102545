//===- CostReport.cpp - the kha-cost-report analysis pass -----------------===//

#include "kha/Analysis/Cost.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/CastInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"

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

/// True for ops the model does not describe that do work on shaped values
/// (linalg.softmax, tensor.pad, another dialect's ops, ...): they are named
/// in the report rather than silently left out. Constants, casts, views,
/// reshapes, buffer allocation and bufferization's conversions move or
/// compute nothing the model counts.
static bool isUnmodelledWork(Operation *op) {
  bool shaped = llvm::any_of(op->getResultTypes(),
                             [](Type t) { return isa<ShapedType>(t); });
  if (!shaped)
    return false;
  if (op->hasTrait<OpTrait::ConstantLike>() || isa<CastOpInterface>(op) ||
      isa<ViewLikeOpInterface>(op) ||
      isa<tensor::EmptyOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
          tensor::ReshapeOp, memref::AllocOp, memref::AllocaOp>(op) ||
      isa<bufferization::BufferizationDialect>(op->getDialect()))
    return false;
  return true;
}

namespace {
struct CostReportPass : kha::impl::KHACostReportPassBase<CostReportPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      OpCost total;
      int64_t estimated = 0, unknown = 0, unmodelled = 0;
      llvm::SetVector<StringRef> unmodelledNames;
      func.walk([&](Operation *op) {
        if (!isModelled(op)) {
          if (!isUnmodelledWork(op))
            return;
          ++unmodelled;
          unmodelledNames.insert(op->getName().getStringRef());
          if (perOp)
            op->emitRemark("cost: not estimated (not in the cost model)");
          return;
        }
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
      if (unmodelled)
        remark << " (" << unmodelled << " ops not in the cost model: "
               << llvm::join(unmodelledNames, ", ") << ")";
    }
    markAllAnalysesPreserved();
  }
};
} // namespace
