// RUN: kha-opt %s --kha-raise-attention --split-input-file | FileCheck %s

// Generic contractions over [B, H, L, d], a scale on the scores and
// linalg.softmax: the operands are transposed into kha's [B, L, H, d] and the
// result back.

#q = affine_map<(b, h, l, s, e) -> (b, h, l, e)>
#k = affine_map<(b, h, l, s, e) -> (b, h, s, e)>
#s = affine_map<(b, h, l, s, e) -> (b, h, l, s)>
#p = affine_map<(b, h, l, e, s) -> (b, h, l, s)>
#v = affine_map<(b, h, l, e, s) -> (b, h, s, e)>
#o = affine_map<(b, h, l, e, s) -> (b, h, l, e)>
#id = affine_map<(b, h, l, s) -> (b, h, l, s)>

// CHECK-LABEL: func.func @generic_bhld
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x4x32x8xf32>, %[[V:.*]]: tensor<2x4x32x8xf32>)
// CHECK-DAG: %[[QT:.*]] = linalg.transpose ins(%[[Q]] {{.*}} permutation = [0, 2, 1, 3]
// CHECK-DAG: %[[KT:.*]] = linalg.transpose ins(%[[K]] {{.*}} permutation = [0, 2, 1, 3]
// CHECK-DAG: %[[VT:.*]] = linalg.transpose ins(%[[V]] {{.*}} permutation = [0, 2, 1, 3]
// CHECK: %[[A:.*]] = kha.sdpa %[[QT]], %[[KT]], %[[VT]] outs(%{{.*}}) {scale = 2.500000e-01 : f64}
// CHECK-SAME: -> tensor<2x16x4x8xf32>
// CHECK: %[[O:.*]] = linalg.transpose ins(%[[A]] {{.*}} permutation = [0, 2, 1, 3]
// CHECK-NOT: linalg.softmax
// CHECK: return %[[O]]
func.func @generic_bhld(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x32x8xf32>,
                        %v: tensor<2x4x32x8xf32>) -> tensor<2x4x16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %e0 = tensor.empty() : tensor<2x4x16x32xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<2x4x16x32xf32>) -> tensor<2x4x16x32xf32>
  %scores = linalg.generic {indexing_maps = [#q, #k, #s],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x4x16x8xf32>, tensor<2x4x32x8xf32>) outs(%z0 : tensor<2x4x16x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x4x16x32xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%scores : tensor<2x4x16x32xf32>) outs(%e0 : tensor<2x4x16x32xf32>) {
  ^bb0(%a: f32, %c: f32):
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  } -> tensor<2x4x16x32xf32>
  %probs = linalg.softmax dimension(3) ins(%scaled : tensor<2x4x16x32xf32>) outs(%e0 : tensor<2x4x16x32xf32>) -> tensor<2x4x16x32xf32>
  %e1 = tensor.empty() : tensor<2x4x16x8xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  %out = linalg.generic {indexing_maps = [#p, #v, #o],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%probs, %v : tensor<2x4x16x32xf32>, tensor<2x4x32x8xf32>) outs(%z1 : tensor<2x4x16x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x4x16x8xf32>
  return %out : tensor<2x4x16x8xf32>
}

// -----

// As tosa-to-linalg writes attention over [B*H, L, d]: batch_matmul with a
// transposed K, a scale by a broadcast constant, reductions with a kept unit
// dimension, the reciprocal of the sums. Each of the 8 batches is a batch of
// one head: no transposes, a unit head dimension.

#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (0, 0, 0)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1, 0)>

// CHECK-LABEL: func.func @tosa_form
// CHECK-SAME: (%[[Q:.*]]: tensor<8x16x32xf32>, %[[K:.*]]: tensor<8x16x32xf32>, %[[V:.*]]: tensor<8x16x32xf32>)
// CHECK-NOT: linalg.transpose
// CHECK-DAG: %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1], [2, 3]] {{.*}} into tensor<8x16x1x32xf32>
// CHECK-DAG: %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[}}[0], [1], [2, 3]] {{.*}} into tensor<8x16x1x32xf32>
// CHECK-DAG: %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[}}[0], [1], [2, 3]] {{.*}} into tensor<8x16x1x32xf32>
// CHECK: %[[A:.*]] = kha.sdpa %[[Q4]], %[[K4]], %[[V4]] outs(%{{.*}}) {scale = 0.1767766{{[0-9]*}} : f64}
// CHECK-SAME: -> tensor<8x16x1x32xf32>
// CHECK: %[[O:.*]] = tensor.collapse_shape %[[A]] {{\[}}[0], [1], [2, 3]]
// CHECK-NOT: linalg.batch_matmul
// CHECK: return %[[O]]
func.func @tosa_form(%arg0: tensor<8x16x32xf32>, %arg1: tensor<8x16x32xf32>, %arg2: tensor<8x16x32xf32>) -> tensor<8x16x32xf32> {
  %cst = arith.constant 1.000000e+00 : f32
  %cst_0 = arith.constant -3.40282347E+38 : f32
  %cst_1 = arith.constant dense<0.176776692> : tensor<1x1x1xf32>
  %cst_2 = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<8x32x16xf32>
  %transposed = linalg.transpose ins(%arg1 : tensor<8x16x32xf32>) outs(%0 : tensor<8x32x16xf32>) permutation = [0, 2, 1]
  %1 = tensor.empty() : tensor<8x16x16xf32>
  %2 = linalg.fill ins(%cst_2 : f32) outs(%1 : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %3 = linalg.batch_matmul ins(%arg0, %transposed : tensor<8x16x32xf32>, tensor<8x32x16xf32>) outs(%2 : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%3, %cst_1 : tensor<8x16x16xf32>, tensor<1x1x1xf32>) outs(%1 : tensor<8x16x16xf32>) {
  ^bb0(%in: f32, %in_5: f32, %out: f32):
    %21 = arith.mulf %in, %in_5 : f32
    linalg.yield %21 : f32
  } -> tensor<8x16x16xf32>
  %6 = tensor.empty() : tensor<8x16xf32>
  %7 = linalg.fill ins(%cst_0 : f32) outs(%6 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %reduced = linalg.reduce ins(%5 : tensor<8x16x16xf32>) outs(%7 : tensor<8x16xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %21 = arith.maximumf %in, %init : f32
      linalg.yield %21 : f32
    }
  %expanded = tensor.expand_shape %reduced [[0], [1, 2]] output_shape [8, 16, 1] : tensor<8x16xf32> into tensor<8x16x1xf32>
  %9 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%5, %expanded : tensor<8x16x16xf32>, tensor<8x16x1xf32>) outs(%1 : tensor<8x16x16xf32>) {
  ^bb0(%in: f32, %in_5: f32, %out: f32):
    %21 = arith.subf %in, %in_5 : f32
    linalg.yield %21 : f32
  } -> tensor<8x16x16xf32>
  %11 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%9 : tensor<8x16x16xf32>) outs(%1 : tensor<8x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %21 = math.exp %in : f32
    linalg.yield %21 : f32
  } -> tensor<8x16x16xf32>
  %13 = linalg.fill ins(%cst_2 : f32) outs(%6 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %reduced_3 = linalg.reduce ins(%11 : tensor<8x16x16xf32>) outs(%13 : tensor<8x16xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %21 = arith.addf %in, %init : f32
      linalg.yield %21 : f32
    }
  %expanded_4 = tensor.expand_shape %reduced_3 [[0], [1, 2]] output_shape [8, 16, 1] : tensor<8x16xf32> into tensor<8x16x1xf32>
  %14 = tensor.empty() : tensor<8x16x1xf32>
  %15 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%expanded_4 : tensor<8x16x1xf32>) outs(%14 : tensor<8x16x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %21 = arith.divf %cst, %in : f32
    linalg.yield %21 : f32
  } -> tensor<8x16x1xf32>
  %17 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%11, %15 : tensor<8x16x16xf32>, tensor<8x16x1xf32>) outs(%1 : tensor<8x16x16xf32>) {
  ^bb0(%in: f32, %in_5: f32, %out: f32):
    %21 = arith.mulf %in, %in_5 : f32
    linalg.yield %21 : f32
  } -> tensor<8x16x16xf32>
  %18 = tensor.empty() : tensor<8x16x32xf32>
  %19 = linalg.fill ins(%cst_2 : f32) outs(%18 : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  %20 = linalg.batch_matmul ins(%17, %arg2 : tensor<8x16x16xf32>, tensor<8x16x32xf32>) outs(%19 : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  return %20 : tensor<8x16x32xf32>
}

// -----

// Operands already in [B, L, H, d]; GQA by a broadcast of the two key/value
// heads collapsed into four; the scale on Q; a causal select on index
// comparisons fused with a padding mask [B, S] read at (b, s). No transpose
// is left; the padding mask is materialised as [B, H, L, S].

#q = affine_map<(b, h, l, s, e) -> (b, l, h, e)>
#k = affine_map<(b, h, l, s, e) -> (b, s, h, e)>
#s = affine_map<(b, h, l, s, e) -> (b, h, l, s)>
#p = affine_map<(b, h, l, e, s) -> (b, h, l, s)>
#v = affine_map<(b, h, l, e, s) -> (b, s, h, e)>
#o = affine_map<(b, h, l, e, s) -> (b, l, h, e)>
#id = affine_map<(b, h, l, s) -> (b, h, l, s)>
#pad = affine_map<(b, h, l, s) -> (b, s)>
#row = affine_map<(b, h, l, s) -> (b, h, l)>
#id4 = affine_map<(a, b, c, d) -> (a, b, c, d)>

// CHECK-LABEL: func.func @gqa_causal_padding
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x4x16xf32>, %[[K:.*]]: tensor<?x?x2x16xf32>, %[[V:.*]]: tensor<?x?x2x16xf32>, %[[PAD:.*]]: tensor<?x?xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: %[[M:.*]] = linalg.generic {{.*}} ins(%[[PAD]] : tensor<?x?xf32>)
// CHECK: %[[A:.*]] = kha.sdpa %[[Q]], %[[K]], %[[V]] mask(%[[M]]) outs(%{{.*}}) {causal, scale = 1.250000e-01 : f64}
// CHECK-SAME: (tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x4x?x?xf32>, tensor<?x?x4x16xf32>) -> tensor<?x?x4x16xf32>
// CHECK-NOT: linalg.transpose
// CHECK: return %[[A]]
func.func @gqa_causal_padding(%q: tensor<?x?x4x16xf32>, %k: tensor<?x?x2x16xf32>,
                              %v: tensor<?x?x2x16xf32>, %pad: tensor<?x?xf32>) -> tensor<?x?x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %half = arith.constant 0.5 : f32
  %cst_q = arith.constant 0.25 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %B = tensor.dim %q, %c0 : tensor<?x?x4x16xf32>
  %L = tensor.dim %q, %c1 : tensor<?x?x4x16xf32>
  %S = tensor.dim %k, %c1 : tensor<?x?x2x16xf32>
  // Q * 0.5, then scores * 0.25: a scale of 1/8.
  %eq = tensor.empty(%B, %L) : tensor<?x?x4x16xf32>
  %qs = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<?x?x4x16xf32>) outs(%eq : tensor<?x?x4x16xf32>) {
  ^bb0(%a: f32, %c: f32):
    %m = arith.mulf %a, %half : f32
    linalg.yield %m : f32
  } -> tensor<?x?x4x16xf32>
  // K and V heads repeated: [B, S, 2, 16] -> [B, S, 2, 2, 16] -> [B, S, 4, 16].
  %eb = tensor.empty(%B, %S) : tensor<?x?x2x2x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<?x?x2x16xf32>) outs(%eb : tensor<?x?x2x2x16xf32>) dimensions = [3]
  %vb = linalg.broadcast ins(%v : tensor<?x?x2x16xf32>) outs(%eb : tensor<?x?x2x2x16xf32>) dimensions = [3]
  %kr = tensor.collapse_shape %kb [[0], [1], [2, 3], [4]] : tensor<?x?x2x2x16xf32> into tensor<?x?x4x16xf32>
  %vr = tensor.collapse_shape %vb [[0], [1], [2, 3], [4]] : tensor<?x?x2x2x16xf32> into tensor<?x?x4x16xf32>
  %e0 = tensor.empty(%B, %L, %S) : tensor<?x4x?x?xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %scores = linalg.generic {indexing_maps = [#q, #k, #s],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%qs, %kr : tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>) outs(%z0 : tensor<?x4x?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x4x?x?xf32>
  // One generic: scale, padding mask, causal select.
  %masked = linalg.generic {indexing_maps = [#id, #pad, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%scores, %pad : tensor<?x4x?x?xf32>, tensor<?x?xf32>) outs(%e0 : tensor<?x4x?x?xf32>) {
  ^bb0(%a: f32, %m: f32, %c: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %x = arith.mulf %a, %cst_q : f32
    %y = arith.addf %x, %m : f32
    %above = arith.cmpi ugt, %j, %i : index
    %r = arith.select %above, %ninf, %y : f32
    linalg.yield %r : f32
  } -> tensor<?x4x?x?xf32>
  // softmax, decomposed, with the subtraction and exp fused.
  %er = tensor.empty(%B, %L) : tensor<?x4x?xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%er : tensor<?x4x?xf32>) -> tensor<?x4x?xf32>
  %max = linalg.reduce ins(%masked : tensor<?x4x?x?xf32>) outs(%fm : tensor<?x4x?xf32>) dimensions = [3]
    (%in: f32, %acc: f32) {
      %r = arith.maxnumf %in, %acc : f32
      linalg.yield %r : f32
    }
  %exp = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%masked, %max : tensor<?x4x?x?xf32>, tensor<?x4x?xf32>) outs(%e0 : tensor<?x4x?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  } -> tensor<?x4x?x?xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%er : tensor<?x4x?xf32>) -> tensor<?x4x?xf32>
  %sum = linalg.reduce ins(%exp : tensor<?x4x?x?xf32>) outs(%fs : tensor<?x4x?xf32>) dimensions = [3]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %probs = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%exp, %sum : tensor<?x4x?x?xf32>, tensor<?x4x?xf32>) outs(%e0 : tensor<?x4x?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<?x4x?x?xf32>
  %e1 = tensor.empty(%B, %L) : tensor<?x?x4x16xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x?x4x16xf32>) -> tensor<?x?x4x16xf32>
  %out = linalg.generic {indexing_maps = [#p, #v, #o],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%probs, %vr : tensor<?x4x?x?xf32>, tensor<?x?x4x16xf32>) outs(%z1 : tensor<?x?x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %c, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x?x4x16xf32>
  return %out : tensor<?x?x4x16xf32>
}

// -----

// One head, no batch: linalg.matmul with K transposed by linalg.transpose, a
// constant causal mask added to the scores (0 on and below the diagonal,
// the type's lowest above), a division by sqrt(d) and linalg.softmax. The
// constant becomes `causal`.

// CHECK-LABEL: func.func @single_head_constant_causal
// CHECK-SAME: (%[[Q:.*]]: tensor<4x4xf32>, %[[K:.*]]: tensor<4x4xf32>, %[[V:.*]]: tensor<4x2xf32>)
// CHECK: %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2, 3]] {{.*}} into tensor<1x4x1x4xf32>
// CHECK: %[[A:.*]] = kha.sdpa %[[Q4]], %{{.*}}, %{{.*}} outs(%{{.*}}) {causal, scale = 5.000000e-01 : f64}
// CHECK-SAME: -> tensor<1x4x1x2xf32>
// CHECK: %[[O:.*]] = tensor.collapse_shape %[[A]] {{\[}}[0, 1], [2, 3]]
// CHECK: return %[[O]] : tensor<4x2xf32>
func.func @single_head_constant_causal(%q: tensor<4x4xf32>, %k: tensor<4x4xf32>,
                                       %v: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %two_t = arith.constant dense<2.0> : tensor<4x4xf32>
  %mask = arith.constant dense<[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38],
                                [0.0, 0.0, -3.40282347E+38, -3.40282347E+38],
                                [0.0, 0.0, 0.0, -3.40282347E+38],
                                [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32>
  %et = tensor.empty() : tensor<4x4xf32>
  %kt = linalg.transpose ins(%k : tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) permutation = [1, 0]
  %z = linalg.fill ins(%zero : f32) outs(%et : tensor<4x4xf32>) -> tensor<4x4xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x4xf32>, tensor<4x4xf32>) outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  %d = linalg.div ins(%s, %two_t : tensor<4x4xf32>, tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m = linalg.add ins(%d, %mask : tensor<4x4xf32>, tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) -> tensor<4x4xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) -> tensor<4x4xf32>
  %eo = tensor.empty() : tensor<4x2xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x2xf32>) -> tensor<4x2xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x4xf32>, tensor<4x2xf32>) outs(%zo : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %o : tensor<4x2xf32>
}

// -----

// Near misses, left alone.

#id = affine_map<(l, s) -> (l, s)>

// The softmax runs over the query dimension.
// CHECK-LABEL: func.func @softmax_over_queries
// CHECK-NOT: kha.sdpa
// CHECK: linalg.softmax dimension(0)
func.func @softmax_over_queries(%q: tensor<4x8xf32>, %kt: tensor<8x6xf32>,
                                %v: tensor<6x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x8xf32>, tensor<8x6xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  %p = linalg.softmax dimension(0) ins(%s : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %eo = tensor.empty() : tensor<4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8xf32>) -> tensor<4x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x6xf32>, tensor<6x8xf32>) outs(%zo : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// A normalisation that is not a softmax: scores / rowsum(scores).
// CHECK-LABEL: func.func @sum_normalisation
// CHECK-NOT: kha.sdpa
// CHECK: linalg.reduce
func.func @sum_normalisation(%q: tensor<4x8xf32>, %kt: tensor<8x6xf32>,
                             %v: tensor<6x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x8xf32>, tensor<8x6xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  %er = tensor.empty() : tensor<4xf32>
  %zr = linalg.fill ins(%zero : f32) outs(%er : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%s : tensor<4x6xf32>) outs(%zr : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %p = linalg.generic {indexing_maps = [#id, affine_map<(l, s) -> (l)>, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s, %sum : tensor<4x6xf32>, tensor<4xf32>) outs(%e : tensor<4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<4x6xf32>
  %eo = tensor.empty() : tensor<4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8xf32>) -> tensor<4x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x6xf32>, tensor<6x8xf32>) outs(%zo : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// A mask that is not causal: keys j > i + 1 are masked (an offset).
// CHECK-LABEL: func.func @offset_mask
// CHECK-NOT: kha.sdpa
// CHECK: linalg.softmax
func.func @offset_mask(%q: tensor<4x8xf32>, %kt: tensor<8x6xf32>,
                       %v: tensor<6x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c1 = arith.constant 1 : index
  %e = tensor.empty() : tensor<4x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x8xf32>, tensor<8x6xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) {
  ^bb0(%a: f32, %c: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %i1 = arith.addi %i, %c1 : index
    %above = arith.cmpi sgt, %j, %i1 : index
    %r = arith.select %above, %ninf, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x6xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %eo = tensor.empty() : tensor<4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8xf32>) -> tensor<4x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x6xf32>, tensor<6x8xf32>) outs(%zo : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// A negative scale.
// CHECK-LABEL: func.func @negative_scale
// CHECK-NOT: kha.sdpa
// CHECK: linalg.softmax
func.func @negative_scale(%q: tensor<4x8xf32>, %kt: tensor<8x6xf32>,
                          %v: tensor<6x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %neg = arith.constant -0.5 : f32
  %e = tensor.empty() : tensor<4x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x8xf32>, tensor<8x6xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) {
  ^bb0(%a: f32, %c: f32):
    %r = arith.mulf %a, %neg : f32
    linalg.yield %r : f32
  } -> tensor<4x6xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %eo = tensor.empty() : tensor<4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8xf32>) -> tensor<4x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x6xf32>, tensor<6x8xf32>) outs(%zo : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// The output contraction accumulates into something other than zeros.
// CHECK-LABEL: func.func @accumulating_output
// CHECK-NOT: kha.sdpa
// CHECK: linalg.softmax
func.func @accumulating_output(%q: tensor<4x8xf32>, %kt: tensor<8x6xf32>,
                               %v: tensor<6x8xf32>, %acc: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<4x8xf32>, tensor<8x6xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<4x6xf32>) outs(%e : tensor<4x6xf32>) -> tensor<4x6xf32>
  %o = linalg.matmul ins(%p, %v : tensor<4x6xf32>, tensor<6x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}
