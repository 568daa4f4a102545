//===- KernelConfig.cpp - the GPU kernel an op becomes, per chip ----------===//

#include "KernelConfig.h"

#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::kha;

bool kha::isProjectionMatmul(linalg::MatmulOp op) {
  return op.hasPureTensorSemantics() && !op.hasUserDefinedMaps() &&
         isZeroFilled(op.getDpsInits()[0]);
}

FailureOr<GPUKernelAttr> kha::matchMatmulKernel(PatternRewriter &rewriter,
                                                linalg::MatmulOp op,
                                                MmaKind kind,
                                                const KernelTarget &target) {
  if (!isProjectionMatmul(op))
    return rewriter.notifyMatchFailure(
        op, "not a plain matmul on tensors from zero");
  std::string reason;
  GPUKernelAttr config = kernelFor(op, target, reason);
  if (config.getMma() != kind)
    return rewriter.notifyMatchFailure(
        op, "not a " + stringifyMmaKind(kind).str() + " kernel");
  if (!fitsMatmulKernel(op, config, reason))
    return rewriter.notifyMatchFailure(op, reason);
  return config;
}

FailureOr<GPUKernelAttr> kha::matchAttentionKernel(PatternRewriter &rewriter,
                                                   SDPAOp op, MmaKind kind,
                                                   const KernelTarget &target) {
  std::string reason;
  GPUKernelAttr config = kernelFor(op, target, reason);
  if (config.getMma() != kind)
    return rewriter.notifyMatchFailure(
        op, "not a " + stringifyMmaKind(kind).str() + " kernel");
  if (!fitsAttentionKernel(op, config, reason))
    return rewriter.notifyMatchFailure(op, reason);
  return config;
}

