//===- DuplicateSharedInits.cpp - one fresh tensor per use ----------------===//
//
// CSE merges identical tensor.empty ops, and identical fills of them, into
// one value read by several ops. Bufferisation then gives that value one
// buffer; each op that writes into it in place while another use still
// needs it gets a copy, and where an empty tensor is shared the
// elimination of empty tensors (which computes a value straight into the
// buffer it is later inserted into) can serve only one of its uses. This
// pass gives every use its own tensor.empty, and its own fill of one.
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
/// Gives every use of `op`'s single result but the first a clone of `op`,
/// made where `op` is (so that its operands dominate it).
void duplicatePerUse(OpBuilder &b, Operation *op) {
  SmallVector<OpOperand *> uses = llvm::map_to_vector(
      op->getResult(0).getUses(), [](OpOperand &use) { return &use; });
  b.setInsertionPointAfter(op);
  for (OpOperand *use : llvm::drop_begin(uses))
    use->set(b.clone(*op)->getResult(0));
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
      duplicatePerUse(b, fill);
    SmallVector<tensor::EmptyOp> empties;
    getOperation()->walk(
        [&](tensor::EmptyOp empty) { empties.push_back(empty); });
    for (tensor::EmptyOp empty : empties)
      duplicatePerUse(b, empty);
  }
};
} // namespace
