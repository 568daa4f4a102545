//===- HopperEmitter.h - TMA maps and launches of the sm_90a ----*- C++ -*-===//
//
// Shared by the Hopper kernel generators of KHAToGPU (MatmulToWgmma.cpp,
// SDPAToWgmma.cpp): tensor maps of 128-byte swizzled boxes, and launches
// whose shared memory is a workgroup buffer up to 47 KiB and dynamic shared
// memory above (the GPU pipeline aligns either to 1024 bytes).
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_CONVERSION_KHATOGPU_HOPPEREMITTER_H
#define KHA_LIB_CONVERSION_KHATOGPU_HOPPEREMITTER_H

#include "KernelConfig.h"
#include "KernelEmitter.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace mlir {
namespace kha {

/// Spin limit of one mbarrier try-wait before it tries again.
inline constexpr int64_t kWaitTicks = 10000000;

/// The tensor map type of boxes `box` (a workgroup memref): 128-byte
/// swizzle, zeros outside the tensor.
inline nvgpu::TensorMapDescriptorType swizzledTensorMap(MemRefType box) {
  return nvgpu::TensorMapDescriptorType::get(
      box.getContext(), box, nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      nvgpu::TensorMapL2PromoKind::L2PROMO_NONE,
      nvgpu::TensorMapOOBKind::OOB_ZERO,
      nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

/// The host's TMA description of `buffer` (a ranked memref with the identity
/// layout) in boxes of `box`.
inline Value describeForTma(OpBuilder &b, Location loc, Value buffer,
                            MemRefType box) {
  Emitter e{b, loc};
  Value unranked = memref::CastOp::create(
      b, loc, UnrankedMemRefType::get(box.getElementType(), Attribute()),
      buffer);
  SmallVector<Value> sizes;
  for (int64_t size : box.getShape())
    sizes.push_back(e.idx(size));
  return nvgpu::TmaCreateDescriptorOp::create(b, loc, swizzledTensorMap(box),
                                              unranked, sizes);
}

/// A launch of `threads` threads per block over `grid` blocks, with
/// `sharedBytes` of shared memory: a workgroup buffer up to 47 KiB, dynamic
/// shared memory above (the static 48 KiB less the mbarriers' room).
/// Leaves `b` at the start of the body; `smem` is the byte buffer there.
struct HopperLaunch {
  gpu::LaunchOp launch;
  Value smem;
};
inline HopperLaunch createHopperLaunch(OpBuilder &b, Location loc,
                                       ArrayRef<Value> grid, int64_t threads,
                                       int64_t sharedBytes) {
  Emitter e{b, loc};
  bool dynamic = sharedBytes > kStaticSharedBytes - 1024;
  SmallVector<Type> attributions;
  Value dynamicBytes;
  if (dynamic)
    dynamicBytes =
        arith::ConstantIntOp::create(b, loc, b.getI32Type(), sharedBytes);
  else
    attributions.push_back(sharedMemRefType({sharedBytes}, b.getI8Type()));
  auto launch = gpu::LaunchOp::create(
      b, loc, grid[0], grid[1], grid[2], e.idx(threads), e.idx(1), e.idx(1),
      dynamicBytes, /*asyncTokenType=*/nullptr, ValueRange(), attributions);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value smem;
  if (dynamic)
    smem = gpu::DynamicSharedMemoryOp::create(
        b, loc,
        MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), AffineMap(),
                        gpu::AddressSpaceAttr::get(
                            b.getContext(), gpu::AddressSpace::Workgroup)));
  else
    smem = launch.getWorkgroupAttributions()[0];
  return {launch, smem};
}

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_CONVERSION_KHATOGPU_HOPPEREMITTER_H
