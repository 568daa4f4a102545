//===- DecomposeSDPA.cpp - kha.sdpa as an online softmax in linalg --------===//
//
// Query heads are grouped by the key/value head they read, so that each
// group is one batched matmul against its keys and values (GQA without
// copying K or V per query head):
//
//   Q [B, L, G*r, d] -> [N = B*G, R = r*L, d]
//
// The keys are visited in blocks [j0, j0 + n), carrying the online softmax's
// row maximum m, row sum l and unnormalised output acc:
//
//   s   = Q K_block^T                         [N, R, n]  (batch_matmul)
//   m'  = max(m, max_j(s * scale + mask))
//   p   = exp(s * scale + mask - m'),  c = exp(m - m')
//   l'  = l c + sum_j p,               acc' = acc c + p V_block
//
// and out = acc / l, rounded to the element type once and written into the
// op's destination [B, L, H, dv]. A row that sees no key (all -inf) gives
// zeros, not NaN. Everything is computed in f32.
//
// With `transposeScores` (and static query rows, at least 16 of them) the
// scores are computed key-major, s^T = K_block Q^T [N, n, R]: the query
// rows are transposed once per op instead of each key block once per
// block, the keys are read as they lie, and the row maximum and sum reduce
// across rows of s^T, along the vectors rather than within them. The value
// block then multiplies p as p^T's transpose (a batch_matmul whose first
// operand is indexed (b, k, m)).
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <limits>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHADECOMPOSESDPAPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
constexpr utils::IteratorType kPar = utils::IteratorType::parallel;
constexpr utils::IteratorType kRed = utils::IteratorType::reduction;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// With fewer grouped query rows than this, a key block is multiplied as it
/// lies (rows of d) rather than transposed first: decoding reads each key
/// once, and a transposed copy would cost more than the product.
constexpr int64_t kMinRowsToTransposeKeys = 16;

/// Groups of `rank` dimensions, one per dimension for which `isKept` holds
/// (at least one must), each with the dimensions not kept before it; those
/// after the last kept one join the last group.
SmallVector<ReassociationIndices>
groupAround(int64_t rank, function_ref<bool(int64_t)> isKept) {
  SmallVector<ReassociationIndices> result(1);
  for (int64_t i = 0; i < rank; ++i) {
    result.back().push_back(i);
    if (isKept(i))
      result.emplace_back();
  }
  ReassociationIndices rest = result.pop_back_val();
  llvm::append_range(result.back(), rest);
  return result;
}

