//===- SDPAToGPU.cpp - kha.sdpa as one fused attention kernel -------------===//
//
// One thread block per (batch, key/value head, tile of query rows). The block
// handles the tile's rows for all r = H/G query heads that read this
// key/value head, so each K/V tile is loaded into shared memory once for the
// whole group. Every (query head, row) is owned by Td consecutive lanes, each
// holding d/Td of the query and of the output accumulator in registers; a
// score is a partial dot product reduced with Td-wide xor shuffles. The
// softmax is online (running max m and sum l, the accumulator rescaled by
// exp(m_old - m_new)), so the L x S scores never exist in memory. With
// `causal`, key tiles past the tile's last query row are never visited.
//
// Decoding (`bottom_right`: the queries are the newest L of S keys) splits
// the keys as well (flash-decoding): with few query rows the grid of
// (row tiles, G, B) blocks would leave most of the chip idle, so each block
// takes one of `splits` ranges of keys, chosen at run time from L, G, B and
// S, and writes its rows' running max, sum and unnormalised output; a second
// kernel combines the ranges (rescaling each by exp(m_s - max_s m_s)).
//
// This is the SIMT kernel (CUDA cores), for any shape and element type; an
// op under a tensor-core `#kha.gpu_kernel` becomes the kernel of
// SDPAToMMA.cpp instead.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "GPUKernels/KernelConfig.h"
#include "GPUKernels/KernelEmitter.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <limits>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHASDPATOGPUPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
/// The kernel's shape, fixed at compile time from d, dv and r.
struct AttentionTiling {
  int64_t lanes;   ///< Td: lanes per (head, row); divides d, dv and 32
  int64_t rows;    ///< query rows per block
  int64_t keys;    ///< keys per shared-memory tile
  int64_t threads; ///< lanes * r * rows

  /// `lanes`/`rows` of 0 choose them; a given `lanes` must divide d, dv
  /// and 32.
  /// `wide` (decoding: few query rows) prefers up to 32 lanes per row, so
  /// that a block's threads are busy even with one row.
  static std::optional<AttentionTiling> choose(int64_t d, int64_t dv, int64_t r,
                                               int64_t lanes, int64_t rows,
                                               bool wide) {
    AttentionTiling t;
    t.lanes = 1;
    if (lanes > 0) {
      if (d % lanes || dv % lanes || 32 % lanes)
        return std::nullopt;
      t.lanes = lanes;
    } else if (wide) {
      for (int64_t candidate : {32, 16, 8, 4, 2})
        if (d % candidate == 0 && dv % candidate == 0) {
          t.lanes = candidate;
          break;
        }
    } else {
      for (int64_t candidate : {4, 2})
        if (d % candidate == 0 && dv % candidate == 0) {
          t.lanes = candidate;
          break;
        }
    }
    // 128 threads when the group allows, more (up to 1024) for wide groups.
    t.rows = rows > 0 ? rows : std::max<int64_t>(1, 128 / (t.lanes * r));
    t.threads = t.lanes * r * t.rows;
    if (t.threads > 1024)
      return std::nullopt;
    // K and V tiles in f32 within 40 KiB of static shared memory.
    int64_t keys = 40 * 1024 / (4 * (d + dv));
    if (keys < 1)
      return std::nullopt;
    t.keys = 1;
    while (t.keys * 2 <= std::min<int64_t>(keys, 64))
      t.keys *= 2;
    return t;
  }
};

/// Flash-decoding: blocks to aim for (a few per SM on the chips kha
/// targets) and the fewest keys one split takes.
constexpr int64_t kTargetBlocks = 512;
constexpr int64_t kMinKeysPerSplit = 64;

/// `tensor` as a read-only buffer of any strides: a decoding step reads the
/// used rows of a cache in place, without a copy.
Value stridedReadOnlyBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType(), layout),
      tensor, /*readOnly=*/true);
}

