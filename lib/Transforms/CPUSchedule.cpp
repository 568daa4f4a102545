//===- CPUSchedule.cpp - tile and vectorise for the host CPU --------------===//
//
// The schedule is a transform-dialect script, applied through the transform
// interpreter; docs/pipeline.md explains its choices and how they were
// measured on this class of CPU.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Func/TransformOps/FuncTransformOps.h"
#include "mlir/Dialect/Linalg/TransformOps/DialectExtension.h"
#include "mlir/Dialect/SCF/TransformOps/SCFTransformOps.h"
#include "mlir/Dialect/Tensor/TransformOps/TensorTransformOps.h"
#include "mlir/Dialect/Transform/IR/TransformOps.h"
#include "mlir/Dialect/Transform/Transforms/TransformInterpreterUtils.h"
#include "mlir/Dialect/Vector/TransformOps/VectorTransformOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHACPUSCHEDULEPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

/// The built-in schedule: lib/Transforms/Schedules/cpu.mlir, embedded at
/// build time.
static const char kBuiltinSchedule[] =
#include "kha/Transforms/CPUSchedule.mlir.inc"
    ;

/// The unit attribute the schedule marks K loops with (@vectorize_steps).
static constexpr llvm::StringLiteral kHoistAccumulatorMark =
    "kha.hoist_accumulator";

namespace {
struct CPUSchedulePass : kha::impl::KHACPUSchedulePassBase<CPUSchedulePass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    linalg::registerTransformDialectExtension(registry);
    scf::registerTransformDialectExtension(registry);
    tensor::registerTransformDialectExtension(registry);
    vector::registerTransformDialectExtension(registry);
    func::registerTransformDialectExtension(registry);
  }

  LogicalResult initialize(MLIRContext *context) override {
    std::string text = kBuiltinSchedule;
    std::string name = "kha-cpu-schedule";
    if (!scheduleFile.empty()) {
      std::string error;
      std::unique_ptr<llvm::MemoryBuffer> file =
          openInputFile(scheduleFile, &error);
      if (!file)
        return emitError(UnknownLoc::get(context)) << error;
      text = file->getBuffer().str();
      name = scheduleFile;
    }
    schedule = std::make_shared<OwningOpRef<ModuleOp>>(
        parseSourceString<ModuleOp>(text, context, name));
    if (!*schedule)
      return failure();
    return success();
  }

  void runOnOperation() override {
    ModuleOp library = schedule->get();
    transform::TransformOpInterface entry =
        transform::detail::findTransformEntryPoint(getOperation(), library,
                                                   entryPoint);
    if (!entry) // findTransformEntryPoint has said why.
      return signalPassFailure();
    if (failed(transform::applyTransformNamedSequence(
            getOperation(), entry, library, transform::TransformOptions())))
      return signalPassFailure();
    // The schedule marks the loops it hoists accumulators out of; the mark
    // means nothing past it.
    getOperation()->walk(
        [](scf::ForOp loop) { loop->removeAttr(kHoistAccumulatorMark); });
  }

  std::shared_ptr<OwningOpRef<ModuleOp>> schedule;
};
} // namespace
