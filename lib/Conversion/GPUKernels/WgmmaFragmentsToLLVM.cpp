//===- WgmmaFragmentsToLLVM.cpp - wgmma accumulators as registers --------===//
//
// kha's Hopper kernels read and write `!nvgpu.warpgroup.accumulator` values
// as `vector<N x f32>` of the thread's registers through
// `unrealized_conversion_cast`s between the two types. After
// `convert-nvgpu-to-nvvm` the accumulator is an LLVM struct (one inner
// struct of registers per 64 rows) reached through a second cast; this pass
// replaces each chain by element moves in register order.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/Passes.h"
#include "kha/Conversion/WgmmaFragments.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUWGMMAFRAGMENTSTOLLVMPASS
#include "kha/Conversion/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
/// The (outer, inner) positions of the registers of an accumulator struct
/// `{ {f32 x n}, ... }`, in order; empty if `type` is not one.
SmallVector<std::pair<int64_t, int64_t>> registersOf(Type type) {
  SmallVector<std::pair<int64_t, int64_t>> positions;
  auto outer = dyn_cast<LLVM::LLVMStructType>(type);
  if (!outer)
    return positions;
  for (auto [i, member] : llvm::enumerate(outer.getBody())) {
    auto inner = dyn_cast<LLVM::LLVMStructType>(member);
    if (!inner)
      return {};
    for (auto [j, element] : llvm::enumerate(inner.getBody())) {
      if (!element.isF32())
        return {};
      positions.push_back({int64_t(i), int64_t(j)});
    }
  }
  return positions;
}

/// The single-operand, single-result cast defining `value`, if any.
UnrealizedConversionCastOp castOf(Value value) {
  auto cast = value.getDefiningOp<UnrealizedConversionCastOp>();
  if (!cast || cast.getNumOperands() != 1 || cast.getNumResults() != 1)
    return nullptr;
  return cast;
}

LogicalResult resolve(UnrealizedConversionCastOp cast) {
  OpBuilder b(cast);
  Location loc = cast.getLoc();
  Type i32 = b.getI32Type();
  auto index = [&](int64_t i) {
    return LLVM::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(i));
  };
  Value from = cast.getOperand(0);
  Type to = cast.getResult(0).getType();

  // Accumulator -> registers: the operand is a cast of the lowered struct.
  if (auto vector = dyn_cast<VectorType>(to)) {
    UnrealizedConversionCastOp lowered = castOf(from);
    auto positions = lowered ? registersOf(lowered.getOperand(0).getType())
                             : SmallVector<std::pair<int64_t, int64_t>>();
    if (positions.empty() || vector.getRank() != 1 ||
        vector.getNumElements() != int64_t(positions.size()))
      return cast.emitError("kha-gpu-wgmma-fragments-to-llvm: not a lowered "
                            "wgmma accumulator of this many registers");
    Value regs = LLVM::PoisonOp::create(b, loc, vector);
    for (auto [n, at] : llvm::enumerate(positions)) {
      Value x =
          LLVM::ExtractValueOp::create(b, loc, lowered.getOperand(0),
                                       ArrayRef<int64_t>{at.first, at.second});
      regs = LLVM::InsertElementOp::create(b, loc, regs, x, index(n));
    }
    cast.getResult(0).replaceAllUsesWith(regs);
    cast.erase();
    if (lowered->use_empty())
      lowered.erase();
    return success();
  }

  // Registers -> accumulator: every user is a cast to the lowered struct.
  auto vector = dyn_cast<VectorType>(from.getType());
  SmallVector<UnrealizedConversionCastOp> users;
  for (Operation *user : cast.getResult(0).getUsers()) {
    auto lowered = dyn_cast<UnrealizedConversionCastOp>(user);
    if (!lowered || lowered.getNumOperands() != 1 ||
        lowered.getNumResults() != 1)
      return cast.emitError("kha-gpu-wgmma-fragments-to-llvm: a wgmma "
                            "accumulator made of registers is used by an "
                            "operation that was not lowered");
    users.push_back(lowered);
  }
  for (UnrealizedConversionCastOp lowered : users) {
    Type structType = lowered.getResult(0).getType();
    auto positions = registersOf(structType);
    if (!vector || positions.empty() ||
        vector.getNumElements() != int64_t(positions.size()))
      return cast.emitError("kha-gpu-wgmma-fragments-to-llvm: not a wgmma "
                            "accumulator of this many registers");
    OpBuilder ub(lowered);
    Value acc = LLVM::PoisonOp::create(ub, loc, structType);
    for (auto [n, at] : llvm::enumerate(positions)) {
      Value x = LLVM::ExtractElementOp::create(
          ub, loc, from,
          LLVM::ConstantOp::create(ub, loc, i32, ub.getI32IntegerAttr(n)));
      acc = LLVM::InsertValueOp::create(ub, loc, acc, x,
                                        ArrayRef<int64_t>{at.first, at.second});
    }
    lowered.getResult(0).replaceAllUsesWith(acc);
    lowered.erase();
  }
  cast.erase();
  return success();
}

struct WgmmaFragmentsToLLVMPass
    : kha::impl::KHAGPUWgmmaFragmentsToLLVMPassBase<WgmmaFragmentsToLLVMPass> {
  void runOnOperation() override {
    SmallVector<UnrealizedConversionCastOp> casts;
    getOperation().walk([&](UnrealizedConversionCastOp cast) {
      if (kha::isWgmmaFragmentCast(cast))
        casts.push_back(cast);
    });
    for (UnrealizedConversionCastOp cast : casts)
      if (failed(resolve(cast)))
        return signalPassFailure();
  }
};
} // namespace
