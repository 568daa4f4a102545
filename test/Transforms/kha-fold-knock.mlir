// kha-fold-knock: (x W_n) T = x (W_n T) for each head block of a projection.
// RUN: kha-opt %s -kha-fold-knock -split-input-file | FileCheck %s

// Runtime weights: W' = W T is one [D*N, d] x [d, d] matmul (cost independent
// of B*L), then the projection uses W'; the knock is gone.
// CHECK-LABEL: func @runtime
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[T:.*]]: tensor<4x4xf32>, %{{.*}}: index, %{{.*}}: index)
// CHECK: %[[WB:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0], [1, 2]] output_shape [16, 2, 4] : tensor<16x8xf32> into tensor<16x2x4xf32>
// CHECK: %[[WF:.*]] = tensor.collapse_shape %[[WB]] {{\[\[}}0, 1], [2]] : tensor<16x2x4xf32> into tensor<32x4xf32>
// CHECK: %[[WT:.*]] = linalg.matmul ins(%[[WF]], %[[T]] : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[WT3:.*]] = tensor.expand_shape %[[WT]] {{\[\[}}0, 1], [2]] {{.*}} into tensor<16x2x4xf32>
// CHECK: %[[W2:.*]] = tensor.collapse_shape %[[WT3]] {{\[\[}}0], [1, 2]] : tensor<16x2x4xf32> into tensor<16x8xf32>
// CHECK: %[[P:.*]] = linalg.matmul ins(%[[X]], %[[W2]] : tensor<?x16xf32>, tensor<16x8xf32>)
// CHECK: %[[R:.*]] = tensor.expand_shape %[[P]] {{\[\[}}0, 1], [2, 3]]
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[R]]
func.func @runtime(%x: tensor<?x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf32>, %b: index, %l: index) -> tensor<?x?x2x4xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%m) : tensor<?x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %p = linalg.matmul ins(%x, %w : tensor<?x16xf32>, tensor<16x8xf32>) outs(%f : tensor<?x8xf32>) -> tensor<?x8xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [%b, %l, 2, 4] : tensor<?x8xf32> into tensor<?x?x2x4xf32>
  %k = kha.linear_knock %h, %t : tensor<?x?x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<?x?x2x4xf32>
}

// -----

// Constant weights and knock: W' is computed at compile time. Each head block
// of [[1, 2, 3, 4], ...] times the swap [[0, 1], [1, 0]] swaps its two columns.
// CHECK-LABEL: func @constant
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[\[}}2.000000e+00, 1.000000e+00, 4.000000e+00, 3.000000e+00], [1.000000e+00, 0.000000e+00, 1.000000e+00, 0.000000e+00]]> : tensor<2x4xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W2]] : tensor<3x2xf32>, tensor<2x4xf32>)
// CHECK-NOT: kha.linear_knock
func.func @constant(%x: tensor<3x2xf32>) -> tensor<1x3x2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 1.0]]> : tensor<2x4xf32>
  %t = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<3x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %p = linalg.matmul ins(%x, %w : tensor<3x2xf32>, tensor<2x4xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [1, 3, 2, 2] : tensor<3x4xf32> into tensor<1x3x2x2xf32>
  %k = kha.linear_knock %h, %t : tensor<1x3x2x2xf32>, tensor<2x2xf32>
  return %k : tensor<1x3x2x2xf32>
}

// -----

