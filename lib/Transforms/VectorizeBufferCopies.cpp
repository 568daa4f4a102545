//===- VectorizeBufferCopies.cpp - copies and fills by vector rows -------===//
//
// linalg.copy and linalg.fill on buffers (bufferisation's copies, and the
// fills and copies no tile of the CPU schedule took) as loops over all but
// the innermost dimension, each iteration moving whole vectors along it.
// Lowered by convert-linalg-to-loops, they would move one element at a
// time, on one thread where they are outside the threads' loops.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAVECTORIZEBUFFERCOPIESPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Whether `type` is a buffer of at least one dimension whose innermost is
/// static, longer than one element and of unit stride, of whole bytes (a
/// vector of i1 is packed into bits in memory, a buffer of i1 is not).
bool hasVectorRows(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  if (!memref || memref.getRank() == 0 ||
      !memref.getElementType().isIntOrFloat() ||
      memref.getElementTypeBitWidth() % 8 != 0)
    return false;
  int64_t row = memref.getShape().back();
  if (ShapedType::isDynamic(row) || row < 2)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(memref.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
}

/// Loops over every dimension of `dest` but the innermost; in each, the row
/// in pieces of at most `maxVector` elements: `move(b, indices, piece)`
/// writes the piece that starts at `indices`.
void forEachRowPiece(
    PatternRewriter &rewriter, Location loc, Value dest, int64_t maxVector,
    function_ref<void(OpBuilder &, Location, ValueRange, VectorType)> move) {
  auto type = cast<MemRefType>(dest.getType());
  int64_t rank = type.getRank(), row = type.getShape().back();
  int64_t piece = std::min(row, maxVector);
  int64_t whole = row / piece * piece;
  auto index = [&](int64_t i) {
    return arith::ConstantIndexOp::create(rewriter, loc, i).getResult();
  };
  Value zero = index(0), one = index(1);
  Value pieceSize = index(piece), wholeEnd = index(whole);
  SmallVector<Value> lbs(rank - 1, zero), steps(rank - 1, one), ubs;
  for (int64_t i = 0; i + 1 < rank; ++i)
    ubs.push_back(getValueOrCreateConstantIndexOp(
        rewriter, loc, memref::getMixedSize(rewriter, loc, dest, i)));
  VectorType full = VectorType::get({piece}, type.getElementType());
  scf::buildLoopNest(
      rewriter, loc, lbs, ubs, steps,
      [&](OpBuilder &b, Location l, ValueRange outer) {
        auto at = [&](Value column) {
          SmallVector<Value> indices(outer);
          indices.push_back(column);
          return indices;
        };
        if (whole == piece) {
          move(b, l, at(zero), full);
        } else {
          scf::ForOp::create(
              b, l, zero, wholeEnd, pieceSize, ValueRange{},
              [&](OpBuilder &fb, Location fl, Value column, ValueRange) {
                move(fb, fl, at(column), full);
                scf::YieldOp::create(fb, fl);
              });
        }
        if (whole != row)
          move(b, l, at(wholeEnd),
               VectorType::get({row - whole}, type.getElementType()));
      });
}

/// A piece of a copy's row: read from its source.
Value rowPiece(OpBuilder &b, Location l, linalg::CopyOp op, ValueRange indices,
               VectorType piece) {
  return vector::TransferReadOp::create(b, l, piece, op.getInputs()[0], indices,
                                        /*padding=*/std::nullopt,
                                        SmallVector<bool>{true});
}

/// A piece of a fill's row: its value, broadcast.
Value rowPiece(OpBuilder &b, Location l, linalg::FillOp op, ValueRange,
               VectorType piece) {
  return vector::BroadcastOp::create(b, l, piece, op.getInputs()[0]);
}

/// A copy or fill on buffers whose buffer operands all have vector rows (of
/// the destination's element type), written a piece of a row at a time.
template <typename OpT> struct VectorizeRows : OpRewritePattern<OpT> {
  VectorizeRows(MLIRContext *ctx, int64_t maxVector)
      : OpRewritePattern<OpT>(ctx), maxVector(maxVector) {}
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "not on buffers");
    Value dest = op.getOutputs()[0];
    for (Value operand : op->getOperands())
      if (isa<MemRefType>(operand.getType()) &&
          (!hasVectorRows(operand.getType()) ||
           getElementTypeOrSelf(operand) != getElementTypeOrSelf(dest)))
        return rewriter.notifyMatchFailure(
            op, "needs static, unit-stride rows of one element type");
    forEachRowPiece(
        rewriter, op.getLoc(), dest, maxVector,
        [&](OpBuilder &b, Location l, ValueRange indices, VectorType piece) {
          vector::TransferWriteOp::create(
              b, l, rowPiece(b, l, op, indices, piece), dest, indices,
              SmallVector<bool>{true});
        });
    rewriter.eraseOp(op);
    return success();
  }
  int64_t maxVector;
};

struct VectorizeBufferCopiesPass
    : kha::impl::KHAVectorizeBufferCopiesPassBase<VectorizeBufferCopiesPass> {
  using Base::Base;
  void runOnOperation() override {
    if (maxVectorSize < 1) {
      getOperation()->emitError("max-vector-size must be at least 1");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    kha::populateVectorizeBufferCopiesPatterns(patterns, maxVectorSize);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateVectorizeBufferCopiesPatterns(RewritePatternSet &patterns,
                                                int64_t maxVectorSize) {
  patterns.add<VectorizeRows<linalg::CopyOp>, VectorizeRows<linalg::FillOp>>(
      patterns.getContext(), maxVectorSize);
}
