//===- KernelConfig.h - the GPU kernel an op becomes, per -------*- C++ -*-===//
//
// The configuration step of the GPU code generation: from an op, its shapes
// and element types and the chip, a `#kha.gpu_kernel` (tensor cores where
// they can take the op, the SIMT kernels otherwise, with the reason). The
// kernel generators check a configuration against the op with the same
// rules, so a hand-written one that does not fit is refused, not miscompiled.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H
#define KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H

#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <string>

namespace mlir {
namespace kha {

/// Elements of a 16-byte copy or ldmatrix row of 16-bit elements.
inline constexpr int64_t kChunkElements = 8;

/// Static shared memory a kernel may use without opting in (48 KiB).
inline constexpr int64_t kStaticSharedBytes = 48 * 1024;
/// Shared memory a block may have on sm_90 with the opt-in (227 KiB).
inline constexpr int64_t kMaxSharedBytes = 227 * 1024;

/// The attention kernel for `op` on `chip`; on a SIMT fallback `reason`
/// says why the tensor cores cannot take it.
GPUKernelAttr chooseAttentionKernel(SDPAOp op, StringRef chip,
                                    std::string &reason);
/// The projection kernel for a zero-filled `linalg.matmul` on `chip`.
GPUKernelAttr chooseMatmulKernel(linalg::MatmulOp op, StringRef chip,
                                 std::string &reason);

/// Whether a tensor-core `config` can generate `op`; else `reason`.
bool fitsAttentionKernel(SDPAOp op, GPUKernelAttr config, std::string &reason);
bool fitsMatmulKernel(linalg::MatmulOp op, GPUKernelAttr config,
                      std::string &reason);

/// Shared memory of the tensor-core attention kernel under `config`.
int64_t attentionSharedBytes(GPUKernelAttr config, int64_t d, int64_t dv,
                             Type element);
/// Shared memory of the Hopper attention kernel under `config`.
int64_t wgmmaAttentionSharedBytes(GPUKernelAttr config, int64_t d, int64_t dv,
                                  Type element);
/// Shared memory of the tensor-core matmul kernel under `config`.
int64_t matmulSharedBytes(GPUKernelAttr config, Type element);

/// A zero-filled `linalg.matmul` on tensors with the default indexing maps:
/// a projection, which kha-matmul-to-gpu makes a kernel of.
bool isProjectionMatmul(linalg::MatmulOp op);

/// The op that rounds `op`'s f32 result to f16/bf16 when that is the
/// result's only use (an arith.truncf on tensors, or the elementwise
/// linalg.generic that convert-elementwise-to-linalg makes of one): a
/// tensor-core kernel then writes the rounded values and no f32 product is
/// stored. Null otherwise.
Operation *soleRounding(linalg::MatmulOp op);

/// The two patterns of a tensor-core matmul kernel generator: a matmul
/// configured for `kind` that fits, `build` makes its kernel and replaces
/// the given op (the matmul, or the rounding that is its only use, whose
/// type the kernel then stores).
using BuildMatmul = void (*)(PatternRewriter &, linalg::MatmulOp, Operation *);

/// Success when `op` is a projection whose configuration is of `kind` and
/// fits the kernel.
LogicalResult matchMatmulKernel(PatternRewriter &rewriter, linalg::MatmulOp op,
                                MmaKind kind);

/// A matmul whose result is not only rounded to f16/bf16.
template <MmaKind kind, BuildMatmul build>
struct MatmulToKernelPattern : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(matchMatmulKernel(rewriter, op, kind)))
      return failure();
    if (soleRounding(op))
      return rewriter.notifyMatchFailure(
          op, "built with the rounding that is its only use");
    build(rewriter, op, op);
    return success();
  }
};

/// The rounding (to f16/bf16) that is the only use of a matmul: one kernel
/// that stores the rounded product. Rooted at the rounding so that a walk
/// meets the matmul first and leaves it alone.
template <MmaKind kind, BuildMatmul build>
struct RoundedMatmulToKernelPattern : RewritePattern {
  RoundedMatmulToKernelPattern(MLIRContext *context)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, context) {}
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa<arith::TruncFOp, linalg::GenericOp>(op) ||
        op->getNumOperands() == 0)
      return failure();
    auto matmul = op->getOperand(0).getDefiningOp<linalg::MatmulOp>();
    if (!matmul || soleRounding(matmul) != op ||
        failed(matchMatmulKernel(rewriter, matmul, kind)))
      return failure();
    build(rewriter, matmul, op);
    return success();
  }
};

/// Adds both patterns of a matmul kernel generator.
template <MmaKind kind, BuildMatmul build>
void addMatmulKernelPatterns(RewritePatternSet &patterns) {
  patterns.add<MatmulToKernelPattern<kind, build>,
               RoundedMatmulToKernelPattern<kind, build>>(
      patterns.getContext());
}

/// Shared memory of the wgmma matmul kernel under `config` (its staging of
/// C aliases the operand ring).
int64_t wgmmaMatmulSharedBytes(GPUKernelAttr config, Type element);

/// The configuration recorded on `op`, or null.
inline GPUKernelAttr getGPUKernel(Operation *op) {
  return op->getAttrOfType<GPUKernelAttr>(GPUKernelAttr::name);
}

/// An error on the first `OpTy` under `root` whose tensor-core
/// configuration does not fit it (by `fits`): a kernel generator refuses
/// such a configuration rather than falling back silently.
template <typename OpTy>
LogicalResult checkTensorCoreConfigs(Operation *root, StringRef pass,
                                     bool (*fits)(OpTy, GPUKernelAttr,
                                                  std::string &)) {
  WalkResult result = root->walk([&](OpTy op) {
    std::string reason;
    GPUKernelAttr config = getGPUKernel(op);
    if (!config || !config.isTensorCore() || fits(op, config, reason))
      return WalkResult::advance();
    op.emitError() << pass << ": " << config << " does not fit: " << reason;
    return WalkResult::interrupt();
  });
  return failure(result.wasInterrupted());
}

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H
