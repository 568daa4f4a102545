//===- ContractToBF16Dot.cpp - bf16 pair products as vdpbf16ps ------------===//
//
// The kha-contract-to-bf16-dot pass: the vectorised register tiles of the
// bf16 pair contraction (kha-pack-matmul-weights{bf16-pairs}) become
// x86vector.avx512.dot ops, one per row of the tile and per 16 columns.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHACONTRACTTOBF16DOTPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// Elements [offset, offset + size) of the 1-D vector `value` (itself when
/// that is all of it).
Value slice(PatternRewriter &rewriter, Location loc, Value value,
            int64_t offset, int64_t size) {
  if (offset == 0 && cast<VectorType>(value.getType()).getDimSize(0) == size)
    return value;
  return vector::ExtractStridedSliceOp::create(
      rewriter, loc, value, ArrayRef<int64_t>{offset}, ArrayRef<int64_t>{size},
      ArrayRef<int64_t>{1});
}

/// The panel operand `rhs` (vector<1 x K x W x 2>) as one flat vector of
/// K * W * 2 elements. Read whole from a tensor of its own shape (a tile's
/// slice), it is read again through a flat view of that tensor: one load
/// of consecutive elements, where the n-D vector, which LLVM holds as an
/// array of 2-element vectors, would be put together from pieces.
Value flatPanel(PatternRewriter &rewriter, Location loc, Value rhs) {
  auto type = cast<VectorType>(rhs.getType());
  auto flatType =
      VectorType::get({type.getNumElements()}, type.getElementType());
  auto read = rhs.getDefiningOp<vector::TransferReadOp>();
  auto source =
      read ? dyn_cast<RankedTensorType>(read.getBase().getType()) : nullptr;
  bool wholeSource =
      source && source.getShape() == type.getShape() &&
      read.getPermutationMap().isMinorIdentity() && !read.getMask() &&
      llvm::all_of(read.getInBoundsValues(), [](bool b) { return b; }) &&
      llvm::all_of(read.getIndices(),
                   [](Value index) { return isZeroInteger(index); });
  if (!wholeSource)
    return vector::ShapeCastOp::create(rewriter, loc, flatType, rhs);
  ReassociationIndices all =
      llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  Value flat = tensor::CollapseShapeOp::create(
      rewriter, loc, read.getBase(), ArrayRef<ReassociationIndices>{all});
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  return vector::TransferReadOp::create(rewriter, loc, flatType, flat,
                                        ValueRange{zero}, read.getPadding(),
                                        ArrayRef<bool>{true});
}

/// vector.contract A[R, K, 2] x P[1, K, W, 2] into C[R, 1, W] (bf16 into
/// f32): for each step k and row r, the pair A[r, k, :] as one 32-bit value
/// broadcast to every lane, dotted with the panel's W pairs P[0, k, :, :],
/// `lanes` columns (16, 8 or 4) per x86vector.avx512.dot.
struct ContractToBF16Dot : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::ContractionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getKind() != vector::CombiningKind::ADD ||
        isa<vector::MaskOp>(op->getParentOp()))
      return rewriter.notifyMatchFailure(op, "not a plain sum of products");
    if (op.getIndexingMapsArray() !=
        kha::getBF16PairContractionMaps(op.getContext()))
      return rewriter.notifyMatchFailure(op, "not the pair contraction's maps");
    VectorType lhsType = op.getLhsType(), rhsType = op.getRhsType();
    auto accType = dyn_cast<VectorType>(op.getAccType());
    if (!accType || !lhsType.getElementType().isBF16() ||
        !rhsType.getElementType().isBF16() ||
        !accType.getElementType().isF32() || lhsType.isScalable() ||
        rhsType.isScalable() || accType.isScalable())
      return rewriter.notifyMatchFailure(op, "not bf16 x bf16 into f32");
    int64_t rows = lhsType.getDimSize(0), steps = lhsType.getDimSize(1);
    int64_t width = rhsType.getDimSize(2);
    if (lhsType.getDimSize(2) != 2 || rhsType.getDimSize(0) != 1)
      return rewriter.notifyMatchFailure(op, "not pairs of one panel");
    int64_t lanes = width % 16 == 0 ? 16 : width % 8 == 0 ? 8 : 4;
    if (width % lanes != 0)
      return rewriter.notifyMatchFailure(op, "width not a multiple of 4");

    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type(), bf16 = rewriter.getBF16Type(),
         i32 = rewriter.getI32Type();
    auto accChunkType = VectorType::get({lanes}, f32);
    auto pairsType = VectorType::get({2 * lanes}, bf16);
    int64_t chunks = width / lanes;

    // The accumulator, a row of chunks at a time.
    Value acc = op.getAcc();
    SmallVector<SmallVector<Value>> sums(rows);
    for (int64_t r = 0; r < rows; ++r) {
      Value row = vector::ExtractOp::create(rewriter, loc, acc,
                                            ArrayRef<int64_t>{r, 0});
      for (int64_t q = 0; q < chunks; ++q)
        sums[r].push_back(slice(rewriter, loc, row, q * lanes, lanes));
    }
    // The panel's W pairs at each step, flat: lanes columns' pairs per chunk.
    Value flat = flatPanel(rewriter, loc, op.getRhs());
    for (int64_t k = 0; k < steps; ++k) {
      SmallVector<Value> b;
      for (int64_t q = 0; q < chunks; ++q)
        b.push_back(
            slice(rewriter, loc, flat, 2 * (k * width + lanes * q), 2 * lanes));
      for (int64_t r = 0; r < rows; ++r) {
        Value pair = vector::ExtractOp::create(rewriter, loc, op.getLhs(),
                                               ArrayRef<int64_t>{r, k});
        Value word = vector::BitCastOp::create(rewriter, loc,
                                               VectorType::get({1}, i32), pair);
        Value splat = vector::BroadcastOp::create(
            rewriter, loc, VectorType::get({lanes}, i32), word);
        Value a = vector::BitCastOp::create(rewriter, loc, pairsType, splat);
        for (int64_t q = 0; q < chunks; ++q)
          sums[r][q] = x86vector::DotBF16Op::create(rewriter, loc, accChunkType,
                                                    sums[r][q], a, b[q]);
      }
    }
    // The chunks back into the accumulator's shape.
    Value result = acc;
    auto rowType = VectorType::get({width}, f32);
    for (int64_t r = 0; r < rows; ++r) {
      Value row = sums[r][0];
      if (chunks > 1) {
        row = arith::ConstantOp::create(
            rewriter, loc, cast<TypedAttr>(rewriter.getZeroAttr(rowType)));
        for (int64_t q = 0; q < chunks; ++q)
          row = vector::InsertStridedSliceOp::create(
              rewriter, loc, sums[r][q], row, ArrayRef<int64_t>{q * lanes},
              ArrayRef<int64_t>{1});
      }
      result = vector::InsertOp::create(rewriter, loc, row, result,
                                        ArrayRef<int64_t>{r, 0});
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ContractToBF16DotPass
    : kha::impl::KHAContractToBF16DotPassBase<ContractToBF16DotPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateContractToBF16DotPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateContractToBF16DotPatterns(RewritePatternSet &patterns) {
  patterns.add<ContractToBF16Dot>(patterns.getContext());
}
