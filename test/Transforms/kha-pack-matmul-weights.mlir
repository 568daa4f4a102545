// RUN: kha-opt %s --pass-pipeline='builtin.module(func.func(kha-pack-matmul-weights{panel-width=4}))' -split-input-file | FileCheck %s

// A weight read as panels: the pack reads the kha.weight argument, the
// contraction writes the output through its M x N/w x w view.
// CHECK-LABEL: func.func @weight(
// CHECK-SAME:    %[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<8x12xf32> {kha.weight}, %[[C:.*]]: tensor<?x12xf32>)
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<3x8x4xf32>
// CHECK:         %[[P:.*]] = linalg.pack %[[W]] outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [4] into %[[E]] : tensor<8x12xf32> -> tensor<3x8x4xf32>
// CHECK:         %[[V:.*]] = tensor.expand_shape %[[C]] {{\[}}[0], [1, 2]] output_shape [%{{.*}}, 3, 4] : tensor<?x12xf32> into tensor<?x3x4xf32>
// CHECK:         %[[R:.*]] = linalg.contract indexing_maps = [#[[A:.*]], #[[B:.*]], #[[O:.*]]] ins(%[[X]], %[[P]] : tensor<?x8xf32>, tensor<3x8x4xf32>) outs(%[[V]] : tensor<?x3x4xf32>)
// CHECK:         %[[Y:.*]] = tensor.collapse_shape %[[R]] {{\[}}[0], [1, 2]] : tensor<?x3x4xf32> into tensor<?x12xf32>
// CHECK:         return %[[Y]]
// CHECK-NOT:     linalg.matmul
func.func @weight(%x: tensor<?x8xf32>, %w: tensor<8x12xf32> {kha.weight}, %c: tensor<?x12xf32>) -> tensor<?x12xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<?x8xf32>, tensor<8x12xf32>) outs(%c : tensor<?x12xf32>) -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}

// -----

// Computed from weights alone (a folded knock W T, into a zero-filled
// accumulator): the product is packed. Its own right operand, T, is a
// weight too, so that product reads panels as well.
// CHECK-LABEL: func.func @folded(
// CHECK-SAME:    %{{.*}}: tensor<2x8xf32>, %[[W:.*]]: tensor<8x8xf32> {kha.weight}, %[[T:.*]]: tensor<8x8xf32> {kha.weight}
// CHECK:         %[[PT:.*]] = linalg.pack %[[T]]
// CHECK:         %[[R:.*]] = linalg.contract {{.*}} ins(%[[W]], %[[PT]] :
// CHECK:         %[[WT:.*]] = tensor.collapse_shape %[[R]]
// CHECK:         linalg.pack %[[WT]] outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [4]
// CHECK:         linalg.contract
// CHECK-NOT:     linalg.matmul
func.func @folded(%x: tensor<2x8xf32>, %w: tensor<8x8xf32> {kha.weight}, %t: tensor<8x8xf32> {kha.weight},
                  %c: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %wt = linalg.matmul ins(%w, %t : tensor<8x8xf32>, tensor<8x8xf32>) outs(%z : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x8xf32>, tensor<8x8xf32>) outs(%c : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// A constant weight is packed at compile time: element [k, 4 j + c] of the
// constant is element [j, k, c] of the packed one.
// CHECK-LABEL: func.func @constant(
// CHECK:         %[[P:.*]] = arith.constant dense<{{\[}}{{\[}}[0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00], [8.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01]], {{\[}}[4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00], [1.200000e+01, 1.300000e+01, 1.400000e+01, 1.500000e+01]]]> : tensor<2x2x4xf32>
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.contract {{.*}} ins(%{{.*}}, %[[P]] :
func.func @constant(%x: tensor<3x2xf32>, %c: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                             [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]]> : tensor<2x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<3x2xf32>, tensor<2x8xf32>) outs(%c : tensor<3x8xf32>) -> tensor<3x8xf32>
  return %y : tensor<3x8xf32>
}

// -----

// Columns past the last whole panel (10 = 2 x 4 + 2) stay a matmul on the
// slices of the weight and the output; both are inserted into the output.
// CHECK-LABEL: func.func @partial_panel(
// CHECK-SAME:    %[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<8x10xf32> {kha.weight}, %[[C:.*]]: tensor<?x10xf32>)
// CHECK:         %[[WP:.*]] = tensor.extract_slice %[[W]][0, 0] [8, 8] [1, 1]
// CHECK:         %[[CP:.*]] = tensor.extract_slice %[[C]][0, 0] [%[[M:.*]], 8] [1, 1]
// CHECK:         %[[P:.*]] = linalg.pack %[[WP]] {{.*}} -> tensor<2x8x4xf32>
// CHECK:         %[[R:.*]] = linalg.contract
// CHECK:         %[[PROD:.*]] = tensor.collapse_shape %[[R]] {{.*}} into tensor<?x8xf32>
// CHECK:         %[[WR:.*]] = tensor.extract_slice %[[W]][0, 8] [8, 2] [1, 1]
// CHECK:         %[[CR:.*]] = tensor.extract_slice %[[C]][0, 8] [%[[M]], 2] [1, 1]
// CHECK:         %[[REST:.*]] = linalg.matmul ins(%[[X]], %[[WR]] : tensor<?x8xf32>, tensor<8x2xf32>) outs(%[[CR]] : tensor<?x2xf32>)
// CHECK:         %[[Y0:.*]] = tensor.insert_slice %[[PROD]] into %[[C]][0, 0] [%[[M]], 8] [1, 1]
// CHECK:         %[[Y:.*]] = tensor.insert_slice %[[REST]] into %[[Y0]][0, 8] [%[[M]], 2] [1, 1]
// CHECK:         return %[[Y]]
func.func @partial_panel(%x: tensor<?x8xf32>, %w: tensor<8x10xf32> {kha.weight}, %c: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<?x8xf32>, tensor<8x10xf32>) outs(%c : tensor<?x10xf32>) -> tensor<?x10xf32>
  return %y : tensor<?x10xf32>
}

