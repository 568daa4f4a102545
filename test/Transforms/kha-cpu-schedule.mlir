// kha-cpu-schedule: register-tiled, vectorised matmuls and row-vectorised
// generics; what the schedule cannot vectorise (partial edge tiles) stays as
// linalg, still correct.
// RUN: kha-opt %s -kha-cpu-schedule -split-input-file | FileCheck %s

// A static matmul: 8 x 32 tiles, a K loop carrying the accumulator as a
// vector (hoisted out of the loop), one vector.contract per K step, four
// steps per iteration.
// CHECK-LABEL: func @matmul_static
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c8
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c32
// CHECK: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<8x32xf32>, vector<8x32xf32>
// CHECK: %[[K:.*]] = scf.for %{{.*}} = %c0 to %c16 step %c4 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (vector<8x32xf32>)
// CHECK: %[[S1:.*]] = vector.contract {{.*}} %[[ACC]] : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: %[[S2:.*]] = vector.contract {{.*}} %[[S1]] :
// CHECK: %[[S3:.*]] = vector.contract {{.*}} %[[S2]] :
// CHECK: %[[S4:.*]] = vector.contract {{.*}} %[[S3]] :
// CHECK: scf.yield %[[S4]]
// CHECK: vector.transfer_write %[[K]]
// CHECK-NOT: linalg.matmul
func.func @matmul_static(%a: tensor<64x16xf32>, %b: tensor<16x64xf32>, %c: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<64x16xf32>, tensor<16x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  return %0 : tensor<64x64xf32>
}

// -----

// Sizes the tiles do not divide: the loops are peeled and every tile
// vectorises. The 8 columns past the last full tile are a static 8 x 8 tile;
// the rows past the last full tile, a number known only at run time, go one
// at a time. Nothing is left scalar, and no schedule mark survives.
// CHECK-LABEL: func @matmul_edges
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
// CHECK: vector.contract {{.*}} into vector<8x8xf32>
// CHECK: vector.contract {{.*}} into vector<1x32xf32>
// CHECK: vector.contract {{.*}} into vector<1x8xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: kha.hoist_accumulator
func.func @matmul_edges(%a: tensor<?x16xf32>, %b: tensor<16x40xf32>, %c: tensor<?x40xf32>) -> tensor<?x40xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x16xf32>, tensor<16x40xf32>) outs(%c : tensor<?x40xf32>) -> tensor<?x40xf32>
  return %0 : tensor<?x40xf32>
}

// -----

// Batched matmuls get the same register tile per batch.
// CHECK-LABEL: func @batch_matmul
// CHECK: vector.contract {{.*}} : vector<1x8x1xf32>, vector<1x1x32xf32> into vector<1x8x32xf32>
// CHECK-NOT: linalg.batch_matmul
func.func @batch_matmul(%a: tensor<2x8x4xf32>, %b: tensor<2x4x32xf32>, %c: tensor<2x8x32xf32>) -> tensor<2x8x32xf32> {
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x32xf32>) outs(%c : tensor<2x8x32xf32>) -> tensor<2x8x32xf32>
  return %0 : tensor<2x8x32xf32>
}

// -----

