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
/// contiguous panels of `packedType`: K x width panels, element
/// [k, j * width + c] moving to [j, k, c]; or, for a rank-4 `packedType`,
/// K/2 x width x 2 panels of pairs along K, element [2 k + p, j * width + c]
/// moving to [j, k, c, p].
DenseElementsAttr packConstant(DenseElementsAttr matrix,
                               RankedTensorType packedType) {
  if (matrix.isSplat())
    return DenseElementsAttr::get(packedType,
                                  matrix.getSplatValue<Attribute>());
  bool pairs = packedType.getRank() == 4;
  int64_t panels = packedType.getDimSize(0), width = packedType.getDimSize(2);
  int64_t k = packedType.getDimSize(1) * (pairs ? 2 : 1);
  int64_t n = cast<ShapedType>(matrix.getType()).getDimSize(1);
  size_t bytes = matrix.getElementType().getIntOrFloatBitWidth() / 8;
  ArrayRef<char> source = matrix.getRawData();
  std::vector<char> packed(panels * k * width * bytes);
  size_t row = n * bytes, chunk = width * bytes;
  for (int64_t j = 0; j < panels; ++j)
    for (int64_t r = 0; r < k; ++r) {
      const char *from = &source[r * row + j * chunk];
      if (!pairs) {
        std::memcpy(&packed[(j * k + r) * chunk], from, chunk);
        continue;
      }
      // Row r is element r % 2 of the pairs of panel row r / 2.
      char *to = &packed[((j * k + r - r % 2) * width + r % 2) * bytes];
      for (int64_t c = 0; c < width; ++c)
        std::memcpy(to + 2 * c * bytes, from + c * bytes, bytes);
    }
  return DenseElementsAttr::getFromRawBuffer(packedType, packed);
}

/// C = A B with B (K x N) from weights becomes
///   C' = contract(A, pack(B)) over (m, j, c, k):
///        C'[m, j, c] += A[m, k] * P[j, k, c],   P[j, k, c] = B[k, j w + c]
/// with C' the M x N/w x w view of C. A register tile of w columns then
/// reads P[j, k, :] for consecutive k from one contiguous K x w panel
/// instead of rows N elements apart. Columns past the last whole panel
/// stay a matmul on the slices of B and C.
///
/// With `bf16Pairs`, bf16 x bf16 -> f32 with K even becomes a contraction
/// over (m, j, c, k, p) of A viewed as M x K/2 x 2 and panels of pairs:
///   C'[m, j, c] += A[m, k, p] * P[j, k, c, p],  P[j, k, c, p] = B[2k+p, jw+c]
struct PackWeightPanels : OpRewritePattern<linalg::MatmulOp> {
  PackWeightPanels(MLIRContext *context, int64_t width, bool bf16Pairs)
      : OpRewritePattern(context), width(width), bf16Pairs(bf16Pairs) {}

  /// True when `op`'s operands are bf16 and its result f32, and K is even.
  bool packsPairs(linalg::MatmulOp op) const {
    if (!bf16Pairs)
      return false;
    auto bType = cast<RankedTensorType>(op.getInputs()[1].getType());
    return getElementTypeOrSelf(op.getInputs()[0].getType()).isBF16() &&
           bType.getElementType().isBF16() &&
           getElementTypeOrSelf(op.getOutputs()[0].getType()).isF32() &&
           bType.hasStaticShape() && bType.getDimSize(0) % 2 == 0;
  }

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
    bool pairs = packsPairs(op);
    if (!pairs &&
        (getElementTypeOrSelf(a.getType()) != element ||
         bType.getElementType() != element || !element.isIntOrFloat() ||
         element.getIntOrFloatBitWidth() % 8 != 0))
      return rewriter.notifyMatchFailure(
          op, "mixed, sub-byte or non-scalar elements");
    Type bElement = bType.getElementType();
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

    auto packedType =
        pairs ? RankedTensorType::get({panels, k / 2, width, 2}, bElement)
              : RankedTensorType::get({panels, k, width}, bElement);
    Value packed;
    DenseElementsAttr constant;
    if (matchPattern(b, m_Constant(&constant))) {
      packed = arith::ConstantOp::create(rewriter, loc,
                                         packConstant(constant, packedType));
    } else {
      Value dest = tensor::EmptyOp::create(rewriter, loc, packedType.getShape(),
                                           bElement);
      SmallVector<int64_t> innerDims = {1};
      SmallVector<OpFoldResult> innerTiles = {rewriter.getIndexAttr(width)};
      if (pairs) {
        innerDims.push_back(0);
        innerTiles.push_back(rewriter.getIndexAttr(2));
      }
      packed = linalg::PackOp::create(rewriter, loc, bPanels, dest, innerDims,
                                      innerTiles,
                                      /*paddingValue=*/std::nullopt,
                                      /*outerDimsPerm=*/{1, 0});
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
    ArrayAttr maps =
        pairs ? rewriter.getAffineMapArrayAttr(
                    kha::getBF16PairContractionMaps(ctx))
              : rewriter.getAffineMapArrayAttr(
                    {map({m, red}), map({j, red, col}), map({m, j, col})});
    Value lhs = a;
    if (pairs) {
      auto aType = cast<RankedTensorType>(a.getType());
      lhs = tensor::ExpandShapeOp::create(
          rewriter, loc,
          RankedTensorType::get({aType.getDimSize(0), k / 2, 2},
                                aType.getElementType()),
          a, SmallVector<ReassociationIndices>{{0}, {1, 2}});
    }
    auto contract = linalg::ContractOp::create(
        rewriter, loc, TypeRange{viewType}, ValueRange{lhs, packed},
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
  bool bf16Pairs;
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
    kha::populatePackMatmulWeightsPatterns(patterns, panelWidth, bf16Pairs);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

SmallVector<AffineMap> kha::getBF16PairContractionMaps(MLIRContext *context) {
  AffineExpr m, j, c, k, p;
  bindDims(context, m, j, c, k, p);
  auto map = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(5, 0, results, context);
  };
  return {map({m, k, p}), map({j, k, c, p}), map({m, j, c})};
}

void kha::populatePackMatmulWeightsPatterns(RewritePatternSet &patterns,
                                            int64_t panelWidth,
                                            bool bf16Pairs) {
  patterns.add<PackWeightPanels>(patterns.getContext(), panelWidth, bf16Pairs);
}
