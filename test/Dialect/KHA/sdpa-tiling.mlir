// kha.sdpa through its TilingInterface, tiled by the upstream
// transform.structured.tile_using_for. The domain is (b, l, g, r, e).
// RUN: kha-opt %s --transform-interpreter -split-input-file -verify-diagnostics | FileCheck %s

// Causal GQA (H 4, G 2), tiles of one batch, 64 query rows and one key/value
// head with both of its query heads: a tile reads keys [0, min(S, l0 + rows))
// only, and keeps its place on the diagonal with query_offset(l0).
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0) -> (-d0 + 100, 64)>
// CHECK-DAG: #[[$HEADS:.*]] = affine_map<()[s0] -> (s0 * 2)>
// CHECK-DAG: #[[$END:.*]] = affine_map<()[s0, s1] -> (s0 + s1, 100)>
// CHECK-DAG: #[[$CLAMP:.*]] = affine_map<()[s0] -> (s0, 0)>
// CHECK-LABEL: func @causal_gqa
// CHECK-SAME: (%[[Q:[a-zA-Z0-9_]+]]: tensor<2x100x4x16xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<2x100x2x16xf32>, %[[V:[a-zA-Z0-9_]+]]: tensor<2x100x2x8xf32>)
// CHECK: scf.for %[[B:[a-zA-Z0-9_]+]] = %c0 to %c2 step %c1
// CHECK: scf.for %[[L:[a-zA-Z0-9_]+]] = %c0{{.*}} to %c100 step %c64
// CHECK: scf.for %[[G:[a-zA-Z0-9_]+]] = %c0{{.*}} to %c2{{.*}} step %c1
// CHECK: %[[N:[a-zA-Z0-9_]+]] = affine.min #[[$ROWS]](%[[L]])
// CHECK: %[[H:[a-zA-Z0-9_]+]] = affine.apply #[[$HEADS]]()[%[[G]]]
// CHECK: %[[E:[a-zA-Z0-9_]+]] = affine.min #[[$END]]()[%[[L]], %[[N]]]
// CHECK: %[[S:[a-zA-Z0-9_]+]] = affine.max #[[$CLAMP]]()[%[[E]]]
// CHECK: %[[QT:[a-zA-Z0-9_]+]] = tensor.extract_slice %[[Q]][%[[B]], %[[L]], %[[H]], 0] [1, %[[N]], 2, 16]
// CHECK: %[[KT:[a-zA-Z0-9_]+]] = tensor.extract_slice %[[K]][%[[B]], 0, %[[G]], 0] [1, %[[S]], 1, 16]
// CHECK: %[[VT:[a-zA-Z0-9_]+]] = tensor.extract_slice %[[V]][%[[B]], 0, %[[G]], 0] [1, %[[S]], 1, 8]
// CHECK: %[[O:[a-zA-Z0-9_]+]] = kha.sdpa %[[QT]], %[[KT]], %[[VT]] query_offset(%[[L]]) outs(%{{.*}}) {causal, scale = 2.500000e-01 : f64} : (tensor<1x?x2x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x8xf32>, index, tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32>
// CHECK: tensor.insert_slice %[[O]] into %{{.*}}[%[[B]], %[[L]], %{{.*}}, 0] [1, %[[N]], 2, 8]
func.func @causal_gqa(%q: tensor<2x100x4x16xf32>, %k: tensor<2x100x2x16xf32>, %v: tensor<2x100x2x8xf32>) -> tensor<2x100x4x8xf32> {
  %sdpa_init = tensor.empty() : tensor<2x100x4x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init) {causal, scale = 0.25 : f64} : (tensor<2x100x4x16xf32>, tensor<2x100x2x16xf32>, tensor<2x100x2x8xf32>, tensor<2x100x4x8xf32>) -> tensor<2x100x4x8xf32>
  return %0 : tensor<2x100x4x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["kha.sdpa"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %op tile_sizes [1, 64, 1, 0, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Aligned bottom right (a cache): query row 0 sits at key S - L, so a tile
// of rows from l0 is placed at S - L + l0 and reads min(S, l0 + rows + S - L)
// keys (none when that is negative).
// CHECK-DAG: #[[$END:.*]] = affine_map<()[s0, s1, s2, s3, s4] -> (s0 + s1 + s2 - s3, s4)>
// CHECK-DAG: #[[$OFFSET:.*]] = affine_map<()[s0, s1, s2] -> (s0 + s1 - s2)>
// CHECK-LABEL: func @bottom_right
// CHECK-SAME: (%[[Q:[a-zA-Z0-9_]+]]: tensor<1x?x2x8xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<1x?x1x8xf32>
// CHECK: scf.for %[[L:[a-zA-Z0-9_]+]] = %c0 to %{{.*}} step %c16
// CHECK: %[[N:[a-zA-Z0-9_]+]] = affine.min
// CHECK-DAG: tensor.dim %[[K]], %c1
// CHECK-DAG: tensor.dim %[[Q]], %c1
// CHECK: affine.min #[[$END]]()[%[[L]], %[[N]], %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK: %[[OFF:[a-zA-Z0-9_]+]] = affine.apply #[[$OFFSET]]()[%[[L]], %{{.*}}, %{{.*}}]
// CHECK: kha.sdpa {{.*}} query_offset(%[[OFF]]) outs(%{{.*}}) {causal, scale = 3.500000e-01 : f64}
// CHECK-NOT: bottom_right
func.func @bottom_right(%q: tensor<1x?x2x8xf32>, %k: tensor<1x?x1x8xf32>, %v: tensor<1x?x1x8xf32>) -> tensor<1x?x2x8xf32> {
  %sdpa_c2_1 = arith.constant 1 : index
  %sdpa_d2_1 = tensor.dim %q, %sdpa_c2_1 : tensor<1x?x2x8xf32>
  %sdpa_init2 = tensor.empty(%sdpa_d2_1) : tensor<1x?x2x8xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init2) {causal, bottom_right, scale = 0.35 : f64} : (tensor<1x?x2x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x1x8xf32>, tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32>
  return %0 : tensor<1x?x2x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["kha.sdpa"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l0 = transform.structured.tile_using_for %op tile_sizes [0, 16, 0, 0, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Not causal: every key, whole. A [B, 1, 1, S] mask keeps its shared
// dimensions; a [B, H, L, S] one follows the tile's batch, heads and rows.
// One query head at a time (r tiled by 1) reads its group's key/value head.
// CHECK-LABEL: func @masks
// CHECK-SAME: (%[[Q:[a-zA-Z0-9_]+]]: tensor<2x6x4x8xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<2x5x2x8xf32>, %[[V:[a-zA-Z0-9_]+]]: tensor<2x5x2x8xf32>, %[[PAD:[a-zA-Z0-9_]+]]: tensor<2x1x1x5xf32>, %[[M:[a-zA-Z0-9_]+]]: tensor<2x4x6x5xf32>)
// CHECK: scf.for %[[B:[a-zA-Z0-9_]+]] = 
// CHECK: scf.for %[[G:[a-zA-Z0-9_]+]] = 
// CHECK: scf.for %[[R:[a-zA-Z0-9_]+]] = 
// CHECK: %[[H:[a-zA-Z0-9_]+]] = affine.apply #{{.*}}()[%[[G]], %[[R]]]
// CHECK: tensor.extract_slice %[[Q]][%[[B]], 0, %[[H]], 0] [1, 6, 1, 8]
// CHECK: tensor.extract_slice %[[K]][%[[B]], 0, %[[G]], 0] [1, 5, 1, 8]
// CHECK: tensor.extract_slice %[[V]][%[[B]], 0, %[[G]], 0] [1, 5, 1, 8]
// CHECK: %[[PT:[a-zA-Z0-9_]+]] = tensor.extract_slice %[[PAD]][%[[B]], 0, 0, 0] [1, 1, 1, 5]
// CHECK: kha.sdpa {{.*}} mask(%[[PT]]) outs(%{{.*}}) {scale = 1.000000e+00 : f64} : (tensor<1x6x1x8xf32>, tensor<1x5x1x8xf32>, tensor<1x5x1x8xf32>, tensor<1x1x1x5xf32>, tensor<1x6x1x8xf32>) -> tensor<1x6x1x8xf32>
// CHECK: %[[MT:[a-zA-Z0-9_]+]] = tensor.extract_slice %[[M]][%[[B]], %{{.*}}, 0, 0] [1, 1, 6, 5]
// CHECK: kha.sdpa {{.*}} mask(%[[MT]])
func.func @masks(%q: tensor<2x6x4x8xf32>, %k: tensor<2x5x2x8xf32>, %v: tensor<2x5x2x8xf32>, %pad: tensor<2x1x1x5xf32>, %m: tensor<2x4x6x5xf32>) -> (tensor<2x6x4x8xf32>, tensor<2x6x4x8xf32>) {
  %sdpa_init3 = tensor.empty() : tensor<2x6x4x8xf32>
  %0 = kha.sdpa %q, %k, %v mask(%pad) outs(%sdpa_init3) {scale = 1.0 : f64} : (tensor<2x6x4x8xf32>, tensor<2x5x2x8xf32>, tensor<2x5x2x8xf32>, tensor<2x1x1x5xf32>, tensor<2x6x4x8xf32>) -> tensor<2x6x4x8xf32>
  %sdpa_init4 = tensor.empty() : tensor<2x6x4x8xf32>
  %1 = kha.sdpa %q, %k, %v mask(%m) outs(%sdpa_init4) {scale = 1.0 : f64} : (tensor<2x6x4x8xf32>, tensor<2x5x2x8xf32>, tensor<2x5x2x8xf32>, tensor<2x4x6x5xf32>, tensor<2x6x4x8xf32>) -> tensor<2x6x4x8xf32>
  return %0, %1 : tensor<2x6x4x8xf32>, tensor<2x6x4x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %ops = transform.structured.match ops{["kha.sdpa"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ops : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      %t, %l0, %l1, %l2 = transform.structured.tile_using_for %op tile_sizes [1, 0, 1, 1, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    }
    transform.yield
  }
}

// -----

// Value columns tile too: the tile reads the matching columns of V.
// CHECK-LABEL: func @columns
// CHECK: scf.for %[[E:[a-zA-Z0-9_]+]] = %c0 to %c32 step %c16
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, %[[E]]] [1, 7, 1, 16]
// CHECK: kha.sdpa {{.*}} -> tensor<1x3x2x16xf32>
func.func @columns(%q: tensor<1x3x2x8xf32>, %k: tensor<1x7x1x8xf32>, %v: tensor<1x7x1x32xf32>) -> tensor<1x3x2x32xf32> {
  %sdpa_init5 = tensor.empty() : tensor<1x3x2x32xf32>
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init5) {scale = 1.0 : f64} : (tensor<1x3x2x8xf32>, tensor<1x7x1x8xf32>, tensor<1x7x1x32xf32>, tensor<1x3x2x32xf32>) -> tensor<1x3x2x32xf32>
  return %0 : tensor<1x3x2x32xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["kha.sdpa"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l0 = transform.structured.tile_using_for %op tile_sizes [0, 0, 0, 0, 16] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Query heads of several groups, but not whole groups, are not one range of
// H: the op refuses the tile.
func.func @split_groups(%q: tensor<1x3x4x8xf32>, %k: tensor<1x7x2x8xf32>, %v: tensor<1x7x2x8xf32>) -> tensor<1x3x4x8xf32> {
  %sdpa_init6 = tensor.empty() : tensor<1x3x4x8xf32>
  // expected-error @below {{faild to tile operation}}
  // expected-error @below {{failed to generate tiling loops}}
  %0 = kha.sdpa %q, %k, %v outs(%sdpa_init6) {scale = 1.0 : f64} : (tensor<1x3x4x8xf32>, tensor<1x7x2x8xf32>, tensor<1x7x2x8xf32>, tensor<1x3x4x8xf32>) -> tensor<1x3x4x8xf32>
  return %0 : tensor<1x3x4x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["kha.sdpa"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l0 = transform.structured.tile_using_for %op tile_sizes [0, 0, 0, 1, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
