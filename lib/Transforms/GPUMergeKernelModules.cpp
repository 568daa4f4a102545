//===- GPUMergeKernelModules.cpp - all kernels in one gpu.module ----------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUMERGEKERNELMODULESPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

static constexpr StringLiteral kMergedModule = "kha_kernels";

namespace {
struct GPUMergeKernelModulesPass
    : kha::impl::KHAGPUMergeKernelModulesPassBase<GPUMergeKernelModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> modules(module.getOps<gpu::GPUModuleOp>());
    if (modules.size() <= 1 && (modules.empty() ||
                                modules.front().getName() == kMergedModule))
      return;
    OpBuilder builder(modules.front());
    auto merged =
        gpu::GPUModuleOp::create(builder, modules.front().getLoc(), kMergedModule);
    SymbolTable mergedSymbols(merged);
    // (old module, old kernel) -> new kernel name
    llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (gpu::GPUModuleOp old : modules) {
      if (old.getTargetsAttr() && !merged.getTargetsAttr())
        merged.setTargetsAttr(old.getTargetsAttr());
      for (Operation &op : llvm::make_early_inc_range(old.getBody()->getOperations())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        op.remove();
        StringAttr oldName = symbol ? symbol.getNameAttr() : StringAttr();
        if (symbol)
          mergedSymbols.insert(&op); // renames on a clash
        if (symbol)
          renamed[{old.getNameAttr(), oldName}] = symbol.getNameAttr();
        else
          merged.getBody()->push_back(&op);
      }
      old.erase();
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it = renamed.find({launch.getKernelModuleName(),
                              launch.getKernelName()});
      if (it == renamed.end())
        return;
      launch.setKernelAttr(SymbolRefAttr::get(
          builder.getStringAttr(kMergedModule),
          {FlatSymbolRefAttr::get(it->second)}));
    });
  }
};
} // namespace