/// `value` permuted by `perm` and merged by `collapse` (empty: none), as a
/// reshape when the permutation moves only dimensions of size 1 and each
/// merged group holds at most one other: the same elements in the same
/// order, a view rather than a copy. Null otherwise. This is the case of a
/// tile of one key/value head (G = 1) and one batch.
Value reshapeInsteadOfTranspose(OpBuilder &b, Location loc, Value value,
                                ArrayRef<int64_t> perm,
                                ArrayRef<ReassociationIndices> collapse) {
  auto type = cast<RankedTensorType>(value.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t previous = -1;
  for (int64_t p : perm) {
    if (shape[p] == 1)
      continue;
    if (p < previous)
      return Value();
    previous = p;
  }
  SmallVector<ReassociationIndices> groups(collapse.begin(), collapse.end());
  if (groups.empty())
    for (int64_t i = 0, e = perm.size(); i < e; ++i)
      groups.push_back({i});
  // Each target dimension: the source dimension other than 1 it holds, if
  // any.
  SmallVector<int64_t> targetShape, held;
  for (const ReassociationIndices &group : groups) {
    int64_t source = -1;
    for (int64_t j : group) {
      if (shape[perm[j]] == 1)
        continue;
      if (source != -1)
        return Value();
      source = perm[j];
    }
    held.push_back(source);
    targetShape.push_back(source == -1 ? 1 : shape[source]);
  }
  // The dimensions other than 1, in order; a size-1 dimension joins the
  // group of the next one (the last group when none follows).
  SmallVector<int64_t> kept;
  for (int64_t i = 0, e = shape.size(); i < e; ++i)
    if (shape[i] != 1)
      kept.push_back(i);
  if (kept.empty())
    return Value();
  SmallVector<ReassociationIndices> toKept =
      groupAround(shape.size(), [&](int64_t i) { return shape[i] != 1; });
  Value flat = tensor::CollapseShapeOp::create(b, loc, value, toKept);
  SmallVector<ReassociationIndices> toTarget =
      groupAround(targetShape.size(), [&](int64_t i) { return held[i] != -1; });
  SmallVector<OpFoldResult> sizes;
  for (auto [i, source] : llvm::enumerate(held)) {
    if (source == -1 || !ShapedType::isDynamic(shape[source])) {
      sizes.push_back(b.getIndexAttr(targetShape[i]));
      continue;
    }
    int64_t index = llvm::find(kept, source) - kept.begin();
    sizes.push_back(tensor::getMixedSize(b, loc, flat, index));
  }
  return tensor::ExpandShapeOp::create(b, loc, type.clone(targetShape), flat,
                                       toTarget, sizes);
}

/// `value` transposed by `perm` into a new tensor.
Value transposeOf(OpBuilder &b, Location loc, Value value,
                  ArrayRef<int64_t> perm) {
  SmallVector<OpFoldResult> dims = getDims(b, loc, value), permuted;
  for (int64_t p : perm)
    permuted.push_back(dims[p]);
  Value init = buildEmpty(b, loc, permuted,
                          cast<ShapedType>(value.getType()).getElementType());
  return linalg::TransposeOp::create(b, loc, value, init, perm).getResult()[0];
}

/// `value` permuted by `perm` as a transpose of its dimensions other than 1
/// alone, between reshapes: the same copy at a lower rank, which the CPU
/// schedule's transpose tiles fit (a query tile [1, L, 1, 1, d] becomes an
/// L x d transpose). Null when no dimension is 1, or fewer than two are not.
Value transposeWithoutUnitDims(OpBuilder &b, Location loc, Value value,
                               ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(value.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t rank = shape.size();
  SmallVector<int64_t> kept;
  for (int64_t i = 0; i < rank; ++i)
    if (shape[i] != 1)
      kept.push_back(i);
  if (static_cast<int64_t>(kept.size()) == rank || kept.size() < 2)
    return Value();
  Value flat = tensor::CollapseShapeOp::create(
      b, loc, value,
      groupAround(rank, [&](int64_t i) { return shape[i] != 1; }));
  SmallVector<int64_t> keptPerm;
  for (int64_t p : perm)
    if (shape[p] != 1)
      keptPerm.push_back(llvm::find(kept, p) - kept.begin());
  Value transposed = transposeOf(b, loc, flat, keptPerm);
  SmallVector<OpFoldResult> permuted = getDims(b, loc, transposed);
  SmallVector<int64_t> targetShape;
  SmallVector<OpFoldResult> sizes;
  int64_t next = 0;
  for (int64_t p : perm) {
    targetShape.push_back(shape[p]);
    sizes.push_back(shape[p] == 1 ? b.getIndexAttr(1) : permuted[next++]);
  }
  return tensor::ExpandShapeOp::create(
      b, loc, type.clone(targetShape), transposed,
      groupAround(rank, [&](int64_t i) { return targetShape[i] != 1; }), sizes);
}

/// Makes `matmul` read its first operand as [b, k, m] (`lhs`) and its second
/// as [b, n, k] (`rhs`) rather than [b, m, k] and [b, k, n].
void readTransposed(OpBuilder &b, linalg::BatchMatmulOp matmul, bool lhs,
                    bool rhs) {
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, m, n, k;
  bindDims(ctx, bb, m, n, k);
  auto map = [&](AffineExpr row, AffineExpr col) {
    return AffineMap::get(4, 0, {bb, row, col}, ctx);
  };
  matmul.setIndexingMapsAttr(b.getAffineMapArrayAttr(
      {lhs ? map(k, m) : map(m, k), rhs ? map(n, k) : map(k, n), map(m, n)}));
}

/// `value` with its dimensions split by `groups` into `sizes`.
Value expandTo(OpBuilder &b, Location loc, Value value,
               ArrayRef<ReassociationIndices> groups,
               ArrayRef<OpFoldResult> sizes) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape = decomposeMixedValues(sizes).first;
  return tensor::ExpandShapeOp::create(b, loc, type.clone(shape), value, groups,
                                       sizes);
}

/// `value` reshaped and transposed into a new tensor: `expand` splits
/// dimensions (empty: none), `perm` permutes, `collapse` merges.
Value relayout(OpBuilder &b, Location loc, Value value,
               ArrayRef<ReassociationIndices> expand,
               ArrayRef<OpFoldResult> expandedSizes, ArrayRef<int64_t> perm,
               ArrayRef<ReassociationIndices> collapse) {
  if (!expand.empty())
    value = expandTo(b, loc, value, expand, expandedSizes);
  if (Value view = reshapeInsteadOfTranspose(b, loc, value, perm, collapse))
    return view;
  Value lower = transposeWithoutUnitDims(b, loc, value, perm);
  value = lower ? lower : transposeOf(b, loc, value, perm);
  if (collapse.empty())
    return value;
  return tensor::CollapseShapeOp::create(b, loc, value, collapse);
}

/// The running state of the online softmax: row maximum and sum `[N, R]`,
/// unnormalised output `[N, R, dv]`.
struct SoftmaxState {
  Value max, sum, acc;
};

/// Decomposes one kha.sdpa; see the file comment.
class SDPADecomposition {
public:
  SDPADecomposition(SDPAOp op, int64_t keyBlock, bool transposeScores)
      : op(op), loc(op.getLoc()), ctx(op.getContext()), keyBlock(keyBlock),
        transposeScores(transposeScores) {}

  /// Checks what the decomposition needs: static head counts and widths.
  LogicalResult match(PatternRewriter &rewriter);
  Value build(OpBuilder &b);

private:
  Value groupQueries(OpBuilder &b);
  SoftmaxState initialState(OpBuilder &b);
  SoftmaxState visitKeys(OpBuilder &b, Value queries, SoftmaxState state);
  SoftmaxState step(OpBuilder &b, Value queries, SoftmaxState state,
                    Value keyStart, OpFoldResult keys, bool causalMask = true);
  SoftmaxState blockLoop(OpBuilder &b, Value queries, SoftmaxState state,
                         OpFoldResult from, OpFoldResult to, bool causalMask);
  Value scores(OpBuilder &b, Value queries, Value keyStart, OpFoldResult keys);
  Value keyRows(OpBuilder &b, Value source, Value keyStart, OpFoldResult keys);
  Value maskedScore(OpBuilder &b, Location l, Value score, Value keyStart,
                    bool causalMask);
  Value normaliseIntoDestination(OpBuilder &b, SoftmaxState state);
  Value headRows(OpBuilder &b, Value source, Value keyStart, OpFoldResult keys);

  SDPAOp op;
  Location loc;
  MLIRContext *ctx;
  int64_t keyBlock;
  /// Asked for; `keyMajor` says whether this op's scores are key-major.
  bool transposeScores;
  bool keyMajor = false;
  int64_t kvHeads = 0, group = 0, d = 0, dv = 0;
  OpFoldResult batch, len;
  /// Per-op values the softmax's bodies read.
  Value lenValue, causalBase;
};

LogicalResult SDPADecomposition::match(PatternRewriter &rewriter) {
  int64_t heads = op.getQuery().getType().getDimSize(2);
  kvHeads = op.getKey().getType().getDimSize(2);
  d = op.getQuery().getType().getDimSize(3);
  dv = op.getValue().getType().getDimSize(3);
  if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) ||
      ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return rewriter.notifyMatchFailure(
        op, "head counts and widths must be static to decompose");
  group = heads / kvHeads;
  // Key-major scores need the rows static, to vectorise along them.
  int64_t len = op.getQuery().getType().getDimSize(1);
  keyMajor = transposeScores && !ShapedType::isDynamic(len) &&
             group * len >= kMinRowsToTransposeKeys;
  return success();
}

