//===- SDPAToMMA.cpp - kha.sdpa as a tensor-core attention kernel ---------===//
//
// The FlashAttention-2 structure on mma.sync (sm_80 and newer), for f16/bf16
// attention with head dims that are multiples of 16, under a tensor-core
// `#kha.gpu_kernel` (tile_m query rows, tile_n keys per K/V tile):
//
//   - query heads are grouped by the key/value head they read: row
//     R = i * r + j of a group is query position i of its j-th head
//     (r = H / G), so one block covers tile_m rows of one group and each K/V
//     tile is loaded once for all of its heads; grid (ceil(L r / tile_m), G,
//     B), 16 rows per warp;
//   - the Q fragments are loaded once into registers (A operands);
//   - K and V tiles go through `cp.async` (16-byte copies, zero-filled past
//     S) into two shared-memory stages, the next tile copied while this one
//     is used; rows padded by 8 elements so that `ldmatrix` is free of bank
//     conflicts;
//   - S = Q K^T by `ldmatrix` (K as the "col" B operand) and `mma.sync`;
//     the online softmax runs on the accumulator fragments in base 2 (the
//     scale folded into log2 e), row maxima and sums across the four lanes
//     of a row by xor shuffles;
//   - P is re-packed from accumulator to A-operand fragments in registers;
//     O += P V by `ldmatrix.trans` (V as B) and `mma.sync`;
//   - causal: key tiles past the block's last row are never loaded, and only
//     tiles that cross the diagonal (or the end of S) are masked.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/KernelConfig.h"
#include "GPUKernels/MmaEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::kha;

namespace {
struct SDPAToMmaKernel : OpRewritePattern<SDPAOp> {
  SDPAToMmaKernel(MLIRContext *context, const KernelTarget &target)
      : OpRewritePattern(context), target(target) {}
  KernelTarget target;

  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<GPUKernelAttr> matched =
        matchAttentionKernel(rewriter, op, MmaKind::mma_sync, target);
    if (failed(matched))
      return failure();
    GPUKernelAttr config = *matched;

    auto qType = op.getQuery().getType(), kType = op.getKey().getType(),
         vType = op.getValue().getType();
    auto outType = cast<RankedTensorType>(op.getType());
    Type element = qType.getElementType();
    int64_t H = qType.getDimSize(2), G = kType.getDimSize(2),
            d = qType.getDimSize(3), dv = vType.getDimSize(3), r = H / G;
    int64_t warps = config.getWarps(), threads = 32 * warps,
            tileRows = config.getTileM(), keys = config.getTileN(),
            pad = config.getPadding();
    bool causal = op.getCausal();
    Location loc = op.getLoc();
    MmaEmitter e{{rewriter, loc}, element};
    Type f32 = rewriter.getF32Type();

    AttentionBuffers buffers = attentionBuffers(
        rewriter, loc, op.getQuery(), op.getKey(), op.getValue(), outType);
    Value q = buffers.q, k = buffers.k, v = buffers.v, out = buffers.out;
    Value B = buffers.B, L = buffers.L, S = buffers.S;

    auto stagesOf = [&](int64_t width) {
      return sharedMemRefType({2, keys, width + pad}, element);
    };
    Value rows = e.mul(L, e.idx(r));
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, e.ceilDiv(rows, tileRows), e.idx(G), B, e.idx(threads),
        e.idx(1), e.idx(1), /*dynamicSharedMemorySize=*/nullptr,
        /*asyncTokenType=*/nullptr, ValueRange(),
        TypeRange{stagesOf(d), stagesOf(dv)});

    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(&launch.getBody().front());
    Value ks = launch.getWorkgroupAttributions()[0];
    Value vs = launch.getWorkgroupAttributions()[1];
    Value tid = launch.getThreadIds().x;
    Value g = launch.getBlockIds().y, batch = launch.getBlockIds().z;
    Value warp = e.div(tid, e.idx(32)), lane = e.rem(tid, e.idx(32));
    Value lg = e.div(lane, e.idx(4)), lt = e.rem(lane, e.idx(4));
    Value row0 = e.mul(launch.getBlockIds().x, e.idx(tileRows));
    Value warpRow = e.add(e.add(row0, e.mul(warp, e.idx(16))), lg);