// Row-wise generics are found by their structure (transform.foreach_match):
// every loop parallel but the last, which is static and at most 2048 long.
// They are vectorised one row at a time, all-parallel rows longer than 64 in
// chunks of 64; the others are left alone.
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func @rows
// CHECK: scf.for
// CHECK: scf.for
// CHECK: math.exp %{{.*}} : vector<1x1x64xf32>
// CHECK: scf.for
// CHECK: vector.multi_reduction <add>, %{{.*}} [1] : vector<1x64xf32> to vector<1xf32>
// CHECK: vector.transfer_write
// CHECK-NOT: vector.
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<4x?xf32>)
// CHECK: math.exp %{{.*}} : f32
// CHECK: scf.for %{{.*}} = %c0 to %c4096 step %c64
// CHECK: math.exp %{{.*}} : vector<1x64xf32>
// CHECK-NOT: linalg.generic {{.*}} ins(%{{.*}} : tensor<4x4096xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK: return
func.func @rows(%x: tensor<?x4x64xf32>, %o: tensor<?x4x64xf32>, %y: tensor<4x64xf32>, %s: tensor<4xf32>,
                %dyn: tensor<4x?xf32>, %long: tensor<4x4096xf32>, %c: tensor<64xf32>)
    -> (tensor<?x4x64xf32>, tensor<4xf32>, tensor<4x?xf32>, tensor<4x4096xf32>, tensor<64xf32>) {
  // All parallel, a static row of 64.
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<?x4x64xf32>) outs(%o : tensor<?x4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<?x4x64xf32>
  // A reduction along the row.
  %1 = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]} ins(%y : tensor<4x64xf32>) outs(%s : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<4xf32>
  // A dynamic row.
  %2 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%dyn : tensor<4x?xf32>) outs(%dyn : tensor<4x?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<4x?xf32>
  // A row too long to be one vector: in chunks of 64.
  %3 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%long : tensor<4x4096xf32>) outs(%long : tensor<4x4096xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<4x4096xf32>
  // A reduction across rows.
  %4 = linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["reduction", "parallel"]} ins(%y : tensor<4x64xf32>) outs(%c : tensor<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  return %0, %1, %2, %3, %4 : tensor<?x4x64xf32>, tensor<4xf32>, tensor<4x?xf32>, tensor<4x4096xf32>, tensor<64xf32>
}

// -----

// A matmul on weight panels (kha-pack-matmul-weights): blocks of panels for
// the threads, one panel at a time in register tiles of 8 rows x one panel
// (32 columns), the accumulator hoisted out of the K loop (four steps per
// iteration).
// CHECK-LABEL: func @panel_matmul
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<8x1x32xf32>, vector<8x1x32xf32>
// CHECK: %[[K:.*]] = scf.for %{{.*}} = %c0 to %c16 step %c4 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (vector<8x1x32xf32>)
// CHECK: vector.contract {{.*}} %[[ACC]] : vector<8x1xf32>, vector<1x1x32xf32> into vector<8x1x32xf32>
// CHECK: vector.transfer_write %[[K]]
// CHECK-NOT: linalg.contract
// CHECK-NOT: kha.hoist_accumulator
func.func @panel_matmul(%a: tensor<256x16xf32>, %p: tensor<4x16x32xf32>, %c: tensor<256x4x32xf32>) -> tensor<256x4x32xf32> {
  %0 = linalg.contract indexing_maps = [affine_map<(m, j, c, k) -> (m, k)>, affine_map<(m, j, c, k) -> (j, k, c)>, affine_map<(m, j, c, k) -> (m, j, c)>]
      ins(%a, %p : tensor<256x16xf32>, tensor<4x16x32xf32>) outs(%c : tensor<256x4x32xf32>) -> tensor<256x4x32xf32>
  return %0 : tensor<256x4x32xf32>
}

// -----

// A bf16 matmul on panels of pairs along K (kha-pack-matmul-weights
// {bf16-pairs}): the same register tiles (one block here), one pair of K
// per step (for kha-contract-to-bf16-dot), the accumulator hoisted. 37
// rows: four tiles of 8, then the last 5 in a peeled tile.
// CHECK-LABEL: func @pair_panel_matmul
// CHECK: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<8x1x32xf32>, vector<8x1x32xf32>
// CHECK: %[[K:.*]] = scf.for %{{.*}} = %c0 to %c8 step %c4 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (vector<8x1x32xf32>)
// CHECK: vector.contract {{.*}} %[[ACC]] : vector<8x1x2xbf16>, vector<1x1x32x2xbf16> into vector<8x1x32xf32>
// CHECK: vector.transfer_write %[[K]]
// CHECK: vector.contract {{.*}} : vector<5x1x2xbf16>, vector<1x1x32x2xbf16> into vector<5x1x32xf32>
// CHECK-NOT: linalg.contract
// CHECK-NOT: kha.hoist_accumulator
func.func @pair_panel_matmul(%a: tensor<37x8x2xbf16>, %p: tensor<4x8x32x2xbf16>, %c: tensor<37x4x32xf32>) -> tensor<37x4x32xf32> {
  %0 = linalg.contract indexing_maps = [affine_map<(m, j, c, k, p) -> (m, k, p)>, affine_map<(m, j, c, k, p) -> (j, k, c, p)>, affine_map<(m, j, c, k, p) -> (m, j, c)>]
      ins(%a, %p : tensor<37x8x2xbf16>, tensor<4x8x32x2xbf16>) outs(%c : tensor<37x4x32xf32>) -> tensor<37x4x32xf32>
  return %0 : tensor<37x4x32xf32>
}