// f16: the projection is computed in f32 and rounded; the knock matrix joins
// the f32 weights and the rounding stays after the folded projection.
// CHECK-LABEL: func @half
// CHECK: %[[T32:.*]] = arith.extf %{{.*}} : tensor<4x4xf16> to tensor<4x4xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[T32]] : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[P:.*]] = linalg.matmul
// CHECK: %[[N:.*]] = arith.truncf %[[P]] : tensor<6x8xf32> to tensor<6x8xf16>
// CHECK: tensor.expand_shape %[[N]]
// CHECK-NOT: kha.linear_knock
func.func @half(%x: tensor<6x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf16>) -> tensor<2x3x2x4xf16> {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %n = arith.truncf %p : tensor<6x8xf32> to tensor<6x8xf16>
  %h = tensor.expand_shape %n [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf16> into tensor<2x3x2x4xf16>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xf16>, tensor<4x4xf16>
  return %k : tensor<2x3x2x4xf16>
}

// -----

// bf16 weights widened to f32 for the projection (what kha-expand-attention-
// block emits): the folded weight W T, computed in f32, is kept in bf16 (as
// the layer keeps its weights), then widened for the projection.
// CHECK-LABEL: func @bf16_weights
// CHECK: %[[WT:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[WT3:.*]] = tensor.expand_shape %[[WT]]
// CHECK: %[[W2:.*]] = tensor.collapse_shape %[[WT3]]
// CHECK: %[[R:.*]] = arith.truncf %[[W2]] : tensor<16x8xf32> to tensor<16x8xbf16>
// CHECK: %[[RW:.*]] = arith.extf %[[R]] : tensor<16x8xbf16> to tensor<16x8xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[RW]] : tensor<6x16xf32>, tensor<16x8xf32>)
// CHECK-NOT: kha.linear_knock
func.func @bf16_weights(%x: tensor<6x16xbf16>, %w: tensor<16x8xbf16>, %t: tensor<4x4xbf16>) -> tensor<2x3x2x4xbf16> {
  %xw = arith.extf %x : tensor<6x16xbf16> to tensor<6x16xf32>
  %ww = arith.extf %w : tensor<16x8xbf16> to tensor<16x8xf32>
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p = linalg.matmul ins(%xw, %ww : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %n = arith.truncf %p : tensor<6x8xf32> to tensor<6x8xbf16>
  %h = tensor.expand_shape %n [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xbf16> into tensor<2x3x2x4xbf16>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xbf16>, tensor<4x4xbf16>
  return %k : tensor<2x3x2x4xbf16>
}

// -----

// Another frontend's forms: the projection as linalg.batch_matmul over
// [B, L, D] tokens, the weight broadcast over the batch by linalg.broadcast;
// the weight is folded before the broadcast, and the knock is gone.
// CHECK-LABEL: func @batch_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[T:.*]]: tensor<4x4xf32>)
// CHECK: %[[WF:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<16x2x4xf32> into tensor<32x4xf32>
// CHECK: linalg.matmul ins(%[[WF]], %[[T]] : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[W2:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2]] : tensor<16x2x4xf32> into tensor<16x8xf32>
// CHECK: %[[WB:.*]] = linalg.broadcast ins(%[[W2]] : tensor<16x8xf32>) outs(%{{.*}} : tensor<2x16x8xf32>) dimensions = [0]
// CHECK: %[[P:.*]] = linalg.batch_matmul ins(%[[X]], %[[WB]] : tensor<2x3x16xf32>, tensor<2x16x8xf32>)
// CHECK: %[[R:.*]] = tensor.expand_shape %[[P]] {{\[\[}}0], [1], [2, 3]]
// CHECK-NOT: kha.linear_knock
// CHECK: return %[[R]]
func.func @batch_broadcast(%x: tensor<2x3x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf32>) -> tensor<2x3x2x4xf32> {
  %eb = tensor.empty() : tensor<2x16x8xf32>
  %wb = linalg.broadcast ins(%w : tensor<16x8xf32>) outs(%eb : tensor<2x16x8xf32>) dimensions = [0]
  %e = tensor.empty() : tensor<2x3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %p = linalg.batch_matmul ins(%x, %wb : tensor<2x3x16xf32>, tensor<2x16x8xf32>) outs(%f : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %h = tensor.expand_shape %p [[0], [1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<2x3x2x4xf32>
}

// -----

// The broadcast written as batch_matmul's indexing map: the folded [D, N*d]
// weight takes the weight's place and the map is unchanged.
// CHECK-DAG: #[[$BMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-LABEL: func @batch_map
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[T:.*]]: tensor<4x4xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %[[T]] : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[W2:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2]] : tensor<16x2x4xf32> into tensor<16x8xf32>
// CHECK: linalg.batch_matmul indexing_maps = [{{.*}}, #[[$BMAP]], {{.*}}] ins(%[[X]], %[[W2]] : tensor<2x3x16xf32>, tensor<16x8xf32>)
// CHECK-NOT: kha.linear_knock
func.func @batch_map(%x: tensor<2x3x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf32>) -> tensor<2x3x2x4xf32> {
  %e = tensor.empty() : tensor<2x3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %p = linalg.batch_matmul
         indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                          affine_map<(b, m, n, k) -> (k, n)>,
                          affine_map<(b, m, n, k) -> (b, m, n)>]
         ins(%x, %w : tensor<2x3x16xf32>, tensor<16x8xf32>) outs(%f : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %h = tensor.expand_shape %p [[0], [1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<2x3x2x4xf32>
}

// -----

// The weight stored transposed [N*d, D], as nn.Linear stores it (a
// transposed B map): the folded weight keeps that layout, T^T times each
// [d, D] row block, as one [d, d] x [d, N*D] matmul between two permutes.
// CHECK-LABEL: func @transposed
// CHECK-SAME: (%[[X:.*]]: tensor<6x16xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[T:.*]]: tensor<4x4xf32>)
// CHECK: %[[TT:.*]] = linalg.transpose ins(%[[T]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<4x4xf32>) permutation = [1, 0]
// CHECK: %[[WE:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0, 1], [2]] output_shape [2, 4, 16] : tensor<8x16xf32> into tensor<2x4x16xf32>
// CHECK: %[[WI:.*]] = linalg.transpose ins(%[[WE]] : tensor<2x4x16xf32>) outs(%{{.*}} : tensor<4x2x16xf32>) permutation = [1, 0, 2]
// CHECK: %[[WC:.*]] = tensor.collapse_shape %[[WI]] {{\[\[}}0], [1, 2]] : tensor<4x2x16xf32> into tensor<4x32xf32>
// CHECK: %[[PR:.*]] = linalg.matmul ins(%[[TT]], %[[WC]] : tensor<4x4xf32>, tensor<4x32xf32>)
// CHECK: %[[PE:.*]] = tensor.expand_shape %[[PR]] {{\[\[}}0], [1, 2]] output_shape [4, 2, 16]
// CHECK: %[[PO:.*]] = linalg.transpose ins(%[[PE]] : tensor<4x2x16xf32>) outs(%{{.*}} : tensor<2x4x16xf32>) permutation = [1, 0, 2]
// CHECK: %[[W2:.*]] = tensor.collapse_shape %[[PO]] {{\[\[}}0, 1], [2]] : tensor<2x4x16xf32> into tensor<8x16xf32>
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%[[X]], %[[W2]] : tensor<6x16xf32>, tensor<8x16xf32>)
// CHECK-NOT: kha.linear_knock
func.func @transposed(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>, %t: tensor<4x4xf32>) -> tensor<2x3x2x4xf32> {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p = linalg.matmul
         indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                          affine_map<(m, n, k) -> (n, k)>,
                          affine_map<(m, n, k) -> (m, n)>]
         ins(%x, %w : tensor<6x16xf32>, tensor<8x16xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<2x3x2x4xf32>
}

// -----

// Transposed constant weights (linalg.matmul with a transposed B map): the
// folded constant keeps the [N*d, D] layout; the swap knock swaps the two
// rows of each head block.
// CHECK-LABEL: func @transposed_constant
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[\[}}2.000000e+00, 1.000000e+00], [1.000000e+00, 0.000000e+00], [4.000000e+00, 1.000000e+00], [3.000000e+00, 0.000000e+00]]> : tensor<4x2xf32>
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%{{.*}}, %[[W2]] : tensor<3x2xf32>, tensor<4x2xf32>)
// CHECK-NOT: kha.linear_knock
func.func @transposed_constant(%x: tensor<3x2xf32>) -> tensor<1x3x2x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]]> : tensor<4x2xf32>
  %t = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<3x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %p = linalg.matmul
         indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                          affine_map<(m, n, k) -> (n, k)>,
                          affine_map<(m, n, k) -> (m, n)>]
         ins(%x, %w : tensor<3x2xf32>, tensor<4x2xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [1, 3, 2, 2] : tensor<3x4xf32> into tensor<1x3x2x2xf32>
  %k = kha.linear_knock %h, %t : tensor<1x3x2x2xf32>, tensor<2x2xf32>
  return %k : tensor<1x3x2x2xf32>
}

