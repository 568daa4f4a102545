// kha-duplicate-shared-inits: every use of an empty tensor, or of a fill of
// one, gets its own.
// RUN: kha-opt %s -kha-duplicate-shared-inits -split-input-file | FileCheck %s
// The rewrite changes no value: bufferised, the shared fill is copied for
// each matmul, the unshared one is not.
// RUN: kha-opt %s -split-input-file -one-shot-bufferize="bufferize-function-boundaries" | FileCheck %s --check-prefix=SHARED
// RUN: kha-opt %s -split-input-file -kha-duplicate-shared-inits -one-shot-bufferize="bufferize-function-boundaries" | FileCheck %s --check-prefix=UNSHARED

// One zero fill read as the accumulator of two matmuls (as CSE leaves a
// layer's projections): each matmul gets its own fill of its own empty
// tensor, made where the first is.
// CHECK-LABEL: func @shared_fill
// CHECK-SAME: (%[[X:.*]]: tensor<64x32xf32>, %[[Y:.*]]: tensor<64x32xf32>, %[[W:.*]]: tensor<32x32xf32>)
// CHECK-DAG: %[[E0:.*]] = tensor.empty() : tensor<64x32xf32>
// CHECK-DAG: %[[E1:.*]] = tensor.empty() : tensor<64x32xf32>
// CHECK-DAG: %[[Z0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E0]] : tensor<64x32xf32>)
// CHECK-DAG: %[[Z1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E1]] : tensor<64x32xf32>)
// CHECK-DAG: linalg.matmul ins(%[[X]], %[[W]] : {{.*}}) outs(%[[Z0]] : tensor<64x32xf32>)
// CHECK-DAG: linalg.matmul ins(%[[Y]], %[[W]] : {{.*}}) outs(%[[Z1]] : tensor<64x32xf32>)
// SHARED-LABEL: func @shared_fill
// SHARED: memref.copy
// UNSHARED-LABEL: func @shared_fill
// UNSHARED-NOT: memref.copy
// UNSHARED: return
func.func @shared_fill(%x: tensor<64x32xf32>, %y: tensor<64x32xf32>, %w: tensor<32x32xf32>) -> (tensor<64x32xf32>, tensor<64x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<64x32xf32>) -> tensor<64x32xf32>
  %a = linalg.matmul ins(%x, %w : tensor<64x32xf32>, tensor<32x32xf32>) outs(%z : tensor<64x32xf32>) -> tensor<64x32xf32>
  %b = linalg.matmul ins(%y, %w : tensor<64x32xf32>, tensor<32x32xf32>) outs(%z : tensor<64x32xf32>) -> tensor<64x32xf32>
  return %a, %b : tensor<64x32xf32>, tensor<64x32xf32>
}

// -----

// An empty tensor shared by two outputs of one op: one each.
// CHECK-LABEL: func @shared_empty
// CHECK-DAG: %[[E0:.*]] = tensor.empty() : tensor<8xf32>
// CHECK-DAG: %[[E1:.*]] = tensor.empty() : tensor<8xf32>
// CHECK: linalg.generic {{.*}} outs(%[[E1]], %[[E0]] : tensor<8xf32>, tensor<8xf32>)
func.func @shared_empty(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %r:2 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                         iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e, %e : tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%in: f32, %o0: f32, %o1: f32):
    %n = arith.negf %in : f32
    linalg.yield %in, %n : f32, f32
  } -> (tensor<8xf32>, tensor<8xf32>)
  return %r#0, %r#1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// A fill both read (by two ops) and written into (by a third): the writer
// gets its own fill, the readers share the original.
// CHECK-LABEL: func @read_and_written
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>)
// CHECK-NOT: linalg.generic
// CHECK-DAG: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E:.*]] : tensor<8xf32>)
// CHECK-DAG: %[[W:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E1:.*]] : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[Z]] : tensor<8xf32>, tensor<8xf32>) outs(%[[X]] : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[Z]] : tensor<8xf32>) outs(%[[X]] : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<8xf32>) outs(%[[W]] : tensor<8xf32>)
// CHECK-NOT: linalg.fill
func.func @read_and_written(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x, %z : tensor<8xf32>, tensor<8xf32>) outs(%x : tensor<8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%z : tensor<8xf32>) outs(%x : tensor<8xf32>) {
  ^bb0(%q: f32, %o: f32):
    linalg.yield %q : f32
  } -> tensor<8xf32>
  %c = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%z : tensor<8xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.addf %p, %o : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %a, %b, %c : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// Left alone: a fill of anything but an empty tensor (duplicated, both
// would write the same buffer), fills and empty tensors with one use, and
// fills on buffers.
// CHECK-LABEL: func @left_alone
// CHECK-SAME: (%[[T:.*]]: tensor<4xf32>, %[[M:.*]]: memref<4xf32>, %[[X:.*]]: f32)
// CHECK-NEXT: %[[F:.*]] = linalg.fill ins(%[[X]] : f32) outs(%[[T]] : tensor<4xf32>)
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[G:.*]] = linalg.fill ins(%[[X]] : f32) outs(%[[E]] : tensor<4xf32>)
// CHECK-NEXT: linalg.fill ins(%[[X]] : f32) outs(%[[M]] : memref<4xf32>)
// CHECK-NEXT: return %[[F]], %[[F]], %[[G]]
func.func @left_alone(%t: tensor<4xf32>, %m: memref<4xf32>, %x: f32) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %f = linalg.fill ins(%x : f32) outs(%t : tensor<4xf32>) -> tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %g = linalg.fill ins(%x : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  linalg.fill ins(%x : f32) outs(%m : memref<4xf32>)
  return %f, %f, %g : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Unused fills and empty tensors are left as they are.
// CHECK-LABEL: func @unused
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<4xf32>)
// CHECK-NEXT: tensor.empty() : tensor<8xf32>
// CHECK-NEXT: return
func.func @unused(%x: f32) {
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%x : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %g = tensor.empty() : tensor<8xf32>
  return
}
