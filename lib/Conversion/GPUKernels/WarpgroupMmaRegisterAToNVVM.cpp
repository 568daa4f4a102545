//===- WarpgroupMmaRegisterAToNVVM.cpp - register-A wgmma as inline PTX ---===//
//
// NVVM in MLIR 22 has `nvvm.wgmma.mma_async` with both operands from
// shared-memory descriptors only. This lowers `kha.warpgroup_mma_register_a`
// (A from the threads' registers) to the same PTX instruction in its
// register-A form, one `llvm.inline_asm` per k16 step, between the wgmma
// fence, commit and wait ops NVVM does have:
//
//   wgmma.mma_async.sync.aligned.m64nNk16.f32.T.T {d0..}, {a0..a3}, descB,
//       p, 1, 1, transB;
//
// Each step takes four 32-bit registers of A (two elements each, in the
// order of the op's fragment), the B descriptor advanced to the step, and
// the N / 2 accumulator registers as tied inputs and outputs. An N-major B
// gets the leading byte offset of its layout (64-column boxes of K rows of
// 128 bytes each, one after the other).
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAWARPGROUPMMAREGISTERATONVVMPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;
using namespace mlir::kha;

namespace {
/// The PTX of one k16 step with `regs` accumulator registers: outputs $0..,
/// then A's four registers, the descriptor and the scale-d flag.
std::string stepPtx(int64_t n, StringRef type, bool transposeB) {
  int64_t regs = n / 2;
  std::string d;
  for (int64_t i = 0; i < regs; ++i)
    d += (i ? ", $" : "$") + std::to_string(i);
  return llvm::formatv(
      "{{ .reg .pred p; setp.ne.b32 p, ${0}, 0; "
      "wgmma.mma_async.sync.aligned.m64n{1}k16.f32.{2}.{2} {{{3}}, "
      "{{${4}, ${5}, ${6}, ${7}}, ${8}, p, 1, 1, {9}; }",
      regs + 5, n, type, d, regs, regs + 1, regs + 2, regs + 3, regs + 4,
      transposeB ? 1 : 0);
}

struct RegisterAToInlinePtx : OpRewritePattern<WarpgroupMmaRegisterAOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(WarpgroupMmaRegisterAOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MemRefType tileB = op.getDescriptorB().getType().getTensor();
    int64_t k = tileB.getDimSize(0), n = tileB.getDimSize(1), regs = n / 2;
    Type element = op.getA().getType().getElementType();
    StringRef type = element.isBF16() ? "bf16" : "f16";
    Type i32 = rewriter.getI32Type(), i64 = rewriter.getI64Type(),
         f32 = rewriter.getF32Type();
    // The descriptor as the i64 it lowers to (the cast folds away once
    // convert-nvgpu-to-nvvm has lowered its producer).
    Value descriptor = UnrealizedConversionCastOp::create(rewriter, loc, i64,
                                                          op.getDescriptorB())
                           .getResult(0);
    // An N-major B is boxes of 64 columns, each K rows of 128 bytes, one
    // after the other: that spacing is the leading byte offset.
    if (op.getTransposeB()) {
      auto constant = [&](uint64_t v) {
        return LLVM::ConstantOp::create(rewriter, loc, i64,
                                        rewriter.getI64IntegerAttr(v));
      };
      descriptor = LLVM::OrOp::create(
          rewriter, loc,
          LLVM::AndOp::create(rewriter, loc, descriptor,
                              constant(~(uint64_t(0x3FFF) << 16))),
          constant(uint64_t(k * 128 / 16) << 16));
    }
    // Step s of K: 32 bytes further along a K-major row, or 16 rows of 128
    // bytes further down an N-major tile (in the descriptor's 16-byte units).
    int64_t step = op.getTransposeB() ? 16 * 128 / 16 : 32 / 16;

    SmallVector<Value> acc;
    for (int64_t i = 0; i < regs; ++i)
      acc.push_back(
          vector::ExtractOp::create(rewriter, loc, op.getAccumulator(), i));
    NVVM::WgmmaFenceAlignedOp::create(rewriter, loc);
    auto resultType = LLVM::LLVMStructType::getLiteral(
        rewriter.getContext(), SmallVector<Type>(regs, f32));
    std::string constraints;
    for (int64_t i = 0; i < regs; ++i)
      constraints += "=f,";
    constraints += "r,r,r,r,l,r";
    for (int64_t i = 0; i < regs; ++i)
      constraints += "," + std::to_string(i);
    Value one = LLVM::ConstantOp::create(rewriter, loc, i32,
                                         rewriter.getI32IntegerAttr(1));
    for (int64_t s = 0; s < k / 16; ++s) {
      SmallVector<Value> operands;
      for (int64_t r = 0; r < 4; ++r) {
        int64_t at = 8 * s + 2 * r;
        Value pair = vector::ShuffleOp::create(
            rewriter, loc, op.getA(), op.getA(), ArrayRef<int64_t>{at, at + 1});
        operands.push_back(LLVM::BitcastOp::create(rewriter, loc, i32, pair));
      }
      Value advanced = LLVM::AddOp::create(
          rewriter, loc, descriptor,
          LLVM::ConstantOp::create(rewriter, loc, i64,
                                   rewriter.getI64IntegerAttr(s * step)));
      operands.push_back(advanced);
      operands.push_back(one);
      operands.append(acc);
      auto asmOp = LLVM::InlineAsmOp::create(
          rewriter, loc, resultType, operands,
          stepPtx(n, type, op.getTransposeB()), constraints,
          /*has_side_effects=*/true, /*is_align_stack=*/false,
          LLVM::tailcallkind::TailCallKind::None,
          LLVM::AsmDialectAttr::get(rewriter.getContext(),
                                    LLVM::AsmDialect::AD_ATT),
          /*operand_attrs=*/ArrayAttr());
      for (int64_t i = 0; i < regs; ++i)
        acc[i] =
            LLVM::ExtractValueOp::create(rewriter, loc, asmOp.getResult(0), i);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(rewriter, loc);
    NVVM::WgmmaWaitGroupSyncOp::create(rewriter, loc, op.getWaitGroup());
    VectorType accType = op.getAccumulator().getType();
    Value result = arith::ConstantOp::create(rewriter, loc, accType,
                                             rewriter.getZeroAttr(accType));
    for (int64_t i = 0; i < regs; ++i)
      result = vector::InsertOp::create(rewriter, loc, acc[i], result, i);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct WarpgroupMmaRegisterAToNVVMPass
    : kha::impl::KHAWarpgroupMmaRegisterAToNVVMPassBase<
          WarpgroupMmaRegisterAToNVVMPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    kha::populateWarpgroupMmaRegisterAToNVVMPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void kha::populateWarpgroupMmaRegisterAToNVVMPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RegisterAToInlinePtx>(patterns.getContext());
}
