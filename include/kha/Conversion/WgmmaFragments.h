//===- WgmmaFragments.h - wgmma accumulators as registers -------*- C++ -*-===//
//
// kha's Hopper kernels read and write an `!nvgpu.warpgroup.accumulator` as
// the `vector<N x f32>` of the thread's registers through an
// `unrealized_conversion_cast` between the two types. The cast's types say
// what it is (no upstream conversion casts between them), so the passes
// that resolve it (kha-gpu-wgmma-fragments-to-llvm on the GPU,
// kha-gpu-launch-to-host-loops on the host) find it by them.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_CONVERSION_WGMMAFRAGMENTS_H
#define KHA_CONVERSION_WGMMAFRAGMENTS_H

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir {
namespace kha {

/// Whether `op` views a warpgroup accumulator as the thread's registers (a
/// 1-D f32 vector), or registers as an accumulator.
inline bool isWgmmaFragmentCast(Operation *op) {
  auto cast = dyn_cast<UnrealizedConversionCastOp>(op);
  if (!cast || cast->getNumOperands() != 1 || cast->getNumResults() != 1)
    return false;
  Type from = cast.getOperand(0).getType(), to = cast.getResult(0).getType();
  auto isRegisters = [](Type type) {
    auto vector = dyn_cast<VectorType>(type);
    return vector && vector.getRank() == 1 && vector.getElementType().isF32();
  };
  return (isa<nvgpu::WarpgroupAccumulatorType>(from) && isRegisters(to)) ||
         (isRegisters(from) && isa<nvgpu::WarpgroupAccumulatorType>(to));
}

} // namespace kha
} // namespace mlir

#endif // KHA_CONVERSION_WGMMAFRAGMENTS_H