Value SDPADecomposition::build(OpBuilder &b) {
  SmallVector<OpFoldResult> qDims = getDims(b, loc, op.getQuery());
  batch = qDims[0];
  len = qDims[1];
  lenValue = getValueOrCreateConstantIndexOp(b, loc, len);
  if (op.getCausal())
    causalBase = getValueOrCreateConstantIndexOp(b, loc, op.getCausalBase(b));
  Value queries = groupQueries(b);
  SoftmaxState state = visitKeys(b, queries, initialState(b));
  return normaliseIntoDestination(b, state);
}

/// Q [B, L, G, r, d] -> [B, G, r, L, d] -> [B*G, r*L, d], in f32; key-major,
/// [B, G, d, r, L] -> [B*G, d, r*L].
Value SDPADecomposition::groupQueries(OpBuilder &b) {
  SmallVector<int64_t> perm = {0, 2, 3, 1, 4};
  SmallVector<ReassociationIndices> collapse = {{0, 1}, {2, 3}, {4}};
  if (keyMajor) {
    perm = {0, 2, 4, 3, 1};
    collapse = {{0, 1}, {2}, {3, 4}};
  }
  Value q = relayout(b, loc, op.getQuery(), {{0}, {1}, {2, 3}, {4}},
                     {batch, len, b.getIndexAttr(kvHeads),
                      b.getIndexAttr(group), b.getIndexAttr(d)},
                     perm, collapse);
  return widenToF32(b, loc, q);
}