/// The kernel that combines the key splits' partial results of every
/// (batch, row, query head): one block per (row, head, batch), one thread
/// per output column.
void combineSplits(Emitter &e, Value splits, Value mPart, Value lPart,
                   Value oPart, Value out, Value B, Value L, int64_t H,
                   int64_t dv) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto launch = gpu::LaunchOp::create(b, loc, L, e.idx(H), B, e.idx(dv),
                                      e.idx(1), e.idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value c = launch.getThreadIds().x, i = launch.getBlockIds().x,
        h = launch.getBlockIds().y, batch = launch.getBlockIds().z;
  Value negInf = e.f32(-std::numeric_limits<double>::infinity());
  Value zero = e.f32(0.0);
  auto maxLoop = scf::ForOp::create(
      b, loc, e.idx(0), splits, e.idx(1), ValueRange{negInf},
      [&](OpBuilder &bb, Location l, Value s, ValueRange st) {
        Emitter x{bb, l};
        Value m = x.loadF32(mPart, {s, batch, i, h});
        scf::YieldOp::create(
            bb, l, ValueRange{arith::MaximumFOp::create(bb, l, st[0], m)});
      });
  Value most = maxLoop.getResult(0);
  Value none =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, most, negInf);
  Value base = e.select(none, zero, most);
  auto sumLoop = scf::ForOp::create(
      b, loc, e.idx(0), splits, e.idx(1), ValueRange{zero, zero},
      [&](OpBuilder &bb, Location l, Value s, ValueRange st) {
        Emitter x{bb, l};
        Value weight = math::ExpOp::create(
            bb, l,
            arith::SubFOp::create(bb, l, x.loadF32(mPart, {s, batch, i, h}),
                                  base));
        Value sum = arith::AddFOp::create(
            bb, l, st[0],
            arith::MulFOp::create(bb, l, x.loadF32(lPart, {s, batch, i, h}),
                                  weight));
        Value acc = arith::AddFOp::create(
            bb, l, st[1],
            arith::MulFOp::create(bb, l, x.loadF32(oPart, {s, batch, i, h, c}),
                                  weight));
        scf::YieldOp::create(bb, l, ValueRange{sum, acc});
      });
  Value sum = sumLoop.getResult(0), acc = sumLoop.getResult(1);
  Value empty =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum, zero);
  Value y = e.select(empty, zero, arith::DivFOp::create(b, loc, acc, sum));
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (!outElement.isF32())
    y = arith::TruncFOp::create(b, loc, outElement, y);
  memref::StoreOp::create(b, loc, y, out, ValueRange{batch, i, h, c});
  gpu::TerminatorOp::create(b, loc);
}

