//===- Manifest.cpp - describe public functions for the runner ------------===//
//
// The manifest is line-based text so that kha-run, which links no MLIR or
// LLVM library, reads it with a few lines of C++:
//
//   kha-manifest 1
//   device cpu
//   function kha_layer
//   arg x f32 3 -1 -1 512        name, element type, rank, sizes (-1: dynamic)
//   inout k_cache f32 4 -1 -1 4 64
//                                an argument the function updates in place
//   scalar cache_length i64      an argument passed by value
//   result y f32 3 -1 -1 512
//   same 0.0 1.0 2.0             dynamic sizes (argument.dimension) that
//                                must be equal
//   fits 9 0.1 7.1               scalar argument 9 is at least 0, and at
//                                most size 7.1 - size 0.1 (a cache length:
//                                the new tokens must fit in the cache)
//   prepare kha_layer_prepare kha_layer_prepared 1 2 3 4
//                                the weight-only work, outlined: call the
//                                first with these arguments once, then the
//                                second with all arguments followed by the
//                                first's results
//   end
//
//===----------------------------------------------------------------------===//

#include "kha/Compiler/Compiler.h"

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/raw_ostream.h"
#include <cctype>

using namespace mlir;

/// The runner's name for a supported element type, or "".
static StringRef elementTypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isInteger(64))
    return "i64";
  return "";
}

/// Appends `arg|result name type rank sizes...` for one argument or result.
static LogicalResult describe(func::FuncOp func, bool isResult, unsigned index,
                              StringRef name, Type type,
                              llvm::raw_ostream &os) {
  if (!isResult && type.isInteger(64)) {
    os << "scalar " << name << " i64\n";
    return success();
  }
  auto shaped = dyn_cast<ShapedType>(type);
  StringRef element =
      shaped && shaped.hasRank() && isa<TensorType, MemRefType>(shaped)
          ? elementTypeName(shaped.getElementType())
          : "";
  if (element.empty())
    return func.emitError() << "public function '" << func.getName() << "' "
                            << (isResult ? "result" : "argument") << " #"
                            << index << " has type " << type
                            << "; compiled functions take and return ranked "
                               "tensors or memrefs of f32, f16, bf16 or i64 "
                               "(and take i64 scalars)";
  // A memref argument is the caller's buffer, which the function may write.
  StringRef kind = isResult                ? "result "
                   : isa<MemRefType>(type) ? "inout "
                                           : "arg ";
  os << kind << name << " " << element << " " << shaped.getRank();
  for (int64_t size : shaped.getShape())
    os << " " << (ShapedType::isDynamic(size) ? -1 : size);
  os << "\n";
  return success();
}

/// True for a C identifier: the function is called through the C symbol
/// `_mlir_ciface_<name>` (by kha-run, dlsym, ctypes) and named on one
/// manifest line.
static bool isCIdentifier(StringRef name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())))
    return false;
  return llvm::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// An argument's name as one manifest word: anything but letters, digits,
/// `_`, `.` and `-` (spaces, newlines, ...) becomes `_`.
static std::string manifestWord(StringRef name) {
  std::string word;
  for (char c : name)
    word += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    c == '.' || c == '-'
                ? c
                : '_';
  return word.empty() ? "_" : word;
}

