//===- MatmulToWgmma.cpp - linalg.matmul as a Hopper TMA + wgmma kernel ---===//
//
// C = A B (from zero; A [M, K] and B [K, N] f16 or bf16, C f16, bf16 or f32)
// under a `wgmma` `#kha.gpu_kernel` (sm_90a): one block per tile_m x tile_n
// tile of C (tile_m 64 or 128, tile_n 64, 128 or 256), a warpgroup (128
// threads) per 64 rows of it.
//
//   - the host describes A and B to the Tensor Memory Accelerator
//     (`nvgpu.tma.create.descriptor`: boxes of tile_m x 64 of A and 64 x 64
//     of B, 128-byte swizzle, zeros outside the matrices);
//   - K is walked in steps of 64; thread 0 loads a step's A tile (one box)
//     and B tile (tile_n / 64 boxes side by side, 8 KiB apart) into one of
//     `stages` shared-memory stages, and announces their bytes on that
//     stage's mbarrier (`arrive.expect_tx`); every thread waits for the
//     stage's phase (parity: which pass over the ring) before the
//     warpgroups multiply it;
//   - `nvgpu.warpgroup.mma` multiplies each warpgroup's 64 rows of the A
//     tile (K-major) by the 64 x tile_n B tile (N-major: `transposeB`; its
//     64-column blocks one leading byte offset apart) into f32 accumulator
//     fragments, m64nNk16 MMAs read straight from shared memory through
//     matrix descriptors, and waits for them (waitGroup 0) before the stage
//     is refilled;
//   - the accumulators go through shared memory (over the operand ring, no
//     longer needed) and are written out rounded to C's element type, by
//     rows, only inside C; when C is f32 and its only use rounds it to
//     f16/bf16, the kernel stores the rounded values in place of that op's
//     result.
//
// K and N must be static multiples of 8 (TMA's 16-byte global strides); M is
// any size. Shared memory is one byte buffer (stage s: the A tile, then the
// B tile) whose base the GPU pipeline aligns to 1024 bytes, as the swizzle
// needs; above 47 KiB it is dynamic shared memory.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/HopperEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::kha;

namespace {
/// The box (and wgmma operand tile) of the kernel: 64 x 64 elements, rows of
/// 128 bytes, one swizzle row each.
constexpr int64_t kBox = 64;

/// Builds the kernel of `op` (matched by matchMatmulKernel) and replaces
/// `replaced` by its result: `op` itself, or `op`'s sole rounding.
void buildWgmmaMatmul(PatternRewriter &rewriter, linalg::MatmulOp op,
                      Operation *replaced, GPUKernelAttr config) {
  auto outType = cast<RankedTensorType>(replaced->getResultTypes()[0]);
  Type element = getElementTypeOrSelf(op.getDpsInputs()[0].getType());
  Type outElement = outType.getElementType();
  MLIRContext *context = rewriter.getContext();
  int64_t tileM = config.getTileM(), tileN = config.getTileN();
  int64_t stages = config.getStages(), threads = 32 * config.getWarps();
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  int64_t boxBytes = kBox * kBox * bytes, aBytes = tileM * kBox * bytes,
          stageBytes = aBytes + (tileN / kBox) * boxBytes;
  Location loc = op.getLoc();
  Emitter e{rewriter, loc};

  MatmulBuffers buffers = matmulBuffers(rewriter, loc, op.getDpsInputs()[0],
                                        op.getDpsInputs()[1], outType);
  Value a = buffers.a, bm = buffers.b, out = buffers.out;
  Value M = buffers.M, N = buffers.N;
  int64_t K = cast<MemRefType>(a.getType()).getDimSize(1);
  int64_t steps = llvm::divideCeil(K, kBox);

  // The tensor maps: tile_m x 64 boxes of A, 64 x 64 of B, swizzled by
  // 128 bytes, zeros outside.
  auto workgroup =
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup);
  auto shared = [&](int64_t rows, int64_t cols) {
    return MemRefType::get({rows, cols}, element, AffineMap(), workgroup);
  };
  MemRefType aBox = shared(tileM, kBox), bBox = shared(kBox, kBox);
  Value mapA = describeForTma(rewriter, loc, a, aBox),
        mapB = describeForTma(rewriter, loc, bm, bBox);

