// RUN: kha-opt %s --kha-outline-weight-preparation -split-input-file -verify-diagnostics | FileCheck %s

// A knock folded at run time: W T (and its zero-filled accumulator) moves to
// @folded_prepare; @folded_prepared reads the result; @folded calls both.
// The view of the weights and the projection of x stay.

// CHECK-LABEL: func.func @folded_prepare(
// CHECK-SAME:    %[[W:.*]]: tensor<8x4xf32>, %[[T:.*]]: tensor<4x4xf32>) -> tensor<8x4xf32>
// CHECK:         %[[Z:.*]] = linalg.fill
// CHECK:         %[[WT:.*]] = linalg.matmul ins(%[[W]], %[[T]] : {{.*}}) outs(%[[Z]] :
// CHECK:         return %[[WT]]
// CHECK-LABEL: func.func @folded_prepared(
// CHECK-SAME:    %[[X:.*]]: tensor<?x8xf32>, %{{.*}}: tensor<8x4xf32>, %{{.*}}: tensor<4x4xf32>, %[[P:.*]]: tensor<8x4xf32>) -> tensor<?x4xf32>
// CHECK-NOT:     linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x4xf32>, tensor<4x4xf32>)
// CHECK:         linalg.matmul ins(%[[X]], %[[P]] : tensor<?x8xf32>, tensor<8x4xf32>)
// CHECK-LABEL: func.func @folded(
// CHECK-SAME:    %[[X2:.*]]: tensor<?x8xf32>, %[[W2:.*]]: tensor<8x4xf32> {kha.weight}, %[[T2:.*]]: tensor<4x4xf32> {kha.weight})
// CHECK-SAME:    attributes {kha.prepare = [@folded_prepare, @folded_prepared]}
// CHECK:         %[[PR:.*]] = call @folded_prepare(%[[W2]], %[[T2]])
// CHECK:         %[[Y:.*]] = call @folded_prepared(%[[X2]], %[[W2]], %[[T2]], %[[PR]])
// CHECK:         return %[[Y]]
func.func @folded(%x: tensor<?x8xf32>, %w: tensor<8x4xf32> {kha.weight},
                  %t: tensor<4x4xf32> {kha.weight}) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  %wt = linalg.matmul ins(%w, %t : tensor<8x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<8x4xf32>) -> tensor<8x4xf32>
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %e2 = tensor.empty(%n) : tensor<?x4xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<?x8xf32>, tensor<8x4xf32>)
                     outs(%z2 : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Left alone: only reshapes of the weights (nothing to compute once), a
// result larger than any weight (a bias broadcast over 16 rows), and
// functions without weights or not public.

// CHECK-LABEL: func.func @views_and_broadcasts(
// CHECK-NOT:   kha.prepare
// CHECK-NOT:   call
// CHECK:       tensor.collapse_shape
// CHECK:       linalg.broadcast
// CHECK-NOT:   func.func @views_and_broadcasts_prepare
func.func @views_and_broadcasts(%x: tensor<16x8xf32>, %w: tensor<2x4x4xf32> {kha.weight},
                                %b: tensor<4xf32> {kha.weight}) -> tensor<16x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w2 = tensor.collapse_shape %w [[0, 1], [2]] : tensor<2x4x4xf32> into tensor<8x4xf32>
  %e = tensor.empty() : tensor<16x4xf32>
  %bb = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<16x4xf32>) dimensions = [0]
  %y = linalg.matmul ins(%x, %w2 : tensor<16x8xf32>, tensor<8x4xf32>)
                     outs(%bb : tensor<16x4xf32>) -> tensor<16x4xf32>
  return %y : tensor<16x4xf32>
}