SoftmaxState SDPADecomposition::initialState(OpBuilder &b) {
  // N = B*G rows of R = r*L.
  AffineExpr s0;
  bindSymbols(ctx, s0);
  OpFoldResult n =
      affine::makeComposedFoldedAffineApply(b, loc, s0 * kvHeads, {batch});
  OpFoldResult r =
      affine::makeComposedFoldedAffineApply(b, loc, s0 * group, {len});
  Type f32 = b.getF32Type();
  return {buildFilled(b, loc, {n, r}, f32, kNegInf),
          buildFilled(b, loc, {n, r}, f32, 0.0),
          buildFilled(b, loc, {n, r, b.getIndexAttr(dv)}, f32, 0.0)};
}

/// All keys in one step, or full blocks of `keyBlock` in a loop and the
/// remainder (possibly empty when S is dynamic) after it.
SoftmaxState SDPADecomposition::visitKeys(OpBuilder &b, Value queries,
                                          SoftmaxState state) {
  OpFoldResult keys = tensor::getMixedSize(b, loc, op.getKey(), 1);
  std::optional<int64_t> staticKeys = getConstantIntValue(keys);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  if (keyBlock <= 0 || (staticKeys && *staticKeys <= keyBlock))
    return step(b, queries, state, zero, /*keys=*/OpFoldResult());

  AffineExpr s0, s1;
  bindSymbols(ctx, s0, s1);
  OpFoldResult full = affine::makeComposedFoldedAffineApply(
      b, loc, s0.floorDiv(keyBlock) * keyBlock, {keys});
  OpFoldResult maskedFrom = b.getIndexAttr(0);
  if (op.getCausal()) {
    // Causal: block [j0, j0 + n) is in no row's future when its last key is
    // at most the first row's place, j0 + n - 1 <= base. The full blocks up
    // to (base + 1) floordiv n blocks skip the causal mask's arithmetic.
    OpFoldResult below = affine::makeComposedFoldedAffineMin(
        b, loc,
        AffineMap::get(0, 2, {s0, (s1 + 1).floorDiv(keyBlock) * keyBlock}, ctx),
        {full, causalBase});
    maskedFrom = affine::makeComposedFoldedAffineMax(
        b, loc, AffineMap::get(0, 1, {s0, b.getAffineConstantExpr(0)}, ctx),
        {below});
    state = blockLoop(b, queries, state, b.getIndexAttr(0), maskedFrom,
                      /*causalMask=*/false);
  }
  state = blockLoop(b, queries, state, maskedFrom, full, /*causalMask=*/true);
  if (staticKeys && *staticKeys % keyBlock == 0)
    return state;
  OpFoldResult rest =
      affine::makeComposedFoldedAffineApply(b, loc, s0 % keyBlock, {keys});
  Value restStart = getValueOrCreateConstantIndexOp(b, loc, full);
  if (staticKeys)
    return step(b, queries, state, restStart, rest);
  // A dynamic remainder may be empty: it is a step only when it is not (an
  // empty tensor would be a static size of 0 once the size folds).
  Value nonEmpty = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::sgt,
      getValueOrCreateConstantIndexOp(b, loc, rest), zero);
  auto remainder = scf::IfOp::create(
      b, loc, nonEmpty,
      [&](OpBuilder &tb, Location) {
        SoftmaxState last = step(tb, queries, state, restStart, rest);
        scf::YieldOp::create(tb, loc, ValueRange{last.max, last.sum, last.acc});
      },
      [&](OpBuilder &eb, Location) {
        scf::YieldOp::create(eb, loc,
                             ValueRange{state.max, state.sum, state.acc});
      });
  return {remainder.getResult(0), remainder.getResult(1),
          remainder.getResult(2)};
}

