//===- KernelEmitter.h - terse index and float arithmetic for ---*- C++ -*-===//
//
// Shared by the kernel generators of KHAToGPU.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_LIB_CONVERSION_KHATOGPU_KERNELEMITTER_H
#define KHA_LIB_CONVERSION_KHATOGPU_KERNELEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace kha {

/// Builds index and float arithmetic tersely.
struct Emitter {
  OpBuilder &b;
  Location loc;
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value rem(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinUIOp::create(b, loc, x, y); }
  Value lt(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value le(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, x, y);
  }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value ceilDiv(Value x, int64_t y) {
    return arith::CeilDivUIOp::create(b, loc, x, idx(y));
  }
  /// Loads an element as f32.
  Value loadF32(Value memref, ValueRange indices) {
    Value v = memref::LoadOp::create(b, loc, memref, indices);
    if (!v.getType().isF32())
      v = arith::ExtFOp::create(b, loc, b.getF32Type(), v);
    return v;
  }
};

/// `tensor` as a read-only buffer of the same shape (identity layout), for a
/// kernel to read.
inline Value readOnlyBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      /*readOnly=*/true);
}

/// A `shape` buffer of `element` in the block's shared memory (a
/// gpu.launch workgroup attribution).
inline MemRefType sharedMemRefType(ArrayRef<int64_t> shape, Type element) {
  return MemRefType::get(
      shape, element, AffineMap(),
      gpu::AddressSpaceAttr::get(element.getContext(),
                                 gpu::AddressSpace::Workgroup));
}

/// A new buffer for a kernel's result of tensor type `type`, its dynamic
/// sizes taken from `sizes` (one per dimension).
inline Value allocResult(OpBuilder &b, Location loc, RankedTensorType type,
                         ArrayRef<Value> sizes) {
  SmallVector<Value> dynamicSizes;
  for (auto [i, size] : llvm::enumerate(sizes))
    if (type.isDynamicDim(i))
      dynamicSizes.push_back(size);
  return memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()),
      dynamicSizes);
}

/// A matmul kernel's buffers: A (M x K) and B (K x N) read in place, and a
/// new buffer for C (M x N) of tensor type `outType`.
struct MatmulBuffers {
  Value a, b, out;
  Value M, K, N;
};
inline MatmulBuffers matmulBuffers(OpBuilder &b, Location loc, Value lhs,
                                   Value rhs, RankedTensorType outType) {
  MatmulBuffers m;
  m.a = readOnlyBuffer(b, loc, lhs);
  m.b = readOnlyBuffer(b, loc, rhs);
  m.M = memref::DimOp::create(b, loc, m.a, 0);
  m.K = memref::DimOp::create(b, loc, m.a, 1);
  m.N = memref::DimOp::create(b, loc, m.b, 1);
  m.out = allocResult(b, loc, outType, {m.M, m.N});
  return m;
}

/// An attention kernel's buffers: Q [B, L, H, d], K and V [B, S, G, *]
/// read through `read` (in place), and a new buffer for O [B, L, H, dv] of
/// tensor type `outType`.
struct AttentionBuffers {
  Value q, k, v, out;
  Value B, L, S;
};
inline AttentionBuffers
attentionBuffers(OpBuilder &b, Location loc, Value query, Value key,
                 Value value, RankedTensorType outType,
                 function_ref<Value(Value)> read = nullptr) {
  AttentionBuffers a;
  a.q = readOnlyBuffer(b, loc, query);
  a.k = read ? read(key) : readOnlyBuffer(b, loc, key);
  a.v = read ? read(value) : readOnlyBuffer(b, loc, value);
  a.B = memref::DimOp::create(b, loc, a.q, 0);
  a.L = memref::DimOp::create(b, loc, a.q, 1);
  a.S = memref::DimOp::create(b, loc, a.k, 1);
  Emitter e{b, loc};
  a.out = allocResult(
      b, loc, outType,
      {a.B, a.L, e.idx(outType.getDimSize(2)), e.idx(outType.getDimSize(3))});
  return a;
}

/// Ends `launch`'s body and replaces `op` (a one-result op on tensors) by
/// the kernel's result buffer `out` seen as a tensor.
inline void replaceByKernelResult(PatternRewriter &rewriter, Operation *op,
                                  gpu::LaunchOp launch, Value out) {
  rewriter.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(rewriter, op->getLoc());
  rewriter.setInsertionPointAfter(launch);
  rewriter.replaceOpWithNewOp<bufferization::ToTensorOp>(
      op, op->getResult(0).getType(), out, /*restrict=*/true,
      /*writable=*/true);
}

} // namespace kha
} // namespace mlir

#endif // KHA_LIB_CONVERSION_KHATOGPU_KERNELEMITTER_H
