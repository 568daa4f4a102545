//===- EmitCInterface.cpp - expose public functions through the C ABI -----===//

#include "kha/Transforms/Passes.h"

#include "kha/Dialect/KHA/IR/KHADialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAEMITCINTERFACEPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct EmitCInterfacePass
    : kha::impl::KHAEmitCInterfacePassBase<EmitCInterfacePass> {
  void runOnOperation() override {
    UnitAttr unit = UnitAttr::get(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isPublic() && !func.isExternal())
        func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), unit);
      // What kha's attributes said is in the manifest now; LLVM has no use
      // for them.
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        func.removeArgAttr(
            i, StringAttr::get(&getContext(), kha::kWeightAttrName));
      func->removeAttr(kha::kPrepareAttrName);
    }
  }
};
} // namespace
