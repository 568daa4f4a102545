//===- EntryPointOwnership.cpp - what a compiled entry point may touch ----===//
//
// A compiled public function is called with the caller's arrays and returns
// arrays the caller owns and frees. On tensors, before bufferization, this
// pass makes both hold: arguments are marked read-only (one-shot
// bufferization then copies before any in-place write instead of writing
// into the caller's input), and a result that would share memory with
// another result, with an argument or with a constant is copied into a fresh
// tensor (freeing it would otherwise free twice, free the caller's input or
// free static memory).
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAENTRYPOINTOWNERSHIPPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// True when `value` would be returned in memory the function does not own:
/// an argument's, a constant's, or another result's (`seen`), directly or
/// through a reshape or slice (which bufferize to views of their source).
bool needsOwnCopy(Value value, llvm::SmallPtrSetImpl<Value> &seen) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp,
             tensor::ExtractSliceOp, tensor::CastOp>(def))
      break;
    value = def->getOperand(0);
  }
  if (!seen.insert(value).second || isa<BlockArgument>(value))
    return true;
  Operation *def = value.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>();
}

struct EntryPointOwnershipPass
    : kha::impl::KHAEntryPointOwnershipPassBase<EntryPointOwnershipPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      OpBuilder builder(func.getContext());
      for (BlockArgument arg : func.getArguments())
        if (isa<TensorType>(arg.getType()))
          func.setArgAttr(
              arg.getArgNumber(),
              bufferization::BufferizationDialect::kWritableAttrName,
              builder.getBoolAttr(false));
      func.walk([&](func::ReturnOp ret) {
        llvm::SmallPtrSet<Value, 4> seen;
        builder.setInsertionPoint(ret);
        for (OpOperand &operand : ret->getOpOperands()) {
          Value value = operand.get();
          auto type = dyn_cast<RankedTensorType>(value.getType());
          if (!type || !needsOwnCopy(value, seen))
            continue;
          Location loc = ret.getLoc();
          Value empty = tensor::EmptyOp::create(
              builder, loc, tensor::getMixedSizes(builder, loc, value),
              type.getElementType());
          operand.set(
              linalg::CopyOp::create(builder, loc, value, empty)->getResult(0));
        }
      });
    }
  }
};
} // namespace
