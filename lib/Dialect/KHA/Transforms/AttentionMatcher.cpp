//===- AttentionMatcher.cpp - recognise attention in linalg IR ------------===//
//
// Attention written in linalg has many spellings: named or generic
// contractions with transposes anywhere, `linalg.softmax` or its
// decomposition (as MLIR, TOSA or a frontend writes it: fused or separate
// generics, a division or a multiplication by the reciprocal, reductions
// with or without a kept unit dimension), a scale on the scores or on Q or K,
// a causal mask from index comparisons or a constant, GQA by a broadcast.
// Rather than one pattern per spelling, the matcher reads what the
// element-wise ops and row reductions between the two contractions compute,
// as a small expression over the scores, and then checks that expression is
// softmax(scale * scores + mask) with a causal select around it or not.
//
//===----------------------------------------------------------------------===//

#include "AttentionMatcher.h"

#include "kha/Dialect/KHA/Utils/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/DenseMap.h"

#include <cmath>
#include <deque>

using namespace mlir;
using namespace mlir::kha;

namespace {

//===----------------------------------------------------------------------===//
// Expressions over the scores
//===----------------------------------------------------------------------===//

/// An affine function a*i + b*j + c of the query row i and key column j.
struct IndexAffine {
  int64_t i = 0, j = 0, c = 0;
  IndexAffine operator+(const IndexAffine &o) const {
    return {i + o.i, j + o.j, c + o.c};
  }
  IndexAffine operator-(const IndexAffine &o) const {
    return {i - o.i, j - o.j, c - o.c};
  }
  bool nonNegative() const { return i >= 0 && j >= 0 && c >= 0; }
};

/// What an element of a tensor in the scores' iteration space [batch..., L,
/// S] is, in terms of the scores. Full values vary along S; row values
/// (`RowSum`, `RowMax`, tensors without the S dimension) do not.
struct Expr {
  enum Kind {
    Scores,
    Const,
    Tensor, // another tensor: a mask candidate
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Exp,
    Neg,
    RowSum,
    RowMax,
    Softmax,
    Select,
    Cond, // `affine > 0` on the indices (i1)
  } kind;
  double value = 0;   // Const
  Value tensor;       // Tensor
  AffineMap map;      // Tensor: scores dims -> tensor dims
  IndexAffine affine; // Cond: true where affine > 0
  SmallVector<Expr *, 3> operands;
};

bool isCommutative(Expr::Kind kind) {
  return kind == Expr::Add || kind == Expr::Mul || kind == Expr::Max;
}

bool equal(const Expr *a, const Expr *b) {
  if (a == b)
    return true;
  if (a->kind != b->kind || a->operands.size() != b->operands.size())
    return false;
  switch (a->kind) {
  case Expr::Const:
    return a->value == b->value;
  case Expr::Tensor:
    return a->tensor == b->tensor && a->map == b->map;
  case Expr::Cond:
    return a->affine.i == b->affine.i && a->affine.j == b->affine.j &&
           a->affine.c == b->affine.c;
  default:
    break;
  }
  if (llvm::all_of(llvm::zip(a->operands, b->operands), [](auto p) {
        return equal(std::get<0>(p), std::get<1>(p));
      }))
    return true;
  return isCommutative(a->kind) && equal(a->operands[0], b->operands[1]) &&
         equal(a->operands[1], b->operands[0]);
}

bool containsScores(const Expr *e) {
  return e->kind == Expr::Scores ||
         llvm::any_of(e->operands, [](Expr *o) { return containsScores(o); });
}

/// The largest finite value of `type`, or 0 for a non-float type.
double largestFinite(Type type) {
  auto floatType = dyn_cast<FloatType>(type);
  if (!floatType)
    return 0;
  return APFloat::getLargest(floatType.getFloatSemantics()).convertToDouble();
}

/// A value that masks a score: -inf, or a finite value so negative that
/// exp(value - max) is 0 for any max of the type's range.
bool isMaskingValue(double value, Type elementType) {
  return std::isinf(value) ? value < 0
                           : value <= -0.5 * largestFinite(elementType);
}

/// A float constant: an `arith.constant` scalar or splat.
std::optional<double> constantValue(Value v) {
  FloatAttr scalar;
  if (matchPattern(v, m_Constant(&scalar)))
    return scalar.getValueAsDouble();
  DenseFPElementsAttr dense;
  if (matchPattern(v, m_Constant(&dense)) && dense.isSplat())
    return dense.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// Whether `op` is element-wise: every loop parallel, one result written at
/// the identity map, the result's initial value unread.
bool isElementwise(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1 || op->getNumResults() != 1 ||
      op.getNumReductionLoops() != 0)
    return false;
  OpOperand *init = op.getDpsInitOperand(0);
  return op.getMatchingIndexingMap(init).isIdentity() &&
         !op.payloadUsesValueFromOperand(init);
}

/// Reads the element-wise ops and row reductions between the scores and
/// the probabilities as expressions (memoised: a value read twice, as the
/// exponentials are by the sum and the division, is one expression).
class ScoresReader {
public:
  ScoresReader(Value scores, unsigned numBatch)
      : scores(scores), rowDim(numBatch), colDim(numBatch + 1),
        rank(numBatch + 2),
        elementType(cast<ShapedType>(scores.getType()).getElementType()) {}

