//===- GPUMergeKernelModules.cpp - all kernels in one gpu.module ----------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"
#include <cctype>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUMERGEKERNELMODULESPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

static constexpr StringLiteral kMergedModule = "kha_kernels";

/// `name` as a PTX identifier: letters, digits, `_` and `$`, not starting
/// with a digit (a kernel is named after its function, whose MLIR name may
/// hold any character; the PTX printer would abort on it).
static std::string ptxIdentifier(StringRef name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'
               ? c
               : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "_" + out;
  return out;
}

namespace {
struct GPUMergeKernelModulesPass
    : kha::impl::KHAGPUMergeKernelModulesPassBase<GPUMergeKernelModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> modules(module.getOps<gpu::GPUModuleOp>());
    if (modules.empty())
      return;
    // Module names as the launches name them (one already called
    // kha_kernels is renamed, then merged like the others).
    SmallVector<StringAttr> launchNames;
    for (gpu::GPUModuleOp old : modules) {
      launchNames.push_back(old.getNameAttr());
      if (old.getName() == kMergedModule)
        old.setName(StringRef("kha_kernels_unmerged"));
    }
    OpBuilder builder(modules.front());
    auto merged = gpu::GPUModuleOp::create(builder, modules.front().getLoc(),
                                           kMergedModule);
    SymbolTable mergedSymbols(merged);
    // (old module, old kernel) -> new kernel name
    llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (auto [old, launchName] : llvm::zip(modules, launchNames)) {
      if (old.getTargetsAttr() && !merged.getTargetsAttr())
        merged.setTargetsAttr(old.getTargetsAttr());
      for (Operation &op :
           llvm::make_early_inc_range(old.getBody()->getOperations())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        op.remove();
        StringAttr oldName = symbol ? symbol.getNameAttr() : StringAttr();
        if (symbol) {
          symbol.setName(builder.getStringAttr(ptxIdentifier(oldName)));
          mergedSymbols.insert(&op); // renames on a clash
          renamed[{launchName, oldName}] = symbol.getNameAttr();
        } else {
          merged.getBody()->push_back(&op);
        }
      }
      old.erase();
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it =
          renamed.find({launch.getKernelModuleName(), launch.getKernelName()});
      if (it == renamed.end())
        return;
      launch.setKernelAttr(
          SymbolRefAttr::get(builder.getStringAttr(kMergedModule),
                             {FlatSymbolRefAttr::get(it->second)}));
    });
  }
};
} // namespace