    // This lane's two rows (g and g + 8 of the warp's 16): position i and
    // query head of each, clamped inside for loads.
    LaneRows lr = laneRows(e, warpRow, rows, r, g);
    Value *pos = lr.pos, *head = lr.head;
    VectorType pairT = e.pair(element), pairF = e.pair(f32);
    auto loadPair = [&](Value memref, ValueRange indices) {
      return vector::LoadOp::create(rewriter, loc, pairT, memref, indices,
                                    /*nontemporal=*/false, llvm::MaybeAlign(4));
    };
    // Q fragments, one per 16 columns of d (rows past L r read row L r - 1;
    // their results are never stored).
    SmallVector<Value> qFrags;
    for (int64_t c = 0; c < d / 16; ++c) {
      SmallVector<Value> parts;
      for (int64_t kk = 0; kk < 2; ++kk)
        for (int64_t hh = 0; hh < 2; ++hh) {
          Value col = e.add(e.mul(lt, e.idx(2)), e.idx(16 * c + 8 * kk));
          parts.push_back(loadPair(q, {batch, pos[hh], head[hh], col}));
        }
      qFrags.push_back(e.fragmentOf(parts));
    }

    // Keys this block visits: up to its last row's position when causal.
    KeyTiles visited = keyTiles(e, row0, tileRows, rows, r, S, causal, keys);
    Value firstPos = visited.firstPos, numTiles = visited.count;

    // Copies K/V tile `kv0` into `stage`, reading keys below `limit` (zeros
    // for the others).
    auto copyTile = [&](OpBuilder &b, Location l, Value stage, Value kv0,
                        Value limit) {
      MmaEmitter x{{b, l}, element};
      SmallVector<Value> tokens;
      auto copy = [&](Value global, Value shared, int64_t width) {
        int64_t perRow = width / kChunkElements;
        for (int64_t it = 0; it < keys * perRow / threads; ++it) {
          Value chunk = x.add(tid, x.idx(it * threads));
          Value key = x.div(chunk, x.idx(perRow));
          Value col = x.mul(x.rem(chunk, x.idx(perRow)), x.idx(kChunkElements));
          Value at = x.add(kv0, key);
          Value inside = x.lt(at, limit);
          Value source = x.select(inside, at, x.idx(0));
          Value count = x.select(inside, x.idx(kChunkElements), x.idx(0));
          tokens.push_back(x.copy16(shared, {stage, key, col}, global,
                                    {batch, source, g, col}, count));
        }
      };
      copy(k, ks, d);
      copy(v, vs, dv);
      return x.commit(tokens);
    };
    Value first = copyTile(rewriter, loc, e.idx(0), e.idx(0), S);

    double log2e = 1.0 / std::log(2.0);
    double scaleLog2 = op.getScale().convertToDouble() * log2e;
    double negInf = -std::numeric_limits<double>::infinity();
    VectorType accT = e.fragC();
    int64_t oTiles = dv / 8, sTiles = keys / 8;
    SmallVector<Value> init = {
        arith::ConstantOp::create(rewriter, loc, pairF,
                                  DenseElementsAttr::get(pairF, float(negInf))),
        e.zeros(pairF)};
    for (int64_t c = 0; c < oTiles; ++c)
      init.push_back(e.zeros(accT));