  /// `v`, a tensor of the scores' shape.
  Expr *full(Value v) { return read(v, /*isFull=*/true); }

  /// `v`, a row value: the scores' shape without S, or with S of size 1.
  Expr *row(Value v) { return read(v, /*isFull=*/false); }

  Type getElementType() const { return elementType; }

private:
  Expr *read(Value v, bool isFull) {
    auto key = std::make_pair(v, int(isFull));
    if (Expr *e = memo.lookup(key))
      return e;
    Expr *e = isFull ? readFull(v) : readRow(v);
    memo[key] = e;
    return e;
  }

  Expr *make(Expr::Kind kind, ArrayRef<Expr *> operands = {}) {
    Expr &e = arena.emplace_back();
    e.kind = kind;
    e.operands.assign(operands.begin(), operands.end());
    return &e;
  }
  Expr *makeConst(double value) {
    Expr *e = make(Expr::Const);
    e->value = value;
    return e;
  }
  Expr *makeTensor(Value v, AffineMap map) {
    Expr *e = make(Expr::Tensor);
    e->tensor = v;
    e->map = map;
    return e;
  }

  AffineMap identity() const {
    return AffineMap::getMultiDimIdentityMap(rank, scores.getContext());
  }

  Expr *readFull(Value v) {
    if (v == scores)
      return make(Expr::Scores);
    if (std::optional<double> c = constantValue(v))
      return makeConst(*c);
    Operation *def = v.getDefiningOp();
    if (auto softmax = dyn_cast_or_null<linalg::SoftmaxOp>(def)) {
      if (softmax.getDimension() != colDim)
        return nullptr;
      Expr *input = full(softmax.getInput());
      return input ? make(Expr::Softmax, {input}) : nullptr;
    }
    auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(def);
    if (!linalgOp || !isElementwise(linalgOp) || linalgOp.getNumLoops() != rank)
      return makeTensor(v, identity());
    // An element-wise op over the scores' space: read its inputs by their
    // maps, then its body.
    SmallVector<Expr *> inputs;
    for (OpOperand *operand : linalgOp.getDpsInputOperands()) {
      Expr *input = readOperand(linalgOp, *operand);
      if (!input)
        return makeTensor(v, identity());
      inputs.push_back(input);
    }
    Expr *body = readBody(linalgOp, inputs, /*inFullSpace=*/true);
    return body ? body : makeTensor(v, identity());
  }

  Expr *readRow(Value v) {
    if (std::optional<double> c = constantValue(v))
      return makeConst(*c);
    Operation *def = v.getDefiningOp();
    // keepdim: the reduced tensor with a unit S dimension appended.
    if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(def)) {
      auto type = expand.getResultType();
      if (type.getRank() != rank || type.getDimSize(colDim) != 1)
        return nullptr;
      SmallVector<ReassociationIndices> groups =
          expand.getReassociationIndices();
      if (groups.size() != rank - 1 ||
          groups.back() != ReassociationIndices{rank - 2, rank - 1})
        return nullptr;
      return row(expand.getSrc());
    }
    auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(def);
    if (!linalgOp)
      return nullptr;
    if (linalgOp.getNumReductionLoops() == 1)
      return readRowReduction(linalgOp);
    if (!isElementwise(linalgOp))
      return nullptr;
    // Element-wise on row values (as a reciprocal of the sums).
    SmallVector<Expr *> inputs;
    for (OpOperand *operand : linalgOp.getDpsInputOperands()) {
      if (!linalgOp.getMatchingIndexingMap(operand).isIdentity())
        return nullptr;
      Expr *input = row(operand->get());
      if (!input)
        return nullptr;
      inputs.push_back(input);
    }
    return readBody(linalgOp, inputs, /*inFullSpace=*/false);
  }

