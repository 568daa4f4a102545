// kha-fold-matmul-extensions{element-types=bf16} (the CPU pipeline's, for
// AVX512-BF16 dot products): only matmuls both of whose operands extend
// bf16 are folded, and roundings stay where they are.
// RUN: kha-opt %s --pass-pipeline='builtin.module(func.func(kha-fold-matmul-extensions{element-types=bf16}))' -split-input-file | FileCheck %s

// Both operands bf16, one through a reshape: folded, the reshape moving to
// the narrow tensor.
// CHECK-LABEL: func @both_bf16
// CHECK-SAME:    (%[[X:.*]]: tensor<8x16xbf16>, %[[W:.*]]: tensor<4x4x32xbf16>
// CHECK:         %[[R:.*]] = tensor.collapse_shape %[[W]] {{\[}}[0, 1], [2]] : tensor<4x4x32xbf16> into tensor<16x32xbf16>
// CHECK:         linalg.matmul ins(%[[X]], %[[R]] : tensor<8x16xbf16>, tensor<16x32xbf16>) outs(%{{.*}} : tensor<8x32xf32>)
func.func @both_bf16(%x: tensor<8x16xbf16>, %w: tensor<4x4x32xbf16>, %acc: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %a = arith.extf %x : tensor<8x16xbf16> to tensor<8x16xf32>
  %b = arith.extf %w : tensor<4x4x32xbf16> to tensor<4x4x32xf32>
  %br = tensor.collapse_shape %b [[0, 1], [2]] : tensor<4x4x32xf32> into tensor<16x32xf32>
  %c = linalg.matmul ins(%a, %br : tensor<8x16xf32>, tensor<16x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %c : tensor<8x32xf32>
}

// -----

// Left alone: one bf16 operand only (a half-folded matmul would mix types),
// f16 operands (not listed), bf16 and f16 mixed; and a rounding of a
// reshape is not moved.
// CHECK-LABEL: func @left_alone
// CHECK-COUNT-3: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x16xf32>, tensor<16x32xf32>)
// CHECK:         tensor.collapse_shape %{{.*}} : tensor<2x4x32xf32> into tensor<8x32xf32>
// CHECK:         arith.truncf %{{.*}} : tensor<8x32xf32> to tensor<8x32xbf16>
func.func @left_alone(%x: tensor<8x16xbf16>, %w: tensor<16x32xf32>, %xh: tensor<8x16xf16>,
                      %wh: tensor<16x32xf16>, %acc: tensor<8x32xf32>, %p: tensor<2x4x32xf32>)
    -> (tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xbf16>) {
  %a = arith.extf %x : tensor<8x16xbf16> to tensor<8x16xf32>
  %c1 = linalg.matmul ins(%a, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  %ah = arith.extf %xh : tensor<8x16xf16> to tensor<8x16xf32>
  %bh = arith.extf %wh : tensor<16x32xf16> to tensor<16x32xf32>
  %c2 = linalg.matmul ins(%ah, %bh : tensor<8x16xf32>, tensor<16x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  %c3 = linalg.matmul ins(%a, %bh : tensor<8x16xf32>, tensor<16x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  %r = tensor.collapse_shape %p [[0, 1], [2]] : tensor<2x4x32xf32> into tensor<8x32xf32>
  %t = arith.truncf %r : tensor<8x32xf32> to tensor<8x32xbf16>
  return %c1, %c2, %c3, %t : tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xbf16>
}