    auto loop = scf::ForOp::create(
        rewriter, loc, e.idx(0), numTiles, e.idx(1), init,
        [&](OpBuilder &b, Location l, Value j, ValueRange state) {
          MmaEmitter x{{b, l}, element};
          Value stage = x.rem(j, x.idx(2));
          Value next = x.add(j, x.idx(1));
          // Prefetch the next tile into the other stage (no reads past the
          // last tile), then wait for this one.
          Value limit = x.select(x.lt(next, numTiles), S, x.idx(0));
          Value group = copyTile(b, l, x.rem(next, x.idx(2)),
                                 x.mul(next, x.idx(keys)), limit);
          x.wait(group, 1);
          gpu::BarrierOp::create(b, l);
          Value kv0 = x.mul(j, x.idx(keys));

          // S = Q K^T: keys in pairs of 8-key tiles per ldmatrix.x4.
          SmallVector<Value> s(sTiles, x.zeros(accT));
          Value kRow = x.add(x.rem(lane, x.idx(8)),
                             x.mul(x.div(lane, x.idx(16)), x.idx(8)));
          Value kCol = x.mul(x.rem(x.div(lane, x.idx(8)), x.idx(2)), x.idx(8));
          for (int64_t c = 0; c < d / 16; ++c)
            for (int64_t np = 0; np < sTiles / 2; ++np) {
              Value frag = x.ldmatrix(ks,
                                      {stage, x.add(kRow, x.idx(16 * np)),
                                       x.add(kCol, x.idx(16 * c))},
                                      /*transpose=*/false);
              s[2 * np] = x.mma(qFrags[c], x.halfOf(frag, 0), s[2 * np]);
              s[2 * np + 1] =
                  x.mma(qFrags[c], x.halfOf(frag, 2), s[2 * np + 1]);
            }
          Value scale = arith::ConstantOp::create(
              b, l, accT, DenseElementsAttr::get(accT, float(scaleLog2)));
          for (Value &tile : s)
            tile = arith::MulFOp::create(b, l, tile, scale);

          // Masks only where the tile crosses the end of S or the diagonal.
          Value tileEnd = x.add(kv0, x.idx(keys));
          Value needsMask = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ugt, tileEnd, S);
          if (causal)
            needsMask = arith::OrIOp::create(
                b, l, needsMask,
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, tileEnd,
                                      x.add(firstPos, x.idx(1))));
          SmallVector<Type> sTypes(sTiles, accT);
          auto masked = scf::IfOp::create(b, l, sTypes, needsMask,
                                          /*withElseRegion=*/true);
          {
            OpBuilder::InsertionGuard g2(b);
            b.setInsertionPointToStart(masked.thenBlock());
            MmaEmitter y{{b, l}, element};
            Value minusInf = y.f32(negInf);
            SmallVector<Value> out;
            for (int64_t nt = 0; nt < sTiles; ++nt) {
              Value tile = s[nt];
              for (int64_t hh = 0; hh < 2; ++hh)
                for (int64_t el = 0; el < 2; ++el) {
                  Value key = y.add(y.add(kv0, y.mul(lt, y.idx(2))),
                                    y.idx(8 * nt + el));
                  Value allowed = y.lt(key, S);
                  if (causal)
                    allowed = y.andI(allowed, y.le(key, pos[hh]));
                  SmallVector<int64_t, 2> at = {hh, el};
                  Value score = vector::ExtractOp::create(b, l, tile, at);
                  tile = vector::InsertOp::create(
                      b, l, y.select(allowed, score, minusInf), tile, at);
                }
              out.push_back(tile);
            }
            scf::YieldOp::create(b, l, out);
            b.setInsertionPointToStart(masked.elseBlock());
            scf::YieldOp::create(b, l, s);
          }