  /// A sum or maximum over S of a full value, initialised with 0 or a
  /// masking value.
  Expr *readRowReduction(linalg::LinalgOp op) {
    if (op.getNumLoops() != rank || op.getNumDpsInputs() != 1 ||
        op.getNumDpsInits() != 1 ||
        op.getIteratorTypesArray()[colDim] != utils::IteratorType::reduction)
      return nullptr;
    OpOperand *input = op.getDpsInputOperand(0);
    OpOperand *init = op.getDpsInitOperand(0);
    if (!op.getMatchingIndexingMap(input).isIdentity() ||
        op.getMatchingIndexingMap(init) != identity().dropResult(colDim))
      return nullptr;
    Block *body = op.getBlock();
    auto yield = cast<linalg::YieldOp>(body->getTerminator());
    Operation *combiner = yield.getOperand(0).getDefiningOp();
    if (!combiner || combiner->getNumOperands() != 2 ||
        combiner->getBlock() != body)
      return nullptr;
    Value in = body->getArgument(0), acc = body->getArgument(1);
    if (!((combiner->getOperand(0) == in && combiner->getOperand(1) == acc) ||
          (combiner->getOperand(0) == acc && combiner->getOperand(1) == in)))
      return nullptr;
    Value initValue = init->get();
    if (auto fill = initValue.getDefiningOp<linalg::FillOp>())
      initValue = fill.getInputs()[0];
    std::optional<double> start = constantValue(initValue);
    if (!start)
      return nullptr;
    Expr::Kind kind;
    if (isa<arith::AddFOp>(combiner) && *start == 0)
      kind = Expr::RowSum;
    else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner) &&
             isMaskingValue(*start, elementType))
      kind = Expr::RowMax;
    else
      return nullptr;
    Expr *operand = full(input->get());
    return operand ? make(kind, {operand}) : nullptr;
  }

  /// An input of an element-wise op, by its indexing map: the scores'
  /// shape, a row value, a constant, or another tensor.
  Expr *readOperand(linalg::LinalgOp op, OpOperand &operand) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    Value v = operand.get();
    if (std::optional<double> c = constantValue(v))
      return makeConst(*c);
    if (!isa<RankedTensorType>(v.getType()))
      return nullptr; // a scalar that is not a constant
    if (map.isIdentity())
      return full(v);
    // The row values' maps: S dropped, or read at 0 from a unit dimension.
    AffineMap dropped = identity().dropResult(colDim);
    if (map == dropped)
      return row(v);
    SmallVector<AffineExpr> keep(dropped.getResults());
    keep.push_back(getAffineConstantExpr(0, v.getContext()));
    if (map == AffineMap::get(rank, 0, keep, v.getContext()))
      return row(v);
    // Anything else read by a projection of the scores' dimensions (and
    // constant 0 on unit dimensions) is a mask candidate.
    for (AffineExpr result : map.getResults()) {
      if (isa<AffineDimExpr>(result))
        continue;
      auto constant = dyn_cast<AffineConstantExpr>(result);
      if (!constant || constant.getValue() != 0)
        return nullptr;
    }
    return makeTensor(v, map);
  }

  /// The expression the body of `op` yields, given its inputs'.
  Expr *readBody(linalg::LinalgOp op, ArrayRef<Expr *> inputs,
                 bool inFullSpace) {
    Block *body = op.getBlock();
    auto yield = cast<linalg::YieldOp>(body->getTerminator());
    DenseMap<Value, Expr *> values;
    for (auto [arg, input] : llvm::zip(body->getArguments(), inputs))
      values[arg] = input;
    return readScalar(yield.getOperand(0), values, body, inFullSpace);
  }

  Expr *readScalar(Value v, DenseMap<Value, Expr *> &values, Block *body,
                   bool inFullSpace) {
    if (Expr *e = values.lookup(v))
      return e;
    if (std::optional<double> c = constantValue(v))
      return makeConst(*c);
    Operation *def = v.getDefiningOp();
    if (!def || def->getBlock() != body)
      return nullptr;
    auto operand = [&](unsigned i) {
      return readScalar(def->getOperand(i), values, body, inFullSpace);
    };
    Expr *result = nullptr;
    if (auto cmp = dyn_cast<arith::CmpIOp>(def)) {
      if (inFullSpace)
        result = readCondition(cmp);
    } else if (auto select = dyn_cast<arith::SelectOp>(def)) {
      Expr *c = operand(0), *t = operand(1), *f = operand(2);
      if (c && t && f && c->kind == Expr::Cond)
        result = make(Expr::Select, {c, t, f});
    } else if (isa<math::ExpOp, arith::NegFOp>(def)) {
      if (Expr *x = operand(0))
        result = make(isa<math::ExpOp>(def) ? Expr::Exp : Expr::Neg, {x});
    } else if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
                   arith::MaximumFOp, arith::MaxNumFOp>(def)) {
      Expr *a = operand(0), *b = operand(1);
      if (a && b) {
        Expr::Kind kind = isa<arith::AddFOp>(def)   ? Expr::Add
                          : isa<arith::SubFOp>(def) ? Expr::Sub
                          : isa<arith::MulFOp>(def) ? Expr::Mul
                          : isa<arith::DivFOp>(def) ? Expr::Div
                                                    : Expr::Max;
        result = make(kind, {a, b});
      }
    }
    if (result)
      values[v] = result;
    return result;
  }

  /// An index comparison as `affine > 0`, where it is affine in the row
  /// and column indices.
  Expr *readCondition(arith::CmpIOp cmp) {
    std::optional<IndexAffine> lhs = readIndex(cmp.getLhs());
    std::optional<IndexAffine> rhs = readIndex(cmp.getRhs());
    if (!lhs || !rhs)
      return nullptr;
    using P = arith::CmpIPredicate;
    P pred = cmp.getPredicate();
    // Unsigned comparisons agree with signed ones where both sides are
    // non-negative: indices with non-negative coefficients and offsets.
    if (pred == P::ugt || pred == P::uge || pred == P::ult || pred == P::ule) {
      if (!lhs->nonNegative() || !rhs->nonNegative())
        return nullptr;
      pred = pred == P::ugt   ? P::sgt
             : pred == P::uge ? P::sge
             : pred == P::ult ? P::slt
                              : P::sle;
    }
    IndexAffine diff = *lhs - *rhs, one{0, 0, 1};
    IndexAffine zero;
    Expr *e = make(Expr::Cond);
    switch (pred) {
    case P::sgt:
      e->affine = diff;
      break; // d > 0
    case P::sge:
      e->affine = diff + one;
      break; // d + 1 > 0
    case P::slt:
      e->affine = zero - diff;
      break; // -d > 0
    case P::sle:
      e->affine = zero - diff + one;
      break; // 1 - d > 0
    default:
      return nullptr;
    }
    return e;
  }

  std::optional<IndexAffine> readIndex(Value v) {
    if (auto index = v.getDefiningOp<linalg::IndexOp>()) {
      if (index.getDim() == rowDim)
        return IndexAffine{1, 0, 0};
      if (index.getDim() == colDim)
        return IndexAffine{0, 1, 0};
      return std::nullopt; // a batch index: not a causal mask
    }
    IntegerAttr constant;
    if (matchPattern(v, m_Constant(&constant)))
      return IndexAffine{0, 0, constant.getInt()};
    Operation *def = v.getDefiningOp();
    if (isa_and_nonnull<arith::IndexCastOp, arith::IndexCastUIOp>(def))
      return readIndex(def->getOperand(0));
    if (isa_and_nonnull<arith::AddIOp, arith::SubIOp>(def)) {
      std::optional<IndexAffine> a = readIndex(def->getOperand(0));
      std::optional<IndexAffine> b = readIndex(def->getOperand(1));
      if (!a || !b)
        return std::nullopt;
      return isa<arith::AddIOp>(def) ? *a + *b : *a - *b;
    }
    return std::nullopt;
  }

  Value scores;
  unsigned rowDim, colDim, rank;
  Type elementType;
  std::deque<Expr> arena;
  DenseMap<std::pair<Value, int>, Expr *> memo; // (value, full?)
};