/// The full blocks of keys from `from` to `to` (a multiple of the block
/// size apart) in a loop carrying the softmax's state; none when both fold
/// to one constant.
SoftmaxState SDPADecomposition::blockLoop(OpBuilder &b, Value queries,
                                          SoftmaxState state, OpFoldResult from,
                                          OpFoldResult to, bool causalMask) {
  std::optional<int64_t> start = getConstantIntValue(from),
                         end = getConstantIntValue(to);
  if (start && end && *start >= *end)
    return state;
  auto loop = scf::ForOp::create(
      b, loc, getValueOrCreateConstantIndexOp(b, loc, from),
      getValueOrCreateConstantIndexOp(b, loc, to),
      arith::ConstantIndexOp::create(b, loc, keyBlock),
      ValueRange{state.max, state.sum, state.acc},
      [&](OpBuilder &lb, Location, Value keyStart, ValueRange carried) {
        SoftmaxState next =
            step(lb, queries, {carried[0], carried[1], carried[2]}, keyStart,
                 lb.getIndexAttr(keyBlock), causalMask);
        scf::YieldOp::create(lb, loc, ValueRange{next.max, next.sum, next.acc});
      });
  return {loop.getResult(0), loop.getResult(1), loop.getResult(2)};
}

/// One block of keys [keyStart, keyStart + keys); all of them when `keys`
/// is null.
SoftmaxState SDPADecomposition::step(OpBuilder &b, Value queries,
                                     SoftmaxState state, Value keyStart,
                                     OpFoldResult keys, bool causalMask) {
  Type f32 = b.getF32Type();
  // The softmax's loops follow the scores' layout: (n, row, key), or
  // (n, key, row) when they are key-major.
  AffineExpr i0, i1, i2;
  bindDims(ctx, i0, i1, i2);
  AffineMap all = AffineMap::get(3, 0, {i0, i1, i2}, ctx);
  AffineMap rows = AffineMap::get(3, 0, {i0, keyMajor ? i2 : i1}, ctx);
  AffineMap accRows = AffineMap::get(3, 0, {i0, i1}, ctx);
  AffineMap rows2 = AffineMap::get(2, 0, {i0, i1}, ctx);
  SmallVector<utils::IteratorType> rowReduction = {kPar, kPar, kRed};
  if (keyMajor)
    rowReduction = {kPar, kRed, kPar};
  SmallVector<utils::IteratorType> parallel3(3, kPar), parallel2(2, kPar);
  Value s = scores(b, queries, keyStart, keys);
  // The first block's state is the initial one (m = -inf, l = 0, acc = 0)
  // and needs no rescaling.
  bool first = isZeroFilled(state.sum) && isZeroFilled(state.acc);

  // A row that has seen no key yet (m' = -inf) subtracts 0, so that its
  // exponentials are 0 rather than NaN.
  auto shifted = [&](OpBuilder &bb, Location l, Value x, Value m) {
    Value empty = arith::CmpFOp::create(bb, l, arith::CmpFPredicate::OEQ, m,
                                        buildF32Constant(bb, l, kNegInf));
    Value shift =
        arith::SelectOp::create(bb, l, empty, buildF32Constant(bb, l, 0.0), m);
    return math::ExpOp::create(bb, l, arith::SubFOp::create(bb, l, x, shift));
  };
  // The block's row maximum of the masked scores (into m itself when it is
  // the first block).
  Value blockMaxInit =
      first ? state.max
            : buildFilled(b, loc, getDims(b, loc, state.max), f32, kNegInf);
  Value blockMax =
      linalg::GenericOp::create(
          b, loc, state.max.getType(), ValueRange{s}, ValueRange{blockMaxInit},
          ArrayRef<AffineMap>{all, rows}, rowReduction,
          [&](OpBuilder &bb, Location l, ValueRange args) {
            Value masked = maskedScore(bb, l, args[0], keyStart, causalMask);
            linalg::YieldOp::create(
                bb, l,
                ValueRange{arith::MaximumFOp::create(bb, l, masked, args[1])});
          })
          .getResult(0);
  // m' = max(m, block maximum) and c = exp(m - m'), m' written over m so
  // that a loop carries it in place.
  Value newMax = blockMax, c;
  if (!first) {
    auto update = linalg::GenericOp::create(
        b, loc, TypeRange{state.max.getType(), state.max.getType()},
        ValueRange{blockMax},
        ValueRange{state.max,
                   buildEmpty(b, loc, getDims(b, loc, state.max), f32)},
        ArrayRef<AffineMap>{rows2, rows2, rows2}, parallel2,
        [&](OpBuilder &bb, Location l, ValueRange args) {
          Value m = arith::MaximumFOp::create(bb, l, args[0], args[1]);
          linalg::YieldOp::create(bb, l,
                                  ValueRange{m, shifted(bb, l, args[1], m)});
        });
    newMax = update.getResult(0);
    c = update.getResult(1);
  }
  // p = exp(masked score - m').
  SmallVector<OpFoldResult> sizes = getDims(b, loc, s);
  Value p = linalg::GenericOp::create(
                b, loc, s.getType(), ValueRange{s, newMax},
                ValueRange{buildEmpty(b, loc, sizes, f32)},
                ArrayRef<AffineMap>{all, rows, all}, parallel3,
                [&](OpBuilder &bb, Location l, ValueRange args) {
                  Value masked =
                      maskedScore(bb, l, args[0], keyStart, causalMask);
                  linalg::YieldOp::create(
                      bb, l, ValueRange{shifted(bb, l, masked, args[1])});
                })
                .getResult(0);

  // The sum and output so far, rescaled by c in place.
  Value sum = state.sum, acc = state.acc;
  if (!first) {
    auto scaleBy = [&](OpBuilder &bb, Location l, ValueRange args) {
      linalg::YieldOp::create(
          bb, l, ValueRange{arith::MulFOp::create(bb, l, args[1], args[0])});
    };
    sum = linalg::GenericOp::create(
              b, loc, sum.getType(), ValueRange{c}, ValueRange{sum},
              ArrayRef<AffineMap>{rows2, rows2}, parallel2, scaleBy)
              .getResult(0);
    acc = linalg::GenericOp::create(
              b, loc, acc.getType(), ValueRange{c}, ValueRange{acc},
              ArrayRef<AffineMap>{accRows, all}, parallel3, scaleBy)
              .getResult(0);
  }
  // l' = l c + sum_j p.
  sum = linalg::GenericOp::create(
            b, loc, sum.getType(), ValueRange{p}, ValueRange{sum},
            ArrayRef<AffineMap>{all, rows}, rowReduction,
            [&](OpBuilder &bb, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  bb, l,
                  ValueRange{arith::AddFOp::create(bb, l, args[0], args[1])});
            })
            .getResult(0);
  // acc' = acc c + p V_block: [N, R, n] x [N, n, dv] (p read as the
  // transpose of p^T when the scores are key-major).
  auto matmul = linalg::BatchMatmulOp::create(
      b, loc, ValueRange{p, headRows(b, op.getValue(), keyStart, keys)},
      ValueRange{acc});
  if (keyMajor)
    readTransposed(b, matmul, /*lhs=*/true, /*rhs=*/false);
  return {newMax, sum, matmul.getResult(0)};
}

