//===- DuplicateSharedInits.cpp - one fresh tensor per use ----------------===//
//
// CSE merges identical tensor.empty ops, and identical fills of them, into
// one value read by several ops. Bufferisation then gives that value one
// buffer; each op that writes into it in place while another use still
// needs it gets a copy, and where an empty tensor is shared the
// elimination of empty tensors (which computes a value straight into the
// buffer it is later inserted into) can serve only one of its uses. This
// pass gives every use its own tensor.empty, and every use that writes into
// a fill of one its own fill.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHADUPLICATESHAREDINITSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Gives each of `uses` a clone of `op` (single result), made where `op`
/// is (so that its operands dominate it).
void cloneFor(OpBuilder &b, Operation *op, ArrayRef<OpOperand *> uses) {
  b.setInsertionPointAfter(op);
  for (OpOperand *use : uses)
    use->set(b.clone(*op)->getResult(0));
}

SmallVector<OpOperand *> usesOf(Operation *op) {
  return llvm::map_to_vector(op->getResult(0).getUses(),
                             [](OpOperand &use) { return &use; });
}

/// A fill's uses that write into it in place (destination operands) each
/// get their own fill; one of them keeps the original where nothing only
/// reads it. Reads share the original: they need no copy.
void unshareFill(OpBuilder &b, linalg::FillOp fill) {
  SmallVector<OpOperand *> uses = usesOf(fill), writes;
  for (OpOperand *use : uses) {
    auto dps = dyn_cast<DestinationStyleOpInterface>(use->getOwner());
    if (dps && dps.isDpsInit(use))
      writes.push_back(use);
  }
  if (writes.empty())
    return;
  bool reads = writes.size() != uses.size();
  cloneFor(b, fill, reads ? ArrayRef(writes) : ArrayRef(writes).drop_front());
}

struct DuplicateSharedInitsPass
    : kha::impl::KHADuplicateSharedInitsPassBase<DuplicateSharedInitsPass> {
  void runOnOperation() override {
    OpBuilder b(&getContext());
    // Fills first: their clones share the fill's empty tensor, which the
    // second walk then duplicates.
    SmallVector<linalg::FillOp> fills;
    getOperation()->walk([&](linalg::FillOp fill) {
      if (fill.hasPureTensorSemantics() &&
          fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>())
        fills.push_back(fill);
    });
    for (linalg::FillOp fill : fills)
      unshareFill(b, fill);
    SmallVector<tensor::EmptyOp> empties;
    getOperation()->walk(
        [&](tensor::EmptyOp empty) { empties.push_back(empty); });
    for (tensor::EmptyOp empty : empties) {
      SmallVector<OpOperand *> uses = usesOf(empty);
      if (uses.size() > 1)
        cloneFor(b, empty, ArrayRef(uses).drop_front());
    }
  }
};
} // namespace
