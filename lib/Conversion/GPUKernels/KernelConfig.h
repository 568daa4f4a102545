//===- KernelConfig.h - the GPU kernel an op becomes, per -------*- C++ -*-===//
//
// The configuration step of the GPU code generation: from an op, its shapes
// and element types and the chip, a `#kha.gpu_kernel` (tensor cores where
// they can take the op, the SIMT kernels otherwise, with the reason). The
// kernel generators call it for the op they lower, so no configuration
// passes from one pass to another through the IR; a configuration written
// on an op by hand (the `kha.gpu_kernel` attribute) takes its place, and is
// checked against the op with the same rules, so one that does not fit is
// refused, not miscompiled.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H
#define KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Support/GPUTarget.h"

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

/// The kernel of `op` when its kernel for `target` is of `kind` and fits;
/// else a match failure.
FailureOr<GPUKernelAttr> matchAttentionKernel(PatternRewriter &rewriter,
                                              SDPAOp op, MmaKind kind,
                                              const KernelTarget &target);

/// The two patterns of a tensor-core matmul kernel generator: a matmul
/// whose kernel is of `kind` and fits, `build` makes that kernel and
/// replaces the given op (the matmul, or the rounding that is its only use,
/// whose type the kernel then stores).
using BuildMatmul = void (*)(PatternRewriter &, linalg::MatmulOp, Operation *,
                             GPUKernelAttr);

/// The kernel of `op` when it is a projection whose kernel for `target` is
/// of `kind` and fits; else a match failure.
FailureOr<GPUKernelAttr> matchMatmulKernel(PatternRewriter &rewriter,
                                           linalg::MatmulOp op, MmaKind kind,
                                           const KernelTarget &target);

/// A matmul whose result is not only rounded to f16/bf16.
template <MmaKind kind, BuildMatmul build>
struct MatmulToKernelPattern : OpRewritePattern<linalg::MatmulOp> {
  MatmulToKernelPattern(MLIRContext *context, const KernelTarget &target)
      : OpRewritePattern(context), target(target) {}
  KernelTarget target;
  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<GPUKernelAttr> config =
        matchMatmulKernel(rewriter, op, kind, target);
    if (failed(config))
      return failure();
    if (soleRounding(op))
      return rewriter.notifyMatchFailure(
          op, "built with the rounding that is its only use");
    build(rewriter, op, op, *config);
    return success();
  }
};

/// The rounding (to f16/bf16) that is the only use of a matmul: one kernel
/// that stores the rounded product. Rooted at the rounding so that a walk
/// meets the matmul first and leaves it alone.
template <MmaKind kind, BuildMatmul build>
struct RoundedMatmulToKernelPattern : RewritePattern {
  RoundedMatmulToKernelPattern(MLIRContext *context, const KernelTarget &target)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, context),
        target(target) {}
  KernelTarget target;
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa<arith::TruncFOp, linalg::GenericOp>(op) ||
        op->getNumOperands() == 0)
      return failure();
    auto matmul = op->getOperand(0).getDefiningOp<linalg::MatmulOp>();
    if (!matmul || soleRounding(matmul) != op)
      return failure();
    FailureOr<GPUKernelAttr> config =
        matchMatmulKernel(rewriter, matmul, kind, target);
    if (failed(config))
      return failure();
    build(rewriter, matmul, op, *config);
    return success();
  }
};

/// Adds both patterns of a matmul kernel generator.
template <MmaKind kind, BuildMatmul build>
void addMatmulKernelPatterns(RewritePatternSet &patterns,
                             const KernelTarget &target) {
  patterns.add<MatmulToKernelPattern<kind, build>,
               RoundedMatmulToKernelPattern<kind, build>>(patterns.getContext(),
                                                          target);
}

/// Shared memory of the wgmma matmul kernel under `config` (its staging of
/// C aliases the operand ring).
int64_t wgmmaMatmulSharedBytes(GPUKernelAttr config, Type element);

/// The configuration written on `op` by hand (`kha.gpu_kernel`), or null.
inline GPUKernelAttr getWrittenKernel(Operation *op) {
  return op->getAttrOfType<GPUKernelAttr>(GPUKernelAttr::name);
}

/// The kernel `op` becomes for `target`: the configuration written on it,
/// else the one chosen for the chip (the SIMT kernel when the target has no
/// tensor cores); on a chosen SIMT kernel, `reason` says why.
GPUKernelAttr kernelFor(SDPAOp op, const KernelTarget &target,
                        std::string &reason);
GPUKernelAttr kernelFor(linalg::MatmulOp op, const KernelTarget &target,
                        std::string &reason);
inline GPUKernelAttr kernelFor(Operation *op, const KernelTarget &target) {
  std::string reason;
  if (auto sdpa = dyn_cast<SDPAOp>(op))
    return kernelFor(sdpa, target, reason);
  return kernelFor(cast<linalg::MatmulOp>(op), target, reason);
}

/// What a kernel generator says about the ops it lowers before it lowers
/// them, for each `kha.sdpa` (`attention`) or projection matmul under
/// `root`: an error where a written tensor-core configuration does not fit
/// its op, and where the tensor cores cannot take an op, a remark naming
/// the op and the reason (an error with `requireTensorCores`). Fails on an
/// error.
LogicalResult diagnoseKernels(Operation *root, StringRef pass, bool attention,
                              const KernelTarget &target,
                              bool requireTensorCores);

/// How a diagnostic names `op`'s kernel, e.g. `attention kernel (kha.sdpa)`
/// or `projection kernel (linalg.matmul 64x?x * ?x32)`.
std::string describeKernel(Operation *op);

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_CONVERSION_KHATOGPU_KERNELCONFIG_H
