//===- KHAOps.cpp - kha op verifiers and folders --------------------------===//
//
// Every rule checked here is numbered (R1..) in docs/semantics.md, which ties
// it to docs/semantics.md; test/Dialect/KHA/invalid.mlir has a case for each.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kha;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Formats a shape as `[2, ?, 512]`.
static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(shape, os, [&](int64_t size) {
    if (ShapedType::isDynamic(size))
      os << "?";
    else
      os << size;
  });
  os << "]";
  return text;
}

/// Two sizes agree when they are equal or either is dynamic.
static bool sizesAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static bool shapesAgree(ArrayRef<int64_t> actual, ArrayRef<int64_t> expected) {
  if (actual.size() != expected.size())
    return false;
  return llvm::all_of(llvm::zip_equal(actual, expected), [](auto pair) {
    return sizesAgree(std::get<0>(pair), std::get<1>(pair));
  });
}

/// Checks that `value` (called `name` in messages) has the expected shape,
/// where dynamic sizes on either side agree with anything.
static LogicalResult verifyShape(Operation *op, StringRef name, Value value,
                                 ArrayRef<int64_t> expected,
                                 StringRef meaning) {
  auto type = cast<RankedTensorType>(value.getType());
  if (shapesAgree(type.getShape(), expected))
    return success();
  return op->emitOpError() << "'" << name << "' must have shape "
                           << formatShape(expected) << " (" << meaning
                           << "), got " << formatShape(type.getShape());
}

static LogicalResult verifyRank(Operation *op, StringRef name, Value value,
                                int64_t rank, StringRef layout) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == rank)
    return success();
  return op->emitOpError() << "'" << name << "' must be a rank-" << rank
                           << " tensor " << layout << ", got rank "
                           << type.getRank();
}

/// No buffer of more than 2^48 elements can be allocated, and index
/// arithmetic on larger static sizes would overflow: R22 refuses them.
static constexpr int64_t kMaxStaticElements = int64_t(1) << 48;

/// R22: the static sizes of `shape` (dynamic ones are checked at run time)
/// multiply to at most kMaxStaticElements.
static LogicalResult verifyStaticElementCount(Operation *op, StringRef name,
                                              ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape) {
    if (ShapedType::isDynamic(size) || size <= 0)
      continue;
    if (count > kMaxStaticElements / size)
      return op->emitOpError()
             << "'" << name << "' of shape " << formatShape(shape)
             << " has more than 2^48 elements; no buffer that large can be "
                "allocated";
    count *= size;
  }
  return success();
}

/// All named values must share the element type of the first one (R8), and
/// none may have a static size of 0 (R22: kha does not compile empty
/// tensors; a located error here rather than a crash in a pipeline), nor
/// static sizes whose product exceeds kMaxStaticElements.
static LogicalResult
verifyElementTypes(Operation *op,
                   ArrayRef<std::pair<StringRef, Value>> namedValues) {
  for (auto [name, value] : namedValues) {
    auto type = value ? dyn_cast<ShapedType>(value.getType()) : ShapedType();
    if (type && type.hasRank() && llvm::is_contained(type.getShape(), 0))
      return op->emitOpError() << "'" << name << "' has a size of 0 in "
                               << formatShape(type.getShape())
                               << "; empty tensors are not supported";
    if (type && type.hasRank() &&
        failed(verifyStaticElementCount(op, name, type.getShape())))
      return failure();
  }
  Type expected = getElementTypeOrSelf(namedValues.front().second.getType());
  for (auto [name, value] : namedValues.drop_front()) {
    if (!value)
      continue;
    Type actual = getElementTypeOrSelf(value.getType());
    if (actual != expected)
      return op->emitOpError()
             << "element types must agree: '" << namedValues.front().first
             << "' has " << expected << " but '" << name << "' has " << actual;
  }
  return success();
}

static LogicalResult verifyPositive(Operation *op, StringRef name,
                                    double value) {
  if (std::isfinite(value) && value > 0.0)
    return success();
  return op->emitOpError() << "'" << name
                           << "' must be a positive finite number, got "
                           << value;
}