//===----------------------------------------------------------------------===//
// The softmax and what it is applied to
//===----------------------------------------------------------------------===//

/// softmax(Y) in any of its forms: the op; E / rowsum(E) or E * (1 /
/// rowsum(E)), where E is exp(Y - rowmax(Y)) or exp(Y).
Expr *matchSoftmax(Expr *p) {
  if (p->kind == Expr::Softmax)
    return p->operands[0];
  Expr *numerator = nullptr, *sum = nullptr;
  if (p->kind == Expr::Div) {
    numerator = p->operands[0];
    sum = p->operands[1];
  } else if (p->kind == Expr::Mul) {
    for (unsigned side : {0u, 1u}) {
      Expr *recip = p->operands[side];
      if (recip->kind == Expr::Div && recip->operands[0]->kind == Expr::Const &&
          recip->operands[0]->value == 1.0) {
        numerator = p->operands[1 - side];
        sum = recip->operands[1];
      }
    }
  }
  if (!numerator || !sum || sum->kind != Expr::RowSum ||
      !equal(sum->operands[0], numerator) || numerator->kind != Expr::Exp)
    return nullptr;
  Expr *exponent = numerator->operands[0];
  if (exponent->kind == Expr::Sub &&
      exponent->operands[1]->kind == Expr::RowMax &&
      equal(exponent->operands[1]->operands[0], exponent->operands[0]))
    return exponent->operands[0];
  return exponent; // exp(Y) / sum exp(Y): the same function
}

/// Whether `cond` (true where affine > 0) is exactly j > i.
bool isCausalCondition(const Expr *cond) {
  const IndexAffine &a = cond->affine;
  // b (j - i) + c > 0 with b > 0 is j - i > -c / b: j > i for integers when
  // -b < c <= 0.
  return a.j > 0 && a.i == -a.j && a.c <= 0 && a.c > -a.j;
}

/// Whether `cond` is exactly j <= i (the kept positions).
bool isCausalKeepCondition(const Expr *cond) {
  // true where affine > 0, i.e. masked where -affine + 1 > 0.
  Expr flipped = *cond;
  flipped.affine = IndexAffine{} - cond->affine + IndexAffine{0, 0, 1};
  return isCausalCondition(&flipped);
}

