//===- MmaEmitter.h - tensor-core fragments for kernels ---------*- C++ -*-===//
//
// Shared by the tensor-core kernel generators of KHAToGPU: warp-level
// `mma.sync.m16n8k16` (f16/bf16 operands, f32 accumulators), `ldmatrix`
// fragment loads and 16-byte `cp.async` copies, in the nvgpu dialect.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"), with
// lane = thread in the warp, g = lane / 4 and t = lane % 4:
//   A (16 x 16) vector<4x2xT>: rows (g, k 2t..2t+1), (g+8, same),
//       (g, k 8+2t..), (g+8, k 8+2t..);
//   B (16 x 8)  vector<2x2xT>: (k 2t..2t+1, n g), (k 8+2t.., n g);
//   C (16 x 8)  vector<2x2xf32>: (row g, cols 2t, 2t+1), (row g+8, same).
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_CONVERSION_KHATOGPU_MMAEMITTER_H
#define KHA_LIB_CONVERSION_KHATOGPU_MMAEMITTER_H

#include "KernelConfig.h"
#include "KernelEmitter.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir {
namespace kha {

/// Builds tensor-core fragment code.
struct MmaEmitter : Emitter {
  Type element; ///< f16 or bf16

  VectorType fragA() const { return VectorType::get({4, 2}, element); }
  VectorType fragB() const { return VectorType::get({2, 2}, element); }
  VectorType fragC() const { return VectorType::get({2, 2}, b.getF32Type()); }
  VectorType pair(Type type) const { return VectorType::get({2}, type); }

  Value zeros(VectorType type) {
    return arith::ConstantOp::create(b, loc, type, b.getZeroAttr(type));
  }
  /// `ldmatrix.x4` at this lane's row address `indices`.
  Value ldmatrix(Value shared, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(b, loc, fragA(), shared, indices,
                                     transpose, /*numTiles=*/4);
  }
  /// D = A B + C for one 16 x 8 x 16 step.
  Value mma(Value a, Value bFrag, Value c) {
    return nvgpu::MmaSyncOp::create(b, loc, a, bFrag, c,
                                    ArrayRef<int64_t>{16, 8, 16});
  }
  /// Rows `first` and `first + 1` of a vector<4x2xT> as a B fragment.
  Value halfOf(Value x4, int64_t first) {
    Value frag = zeros(fragB());
    for (int64_t i = 0; i < 2; ++i)
      frag = vector::InsertOp::create(
          b, loc, vector::ExtractOp::create(b, loc, x4, first + i), frag, i);
    return frag;
  }
  /// An A fragment from its four rows (each vector<2xT>).
  Value fragmentOf(ArrayRef<Value> rows) {
    Value frag = zeros(fragA());
    for (auto [i, row] : llvm::enumerate(rows))
      frag = vector::InsertOp::create(b, loc, row, frag, int64_t(i));
    return frag;
  }
  /// Row `i` of an accumulator (vector<2xf32>).
  Value row(Value acc, int64_t i) {
    return vector::ExtractOp::create(b, loc, acc, i);
  }
  /// `x` combined (by `combine`, arith.maximumf or arith.addf) over the
  /// four lanes of a fragment row, which hold its columns 2t, 2t + 1.
  template <typename CombineOp> Value acrossRow(Value x) {
    for (int64_t offset : {1, 2})
      x = CombineOp::create(
          b, loc, x,
          gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
              .getShuffleResult());
    return x;
  }
  /// 1 / (a fragment row's sum), the sum completed over the row's four
  /// lanes from this lane's `partial`; 0 for a row with no weight (fully
  /// masked), whose output is zeros.
  Value inverseRowSum(Value partial) {
    Value sum = acrossRow<arith::AddFOp>(partial);
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum, f32(0.0));
    return select(empty, f32(0.0),
                  arith::DivFOp::create(b, loc, f32(1.0), sum));
  }
  /// A 16-byte asynchronous copy global -> shared; `srcElements` (elements
  /// read, the rest zero-filled) may be null for a full copy.
  Value copy16(Value shared, ValueRange sharedIndices, Value global,
               ValueRange globalIndices, Value srcElements) {
    return nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), shared,
        sharedIndices, global, globalIndices, b.getIndexAttr(kChunkElements),
        srcElements, b.getUnitAttr());
  }
  /// Closes this thread's pending copies into a group.
  Value commit(ValueRange tokens) {
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }
  /// Waits until at most `pending` groups of this thread are in flight.
  void wait(Value group, int64_t pending) {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, group,
                                     b.getI32IntegerAttr(pending));
  }
};

