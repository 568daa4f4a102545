//===- OutlineWeightPreparation.cpp - weight-only work, once per weights --===//
//
// The kha-outline-weight-preparation pass: a public function's computation
// that depends on its `kha.weight` arguments alone moves into
// `@f_prepare`, the rest into `@f_prepared`, and `@f` calls both.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAOUTLINEWEIGHTPREPARATIONPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
/// An op that creates a value from nothing (a constant, a tensor.empty of
/// static shape): cloned wherever it is needed rather than passed around.
bool isRematerializable(Operation *op) {
  return op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         isMemoryEffectFree(op);
}

/// The work worth doing once: a contraction (a linalg op with a reduction),
/// or a packing into the panels a CPU kernel reads (kha-pack-matmul-weights).
/// Casts, copies and transposes of weights are not: done once, they would
/// only pass the weights on in a wider type or another plain layout.
bool isPreparation(Operation *op) {
  if (isa<linalg::PackOp>(op))
    return true;
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  return linalgOp && linalgOp.getNumReductionLoops() > 0;
}

/// True when the op's results have wider elements than its operands (an
/// f16 -> f32 extension): its input is the better value to pass on.
bool isWidening(Operation *op) {
  auto bits = [](Type type) -> unsigned {
    Type element = getElementTypeOrSelf(type);
    return element.isIntOrFloat() ? element.getIntOrFloatBitWidth() : 0;
  };
  unsigned in = 0, out = 0;
  for (Type type : op->getOperandTypes())
    in = std::max(in, bits(type));
  for (Type type : op->getResultTypes())
    out = std::max(out, bits(type));
  return out > in;
}

/// Element count of a statically shaped tensor, or -1.
int64_t staticCount(Type type) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  return shaped && shaped.hasStaticShape() ? shaped.getNumElements() : -1;
}

/// Every value an op reads: its operands and the values its regions use from
/// above.
SmallVector<Value> readValues(Operation *op) {
  SmallVector<Value> values(op->getOperands());
  SetVector<Value> above;
  for (Region &region : op->getRegions())
    getUsedValuesDefinedAbove(region, above);
  values.append(above.begin(), above.end());
  return values;
}

/// What the prepare function computes (ops in program order), what of it
/// leaves the function (the ops reading weights; ops on constants alone,
/// such as a zero fill, are computed on both sides), and the values the rest
/// of the function reads from it.
struct Preparation {
  SetVector<Operation *> ops;
  DenseSet<Operation *> moved;
  SetVector<Value> results;
};

Preparation analyze(func::FuncOp func) {
  Block &body = func.getBody().front();
  DenseSet<Value> invariant, fromWeights;
  int64_t largestWeight = 0;
  for (BlockArgument arg : func.getArguments())
    if (func.getArgAttr(arg.getArgNumber(), kWeightAttrName)) {
      invariant.insert(arg);
      fromWeights.insert(arg);
      largestWeight = std::max(largestWeight, staticCount(arg.getType()));
    }

  // Ops computed from weights and constants alone (a zero-filled
  // accumulator is one, with no weight in it).
  SetVector<Operation *> candidates;
  for (Operation &op : body.without_terminator()) {
    if (isRematerializable(&op)) {
      invariant.insert(op.result_begin(), op.result_end());
      continue;
    }
    if (!isMemoryEffectFree(&op) || op.getNumResults() == 0)
      continue;
    SmallVector<Value> reads = readValues(&op);
    if (!llvm::all_of(reads, [&](Value v) { return invariant.contains(v); }))
      continue;
    candidates.insert(&op);
    invariant.insert(op.result_begin(), op.result_end());
    if (llvm::any_of(reads, [&](Value v) { return fromWeights.contains(v); }))
      fromWeights.insert(op.result_begin(), op.result_end());
  }

  // Roots: contractions and packings of the weights, with results no larger
  // than a weight; then what feeds them.
  auto smallEnough = [&](Operation *op) {
    return llvm::all_of(op->getResultTypes(), [&](Type t) {
      int64_t count = staticCount(t);
      return count >= 0 && count <= largestWeight;
    });
  };
  Preparation prep;
  SmallVector<Operation *> worklist;
  for (Operation *op : candidates)
    if (isPreparation(op) && fromWeights.contains(op->getResult(0)) &&
        smallEnough(op))
      worklist.push_back(op);
  DenseSet<Operation *> taken;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!taken.insert(op).second)
      continue;
    for (Value v : readValues(op))
      if (Operation *def = v.getDefiningOp(); def && candidates.contains(def))
        worklist.push_back(def);
  }
  // Then what the roots' results go through before the rest reads them
  // (rounding to the layer's type, reshapes), so that the prepared values
  // are the final ones, in their narrowest type.
  for (Operation *op : candidates) {
    if (taken.contains(op) || isWidening(op) || !smallEnough(op))
      continue;
    SmallVector<Value> reads = readValues(op);
    // Reads from the roots' side, weights or constants only.
    bool fromTaken = false, available = true;
    for (Value v : reads) {
      Operation *def = v.getDefiningOp();
      if (def && taken.contains(def))
        fromTaken = true;
      else if (def && !isRematerializable(def))
        available = false;
    }
    if (fromTaken && available)
      taken.insert(op);
  }
  for (Operation *op : candidates)
    if (taken.contains(op)) {
      prep.ops.insert(op);
      if (fromWeights.contains(op->getResult(0)))
        prep.moved.insert(op);
    }

  // The values read outside the preparation.
  for (Operation *op : prep.ops) {
    if (!prep.moved.contains(op))
      continue;
    for (Value result : op->getResults())
      for (OpOperand &use : result.getUses()) {
        Operation *user = body.findAncestorOpInBlock(*use.getOwner());
        if (!prep.moved.contains(user))
          prep.results.insert(result);
      }
  }
  return prep;
}

