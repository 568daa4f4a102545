//===- MatmulToGPU.cpp - linalg.matmul as a shared-memory tiled kernel ----===//
//
// C = A B (from zero) with a 64 x 64 tile of C per block of 256 threads: the
// block walks K in steps of 16, staging a 64 x 16 tile of A (transposed, so
// that a thread's four rows are one broadcast read) and a 16 x 64 tile of B
// in shared memory between barriers; each thread accumulates a 4 x 4
// sub-tile in registers (rows ty + 16i, columns tx + 16j: coalesced loads
// and bank-conflict-free reads).
//
// This is the SIMT kernel (CUDA cores); a matmul under a tensor-core
// `#kha.gpu_kernel` becomes the kernel of MatmulToMMA.cpp instead.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/KernelConfig.h"
#include "GPUKernels/KernelEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAMATMULTOGPUPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

static constexpr int64_t kTile = 64, kStep = 16, kSide = 16, kPer = 4;
static constexpr int64_t kThreads = kSide * kSide;

namespace {
struct MatmulToKernel : OpRewritePattern<linalg::MatmulOp> {
  MatmulToKernel(MLIRContext *context, const KernelTarget &target)
      : OpRewritePattern(context), target(target) {}
  KernelTarget target;

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!isProjectionMatmul(op))
      return rewriter.notifyMatchFailure(
          op, "not a plain matmul on tensors from zero");
    if (kernelFor(op, target).isTensorCore())
      return rewriter.notifyMatchFailure(op, "a tensor-core kernel");
    auto outType = cast<RankedTensorType>(op.getResultTypes()[0]);
    Type f32 = rewriter.getF32Type();
    // Computed in f32: operands and result of at most 32 bits.
    for (Value operand : op->getOperands()) {
      auto element =
          dyn_cast<FloatType>(getElementTypeOrSelf(operand.getType()));
      if (!element || element.getWidth() > 32)
        return rewriter.notifyMatchFailure(op, "not an f32/f16/bf16 matmul");
    }
    Location loc = op.getLoc();
    Emitter e{rewriter, loc};
    MatmulBuffers buffers = matmulBuffers(rewriter, loc, op.getDpsInputs()[0],
                                          op.getDpsInputs()[1], outType);
    Value a = buffers.a, bm = buffers.b, out = buffers.out;
    Value M = buffers.M, K = buffers.K, N = buffers.N;

