//===- Cost.cpp - FLOPs and bytes of kha and linalg ops -------------------===//

#include "kha/Analysis/Cost.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::kha;

/// Elements of a statically shaped tensor or memref, or nullopt.
static std::optional<int64_t> elements(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return std::nullopt;
  return shaped.getNumElements();
}

static std::optional<int64_t> bytesOf(Type type) {
  std::optional<int64_t> count = elements(type);
  if (!count)
    return std::nullopt;
  auto shaped = cast<ShapedType>(type);
  return *count * ((shaped.getElementTypeBitWidth() + 7) / 8);
}

/// Bytes of every shaped operand plus every result, or nullopt if one is
/// dynamic.
static std::optional<int64_t> bytesMoved(Operation *op, ValueRange operands) {
  int64_t total = 0;
  for (Value value : operands) {
    if (!isa<ShapedType>(value.getType()))
      continue;
    std::optional<int64_t> b = bytesOf(value.getType());
    if (!b)
      return std::nullopt;
    total += *b;
  }
  for (Type type : op->getResultTypes()) {
    std::optional<int64_t> b = bytesOf(type);
    if (!b)
      return std::nullopt;
    total += *b;
  }
  return total;
}

/// Float arithmetic ops in a linalg body (casts and selects are free).
static int64_t bodyFlops(Block &body) {
  int64_t count = 0;
  for (Operation &op : body) {
    if (isa<arith::ExtFOp, arith::TruncFOp, arith::SelectOp, arith::CmpIOp,
            linalg::YieldOp, linalg::IndexOp>(op))
      continue;
    if (op.getNumResults() == 1 &&
        isa<FloatType>(getElementTypeOrSelf(op.getResult(0).getType())) &&
        (op.getDialect()->getNamespace() == "arith" ||
         op.getDialect()->getNamespace() == "math") &&
        !isa<arith::ConstantOp>(op))
      ++count;
    else if (isa<arith::CmpFOp>(op))
      ++count;
  }
  return count;
}

/// The FLOPs of the kha ops, shared by the mid-level ops and the attention
/// block that expands into them.
static int64_t linearKnockFlopsPerElement(int64_t d) { return 2 * d; }
/// Three d x d matmuls (two when the down projection is a constant identity,
/// which lowers to nothing), and 2 u sigmoid(g): neg, exp, add, div, add, div.
static int64_t mlpKnockFlopsPerElement(int64_t d, bool identityDown = false) {
  return (identityDown ? 4 : 6) * d + 6;
}
/// x*x and the sum, then x * inv * w.
static constexpr int64_t kRMSNormFlopsPerElement = 4;
/// Per pair of elements: 4 multiplies, 2 adds.
static constexpr int64_t kRoPEFlopsPerElement = 3;
/// Q K^T and P V (2 per multiply-add), the softmax (scale, max, subtract, exp,
/// sum: 5 per score), and the division of each output element.
static int64_t sdpaFlops(int64_t scores, int64_t d, int64_t dv,
                         int64_t outputs) {
  return 2 * scores * d + 2 * scores * dv + 5 * scores + outputs;
}

/// The (query, key) pairs of one head that attention computes: all L x S, or
/// with a causal mask only those on or below the diagonal, query row i seeing
/// clamp(i + base + 1, 0, S) keys (kha skips the blocks above it).
static int64_t attendedPairs(int64_t len, int64_t keys, bool causal,
                             int64_t base) {
  if (!causal)
    return len * keys;
  // Rows before `first` see no key; rows from `full` on see all S.
  int64_t first = std::clamp<int64_t>(-base, 0, len);
  int64_t full = std::clamp<int64_t>(keys - base - 1, first, len);
  int64_t rows = full - first;
  int64_t partial = rows * (first + base + 1 + full + base) / 2;
  return partial + (len - full) * keys;
}

static int64_t perHeadFlopsPerElement(Operation *op, int64_t d) {
  if (isa<LinearKnockOp>(op))
    return linearKnockFlopsPerElement(d);
  if (auto mlp = dyn_cast<MlpKnockOp>(op))
    return mlpKnockFlopsPerElement(d, isConstantIdentity(mlp.getDown()));
  if (isa<RMSNormOp>(op))
    return kRMSNormFlopsPerElement;
  return kRoPEFlopsPerElement;
}

