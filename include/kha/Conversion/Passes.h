//===- Passes.h - kha conversion passes -------------------------*- C++ -*-===//

#ifndef KHA_CONVERSION_PASSES_H
#define KHA_CONVERSION_PASSES_H

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Support/GPUTarget.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace kha {

#define GEN_PASS_DECL
#include "kha/Conversion/Passes.h.inc"

/// Adds the patterns lowering each mid-level kha op to linalg on tensors
/// (kha.sdpa through populateDecomposeSDPAPatterns, all keys in one step).
void populateKHAToLinalgConversionPatterns(RewritePatternSet &patterns);

/// Adds the decomposition of kha.sdpa into an online softmax in linalg,
/// visiting the keys in blocks of `keyBlockSize` (0: all in one step), with
/// key-major scores where `transposeScores` allows them (at least 16 static
/// query rows).
void populateDecomposeSDPAPatterns(RewritePatternSet &patterns,
                                   int64_t keyBlockSize = 0,
                                   bool transposeScores = false);

/// kha.sdpa -> one fused attention kernel (gpu.launch) per op, for
/// `target`: on the tensor cores where the kernel chosen for the chip (or
/// written on the op as a `#kha.gpu_kernel`) uses them, else on the CUDA
/// cores with `lanes` per (head, row) and query `rows` per block, 0 to
/// choose them.
void populateSDPAToGPUPatterns(RewritePatternSet &patterns,
                               const KernelTarget &target, int64_t lanes = 0,
                               int64_t rows = 0);

/// kha.sdpa whose kernel is an `mma_sync` one -> a FlashAttention-2 kernel
/// on mma.sync (also added by populateSDPAToGPUPatterns).
void populateSDPAToMmaPatterns(RewritePatternSet &patterns,
                               const KernelTarget &target);

/// kha.sdpa whose kernel is a `wgmma` one -> a Hopper attention kernel on
/// TMA, mbarriers and warpgroup MMAs (also added by
/// populateSDPAToGPUPatterns).
void populateSDPAToWgmmaPatterns(RewritePatternSet &patterns,
                                 const KernelTarget &target);

/// linalg.matmul (from zero, on tensors) -> a shared-memory tiled kernel
/// for `target`: on the tensor cores where its kernel uses them, else on
/// the CUDA cores.
void populateMatmulToGPUPatterns(RewritePatternSet &patterns,
                                 const KernelTarget &target);

/// linalg.matmul whose kernel is an `mma_sync` one -> a cp.async pipelined
/// mma.sync kernel (also added by populateMatmulToGPUPatterns).
void populateMatmulToMmaPatterns(RewritePatternSet &patterns,
                                 const KernelTarget &target);

/// linalg.matmul whose kernel is a `wgmma` one -> a Hopper kernel: TMA
/// loads into a ring of swizzled shared-memory stages completing on
/// mbarriers, warpgroup MMAs (also added by populateMatmulToGPUPatterns).
void populateMatmulToWgmmaPatterns(RewritePatternSet &patterns,
                                   const KernelTarget &target);

/// bf16 nvgpu.mma.sync (m16n8k16, f32 accumulators) -> nvvm.mma.sync.
void populateMmaSyncBF16ToNVVMPatterns(RewritePatternSet &patterns);

/// kha.warpgroup_mma_register_a -> wgmma.mma_async (register A) as inline
/// PTX between the NVVM wgmma fence, commit and wait.
void populateWarpgroupMmaRegisterAToNVVMPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "kha/Conversion/Passes.h.inc"

} // namespace kha
} // namespace mlir

#endif // KHA_CONVERSION_PASSES_H
