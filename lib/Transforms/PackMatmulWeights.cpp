//===- PackMatmulWeights.cpp - weight matrices in column panels -----------===//
//
// The kha-pack-matmul-weights pass: a linalg.matmul whose right operand is
// computed from weights alone reads that operand as contiguous panels of
// `panel-width` columns, packed once (by linalg.pack, which
// kha-outline-weight-preparation moves into the prepare function) or, for a
// constant, at compile time.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "kha/Dialect/KHA/IR/KHADialect.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/SetVector.h"

#include <cstring>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAPACKMATMULWEIGHTSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// True when `root` is computed by side-effect-free ops from constants and
/// the `kha.weight` arguments of its function alone: a value that is the
/// same on every call with the same weights.
bool isWeightDerived(Value root) {
  SmallVector<Value> worklist{root};
  DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
      if (!func || arg.getOwner() != &func.getFunctionBody().front() ||
          !func.getArgAttr(arg.getArgNumber(), kha::kWeightAttrName))
        return false;
      continue;
    }
    Operation *def = value.getDefiningOp();
    if (!isMemoryEffectFree(def))
      return false;
    llvm::append_range(worklist, def->getOperands());
    SetVector<Value> above;
    for (Region &region : def->getRegions())
      getUsedValuesDefinedAbove(region, above);
    llvm::append_range(worklist, above);
  }
  return true;
}

/// The first panels x width columns of the K x N constant `matrix` as
/// K x width panels, each contiguous: element [k, j * width + c] moves to
/// [j, k, c].
DenseElementsAttr packConstant(DenseElementsAttr matrix,
                               RankedTensorType packedType) {
  if (matrix.isSplat())
    return DenseElementsAttr::get(packedType,
                                  matrix.getSplatValue<Attribute>());
  int64_t panels = packedType.getDimSize(0), k = packedType.getDimSize(1),
          width = packedType.getDimSize(2);
  int64_t n = cast<ShapedType>(matrix.getType()).getDimSize(1);
  size_t bytes = matrix.getElementType().getIntOrFloatBitWidth() / 8;
  ArrayRef<char> source = matrix.getRawData();
  std::vector<char> packed(panels * k * width * bytes);
  size_t row = n * bytes, chunk = width * bytes;
  for (int64_t j = 0; j < panels; ++j)
    for (int64_t r = 0; r < k; ++r)
      std::memcpy(&packed[(j * k + r) * chunk], &source[r * row + j * chunk],
                  chunk);
  return DenseElementsAttr::getFromRawBuffer(packedType, packed);
}