/// A constant tensor that is 0 where j <= i and a masking value where j > i
/// in every batch.
bool isCausalConstant(Value v, AffineMap map, Type elementType) {
  DenseFPElementsAttr dense;
  if (!matchPattern(v, m_Constant(&dense)) || dense.isSplat())
    return false;
  auto type = cast<RankedTensorType>(dense.getType());
  int64_t rank = type.getRank();
  if (rank < 2 || dense.getNumElements() > (1 << 22))
    return false;
  unsigned numDims = map.getNumDims();
  // The tensor's last two dimensions must be the scores' L and S.
  if (map.getNumResults() != rank ||
      map.getResult(rank - 2) !=
          getAffineDimExpr(numDims - 2, v.getContext()) ||
      map.getResult(rank - 1) != getAffineDimExpr(numDims - 1, v.getContext()))
    return false;
  int64_t rows = type.getDimSize(rank - 2), cols = type.getDimSize(rank - 1);
  int64_t index = 0;
  for (APFloat value : dense.getValues<APFloat>()) {
    int64_t j = index % cols, i = (index / cols) % rows;
    ++index;
    double x = value.convertToDouble();
    if (j > i ? !isMaskingValue(x, elementType) : x != 0)
      return false;
  }
  return true;
}

/// Y = scale * scores + mask, with a causal select anywhere in it.
struct LinearScores {
  double scale = 1;
  bool causal = false;
  SmallVector<std::pair<Expr *, double>> masks;
};

bool matchLinear(Expr *y, double factor, LinearScores &out, Type elementType);

/// A term without the scores: an additive mask, or (as an iota select
/// between 0 and a masking value) the causal mask.
bool matchMaskTerm(Expr *term, double factor, LinearScores &out,
                   Type elementType) {
  if (term->kind == Expr::Select && term->operands[0]->kind == Expr::Cond) {
    Expr *cond = term->operands[0], *t = term->operands[1],
         *f = term->operands[2];
    auto isConst = [](Expr *e, auto pred) {
      return e->kind == Expr::Const && pred(e->value);
    };
    auto masking = [&](double x) { return isMaskingValue(x, elementType); };
    auto zero = [](double x) { return x == 0; };
    if ((isCausalCondition(cond) && isConst(t, masking) && isConst(f, zero)) ||
        (isCausalKeepCondition(cond) && isConst(t, zero) &&
         isConst(f, masking))) {
      out.causal = true;
      return true;
    }
    return false;
  }
  if (term->kind == Expr::Tensor) {
    if (isCausalConstant(term->tensor, term->map, elementType) && factor > 0) {
      out.causal = true;
      return true;
    }
    out.masks.push_back({term, factor});
    return true;
  }
  if (term->kind == Expr::Neg)
    return matchMaskTerm(term->operands[0], -factor, out, elementType);
  return false;
}

bool matchLinear(Expr *y, double factor, LinearScores &out, Type elementType) {
  switch (y->kind) {
  case Expr::Scores:
    out.scale = factor;
    return true;
  case Expr::Mul:
  case Expr::Div: {
    Expr *a = y->operands[0], *b = y->operands[1];
    if (y->kind == Expr::Mul && a->kind == Expr::Const)
      std::swap(a, b);
    if (b->kind != Expr::Const || b->value <= 0 || !std::isfinite(b->value))
      return false; // only positive factors keep a causal select valid
    double f = y->kind == Expr::Mul ? b->value : 1 / b->value;
    return matchLinear(a, factor * f, out, elementType);
  }
  case Expr::Add:
  case Expr::Sub: {
    Expr *a = y->operands[0], *b = y->operands[1];
    bool inA = containsScores(a), inB = containsScores(b);
    if (inA == inB || (y->kind == Expr::Sub && inB))
      return false;
    if (inB)
      std::swap(a, b);
    double sign = y->kind == Expr::Sub ? -1 : 1;
    return matchLinear(a, factor, out, elementType) &&
           matchMaskTerm(b, sign * factor, out, elementType);
  }
  case Expr::Select: {
    // select(j > i, masking, Y) or select(j <= i, Y, masking).
    Expr *cond = y->operands[0], *t = y->operands[1], *f = y->operands[2];
    auto masking = [&](Expr *e) {
      return e->kind == Expr::Const && isMaskingValue(e->value, elementType);
    };
    if (isCausalCondition(cond) && masking(t) && containsScores(f)) {
      out.causal = true;
      return matchLinear(f, factor, out, elementType);
    }
    if (isCausalKeepCondition(cond) && masking(f) && containsScores(t)) {
      out.causal = true;
      return matchLinear(t, factor, out, elementType);
    }
    return false;
  }
  default:
    return false;
  }
}

//===----------------------------------------------------------------------===//
// Operands
//===----------------------------------------------------------------------===//

