//===- ReportKernels.cpp - the GPU kernel each op would become ------------===//
//
// A remark per attention and projection naming the kernel the generators
// would build for it on a chip: what they choose, or what is written on the
// op. The IR is left as it is.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "KernelConfig.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUREPORTKERNELSPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
struct GPUReportKernelsPass
    : kha::impl::KHAGPUReportKernelsPassBase<GPUReportKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    KernelTarget target{chip, /*tensorCores=*/true};
    getOperation()->walk([&](Operation *op) {
      auto matmul = dyn_cast<linalg::MatmulOp>(op);
      if (!isa<SDPAOp>(op) && !(matmul && isProjectionMatmul(matmul)))
        return;
      std::string reason;
      GPUKernelAttr config = matmul
                                 ? kernelFor(matmul, target, reason)
                                 : kernelFor(cast<SDPAOp>(op), target, reason);
      InFlightDiagnostic remark = op->emitRemark();
      remark << describeKernel(op) << " on " << chip << ": " << config;
      if (getWrittenKernel(op))
        remark << " (written on the op)";
      else if (!config.isTensorCore())
        remark << " (the CUDA cores: " << reason << ")";
    });
    markAllAnalysesPreserved();
  }
};
} // namespace