/// Rows [keyStart, keyStart + keys) of `source` (`[B, S, G, w]`) as they
/// lie, grouped by key/value head: [N, n, w] in f32 (a view for one head).
Value SDPADecomposition::headRows(OpBuilder &b, Value source, Value keyStart,
                                  OpFoldResult keys) {
  Value block = keyRows(b, source, keyStart, keys);
  return widenToF32(
      b, loc,
      relayout(b, loc, block, {}, {}, {0, 2, 1, 3}, {{0, 1}, {2}, {3}}));
}

/// Q K_block^T, [N, R, n] in f32 (unscaled: the scale is applied with the
/// mask, in maskedScore); key-major, K_block Q^T [N, n, R].
Value SDPADecomposition::scores(OpBuilder &b, Value queries, Value keyStart,
                                OpFoldResult keys) {
  if (keyMajor) {
    // K [B, n, G, d] -> [N, n, d] times Q^T [N, d, R].
    Value k = headRows(b, op.getKey(), keyStart, keys);
    SmallVector<OpFoldResult> qDims = getDims(b, loc, queries);
    Value init = buildFilled(
        b, loc, {qDims[0], tensor::getMixedSize(b, loc, k, 1), qDims[2]},
        b.getF32Type(), 0.0);
    return linalg::BatchMatmulOp::create(b, loc, ValueRange{k, queries},
                                         ValueRange{init})
        .getResult(0);
  }
  std::optional<int64_t> rows =
      getConstantIntValue(tensor::getMixedSize(b, loc, queries, 1));
  bool keysByRow = rows && *rows < kMinRowsToTransposeKeys;
  // K [B, n, G, d] -> [B, G, d, n] -> [N, d, n], or by row [N, n, d].
  Value block = keyRows(b, op.getKey(), keyStart, keys);
  Value k = keysByRow ? headRows(b, op.getKey(), keyStart, keys)
                      : widenToF32(b, loc,
                                   relayout(b, loc, block, {}, {}, {0, 2, 3, 1},
                                            {{0, 1}, {2}, {3}}));
  SmallVector<OpFoldResult> qDims = getDims(b, loc, queries);
  Value init = buildFilled(
      b, loc, {qDims[0], qDims[1], tensor::getMixedSize(b, loc, block, 1)},
      b.getF32Type(), 0.0);
  auto matmul = linalg::BatchMatmulOp::create(b, loc, ValueRange{queries, k},
                                              ValueRange{init});
  if (keysByRow)
    readTransposed(b, matmul, /*lhs=*/false, /*rhs=*/true);
  return matmul.getResult(0);
}