/// R27: a scaled RoPE's frequencies are d/2 positive finite numbers and its
/// attention factor is positive and finite.
static LogicalResult
verifyRoPEScaling(Operation *op, StringRef frequenciesName,
                  std::optional<ArrayRef<double>> frequencies,
                  StringRef factorName, std::optional<APFloat> factor,
                  int64_t d) {
  if (frequencies) {
    if ((int64_t)frequencies->size() != d / 2)
      return op->emitOpError()
             << "'" << frequenciesName << "' must hold d/2 = " << d / 2
             << " values, got " << frequencies->size();
    for (double f : *frequencies)
      if (!(f > 0) || !std::isfinite(f))
        return op->emitOpError() << "'" << frequenciesName
                                 << "' must be positive and finite, got " << f;
  }
  if (factor)
    return verifyPositive(op, factorName, factor->convertToDouble());
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionBlockOp
//===----------------------------------------------------------------------===//

int64_t AttentionBlockOp::getHeadDim() {
  return getWq().getType().getDimSize(1) / getNumHeads();
}

int64_t AttentionBlockOp::getModelDim() {
  return getInput().getType().getDimSize(2);
}

LogicalResult AttentionBlockOp::verify() {
  Operation *op = getOperation();
  auto inputType = getInput().getType();

  // R1: the input is [B, L, D] with a static D.
  if (failed(verifyRank(op, "input", getInput(), 3, "[B, L, D]")))
    return failure();
  int64_t modelDim = inputType.getDimSize(2);
  if (ShapedType::isDynamic(modelDim) || modelDim <= 0)
    return emitOpError("the model width D (the input's last dimension) must "
                       "be static and positive");

  // R2: the result has the input's type.
  if (getResult().getType() != inputType)
    return emitOpError() << "result type " << getResult().getType()
                         << " must equal the input type " << inputType;

  // R3, R4, R5: head counts.
  int64_t numHeads = getNumHeads(), numKvHeads = getNumKvHeads();
  if (numHeads <= 0)
    return emitOpError() << "num_heads must be positive, got " << numHeads;
  if (numKvHeads <= 0)
    return emitOpError() << "num_kv_heads must be positive, got " << numKvHeads;
  if (numHeads % numKvHeads != 0)
    return emitOpError() << "num_kv_heads (" << numKvHeads
                         << ") must divide num_heads (" << numHeads << ")";

  // R6: optional operands come in complete groups and the two value knocks
  // exclude each other. The custom syntax guarantees this; the generic form
  // does not.
  bool anyMlp = getVUp() || getVGate() || getVDown();
  if (anyMlp && !(getVUp() && getVGate() && getVDown()))
    return emitOpError("the MLP knock needs all of v_up, v_gate and v_down");
  if (anyMlp && getTv())
    return emitOpError("values take a linear knock or an MLP knock, not both");
  if (static_cast<bool>(getQNorm()) != static_cast<bool>(getKNorm()))
    return emitOpError("QK-norm needs both q_norm and k_norm");
  bool anyQkvBias = getBq() || getBk() || getBv();
  if (anyQkvBias && !(getBq() && getBk() && getBv()))
    return emitOpError("the projection biases need all of bq, bk and bv");

  // R7: weights have static shapes.
  SmallVector<std::pair<StringRef, Value>> weights = {
      {"wq", getWq()},        {"wk", getWk()},        {"wv", getWv()},
      {"wo", getWo()},        {"tq", getTq()},        {"tk", getTk()},
      {"tv", getTv()},        {"v_up", getVUp()},     {"v_gate", getVGate()},
      {"v_down", getVDown()}, {"q_norm", getQNorm()}, {"k_norm", getKNorm()},
      {"bq", getBq()},        {"bk", getBk()},        {"bv", getBv()},
      {"bo", getBo()}};
  for (auto [name, value] : weights) {
    if (value && !cast<RankedTensorType>(value.getType()).hasStaticShape())
      return emitOpError() << "weight '" << name
                           << "' must have a static shape, got "
                           << value.getType();
  }

  // R8: element types agree.
  SmallVector<std::pair<StringRef, Value>> all = {{"input", getInput()}};
  all.append(weights.begin(), weights.end());
  if (failed(verifyElementTypes(op, all)))
    return failure();

  // R9: projections.
  for (auto [name, value] : ArrayRef(weights).take_front(4))
    if (failed(verifyRank(op, name, value, 2, "(a projection matrix)")))
      return failure();
  int64_t qCols = getWq().getType().getDimSize(1);
  if (getWq().getType().getDimSize(0) != modelDim)
    return emitOpError() << "'wq' must have D = " << modelDim << " rows, got "
                         << getWq().getType().getDimSize(0);
  if (qCols % numHeads != 0)
    return emitOpError() << "'wq' has " << qCols
                         << " columns, not a multiple of num_heads ("
                         << numHeads << ")";
  int64_t d = qCols / numHeads;
  if (d <= 0)
    return emitOpError("the head width d ('wq' columns / num_heads) must be "
                       "positive");
  if (failed(verifyShape(op, "wk", getWk(), {modelDim, numKvHeads * d},
                         "D x G*d")) ||
      failed(verifyShape(op, "wv", getWv(), {modelDim, numKvHeads * d},
                         "D x G*d")) ||
      failed(
          verifyShape(op, "wo", getWo(), {numHeads * d, modelDim}, "H*d x D")))
    return failure();

  // R10: knock matrices are d x d; R11: norm weights have d elements.
  for (auto [name, value] : ArrayRef(weights).slice(4, 6))
    if (value && failed(verifyShape(op, name, value, {d, d}, "d x d")))
      return failure();
  for (auto [name, value] : ArrayRef(weights).slice(10, 2))
    if (value && failed(verifyShape(op, name, value, {d}, "d")))
      return failure();
  // R22: the query projection [B, L, H*d] is a buffer too.
  if (failed(verifyStaticElementCount(
          op, "the query projection",
          {inputType.getDimSize(0), inputType.getDimSize(1), numHeads * d})))
    return failure();

  // R26: biases have one element per output column of their projection.
  SmallVector<std::tuple<StringRef, Value, int64_t, StringRef>> biases = {
      {"bq", getBq(), numHeads * d, "H*d"},
      {"bk", getBk(), numKvHeads * d, "G*d"},
      {"bv", getBv(), numKvHeads * d, "G*d"},
      {"bo", getBo(), modelDim, "D"}};
  for (auto [name, value, size, what] : biases)
    if (value && failed(verifyShape(op, name, value, {size}, what)))
      return failure();

  // R12: RoPE rotates pairs (j, j + d/2), so d must be even; theta > 0.
  if (std::optional<APFloat> theta = getRopeTheta()) {
    if (failed(verifyPositive(op, "rope_theta", theta->convertToDouble())))
      return failure();
    if (d % 2 != 0)
      return emitOpError() << "RoPE needs an even head dimension, got d = "
                           << d;
  }
  // R27: a scaled RoPE needs RoPE, d/2 frequencies and a positive factor.
  if ((getRopeFrequencies() || getRopeAttentionFactor()) && !getRopeTheta())
    return emitOpError("'rope_frequencies' and 'rope_attention_factor' need "
                       "'rope_theta' (RoPE)");
  if (failed(verifyRoPEScaling(op, "rope_frequencies", getRopeFrequencies(),
                               "rope_attention_factor",
                               getRopeAttentionFactor(), d)))
    return failure();
  // R31: a cache is two [B, S, G, d] tensors of the input's element type
  // and a length, and the block then returns them updated.
  int64_t batch = inputType.getDimSize(0);
  int64_t capacity = ShapedType::kDynamic;
  if (Value kCache = getKCache()) {
    if (!getVCache() || !getCacheLength())
      return emitOpError("a cache needs k_cache, v_cache and cache_length");
    for (auto [name, value] : {std::pair<StringRef, Value>{"k_cache", kCache},
                               {"v_cache", getVCache()}}) {
      if (failed(verifyRank(op, name, value, 4, "[B, S, G, d]")))
        return failure();
      auto type = cast<RankedTensorType>(value.getType());
      if (type.getElementType() != inputType.getElementType())
        return emitOpError() << "'" << name << "' must have the input's "
                             << "element type " << inputType.getElementType()
                             << ", got " << type.getElementType();
      if (failed(verifyShape(op, name, value,
                             {batch, type.getDimSize(1), numKvHeads, d},
                             "B x S x G x d")))
        return failure();
    }
    int64_t kS = getKCache().getType().getDimSize(1),
            vS = getVCache().getType().getDimSize(1);
    if (!ShapedType::isDynamic(kS) && !ShapedType::isDynamic(vS) && kS != vS)
      return emitOpError() << "'k_cache' and 'v_cache' must have one "
                           << "capacity S, got " << kS << " and " << vS;
    capacity = ShapedType::isDynamic(kS) ? vS : kS;
    if (getUpdatedCaches().size() != 2)
      return emitOpError() << "with a cache the block returns the updated "
                           << "k_cache and v_cache, got "
                           << getUpdatedCaches().size() << " more results";
    if (getUpdatedCaches()[0].getType() != getKCache().getType() ||
        getUpdatedCaches()[1].getType() != getVCache().getType())
      return emitOpError("the updated caches must have the caches' types");
  } else if (getVCache() || getCacheLength()) {
    return emitOpError("a cache needs k_cache, v_cache and cache_length");
  } else if (!getUpdatedCaches().empty()) {
    return emitOpError() << "without a cache the block has one result, got "
                         << 1 + getUpdatedCaches().size();
  }
  // R30: positions and an attention mask are [B, L] (with a cache, the mask
  // is [B, S]: one entry per cache slot); positions need RoPE.
  if (Value positions = getPositions())
    if (failed(verifyShape(op, "positions", positions,
                           {batch, inputType.getDimSize(1)}, "B x L")))
      return failure();
  if (Value mask = getAttentionMask()) {
    if (hasKVCache()) {
      if (failed(verifyShape(op, "attention_mask", mask, {batch, capacity},
                             "B x S (one entry per cache slot)")))
        return failure();
    } else if (failed(verifyShape(op, "attention_mask", mask,
                                  {batch, inputType.getDimSize(1)}, "B x L"))) {
      return failure();
    }
  }
  if (getPositions() && !getRopeTheta())
    return emitOpError("'positions' need 'rope_theta' (RoPE)");
  // R13: the RMSNorm epsilon is positive.
  return verifyPositive(op, "rms_norm_eps", getRmsNormEps().convertToDouble());
}

//===----------------------------------------------------------------------===//
// Per-head ops
//===----------------------------------------------------------------------===//

/// The checks every per-head op shares (R14): the input is `[B, L, N, d]` with
/// a static head width d. Returns d, or failure.
static FailureOr<int64_t> verifyPerHeadInput(Operation *op, Value input) {
  if (failed(verifyRank(op, "input", input, 4, "[B, L, N, d]")))
    return failure();
  int64_t d = cast<RankedTensorType>(input.getType()).getDimSize(3);
  if (ShapedType::isDynamic(d))
    return op->emitOpError("the head dimension d (the input's last "
                           "dimension) must be static");
  return d;
}

LogicalResult LinearKnockOp::verify() {
  FailureOr<int64_t> d = verifyPerHeadInput(*this, getInput());
  if (failed(d) ||
      failed(verifyElementTypes(
          *this, {{"input", getInput()}, {"transform", getTransform()}})) ||
      failed(verifyRank(*this, "transform", getTransform(), 2, "[d, d]")))
    return failure();
  // R15: the shared matrix is d x d.
  return verifyShape(*this, "transform", getTransform(), {*d, *d}, "d x d");
}

LogicalResult MlpKnockOp::verify() {
  FailureOr<int64_t> d = verifyPerHeadInput(*this, getInput());
  if (failed(d) ||
      failed(verifyElementTypes(*this,
                                {{"input", getInput()}, {"up", getUp()}})) ||
      failed(verifyRank(*this, "up", getUp(), 2, "[d, d]")))
    return failure();
  // R15: up, gate and down (one type) are d x d.
  return verifyShape(*this, "up", getUp(), {*d, *d}, "d x d");
}

LogicalResult RMSNormOp::verify() {
  FailureOr<int64_t> d = verifyPerHeadInput(*this, getInput());
  if (failed(d) ||
      failed(verifyElementTypes(
          *this, {{"input", getInput()}, {"weight", getWeight()}})) ||
      failed(verifyRank(*this, "weight", getWeight(), 1, "[d]")) ||
      failed(verifyShape(*this, "weight", getWeight(), {*d}, "d")))
    return failure();
  // R13.
  return verifyPositive(*this, "epsilon", getEpsilon().convertToDouble());
}

LogicalResult RoPEOp::verify() {
  FailureOr<int64_t> d = verifyPerHeadInput(*this, getInput());
  if (failed(d) || failed(verifyElementTypes(*this, {{"input", getInput()}})))
    return failure();
  // R12.
  if (*d % 2 != 0)
    return emitOpError() << "RoPE needs an even head dimension, got d = " << *d;
  if (failed(verifyPositive(*this, "theta", getTheta().convertToDouble())))
    return failure();
  // R30: positions are [B, L].
  if (Value positions = getPositions()) {
    ArrayRef<int64_t> shape = getInput().getType().getShape();
    if (failed(verifyShape(*this, "positions", positions, {shape[0], shape[1]},
                           "B x L")))
      return failure();
  }
  return verifyRoPEScaling(*this, "frequencies", getFrequencies(),
                           "attention_factor", getAttentionFactor(), *d);
}

//===----------------------------------------------------------------------===//
// SDPAOp
//===----------------------------------------------------------------------===//

LogicalResult SDPAOp::verify() {
  Operation *op = getOperation();
  // R16: q, k, v are rank-4 per-head tensors.
  if (failed(verifyRank(op, "query", getQuery(), 4, "[B, L, H, d]")) ||
      failed(verifyRank(op, "key", getKey(), 4, "[B, S, G, d]")) ||
      failed(verifyRank(op, "value", getValue(), 4, "[B, S, G, dv]")) ||
      failed(verifyElementTypes(op, {{"query", getQuery()},
                                     {"key", getKey()},
                                     {"value", getValue()},
                                     {"mask", getMask()},
                                     {"result", getResult()}})))
    return failure();
  ArrayRef<int64_t> q = getQuery().getType().getShape();
  ArrayRef<int64_t> k = getKey().getType().getShape();
  ArrayRef<int64_t> v = getValue().getType().getShape();
  int64_t batch = q[0], len = q[1], heads = q[2], keyLen = k[1], kvHeads = k[2],
          dv = v[3];

  // R17: key and value cover the same batch, positions and heads; the query
  // shares the batch.
  if (!sizesAgree(k[0], batch) || !sizesAgree(v[0], batch))
    return emitOpError() << "query, key and value must have the same batch "
                            "size, got "
                         << formatShape({q[0], k[0], v[0]});
  if (!sizesAgree(v[1], keyLen) || !sizesAgree(v[2], kvHeads))
    return emitOpError() << "key " << formatShape(k) << " and value "
                         << formatShape(v)
                         << " must agree in sequence length and head count";
  // R18: query and key heads have the same width.
  if (!sizesAgree(q[3], k[3]))
    return emitOpError() << "query and key head widths must agree, got " << q[3]
                         << " and " << k[3];
  // R5 (for SDPA): G divides H (G > 0 by R22).
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(kvHeads) &&
      heads % kvHeads != 0)
    return emitOpError() << "the number of key/value heads (" << kvHeads
                         << ") must divide the number of query heads (" << heads
                         << ")";
  // R19: the result is [B, L, H, dv].
  if (failed(verifyRank(op, "result", getResult(), 4, "[B, L, H, dv]")) ||
      failed(verifyShape(op, "result", getResult(), {batch, len, heads, dv},
                         "B x L x H x dv")))
    return failure();
  // R20: an additive mask is [L, S] or [B, H, L, S], where B, H and L may
  // each be 1 (shared along that dimension).
  if (Value mask = getMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (maskType.getRank() == 2) {
      if (failed(verifyShape(op, "mask", mask, {len, keyLen}, "L x S")))
        return failure();
    } else if (maskType.getRank() == 4) {
      SmallVector<int64_t> expected = {batch, heads, len, keyLen};
      for (int64_t i = 0; i < 3; ++i)
        if (maskType.getDimSize(i) == 1)
          expected[i] = 1;
      if (failed(verifyShape(op, "mask", mask, expected,
                             "B x H x L x S, each of B, H, L or 1")))
        return failure();
    } else {
      return emitOpError() << "'mask' must be [L, S] or [B, H, L, S], got rank "
                           << maskType.getRank();
    }
  }
  // R32: the bottom-right alignment is one of the causal mask.
  if (getBottomRight() && !getCausal())
    return emitOpError("'bottom_right' aligns the causal mask and needs "
                       "'causal'");
  // R33: a query offset places the rows on the causal diagonal, in place of
  // the bottom-right alignment.
  if (getQueryOffset() && !getCausal())
    return emitOpError("'query_offset' places query rows on the causal "
                       "diagonal and needs 'causal'");
  if (getQueryOffset() && getBottomRight())
    return emitOpError("'query_offset' and 'bottom_right' both place the "
                       "query rows; give one");
  // R21: a positive scale.
  return verifyPositive(op, "scale", getScale().convertToDouble());
}

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

