//===- Builders.h - IR construction helpers shared by kha -------*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_UTILS_BUILDERS_H
#define KHA_DIALECT_KHA_UTILS_BUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Value.h"

namespace mlir {
namespace kha {

/// Builds `lhs [M, K] x rhs [K, N]` as a `linalg.matmul` on tensors whose
/// result is f32 whatever the operands' element types (f16/bf16 operands are
/// extended to f32 first).
Value buildMatmulF32(OpBuilder &builder, Location loc, Value lhs, Value rhs);

/// `buildMatmulF32`, with the product rounded to `lhs`'s element type when
/// that is narrower than f32.
Value buildMatmul(OpBuilder &builder, Location loc, Value lhs, Value rhs);

/// `value + bias`, `bias` broadcast over `value`'s leading dimensions (its
/// dimensions are `value`'s last ones), added in f32 and rounded once to
/// `value`'s element type.
Value buildBiasAdd(OpBuilder &builder, Location loc, Value value, Value bias);

/// The additive SDPA mask `[B, 1, 1, S]` of `elementType` for a key padding
/// mask `[B, S]` of integers (Hugging Face's `attention_mask`): 0 where the
/// key is attended (nonzero), -inf where it is padding (0).
Value buildKeyPaddingMask(OpBuilder &builder, Location loc, Value keep,
                          Type elementType);

/// A `tensor.empty` of the given sizes and element type.
Value buildEmpty(OpBuilder &builder, Location loc, ArrayRef<OpFoldResult> sizes,
                 Type elementType);

/// A `tensor.empty` of the given sizes filled with `value` (of `elementType`).
Value buildFilled(OpBuilder &builder, Location loc,
                  ArrayRef<OpFoldResult> sizes, Type elementType, double value);

/// `lhs [M, K] x rhs [K, N]` for two constant float matrices of one element
/// type, accumulated in double and rounded once to that type.
DenseElementsAttr multiplyConstantMatrices(DenseFPElementsAttr lhs,
                                           DenseFPElementsAttr rhs);

/// `value` (a float tensor) extended to f32 with an elementwise arith.extf, or
/// `value` itself when it already is f32.
Value widenToF32(OpBuilder &builder, Location loc, Value value);

/// The element type `value` is stored in: the source type of the
/// `arith.extf` that widened it to f32, else its own element type.
Type storageElementType(Value value);

/// `value` (an f32 tensor) rounded to `elementType` and widened back when
/// `elementType` is narrower: an f32 computation whose result the layer keeps
/// in f16/bf16, as PyTorch keeps a module's tensors in its dtype.
Value roundThrough(OpBuilder &builder, Location loc, Value value,
                   Type elementType);

/// True when `init` is a linalg.fill of +0.0: a contraction into it is a
/// plain product.
bool isZeroFilled(Value init);

/// True when `value` is a constant square matrix equal to the identity.
bool isConstantIdentity(Value value);

/// True when `value` is a constant tensor whose elements are all +0 or -0.
bool isConstantZero(Value value);

/// True for an accumulator that starts at zero: a zero fill or a zero
/// constant.
bool isZeroInit(Value init);

/// The constant matrix `attr` [r, c] transposed to [c, r].
DenseFPElementsAttr transposeConstant(DenseFPElementsAttr attr);

/// A 2-D `matrix` transposed: a new constant when it is one, else a
/// linalg.transpose.
Value buildTransposedMatrix(OpBuilder &builder, Location loc, Value matrix);

/// The gated MLP knock on head vectors `rows` [R, d]:
/// `2 ((rows up) * sigmoid(rows gate)) down`, computed in f32 and returned in
/// f32; when `down` is a constant identity there is no down matmul and the
/// hidden layer is returned. When `rows` is stored in f16/bf16 (see
/// storageElementType), the up and gate products and the hidden layer are
/// kept in that type (the hidden layer is then returned in it).
Value buildGatedMlp(OpBuilder &builder, Location loc, Value rows, Value up,
                    Value gate, Value down);

/// An f32 scalar constant.
Value buildF32Constant(OpBuilder &builder, Location loc, double value);

/// Converts a scalar float to `type` (extf, truncf or nothing).
Value castFloat(OpBuilder &builder, Location loc, Value value, Type type);

/// The sizes of `value`'s dimensions as OpFoldResults: static sizes as index
/// attributes, dynamic ones through `tensor.dim`.
SmallVector<OpFoldResult> getDims(OpBuilder &builder, Location loc,
                                  Value value);

} // namespace kha
} // namespace mlir

#endif // KHA_DIALECT_KHA_UTILS_BUILDERS_H
