//===- VerifyPipelineInput.cpp - refuse what the pipelines cannot lower ---===//
//
// The CPU and GPU pipelines lower kha ops that sit directly in the functions
// of the module they run on. Anywhere else (a nested module, the body of an
// scf.for or another region) they would be left alone or fail later with an
// unrelated message; this pass names the op and the place instead.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAVERIFYPIPELINEINPUTPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct VerifyPipelineInputPass
    : kha::impl::KHAVerifyPipelineInputPassBase<VerifyPipelineInputPass> {
  void runOnOperation() override {
    ModuleOp root = getOperation();
    bool failedAny = false;
    root.walk([&](Operation *op) {
      if (op->getName().getDialectNamespace() != "kha")
        return;
      Operation *parent = op->getParentOp();
      auto module = op->getParentOfType<ModuleOp>();
      if (module != root) {
        op->emitError() << "'" << op->getName()
                        << "' is inside the nested module"
                        << (module.getSymName() ? " @" + *module.getSymName()
                                                : std::string())
                        << ", which the kha pipelines do not lower; run the "
                           "pipeline on that module itself";
        failedAny = true;
      } else if (!isa<FunctionOpInterface>(parent)) {
        op->emitError() << "'" << op->getName() << "' inside '"
                        << parent->getName()
                        << "' is not supported: the kha pipelines lower kha "
                           "ops at the top level of a function body";
        failedAny = true;
      }
    });
    if (failedAny)
      signalPassFailure();
  }
};
} // namespace
