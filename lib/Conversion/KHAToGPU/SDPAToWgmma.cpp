//===- SDPAToWgmma.cpp - kha.sdpa as a Hopper TMA + wgmma kernel ---------===//
//
// FlashAttention on an sm_90a chip, for f16/bf16 attention with head dims
// that are multiples of 8 up to 256, under a `wgmma` `#kha.gpu_kernel`
// (tile_m = 64 or 128 query rows, a warpgroup of 128 threads per 64 of
// them, sharing each K/V tile of 64 keys; `stages` K/V stages). Every
// shared tile is made of 64-column boxes (rows of 128 bytes), as many per
// row as 64-column slices of the head dim, the columns past it zero-filled
// by TMA; shared memory above 47 KiB is dynamic:
//
//   - query heads are grouped by the key/value head they read, as in the
//     mma.sync kernel: row R = i * r + j of a group is query position i of
//     its j-th head (r = H / G divides 64), so a block's tile_m rows are
//     tile_m / r positions of r heads, one TMA box of Q [B, L, H, d] per 64
//     columns; grid (ceil(L r / tile_m), G, B);
//   - the host describes Q, K and V to the Tensor Memory Accelerator (4-D
//     tensor maps, 128-byte swizzle, zeros outside); thread 0 loads the Q
//     box once and the K and V tiles (64 keys each) into a ring of stages,
//     each stage completing on its own mbarrier (arrive.expect_tx, phase
//     parity per pass over the ring);
//   - S = Q K^T by `nvgpu.warpgroup.mma` from shared memory, one m64n64k16
//     MMA per 16 of d (K is a K-major B operand, whose descriptor each step
//     advances by 32 bytes itself);
//   - the S accumulator is read as this thread's 32 registers
//     (`vector<32xf32>`, the PTX ISA's wgmma D layout: register 4j + i is
//     row 16 w + g + 8 (i / 2), column 8 j + 2 t + i % 2, with w the warp,
//     g = lane / 4, t = lane % 4) through an `unrealized_conversion_cast`
//     between the two types, which kha-gpu-wgmma-fragments-to-llvm
//     resolves after the nvgpu lowering; the online softmax (base 2, the
//     scale folded into log2 e) runs on them with row maxima and sums across
//     the four lanes of a row by xor shuffles;
//   - P never leaves the registers: rounded to 16 bits, the S accumulator
//     registers are already in the register layout of a wgmma A operand,
//     so O += P V is one `kha.warpgroup_mma_register_a` (A from registers,
//     V an N-major B of all its 64-column boxes, one m64nNk16 MMA per k16
//     step), O being `vector<32 vBoxes x f32>` registers;
//   - software-pipelined within the warpgroup: tile 0's S and softmax come
//     first; then for each tile j, S_j and O += P_{j-1} V_{j-1} are issued
//     together, a wait for all but the newest group completes S_j, whose
//     softmax runs while the tensor cores multiply P_{j-1} V_{j-1}; O is
//     rescaled after a wait for everything, and the stage of tile j - 1 is
//     refilled after one block barrier; the last tile's P V ends the loop;
//   - causal: key tiles past the block's last row are never loaded, and
//     only tiles that cross the diagonal (or the end of S) are masked;
//   - warp specialisation, where the configuration has one warpgroup more
//     than its rows need: that warpgroup is the producer. Its registers cut
//     to 24 (`setmaxnreg`), its first thread loads Q and then each key
//     tile into its stage once the stage's "empty" mbarrier says the
//     consumers released the tile before it; the consumer warpgroups,
//     their registers raised to 240, compute as above and, instead of the
//     block barrier and refill, each thread arrives on the empty mbarrier
//     of tile j - 1's stage once O no longer needs it.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/HopperEmitter.h"
#include "GPUKernels/MmaEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::kha;

