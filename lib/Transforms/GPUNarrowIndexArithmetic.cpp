//===- GPUNarrowIndexArithmetic.cpp - 32-bit kernel indices ---------------===//
//
// MLIR's integer range narrowing (arith-int-range-narrowing), applied to each
// tensor-core kernel on its own: range analysis over the kernel, then the
// narrowing patterns with the analysis kept in step with the rewrites.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Analysis/DataFlow/DeadCodeAnalysis.h"
#include "mlir/Analysis/DataFlow/IntegerRangeAnalysis.h"
#include "mlir/Analysis/DataFlow/Utils.h"
#include "mlir/Analysis/DataFlowFramework.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUNARROWINDEXARITHMETICPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Forgets the analysis state of erased ops, whose memory a new op may reuse.
struct ForgetErased : RewriterBase::Listener {
  explicit ForgetErased(DataFlowSolver &solver) : solver(solver) {}
  void notifyOperationErased(Operation *op) override {
    solver.eraseState(solver.getProgramPointAfter(op));
    for (Value result : op->getResults())
      solver.eraseState(result);
  }
  DataFlowSolver &solver;
};

bool isTensorCoreKernel(Operation *kernel) {
  return kernel
      ->walk([](Operation *op) {
        return isa<nvgpu::MmaSyncOp, NVVM::MmaOp>(op) ? WalkResult::interrupt()
                                                      : WalkResult::advance();
      })
      .wasInterrupted();
}

struct GPUNarrowIndexArithmeticPass
    : kha::impl::KHAGPUNarrowIndexArithmeticPassBase<
          GPUNarrowIndexArithmeticPass> {
  void runOnOperation() override {
    SmallVector<Operation *> kernels;
    getOperation()->walk([&](Operation *op) {
      if (isa<gpu::GPUFuncOp, gpu::LaunchOp>(op) && isTensorCoreKernel(op))
        kernels.push_back(op);
    });
    if (kernels.empty())
      return;
    // The ranges come from the whole operation: a gpu.launch bounds its
    // thread and block ids, an outlined kernel's known sizes bound its.
    DataFlowSolver solver;
    dataflow::loadBaselineAnalyses(solver);
    solver.load<dataflow::IntegerRangeAnalysis>();
    if (failed(solver.initializeAndRun(getOperation())))
      return signalPassFailure();
    ForgetErased listener(solver);
    RewritePatternSet patterns(&getContext());
    arith::populateIntRangeNarrowingPatterns(patterns, solver, {32});
    FrozenRewritePatternSet frozen(std::move(patterns));
    // Bottom-up, as upstream (a comparison's pattern reads the ranges of
    // its original operands); no folding, which would hoist the kernels'
    // constants out of a gpu.launch.
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(false)
        .setListener(&listener)
        .enableFolding(false)
        .enableConstantCSE(false)
        .setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    for (Operation *kernel : kernels)
      for (Region &body : kernel->getRegions())
        (void)applyPatternsGreedily(body, frozen, config);
  }
};
} // namespace