/// Clones the rematerializable op defining `value` (once) when `map` has no
/// value for it yet.
void mapRematerialized(OpBuilder &builder, IRMapping &map, Value value) {
  if (map.contains(value))
    return;
  Operation *def = value.getDefiningOp();
  assert(def && isRematerializable(def) && "a value from outside the split");
  builder.clone(*def, map);
}

LogicalResult outline(func::FuncOp func, SymbolTable &symbols) {
  if (func.isExternal() || !func.isPublic() ||
      func->hasAttr(kPrepareAttrName) || !func.getBody().hasOneBlock())
    return success();
  SmallVector<unsigned> weightIndices;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (func.getArgAttr(i, kWeightAttrName))
      weightIndices.push_back(i);
  if (weightIndices.empty())
    return success();
  Preparation prep = analyze(func);
  if (prep.results.empty())
    return success();

  std::string prepareName = (func.getName() + "_prepare").str();
  std::string preparedName = (func.getName() + "_prepared").str();
  for (StringRef name : {StringRef(prepareName), StringRef(preparedName)})
    if (symbols.lookup(name))
      return func.emitError()
             << "cannot outline the weight preparation of '" << func.getName()
             << "': a symbol named '" << name << "' exists";

  Location loc = func.getLoc();
  MLIRContext *ctx = func.getContext();
  OpBuilder builder(ctx);
  builder.setInsertionPoint(func);
  Block &body = func.getBody().front();
  Location returnLoc = body.getTerminator()->getLoc();
  SmallVector<Value> prepared(prep.results.begin(), prep.results.end());
  TypeRange preparedTypes = ValueRange(prepared).getTypes();

  // @f_prepare(weights...) -> prepared values.
  SmallVector<Type> weightTypes;
  for (unsigned i : weightIndices)
    weightTypes.push_back(func.getArgument(i).getType());
  auto prepare =
      func::FuncOp::create(builder, loc, prepareName,
                           FunctionType::get(ctx, weightTypes, preparedTypes));
  {
    Block *entry = prepare.addEntryBlock();
    IRMapping map;
    for (auto [i, index] : llvm::enumerate(weightIndices)) {
      BlockArgument arg = func.getArgument(index);
      map.map(arg, entry->getArgument(i));
      entry->getArgument(i).setLoc(arg.getLoc());
    }
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    for (Operation *op : prep.ops) {
      for (Value v : readValues(op))
        if (!map.contains(v))
          mapRematerialized(b, map, v);
      b.clone(*op, map);
    }
    SmallVector<Value> results;
    for (Value v : prepared)
      results.push_back(map.lookup(v));
    func::ReturnOp::create(b, loc, results);
  }

  // @f_prepared(args..., prepared...): the rest.
  SmallVector<Type> preparedArgTypes(func.getArgumentTypes());
  llvm::append_range(preparedArgTypes, preparedTypes);
  auto rest = func::FuncOp::create(
      builder, loc, preparedName,
      FunctionType::get(ctx, preparedArgTypes, func.getResultTypes()));
  {
    Block *entry = rest.addEntryBlock();
    IRMapping map;
    unsigned numArgs = func.getNumArguments();
    for (BlockArgument arg : func.getArguments()) {
      map.map(arg, entry->getArgument(arg.getArgNumber()));
      entry->getArgument(arg.getArgNumber()).setLoc(arg.getLoc());
    }
    for (auto [i, v] : llvm::enumerate(prepared)) {
      BlockArgument arg = entry->getArgument(numArgs + i);
      map.map(v, arg);
      arg.setLoc(NameLoc::get(StringAttr::get(ctx, "prepared" + Twine(i)),
                              v.getLoc()));
    }
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    for (Operation &op : body)
      if (!prep.moved.contains(&op))
        b.clone(op, map);
    // What only the preparation read (a view of a weight, a constant) is
    // now dead here.
    SmallVector<Operation *> ops;
    for (Operation &op : entry->without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (isOpTriviallyDead(op))
        op->erase();
  }

  // @f: the two calls.
  SmallVector<Value> weights;
  for (unsigned i : weightIndices)
    weights.push_back(func.getArgument(i));
  SmallVector<Operation *> old;
  for (Operation &op : body)
    old.push_back(&op);
  for (Operation *op : llvm::reverse(old)) {
    op->dropAllUses();
    op->erase();
  }
  OpBuilder b = OpBuilder::atBlockEnd(&body);
  auto callPrepare = func::CallOp::create(b, loc, prepare, weights);
  SmallVector<Value> operands(func.getArguments());
  llvm::append_range(operands, callPrepare.getResults());
  auto callRest = func::CallOp::create(b, loc, rest, operands);
  func::ReturnOp::create(b, returnLoc, callRest.getResults());
  func->setAttr(kPrepareAttrName,
                ArrayAttr::get(ctx, {FlatSymbolRefAttr::get(prepare),
                                     FlatSymbolRefAttr::get(rest)}));
  symbols.insert(prepare);
  symbols.insert(rest);
  return success();
}

struct OutlineWeightPreparationPass
    : kha::impl::KHAOutlineWeightPreparationPassBase<
          OutlineWeightPreparationPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());
    for (func::FuncOp func : funcs)
      if (failed(outline(func, symbols)))
        return signalPassFailure();
  }
};
} // namespace