// -----

// A zero accumulator shared by two panel matmuls (two projections of one
// input) and one of a plain matmul: each block of the threads fills its own
// part, inside its scf.forall; nothing is filled whole outside.
// CHECK-LABEL: func @accumulator_fills
// CHECK-NOT: linalg.fill
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%[[O1:.*]] = %{{.*}})
// CHECK: %[[S1:.*]] = tensor.extract_slice %[[O1]][%{{.*}}, 0, 0] [128, 4, 32]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[S1]] : tensor<128x4x32xf32>)
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.fill
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%[[O2:.*]] = %{{.*}})
// CHECK: %[[S2:.*]] = tensor.extract_slice %[[O2]]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[S2]] : tensor<128x4x32xf32>)
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.fill
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<256x64xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<128x64xf32>)
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.fill
func.func @accumulator_fills(%a: tensor<256x16xf32>, %p: tensor<4x16x32xf32>, %q: tensor<4x16x32xf32>,
                             %w: tensor<16x64xf32>) -> (tensor<256x4x32xf32>, tensor<256x4x32xf32>, tensor<256x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<256x4x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<256x4x32xf32>) -> tensor<256x4x32xf32>
  %0 = linalg.contract indexing_maps = [affine_map<(m, j, c, k) -> (m, k)>, affine_map<(m, j, c, k) -> (j, k, c)>, affine_map<(m, j, c, k) -> (m, j, c)>]
      ins(%a, %p : tensor<256x16xf32>, tensor<4x16x32xf32>) outs(%z : tensor<256x4x32xf32>) -> tensor<256x4x32xf32>
  %1 = linalg.contract indexing_maps = [affine_map<(m, j, c, k) -> (m, k)>, affine_map<(m, j, c, k) -> (j, k, c)>, affine_map<(m, j, c, k) -> (m, j, c)>]
      ins(%a, %q : tensor<256x16xf32>, tensor<4x16x32xf32>) outs(%z : tensor<256x4x32xf32>) -> tensor<256x4x32xf32>
  %e2 = tensor.empty() : tensor<256x64xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<256x64xf32>) -> tensor<256x64xf32>
  %2 = linalg.matmul ins(%a, %w : tensor<256x16xf32>, tensor<16x64xf32>) outs(%z2 : tensor<256x64xf32>) -> tensor<256x64xf32>
  return %0, %1, %2 : tensor<256x4x32xf32>, tensor<256x4x32xf32>, tensor<256x64xf32>
}

// -----

// A rank-4 transpose (the head-major copy of a layer's keys): blocks of 64
// rows of one head for the threads, 8 x 16 vector transposes inside.
// CHECK-LABEL: func @head_major_copy
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (4, 2)
// CHECK: vector.transfer_read {{.*}} : tensor<1x8x1x16xf32>, vector<1x1x8x16xf32>
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.transpose
func.func @head_major_copy(%k: tensor<1x128x4x64xf32>) -> tensor<1x4x128x64xf32> {
  %e = tensor.empty() : tensor<1x4x128x64xf32>
  %t = linalg.transpose ins(%k : tensor<1x128x4x64xf32>) outs(%e : tensor<1x4x128x64xf32>) permutation = [0, 2, 1, 3]
  return %t : tensor<1x4x128x64xf32>
}