          // Online softmax per row (hh): the row maximum over the four
          // lanes, rescaling of the running sum and of O.
          SmallVector<Value> o(state.begin() + 2, state.end());
          Value mOld = state[0], lOld = state[1];
          Value mNew = mOld, lNew = lOld;
          SmallVector<SmallVector<Value>> p(sTiles);
          for (int64_t hh = 0; hh < 2; ++hh) {
            Value best = x.f32(negInf);
            for (int64_t nt = 0; nt < sTiles; ++nt)
              best = arith::MaximumFOp::create(
                  b, l, best,
                  vector::ReductionOp::create(b, l,
                                              vector::CombiningKind::MAXIMUMF,
                                              x.row(masked.getResult(nt), hh)));
            best = x.acrossRow<arith::MaximumFOp>(best);
            Value mPrev = vector::ExtractOp::create(b, l, mOld, hh);
            Value m = arith::MaximumFOp::create(b, l, mPrev, best);
            // A row with no finite score yet keeps m = -inf and sums 0.
            Value none = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                               m, x.f32(negInf));
            Value base = x.select(none, x.f32(0.0), m);
            Value alpha = math::Exp2Op::create(
                b, l, arith::SubFOp::create(b, l, mPrev, base));
            Value baseV = vector::BroadcastOp::create(b, l, pairF, base);
            Value sum = x.f32(0.0);
            for (int64_t nt = 0; nt < sTiles; ++nt) {
              Value pr = math::Exp2Op::create(
                  b, l,
                  arith::SubFOp::create(b, l, x.row(masked.getResult(nt), hh),
                                        baseV));
              p[nt].push_back(pr);
              sum = arith::AddFOp::create(
                  b, l, sum,
                  vector::ReductionOp::create(b, l, vector::CombiningKind::ADD,
                                              pr));
            }
            Value lPrev = vector::ExtractOp::create(b, l, lOld, hh);
            Value lRow = arith::AddFOp::create(
                b, l, arith::MulFOp::create(b, l, lPrev, alpha), sum);
            mNew = vector::InsertOp::create(b, l, m, mNew, hh);
            lNew = vector::InsertOp::create(b, l, lRow, lNew, hh);
            Value alphaV = vector::BroadcastOp::create(b, l, pairF, alpha);
            for (Value &tile : o)
              tile = vector::InsertOp::create(
                  b, l, arith::MulFOp::create(b, l, x.row(tile, hh), alphaV),
                  tile, hh);
          }

          // O += P V: P as A fragments (16 keys each), V through
          // ldmatrix.trans, two 8-column tiles per load.
          Value vRow =
              x.add(x.rem(lane, x.idx(8)),
                    x.mul(x.rem(x.div(lane, x.idx(8)), x.idx(2)), x.idx(8)));
          Value vCol = x.mul(x.div(lane, x.idx(16)), x.idx(8));
          auto narrow = [&](Value pr) {
            return arith::TruncFOp::create(b, l, pairT, pr);
          };
          for (int64_t kk = 0; kk < keys / 16; ++kk) {
            Value a = x.fragmentOf({narrow(p[2 * kk][0]), narrow(p[2 * kk][1]),
                                    narrow(p[2 * kk + 1][0]),
                                    narrow(p[2 * kk + 1][1])});
            for (int64_t cp = 0; cp < oTiles / 2; ++cp) {
              Value frag = x.ldmatrix(vs,
                                      {stage, x.add(vRow, x.idx(16 * kk)),
                                       x.add(vCol, x.idx(16 * cp))},
                                      /*transpose=*/true);
              o[2 * cp] = x.mma(a, x.halfOf(frag, 0), o[2 * cp]);
              o[2 * cp + 1] = x.mma(a, x.halfOf(frag, 2), o[2 * cp + 1]);
            }
          }
          // Every warp is done with this stage before it is refilled.
          gpu::BarrierOp::create(b, l);
          SmallVector<Value> yielded = {mNew, lNew};
          yielded.append(o.begin(), o.end());
          scf::YieldOp::create(b, l, yielded);
        });
    // No copy is left in flight when the kernel ends (a wait for 0 pending
    // groups waits for all of them, whichever group's token it names).
    e.wait(first, 0);

    // O / l, the row sums completed over the four lanes of each row; a
    // fully masked row is zeros. Row hh of O's c-th 8-column accumulator.
    storeNormalisedRows(e, loop.getResult(1), lr, lt, oTiles, out, batch,
                        [&](OpBuilder &b, int64_t hh, int64_t c) -> Value {
                          return vector::ExtractOp::create(
                              b, loc, loop.getResult(2 + c), hh);
                        });
    replaceByKernelResult(rewriter, op, launch, out);
    return success();
  }
};
} // namespace

void kha::populateSDPAToMmaPatterns(RewritePatternSet &patterns,
                                    const KernelTarget &target) {
  patterns.add<SDPAToMmaKernel>(patterns.getContext(), target);
}
