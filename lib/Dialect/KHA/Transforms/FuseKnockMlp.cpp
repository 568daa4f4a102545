//===- FuseKnockMlp.cpp - the MLP knock in the value projection's epilogue ===//
//
// The MLP knock is tiled over blocks of tokens by the upstream tile-and-fuse
// driver (kha.mlp_knock implements TilingInterface), which fuses the value
// projection into each tile: V exists one block of tokens at a time and
// never makes a round trip through memory. The split into heads
// (tensor.expand_shape) between the two is crossed by upstream's patterns
// that bubble tensor.extract_slice up through reshapes.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/Transforms/Passes.h"

#include "HeadProjection.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAFUSEKNOCKMLPPASS
#include "kha/Dialect/KHA/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

/// For a projection rounded to f16/bf16, the knock on the unrounded heads
/// (its matrices widened to f32), so that the block stays in f32 from the
/// projection through the MLP and is rounded once, after it; else `knock`.
static MlpKnockOp knockOnUnroundedHeads(PatternRewriter &rewriter,
                                        MlpKnockOp knock,
                                        HeadProjection &projection) {
  if (!projection.trunc)
    return knock;
  Location loc = knock.getLoc();
  Type f32 = rewriter.getF32Type();
  auto widen = [&](Value matrix) -> Value {
    auto type = cast<RankedTensorType>(matrix.getType());
    return arith::ExtFOp::create(rewriter, loc, type.clone(f32), matrix);
  };
  auto heads = tensor::ExpandShapeOp::create(
      rewriter, loc, knock.getType().clone(f32), projection.trunc.getIn(),
      projection.expand.getReassociationIndices(),
      projection.expand.getMixedOutputShape());
  return MlpKnockOp::create(rewriter, loc, heads.getType(), heads,
                            widen(knock.getUp()), widen(knock.getGate()),
                            widen(knock.getDown()));
}

/// Replaces the tensor.dim ops of `expand`'s result (the tiling driver
/// asks for the sizes of the heads) by the sizes the reshape was given, so
/// that the reshape, and the projection it reads, can go.
static void resolveDims(RewriterBase &rewriter, tensor::ExpandShapeOp expand) {
  SmallVector<OpFoldResult> shape = expand.getMixedOutputShape();
  for (Operation *user : llvm::make_early_inc_range(expand->getUsers())) {
    auto dim = dyn_cast<tensor::DimOp>(user);
    std::optional<int64_t> index = dim ? dim.getConstantIndex() : std::nullopt;
    if (!index || *index < 0 || *index >= int64_t(shape.size()))
      continue;
    rewriter.setInsertionPoint(dim);
    rewriter.replaceOp(dim, getValueOrCreateConstantIndexOp(
                                rewriter, dim.getLoc(), shape[*index]));
  }
}

LogicalResult kha::fuseKnockMlpIntoProjection(PatternRewriter &rewriter,
                                              MlpKnockOp knock, int64_t rows) {
  FailureOr<HeadProjection> projection =
      matchHeadProjection(knock.getInput(), knock, rewriter);
  if (failed(projection))
    return failure();
  if (!projection->isPlainMatmul())
    return rewriter.notifyMatchFailure(
        knock, "only a plain linalg.matmul projection is blocked by rows");
  rewriter.setInsertionPoint(knock);
  MlpKnockOp consumer = knockOnUnroundedHeads(rewriter, knock, *projection);

  // Tiles of one batch entry, `rows` tokens and all heads; the projection
  // (and its zero fill) fused into each.
  scf::SCFTilingOptions tiling;
  tiling.setTileSizes({rewriter.getIndexAttr(1), rewriter.getIndexAttr(rows),
                       rewriter.getIndexAttr(0)});
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tiling);
  RewritePatternSet cleanup(rewriter.getContext());
  tensor::populateBubbleUpExtractSliceOpPatterns(cleanup);
  options.cleanupPatterns = FrozenRewritePatternSet(std::move(cleanup));
  FailureOr<scf::SCFTileAndFuseResult> fused =
      scf::tileConsumerAndFuseProducersUsingSCF(
          rewriter, cast<TilingInterface>(consumer.getOperation()), options);
  bool projectionFused =
      succeeded(fused) &&
      fused->fusedProducers.contains(projection->contraction.getOperation());
  if (!projectionFused) {
    if (succeeded(fused) && !fused->loops.empty())
      rewriter.eraseOp(fused->loops.front());
    // The sizes the driver asked for are unused now.
    for (Operation *user :
         llvm::make_early_inc_range(consumer.getInput().getUsers()))
      if (isa<tensor::DimOp>(user) && isOpTriviallyDead(user))
        rewriter.eraseOp(user);
    if (consumer != knock) {
      // The unrounded heads and the widened matrices go again.
      llvm::SetVector<Operation *> made;
      for (Value operand : consumer->getOperands())
        if (Operation *op = operand.getDefiningOp())
          made.insert(op);
      rewriter.eraseOp(consumer);
      for (Operation *op : made)
        if (isOpTriviallyDead(op))
          rewriter.eraseOp(op);
    }
    return rewriter.notifyMatchFailure(
        knock, "the projection could not be fused into the knock's tiles");
  }

  Value result = fused->replacements.lookup(consumer.getResult());
  resolveDims(rewriter,
              consumer.getInput().getDefiningOp<tensor::ExpandShapeOp>());
  rewriter.setInsertionPoint(knock);
  if (consumer != knock) {
    result = arith::TruncFOp::create(rewriter, knock.getLoc(), knock.getType(),
                                     result);
    Operation *heads = consumer.getInput().getDefiningOp();
    rewriter.replaceOp(knock, result);
    rewriter.eraseOp(consumer);
    rewriter.eraseOp(heads);
  } else {
    rewriter.replaceOp(knock, result);
  }
  // The driver leaves slices (and sizes) of the untiled projection and its
  // fill behind, unused; then the untiled ops go.
  if (!fused->loops.empty())
    (void)runRegionDCE(rewriter, fused->loops.front()->getRegions());
  Operation *fill = projection->contraction.getDpsInits()[0].getDefiningOp();
  Operation *empty = fill && fill->getNumOperands() > 1
                         ? fill->getOperand(1).getDefiningOp()
                         : nullptr;
  auto eraseDeadUsers = [&](Operation *op) {
    for (Operation *user : llvm::make_early_inc_range(op->getUsers()))
      if (isa<tensor::ExtractSliceOp, tensor::DimOp>(user) &&
          isOpTriviallyDead(user))
        rewriter.eraseOp(user);
  };
  eraseDeadUsers(projection->contraction);
  projection->erase(rewriter);
  for (Operation *op : {fill, empty}) {
    if (!op)
      continue;
    eraseDeadUsers(op);
    if (isOpTriviallyDead(op))
      rewriter.eraseOp(op);
  }
  return success();
}

namespace {
struct FuseKnockMlpPass : kha::impl::KHAFuseKnockMlpPassBase<FuseKnockMlpPass> {
  using Base::Base;
  void runOnOperation() override {
    if (rows <= 0) {
      getOperation()->emitError("kha-fuse-knock-mlp: rows must be positive");
      return signalPassFailure();
    }
    // The knocks as they are before any is tiled (the tiles are knocks
    // too, on the fused projection's tiles, and stay as they are).
    SmallVector<MlpKnockOp> knocks;
    getOperation()->walk([&](MlpKnockOp knock) { knocks.push_back(knock); });
    PatternRewriter rewriter(&getContext());
    for (MlpKnockOp knock : knocks)
      (void)fuseKnockMlpIntoProjection(rewriter, knock, rows);
  }
};
} // namespace