// -----

// RoPE after an RMSNorm, as kha-lower-to-linalg writes them: blocks of 64
// positions for the threads, then one row (position, head) at a time with
// the norm's sum of squares (from a zero vector, the fill folded), its
// scale once per row and the normalised halves computed in the same loop.
// Nothing of the norm is left outside.
// CHECK-LABEL: func @norm_rope
// CHECK-NOT: linalg.
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK: %[[ROW:.*]] = vector.transfer_read {{.*}} : tensor<1x1x1x8xf32>, vector<1x1x1x8xf32>
// CHECK: %[[SQ:.*]] = arith.mulf %[[ROW]], %[[ROW]] : vector<1x1x1x8xf32>
// CHECK: %[[SUM:.*]] = vector.multi_reduction <add>, %[[SQ]], %[[ZERO:.*]] [3] : vector<1x1x1x8xf32> to vector<1x1x1xf32>
// CHECK: math.sqrt %{{.*}} : vector<1x1x1xf32>
// CHECK: vector.transfer_write %{{.*}} : vector<1x1x1x2x4xf32>, tensor<1x1x1x2x4xf32>
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d3)>
#map4 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map5 = affine_map<(d0, d1, d2, d3, d4) -> (d1, d4)>
#map6 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
func.func @norm_rope(%x: tensor<1x128x2x8xf32>, %w: tensor<8xf32>, %cos: tensor<128x4xf32>, %sin: tensor<128x4xf32>) -> tensor<1x128x2x8xf32> {
  %c0 = arith.constant 0 : index
  %one = arith.constant 1.000000e+00 : f32
  %eps = arith.constant 9.99999997E-7 : f32
  %inv_d = arith.constant 1.250000e-01 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<1x128x2xf32>
  %1 = linalg.fill ins(%zero : f32) outs(%0 : tensor<1x128x2xf32>) -> tensor<1x128x2xf32>
  %sums = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x : tensor<1x128x2x8xf32>) outs(%1 : tensor<1x128x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %8 = arith.mulf %in, %in : f32
    %9 = arith.addf %out, %8 : f32
    linalg.yield %9 : f32
  } -> tensor<1x128x2xf32>
  %scale = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sums : tensor<1x128x2xf32>) outs(%0 : tensor<1x128x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %8 = arith.mulf %in, %inv_d : f32
    %9 = arith.addf %8, %eps : f32
    %10 = math.sqrt %9 : f32
    %11 = arith.divf %one, %10 : f32
    linalg.yield %11 : f32
  } -> tensor<1x128x2xf32>
  %4 = tensor.empty() : tensor<1x128x2x8xf32>
  %norm = linalg.generic {indexing_maps = [#map, #map1, #map3, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %scale, %w : tensor<1x128x2x8xf32>, tensor<1x128x2xf32>, tensor<8xf32>) outs(%4 : tensor<1x128x2x8xf32>) {
  ^bb0(%in: f32, %in_6: f32, %in_7: f32, %out: f32):
    %8 = arith.mulf %in, %in_6 : f32
    %9 = arith.mulf %8, %in_7 : f32
    linalg.yield %9 : f32
  } -> tensor<1x128x2x8xf32>
  %lo = tensor.extract_slice %norm[0, 0, 0, 0] [1, 128, 2, 4] [1, 1, 1, 1] : tensor<1x128x2x8xf32> to tensor<1x128x2x4xf32>
  %hi = tensor.extract_slice %norm[0, 0, 0, 4] [1, 128, 2, 4] [1, 1, 1, 1] : tensor<1x128x2x8xf32> to tensor<1x128x2x4xf32>
  %6 = tensor.empty() : tensor<1x128x2x2x4xf32>
  %rot = linalg.generic {indexing_maps = [#map4, #map4, #map5, #map5, #map6], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%lo, %hi, %cos, %sin : tensor<1x128x2x4xf32>, tensor<1x128x2x4xf32>, tensor<128x4xf32>, tensor<128x4xf32>) outs(%6 : tensor<1x128x2x2x4xf32>) {
  ^bb0(%in: f32, %in_6: f32, %in_7: f32, %in_8: f32, %out: f32):
    %8 = arith.mulf %in, %in_7 : f32
    %9 = arith.mulf %in_6, %in_8 : f32
    %10 = arith.subf %8, %9 : f32
    %11 = arith.mulf %in_6, %in_7 : f32
    %12 = arith.mulf %in, %in_8 : f32
    %13 = arith.addf %11, %12 : f32
    %14 = linalg.index 3 : index
    %15 = arith.cmpi eq, %14, %c0 : index
    %16 = arith.select %15, %10, %13 : f32
    linalg.yield %16 : f32
  } -> tensor<1x128x2x2x4xf32>
  %collapsed = tensor.collapse_shape %rot [[0], [1], [2], [3, 4]] : tensor<1x128x2x2x4xf32> into tensor<1x128x2x8xf32>
  return %collapsed : tensor<1x128x2x8xf32>
}

// -----

// Elementwise rows longer than 64 (a bf16 layer's roundings): blocks of 64
// rows for the threads, each row in vectors of 64 elements; a partial last
// chunk (100 = 64 + 36) is peeled and vectorised too.
// CHECK-LABEL: func @long_rows
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c512 step %c64
// CHECK: %[[V:.*]] = vector.transfer_read {{.*}} : tensor<1x64xf32>, vector<1x64xf32>
// CHECK: arith.truncf %[[V]] : vector<1x64xf32> to vector<1x64xbf16>
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func @long_rows_partial
// CHECK: scf.forall (%{{.*}}) in (3)
// CHECK: arith.extf %{{.*}} : vector<1x1x64xbf16> to vector<1x1x64xf32>
// CHECK: arith.extf %{{.*}} : vector<1x1x36xbf16> to vector<1x1x36xf32>
// CHECK-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @long_rows(%x: tensor<128x512xf32>) -> tensor<128x512xbf16> {
  %e = tensor.empty() : tensor<128x512xbf16>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<128x512xf32>) outs(%e : tensor<128x512xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<128x512xbf16>
  return %r : tensor<128x512xbf16>
}
func.func @long_rows_partial(%x: tensor<3x64x100xbf16>) -> tensor<3x64x100xf32> {
  %e = tensor.empty() : tensor<3x64x100xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<3x64x100xbf16>) outs(%e : tensor<3x64x100xf32>) {
  ^bb0(%a: bf16, %o: f32):
    %t = arith.extf %a : bf16 to f32
    linalg.yield %t : f32
  } -> tensor<3x64x100xf32>
  return %r : tensor<3x64x100xf32>
}