struct SDPAToKernel : OpRewritePattern<SDPAOp> {
  SDPAToKernel(MLIRContext *context, const KernelTarget &target, int64_t lanes,
               int64_t rows)
      : OpRewritePattern(context), target(target), lanes(lanes), rows(rows) {}
  KernelTarget target;
  int64_t lanes, rows;

  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    if (kernelFor(op, target).isTensorCore())
      return rewriter.notifyMatchFailure(op, "a tensor-core kernel");
    if (op.getQueryOffset())
      return rewriter.notifyMatchFailure(
          op, "a tile of rows placed by a query offset (decomposed instead)");
    auto qType = op.getQuery().getType(), kType = op.getKey().getType(),
         vType = op.getValue().getType();
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t H = qType.getDimSize(2), G = kType.getDimSize(2),
            d = qType.getDimSize(3), dv = vType.getDimSize(3);
    if (ShapedType::isDynamic(H) || ShapedType::isDynamic(G) ||
        ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
      return rewriter.notifyMatchFailure(
          op, "head counts and sizes must be static");
    if (H <= 0 || G <= 0 || d <= 0 || dv <= 0 || H % G != 0)
      return rewriter.notifyMatchFailure(op, "empty heads or G not dividing H");
    int64_t r = H / G;
    // Decoding: the causal mask aligned bottom right, the keys split.
    bool splitKeys = op.getBottomRight();
    std::optional<AttentionTiling> tiling =
        AttentionTiling::choose(d, dv, r, lanes, rows, /*wide=*/splitKeys);
    if (!tiling)
      return rewriter.notifyMatchFailure(op, "no kernel shape fits");
    AttentionTiling t = *tiling;
    Location loc = op.getLoc();
    Emitter e{rewriter, loc};

    if (splitKeys && dv > 1024)
      return rewriter.notifyMatchFailure(op,
                                         "dv > 1024 for the combine kernel");

    // The operands as (read-only) buffers, the result as a new buffer.
    auto asBuffer = [&](Value tensor) {
      return splitKeys ? stridedReadOnlyBuffer(rewriter, loc, tensor)
                       : readOnlyBuffer(rewriter, loc, tensor);
    };
    AttentionBuffers buffers =
        attentionBuffers(rewriter, loc, op.getQuery(), op.getKey(),
                         op.getValue(), outType, asBuffer);
    Value q = buffers.q, k = buffers.k, v = buffers.v, out = buffers.out;
    Value B = buffers.B, L = buffers.L, S = buffers.S;
    Value mask = op.getMask() ? asBuffer(op.getMask()) : Value();

    auto f32 = rewriter.getF32Type();
    auto kTile = sharedMemRefType({t.keys, d}, f32);
    auto vTile = sharedMemRefType({t.keys, dv}, f32);
    Value rowTiles = e.ceilDiv(L, t.rows);
    Value gridX = rowTiles;
    // Flash-decoding: `splits` ranges of `chunk` keys (a multiple of the
    // tile), enough blocks to fill the chip, at least kMinKeysPerSplit keys
    // each; partial results in f32 buffers [splits, B, L, H(, dv)].
    Value splits, chunk, mPart, lPart, oPart;
    if (splitKeys) {
      Value blocks = arith::MaxUIOp::create(
          rewriter, loc, e.mul(e.mul(rowTiles, e.idx(G)), B), e.idx(1));
      Value wanted = arith::CeilDivUIOp::create(rewriter, loc,
                                                e.idx(kTargetBlocks), blocks);
      Value most = arith::MaxUIOp::create(
          rewriter, loc, e.ceilDiv(S, kMinKeysPerSplit), e.idx(1));
      splits = e.min(wanted, most);
      chunk =
          e.mul(e.ceilDiv(arith::CeilDivUIOp::create(rewriter, loc, S, splits),
                          t.keys),
                e.idx(t.keys));
      gridX = e.mul(rowTiles, splits);
      auto partType = [&](ArrayRef<int64_t> shape) {
        return MemRefType::get(shape, f32);
      };
      int64_t dyn = ShapedType::kDynamic;
      mPart =
          memref::AllocOp::create(rewriter, loc, partType({dyn, dyn, dyn, H}),
                                  ValueRange{splits, B, L});
      lPart =
          memref::AllocOp::create(rewriter, loc, partType({dyn, dyn, dyn, H}),
                                  ValueRange{splits, B, L});
      oPart = memref::AllocOp::create(rewriter, loc,
                                      partType({dyn, dyn, dyn, H, dv}),
                                      ValueRange{splits, B, L});
    }
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, gridX, e.idx(G), B, e.idx(t.threads), e.idx(1), e.idx(1),
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/ValueRange(), TypeRange{kTile, vTile});

    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(&launch.getBody().front());
    Value ks = launch.getWorkgroupAttributions()[0];
    Value vs = launch.getWorkgroupAttributions()[1];
    Value tid = launch.getThreadIds().x;
    Value tile = launch.getBlockIds().x, g = launch.getBlockIds().y,
          batch = launch.getBlockIds().z, split;
    if (splitKeys) {
      split = e.rem(tile, splits);
      tile = e.div(tile, splits);
    }
    int64_t cq = d / t.lanes, cv = dv / t.lanes;