namespace {
/// Rows, keys and head-dim columns of a tile: 64 (128-byte rows).
constexpr int64_t kTile = 64;
/// Registers of an m64n64 f32 accumulator per thread.
constexpr int64_t kRegs = kTile * kTile / 128;
/// Warp specialisation: the registers of a producer thread and of a
/// consumer thread (128 x 24 + 256 x 240 <= 65536, the register file).
constexpr int32_t kProducerRegisters = 24, kConsumerRegisters = 240;

/// The accumulator registers of this thread in row `hh` (0: row g, 1: row
/// g + 8 of the warp's 16): registers 4j + 2hh and 4j + 2hh + 1.
SmallVector<int64_t> rowRegisters(int64_t hh) {
  SmallVector<int64_t> regs;
  for (int64_t j = 0; j < kRegs / 4; ++j)
    for (int64_t i = 0; i < 2; ++i)
      regs.push_back(4 * j + 2 * hh + i);
  return regs;
}

struct SDPAToWgmmaKernel : OpRewritePattern<SDPAOp> {
  SDPAToWgmmaKernel(MLIRContext *context, const KernelTarget &target)
      : OpRewritePattern(context), target(target) {}
  KernelTarget target;

  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<GPUKernelAttr> matched =
        matchAttentionKernel(rewriter, op, MmaKind::wgmma, target);
    if (failed(matched))
      return failure();
    GPUKernelAttr config = *matched;

    MLIRContext *context = rewriter.getContext();
    auto qType = op.getQuery().getType(), kType = op.getKey().getType();
    auto outType = cast<RankedTensorType>(op.getType());
    Type element = qType.getElementType();
    auto vType = op.getValue().getType();
    int64_t H = qType.getDimSize(2), G = kType.getDimSize(2),
            d = qType.getDimSize(3), dv = vType.getDimSize(3), r = H / G;
    // Boxes of 64 columns per row of Q and K, and of V and O; TMA fills
    // the columns past the head dim with zeros.
    int64_t dBoxes = llvm::divideCeil(d, kTile),
            vBoxes = llvm::divideCeil(dv, kTile);
    // A warpgroup per 64 query rows of the block (tile_m 64 or 128); the
    // warpgroups share each K/V tile.
    int64_t tileM = config.getTileM(), warpgroups = tileM / kTile;
    // Warp specialisation: one more warpgroup, the producer, loads Q and
    // the K/V stages while the others (the consumers) compute.
    bool specialised = config.getWarps() == 4 * warpgroups + 4;
    int64_t stages = config.getStages(), consumers = 128 * warpgroups;
    int64_t threads = consumers + (specialised ? 128 : 0);
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    int64_t tileBytes = kTile * kTile * bytes;
    bool causal = op.getCausal();
    Location loc = op.getLoc();
    MmaEmitter e{{rewriter, loc}, element};
    Type f32 = rewriter.getF32Type();

    AttentionBuffers buffers = attentionBuffers(
        rewriter, loc, op.getQuery(), op.getKey(), op.getValue(), outType);
    Value q = buffers.q, k = buffers.k, v = buffers.v, out = buffers.out;
    Value B = buffers.B, L = buffers.L, S = buffers.S;

    // Tensor maps: boxes of [1, tile_m / r, r, 64] of Q (a block's rows)
    // and [1, 64, 1, 64] of K and V (a tile's keys of one head), 128-byte
    // swizzle, zeros outside.
    auto workgroup =
        gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup);
    auto shared = [&](ArrayRef<int64_t> shape) {
      return MemRefType::get(shape, element, AffineMap(), workgroup);
    };
    MemRefType qBox = shared({1, tileM / r, r, kTile}),
               kvBox = shared({1, kTile, 1, kTile});
    Value mapQ = describeForTma(rewriter, loc, q, qBox),
          mapK = describeForTma(rewriter, loc, k, kvBox),
          mapV = describeForTma(rewriter, loc, v, kvBox);

    Value rows = e.mul(L, e.idx(r));
    OpBuilder::InsertionGuard guard(rewriter);
    HopperLaunch hopper = createHopperLaunch(
        rewriter, loc, {e.ceilDiv(rows, tileM), e.idx(G), B}, threads,
        wgmmaAttentionSharedBytes(config, d, dv, element));
    gpu::LaunchOp launch = hopper.launch;
    Value smem = hopper.smem;
    Value tid = launch.getThreadIds().x;
    Value g = launch.getBlockIds().y, batch = launch.getBlockIds().z;
    Value warp = e.div(tid, e.idx(32)), lane = e.rem(tid, e.idx(32));
    Value lg = e.div(lane, e.idx(4)), lt = e.rem(lane, e.idx(4));
    Value row0 = e.mul(launch.getBlockIds().x, e.idx(tileM));
    // This thread's warpgroup.
    Value wg = e.div(tid, e.idx(128));

    // This thread's two rows: position i and query head of each, and
    // whether the row exists.
    Value warpRow = e.add(e.add(row0, e.mul(warp, e.idx(16))), lg);
    LaneRows lr = laneRows(e, warpRow, rows, r, g);
    Value *pos = lr.pos;

