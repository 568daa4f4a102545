//===- MmaSyncBF16ToNVVM.cpp - bf16 nvgpu.mma.sync as nvvm.mma.sync -------===//
//
// MLIR's nvgpu-to-nvvm conversion deduces PTX types for f16 (and tf32, int)
// mma.sync only; a bf16 one fails ("failed to deduce operand PTX types").
// This rewrites each bf16 m16n8k16 `nvgpu.mma.sync` (f32 accumulators) into
// `nvvm.mma.sync` with `bf16` multiplicands, row-major A and column-major B:
// each pair of bf16 elements of a fragment row is one 32-bit register.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAMMASYNCBF16TONVVMPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct MmaSyncBF16ToNVVM : OpRewritePattern<nvgpu::MmaSyncOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(nvgpu::MmaSyncOp op,
                                PatternRewriter &rewriter) const override {
    auto a = cast<VectorType>(op.getMatrixA().getType());
    auto b = cast<VectorType>(op.getMatrixB().getType());
    auto c = cast<VectorType>(op.getMatrixC().getType());
    SmallVector<int64_t> shape =
        llvm::map_to_vector(op.getMmaShape(), [](Attribute x) {
          return cast<IntegerAttr>(x).getInt();
        });
    if (!a.getElementType().isBF16() || !b.getElementType().isBF16() ||
        shape != SmallVector<int64_t>{16, 8, 16} ||
        a.getShape() != ArrayRef<int64_t>{4, 2} ||
        b.getShape() != ArrayRef<int64_t>{2, 2} ||
        c.getShape() != ArrayRef<int64_t>{2, 2} || !c.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not a bf16 m16n8k16 into f32");
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type(), f32 = rewriter.getF32Type();
    // Fragment rows of two bf16 as 32-bit registers.
    auto registers = [&](Value fragment, int64_t rows) {
      SmallVector<Value> out;
      for (int64_t i = 0; i < rows; ++i)
        out.push_back(LLVM::BitcastOp::create(
            rewriter, loc, i32,
            vector::ExtractOp::create(rewriter, loc, fragment, i)));
      return out;
    };
    SmallVector<Value> accumulators;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        accumulators.push_back(vector::ExtractOp::create(
            rewriter, loc, op.getMatrixC(), ArrayRef<int64_t>{i, j}));
    auto resultType = LLVM::LLVMStructType::getLiteral(
        rewriter.getContext(), SmallVector<Type>(4, f32));
    auto mma = NVVM::MmaOp::create(
        rewriter, loc, resultType, registers(op.getMatrixA(), 4),
        registers(op.getMatrixB(), 2), accumulators, shape, std::nullopt,
        std::nullopt,
        std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16,
                                      NVVM::MMATypes::bf16},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    Value result =
        arith::ConstantOp::create(rewriter, loc, c, rewriter.getZeroAttr(c));
    for (int64_t i = 0; i < 4; ++i)
      result = vector::InsertOp::create(
          rewriter, loc, LLVM::ExtractValueOp::create(rewriter, loc, mma, i),
          result, ArrayRef<int64_t>{i / 2, i % 2});
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct MmaSyncBF16ToNVVMPass
    : kha::impl::KHAMmaSyncBF16ToNVVMPassBase<MmaSyncBF16ToNVVMPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateMmaSyncBF16ToNVVMPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateMmaSyncBF16ToNVVMPatterns(RewritePatternSet &patterns) {
  patterns.add<MmaSyncBF16ToNVVM>(patterns.getContext());
}