/// Rows [keyStart, keyStart + keys) of `source` (`[B, S, G, w]`), or all of
/// it when `keys` is null.
Value SDPADecomposition::keyRows(OpBuilder &b, Value source, Value keyStart,
                                 OpFoldResult keys) {
  if (!keys)
    return source;
  SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
  offsets[1] = keyStart;
  SmallVector<OpFoldResult> sizes = getDims(b, loc, source);
  sizes[1] = keys;
  return tensor::ExtractSliceOp::create(
      b, loc, source, offsets, sizes,
      SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
}

/// The scaled, masked score at the generic's (n, row, j); `score` is Q K
/// there and key j of the block is key `keyStart + j` of the op. A mask is
/// gathered with tensor.extract (its index is not an affine function of
/// (n, row, j) when L is dynamic).
Value SDPADecomposition::maskedScore(OpBuilder &b, Location l, Value score,
                                     Value keyStart, bool causalMask) {
  Value s = arith::MulFOp::create(
      b, l, score, buildF32Constant(b, l, op.getScale().convertToDouble()));
  Value mask = op.getMask();
  bool causal = op.getCausal() && causalMask;
  if (!causal && !mask)
    return s;
  Value row = linalg::IndexOp::create(b, l, keyMajor ? 2 : 1);
  Value key = arith::AddIOp::create(
      b, l, keyStart, linalg::IndexOp::create(b, l, keyMajor ? 1 : 2));
  // Row (n, row) is query position row mod L (row itself when each key/value
  // head is read by one query head).
  Value pos = group == 1
                  ? row
                  : arith::RemUIOp::create(b, l, row, lenValue).getResult();
  if (mask) {
    SmallVector<Value> at = {pos, key};
    auto maskShape = cast<ShapedType>(mask.getType()).getShape();
    if (maskShape.size() == 4) {
      // Row (n, row) is batch n / G, query head (n mod G) * r + row / L.
      Value nIndex = linalg::IndexOp::create(b, l, 0);
      Value kv = arith::ConstantIndexOp::create(b, l, kvHeads);
      Value head =
          arith::MulIOp::create(b, l, arith::RemUIOp::create(b, l, nIndex, kv),
                                arith::ConstantIndexOp::create(b, l, group));
      if (group != 1)
        head = arith::AddIOp::create(
            b, l, head, arith::DivUIOp::create(b, l, row, lenValue));
      at = {arith::DivUIOp::create(b, l, nIndex, kv), head, pos, key};
      // Size-1 dimensions are shared (broadcast).
      for (int64_t i = 0; i < 3; ++i)
        if (maskShape[i] == 1)
          at[i] = arith::ConstantIndexOp::create(b, l, 0);
    }
    Value m = tensor::ExtractOp::create(b, l, mask, at);
    s = arith::AddFOp::create(b, l, s, castFloat(b, l, m, b.getF32Type()));
  }
  if (causal) {
    // Key j is in query i's future when j > i + base (signed: the base of a
    // bottom-right alignment is negative when L > S).
    Value place = arith::AddIOp::create(b, l, pos, causalBase);
    Value future =
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, key, place);
    s = arith::SelectOp::create(b, l, future, buildF32Constant(b, l, kNegInf),
                                s);
  }
  return s;
}

