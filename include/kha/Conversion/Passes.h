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
/// visiting the keys in blocks of `keyBlockSize` (0: all in one step).
void populateDecomposeSDPAPatterns(RewritePatternSet &patterns,
                                   int64_t keyBlockSize = 0);

/// kha.sdpa -> one fused attention kernel (gpu.launch) per op; `lanes` per
/// (head, row) and query `rows` per block, 0 to choose them.
void populateSDPAToGPUPatterns(RewritePatternSet &patterns, int64_t lanes = 0,
                               int64_t rows = 0);

/// kha.sdpa under a tensor-core `#kha.gpu_kernel` -> a FlashAttention-2
/// kernel on mma.sync (also added by populateSDPAToGPUPatterns).
void populateSDPAToMmaPatterns(RewritePatternSet &patterns);

/// kha.sdpa under a `wgmma` `#kha.gpu_kernel` -> a Hopper attention kernel
/// on TMA, mbarriers and warpgroup MMAs (also added by
/// populateSDPAToGPUPatterns).
void populateSDPAToWgmmaPatterns(RewritePatternSet &patterns);

/// linalg.matmul (from zero, on tensors) -> a shared-memory tiled kernel:
/// on the tensor cores under a tensor-core `#kha.gpu_kernel`, else on the
/// CUDA cores.
void populateMatmulToGPUPatterns(RewritePatternSet &patterns);

/// linalg.matmul under a tensor-core `#kha.gpu_kernel` -> a cp.async
/// pipelined mma.sync kernel (also added by populateMatmulToGPUPatterns).
void populateMatmulToMmaPatterns(RewritePatternSet &patterns);

/// linalg.matmul under a `wgmma` `#kha.gpu_kernel` -> a Hopper kernel: TMA
/// loads into a ring of swizzled shared-memory stages completing on
/// mbarriers, warpgroup MMAs (also added by populateMatmulToGPUPatterns).
void populateMatmulToWgmmaPatterns(RewritePatternSet &patterns);

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
