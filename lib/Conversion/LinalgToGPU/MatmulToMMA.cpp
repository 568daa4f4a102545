//===- MatmulToMMA.cpp - linalg.matmul as a tensor-core kernel ------------===//
//
// C = A B (from zero; A [M, K] and B [K, N] f16 or bf16, C f16, bf16 or f32)
// under a tensor-core `#kha.gpu_kernel`: one block of four warps per
// tile_m x tile_n tile of C, each warp a (tile_m/2) x (tile_n/2) quarter of
// it in f32 accumulator fragments.
//
//   - K is walked in steps of tile_k; the A and B tiles of a step are copied
//     by `cp.async` (16-byte chunks, coalesced, zero-filled past the
//     matrices' edges) into a ring of `stages` shared-memory buffers, so
//     that stages - 1 steps are in flight while one is multiplied;
//   - rows are padded (by `padding` elements) so that the eight 16-byte rows
//     of an `ldmatrix` hit distinct bank groups;
//   - A fragments come from `ldmatrix`, B fragments from `ldmatrix.trans`
//     (B is stored K-major), and `mma.sync.m16n8k16` accumulates in f32;
//   - the accumulators are rounded once to C's element type and stored in
//     pairs; when C is f32 and its only use rounds it to f16/bf16, the
//     kernel stores the rounded values in place of that op's result.
//
// K and N must be static multiples of 8 (16-byte rows); M is any size.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/KernelConfig.h"
#include "GPUKernels/MmaEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::kha;

namespace {
/// Builds the kernel of `op` (matched by matchMatmulKernel) and replaces
/// `replaced` by its result: `op` itself, or `op`'s sole rounding, whose
/// result type the kernel then stores (and `op` is erased).
void buildMmaMatmul(PatternRewriter &rewriter, linalg::MatmulOp op,
                    Operation *replaced, GPUKernelAttr config) {
  auto outType = cast<RankedTensorType>(replaced->getResultTypes()[0]);
  Type element = getElementTypeOrSelf(op.getDpsInputs()[0].getType());
  Type outElement = outType.getElementType();
  int64_t tileM = config.getTileM(), tileN = config.getTileN(),
          tileK = config.getTileK(), stages = config.getStages(),
          pad = config.getPadding(), threads = 32 * config.getWarps();
  int64_t warpM = tileM / 2, warpN = tileN / 2;
  int64_t mTiles = warpM / 16, nTiles = warpN / 8;
  Location loc = op.getLoc();
  MmaEmitter e{{rewriter, loc}, element};

  MatmulBuffers buffers = matmulBuffers(rewriter, loc, op.getDpsInputs()[0],
                                        op.getDpsInputs()[1], outType);
  Value a = buffers.a, bm = buffers.b, out = buffers.out;
  Value M = buffers.M, K = buffers.K, N = buffers.N;

  auto ring = [&](int64_t rows, int64_t cols) {
    return sharedMemRefType({stages, rows, cols + pad}, element);
  };
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, e.ceilDiv(N, tileN), e.ceilDiv(M, tileM), e.idx(1),
      e.idx(threads), e.idx(1), e.idx(1), nullptr, nullptr, ValueRange(),
      TypeRange{ring(tileM, tileK), ring(tileK, tileN)});

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(&launch.getBody().front());
  Value as = launch.getWorkgroupAttributions()[0]; // [stage][m][k]
  Value bs = launch.getWorkgroupAttributions()[1]; // [stage][k][n]
  Value tid = launch.getThreadIds().x;
  Value m0 = e.mul(launch.getBlockIds().y, e.idx(tileM));
  Value n0 = e.mul(launch.getBlockIds().x, e.idx(tileN));
  Value warp = e.div(tid, e.idx(32)), lane = e.rem(tid, e.idx(32));
  Value wm = e.mul(e.div(warp, e.idx(2)), e.idx(warpM));
  Value wn = e.mul(e.rem(warp, e.idx(2)), e.idx(warpN));
  Value steps = e.ceilDiv(K, tileK);

  // Copies step `step`'s tiles into `stage`; past K (or a step past the
  // last) nothing is read and zeros are written.
  auto copyStep = [&](OpBuilder &b, Location l, Value stage, Value step) {
    MmaEmitter x{{b, l}, element};
    SmallVector<Value> tokens;
    Value k0 = x.mul(step, x.idx(tileK));
    auto copy = [&](Value global, Value shared, int64_t rows, int64_t cols,
                    Value row0, Value col0, Value rowEnd, Value colEnd) {
      int64_t perRow = cols / kChunkElements;
      for (int64_t it = 0; it < rows * perRow / threads; ++it) {
        Value chunk = x.add(tid, x.idx(it * threads));
        Value row = x.div(chunk, x.idx(perRow));
        Value col = x.mul(x.rem(chunk, x.idx(perRow)), x.idx(kChunkElements));
        Value gRow = x.add(row0, row), gCol = x.add(col0, col);
        Value inside = x.andI(x.lt(gRow, rowEnd), x.lt(gCol, colEnd));
        Value zero = x.idx(0);
        tokens.push_back(x.copy16(
            shared, {stage, row, col}, global,
            {x.select(inside, gRow, zero), x.select(inside, gCol, zero)},
            x.select(inside, x.idx(kChunkElements), zero)));
      }
    };
    copy(a, as, tileM, tileK, m0, k0, M, K);
    copy(bm, bs, tileK, tileN, k0, n0, K, N);
    return x.commit(tokens);
  };
  Value first;
  for (int64_t s = 0; s + 1 < stages; ++s) {
    Value group = copyStep(rewriter, loc, e.idx(s), e.idx(s));
    first = first ? first : group;
  }

