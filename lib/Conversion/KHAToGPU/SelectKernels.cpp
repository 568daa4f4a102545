//===- SelectKernels.cpp - the GPU kernel of each op, per chip ------------===//

#include "kha/Conversion/Passes.h"

#include "KernelConfig.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUSELECTKERNELSPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
struct GPUSelectKernelsPass
    : kha::impl::KHAGPUSelectKernelsPassBase<GPUSelectKernelsPass> {
  using Base::Base;

  /// Records `config` on `op`; a fallback is a remark, or an error under
  /// require-tensor-cores.
  LogicalResult record(Operation *op, GPUKernelAttr config, StringRef kernel,
                       StringRef reason) {
    op->setAttr(GPUKernelAttr::name, config);
    if (config.isTensorCore())
      return success();
    if (requireTensorCores) {
      op->emitError() << kernel << " cannot use the tensor cores on " << chip
                      << ": " << reason;
      return failure();
    }
    op->emitRemark() << kernel << " falls back to the CUDA cores on " << chip
                     << ": " << reason;
    return success();
  }

  void runOnOperation() override {
    WalkResult result = getOperation()->walk([&](Operation *op) {
      if (getGPUKernel(op))
        return WalkResult::advance();
      std::string reason;
      LogicalResult recorded = success();
      if (auto sdpa = dyn_cast<SDPAOp>(op)) {
        recorded = record(op, chooseAttentionKernel(sdpa, chip, reason),
                          "attention kernel (kha.sdpa)", reason);
      } else if (auto matmul = dyn_cast<linalg::MatmulOp>(op)) {
        // The projections: what kha-matmul-to-gpu makes a kernel of.
        if (!isProjectionMatmul(matmul))
          return WalkResult::advance();
        auto a = cast<ShapedType>(matmul.getDpsInputs()[0].getType());
        auto b = cast<ShapedType>(matmul.getDpsInputs()[1].getType());
        std::string name = "projection kernel (linalg.matmul ";
        auto dim = [](int64_t n) {
          return ShapedType::isDynamic(n) ? std::string("?")
                                          : std::to_string(n);
        };
        name += dim(a.getDimSize(0)) + "x" + dim(a.getDimSize(1)) + " * " +
                dim(b.getDimSize(0)) + "x" + dim(b.getDimSize(1)) + ")";
        recorded =
            record(op, chooseMatmulKernel(matmul, chip, reason), name, reason);
      }
      return failed(recorded) ? WalkResult::interrupt() : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