/// Where each of `dims` (loop dimensions) is read in `map`'s results.
std::optional<SmallVector<int64_t>> positionsIn(AffineMap map,
                                                ArrayRef<unsigned> dims) {
  if (!map.isProjectedPermutation() || map.getNumResults() != dims.size())
    return std::nullopt;
  SmallVector<int64_t> positions;
  for (unsigned dim : dims) {
    std::optional<unsigned> position =
        map.getResultPosition(getAffineDimExpr(dim, map.getContext()));
    if (!position)
      return std::nullopt;
    positions.push_back(*position);
  }
  return positions;
}

/// An element-wise op multiplying one tensor by a constant: the tensor and
/// the factor.
std::optional<std::pair<Value, double>> matchConstantScaling(Value v) {
  auto op = v.getDefiningOp<linalg::LinalgOp>();
  if (!op || !isElementwise(op))
    return std::nullopt;
  Value tensor;
  std::optional<double> factor;
  Block *body = op.getBlock();
  DenseMap<Value, Value> argToOperand;
  for (OpOperand *operand : op.getDpsInputOperands())
    argToOperand[body->getArgument(operand->getOperandNumber())] =
        operand->get();
  Operation *root = cast<linalg::YieldOp>(body->getTerminator())
                        .getOperand(0)
                        .getDefiningOp();
  if (!isa_and_nonnull<arith::MulFOp, arith::DivFOp>(root))
    return std::nullopt;
  for (unsigned side : {0u, 1u}) {
    Value x = root->getOperand(side), c = root->getOperand(1 - side);
    if (isa<arith::DivFOp>(root) && side == 1)
      break; // c / x is not a scaling of x
    Value operand = argToOperand.lookup(x);
    if (!operand ||
        !op.getMatchingIndexingMap(
               &op->getOpOperand(cast<BlockArgument>(x).getArgNumber()))
             .isIdentity())
      continue;
    Value constantSource = argToOperand.lookup(c) ? argToOperand.lookup(c) : c;
    if (std::optional<double> k = constantValue(constantSource)) {
      tensor = operand;
      factor = isa<arith::DivFOp>(root) ? 1 / *k : *k;
      break;
    }
  }
  if (!tensor || !factor || !(*factor > 0) || !std::isfinite(*factor))
    return std::nullopt;
  return std::make_pair(tensor, *factor);
}

/// A copy through one indexing map (linalg.transpose, linalg.broadcast, a
/// generic yielding its input): the input and its map.
std::optional<std::pair<Value, AffineMap>> matchCopy(Value v) {
  auto op = v.getDefiningOp<linalg::LinalgOp>();
  if (!op || !isElementwise(op) || op.getNumDpsInputs() != 1)
    return std::nullopt;
  Block *body = op.getBlock();
  if (cast<linalg::YieldOp>(body->getTerminator()).getOperand(0) !=
      body->getArgument(0))
    return std::nullopt;
  OpOperand *input = op.getDpsInputOperand(0);
  return std::make_pair(input->get(), op.getMatchingIndexingMap(input));
}