/// The dynamic sizes of `func`'s arguments that its kha ops require to be
/// equal, as groups of (argument, dimension): the batch of queries, keys and
/// values, the key/value length, ... A caller that passes sizes that differ
/// within a group would make the kernels read outside the smaller buffer, so
/// the runner checks them before calling. Only the kha ops' own relations are
/// derived (and shape-preserving elementwise ops); other ops add none.
kha::EqualSizes kha::equalDynamicSizes(func::FuncOp func) {
  using Dim = std::pair<const void *, int64_t>;
  llvm::EquivalenceClasses<Dim> classes;
  auto dim = [](Value value, int64_t i) {
    return Dim{value.getAsOpaquePointer(), i};
  };
  auto same = [&](Value a, int64_t i, Value b, int64_t j) {
    classes.unionSets(dim(a, i), dim(b, j));
  };
  auto sameShape = [&](Value a, Value b) {
    auto ta = dyn_cast<ShapedType>(a.getType());
    auto tb = dyn_cast<ShapedType>(b.getType());
    if (ta && tb && ta.hasRank() && tb.hasRank() &&
        ta.getRank() == tb.getRank())
      for (int64_t i = 0; i < ta.getRank(); ++i)
        same(a, i, b, i);
  };
  func.walk([&](Operation *op) {
    if (auto sdpa = dyn_cast<kha::SDPAOp>(op)) {
      Value q = sdpa.getQuery(), k = sdpa.getKey(), v = sdpa.getValue();
      same(q, 0, k, 0);
      same(q, 0, v, 0);
      same(k, 1, v, 1);
      same(k, 2, v, 2);
      same(q, 3, k, 3);
      Value out = sdpa.getResult();
      for (int64_t i = 0; i < 3; ++i)
        same(q, i, out, i);
      same(v, 3, out, 3);
      sameShape(sdpa.getInit(), out);
      if (Value mask = sdpa.getMask()) {
        auto rank = cast<RankedTensorType>(mask.getType()).getRank();
        if (rank == 2) {
          same(mask, 0, q, 1);
          same(mask, 1, k, 1);
        } else if (rank == 4) {
          // A size-1 dimension is shared (broadcast), not equal.
          auto shape = cast<RankedTensorType>(mask.getType()).getShape();
          if (shape[0] != 1)
            same(mask, 0, q, 0);
          if (shape[1] != 1)
            same(mask, 1, q, 2);
          if (shape[2] != 1)
            same(mask, 2, q, 1);
          same(mask, 3, k, 1);
        }
      }
      return;
    }
    // Positions and attention masks are [B, L] of the block's input (or the
    // rotated heads).
    auto sameTokens = [&](Value tokens, Value perToken) {
      if (perToken) {
        same(tokens, 0, perToken, 0);
        same(tokens, 1, perToken, 1);
      }
    };
    if (auto block = dyn_cast<kha::AttentionBlockOp>(op)) {
      Value x = block.getInput();
      sameTokens(x, block.getPositions());
      sameShape(x, block.getResult());
      if (!block.hasKVCache()) {
        sameTokens(x, block.getAttentionMask());
        return;
      }
      // Caches [B, S, G, d] of the input's batch; with a cache the mask is
      // [B, S].
      Value kCache = block.getKCache(), vCache = block.getVCache();
      same(x, 0, kCache, 0);
      sameShape(kCache, vCache);
      for (auto [cache, updated] :
           llvm::zip(ValueRange{kCache, vCache}, block.getUpdatedCaches()))
        sameShape(cache, updated);
      if (Value mask = block.getAttentionMask()) {
        same(mask, 0, x, 0);
        same(mask, 1, kCache, 1);
      }
      return;
    }
    // A tensor seen in a buffer, and a tensor stored into one.
    if (auto toTensor = dyn_cast<bufferization::ToTensorOp>(op)) {
      sameShape(toTensor.getBuffer(), toTensor.getResult());
      return;
    }
    if (auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(op)) {
      sameShape(store.getSource(), store.getDest());
      return;
    }
    if (auto rope = dyn_cast<kha::RoPEOp>(op))
      sameTokens(rope.getInput(), rope.getPositions());
    // The other kha ops keep their input's shape.
    if (op->getName().getDialectNamespace() == "kha" &&
        op->getNumResults() == 1 && op->getNumOperands() >= 1) {
      sameShape(op->getOperand(0), op->getResult(0));
      return;
    }
    if (op->hasTrait<OpTrait::SameOperandsAndResultShape>())
      for (Value operand : op->getOperands())
        for (Value result : op->getResults())
          sameShape(operand, result);
  });
  // Group the arguments' dynamic sizes by class.
  llvm::MapVector<Dim, SmallVector<std::pair<unsigned, int64_t>>> groups;
  for (BlockArgument arg : func.getArguments()) {
    auto type = dyn_cast<ShapedType>(arg.getType());
    if (!type || !type.hasRank())
      continue;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i))
        groups[classes.getOrInsertLeaderValue(dim(arg, i))].push_back(
            {arg.getArgNumber(), i});
  }
  EqualSizes result;
  for (auto &[leader, members] : groups)
    if (members.size() > 1)
      result.push_back(members);
  return result;
}

