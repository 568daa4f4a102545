// kha-contiguous-attention-heads: attention tiles read their key/value head
// from a head-major copy made once, outside the tile loop.
// RUN: kha-opt %s -kha-contiguous-attention-heads -split-input-file | FileCheck %s
// RUN: kha-opt %s -kha-contiguous-attention-heads=min-rows=128 -split-input-file | FileCheck %s --check-prefix=MIN

// Tiles of 64 query rows and one of 8 key/value heads: K and V are each
// transposed once to [B, G, S, d], before the loop, and each tile reads its
// head as a contiguous [1, 1, n, d] slice, reshaped to [1, n, 1, d]. The
// queries and the destination are left as they are.
// CHECK-LABEL: func @tiles
// CHECK-SAME: (%[[Q:.*]]: tensor<1x256x8x64xf32>, %[[K:.*]]: tensor<1x256x8x64xf32>, %[[V:.*]]: tensor<1x256x8x64xf32>)
// CHECK-DAG: %[[KT:.*]] = linalg.transpose ins(%[[K]] : tensor<1x256x8x64xf32>) outs(%{{.*}} : tensor<1x8x256x64xf32>) permutation = [0, 2, 1, 3]
// CHECK-DAG: %[[VT:.*]] = linalg.transpose ins(%[[V]] : tensor<1x256x8x64xf32>) outs(%{{.*}} : tensor<1x8x256x64xf32>) permutation = [0, 2, 1, 3]
// CHECK: scf.forall (%[[I:.*]], %[[G:.*]]) in (4, 8)
// CHECK: %[[QS:.*]] = tensor.extract_slice %[[Q]][0, %{{.*}}, %[[G]], 0] [1, 64, 1, 64]
// CHECK: %[[KS:.*]] = tensor.extract_slice %[[KT]][0, %[[G]], 0, 0] [1, 1, %[[N:.*]], 64] [1, 1, 1, 1] : tensor<1x8x256x64xf32> to tensor<1x1x?x64xf32>
// CHECK: %[[KR:.*]] = tensor.collapse_shape %[[KS]] {{\[\[}}0, 1, 2], [3]] : tensor<1x1x?x64xf32> into tensor<?x64xf32>
// CHECK: %[[KH:.*]] = tensor.expand_shape %[[KR]] {{\[\[}}0, 1, 2], [3]] output_shape [1, %[[N]], 1, 64] : tensor<?x64xf32> into tensor<1x?x1x64xf32>
// CHECK: %[[VS:.*]] = tensor.extract_slice %[[VT]][0, %[[G]], 0, 0] [1, 1, %[[N]], 64]
// CHECK: %[[VH:.*]] = tensor.expand_shape
// CHECK: kha.sdpa %[[QS]], %[[KH]], %[[VH]]
// Fewer query rows per tile than min-rows: unchanged.
// MIN-LABEL: func @tiles
// MIN-NOT: linalg.transpose
// MIN: kha.sdpa
func.func @tiles(%q: tensor<1x256x8x64xf32>, %k: tensor<1x256x8x64xf32>, %v: tensor<1x256x8x64xf32>) -> tensor<1x256x8x64xf32> {
  %init = tensor.empty() : tensor<1x256x8x64xf32>
  %r = scf.forall (%i, %g) in (4, 8) shared_outs(%out = %init) -> (tensor<1x256x8x64xf32>) {
    %row = affine.apply affine_map<(d0) -> (d0 * 64)>(%i)
    %n = affine.apply affine_map<(d0) -> (d0 * 64 + 64)>(%i)
    %o = tensor.extract_slice %out[0, %row, %g, 0] [1, 64, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x64x1x64xf32>
    %qs = tensor.extract_slice %q[0, %row, %g, 0] [1, 64, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x64x1x64xf32>
    %ks = tensor.extract_slice %k[0, 0, %g, 0] [1, %n, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x?x1x64xf32>
    %vs = tensor.extract_slice %v[0, 0, %g, 0] [1, %n, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x?x1x64xf32>
    %a = kha.sdpa %qs, %ks, %vs query_offset(%row) outs(%o) {causal, scale = 0.125 : f64} : (tensor<1x64x1x64xf32>, tensor<1x?x1x64xf32>, tensor<1x?x1x64xf32>, index, tensor<1x64x1x64xf32>) -> tensor<1x64x1x64xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %a into %out[0, %row, %g, 0] [1, 64, 1, 64] [1, 1, 1, 1] : tensor<1x64x1x64xf32> into tensor<1x256x8x64xf32>
    }
  }
  return %r : tensor<1x256x8x64xf32>
}

// -----

// GQA (8 query heads per key/value head, 16 rows each: 128 grouped rows),
// with K made by an op before the loop: its copy follows it.
// CHECK-LABEL: func @gqa_made_before
// CHECK: %[[K:.*]] = arith.negf
// CHECK-NEXT: tensor.empty
// CHECK-NEXT: linalg.transpose ins(%[[K]] : tensor<1x64x4x128xf32>) outs(%{{.*}} : tensor<1x4x64x128xf32>)
// CHECK: scf.forall
// CHECK: kha.sdpa %{{.*}}, %{{.*}}, %{{.*}} query_offset
// MIN-LABEL: func @gqa_made_before
// MIN: linalg.transpose ins(%{{.*}} : tensor<1x64x4x128xf32>)
func.func @gqa_made_before(%q: tensor<1x64x32x128xf32>, %k0: tensor<1x64x4x128xf32>, %v: tensor<1x64x4x128xf32>) -> tensor<1x64x32x128xf32> {
  %k = arith.negf %k0 : tensor<1x64x4x128xf32>
  %init = tensor.empty() : tensor<1x64x32x128xf32>
  %r = scf.forall (%i, %g) in (4, 4) shared_outs(%out = %init) -> (tensor<1x64x32x128xf32>) {
    %row = affine.apply affine_map<(d0) -> (d0 * 16)>(%i)
    %h = affine.apply affine_map<(d0) -> (d0 * 8)>(%g)
    %o = tensor.extract_slice %out[0, %row, %h, 0] [1, 16, 8, 128] [1, 1, 1, 1] : tensor<1x64x32x128xf32> to tensor<1x16x8x128xf32>
    %qs = tensor.extract_slice %q[0, %row, %h, 0] [1, 16, 8, 128] [1, 1, 1, 1] : tensor<1x64x32x128xf32> to tensor<1x16x8x128xf32>
    %ks = tensor.extract_slice %k[0, 0, %g, 0] [1, 64, 1, 128] [1, 1, 1, 1] : tensor<1x64x4x128xf32> to tensor<1x64x1x128xf32>
    %vs = tensor.extract_slice %v[0, 0, %g, 0] [1, 64, 1, 128] [1, 1, 1, 1] : tensor<1x64x4x128xf32> to tensor<1x64x1x128xf32>
    %a = kha.sdpa %qs, %ks, %vs query_offset(%row) outs(%o) {causal, scale = 0.125 : f64} : (tensor<1x16x8x128xf32>, tensor<1x64x1x128xf32>, tensor<1x64x1x128xf32>, index, tensor<1x16x8x128xf32>) -> tensor<1x16x8x128xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %a into %out[0, %row, %h, 0] [1, 16, 8, 128] [1, 1, 1, 1] : tensor<1x16x8x128xf32> into tensor<1x64x32x128xf32>
    }
  }
  return %r : tensor<1x64x32x128xf32>
}

// -----

// Left alone: a decoding step (one query row per key/value head reads each
// key once); keys made inside the loop (they would be copied on every
// iteration); a slice of two heads; a source with one head.
// CHECK-LABEL: func @left_alone
// CHECK-NOT: linalg.transpose
// CHECK-COUNT-4: kha.sdpa
func.func @left_alone(%q: tensor<1x1x8x64xf32>, %q64: tensor<1x64x8x64xf32>, %k: tensor<1x256x8x64xf32>, %v: tensor<1x256x8x64xf32>, %k1: tensor<1x256x1x64xf32>) -> (tensor<1x1x1x64xf32>, tensor<1x64x1x64xf32>, tensor<1x64x2x64xf32>, tensor<1x64x1x64xf32>) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c1 = arith.constant 1 : index
  %i1 = tensor.empty() : tensor<1x1x1x64xf32>
  %i64 = tensor.empty() : tensor<1x64x1x64xf32>
  %i2 = tensor.empty() : tensor<1x64x2x64xf32>
  %r:4 = scf.for %g = %c0 to %c8 step %c1 iter_args(%a0 = %i1, %a1 = %i64, %a2 = %i2, %a3 = %i64) -> (tensor<1x1x1x64xf32>, tensor<1x64x1x64xf32>, tensor<1x64x2x64xf32>, tensor<1x64x1x64xf32>) {
    %q1 = tensor.extract_slice %q[0, 0, %g, 0] [1, 1, 1, 64] [1, 1, 1, 1] : tensor<1x1x8x64xf32> to tensor<1x1x1x64xf32>
    %ks = tensor.extract_slice %k[0, 0, %g, 0] [1, 256, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x256x1x64xf32>
    %vs = tensor.extract_slice %v[0, 0, %g, 0] [1, 256, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x256x1x64xf32>
    %d = kha.sdpa %q1, %ks, %vs outs(%a0) {scale = 0.125 : f64} : (tensor<1x1x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x1x1x64xf32>) -> tensor<1x1x1x64xf32>
    %qs = tensor.extract_slice %q64[0, 0, %g, 0] [1, 64, 1, 64] [1, 1, 1, 1] : tensor<1x64x8x64xf32> to tensor<1x64x1x64xf32>
    %kin = arith.negf %k : tensor<1x256x8x64xf32>
    %kis = tensor.extract_slice %kin[0, 0, %g, 0] [1, 256, 1, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x256x1x64xf32>
    %e = kha.sdpa %qs, %kis, %kis outs(%a1) {scale = 0.125 : f64} : (tensor<1x64x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x64x1x64xf32>) -> tensor<1x64x1x64xf32>
    %q2 = tensor.extract_slice %q64[0, 0, 0, 0] [1, 64, 2, 64] [1, 1, 1, 1] : tensor<1x64x8x64xf32> to tensor<1x64x2x64xf32>
    %k2 = tensor.extract_slice %k[0, 0, 0, 0] [1, 256, 2, 64] [1, 1, 1, 1] : tensor<1x256x8x64xf32> to tensor<1x256x2x64xf32>
    %f = kha.sdpa %q2, %k2, %k2 outs(%a2) {scale = 0.125 : f64} : (tensor<1x64x2x64xf32>, tensor<1x256x2x64xf32>, tensor<1x256x2x64xf32>, tensor<1x64x2x64xf32>) -> tensor<1x64x2x64xf32>
    %k1s = tensor.extract_slice %k1[0, 0, 0, 0] [1, 256, 1, 64] [1, 1, 1, 1] : tensor<1x256x1x64xf32> to tensor<1x256x1x64xf32>
    %h = kha.sdpa %qs, %k1s, %k1s outs(%a3) {scale = 0.125 : f64} : (tensor<1x64x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x256x1x64xf32>, tensor<1x64x1x64xf32>) -> tensor<1x64x1x64xf32>
    scf.yield %d, %e, %f, %h : tensor<1x1x1x64xf32>, tensor<1x64x1x64xf32>, tensor<1x64x2x64xf32>, tensor<1x64x1x64xf32>
  }
  return %r#0, %r#1, %r#2, %r#3 : tensor<1x1x1x64xf32>, tensor<1x64x1x64xf32>, tensor<1x64x2x64xf32>, tensor<1x64x1x64xf32>
}