/// Traces `operand` back through copies (transposes; for keys and values
/// also the repetition of heads on the last batch dimension) and constant
/// scalings, while every role keeps a dimension of its own.
void traceOperand(AttentionOperand &operand, unsigned numBatch,
                  bool allowHeadRepeat) {
  int64_t headRole = numBatch == 2 ? 1 : -1;
  while (true) {
    if (auto scaling = matchConstantScaling(operand.source)) {
      operand.source = scaling->first;
      operand.scale *= scaling->second;
      continue;
    }
    if (auto copy = matchCopy(operand.source)) {
      auto [input, map] = *copy;
      auto inputType = cast<RankedTensorType>(input.getType());
      if (map.getNumResults() != (unsigned)inputType.getRank())
        break;
      SmallVector<int64_t> dims;
      int64_t repeat = 1;
      for (auto [role, dim] : llvm::enumerate(operand.dims)) {
        AffineExpr loop = getAffineDimExpr(dim, map.getContext());
        std::optional<unsigned> position = map.getResultPosition(loop);
        if (!position && allowHeadRepeat && (int64_t)role == headRole) {
          // Heads read as h floordiv r: r query heads per source head.
          for (auto [i, result] : llvm::enumerate(map.getResults())) {
            auto div = dyn_cast<AffineBinaryOpExpr>(result);
            auto r = div ? dyn_cast<AffineConstantExpr>(div.getRHS()) : nullptr;
            if (div && div.getKind() == AffineExprKind::FloorDiv &&
                div.getLHS() == loop && r && r.getValue() > 0) {
              position = i;
              repeat = r.getValue();
            }
          }
        }
        if (!position)
          break;
        dims.push_back(*position);
      }
      // Every input dimension must be some role's.
      if (dims.size() != operand.dims.size() ||
          dims.size() != (size_t)inputType.getRank())
        break;
      operand.source = input;
      operand.dims = dims;
      operand.headRepeat *= repeat;
      continue;
    }
    // Heads repeated by a broadcast of a new dimension next to the
    // key/value heads, collapsed into them.
    auto collapse = operand.source.getDefiningOp<tensor::CollapseShapeOp>();
    if (!collapse || !allowHeadRepeat || headRole < 0)
      break;
    SmallVector<ReassociationIndices> groups =
        collapse.getReassociationIndices();
    int64_t headDim = operand.dims[headRole];
    if (groups[headDim].size() != 2 ||
        llvm::any_of(llvm::enumerate(groups), [&](auto g) {
          return (int64_t)g.index() != headDim && g.value().size() != 1;
        }))
      break;
    auto broadcast = matchCopy(collapse.getSrc());
    if (!broadcast)
      break;
    auto [input, map] = *broadcast;
    auto expandedType = collapse.getSrcType();
    int64_t repeatDim = groups[headDim][1];
    int64_t repeat = expandedType.getDimSize(repeatDim);
    if (ShapedType::isDynamic(repeat) ||
        map.getResultPosition(getAffineDimExpr(repeatDim, map.getContext())))
      break; // the repeat dimension must be broadcast, of a known size
    SmallVector<int64_t> dims;
    for (int64_t dim : operand.dims) {
      std::optional<unsigned> position = map.getResultPosition(
          getAffineDimExpr(groups[dim][0], map.getContext()));
      if (!position)
        break;
      dims.push_back(*position);
    }
    if (dims.size() != operand.dims.size() ||
        (int64_t)map.getNumResults() != (int64_t)dims.size() ||
        cast<RankedTensorType>(input.getType()).getRank() !=
            (int64_t)dims.size())
      break;
    operand.source = input;
    operand.dims = dims;
    operand.headRepeat *= repeat;
  }
}

/// The contraction's dimensions, one each for m, n and k, at most two batch.
FailureOr<linalg::ContractionDimensions> singleContraction(linalg::LinalgOp op,
                                                           std::string &why) {
  if (!linalg::isaContractionOpInterface(op) || op.getNumDpsInputs() != 2) {
    why = "not a contraction";
    return failure();
  }
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || dims->batch.size() > 2) {
    why = "a contraction without one M, N and K dimension";
    return failure();
  }
  if (!isZeroInit(op.getDpsInitOperand(0)->get())) {
    why = "a contraction that accumulates into a non-zero tensor";
    return failure();
  }
  return dims;
}

} // namespace

