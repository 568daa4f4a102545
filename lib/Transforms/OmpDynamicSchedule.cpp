//===- OmpDynamicSchedule.cpp - dynamic schedules for omp.wsloop ----------===//
//
// Work-sharing loops without a schedule get a dynamic one: kha's iterations
// are tiles of unequal cost (causal attention), which a static split would
// leave unbalanced.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAOMPDYNAMICSCHEDULEPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct OmpDynamicSchedulePass
    : kha::impl::KHAOmpDynamicSchedulePassBase<OmpDynamicSchedulePass> {
  void runOnOperation() override {
    getOperation()->walk([&](omp::WsloopOp loop) {
      if (loop.getScheduleKindAttr())
        return;
      loop.setScheduleKindAttr(omp::ClauseScheduleKindAttr::get(
          &getContext(), omp::ClauseScheduleKind::Dynamic));
    });
  }
};
} // namespace
