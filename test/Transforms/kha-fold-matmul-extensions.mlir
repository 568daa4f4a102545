// kha-fold-matmul-extensions: a matmul multiplies f16/bf16 operands itself
// instead of f32 copies made by arith.extf.
// RUN: kha-opt %s -kha-fold-matmul-extensions -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func @both
// CHECK-NOT: arith.extf
// CHECK: linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} ins(%arg0, %arg1 : tensor<8x16xbf16>, tensor<16x32xbf16>) outs(%{{.*}} : tensor<8x32xf32>)
func.func @both(%x: tensor<8x16xbf16>, %w: tensor<16x32xbf16>) -> tensor<8x32xf32> {
  %a = arith.extf %x : tensor<8x16xbf16> to tensor<8x16xf32>
  %b = arith.extf %w : tensor<16x32xbf16> to tensor<16x32xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %c = linalg.matmul {kha.gpu_kernel = #kha.gpu_kernel<mma = simt, tile_m = 0, tile_n = 0, tile_k = 0, warps = 0, stages = 0, padding = 0>} ins(%a, %b : tensor<8x16xf32>, tensor<16x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %c : tensor<8x32xf32>
}

// -----

// One extended operand: only that one is folded.
// CHECK-LABEL: func @one
// CHECK: linalg.matmul ins(%arg0, %arg1 : tensor<8x16xf16>, tensor<16x32xf32>)
func.func @one(%x: tensor<8x16xf16>, %w: tensor<16x32xf32>, %acc: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %a = arith.extf %x : tensor<8x16xf16> to tensor<8x16xf32>
  %c = linalg.matmul ins(%a, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %c : tensor<8x32xf32>
}

// -----

// Left alone: a truncation (not exact), and a matmul with other indexing
// maps (transposed B).
// CHECK-LABEL: func @left_alone
// CHECK: arith.truncf
// CHECK: linalg.matmul ins(%{{.*}}, %arg1 : tensor<8x16xf16>, tensor<16x32xf16>)
// CHECK: arith.extf
// CHECK: linalg.matmul indexing_maps
func.func @left_alone(%x: tensor<8x16xf32>, %w: tensor<16x32xf16>, %acc: tensor<8x32xf16>,
                      %y: tensor<8x16xbf16>, %v: tensor<32x16xf32>, %acc2: tensor<8x32xf32>) -> (tensor<8x32xf16>, tensor<8x32xf32>) {
  %a = arith.truncf %x : tensor<8x16xf32> to tensor<8x16xf16>
  %c = linalg.matmul ins(%a, %w : tensor<8x16xf16>, tensor<16x32xf16>) outs(%acc : tensor<8x32xf16>) -> tensor<8x32xf16>
  %b = arith.extf %y : tensor<8x16xbf16> to tensor<8x16xf32>
  %d = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
         ins(%b, %v : tensor<8x16xf32>, tensor<32x16xf32>) outs(%acc2 : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %c, %d : tensor<8x32xf16>, tensor<8x32xf32>
}

// -----

// Extensions seen through reshapes (a folded weight's column blocks): the
// reshapes move to the narrow tensor.
// CHECK-LABEL: func @through_reshapes
// CHECK-NOT: arith.extf
// CHECK: %[[E:.*]] = tensor.expand_shape %arg1 {{\[\[}}0], [1, 2]] output_shape [16, 2, 8] : tensor<16x16xbf16> into tensor<16x2x8xbf16>
// CHECK: %[[C:.*]] = tensor.collapse_shape %[[E]] {{\[\[}}0, 1], [2]] : tensor<16x2x8xbf16> into tensor<32x8xbf16>
// CHECK: linalg.matmul ins(%[[C]], %arg0 : tensor<32x8xbf16>, tensor<8x8xbf16>)
func.func @through_reshapes(%t: tensor<8x8xbf16>, %w: tensor<16x16xbf16>, %acc: tensor<32x8xf32>) -> tensor<32x8xf32> {
  %a = arith.extf %w : tensor<16x16xbf16> to tensor<16x16xf32>
  %e = tensor.expand_shape %a [[0], [1, 2]] output_shape [16, 2, 8] : tensor<16x16xf32> into tensor<16x2x8xf32>
  %c = tensor.collapse_shape %e [[0, 1], [2]] : tensor<16x2x8xf32> into tensor<32x8xf32>
  %b = arith.extf %t : tensor<8x8xbf16> to tensor<8x8xf32>
  %m = linalg.matmul ins(%c, %b : tensor<32x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<32x8xf32>) -> tensor<32x8xf32>
  return %m : tensor<32x8xf32>
}

// -----

// A rounding of a reshaped product moves next to the product (whose kernel
// then stores the rounded values), and the rounded weight feeds the next
// matmul directly.
// CHECK-LABEL: func @round_before_reshapes
// CHECK: %[[P:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<32x8xbf16>, tensor<8x8xbf16>)
// CHECK-NEXT: %[[R:.*]] = arith.truncf %[[P]] : tensor<32x8xf32> to tensor<32x8xbf16>
// CHECK-NEXT: %[[E:.*]] = tensor.expand_shape %[[R]] {{.*}} : tensor<32x8xbf16> into tensor<16x2x8xbf16>
// CHECK-NEXT: %[[C:.*]] = tensor.collapse_shape %[[E]] {{.*}} : tensor<16x2x8xbf16> into tensor<16x16xbf16>
// CHECK-NEXT: linalg.matmul ins(%arg2, %[[C]] : tensor<4x16xbf16>, tensor<16x16xbf16>)
func.func @round_before_reshapes(%t: tensor<8x8xbf16>, %w: tensor<32x8xbf16>, %x: tensor<4x16xbf16>,
                                 %acc: tensor<32x8xf32>, %acc2: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %a = arith.extf %w : tensor<32x8xbf16> to tensor<32x8xf32>
  %b = arith.extf %t : tensor<8x8xbf16> to tensor<8x8xf32>
  %p = linalg.matmul ins(%a, %b : tensor<32x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<32x8xf32>) -> tensor<32x8xf32>
  %e = tensor.expand_shape %p [[0, 1], [2]] output_shape [16, 2, 8] : tensor<32x8xf32> into tensor<16x2x8xf32>
  %c = tensor.collapse_shape %e [[0], [1, 2]] : tensor<16x2x8xf32> into tensor<16x16xf32>
  %r = arith.truncf %c : tensor<16x16xf32> to tensor<16x16xbf16>
  %rw = arith.extf %r : tensor<16x16xbf16> to tensor<16x16xf32>
  %xw = arith.extf %x : tensor<4x16xbf16> to tensor<4x16xf32>
  %y = linalg.matmul ins(%xw, %rw : tensor<4x16xf32>, tensor<16x16xf32>) outs(%acc2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// Left alone: a reshape with another use keeps the rounding after it.
// CHECK-LABEL: func @reshape_with_other_use
// CHECK: %[[C:.*]] = tensor.collapse_shape %arg0
// CHECK: arith.truncf %[[C]] : tensor<16xf32> to tensor<16xbf16>
func.func @reshape_with_other_use(%p: tensor<4x4xf32>) -> (tensor<16xbf16>, tensor<16xf32>) {
  %c = tensor.collapse_shape %p [[0, 1]] : tensor<4x4xf32> into tensor<16xf32>
  %r = arith.truncf %c : tensor<16xf32> to tensor<16xbf16>
  return %r, %c : tensor<16xbf16>, tensor<16xf32>
}