// CHECK-LABEL: func.func @no_weights(
// CHECK-NOT:   call
func.func @no_weights(%w: tensor<8x4xf32>, %t: tensor<4x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  %wt = linalg.matmul ins(%w, %t : tensor<8x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %wt : tensor<8x4xf32>
}

// CHECK-LABEL: func.func private @private_fn(
// CHECK-NOT:   call
func.func private @private_fn(%w: tensor<8x4xf32> {kha.weight}, %t: tensor<4x4xf32> {kha.weight}) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  %wt = linalg.matmul ins(%w, %t : tensor<8x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %wt : tensor<8x4xf32>
}

// -----

// Two prepared values; a weight the rest reads directly stays an argument
// of the prepared function (both read it); a constant used on both sides is
// cloned into each, and so is the zero fill both sides accumulate into.

// CHECK-LABEL: func.func @two_prepare(
// CHECK-SAME:    %[[W:.*]]: tensor<4x4xf32>, %[[T:.*]]: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>)
// CHECK-DAG:     %[[A:.*]] = linalg.matmul ins(%[[W]], %[[T]]
// CHECK-DAG:     %[[B:.*]] = linalg.matmul ins(%[[T]], %[[T]]
// CHECK:         return %[[A]], %[[B]]
// CHECK-LABEL: func.func @two_prepared(
// CHECK-SAME:    %[[X:.*]]: tensor<4x4xf32>, %[[W2:.*]]: tensor<4x4xf32>, %{{.*}}: tensor<4x4xf32>, %[[P0:.*]]: tensor<4x4xf32>, %[[P1:.*]]: tensor<4x4xf32>)
// CHECK:         arith.constant 2.0
// CHECK:         linalg.elementwise kind=#linalg.elementwise_kind<mul> ins(%[[X]]
// CHECK:         linalg.matmul ins(%{{.*}}, %[[P0]]
// CHECK:         linalg.matmul ins(%{{.*}}, %[[P1]]
// CHECK:         linalg.matmul ins(%{{.*}}, %[[W2]]
// CHECK-LABEL: func.func @two(
// CHECK:         %[[R:.*]]:2 = call @two_prepare(
// CHECK:         call @two_prepared(%{{.*}}, %{{.*}}, %{{.*}}, %[[R]]#0, %[[R]]#1)
func.func @two(%x: tensor<4x4xf32>, %w: tensor<4x4xf32> {kha.weight},
               %t: tensor<4x4xf32> {kha.weight}) -> tensor<4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %two4 = linalg.fill ins(%two : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %wt = linalg.matmul ins(%w, %t : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %t2 = linalg.matmul ins(%t, %t : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %xs = linalg.elementwise kind=#linalg.elementwise_kind<mul>
          ins(%x, %two4 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %a = linalg.matmul ins(%xs, %wt : tensor<4x4xf32>, tensor<4x4xf32>)
                     outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %b = linalg.matmul ins(%a, %t2 : tensor<4x4xf32>, tensor<4x4xf32>)
                     outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %c = linalg.matmul ins(%b, %w : tensor<4x4xf32>, tensor<4x4xf32>)
                     outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %c : tensor<4x4xf32>
}

// -----

// An f16 layer: the fold computes W T in f32 and rounds it to f16; the
// rounding and the reshape go with it, so the prepared value is the f16
// weight the projection reads. The widening of the other weight (wk) for its
// own projection stays: passing it on in f32 would double its bytes.

// CHECK-LABEL: func.func @half_prepare(
// CHECK-SAME:    -> tensor<2x4x4xf16>
// CHECK:         linalg.matmul
// CHECK:         arith.truncf
// CHECK:         tensor.expand_shape
// CHECK-NOT:     arith.extf %{{.*}} : tensor<8x4xf16>
// CHECK:         return
// CHECK-LABEL: func.func @half_prepared(
// CHECK:         arith.extf %{{.*}} : tensor<8x4xf16> to tensor<8x4xf32>
// CHECK-LABEL: func.func @half(
func.func @half(%x: tensor<3x8xf32>, %wq: tensor<8x4xf16> {kha.weight}, %t: tensor<4x4xf16> {kha.weight},
                %wk: tensor<8x4xf16> {kha.weight}) -> (tensor<2x4x4xf16>, tensor<3x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  %wt = linalg.matmul ins(%wq, %t : tensor<8x4xf16>, tensor<4x4xf16>)
                      outs(%z : tensor<8x4xf32>) -> tensor<8x4xf32>
  %r = arith.truncf %wt : tensor<8x4xf32> to tensor<8x4xf16>
  %v = tensor.expand_shape %r [[0, 1], [2]] output_shape [2, 4, 4] : tensor<8x4xf16> into tensor<2x4x4xf16>
  %wk32 = arith.extf %wk : tensor<8x4xf16> to tensor<8x4xf32>
  %e2 = tensor.empty() : tensor<3x4xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<3x4xf32>) -> tensor<3x4xf32>
  %k = linalg.matmul ins(%x, %wk32 : tensor<3x8xf32>, tensor<8x4xf32>)
                     outs(%z2 : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %v, %k : tensor<2x4x4xf16>, tensor<3x4xf32>
}

// -----

// The outlined functions' names must be free.
func.func @taken_prepare() {
  return
}
// expected-error @+1 {{cannot outline the weight preparation of 'taken': a symbol named 'taken_prepare' exists}}
func.func @taken(%x: tensor<4x4xf32>, %w: tensor<4x4xf32> {kha.weight}) -> tensor<4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %ww = linalg.matmul ins(%w, %w : tensor<4x4xf32>, tensor<4x4xf32>)
                      outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %y = linalg.matmul ins(%x, %ww : tensor<4x4xf32>, tensor<4x4xf32>)
                     outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

// Weights packed into panels (kha-pack-matmul-weights): the packing is done
// once, in @packed_prepare, and @packed_prepared reads the panels.
// CHECK-LABEL: func.func @packed_prepare(
// CHECK-SAME:    %[[W:.*]]: tensor<8x8xf32>) -> tensor<2x8x4xf32>
// CHECK:         %[[P:.*]] = linalg.pack %[[W]]
// CHECK:         return %[[P]]
// CHECK-LABEL: func.func @packed_prepared(
// CHECK-SAME:    %[[X:.*]]: tensor<2x8xf32>, %{{.*}}: tensor<8x8xf32>, %[[PP:.*]]: tensor<2x8x4xf32>)
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.contract {{.*}} ins(%[[X]], %[[PP]] :
// CHECK-LABEL: func.func @packed(
// CHECK-SAME:    attributes {kha.prepare = [@packed_prepare, @packed_prepared]}
func.func @packed(%x: tensor<2x8xf32>, %w: tensor<8x8xf32> {kha.weight}) -> tensor<2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x8xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
  %pe = tensor.empty() : tensor<2x8x4xf32>
  %p = linalg.pack %w outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [4] into %pe
      : tensor<8x8xf32> -> tensor<2x8x4xf32>
  %v = tensor.expand_shape %c [[0], [1, 2]] output_shape [2, 2, 4] : tensor<2x8xf32> into tensor<2x2x4xf32>
  %r = linalg.contract indexing_maps = [affine_map<(m, j, c, k) -> (m, k)>, affine_map<(m, j, c, k) -> (j, k, c)>, affine_map<(m, j, c, k) -> (m, j, c)>]
      ins(%x, %p : tensor<2x8xf32>, tensor<2x8x4xf32>) outs(%v : tensor<2x2x4xf32>) -> tensor<2x2x4xf32>
  %y = tensor.collapse_shape %r [[0], [1, 2]] : tensor<2x2x4xf32> into tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