// -----

// Panels of a weight packed in the function itself (no prepare function): the
// pack becomes a reshape and a transpose, vectorised in blocks like the
// other transposes. Contractions of other shapes are not panel matmuls and
// are left alone.
// CHECK-LABEL: func @pack_and_other_contract
// CHECK-NOT: linalg.pack
// CHECK: tensor.expand_shape {{.*}} into tensor<16x4x32xf32>
// CHECK: vector.transfer_read {{.*}} : tensor<8x1x16xf32>, vector<1x8x16xf32>
// CHECK-NOT: linalg.transpose
// CHECK: linalg.contract {{.*}} -> tensor<8x8xf32>
func.func @pack_and_other_contract(%w: tensor<16x128xf32>, %x: tensor<8x16xf32>, %y: tensor<8x8xf32>)
    -> (tensor<4x16x32xf32>, tensor<8x8xf32>) {
  %e = tensor.empty() : tensor<4x16x32xf32>
  %p = linalg.pack %w outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [32] into %e
      : tensor<16x128xf32> -> tensor<4x16x32xf32>
  %r = linalg.contract indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (j, k)>, affine_map<(i, j, k) -> (i, j)>]
      ins(%x, %x : tensor<8x16xf32>, tensor<8x16xf32>) outs(%y : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %p, %r : tensor<4x16x32xf32>, tensor<8x8xf32>
}