// -----

// A linalg.generic multiply-add contraction is a projection too.
// CHECK-LABEL: func @generic
// CHECK-SAME: (%[[X:.*]]: tensor<6x16xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[T:.*]]: tensor<4x4xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %[[T]] : tensor<32x4xf32>, tensor<4x4xf32>)
// CHECK: %[[W2:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2]] : tensor<16x2x4xf32> into tensor<16x8xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[W2]] : tensor<6x16xf32>, tensor<16x8xf32>)
// CHECK-NOT: kha.linear_knock
func.func @generic(%x: tensor<6x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf32>) -> tensor<2x3x2x4xf32> {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                        affine_map<(m, n, k) -> (k, n)>,
                                        affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
         ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<6x8xf32>
  %h = tensor.expand_shape %p [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k = kha.linear_knock %h, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k : tensor<2x3x2x4xf32>
}

// -----

// Left alone among the batched forms: weights that differ across the batch
// (a [B, D, N*d] argument, not a broadcast), a knock matrix computed after
// the projection, and a max-reduction (not linear) in place of the sum.
// CHECK-LABEL: func @batch_refusals
// CHECK-COUNT-3: kha.linear_knock
func.func @batch_refusals(%x: tensor<2x3x16xf32>, %wb: tensor<2x16x8xf32>, %t: tensor<4x4xf32>, %x2: tensor<6x16xf32>, %w: tensor<16x8xf32>)
    -> (tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>) {
  %e = tensor.empty() : tensor<2x3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %p0 = linalg.batch_matmul ins(%x, %wb : tensor<2x3x16xf32>, tensor<2x16x8xf32>) outs(%f : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %h0 = tensor.expand_shape %p0 [[0], [1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  %k0 = kha.linear_knock %h0, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<6x8xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<6x8xf32>) -> tensor<6x8xf32>
  %p1 = linalg.matmul ins(%x2, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f2 : tensor<6x8xf32>) -> tensor<6x8xf32>
  %t1 = arith.addf %t, %t : tensor<4x4xf32>
  %h1 = tensor.expand_shape %p1 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k1 = kha.linear_knock %h1, %t1 : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  %p2 = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                         affine_map<(m, n, k) -> (k, n)>,
                                         affine_map<(m, n, k) -> (m, n)>],
                        iterator_types = ["parallel", "parallel", "reduction"]}
         ins(%x2, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f2 : tensor<6x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.maximumf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<6x8xf32>
  %h2 = tensor.expand_shape %p2 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k2 = kha.linear_knock %h2, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k0, %k1, %k2 : tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>
}

// -----

// The MLP knock's down projection D moves through attention (linear in its
// values) into the output projection: Wo_h <- D Wo_h for every head's row
// block of Wo [H*d, D] (GQA: H = 4 query heads over G = 2 value heads, all
// sharing D); the knock keeps up and gate, its down becomes the identity.
// CHECK-LABEL: func @mlp_down
// CHECK-SAME: (%[[V:.*]]: tensor<1x3x2x4xf32>, %[[Q:.*]]: tensor<1x3x4x4xf32>, %[[K:.*]]: tensor<1x3x2x4xf32>, %[[UP:.*]]: tensor<4x4xf32>, %[[GATE:.*]]: tensor<4x4xf32>, %[[DOWN:.*]]: tensor<4x4xf32>, %[[WO:.*]]: tensor<16x8xf32>)
// CHECK: %[[EYE:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00
// CHECK: %[[M:.*]] = kha.mlp_knock %[[V]], %[[UP]], %[[GATE]], %[[EYE]]
// CHECK: %[[O:.*]] = kha.sdpa %[[Q]], %[[K]], %[[M]]
// CHECK: %[[OF:.*]] = tensor.collapse_shape %[[O]]
// CHECK: %[[WB:.*]] = tensor.expand_shape %[[WO]] {{\[\[}}0, 1], [2]] output_shape [4, 4, 8] : tensor<16x8xf32> into tensor<4x4x8xf32>
// CHECK: %[[WI:.*]] = linalg.transpose ins(%[[WB]] : tensor<4x4x8xf32>) outs(%{{.*}} : tensor<4x4x8xf32>) permutation = [1, 0, 2]
// CHECK: %[[WC:.*]] = tensor.collapse_shape %[[WI]] {{\[\[}}0], [1, 2]] : tensor<4x4x8xf32> into tensor<4x32xf32>
// CHECK: %[[DW:.*]] = linalg.matmul ins(%[[DOWN]], %[[WC]] : tensor<4x4xf32>, tensor<4x32xf32>)
// CHECK: %[[W2:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<4x4x8xf32> into tensor<16x8xf32>
// CHECK: %[[Y:.*]] = linalg.matmul ins(%[[OF]], %[[W2]] : tensor<3x16xf32>, tensor<16x8xf32>)
// CHECK: return %[[Y]]
func.func @mlp_down(%v: tensor<1x3x2x4xf32>, %q: tensor<1x3x4x4xf32>, %k: tensor<1x3x2x4xf32>, %up: tensor<4x4xf32>, %gate: tensor<4x4xf32>, %down: tensor<4x4xf32>, %wo: tensor<16x8xf32>) -> tensor<3x8xf32> {
  %m = kha.mlp_knock %v, %up, %gate, %down : tensor<1x3x2x4xf32>, tensor<4x4xf32>
  %sdpa_init = tensor.empty() : tensor<1x3x4x4xf32>
  %o = kha.sdpa %q, %k, %m outs(%sdpa_init) {causal, scale = 0.5 : f64} : (tensor<1x3x4x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %of = tensor.collapse_shape %o [[0, 1], [2, 3]] : tensor<1x3x4x4xf32> into tensor<3x16xf32>
  %e = tensor.empty() : tensor<3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x8xf32>) -> tensor<3x8xf32>
  %y = linalg.matmul ins(%of, %wo : tensor<3x16xf32>, tensor<16x8xf32>) outs(%f : tensor<3x8xf32>) -> tensor<3x8xf32>
  return %y : tensor<3x8xf32>
}

// -----

// Dynamic sizes: tensor.dim reads the merged heads' size for the output
// projection's accumulator; that is no other use, and the fold happens. A
// second, real reader of the merged heads (returned) stops it.
// CHECK-LABEL: func @mlp_down_dynamic
// CHECK: kha.mlp_knock %{{.*}}, %{{.*}}, %{{.*}}, %[[EYE:.*]] :
// CHECK: %[[DW:.*]] = linalg.matmul ins(%arg5, %{{.*}} : tensor<4x4xf32>, tensor<4x32xf32>)
// CHECK: kha.mlp_knock %{{.*}}, %{{.*}}, %{{.*}}, %arg5 :
func.func @mlp_down_dynamic(%v: tensor<1x?x2x4xf32>, %q: tensor<1x?x4x4xf32>, %k: tensor<1x?x2x4xf32>, %up: tensor<4x4xf32>, %gate: tensor<4x4xf32>, %down: tensor<4x4xf32>, %wo: tensor<16x8xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x16xf32>) {
  %c0 = arith.constant 0 : index
  %z = arith.constant 0.0 : f32
  %m = kha.mlp_knock %v, %up, %gate, %down : tensor<1x?x2x4xf32>, tensor<4x4xf32>
  %sdpa_c2_1 = arith.constant 1 : index
  %sdpa_d2_1 = tensor.dim %q, %sdpa_c2_1 : tensor<1x?x4x4xf32>
  %sdpa_init2 = tensor.empty(%sdpa_d2_1) : tensor<1x?x4x4xf32>
  %o = kha.sdpa %q, %k, %m outs(%sdpa_init2) {causal, scale = 0.5 : f64} : (tensor<1x?x4x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x4x4xf32>) -> tensor<1x?x4x4xf32>
  %of = tensor.collapse_shape %o [[0, 1], [2, 3]] : tensor<1x?x4x4xf32> into tensor<?x16xf32>
  %n = tensor.dim %of, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%n) : tensor<?x8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = linalg.matmul ins(%of, %wo : tensor<?x16xf32>, tensor<16x8xf32>) outs(%f : tensor<?x8xf32>) -> tensor<?x8xf32>
  %m2 = kha.mlp_knock %v, %up, %gate, %down : tensor<1x?x2x4xf32>, tensor<4x4xf32>
  %sdpa_c3_1 = arith.constant 1 : index
  %sdpa_d3_1 = tensor.dim %q, %sdpa_c3_1 : tensor<1x?x4x4xf32>
  %sdpa_init3 = tensor.empty(%sdpa_d3_1) : tensor<1x?x4x4xf32>
  %o2 = kha.sdpa %q, %k, %m2 outs(%sdpa_init3) {causal, scale = 0.5 : f64} : (tensor<1x?x4x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x4x4xf32>) -> tensor<1x?x4x4xf32>
  %of2 = tensor.collapse_shape %o2 [[0, 1], [2, 3]] : tensor<1x?x4x4xf32> into tensor<?x16xf32>
  %y2 = linalg.matmul ins(%of2, %wo : tensor<?x16xf32>, tensor<16x8xf32>) outs(%f : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y, %y2, %of2 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x16xf32>
}

// -----

// Constant down and output weights: D Wo_h at compile time. With one head of
// d = 2, D = [[0, 1], [1, 0]] swaps the rows of Wo = [[1, 2], [3, 4]].
// CHECK-LABEL: func @mlp_down_constant
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[\[}}3.000000e+00, 4.000000e+00], [1.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W2]] : tensor<1x2xf32>, tensor<2x2xf32>)
func.func @mlp_down_constant(%v: tensor<1x1x1x2xf32>, %q: tensor<1x1x1x2xf32>, %up: tensor<2x2xf32>, %gate: tensor<2x2xf32>) -> tensor<1x2xf32> {
  %down = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %wo = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %m = kha.mlp_knock %v, %up, %gate, %down : tensor<1x1x1x2xf32>, tensor<2x2xf32>
  %sdpa_init4 = tensor.empty() : tensor<1x1x1x2xf32>
  %o = kha.sdpa %q, %q, %m outs(%sdpa_init4) {scale = 0.5 : f64} : (tensor<1x1x1x2xf32>, tensor<1x1x1x2xf32>, tensor<1x1x1x2xf32>, tensor<1x1x1x2xf32>) -> tensor<1x1x1x2xf32>
  %of = tensor.collapse_shape %o [[0, 1], [2, 3]] : tensor<1x1x1x2xf32> into tensor<1x2xf32>
  %e = tensor.empty() : tensor<1x2xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%of, %wo : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Left alone: knocked values with another user, an attention output with
// another user, and an output projection accumulating into non-zero values.
// CHECK-LABEL: func @mlp_down_refusals
// CHECK-COUNT-3: kha.mlp_knock %{{.*}}, %{{.*}}, %{{.*}}, %arg5 :
func.func @mlp_down_refusals(%v: tensor<1x3x2x4xf32>, %q: tensor<1x3x4x4xf32>, %k: tensor<1x3x2x4xf32>, %up: tensor<4x4xf32>, %gate: tensor<4x4xf32>, %down: tensor<4x4xf32>, %wo: tensor<16x8xf32>, %c: tensor<3x8xf32>)
    -> (tensor<3x8xf32>, tensor<1x3x2x4xf32>, tensor<3x8xf32>, tensor<1x3x4x4xf32>, tensor<3x8xf32>) {
  %e = tensor.empty() : tensor<3x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x8xf32>) -> tensor<3x8xf32>
  %m0 = kha.mlp_knock %v, %up, %gate, %down : tensor<1x3x2x4xf32>, tensor<4x4xf32>
  %sdpa_init5 = tensor.empty() : tensor<1x3x4x4xf32>
  %o0 = kha.sdpa %q, %k, %m0 outs(%sdpa_init5) {scale = 0.5 : f64} : (tensor<1x3x4x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %of0 = tensor.collapse_shape %o0 [[0, 1], [2, 3]] : tensor<1x3x4x4xf32> into tensor<3x16xf32>
  %y0 = linalg.matmul ins(%of0, %wo : tensor<3x16xf32>, tensor<16x8xf32>) outs(%f : tensor<3x8xf32>) -> tensor<3x8xf32>
  %m1 = kha.mlp_knock %v, %up, %gate, %down : tensor<1x3x2x4xf32>, tensor<4x4xf32>
  %sdpa_init6 = tensor.empty() : tensor<1x3x4x4xf32>
  %o1 = kha.sdpa %q, %k, %m1 outs(%sdpa_init6) {scale = 0.5 : f64} : (tensor<1x3x4x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %of1 = tensor.collapse_shape %o1 [[0, 1], [2, 3]] : tensor<1x3x4x4xf32> into tensor<3x16xf32>
  %y1 = linalg.matmul ins(%of1, %wo : tensor<3x16xf32>, tensor<16x8xf32>) outs(%f : tensor<3x8xf32>) -> tensor<3x8xf32>
  %m2 = kha.mlp_knock %v, %up, %gate, %down : tensor<1x3x2x4xf32>, tensor<4x4xf32>
  %sdpa_init7 = tensor.empty() : tensor<1x3x4x4xf32>
  %o2 = kha.sdpa %q, %k, %m2 outs(%sdpa_init7) {scale = 0.5 : f64} : (tensor<1x3x4x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %of2 = tensor.collapse_shape %o2 [[0, 1], [2, 3]] : tensor<1x3x4x4xf32> into tensor<3x16xf32>
  %y2 = linalg.matmul ins(%of2, %wo : tensor<3x16xf32>, tensor<16x8xf32>) outs(%c : tensor<3x8xf32>) -> tensor<3x8xf32>
  return %y0, %m0, %y1, %o1, %y2 : tensor<3x8xf32>, tensor<1x3x2x4xf32>, tensor<3x8xf32>, tensor<1x3x4x4xf32>, tensor<3x8xf32>
}

// -----

// Left alone: a knock after RMSNorm (not linear in the projection), a
// projection whose result has another user, a matmul accumulating into
// non-zero values, and an MLP knock whose values feed no attention.
// CHECK-LABEL: func @refusals
// CHECK-COUNT-3: kha.linear_knock
// CHECK: kha.mlp_knock
func.func @refusals(%x: tensor<6x16xf32>, %w: tensor<16x8xf32>, %t: tensor<4x4xf32>, %nw: tensor<4xf32>, %c: tensor<6x8xf32>)
    -> (tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<6x8xf32>, tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>) {
  %e = tensor.empty() : tensor<6x8xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x8xf32>) -> tensor<6x8xf32>
  // After RMSNorm.
  %p0 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %h0 = tensor.expand_shape %p0 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %n0 = kha.rms_norm %h0, %nw {epsilon = 1.0e-6 : f64} : tensor<2x3x2x4xf32>, tensor<4xf32>
  %k0 = kha.linear_knock %n0, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  // The projection has another user.
  %p1 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %h1 = tensor.expand_shape %p1 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k1 = kha.linear_knock %h1, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  // Accumulating into %c: (c + x W) T is not c + x (W T).
  %p2 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%c : tensor<6x8xf32>) -> tensor<6x8xf32>
  %h2 = tensor.expand_shape %p2 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k2 = kha.linear_knock %h2, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  // The MLP knock.
  %p3 = linalg.matmul ins(%x, %w : tensor<6x16xf32>, tensor<16x8xf32>) outs(%f : tensor<6x8xf32>) -> tensor<6x8xf32>
  %h3 = tensor.expand_shape %p3 [[0, 1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<6x8xf32> into tensor<2x3x2x4xf32>
  %k3 = kha.mlp_knock %h3, %t, %t, %t : tensor<2x3x2x4xf32>, tensor<4x4xf32>
  return %k0, %k1, %p1, %k2, %k3 : tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>, tensor<6x8xf32>, tensor<2x3x2x4xf32>, tensor<2x3x2x4xf32>
}