Operation *kha::soleRounding(linalg::MatmulOp op) {
  Value product = op->getResult(0);
  if (!product.hasOneUse() || !getElementTypeOrSelf(product.getType()).isF32())
    return nullptr;
  Operation *user = *product.getUsers().begin();
  auto isPlainTrunc = [](arith::TruncFOp trunc) {
    return !trunc.getRoundingmodeAttr() &&
           getElementTypeOrSelf(trunc.getType()).getIntOrFloatBitWidth() == 16;
  };
  if (auto trunc = dyn_cast<arith::TruncFOp>(user))
    return isa<RankedTensorType>(trunc.getType()) && isPlainTrunc(trunc)
               ? user
               : nullptr;
  auto generic = dyn_cast<linalg::GenericOp>(user);
  if (!generic || !generic.hasPureTensorSemantics() ||
      generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
      generic.getDpsInputs()[0] != product ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return nullptr;
  Block &body = generic.getRegion().front();
  auto trunc = dyn_cast<arith::TruncFOp>(&body.front());
  if (!trunc || trunc.getIn() != body.getArgument(0) || !isPlainTrunc(trunc) ||
      body.getTerminator()->getOperands() != ValueRange{trunc.getResult()})
    return nullptr;
  return generic;
}

static bool isTensorCoreType(Type type) {
  return type.isF16() || type.isBF16();
}

/// Every chip the GPU pipeline accepts (sm_80 and newer) has mma.sync
/// m16n8k16 for f16 and bf16, ldmatrix and cp.async.
static bool hasMmaSync(StringRef chip) {
  unsigned version = 0;
  return chip.consume_front("sm_") &&
         !chip.take_while(llvm::isDigit).getAsInteger(10, version) &&
         version >= 80;
}

static GPUKernelAttr simt(MLIRContext *context) {
  return GPUKernelAttr::get(context, MmaKind::simt, 0, 0, 0, 0, 0, 0);
}

int64_t kha::attentionSharedBytes(GPUKernelAttr config, int64_t d, int64_t dv,
                                  Type element) {
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  return config.getStages() * config.getTileN() *
         (d + dv + 2 * config.getPadding()) * bytes;
}

int64_t kha::matmulSharedBytes(GPUKernelAttr config, Type element) {
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  int64_t pad = config.getPadding();
  return config.getStages() *
         (config.getTileM() * (config.getTileK() + pad) +
          config.getTileK() * (config.getTileN() + pad)) *
         bytes;
}

/// Whether `chip` has wgmma and TMA (the arch-specific sm_90a target).
static bool hasWgmma(StringRef chip) { return chip == "sm_90a"; }

int64_t kha::wgmmaAttentionSharedBytes(GPUKernelAttr config, int64_t d,
                                       int64_t dv, Type element) {
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  int64_t dPadded = llvm::alignTo(d, 64), dvPadded = llvm::alignTo(dv, 64);
  // The Q tile and the K/V stages (P stays in registers).
  return (config.getTileM() * dPadded +
          config.getStages() * config.getTileN() * (dPadded + dvPadded)) *
         bytes;
}

/// The rules of the Hopper attention kernel (SDPAToWgmma.cpp) beyond the
/// common ones.
static bool fitsWgmmaAttention(int64_t H, int64_t G, int64_t d, int64_t dv,
                               Type element, GPUKernelAttr config,
                               std::string &reason) {
  // Rows of Q, K and V in 64-column TMA boxes (128-byte swizzle rows),
  // zero-filled past the head dim; global rows a multiple of 16 bytes.
  if (d % 8 || dv % 8 || d > 256 || dv > 256) {
    reason = "the wgmma attention kernel takes head dims that are multiples "
             "of 8 up to 256 (got " +
             std::to_string(d) + "/" + std::to_string(dv) + ")";
    return false;
  }
  // A warpgroup per 64 query rows (64 or 128), K/V tiles of 64 keys.
  int64_t consumerWarps = config.getTileM() / 16;
  bool producer = config.getWarps() == consumerWarps + 4;
  if ((config.getTileM() != 64 && config.getTileM() != 128) ||
      config.getTileN() != 64 ||
      (config.getWarps() != consumerWarps && !producer) ||
      config.getTileK() != int64_t(llvm::alignTo(d, 64))) {
    reason = "the wgmma attention kernel has a warpgroup per 64 of its 64 or "
             "128 query rows (and maybe a producer warpgroup), 64 keys per "
             "tile and tile_k = the head dim rounded up to 64";
    return false;
  }
  // Warp specialisation: 384 threads start with 168 registers each; the
  // producer gives all but 24 of its back and the two consumer warpgroups
  // take 240 each, which holds O for value head dims up to 128.
  if (producer && (config.getTileM() != 128 || dv > 128)) {
    reason = "the wgmma attention kernel has a producer warpgroup only with "
             "two consumer warpgroups (tile_m 128) and value head dims up to "
             "128";
    return false;
  }
  // A block's 64 rows are 64 / r positions of the group's r heads, one
  // TMA box.
  int64_t r = H / G;
  if (64 % r) {
    reason = "the query heads per key/value head (" + std::to_string(r) +
             ") do not divide 64";
    return false;
  }
  if (config.getStages() < 2 || config.getStages() > 4) {
    reason = "the wgmma attention kernel has 2 to 4 K/V stages";
    return false;
  }
  if (wgmmaAttentionSharedBytes(config, d, dv, element) > kMaxSharedBytes) {
    reason = "its Q tile and K/V stages need more than 227 KiB of shared "
             "memory";
    return false;
  }
  return true;
}

bool kha::fitsAttentionKernel(SDPAOp op, GPUKernelAttr config,
                              std::string &reason) {
  if (!config.isTensorCore()) {
    reason = "not a tensor-core configuration";
    return false;
  }
  auto q = op.getQuery().getType(), k = op.getKey().getType(),
       v = op.getValue().getType();
  Type element = q.getElementType();
  if (!isTensorCoreType(element) || k.getElementType() != element ||
      v.getElementType() != element ||
      getElementTypeOrSelf(op.getType()) != element) {
    reason = "the element type is not f16 or bf16 throughout";
    return false;
  }
  if (op.getMask()) {
    reason = "it has an additive mask";
    return false;
  }
  if (op.getBottomRight()) {
    reason = "its causal mask is aligned bottom right (decoding with a cache)";
    return false;
  }
  if (op.getQueryOffset()) {
    reason = "its rows are a tile placed by a query offset";
    return false;
  }
  int64_t H = q.getDimSize(2), G = k.getDimSize(2), d = q.getDimSize(3),
          dv = v.getDimSize(3);
  if (ShapedType::isDynamic(H) || ShapedType::isDynamic(G) ||
      ShapedType::isDynamic(d) || ShapedType::isDynamic(dv) || G <= 0 ||
      H % G) {
    reason = "its head counts or head dims are not static";
    return false;
  }
  if (config.getMma() == MmaKind::wgmma)
    return fitsWgmmaAttention(H, G, d, dv, element, config, reason);
  if (d % 16 || dv % 16 || d > 256 || dv > 256) {
    reason = "head dim " + std::to_string(d) + "/" + std::to_string(dv) +
             " is not a multiple of 16 up to 256";
    return false;
  }
  int64_t threads = 32 * config.getWarps();
  if (config.getTileM() != 16 * config.getWarps()) {
    reason = "tile_m must be 16 rows per warp";
    return false;
  }
  // Each K/V tile is copied in whole 16-byte chunks, the same number by
  // every thread.
  if ((config.getTileN() * d / kChunkElements) % threads ||
      (config.getTileN() * dv / kChunkElements) % threads) {
    reason = "a K/V tile of " + std::to_string(config.getTileN()) +
             " keys is not a whole number of 16-byte copies per thread";
    return false;
  }
  if (config.getTileK() != d) {
    reason = "tile_k must be the head dim";
    return false;
  }
  if (config.getStages() != 2) {
    reason = "the attention kernel double-buffers K/V (stages = 2)";
    return false;
  }
  if (attentionSharedBytes(config, d, dv, element) > kStaticSharedBytes) {
    reason = "its K/V tiles need more than 48 KiB of shared memory";
    return false;
  }
  return true;
}

GPUKernelAttr kha::chooseAttentionKernel(SDPAOp op, StringRef chip,
                                         std::string &reason) {
  MLIRContext *context = op.getContext();
  if (!hasMmaSync(chip)) {
    reason = "chip " + chip.str() + " has no mma.sync m16n8k16";
    return simt(context);
  }
  // Hopper: one warpgroup on TMA and wgmma where the kernel takes the op.
  std::string why;
  int64_t d = op.getQuery().getType().getDimSize(3);
  if (hasWgmma(chip)) {
    // Two warpgroups (128 query rows) sharing each K/V tile, one where a
    // block has no more than 64 rows (L r <= 64).
    int64_t L = op.getQuery().getType().getDimSize(1);
    int64_t H = op.getQuery().getType().getDimSize(2),
            G = op.getKey().getType().getDimSize(2);
    bool few = !ShapedType::isDynamic(L) && G > 0 && L * (H / G) <= 64;
    // Three K/V stages where they fit: a tile's V stays in use until the
    // next tile's softmax is done, so two would leave one tile of prefetch.
    // A producer warpgroup issues the loads (warp specialisation) where
    // the consumers' registers allow it.
    int64_t tileM = few ? 64 : 128;
    for (int64_t stages : {3, 2})
      for (int64_t producerWarps : {4, 0}) {
        auto config = GPUKernelAttr::get(context, MmaKind::wgmma, tileM, 64,
                                         llvm::alignTo(d, 64),
                                         tileM / 16 + producerWarps, stages, 0);
        if (fitsAttentionKernel(op, config, why))
          return config;
      }
  }
  // 4 warps of 16 query rows; the widest K/V tile that fits.
  for (int64_t keys : {64, 32, 16}) {
    auto config = GPUKernelAttr::get(context, MmaKind::mma_sync, 64, keys,
                                     op.getQuery().getType().getDimSize(3), 4,
                                     2, kChunkElements);
    if (fitsAttentionKernel(op, config, why))
      return config;
  }
  reason = why;
  return simt(context);
}

int64_t kha::wgmmaMatmulSharedBytes(GPUKernelAttr config, Type element) {
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  int64_t ring = config.getStages() * config.getTileK() *
                 (config.getTileM() + config.getTileN()) * bytes;
  return std::max<int64_t>(ring, config.getTileM() * config.getTileN() * 4);
}

bool kha::fitsMatmulKernel(linalg::MatmulOp op, GPUKernelAttr config,
                           std::string &reason) {
  auto a = cast<ShapedType>(op.getDpsInputs()[0].getType()),
       b = cast<ShapedType>(op.getDpsInputs()[1].getType()),
       c = cast<ShapedType>(op.getDpsInits()[0].getType());
  Type element = a.getElementType();
  if (!isTensorCoreType(element) || b.getElementType() != element) {
    reason = "its operands are not both f16 or both bf16";
    return false;
  }
  Type out = c.getElementType();
  if (!isTensorCoreType(out) && !out.isF32()) {
    reason = "its result is not f16, bf16 or f32";
    return false;
  }
  int64_t K = a.getDimSize(1), N = b.getDimSize(1);
  if (ShapedType::isDynamic(K) || ShapedType::isDynamic(N) ||
      K % kChunkElements || N % kChunkElements) {
    reason = "K and N are not static multiples of 8 (16-byte rows)";
    return false;
  }
  if (config.getMma() == MmaKind::wgmma) {
    // A warpgroup per 64 rows of C's tile (tile_m 64 or 128), tile_n 64,
    // 128 or 256 (an m64nNk16 MMA per 16 of K), steps of 64 along K: the A
    // tile one TMA box, the B tile tile_n / 64 boxes of 64 x 64.
    int64_t tileM = config.getTileM(), tileN = config.getTileN();
    if ((tileM != 64 && tileM != 128) ||
        (tileN != 64 && tileN != 128 && tileN != 256) ||
        config.getTileK() != 64 || config.getWarps() != 4 * (tileM / 64)) {
      reason = "the wgmma matmul kernel has a warpgroup per 64 rows of a 64 "
               "or 128 x 64, 128 or 256 tile, and steps of 64 along K";
      return false;
    }
    if (config.getStages() < 2) {
      reason = "the matmul kernel pipelines at least 2 stages";
      return false;
    }
    if (wgmmaMatmulSharedBytes(config, element) > kMaxSharedBytes) {
      reason = "its tiles need more than 227 KiB of shared memory";
      return false;
    }
    return true;
  }
  if (config.getWarps() != 4 || config.getTileM() % 32 ||
      config.getTileN() % 32 || config.getTileK() % 16) {
    reason = "the matmul kernel has 4 warps of (tile_m/2) x (tile_n/2), "
             "tile_k a multiple of 16";
    return false;
  }
  int64_t threads = 32 * config.getWarps();
  if ((config.getTileM() * config.getTileK() / kChunkElements) % threads ||
      (config.getTileK() * config.getTileN() / kChunkElements) % threads) {
    reason = "a tile is not a whole number of 16-byte copies per thread";
    return false;
  }
  if (config.getStages() < 2) {
    reason = "the matmul kernel pipelines at least 2 stages";
    return false;
  }
  if (matmulSharedBytes(config, element) > kStaticSharedBytes) {
    reason = "its tiles need more than 48 KiB of shared memory";
    return false;
  }
  return true;
}

GPUKernelAttr kha::chooseMatmulKernel(linalg::MatmulOp op, StringRef chip,
                                      std::string &reason) {
  MLIRContext *context = op.getContext();
  if (!hasMmaSync(chip)) {
    reason = "chip " + chip.str() + " has no mma.sync m16n8k16";
    return simt(context);
  }
  // 64 x 64 tiles of C, steps of 32 along K, 3 stages; never more stages
  // than steps + 1 (a stage past the last step only copies zeros, and with
  // a single step the extra stage makes ptxas spill).
  int64_t K = cast<ShapedType>(op.getDpsInputs()[0].getType()).getDimSize(1);
  // Hopper: TMA and wgmma, 128 x 256 tiles (two warpgroups, an m64n256k16
  // MMA per 16 of K) where C has 256 columns or more, else 128 x 128, and
  // four stages of 64 along K (192 or 128 KiB of shared memory); 64 rows or
  // columns where C has no more; no more stages than steps (2 at least).
  if (hasWgmma(chip)) {
    int64_t M = cast<ShapedType>(op.getDpsInputs()[0].getType()).getDimSize(0);
    int64_t N = cast<ShapedType>(op.getDpsInputs()[1].getType()).getDimSize(1);
    int64_t tileM = !ShapedType::isDynamic(M) && M <= 64 ? 64 : 128;
    int64_t tileN = ShapedType::isDynamic(N) ? 128
                    : N <= 64                ? 64
                    : N < 256                ? 128
                                             : 256;
    int64_t stages = ShapedType::isDynamic(K)
                         ? 4
                         : std::clamp<int64_t>(llvm::divideCeil(K, 64), 2, 4);
    auto config = GPUKernelAttr::get(context, MmaKind::wgmma, tileM, tileN, 64,
                                     4 * (tileM / 64), stages, 0);
    std::string why;
    if (fitsMatmulKernel(op, config, why))
      return config;
  }
  int64_t stages = 3;
  if (!ShapedType::isDynamic(K))
    stages = std::clamp<int64_t>(llvm::divideCeil(K, 32) + 1, 2, 3);
  auto config = GPUKernelAttr::get(context, MmaKind::mma_sync, 64, 64, 32, 4,
                                   stages, kChunkElements);
  if (fitsMatmulKernel(op, config, reason))
    return config;
  return simt(context);
}

/// The configuration written on `op`, else the one `choose` gives for the
/// target's chip (the SIMT kernel when the tensor cores are not to be used).
template <typename OpTy>
static GPUKernelAttr
writtenOrChosen(OpTy op, const KernelTarget &target, std::string &reason,
                GPUKernelAttr (*choose)(OpTy, StringRef, std::string &)) {
  if (GPUKernelAttr written = getWrittenKernel(op))
    return written;
  if (!target.tensorCores) {
    reason = "the tensor cores are not to be used";
    return simt(op.getContext());
  }
  return choose(op, target.chip, reason);
}

GPUKernelAttr kha::kernelFor(SDPAOp op, const KernelTarget &target,
                             std::string &reason) {
  return writtenOrChosen(op, target, reason, chooseAttentionKernel);
}

GPUKernelAttr kha::kernelFor(linalg::MatmulOp op, const KernelTarget &target,
                             std::string &reason) {
  return writtenOrChosen(op, target, reason, chooseMatmulKernel);
}

std::string kha::describeKernel(Operation *op) {
  auto matmul = dyn_cast<linalg::MatmulOp>(op);
  if (!matmul)
    return "attention kernel (kha.sdpa)";
  auto dims = [](Value operand) {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvm::interleave(
        cast<ShapedType>(operand.getType()).getShape(), os,
        [&](int64_t n) {
          if (ShapedType::isDynamic(n))
            os << '?';
          else
            os << n;
        },
        "x");
    return text;
  };
  return "projection kernel (linalg.matmul " + dims(matmul.getDpsInputs()[0]) +
         " * " + dims(matmul.getDpsInputs()[1]) + ")";
}

LogicalResult kha::diagnoseKernels(Operation *root, StringRef pass,
                                   bool attention, const KernelTarget &target,
                                   bool requireTensorCores) {
  WalkResult result = root->walk([&](Operation *op) {
    std::string reason;
    GPUKernelAttr config;
    bool fits = true;
    if (auto sdpa = dyn_cast<SDPAOp>(op); sdpa && attention) {
      config = kernelFor(sdpa, target, reason);
      fits =
          !config.isTensorCore() || fitsAttentionKernel(sdpa, config, reason);
    } else if (auto matmul = dyn_cast<linalg::MatmulOp>(op);
               matmul && !attention && isProjectionMatmul(matmul)) {
      config = kernelFor(matmul, target, reason);
      fits = !config.isTensorCore() || fitsMatmulKernel(matmul, config, reason);
    } else {
      return WalkResult::advance();
    }
    // (A chosen configuration always fits; a written one may not.)
    if (!fits) {
      op->emitError() << pass << ": " << config << " does not fit: " << reason;
      return WalkResult::interrupt();
    }
    // A SIMT kernel written by hand, or asked for, is no fallback.
    if (config.isTensorCore() || getWrittenKernel(op) || !target.tensorCores)
      return WalkResult::advance();
    if (requireTensorCores) {
      op->emitError() << describeKernel(op)
                      << " cannot use the tensor cores on " << target.chip
                      << ": " << reason;
      return WalkResult::interrupt();
    }
    op->emitRemark() << describeKernel(op)
                     << " falls back to the CUDA cores on " << target.chip
                     << ": " << reason;
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}
