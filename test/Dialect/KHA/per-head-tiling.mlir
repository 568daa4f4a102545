// kha.linear_knock, kha.mlp_knock and kha.rms_norm through their
// TilingInterface, tiled by the upstream transform.structured.tile_using_for.
// The domain is (b, l, n); a tile reads its head vectors whole and the
// parameters as they are.
// RUN: kha-opt %s --transform-interpreter -split-input-file | FileCheck %s

// An MLP knock in tiles of one batch entry, 16 tokens (dynamic L) and two
// heads.
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0)[s0] -> (-d0 + s0, 16)>
// CHECK-LABEL: func @mlp_knock
// CHECK-SAME: (%[[X:[a-zA-Z0-9_]+]]: tensor<2x?x4x8xf32>, %[[M:[a-zA-Z0-9_]+]]: tensor<8x8xf32>)
// CHECK: scf.for %[[B:[a-zA-Z0-9_]+]] = %c0 to %c2 step %c1
// CHECK: scf.for %[[T:[a-zA-Z0-9_]+]] = %c0{{.*}} to %[[L:[a-zA-Z0-9_]+]] step %c16
// CHECK: scf.for %[[N:[a-zA-Z0-9_]+]] = %c0{{.*}} to %c4 step %c2
// CHECK: %[[R:.*]] = affine.min #[[$ROWS]](%[[T]])[%[[L]]]
// CHECK: %[[XT:.*]] = tensor.extract_slice %[[X]][%[[B]], %[[T]], %[[N]], 0] [1, %[[R]], 2, 8] [1, 1, 1, 1]
// CHECK: %[[K:.*]] = kha.mlp_knock %[[XT]], %[[M]], %[[M]], %[[M]] : tensor<1x?x2x8xf32>, tensor<8x8xf32>
// CHECK: tensor.insert_slice %[[K]] into %{{.*}}[%[[B]], %[[T]], %[[N]], 0] [1, %[[R]], 2, 8]
func.func @mlp_knock(%x: tensor<2x?x4x8xf32>, %m: tensor<8x8xf32>) -> tensor<2x?x4x8xf32> {
  %0 = kha.mlp_knock %x, %m, %m, %m : tensor<2x?x4x8xf32>, tensor<8x8xf32>
  return %0 : tensor<2x?x4x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["kha.mlp_knock"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %op tile_sizes [1, 16, 2] : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// A linear knock and an RMSNorm over tokens only (batch and heads whole).
// CHECK-LABEL: func @linear_knock_and_rms_norm
// CHECK: scf.for {{.*}} step %c3
// CHECK: kha.linear_knock %{{.*}}, %{{.*}} : tensor<2x?x4x8xbf16>, tensor<8x8xbf16>
// CHECK: scf.for {{.*}} step %c3
// CHECK: kha.rms_norm %{{.*}}, %{{.*}} {epsilon = {{.*}} : f64} : tensor<2x?x4x8xbf16>, tensor<8xbf16>
func.func @linear_knock_and_rms_norm(%x: tensor<2x5x4x8xbf16>, %t: tensor<8x8xbf16>, %w: tensor<8xbf16>) -> tensor<2x5x4x8xbf16> {
  %0 = kha.linear_knock %x, %t : tensor<2x5x4x8xbf16>, tensor<8x8xbf16>
  %1 = kha.rms_norm %0, %w {epsilon = 1.0e-06 : f64} : tensor<2x5x4x8xbf16>, tensor<8xbf16>
  return %1 : tensor<2x5x4x8xbf16>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %ops = transform.structured.match ops{["kha.linear_knock", "kha.rms_norm"]} in %root : (!transform.any_op) -> !transform.any_op
    %t, %l = transform.structured.tile_using_for %ops tile_sizes [0, 3, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