/// The constant float elements behind `value`, if it is a constant.

OpFoldResult LinearKnockOp::fold(FoldAdaptor) {
  // X I = X: a knock still at its diagonal initialisation does nothing.
  if (isConstantIdentity(getTransform()))
    return getInput();
  return {};
}

OpFoldResult MlpKnockOp::fold(FoldAdaptor) {
  // 2 * ((X I) * sigmoid(X 0)) I = 2 * X * 1/2 = X: the paper's initialisation.
  if (isConstantIdentity(getUp()) && isConstantZero(getGate()) &&
      isConstantIdentity(getDown()))
    return getInput();
  return {};
}

#define GET_OP_CLASSES
#include "kha/Dialect/KHA/IR/KHAOps.cpp.inc"

//===----------------------------------------------------------------------===//
// WarpgroupMmaRegisterAOp
//===----------------------------------------------------------------------===//

LogicalResult WarpgroupMmaRegisterAOp::verify() {
  MemRefType tileB = getDescriptorB().getType().getTensor();
  Type element = getA().getType().getElementType();
  // R23: A and B share one 16-bit element type.
  if (tileB.getElementType() != element)
    return emitOpError() << "A (" << element << ") and B ("
                         << tileB.getElementType()
                         << ") must have the same element type";
  // R24: B is a static K x N tile, K a multiple of 16, N a multiple of 8
  // from 8 to 256 (the wgmma shapes m64nNk16).
  if (tileB.getRank() != 2 || !tileB.hasStaticShape())
    return emitOpError() << "the B tile must be a static K x N memref, got "
                         << tileB;
  int64_t k = tileB.getDimSize(0), n = tileB.getDimSize(1);
  if (k <= 0 || k % 16 || n < 8 || n > 256 || n % 8)
    return emitOpError() << "the B tile must be K x N with K a positive "
                            "multiple of 16 and N a multiple of 8 from 8 to "
                            "256, got "
                         << k << " x " << n;
  // R25: each thread holds K / 2 elements of A and N / 2 of C and D.
  if (getA().getType().getNumElements() != k / 2)
    return emitOpError() << "a " << k << "-deep MMA takes " << k / 2
                         << " elements of A per thread, got "
                         << getA().getType().getNumElements();
  if (getAccumulator().getType().getNumElements() != n / 2)
    return emitOpError() << "an MMA " << n << " columns wide takes " << n / 2
                         << " accumulator registers per thread, got "
                         << getAccumulator().getType().getNumElements();
  return success();
}