    // Keys this block visits: up to its last row's position when causal.
    KeyTiles visited = keyTiles(e, row0, tileM, rows, r, S, causal, kTile);
    Value firstPos = visited.firstPos, numTiles = visited.count;

    // Shared memory: Q at 0 (dBoxes boxes of 64 columns), then stage s's K
    // tile (dBoxes boxes) and V tile (vBoxes boxes).
    int64_t qBoxBytes = warpgroups * tileBytes, qBytes = dBoxes * qBoxBytes,
            stageBytes = (dBoxes + vBoxes) * tileBytes;
    auto byteView = [&](OpBuilder &b, Location l, MemRefType type,
                        Value offset) {
      return memref::ViewOp::create(b, l, type, smem, offset, ValueRange{})
          .getResult();
    };
    auto kOffset = [&](Emitter &x, Value stage) {
      return x.add(x.idx(qBytes), x.mul(stage, x.idx(stageBytes)));
    };
    auto vOffset = [&](Emitter &x, Value stage) {
      return x.add(kOffset(x, stage), x.idx(dBoxes * tileBytes));
    };

    // mbarriers 0 .. stages - 1: the K/V stages are full (the TMA loads
    // have landed); `stages`: Q; with a producer, stages + 1 + s: stage s
    // is empty (every consumer thread is done with it).
    auto barriersType = nvgpu::MBarrierGroupType::get(
        context, workgroup, stages + 1 + (specialised ? stages : 0));
    Value barriers =
        nvgpu::MBarrierCreateOp::create(rewriter, loc, barriersType);
    Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                        tid, e.idx(0));
    {
      auto init = scf::IfOp::create(rewriter, loc, first, false);
      OpBuilder::InsertionGuard g2(rewriter);
      rewriter.setInsertionPointToStart(init.thenBlock());
      for (int64_t s = 0; s <= stages; ++s)
        nvgpu::MBarrierInitOp::create(rewriter, loc, barriers, e.idx(1),
                                      e.idx(s), Value());
      if (specialised)
        for (int64_t s = 0; s < stages; ++s)
          nvgpu::MBarrierInitOp::create(rewriter, loc, barriers,
                                        e.idx(consumers), e.idx(stages + 1 + s),
                                        Value());
    }
    gpu::BarrierOp::create(rewriter, loc);

    // Thread 0 loads K/V tile `tile` into `stage`.
    auto load = [&](OpBuilder &b, Location l, Value stage, Value tile) {
      Emitter x{b, l};
      Value kv0 = x.mul(tile, x.idx(kTile));
      nvgpu::MBarrierArriveExpectTxOp::create(b, l, barriers, x.idx(stageBytes),
                                              stage, Value());
      auto boxes = [&](Value map, Value base, int64_t count) {
        for (int64_t c = 0; c < count; ++c)
          nvgpu::TmaAsyncLoadOp::create(
              b, l, byteView(b, l, kvBox, x.add(base, x.idx(c * tileBytes))),
              barriers, map, ValueRange{x.idx(c * kTile), g, kv0, batch}, stage,
              Value(), Value());
      };
      boxes(mapK, kOffset(x, stage), dBoxes);
      boxes(mapV, vOffset(x, stage), vBoxes);
    };
    // The block's Q tile, on mbarrier `stages`.
    auto loadQ = [&](OpBuilder &b, Location l) {
      Emitter x{b, l};
      Value qBar = x.idx(stages);
      nvgpu::MBarrierArriveExpectTxOp::create(b, l, barriers, x.idx(qBytes),
                                              qBar, Value());
      for (int64_t c = 0; c < dBoxes; ++c)
        nvgpu::TmaAsyncLoadOp::create(
            b, l, byteView(b, l, qBox, x.idx(c * qBoxBytes)), barriers, mapQ,
            ValueRange{x.idx(c * kTile), x.mul(g, x.idx(r)), firstPos, batch},
            qBar, Value(), Value());
    };
    if (specialised) {
      // The producer warpgroup, its registers cut to 24 (it holds little
      // more than a loop counter): its first thread loads Q, then key tile
      // j into stage j % stages once the consumers have released the
      // stage's previous tile (the empty mbarrier's phase of the pass
      // before; on the first pass the phase "before the first" counts as
      // completed, so the wait returns at once). The consumers take the
      // registers it gave back.
      auto roles = scf::IfOp::create(rewriter, loc, e.lt(tid, e.idx(consumers)),
                                     /*withElseRegion=*/true);
      OpBuilder pb = OpBuilder::atBlockBegin(roles.elseBlock());
      NVVM::SetMaxRegisterOp::create(pb, loc, kProducerRegisters,
                                     NVVM::SetMaxRegisterAction::decrease);
      Emitter x{pb, loc};
      auto elected = scf::IfOp::create(
          pb, loc,
          arith::CmpIOp::create(pb, loc, arith::CmpIPredicate::eq, tid,
                                x.idx(consumers)),
          false);
      OpBuilder eb = OpBuilder::atBlockBegin(elected.thenBlock());
      loadQ(eb, loc);
      Emitter y{eb, loc};
      scf::ForOp::create(eb, loc, y.idx(0), numTiles, y.idx(1), ValueRange{},
                         [&](OpBuilder &b, Location l, Value j, ValueRange) {
                           Emitter z{b, l};
                           Value pass = z.div(j, z.idx(stages));
                           Value parity = arith::IndexCastUIOp::create(
                               b, l, b.getI1Type(),
                               z.rem(z.add(pass, z.idx(1)), z.idx(2)));
                           Value stage = z.rem(j, z.idx(stages));
                           nvgpu::MBarrierTryWaitParityOp::create(
                               b, l, barriers, parity, z.idx(kWaitTicks),
                               z.add(stage, z.idx(stages + 1)));
                           load(b, l, stage, j);
                           scf::YieldOp::create(b, l);
                         });
      rewriter.setInsertionPointToStart(roles.thenBlock());
      NVVM::SetMaxRegisterOp::create(rewriter, loc, kConsumerRegisters,
                                     NVVM::SetMaxRegisterAction::increase);
    } else {
      // Thread 0 loads Q and fills the stages.
      auto prologue = scf::IfOp::create(rewriter, loc, first, false);
      OpBuilder::InsertionGuard g2(rewriter);
      rewriter.setInsertionPointToStart(prologue.thenBlock());
      loadQ(rewriter, loc);
      for (int64_t s = 0; s < stages; ++s) {
        auto some =
            scf::IfOp::create(rewriter, loc, e.lt(e.idx(s), numTiles), false);
        OpBuilder sb = OpBuilder::atBlockBegin(some.thenBlock());
        Emitter y{sb, loc};
        load(sb, loc, y.idx(s), y.idx(s));
      }
    }
    nvgpu::MBarrierTryWaitParityOp::create(
        rewriter, loc, barriers,
        arith::ConstantOp::create(rewriter, loc, rewriter.getBoolAttr(false)),
        e.idx(kWaitTicks), e.idx(stages));

    auto accType = nvgpu::WarpgroupAccumulatorType::get(
        context, VectorType::get({kTile, kTile}, f32));
    VectorType regsType = VectorType::get({kRegs}, f32);
    auto fragment = [&](OpBuilder &b, Location l, Value from, Type to) {
      // (kha-gpu-wgmma-fragments-to-llvm resolves it, known by its types.)
      return UnrealizedConversionCastOp::create(b, l, to, from).getResult(0);
    };
    // Descriptors of a 64-row operand tile at `offset` (K-major: rows of
    // 128 bytes), `columns` wide, and of the V tile (N-major).
    auto descriptor = [&](OpBuilder &b, Location l, Value offset,
                          ArrayRef<int64_t> shape, Value map) {
      MemRefType view = shared(shape);
      return nvgpu::WarpgroupGenerateDescriptorOp::create(
                 b, l, nvgpu::WarpgroupMatrixDescriptorType::get(context, view),
                 byteView(b, l, view, offset), map)
          .getResult();
    };

    double log2e = 1.0 / std::log(2.0);
    double scaleLog2 = op.getScale().convertToDouble() * log2e;
    double negInf = -std::numeric_limits<double>::infinity();
    VectorType pairF = e.pair(f32);
    VectorType rowType = VectorType::get({kRegs / 2}, f32);
    VectorType pType = VectorType::get({kRegs}, element);
    int64_t kSteps = llvm::divideCeil(d, 16);

    // The stage of key tile `j` and the parity of its pass over the ring.
    auto stageOf = [&](Emitter &x, Value j) { return x.rem(j, x.idx(stages)); };
    auto waitForTile = [&](OpBuilder &b, Location l, Value j) {
      Emitter x{b, l};
      Value parity = arith::IndexCastUIOp::create(
          b, l, b.getI1Type(), x.rem(x.div(j, x.idx(stages)), x.idx(2)));
      nvgpu::MBarrierTryWaitParityOp::create(b, l, barriers, parity,
                                             x.idx(kWaitTicks), stageOf(x, j));
    };
    // S = Q K_j^T, one k16 step of d at a time (32 bytes into the swizzled
    // rows of a box of Q and K), chained on the in-flight accumulator; the
    // last step waits for all of them when `wait`, else leaves them in
    // flight.
    auto multiplyQK = [&](OpBuilder &b, Location l, Value j, bool wait) {
      Emitter x{b, l};
      Value kBase = kOffset(x, stageOf(x, j));
      Value sAcc = nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, l, accType);
      for (int64_t kk = 0; kk < kSteps; ++kk) {
        // This warpgroup's 64 rows of the Q box (64 rows of 128 bytes each
        // further on).
        Value atQ = x.add(x.idx((kk / 4) * qBoxBytes + 32 * (kk % 4)),
                          x.mul(wg, x.idx(tileBytes)));
        Value descQ = descriptor(b, l, atQ, {kTile, 16}, mapQ);
        Value descK = descriptor(
            b, l, x.add(kBase, x.idx((kk / 4) * tileBytes + 32 * (kk % 4))),
            {16, kTile}, mapK);
        bool last = kk + 1 == kSteps;
        sAcc = nvgpu::WarpgroupMmaOp::create(
            b, l, accType, descQ, descK,
            b.getI64IntegerAttr(last && wait ? 0 : kSteps),
            /*transposeA=*/nullptr, /*transposeB=*/nullptr, sAcc);
      }
      return sAcc;
    };
    // O += P V_j as one m64nNk16 MMA per k16 step, N the boxes of V (64
    // columns each, one leading byte offset apart in the N-major operand);
    // then all but the newest `keep` groups are waited for.
    auto multiplyPV = [&](OpBuilder &b, Location l, Value pRegs, Value j,
                          Value oAcc, int64_t keep) {
      Emitter x{b, l};
      Value descV = descriptor(b, l, vOffset(x, stageOf(x, j)),
                               {kTile, kTile * vBoxes}, mapV);
      return WarpgroupMmaRegisterAOp::create(b, l, pRegs, descV, oAcc,
                                             /*transposeB=*/true, keep)
          .getResult();
    };

    // The online softmax of tile j's scores (base 2, the scale folded into
    // log2 e) from the running row maxima m and sums l: P = exp2(S - m')
    // in the register order of a wgmma A operand (for 16-bit types the
    // accumulator's register order, k16 step s being registers 8s .. 8s +
    // 7), still in f32, m', l' and O's row scales exp2(m - m') in register
    // order.
    struct Softmax {
      Value p, m, l, scales;
    };
    auto softmax = [&](OpBuilder &b, Location l, Value sAcc, Value j,
                       Value mOld, Value lOld) {
      MmaEmitter x{{b, l}, element};
      Value s = fragment(b, l, sAcc, regsType);
      s = arith::MulFOp::create(
          b, l, s,
          arith::ConstantOp::create(
              b, l, regsType,
              DenseElementsAttr::get(regsType, float(scaleLog2))));
      // Masks only where the tile crosses the end of S or the diagonal.
      Value kv0 = x.mul(j, x.idx(kTile));
      Value tileEnd = x.add(kv0, x.idx(kTile));
      Value needsMask =
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, tileEnd, S);
      if (causal)
        needsMask = arith::OrIOp::create(
            b, l, needsMask,
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, tileEnd,
                                  x.add(firstPos, x.idx(1))));
      auto masked = scf::IfOp::create(b, l, TypeRange{regsType}, needsMask,
                                      /*withElseRegion=*/true);
      {
        OpBuilder mb = OpBuilder::atBlockBegin(masked.thenBlock());
        MmaEmitter y{{mb, l}, element};
        Value minusInf = y.f32(negInf), tile = s;
        for (int64_t reg = 0; reg < kRegs; ++reg) {
          int64_t jj = reg / 4, i = reg % 4, hh = i / 2;
          Value key =
              y.add(y.add(kv0, y.mul(lt, y.idx(2))), y.idx(8 * jj + i % 2));
          Value allowed = y.lt(key, S);
          if (causal)
            allowed = y.andI(allowed, y.le(key, pos[hh]));
          Value score = vector::ExtractOp::create(mb, l, tile, reg);
          tile = vector::InsertOp::create(
              mb, l, y.select(allowed, score, minusInf), tile, reg);
        }
        scf::YieldOp::create(mb, l, tile);
        OpBuilder eb = OpBuilder::atBlockBegin(masked.elseBlock());
        scf::YieldOp::create(eb, l, s);
      }
      s = masked.getResult(0);

      Value mNew = mOld, lNew = lOld, p[2], alpha[2];
      for (int64_t hh = 0; hh < 2; ++hh) {
        Value row = vector::ShuffleOp::create(b, l, s, s, rowRegisters(hh));
        Value best = vector::ReductionOp::create(
            b, l, vector::CombiningKind::MAXIMUMF, row);
        best = x.acrossRow<arith::MaximumFOp>(best);
        Value mPrev = vector::ExtractOp::create(b, l, mOld, hh);
        Value m = arith::MaximumFOp::create(b, l, mPrev, best);
        // A row with no finite score yet keeps m = -inf and sums 0.
        Value none = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, m,
                                           x.f32(negInf));
        Value base = x.select(none, x.f32(0.0), m);
        alpha[hh] = math::Exp2Op::create(
            b, l, arith::SubFOp::create(b, l, mPrev, base));
        p[hh] = math::Exp2Op::create(
            b, l,
            arith::SubFOp::create(
                b, l, row, vector::BroadcastOp::create(b, l, rowType, base)));
        Value sum = vector::ReductionOp::create(
            b, l, vector::CombiningKind::ADD, p[hh]);
        Value lPrev = vector::ExtractOp::create(b, l, lOld, hh);
        Value lRow = arith::AddFOp::create(
            b, l, arith::MulFOp::create(b, l, lPrev, alpha[hh]), sum);
        mNew = vector::InsertOp::create(b, l, m, mNew, hh);
        lNew = vector::InsertOp::create(b, l, lRow, lNew, hh);
      }
      // The two row scales interleaved in O's register order, and P's two
      // rows back in S's (register 4j + 2hh + i is p[hh][2j + i]).
      SmallVector<int64_t> byRow, merge;
      for (int64_t reg = 0; reg < kRegs * vBoxes; ++reg)
        byRow.push_back((reg % 4) / 2);
      for (int64_t reg = 0; reg < kRegs; ++reg) {
        int64_t jj = reg / 4, hh = (reg % 4) / 2, i = reg % 2;
        merge.push_back(hh * (kRegs / 2) + 2 * jj + i);
      }
      Value scales = vector::ShuffleOp::create(
          b, l,
          vector::BroadcastOp::create(b, l, VectorType::get({1}, f32),
                                      alpha[0]),
          vector::BroadcastOp::create(b, l, VectorType::get({1}, f32),
                                      alpha[1]),
          byRow);
      Value pRegs = vector::ShuffleOp::create(b, l, p[0], p[1], merge);
      return Softmax{pRegs, mNew, lNew, scales};
    };

    // Tile 0: S, then its softmax (O is still zero, nothing to rescale).
    // No tile at all (S = 0 at run time): nothing is loaded or waited for,
    // and every row sums to 0 (its output is zeros).
    Value minusInfs = arith::ConstantOp::create(
        rewriter, loc, pairF, DenseElementsAttr::get(pairF, float(negInf)));
    Value anyTile = e.lt(e.idx(0), numTiles);
    auto tile0 = scf::IfOp::create(rewriter, loc,
                                   TypeRange{pairF, pairF, pType}, anyTile,
                                   /*withElseRegion=*/true);
    {
      OpBuilder tb = OpBuilder::atBlockBegin(tile0.thenBlock());
      MmaEmitter x{{tb, loc}, element};
      waitForTile(tb, loc, x.idx(0));
      Softmax first =
          softmax(tb, loc, multiplyQK(tb, loc, x.idx(0), /*wait=*/true),
                  x.idx(0), minusInfs, x.zeros(pairF));
      scf::YieldOp::create(
          tb, loc,
          ValueRange{first.m, first.l,
                     arith::TruncFOp::create(tb, loc, pType, first.p)});
      OpBuilder eb = OpBuilder::atBlockBegin(tile0.elseBlock());
      MmaEmitter y{{eb, loc}, element};
      scf::YieldOp::create(
          eb, loc, ValueRange{minusInfs, y.zeros(pairF), y.zeros(pType)});
    }
    SmallVector<Value> init(tile0.getResults());
    // O: the registers of a 64 x (64 vBoxes) accumulator (those of box c
    // are 32c .. 32c + 31).
    VectorType oType = VectorType::get({kRegs * vBoxes}, f32);
    init.push_back(e.zeros(oType));

    // Tiles 1 ..: the MMAs of one tile overlap the softmax of the next. S_j
    // = Q K_j^T and O += P_{j-1} V_{j-1} are issued together; waiting for
    // all but the P V groups completes S_j, whose softmax then runs while
    // the tensor cores multiply P_{j-1} V_{j-1}; then O (complete) is
    // rescaled by exp2(m_{j-1} - m_j), and tile j - 1's stage is refilled.
    auto loop = scf::ForOp::create(
        rewriter, loc, e.idx(1), numTiles, e.idx(1), init,
        [&](OpBuilder &b, Location l, Value j, ValueRange state) {
          Emitter x{b, l};
          Value prev = x.sub(j, x.idx(1));
          waitForTile(b, l, j);
          Value sAcc = multiplyQK(b, l, j, /*wait=*/false);
          Value oAcc = multiplyPV(b, l, state[2], prev, state[3], /*keep=*/1);
          Softmax next = softmax(b, l, sAcc, j, state[0], state[1]);
          NVVM::WgmmaWaitGroupSyncOp::create(b, l, uint64_t(0));
          // P_j is rounded into its 16-bit A registers only now: the P V
          // in flight reads P_{j-1}'s registers until this wait, and the
          // loop's P may share them (writing them earlier would make ptxas
          // serialise every wgmma of the kernel).
          Value pNext = arith::TruncFOp::create(b, l, pType, next.p);
          oAcc = arith::MulFOp::create(b, l, oAcc, next.scales);
          if (specialised) {
            // This thread is done with tile j - 1's stage: the producer
            // may refill it once every consumer thread is.
            nvgpu::MBarrierArriveOp::create(
                b, l, nvgpu::MBarrierTokenType::get(context), barriers,
                x.add(stageOf(x, prev), x.idx(stages + 1)));
          } else {
            // Every thread is done with tile j - 1's stage before it is
            // refilled.
            gpu::BarrierOp::create(b, l);
            Value refill = x.add(prev, x.idx(stages));
            auto more = scf::IfOp::create(
                b, l, x.andI(first, x.lt(refill, numTiles)), false);
            OpBuilder rb = OpBuilder::atBlockBegin(more.thenBlock());
            Emitter y{rb, l};
            load(rb, l, stageOf(y, prev), refill);
          }
          scf::YieldOp::create(b, l, ValueRange{next.m, next.l, pNext, oAcc});
        });

    // The last tile's P V (if there is one).
    auto last = scf::IfOp::create(rewriter, loc, TypeRange{oType}, anyTile,
                                  /*withElseRegion=*/true);
    {
      OpBuilder tb = OpBuilder::atBlockBegin(last.thenBlock());
      Emitter x{tb, loc};
      scf::YieldOp::create(tb, loc,
                           multiplyPV(tb, loc, loop.getResult(2),
                                      x.sub(numTiles, x.idx(1)),
                                      loop.getResult(3), /*keep=*/0));
      OpBuilder eb = OpBuilder::atBlockBegin(last.elseBlock());
      scf::YieldOp::create(eb, loc, loop.getResult(3));
    }
    Value o = last.getResult(0);
    // O / l, the row sums completed over the four lanes of each row; a
    // fully masked row is zeros. Registers 4j + 2hh, +1 are row hh's
    // columns 8j + 2t, +1.
    storeNormalisedRows(
        e, loop.getResult(1), lr, lt, dv / 8, out, batch,
        [&](OpBuilder &b, int64_t hh, int64_t jj) -> Value {
          return vector::ShuffleOp::create(
              b, loc, o, o,
              ArrayRef<int64_t>{4 * jj + 2 * hh, 4 * jj + 2 * hh + 1});
        });
    replaceByKernelResult(rewriter, op, launch, out);
    return success();
  }
};
} // namespace

void kha::populateSDPAToWgmmaPatterns(RewritePatternSet &patterns,
                                      const KernelTarget &target) {
  patterns.add<SDPAToWgmmaKernel>(patterns.getContext(), target);
}