    auto tileType = [&](int64_t rows, int64_t cols) {
      return sharedMemRefType({rows, cols}, f32);
    };
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, e.ceilDiv(N, kTile), e.ceilDiv(M, kTile), e.idx(1),
        e.idx(kThreads), e.idx(1), e.idx(1), nullptr, nullptr, ValueRange(),
        TypeRange{tileType(kStep, kTile), tileType(kStep, kTile)});

    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(&launch.getBody().front());
    Value as = launch.getWorkgroupAttributions()[0]; // [k][m]
    Value bs = launch.getWorkgroupAttributions()[1]; // [k][n]
    Value tid = launch.getThreadIds().x;
    Value m0 = e.mul(launch.getBlockIds().y, e.idx(kTile));
    Value n0 = e.mul(launch.getBlockIds().x, e.idx(kTile));
    Value tx = e.rem(tid, e.idx(kSide)), ty = e.div(tid, e.idx(kSide));
    auto accType = VectorType::get({kPer * kPer}, f32);
    Value accInit = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(accType, 0.0f));

    auto steps = scf::ForOp::create(
        rewriter, loc, e.idx(0), K, e.idx(kStep), ValueRange{accInit},
        [&](OpBuilder &b, Location l, Value k0, ValueRange acc) {
          Emitter x{b, l};
          // Stage A[m0.., k0..] (as [k][m]) and B[k0.., n0..]: four
          // elements per thread each, zeros outside the matrices.
          auto stage = [&](Value global, Value shared, bool isA) {
            for (int64_t p = 0; p < kTile * kStep / kThreads; ++p) {
              Value index = x.add(tid, x.idx(p * kThreads));
              Value r = x.div(index, x.idx(isA ? kStep : kTile));
              Value c = x.rem(index, x.idx(isA ? kStep : kTile));
              // A: r is the row m, c the column k; B: r is k, c is n.
              Value row = x.add(isA ? m0 : k0, r);
              Value col = x.add(isA ? k0 : n0, c);
              Value inside = arith::AndIOp::create(b, l, x.lt(row, isA ? M : K),
                                                   x.lt(col, isA ? K : N));
              auto branch = scf::IfOp::create(b, l, TypeRange{b.getF32Type()},
                                              inside, /*withElseRegion=*/true);
              {
                OpBuilder::InsertionGuard g2(b);
                b.setInsertionPointToStart(branch.thenBlock());
                scf::YieldOp::create(b, l, x.loadF32(global, {row, col}));
                b.setInsertionPointToStart(branch.elseBlock());
                scf::YieldOp::create(b, l, x.f32(0.0));
              }
              SmallVector<Value> at =
                  isA ? SmallVector<Value>{c, r} : SmallVector<Value>{r, c};
              memref::StoreOp::create(b, l, branch.getResult(0), shared, at);
            }
          };
          stage(a, as, /*isA=*/true);
          stage(bm, bs, /*isA=*/false);
          gpu::BarrierOp::create(b, l);
          auto inner = scf::ForOp::create(
              b, l, x.idx(0), x.idx(kStep), x.idx(1), acc,
              [&](OpBuilder &bb, Location ll, Value kk, ValueRange sum) {
                Emitter y{bb, ll};
                SmallVector<Value> av, bv;
                for (int64_t i = 0; i < kPer; ++i)
                  av.push_back(memref::LoadOp::create(
                      bb, ll, as, ValueRange{kk, y.add(ty, y.idx(kSide * i))}));
                for (int64_t j = 0; j < kPer; ++j)
                  bv.push_back(memref::LoadOp::create(
                      bb, ll, bs, ValueRange{kk, y.add(tx, y.idx(kSide * j))}));
                SmallVector<Value> lhs, rhs;
                for (int64_t i = 0; i < kPer; ++i)
                  for (int64_t j = 0; j < kPer; ++j) {
                    lhs.push_back(av[i]);
                    rhs.push_back(bv[j]);
                  }
                Value fma = vector::FMAOp::create(
                    bb, ll,
                    vector::FromElementsOp::create(bb, ll, accType, lhs),
                    vector::FromElementsOp::create(bb, ll, accType, rhs),
                    sum[0]);
                scf::YieldOp::create(bb, ll, fma);
              });
          gpu::BarrierOp::create(b, l);
          scf::YieldOp::create(b, l, inner.getResults());
        });

    // Store the 4 x 4 sub-tile, inside the matrix.
    Type outElement = outType.getElementType();
    for (int64_t i = 0; i < kPer; ++i)
      for (int64_t j = 0; j < kPer; ++j) {
        Value row = e.add(m0, e.add(ty, e.idx(kSide * i)));
        Value col = e.add(n0, e.add(tx, e.idx(kSide * j)));
        Value inside =
            arith::AndIOp::create(rewriter, loc, e.lt(row, M), e.lt(col, N));
        auto store = scf::IfOp::create(rewriter, loc, inside, false);
        OpBuilder::InsertionGuard g3(rewriter);
        rewriter.setInsertionPointToStart(store.thenBlock());
        Value value = vector::ExtractOp::create(
            rewriter, loc, steps.getResult(0), i * kPer + j);
        if (outElement != f32)
          value = arith::TruncFOp::create(rewriter, loc, outElement, value);
        memref::StoreOp::create(rewriter, loc, value, out,
                                ValueRange{row, col});
      }
    replaceByKernelResult(rewriter, op, launch, out);
    return success();
  }
};

struct MatmulToGPUPass : kha::impl::KHAMatmulToGPUPassBase<MatmulToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    // A tensor-core configuration written on a matmul that does not fit it
    // is an error, not a silent fallback; a chosen fallback is a remark.
    KernelTarget target{chip, tensorCores};
    if (failed(diagnoseKernels(getOperation(), getArgument(),
                               /*attention=*/false, target,
                               requireTensorCores)))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateMatmulToGPUPatterns(patterns, target);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateMatmulToGPUPatterns(RewritePatternSet &patterns,
                                      const KernelTarget &target) {
  patterns.add<MatmulToKernel>(patterns.getContext(), target);
  populateMatmulToMmaPatterns(patterns, target);
  populateMatmulToWgmmaPatterns(patterns, target);
}