/// acc / l (0 for a row that saw no key), rounded to the element type and
/// written into the op's destination `[B, L, H, dv]` in one pass: acc
/// `[B*G, r*L, dv]` is read as `[B, G, r, L, dv]`, the destination viewed as
/// `[B, L, G, r, dv]`.
Value SDPADecomposition::normaliseIntoDestination(OpBuilder &b,
                                                  SoftmaxState state) {
  OpFoldResult kvHeadCount = b.getIndexAttr(kvHeads),
               groupSize = b.getIndexAttr(group), width = b.getIndexAttr(dv);
  Value acc = expandTo(b, loc, state.acc, {{0, 1}, {2, 3}, {4}},
                       {batch, kvHeadCount, groupSize, len, width});
  Value sum = expandTo(b, loc, state.sum, {{0, 1}, {2, 3}},
                       {batch, kvHeadCount, groupSize, len});
  Value init = op.getInit();
  SmallVector<OpFoldResult> outDims = getDims(b, loc, init);
  Value dest =
      expandTo(b, loc, init, {{0}, {1}, {2, 3}, {4}},
               {outDims[0], outDims[1], kvHeadCount, groupSize, outDims[3]});

  Type elementType = op.getType().getElementType();
  AffineExpr bi, li, gi, ri, ci;
  bindDims(ctx, bi, li, gi, ri, ci);
  auto map = [&](ArrayRef<AffineExpr> exprs) {
    return AffineMap::get(5, 0, exprs, ctx);
  };
  Value out =
      linalg::GenericOp::create(
          b, loc, dest.getType(), ValueRange{acc, sum}, ValueRange{dest},
          ArrayRef<AffineMap>{map({bi, gi, ri, li, ci}), map({bi, gi, ri, li}),
                              map({bi, li, gi, ri, ci})},
          SmallVector<utils::IteratorType>(5, kPar),
          [&](OpBuilder &bb, Location l, ValueRange args) {
            Value empty =
                arith::CmpFOp::create(bb, l, arith::CmpFPredicate::OEQ, args[1],
                                      buildF32Constant(bb, l, 0.0));
            Value denom = arith::SelectOp::create(
                bb, l, empty, buildF32Constant(bb, l, 1.0), args[1]);
            Value o = arith::DivFOp::create(bb, l, args[0], denom);
            linalg::YieldOp::create(
                bb, l, ValueRange{castFloat(bb, l, o, elementType)});
          })
          .getResult(0);
  return tensor::CollapseShapeOp::create(
      b, loc, op.getType(), out,
      ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
}

struct DecomposeSDPA : OpRewritePattern<SDPAOp> {
  DecomposeSDPA(MLIRContext *ctx, int64_t keyBlock, bool transposeScores)
      : OpRewritePattern(ctx), keyBlock(keyBlock),
        transposeScores(transposeScores) {}
  LogicalResult matchAndRewrite(SDPAOp op,
                                PatternRewriter &rewriter) const override {
    SDPADecomposition decomposition(op, keyBlock, transposeScores);
    if (failed(decomposition.match(rewriter)))
      return failure();
    rewriter.replaceOp(op, decomposition.build(rewriter));
    return success();
  }
  int64_t keyBlock;
  bool transposeScores;
};

struct DecomposeSDPAPass
    : kha::impl::KHADecomposeSDPAPassBase<DecomposeSDPAPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposeSDPAPatterns(patterns, keyBlockSize, transposeScores);
    // One rewrite per op: the decomposition creates no kha.sdpa.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
    getOperation()->walk([&](SDPAOp op) {
      op.emitError("could not decompose kha.sdpa: head counts and widths "
                   "must be static");
      signalPassFailure();
    });
  }
};
} // namespace

void kha::populateDecomposeSDPAPatterns(RewritePatternSet &patterns,
                                        int64_t keyBlockSize,
                                        bool transposeScores) {
  patterns.add<DecomposeSDPA>(patterns.getContext(), keyBlockSize,
                              transposeScores);
}