/// The two rows of an attention accumulator fragment a lane holds (g and
/// g + 8 of its warp's 16), in a key/value head group's rows R = i * r + j
/// (query position i of the group's j-th head): whether each exists, and its
/// position and query head (clamped inside for loads).
struct LaneRows {
  Value valid[2], pos[2], head[2];
};
inline LaneRows laneRows(Emitter &e, Value warpRow, Value rows, int64_t r,
                         Value group) {
  LaneRows lr;
  Value lastRow = e.sub(rows, e.idx(1));
  for (int64_t hh = 0; hh < 2; ++hh) {
    Value R = e.add(warpRow, e.idx(8 * hh));
    lr.valid[hh] = e.lt(R, rows);
    Value clamped = e.min(R, lastRow);
    lr.pos[hh] = e.div(clamped, e.idx(r));
    lr.head[hh] = e.add(e.mul(group, e.idx(r)), e.rem(clamped, e.idx(r)));
  }
  return lr;
}

/// The epilogue of the tensor-core attention kernels: each of a lane's two
/// rows (`hh`) of O divided by its row sum (zeros for a fully masked row),
/// rounded to the emitter's element type and, where the row exists, stored
/// as pairs at columns 8 j + 2 t (t = `lt`, the lane's place in its quad)
/// of `out[batch, pos, head, :]`. `rowSums` holds the lane's partial sums
/// of its two rows (vector<2xf32>); `pairOf(b, hh, j)` builds row hh's f32
/// pair of the j-th of `groups` 8-column groups of O.
inline void
storeNormalisedRows(MmaEmitter &e, Value rowSums, const LaneRows &lr, Value lt,
                    int64_t groups, Value out, Value batch,
                    function_ref<Value(OpBuilder &, int64_t, int64_t)> pairOf) {
  Location loc = e.loc;
  VectorType pairF = e.pair(e.b.getF32Type()), pairT = e.pair(e.element);
  for (int64_t hh = 0; hh < 2; ++hh) {
    Value inv =
        e.inverseRowSum(vector::ExtractOp::create(e.b, loc, rowSums, hh));
    Value invV = vector::BroadcastOp::create(e.b, loc, pairF, inv);
    auto store = scf::IfOp::create(e.b, loc, lr.valid[hh], false);
    OpBuilder sb = OpBuilder::atBlockBegin(store.thenBlock());
    Emitter x{sb, loc};
    for (int64_t j = 0; j < groups; ++j) {
      Value y = arith::MulFOp::create(sb, loc, pairOf(sb, hh, j), invV);
      y = arith::TruncFOp::create(sb, loc, pairT, y);
      Value col = x.add(x.mul(lt, x.idx(2)), x.idx(8 * j));
      vector::StoreOp::create(sb, loc, y, out,
                              ValueRange{batch, lr.pos[hh], lr.head[hh], col},
                              /*nontemporal=*/false, llvm::MaybeAlign(4));
    }
  }
}

/// The keys a block of attention rows row0 .. row0 + tileRows visits: all S,
/// or when causal up to its last row's position; in tiles of `keys`.
struct KeyTiles {
  Value firstPos; ///< the position of the block's first row
  Value count;    ///< the K/V tiles to visit
};
inline KeyTiles keyTiles(Emitter &e, Value row0, int64_t tileRows, Value rows,
                         int64_t r, Value S, bool causal, int64_t keys) {
  Value blockLast = e.sub(e.min(e.add(row0, e.idx(tileRows)), rows), e.idx(1));
  Value kvEnd =
      causal ? e.min(S, e.add(e.div(blockLast, e.idx(r)), e.idx(1))) : S;
  return {e.div(row0, e.idx(r)), e.ceilDiv(kvEnd, keys)};
}

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_CONVERSION_KHATOGPU_MMAEMITTER_H
