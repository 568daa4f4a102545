//===- Passes.h - kha code generation passes --------------------*- C++ -*-===//

#ifndef KHA_TRANSFORMS_PASSES_H
#define KHA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace kha {

#define GEN_PASS_DECL
#include "kha/Transforms/Passes.h.inc"

/// Adds the rewrite of identity-layout memref.expand_shape into
/// memref.reinterpret_cast.
void populateExpandShapeToReinterpretCastPatterns(RewritePatternSet &patterns);

/// Adds the fold of exact float extensions of a linalg.matmul's operands
/// into the matmul (which extends them itself). With `elementTypes`, only
/// matmuls both of whose operands extend one of those types are folded, and
/// roundings are not moved.
void populateFoldMatmulExtensionsPatterns(
    RewritePatternSet &patterns, ArrayRef<std::string> elementTypes = {});

/// kha-pack-matmul-weights: matmuls whose right operand comes from weights
/// read it as contiguous panels of `panelWidth` columns.
/// With `bf16Pairs`, bf16 x bf16 -> f32 matmuls of even K are packed in
/// pairs of K for AVX512-BF16 dot products.
void populatePackMatmulWeightsPatterns(RewritePatternSet &patterns,
                                       int64_t panelWidth,
                                       bool bf16Pairs = false);

/// The indexing maps of the bf16 pair contraction that
/// kha-pack-matmul-weights{bf16-pairs} makes and kha-contract-to-bf16-dot
/// rewrites, over (m, j, c, k, p): A[m, k, p], P[j, k, c, p], C[m, j, c].
SmallVector<AffineMap> getBF16PairContractionMaps(MLIRContext *context);

/// kha-contract-to-bf16-dot: register tiles of the bf16 pair contraction as
/// x86vector.avx512.dot ops.
void populateContractToBF16DotPatterns(RewritePatternSet &patterns);

/// kha-emulate-bf16-dot: x86vector.avx512.dot as f32 vector arithmetic
/// (with `flushSubnormals`, VDPBF16PS's flushing of subnormals).
void populateEmulateBF16DotPatterns(RewritePatternSet &patterns,
                                    bool flushSubnormals = true);

/// kha-contiguous-attention-heads: kha.sdpa tiles with at least `minRows`
/// grouped query rows read their key/value head from a head-major copy.
void populateContiguousAttentionHeadsPatterns(RewritePatternSet &patterns,
                                              int64_t minRows);

/// kha-vectorize-buffer-copies: linalg.copy and linalg.fill on buffers with
/// static, unit-stride rows as loops of vector transfers of at most
/// `maxVectorSize` elements along the rows.
void populateVectorizeBufferCopiesPatterns(RewritePatternSet &patterns,
                                           int64_t maxVectorSize);

/// kha-fold-constant-generics: parallel linalg.generic ops of constants
/// and loop indices, of at most `maxElements` points, become constants.
void populateFoldConstantGenericsPatterns(RewritePatternSet &patterns,
                                          int64_t maxElements);

#define GEN_PASS_REGISTRATION
#include "kha/Transforms/Passes.h.inc"

} // namespace kha
} // namespace mlir

#endif // KHA_TRANSFORMS_PASSES_H