// -----

// Left alone: a right operand that is not a weight (an activation, or a
// value read from an argument that is not marked), a single panel, a
// transposed operand, mixed element types, a weight of dynamic shape.
// CHECK-LABEL: func.func @left_alone(
// CHECK-NOT:     linalg.pack
// CHECK-NOT:     linalg.contract
// CHECK-COUNT-6: linalg.matmul
// CHECK-NOT:     linalg.pack
func.func @left_alone(%x: tensor<4x8xf32>, %act: tensor<8x12xf32>, %w: tensor<8x12xf32> {kha.weight},
                      %one: tensor<8x4xf32> {kha.weight}, %wt: tensor<12x8xf32> {kha.weight},
                      %h: tensor<8x12xf16> {kha.weight}, %xh: tensor<4x8xf16>,
                      %dyn: tensor<8x?xf32> {kha.weight}, %c: tensor<4x12xf32>, %c4: tensor<4x4xf32>,
                      %cd: tensor<4x?xf32>)
    -> (tensor<4x12xf32>, tensor<4x12xf32>, tensor<4x4xf32>, tensor<4x12xf32>, tensor<4x12xf32>, tensor<4x?xf32>) {
  %0 = linalg.matmul ins(%x, %act : tensor<4x8xf32>, tensor<8x12xf32>) outs(%c : tensor<4x12xf32>) -> tensor<4x12xf32>
  %sum = arith.addf %w, %act : tensor<8x12xf32>
  %1 = linalg.matmul ins(%x, %sum : tensor<4x8xf32>, tensor<8x12xf32>) outs(%c : tensor<4x12xf32>) -> tensor<4x12xf32>
  %2 = linalg.matmul ins(%x, %one : tensor<4x8xf32>, tensor<8x4xf32>) outs(%c4 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %3 = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
       ins(%x, %wt : tensor<4x8xf32>, tensor<12x8xf32>) outs(%c : tensor<4x12xf32>) -> tensor<4x12xf32>
  %4 = linalg.matmul ins(%xh, %h : tensor<4x8xf16>, tensor<8x12xf16>) outs(%c : tensor<4x12xf32>) -> tensor<4x12xf32>
  %5 = linalg.matmul ins(%x, %dyn : tensor<4x8xf32>, tensor<8x?xf32>) outs(%cd : tensor<4x?xf32>) -> tensor<4x?xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<4x12xf32>, tensor<4x12xf32>, tensor<4x4xf32>, tensor<4x12xf32>, tensor<4x12xf32>, tensor<4x?xf32>
}

// -----

// Complex elements are not packed (nor are they a crash).
// CHECK-LABEL: func.func @complex_elements(
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.matmul
func.func @complex_elements(%x: tensor<2x8xcomplex<f32>>, %w: tensor<8x8xcomplex<f32>> {kha.weight},
                            %c: tensor<2x8xcomplex<f32>>) -> tensor<2x8xcomplex<f32>> {
  %0 = linalg.matmul ins(%x, %w : tensor<2x8xcomplex<f32>>, tensor<8x8xcomplex<f32>>) outs(%c : tensor<2x8xcomplex<f32>>) -> tensor<2x8xcomplex<f32>>
  return %0 : tensor<2x8xcomplex<f32>>
}

// -----

// A matmul inside a loop reads the loop's value, not a weight.
// CHECK-LABEL: func.func @loop_carried(
// CHECK-NOT:     linalg.pack
// CHECK:         linalg.matmul
func.func @loop_carried(%x: tensor<4x8xf32>, %w: tensor<8x8xf32> {kha.weight}, %c: tensor<4x8xf32>,
                        %n: index) -> tensor<8x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %w) -> (tensor<8x8xf32>) {
    %y = linalg.matmul ins(%acc, %acc : tensor<8x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
    scf.yield %y : tensor<8x8xf32>
  }
  return %r : tensor<8x8xf32>
}

// -----

// A panel width that is not positive is an error.
// RUN: not kha-opt %s --pass-pipeline='builtin.module(func.func(kha-pack-matmul-weights{panel-width=0}))' -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: kha-pack-matmul-weights: panel-width must be positive, got 0