FailureOr<AttentionMatch> kha::matchAttention(linalg::LinalgOp output,
                                              std::string &why) {
  FailureOr<linalg::ContractionDimensions> outDims =
      singleContraction(output, why);
  if (failed(outDims))
    return failure();
  AttentionMatch match;
  match.output = output;
  match.numBatch = outDims->batch.size();
  unsigned nb = match.numBatch;
  unsigned m = outDims->m[0], n = outDims->n[0], k = outDims->k[0];
  // P reads (batch, m, k) and V (batch, k, n), in either operand order.
  OpOperand *p = output.getDpsInputOperand(0),
            *v = output.getDpsInputOperand(1);
  auto readsDim = [&](OpOperand *operand, unsigned dim) {
    return output.getMatchingIndexingMap(operand)
        .getResultPosition(getAffineDimExpr(dim, output.getContext()))
        .has_value();
  };
  if (!readsDim(p, m))
    std::swap(p, v);
  SmallVector<unsigned> pDims(outDims->batch.begin(), outDims->batch.end());
  pDims.append({m, k});
  std::optional<SmallVector<int64_t>> pPositions =
      positionsIn(output.getMatchingIndexingMap(p), pDims);
  if (!pPositions || !llvm::equal(*pPositions, llvm::seq<int64_t>(0, nb + 2))) {
    why = "the probabilities are not read in [batch..., L, S] order";
    return failure();
  }
  SmallVector<unsigned> vDims(outDims->batch.begin(), outDims->batch.end());
  vDims.append({k, n});
  std::optional<SmallVector<int64_t>> vPositions =
      positionsIn(output.getMatchingIndexingMap(v), vDims);
  SmallVector<unsigned> oDims(outDims->batch.begin(), outDims->batch.end());
  oDims.append({m, n});
  std::optional<SmallVector<int64_t>> oPositions = positionsIn(
      output.getMatchingIndexingMap(output.getDpsInitOperand(0)), oDims);
  if (!vPositions || !oPositions) {
    why = "values or output not read as a permutation";
    return failure();
  }
  match.value = {v->get(), *vPositions};
  match.outputDims = *oPositions;

  // The scores: the contraction whose result the probabilities are
  // computed from. Find it by walking up from P to the first contraction.
  Value probabilities = p->get();
  linalg::LinalgOp scoresOp;
  SmallVector<Value> worklist = {probabilities};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!worklist.empty() && !scoresOp) {
    Operation *def = worklist.pop_back_val().getDefiningOp();
    if (!def || !seen.insert(def).second || seen.size() > 64)
      continue;
    auto linalgOp = dyn_cast<linalg::LinalgOp>(def);
    if (linalgOp && linalg::isaContractionOpInterface(linalgOp)) {
      scoresOp = linalgOp;
      break;
    }
    if (isa<linalg::LinalgOp, linalg::SoftmaxOp, tensor::ExpandShapeOp>(def))
      for (Value operand : def->getOperands())
        worklist.push_back(operand);
  }
  if (!scoresOp) {
    why = "no contraction computes the scores";
    return failure();
  }
  FailureOr<linalg::ContractionDimensions> sDims =
      singleContraction(scoresOp, why);
  if (failed(sDims))
    return failure();
  if (sDims->batch.size() != nb) {
    why = "the two contractions have different batch dimensions";
    return failure();
  }
  match.scores = scoresOp;
  unsigned sm = sDims->m[0], sn = sDims->n[0], sk = sDims->k[0];
  SmallVector<unsigned> scoreDims(sDims->batch.begin(), sDims->batch.end());
  scoreDims.append({sm, sn});
  std::optional<SmallVector<int64_t>> scorePositions = positionsIn(
      scoresOp.getMatchingIndexingMap(scoresOp.getDpsInitOperand(0)),
      scoreDims);
  if (!scorePositions ||
      !llvm::equal(*scorePositions, llvm::seq<int64_t>(0, nb + 2))) {
    why = "the scores are not written in [batch..., L, S] order";
    return failure();
  }
  OpOperand *q = scoresOp.getDpsInputOperand(0),
            *kOperand = scoresOp.getDpsInputOperand(1);
  if (!scoresOp.getMatchingIndexingMap(q).getResultPosition(
          getAffineDimExpr(sm, scoresOp.getContext())))
    std::swap(q, kOperand);
  SmallVector<unsigned> qDims(sDims->batch.begin(), sDims->batch.end());
  qDims.append({sm, sk});
  SmallVector<unsigned> kDims(sDims->batch.begin(), sDims->batch.end());
  kDims.append({sn, sk});
  std::optional<SmallVector<int64_t>> qPositions =
      positionsIn(scoresOp.getMatchingIndexingMap(q), qDims);
  std::optional<SmallVector<int64_t>> kPositions =
      positionsIn(scoresOp.getMatchingIndexingMap(kOperand), kDims);
  if (!qPositions || !kPositions) {
    why = "query or key not read as a permutation";
    return failure();
  }
  match.query = {q->get(), *qPositions};
  match.key = {kOperand->get(), *kPositions};

  // One element type throughout.
  Type elementType = getElementTypeOrSelf(probabilities.getType());
  for (Value x : SmallVector<Value>{match.query.source, match.key.source,
                                    match.value.source, scoresOp->getResult(0),
                                    output->getResult(0)})
    if (getElementTypeOrSelf(x.getType()) != elementType ||
        !isa<FloatType>(elementType)) {
      why = "mixed or non-float element types";
      return failure();
    }

  // What P is, in terms of the scores.
  ScoresReader reader(scoresOp->getResult(0), nb);
  Expr *expr = reader.full(probabilities);
  Expr *y = expr ? matchSoftmax(expr) : nullptr;
  if (!y) {
    why = "the probabilities are not a softmax over S of the scores";
    return failure();
  }
  LinearScores linear;
  if (!matchLinear(y, 1.0, linear, elementType)) {
    why = "the softmax's input is not scale * scores + mask";
    return failure();
  }
  if (linear.masks.size() > 1) {
    why = "more than one additive mask";
    return failure();
  }
  if (!linear.masks.empty())
    match.mask =
        AttentionMask{linear.masks[0].first->tensor, linear.masks[0].first->map,
                      linear.masks[0].second};

  // Q, K and V traced back to their sources; K and V must repeat their
  // heads alike, or neither is traced through the repetition.
  AttentionOperand query = match.query, key = match.key, value = match.value;
  traceOperand(query, nb, /*allowHeadRepeat=*/false);
  traceOperand(key, nb, true);
  traceOperand(value, nb, true);
  if (key.headRepeat != value.headRepeat) {
    key = match.key;
    value = match.value;
    traceOperand(key, nb, false);
    traceOperand(value, nb, false);
  }
  if (value.scale != 1.0) {
    why = "the values are scaled";
    return failure();
  }
  match.query = query;
  match.key = key;
  match.value = value;
  match.scale = linear.scale * query.scale * key.scale;
  match.causal = linear.causal;
  if (!(match.scale > 0) || !std::isfinite(match.scale)) {
    why = "the scale is not positive";
    return failure();
  }
  return match;
}
