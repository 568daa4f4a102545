//===- FreeIntermediateBuffers.cpp - dealloc after the last use -----------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFREEINTERMEDIATEBUFFERSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct FreeIntermediateBuffersPass
    : kha::impl::KHAFreeIntermediateBuffersPassBase<
          FreeIntermediateBuffersPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func.getBody().hasOneBlock())
      return;
    Block &body = func.getBody().front();
    // The buffers this function owns: its allocations, and the buffers that
    // calls to the module's functions return (a function's results are its
    // caller's, as for the entry points).
    SmallVector<Value> buffers;
    for (Operation &op : body) {
      if (auto alloc = dyn_cast<memref::AllocOp>(op))
        buffers.push_back(alloc.getResult());
      if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr());
        if (callee && !callee.isExternal())
          for (Value result : call.getResults())
            if (isa<MemRefType>(result.getType()))
              buffers.push_back(result);
      }
    }
    for (Value buffer : buffers) {
      Operation *def = buffer.getDefiningOp();
      // Every op using the buffer or a view of it, as an op of `body`.
      Operation *last = def;
      bool escapes = false;
      SmallVector<Value> worklist = {buffer};
      while (!worklist.empty() && !escapes) {
        Value value = worklist.pop_back_val();
        for (OpOperand &use : value.getUses()) {
          Operation *user = use.getOwner();
          if (isa<func::ReturnOp>(user)) {
            escapes = true;
            break;
          }
          if (auto view = dyn_cast<ViewLikeOpInterface>(user))
            if (view.getViewSource() == value)
              for (Value result : user->getResults())
                worklist.push_back(result);
          // A TMA tensor map refers to the buffer: kernels that take it
          // read the buffer.
          if (auto map = dyn_cast<nvgpu::TmaCreateDescriptorOp>(user))
            worklist.push_back(map.getTensorMap());
          Operation *top = body.findAncestorOpInBlock(*user);
          if (!top) {
            escapes = true; // used outside this block: keep it
            break;
          }
          if (last->isBeforeInBlock(top))
            last = top;
        }
      }
      if (escapes)
        continue;
      OpBuilder builder(last->getContext());
      builder.setInsertionPointAfter(last);
      memref::DeallocOp::create(builder, def->getLoc(), buffer);
    }
  }
};
} // namespace