    // This thread: column slice `lane`, query head h = g*r + j, row i.
    Value lane = e.rem(tid, e.idx(t.lanes));
    Value group = e.div(tid, e.idx(t.lanes));
    Value j = e.rem(group, e.idx(r));
    Value row = e.div(group, e.idx(r));
    Value h = e.add(e.mul(g, e.idx(r)), j);
    Value tileStart = e.mul(tile, e.idx(t.rows));
    Value i = e.add(tileStart, row);
    Value valid = e.lt(i, L);
    Value iSafe = e.min(i, arith::SubIOp::create(rewriter, loc, L, e.idx(1)));

    // The query slice in registers (zeros for rows past L).
    auto qVecType = VectorType::get({cq}, f32);
    Value qVec = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(qVecType, 0.0f));
    Value qCol0 = e.mul(lane, e.idx(cq));
    for (int64_t c = 0; c < cq; ++c) {
      Value x = e.loadF32(q, {batch, iSafe, h, e.add(qCol0, e.idx(c))});
      qVec = vector::InsertOp::create(rewriter, loc, x, qVec, c);
    }
    Value zeroQ = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(qVecType, 0.0f));
    qVec = arith::SelectOp::create(rewriter, loc, valid, qVec, zeroQ);

    // Key tiles up to the last row of this query tile when causal (aligned
    // bottom right: its position tileStart + rows - 1 + S - L, clamped at 0).
    Value kvEnd = S;
    if (op.getCausal()) {
      Value end = e.add(tileStart, e.idx(t.rows));
      if (op.getBottomRight()) {
        Value shifted = e.add(end, S);
        end = e.select(e.lt(L, shifted), e.sub(shifted, L), e.idx(0));
      }
      kvEnd = e.min(S, end);
    }
    // This block's range of keys.
    Value kvBegin = e.idx(0);
    if (splitKeys) {
      kvBegin = e.mul(split, chunk);
      kvEnd = e.min(kvEnd, e.add(kvBegin, chunk));
    }
    auto oVecType = VectorType::get({cv}, f32);
    Value negInf = e.f32(-std::numeric_limits<double>::infinity());
    Value zero = e.f32(0.0);
    Value oInit = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(oVecType, 0.0f));
    auto tiles = scf::ForOp::create(
        rewriter, loc, kvBegin, kvEnd, e.idx(t.keys),
        ValueRange{negInf, zero, oInit},
        [&](OpBuilder &b, Location l, Value kv0, ValueRange state) {
          Emitter x{b, l};
          // Cooperative load of the K and V tiles (zeros past S).
          auto loadTile = [&](Value global, Value shared, int64_t width) {
            scf::ForOp::create(
                b, l, tid, x.idx(t.keys * width), x.idx(t.threads),
                ValueRange{},
                [&](OpBuilder &bb, Location ll, Value idx, ValueRange) {
                  Emitter y{bb, ll};
                  Value kk = y.div(idx, y.idx(width));
                  Value col = y.rem(idx, y.idx(width));
                  Value key = y.add(kv0, kk);
                  Value inside = y.lt(key, S);
                  auto branch = scf::IfOp::create(
                      bb, ll, TypeRange{bb.getF32Type()}, inside,
                      /*withElseRegion=*/true);
                  {
                    OpBuilder::InsertionGuard g2(bb);
                    bb.setInsertionPointToStart(branch.thenBlock());
                    Emitter z{bb, ll};
                    scf::YieldOp::create(
                        bb, ll, z.loadF32(global, {batch, key, g, col}));
                    bb.setInsertionPointToStart(branch.elseBlock());
                    scf::YieldOp::create(bb, ll, z.f32(0.0));
                  }
                  memref::StoreOp::create(bb, ll, branch.getResult(0), shared,
                                          ValueRange{kk, col});
                  scf::YieldOp::create(bb, ll);
                });
          };
          loadTile(k, ks, d);
          loadTile(v, vs, dv);
          gpu::BarrierOp::create(b, l);

          auto keysLoop = scf::ForOp::create(
              b, l, x.idx(0), x.idx(t.keys), x.idx(1), state,
              [&](OpBuilder &bb, Location ll, Value kk, ValueRange st) {
                Emitter y{bb, ll};
                Value key = y.add(kv0, kk);
                // s = q . k over this lane's slice, then over the lanes.
                Value kVec = vector::LoadOp::create(bb, ll, qVecType, ks,
                                                    ValueRange{kk, qCol0});
                Value prod = arith::MulFOp::create(bb, ll, qVec, kVec);
                Value s = vector::ReductionOp::create(
                    bb, ll, vector::CombiningKind::ADD, prod);
                for (int64_t offset = 1; offset < t.lanes; offset *= 2) {
                  Value other =
                      gpu::ShuffleOp::create(bb, ll, s, offset, /*width=*/32,
                                             gpu::ShuffleMode::XOR)
                          .getShuffleResult();
                  s = arith::AddFOp::create(bb, ll, s, other);
                }
                s = arith::MulFOp::create(
                    bb, ll, s, y.f32(op.getScale().convertToDouble()));
                if (mask) {
                  Value keySafe =
                      y.min(key, arith::SubIOp::create(bb, ll, S, y.idx(1)));
                  auto maskType = cast<MemRefType>(mask.getType());
                  SmallVector<Value> at =
                      maskType.getRank() == 2
                          ? SmallVector<Value>{iSafe, keySafe}
                          : SmallVector<Value>{batch, h, iSafe, keySafe};
                  // Size-1 dimensions are shared (broadcast).
                  if (maskType.getRank() == 4)
                    for (int64_t d = 0; d < 3; ++d)
                      if (maskType.getDimSize(d) == 1)
                        at[d] = y.idx(0);
                  s = arith::AddFOp::create(bb, ll, s, y.loadF32(mask, at));
                }
                // A split's last tile may reach into the next split.
                Value allowed = y.lt(key, splitKeys ? kvEnd : S);
                if (op.getCausal()) {
                  Value visible =
                      op.getBottomRight()
                          ? y.le(y.add(key, L), y.add(i, S)) // key <= i+S-L
                          : y.le(key, i);
                  allowed = arith::AndIOp::create(bb, ll, allowed, visible);
                }
                s = arith::SelectOp::create(bb, ll, allowed, s, negInf);

                // Online softmax; a row with no finite score yet keeps
                // m = -inf, l = 0, o = 0.
                Value m = st[0], sum = st[1], o = st[2];
                Value mNew = arith::MaximumFOp::create(bb, ll, m, s);
                Value none = arith::CmpFOp::create(
                    bb, ll, arith::CmpFPredicate::OEQ, mNew, negInf);
                Value base = arith::SelectOp::create(bb, ll, none, zero, mNew);
                Value p = math::ExpOp::create(
                    bb, ll, arith::SubFOp::create(bb, ll, s, base));
                Value alpha = math::ExpOp::create(
                    bb, ll, arith::SubFOp::create(bb, ll, m, base));
                Value sumNew = arith::AddFOp::create(
                    bb, ll, arith::MulFOp::create(bb, ll, sum, alpha), p);
                Value vVec = vector::LoadOp::create(
                    bb, ll, oVecType, vs,
                    ValueRange{kk, y.mul(lane, y.idx(cv))});
                Value alphaV =
                    vector::BroadcastOp::create(bb, ll, oVecType, alpha);
                Value pV = vector::BroadcastOp::create(bb, ll, oVecType, p);
                Value oNew = vector::FMAOp::create(
                    bb, ll, pV, vVec, arith::MulFOp::create(bb, ll, o, alphaV));
                scf::YieldOp::create(bb, ll, ValueRange{mNew, sumNew, oNew});
              });
          gpu::BarrierOp::create(b, l);
          scf::YieldOp::create(b, l, keysLoop.getResults());
        });

    Value sum = tiles.getResult(1), o = tiles.getResult(2);
    if (splitKeys) {
      // The split's m, l and unnormalised o, for the combining kernel.
      auto store = scf::IfOp::create(rewriter, loc, valid, /*withElse=*/false);
      rewriter.setInsertionPointToStart(store.thenBlock());
      Value vCol0 = e.mul(lane, e.idx(cv));
      for (int64_t c = 0; c < cv; ++c)
        memref::StoreOp::create(
            rewriter, loc, vector::ExtractOp::create(rewriter, loc, o, c),
            oPart, ValueRange{split, batch, i, h, e.add(vCol0, e.idx(c))});
      auto first = scf::IfOp::create(
          rewriter, loc,
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, lane,
                                e.idx(0)),
          /*withElse=*/false);
      rewriter.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(rewriter, loc, tiles.getResult(0), mPart,
                              ValueRange{split, batch, i, h});
      memref::StoreOp::create(rewriter, loc, sum, lPart,
                              ValueRange{split, batch, i, h});
      rewriter.setInsertionPointToEnd(&launch.getBody().front());
      gpu::TerminatorOp::create(rewriter, loc);
      rewriter.setInsertionPointAfter(launch);
      combineSplits(e, splits, mPart, lPart, oPart, out, B, L, H, dv);
      rewriter.replaceOpWithNewOp<bufferization::ToTensorOp>(
          op, outType, out, /*restrict=*/true, /*writable=*/true);
      return success();
    }
    // o / l (zeros for a fully masked row), stored by rows inside L.
    Value empty = arith::CmpFOp::create(rewriter, loc,
                                        arith::CmpFPredicate::OEQ, sum, zero);
    Value inv = arith::SelectOp::create(
        rewriter, loc, empty, zero,
        arith::DivFOp::create(rewriter, loc, e.f32(1.0), sum));
    Value result = arith::MulFOp::create(
        rewriter, loc, o,
        vector::BroadcastOp::create(rewriter, loc, oVecType, inv));
    auto store = scf::IfOp::create(rewriter, loc, valid, /*withElse=*/false);
    rewriter.setInsertionPointToStart(store.thenBlock());
    Value vCol0 = e.mul(lane, e.idx(cv));
    Type outElement = outType.getElementType();
    for (int64_t c = 0; c < cv; ++c) {
      Value y = vector::ExtractOp::create(rewriter, loc, result, c);
      if (outElement != f32)
        y = arith::TruncFOp::create(rewriter, loc, outElement, y);
      memref::StoreOp::create(rewriter, loc, y, out,
                              ValueRange{batch, i, h, e.add(vCol0, e.idx(c))});
    }
    replaceByKernelResult(rewriter, op, launch, out);
    return success();
  }
};

struct SDPAToGPUPass : kha::impl::KHASDPAToGPUPassBase<SDPAToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    if (lanes < 0 || rows < 0) {
      getOperation()->emitError(
          "kha-sdpa-to-gpu: lanes and rows must not be negative");
      return signalPassFailure();
    }
    // A tensor-core configuration written on an op that does not fit it is
    // an error, not a silent fallback; a chosen fallback is a remark.
    KernelTarget target{chip, tensorCores};
    if (failed(diagnoseKernels(getOperation(), getArgument(),
                               /*attention=*/true, target, requireTensorCores)))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateSDPAToGPUPatterns(patterns, target, lanes, rows);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateSDPAToGPUPatterns(RewritePatternSet &patterns,
                                    const KernelTarget &target, int64_t lanes,
                                    int64_t rows) {
  patterns.add<SDPAToKernel>(patterns.getContext(), target, lanes, rows);
  populateSDPAToMmaPatterns(patterns, target);
  populateSDPAToWgmmaPatterns(patterns, target);
}
