//===- VerifyLowered.cpp - nothing left that LLVM IR translation refuses -===//
//
// The last step of the pipelines: every op left must be one the translation
// to LLVM IR takes (the LLVM dialect, and for GPU code the kernels' binaries
// and their launches), else an error names the first op that was not
// lowered, instead of a translation failure about what the conversions
// left in its place.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAVERIFYLOWEREDPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct VerifyLoweredPass
    : kha::impl::KHAVerifyLoweredPassBase<VerifyLoweredPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The first op that is not translatable, in program order; what lies
    // inside it is its own business (reported once).
    WalkResult walk = module.getBody()->walk([&](Operation *op) {
      // OpenMP ops translate too (threads of the CPU path); their bodies are
      // checked like the rest.
      if (isa<LLVM::LLVMDialect, omp::OpenMPDialect>(op->getDialect()) ||
          isa<gpu::BinaryOp, gpu::LaunchFuncOp>(op))
        return WalkResult::advance();
      // A cast the conversions left unresolved points at what produced it.
      Operation *origin = op;
      if (auto cast = dyn_cast<UnrealizedConversionCastOp>(op))
        for (Value input : cast.getInputs())
          if (Operation *def = input.getDefiningOp())
            origin = def;
      InFlightDiagnostic diag =
          op->emitError() << "'" << op->getName() << "' was not lowered to the "
                          << "LLVM dialect by the pipeline";
      if (origin != op)
        diag.attachNote(origin->getLoc())
            << "it stands for the result of '" << origin->getName() << "'";
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
