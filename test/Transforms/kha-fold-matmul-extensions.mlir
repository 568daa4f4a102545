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