/// C = A B with B (K x N) from weights becomes
///   C' = contract(A, pack(B)) over (m, j, c, k):
///        C'[m, j, c] += A[m, k] * P[j, k, c],   P[j, k, c] = B[k, j w + c]
/// with C' the M x N/w x w view of C. A register tile of w columns then
/// reads P[j, k, :] for consecutive k from one contiguous K x w panel
/// instead of rows N elements apart. Columns past the last whole panel
/// stay a matmul on the slices of B and C.
struct PackWeightPanels : OpRewritePattern<linalg::MatmulOp> {
  PackWeightPanels(MLIRContext *context, int64_t width)
      : OpRewritePattern(context), width(width) {}

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "not on tensors");
    if (op.getIndexingMapsArray() !=
        linalg::MatmulOp::getDefaultIndexingMaps(op.getContext()))
      return rewriter.notifyMatchFailure(op, "transposed or broadcast maps");
    Value a = op.getInputs()[0], b = op.getInputs()[1], c = op.getOutputs()[0];
    auto bType = cast<RankedTensorType>(b.getType());
    auto cType = cast<RankedTensorType>(c.getType());
    Type element = cType.getElementType();
    if (getElementTypeOrSelf(a.getType()) != element ||
        bType.getElementType() != element || !element.isIntOrFloat() ||
        element.getIntOrFloatBitWidth() % 8 != 0)
      return rewriter.notifyMatchFailure(
          op, "mixed, sub-byte or non-scalar elements");
    if (!bType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic weight shape");
    int64_t k = bType.getDimSize(0), n = bType.getDimSize(1);
    // One panel is already contiguous.
    int64_t panels = n / width, full = panels * width;
    if (panels < 2)
      return rewriter.notifyMatchFailure(op, "fewer than two panels");
    if (!isWeightDerived(b))
      return rewriter.notifyMatchFailure(op, "right operand not from weights");

    Location loc = op.getLoc();
    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    OpFoldResult rows = tensor::getMixedSize(rewriter, loc, c, 0);
    auto columns = [&](Value matrix, OpFoldResult height, int64_t from,
                       int64_t count) -> Value {
      return tensor::ExtractSliceOp::create(
          rewriter, loc, matrix, {zero, rewriter.getIndexAttr(from)},
          {height, rewriter.getIndexAttr(count)}, {one, one});
    };
    Value bPanels =
        full == n ? b : columns(b, rewriter.getIndexAttr(k), 0, full);
    Value cPanels = full == n ? c : columns(c, rows, 0, full);

    auto packedType = RankedTensorType::get({panels, k, width}, element);
    Value packed;
    DenseElementsAttr constant;
    if (matchPattern(b, m_Constant(&constant))) {
      packed = arith::ConstantOp::create(rewriter, loc,
                                         packConstant(constant, packedType));
    } else {
      Value dest = tensor::EmptyOp::create(rewriter, loc, packedType.getShape(),
                                           element);
      packed = linalg::PackOp::create(
          rewriter, loc, bPanels, dest, /*innerDimsPos=*/{1},
          /*innerTiles=*/{rewriter.getIndexAttr(width)},
          /*paddingValue=*/std::nullopt, /*outerDimsPerm=*/{1, 0});
    }

    SmallVector<ReassociationIndices> panelsOfRow = {{0}, {1, 2}};
    auto viewType =
        RankedTensorType::get({cType.getDimSize(0), panels, width}, element);
    Value view = tensor::ExpandShapeOp::create(rewriter, loc, viewType, cPanels,
                                               panelsOfRow);
    MLIRContext *ctx = op.getContext();
    AffineExpr m, j, col, red;
    bindDims(ctx, m, j, col, red);
    auto map = [&](ArrayRef<AffineExpr> results) {
      return AffineMap::get(4, 0, results, ctx);
    };
    ArrayAttr maps = rewriter.getAffineMapArrayAttr(
        {map({m, red}), map({j, red, col}), map({m, j, col})});
    auto contract = linalg::ContractOp::create(
        rewriter, loc, TypeRange{viewType}, ValueRange{a, packed},
        ValueRange{view}, maps);
    Value product = tensor::CollapseShapeOp::create(
        rewriter, loc, cPanels.getType(), contract->getResult(0), panelsOfRow);
    if (full == n) {
      rewriter.replaceOp(op, product);
      return success();
    }

    // The last n - full columns.
    Value rest =
        linalg::MatmulOp::create(
            rewriter, loc,
            ValueRange{a, columns(b, rewriter.getIndexAttr(k), full, n - full)},
            ValueRange{columns(c, rows, full, n - full)})
            ->getResult(0);
    Value result = tensor::InsertSliceOp::create(
        rewriter, loc, product, c, {zero, zero},
        {rows, rewriter.getIndexAttr(full)}, {one, one});
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, rest, result,
        ArrayRef<OpFoldResult>{zero, rewriter.getIndexAttr(full)},
        ArrayRef<OpFoldResult>{rows, rewriter.getIndexAttr(n - full)},
        ArrayRef<OpFoldResult>{one, one});
    return success();
  }

  int64_t width;
};

struct PackMatmulWeightsPass
    : kha::impl::KHAPackMatmulWeightsPassBase<PackMatmulWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (panelWidth < 1) {
      getOperation()->emitError()
          << "kha-pack-matmul-weights: panel-width must be positive, got "
          << static_cast<int64_t>(panelWidth);
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    kha::populatePackMatmulWeightsPatterns(patterns, panelWidth);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populatePackMatmulWeightsPatterns(RewritePatternSet &patterns,
                                            int64_t panelWidth) {
  patterns.add<PackWeightPanels>(patterns.getContext(), panelWidth);
}