std::optional<OpCost> kha::estimateCost(Operation *op) {
  OpCost cost;
  auto bytes = [&](ValueRange operands) -> bool {
    std::optional<int64_t> b = bytesMoved(op, operands);
    if (b)
      cost.bytes = *b;
    return b.has_value();
  };

  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    int64_t iterations = 1;
    for (int64_t range : linalgOp.getStaticLoopRanges()) {
      if (ShapedType::isDynamic(range))
        return std::nullopt;
      iterations *= range;
    }
    cost.flops = iterations * bodyFlops(*linalgOp.getBlock());
    if (!bytes(linalgOp.getDpsInputs()))
      return std::nullopt;
    return cost;
  }

  // kha ops, by formula (docs/cost-model.md). Per-head ops cost a number of
  // FLOPs per element of their [B, L, N, d] input.
  if (isa<LinearKnockOp, MlpKnockOp, RMSNormOp, RoPEOp>(op)) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    std::optional<int64_t> e = elements(type);
    if (!e || !bytes(op->getOperands()))
      return std::nullopt;
    cost.flops = *e * perHeadFlopsPerElement(op, type.getDimSize(3));
    return cost;
  }
  if (auto sdpa = dyn_cast<SDPAOp>(op)) {
    auto q = sdpa.getQuery().getType(), k = sdpa.getKey().getType(),
         v = sdpa.getValue().getType();
    // The destination is written, not read: it counts once, as the result.
    if (!q.hasStaticShape() || !k.hasStaticShape() || !v.hasStaticShape() ||
        !bytes(sdpa.getDpsInputs()))
      return std::nullopt;
    // A tile's query_offset is not known here; it counts as upper left.
    int64_t len = q.getDimSize(1), keys = k.getDimSize(1);
    int64_t base = sdpa.getBottomRight() ? keys - len : 0;
    int64_t scores = q.getDimSize(0) * q.getDimSize(2) *
                     attendedPairs(len, keys, sdpa.getCausal(), base);
    cost.flops = sdpaFlops(scores, q.getDimSize(3), v.getDimSize(3),
                           *elements(sdpa.getType()));
    return cost;
  }
  if (auto block = dyn_cast<AttentionBlockOp>(op)) {
    auto x = block.getInput().getType();
    if (!x.hasStaticShape() || !bytes(op->getOperands()))
      return std::nullopt;
    int64_t tokens = x.getDimSize(0) * x.getDimSize(1);
    int64_t D = block.getModelDim(), H = block.getNumHeads(),
            G = block.getNumKvHeads(), d = block.getHeadDim();
    int64_t qElems = tokens * H * d, kvElems = tokens * G * d;
    int64_t flops = 2 * tokens * D * (H * d + 2 * G * d) // Q, K, V
                    + 2 * tokens * H * d * D;            // W^O
    if (block.getTq())
      flops += qElems * linearKnockFlopsPerElement(d);
    if (block.getTk())
      flops += kvElems * linearKnockFlopsPerElement(d);
    if (block.getTv())
      flops += kvElems * linearKnockFlopsPerElement(d);
    if (block.hasMlpKnock())
      flops += kvElems * mlpKnockFlopsPerElement(d);
    if (block.getQNorm())
      flops += (qElems + kvElems) * kRMSNormFlopsPerElement;
    if (block.getRopeTheta())
      flops += (qElems + kvElems) * kRoPEFlopsPerElement;
    if (block.getBq())
      flops += qElems + 2 * kvElems; // one addition per projected element
    if (block.getBo())
      flops += tokens * D;
    // With a cache, the queries attend over up to its capacity (counted
    // full, the new rows last), and only the new rows of the updated caches
    // are written.
    int64_t keys = x.getDimSize(1);
    if (block.hasKVCache()) {
      keys = block.getKCache().getType().getDimSize(1);
      int64_t cacheBytes = *bytesOf(block.getKCache().getType());
      int64_t newRowBytes = cacheBytes / keys * x.getDimSize(1);
      cost.bytes -= 2 * (cacheBytes - newRowBytes);
    }
    int64_t len = x.getDimSize(1);
    int64_t scores = x.getDimSize(0) * H *
                     attendedPairs(len, keys, block.getCausal(), keys - len);
    flops += sdpaFlops(scores, d, d, qElems);
    cost.flops = flops;
    return cost;
  }
  return std::nullopt;
}
