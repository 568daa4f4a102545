//===- ExpandBF16Conversions.cpp - bf16 conversions as integer arithmetic -===//
//
// x86 without AVX512-BF16 has no instruction that rounds f32 to bf16, and
// LLVM lowers each lane of a vector `fptrunc` to bf16 to a call of the
// runtime routine `__truncsfbf2`. Written as integer arithmetic on the
// values' bits (round to nearest even by adding a bias, NaN kept a NaN),
// the rounding vectorises like any other arithmetic.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAEXPANDBF16CONVERSIONSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

namespace {
struct ExpandBF16ConversionsPass
    : kha::impl::KHAExpandBF16ConversionsPassBase<ExpandBF16ConversionsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    arith::populateExpandBFloat16Patterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