  VectorType accT = e.fragC();
  SmallVector<Value> init(mTiles * nTiles, e.zeros(accT));
  auto loop = scf::ForOp::create(
      rewriter, loc, e.idx(0), steps, e.idx(1), init,
      [&](OpBuilder &b, Location l, Value step, ValueRange acc) {
        MmaEmitter x{{b, l}, element};
        Value ahead = x.add(step, x.idx(stages - 1));
        Value group = copyStep(b, l, x.rem(ahead, x.idx(stages)), ahead);
        x.wait(group, stages - 1);
        gpu::BarrierOp::create(b, l);
        Value stage = x.rem(step, x.idx(stages));
        SmallVector<Value> sums(acc.begin(), acc.end());
        Value aRow =
            x.add(x.rem(lane, x.idx(8)),
                  x.mul(x.rem(x.div(lane, x.idx(8)), x.idx(2)), x.idx(8)));
        Value aCol = x.mul(x.div(lane, x.idx(16)), x.idx(8));
        // B is [k][n]: the same addressing, transposed on the way.
        for (int64_t kk = 0; kk < tileK / 16; ++kk) {
          SmallVector<Value> aFrags, bFrags;
          for (int64_t mt = 0; mt < mTiles; ++mt)
            aFrags.push_back(
                x.ldmatrix(as,
                           {stage, x.add(wm, x.add(aRow, x.idx(16 * mt))),
                            x.add(aCol, x.idx(16 * kk))},
                           /*transpose=*/false));
          for (int64_t np = 0; np < nTiles / 2; ++np) {
            Value frag = x.ldmatrix(bs,
                                    {stage, x.add(aRow, x.idx(16 * kk)),
                                     x.add(wn, x.add(aCol, x.idx(16 * np)))},
                                    /*transpose=*/true);
            bFrags.push_back(x.halfOf(frag, 0));
            bFrags.push_back(x.halfOf(frag, 2));
          }
          for (int64_t mt = 0; mt < mTiles; ++mt)
            for (int64_t nt = 0; nt < nTiles; ++nt)
              sums[mt * nTiles + nt] =
                  x.mma(aFrags[mt], bFrags[nt], sums[mt * nTiles + nt]);
        }
        // Every warp is done with this stage before it is refilled.
        gpu::BarrierOp::create(b, l);
        scf::YieldOp::create(b, l, sums);
      });
  // No copy is left in flight when the kernel ends (a wait for 0 pending
  // groups waits for all of them, whichever group's token it names).
  e.wait(first, 0);

  // Row g (and g + 8), columns 2t and 2t + 1 of each accumulator tile.
  Value lg = e.div(lane, e.idx(4)), lt = e.rem(lane, e.idx(4));
  VectorType pairOut = e.pair(outElement);
  int64_t align = 2 * outElement.getIntOrFloatBitWidth() / 8;
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t hh = 0; hh < 2; ++hh) {
        Value row = e.add(e.add(m0, wm), e.add(lg, e.idx(16 * mt + 8 * hh)));
        Value col =
            e.add(e.add(n0, wn), e.add(e.mul(lt, e.idx(2)), e.idx(8 * nt)));
        Value inside = e.andI(e.lt(row, M), e.lt(col, N));
        auto store = scf::IfOp::create(rewriter, loc, inside, false);
        OpBuilder::InsertionGuard g2(rewriter);
        rewriter.setInsertionPointToStart(store.thenBlock());
        Value value = e.row(loop.getResult(mt * nTiles + nt), hh);
        if (!outElement.isF32())
          value = arith::TruncFOp::create(rewriter, loc, pairOut, value);
        vector::StoreOp::create(rewriter, loc, value, out, ValueRange{row, col},
                                /*nontemporal=*/false, llvm::MaybeAlign(align));
      }
  replaceByKernelResult(rewriter, replaced, launch, out);
  if (replaced != op.getOperation())
    rewriter.eraseOp(op);
}

} // namespace

void kha::populateMatmulToMmaPatterns(RewritePatternSet &patterns,
                                      const KernelTarget &target) {
  addMatmulKernelPatterns<MmaKind::mma_sync, buildMmaMatmul>(patterns, target);
}