  OpBuilder::InsertionGuard guard(rewriter);
  HopperLaunch hopper = createHopperLaunch(
      rewriter, loc, {e.ceilDiv(N, tileN), e.ceilDiv(M, tileM), e.idx(1)},
      threads, wgmmaMatmulSharedBytes(config, element));
  gpu::LaunchOp launch = hopper.launch;
  Value smem = hopper.smem;
  Value tid = launch.getThreadIds().x;
  // This thread's warpgroup: rows 64 wg .. of the block's tile.
  Value wg = e.div(tid, e.idx(128));
  Value m0 = e.mul(launch.getBlockIds().y, e.idx(tileM));
  Value n0 = e.mul(launch.getBlockIds().x, e.idx(tileN));
  auto barriersType = nvgpu::MBarrierGroupType::get(context, workgroup, stages);
  Value barriers = nvgpu::MBarrierCreateOp::create(rewriter, loc, barriersType);
  Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                      tid, e.idx(0));
  {
    auto init = scf::IfOp::create(rewriter, loc, first, false);
    OpBuilder::InsertionGuard g(rewriter);
    rewriter.setInsertionPointToStart(init.thenBlock());
    for (int64_t s = 0; s < stages; ++s)
      nvgpu::MBarrierInitOp::create(rewriter, loc, barriers, e.idx(1), e.idx(s),
                                    Value());
  }
  gpu::BarrierOp::create(rewriter, loc);

  // A view of `type` at byte `offset` of shared memory.
  auto view = [&](OpBuilder &b, Location l, MemRefType type, Value offset) {
    return memref::ViewOp::create(b, l, type, smem, offset, ValueRange{})
        .getResult();
  };
  // Thread 0 loads step `step`'s tiles into `stage`: A rows m0.., columns
  // k0.., B rows k0.., columns n0 + 64 c.. (TMA coordinates innermost
  // first).
  auto load = [&](OpBuilder &b, Location l, Value stage, Value step) {
    Emitter x{b, l};
    Value base = x.mul(stage, x.idx(stageBytes));
    Value k0 = x.mul(step, x.idx(kBox));
    nvgpu::MBarrierArriveExpectTxOp::create(b, l, barriers, x.idx(stageBytes),
                                            stage, Value());
    nvgpu::TmaAsyncLoadOp::create(b, l, view(b, l, aBox, base), barriers, mapA,
                                  ValueRange{k0, m0}, stage, Value(), Value());
    for (int64_t c = 0; c < tileN / kBox; ++c)
      nvgpu::TmaAsyncLoadOp::create(
          b, l, view(b, l, bBox, x.add(base, x.idx(aBytes + c * boxBytes))),
          barriers, mapB, ValueRange{x.add(n0, x.idx(c * kBox)), k0}, stage,
          Value(), Value());
  };
  {
    auto prologue = scf::IfOp::create(rewriter, loc, first, false);
    OpBuilder::InsertionGuard g(rewriter);
    rewriter.setInsertionPointToStart(prologue.thenBlock());
    for (int64_t s = 0; s < std::min(stages, steps); ++s)
      load(rewriter, loc, e.idx(s), e.idx(s));
  }

  auto accType = nvgpu::WarpgroupAccumulatorType::get(
      context, VectorType::get({kBox, tileN}, rewriter.getF32Type()));
  MemRefType aTile = shared(kBox, kBox), bTile = shared(kBox, tileN);
  auto descriptor = [&](OpBuilder &b, Location l, MemRefType type, Value offset,
                        Value map) {
    return nvgpu::WarpgroupGenerateDescriptorOp::create(
        b, l, nvgpu::WarpgroupMatrixDescriptorType::get(context, type),
        view(b, l, type, offset), map);
  };
  Value zero =
      nvgpu::WarpgroupMmaInitAccumulatorOp::create(rewriter, loc, accType);
  auto loop = scf::ForOp::create(
      rewriter, loc, e.idx(0), e.idx(steps), e.idx(1), ValueRange{zero},
      [&](OpBuilder &b, Location l, Value step, ValueRange acc) {
        Emitter x{b, l};
        Value stage = x.rem(step, x.idx(stages));
        // Pass p over the ring waits for phase p of the stage's mbarrier.
        Value parity = arith::IndexCastUIOp::create(
            b, l, b.getI1Type(), x.rem(x.div(step, x.idx(stages)), x.idx(2)));
        nvgpu::MBarrierTryWaitParityOp::create(b, l, barriers, parity,
                                               x.idx(kWaitTicks), stage);
        // This warpgroup's 64 rows of A (64 rows of 128 bytes each), and B.
        Value base = x.mul(stage, x.idx(stageBytes));
        Value descA = descriptor(
            b, l, aTile, x.add(base, x.mul(wg, x.idx(kBox * kBox * bytes))),
            mapA);
        Value descB = descriptor(b, l, bTile, x.add(base, x.idx(aBytes)), mapB);
        Value sum = nvgpu::WarpgroupMmaOp::create(
            b, l, accType, descA, descB, b.getI64IntegerAttr(0),
            /*transposeA=*/nullptr, /*transposeB=*/b.getUnitAttr(), acc[0]);
        // Every warp is done with the stage before it is refilled.
        gpu::BarrierOp::create(b, l);
        Value next = x.add(step, x.idx(stages));
        auto refill = scf::IfOp::create(
            b, l, x.andI(first, x.lt(next, x.idx(steps))), false);
        OpBuilder rb = OpBuilder::atBlockBegin(refill.thenBlock());
        load(rb, l, stage, next);
        scf::YieldOp::create(b, l, sum);
      });

  // Epilogue: the tile through shared memory (each warpgroup its 64 rows),
  // rounded, inside C only.
  auto stagedType = sharedMemRefType({tileM, tileN}, rewriter.getF32Type());
  Value staged = view(rewriter, loc, stagedType, e.idx(0));
  nvgpu::WarpgroupMmaStoreOp::create(
      rewriter, loc, loop.getResult(0),
      view(rewriter, loc,
           sharedMemRefType({kBox, tileN}, rewriter.getF32Type()),
           e.mul(wg, e.idx(kBox * tileN * 4))));
  gpu::BarrierOp::create(rewriter, loc);
  scf::ForOp::create(
      rewriter, loc, e.idx(0), e.idx(tileM * tileN / threads), e.idx(1),
      ValueRange{}, [&](OpBuilder &b, Location l, Value i, ValueRange) {
        Emitter x{b, l};
        Value linear = x.add(x.mul(i, x.idx(threads)), tid);
        Value row = x.div(linear, x.idx(tileN)),
              col = x.rem(linear, x.idx(tileN));
        Value gRow = x.add(m0, row), gCol = x.add(n0, col);
        auto store = scf::IfOp::create(
            b, l, x.andI(x.lt(gRow, M), x.lt(gCol, N)), false);
        OpBuilder sb = OpBuilder::atBlockBegin(store.thenBlock());
        Value v = memref::LoadOp::create(sb, l, staged, ValueRange{row, col});
        if (!outElement.isF32())
          v = arith::TruncFOp::create(sb, l, outElement, v);
        memref::StoreOp::create(sb, l, v, out, ValueRange{gRow, gCol});
        scf::YieldOp::create(b, l);
      });
  replaceByKernelResult(rewriter, replaced, launch, out);
  if (replaced != op.getOperation())
    rewriter.eraseOp(op);
}

} // namespace

void kha::populateMatmulToWgmmaPatterns(RewritePatternSet &patterns,
                                        const KernelTarget &target) {
  addMatmulKernelPatterns<MmaKind::wgmma, buildWgmmaMatmul>(patterns, target);
}