/// The function argument `value` is, looking through a buffer seen as a
/// tensor; null if it is none.
static BlockArgument asArgument(Value value) {
  if (auto toTensor = value.getDefiningOp<bufferization::ToTensorOp>())
    value = toTensor.getBuffer();
  return dyn_cast<BlockArgument>(value);
}

SmallVector<kha::CacheBound> kha::cacheBounds(func::FuncOp func) {
  SmallVector<CacheBound> bounds;
  func.walk([&](kha::AttentionBlockOp block) {
    if (!block.hasKVCache())
      return;
    BlockArgument length = asArgument(block.getCacheLength()),
                  input = asArgument(block.getInput()),
                  cache = asArgument(block.getKCache());
    if (length && input && cache &&
        length.getOwner()->getParentOp() == func.getOperation() &&
        input.getOwner() == length.getOwner() &&
        cache.getOwner() == length.getOwner())
      bounds.push_back({length.getArgNumber(),
                        {input.getArgNumber(), 1},
                        {cache.getArgNumber(), 1}});
  });
  return bounds;
}

kha::SizeRelations kha::sizeRelations(func::FuncOp func) {
  return {equalDynamicSizes(func), cacheBounds(func)};
}

FailureOr<std::string>
kha::buildManifest(ModuleOp module, StringRef device,
                   const llvm::StringMap<SizeRelations> *known) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "kha-manifest 1\ndevice " << device << "\n";
  unsigned count = 0;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    ++count;
    if (!isCIdentifier(func.getName()))
      return func.emitError()
             << "public function '" << func.getName()
             << "' cannot be exported: its name must be a C identifier "
                "(letters, digits and '_', not starting with a digit)";
    os << "function " << func.getName() << "\n";
    for (auto [index, arg] : llvm::enumerate(func.getArguments())) {
      std::string name = "arg" + std::to_string(index);
      if (auto loc = dyn_cast<NameLoc>(arg.getLoc()))
        name = manifestWord(loc.getName().strref());
      if (failed(describe(func, false, index, name, arg.getType(), os)))
        return failure();
    }
    for (auto [index, type] : llvm::enumerate(func.getResultTypes())) {
      std::string name = "result" + std::to_string(index);
      if (failed(describe(func, true, index, name, type, os)))
        return failure();
    }
    // `same ARG.DIM ARG.DIM ...`: dynamic sizes the caller must make equal.
    // Relations derived before the kha ops were expanded hold for the
    // function and for the prepared function, whose first arguments are
    // the function's.
    SizeRelations relations = sizeRelations(func);
    if (known) {
      StringRef from = func.getName();
      for (auto other : module.getOps<func::FuncOp>())
        if (auto pair = other->getAttrOfType<ArrayAttr>(kha::kPrepareAttrName))
          if (cast<FlatSymbolRefAttr>(pair[1]).getValue() == func.getName())
            from = other.getName();
      auto it = known->find(from);
      if (it != known->end())
        relations = it->second;
    }
    for (const auto &group : relations.equal) {
      os << "same";
      for (auto [arg, d] : group)
        os << " " << arg << "." << d;
      os << "\n";
    }
    // `fits LENGTH ARG.DIM ARG.DIM`: 0 <= length <= capacity - new tokens.
    for (const CacheBound &bound : relations.cacheBounds)
      os << "fits " << bound.length << " " << bound.tokens.first << "."
         << bound.tokens.second << " " << bound.capacity.first << "."
         << bound.capacity.second << "\n";
    // `prepare PREPARE PREPARED WEIGHT...`: kha-outline-weight-preparation.
    if (auto pair = func->getAttrOfType<ArrayAttr>(kha::kPrepareAttrName)) {
      os << "prepare";
      for (Attribute name : pair)
        os << " " << cast<FlatSymbolRefAttr>(name).getValue();
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (func.getArgAttr(i, kha::kWeightAttrName))
          os << " " << i;
      os << "\n";
    }
    os << "end\n";
  }
  if (count == 0)
    return module.emitError("the module has no public function to compile");
  return text;
}
