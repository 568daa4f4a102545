// kha-vectorize-buffer-copies: copies and fills of buffers as loops over all
// but the innermost dimension, moving whole vectors along it.
// RUN: kha-opt %s -kha-vectorize-buffer-copies -split-input-file | FileCheck %s
// RUN: kha-opt %s -kha-vectorize-buffer-copies=max-vector-size=16 -split-input-file | FileCheck %s --check-prefix=MAX16
// RUN: not kha-opt %s -kha-vectorize-buffer-copies=max-vector-size=0 -split-input-file 2>&1 | FileCheck %s --check-prefix=ZERO

// A copy into a strided view (RoPE's half rows, a concatenation): one
// vector<32xf32> per row.
// CHECK-LABEL: func @copy_rows
// CHECK-SAME: (%[[A:.*]]: memref<4x8x32xf32>, %[[B:.*]]: memref<4x8x32xf32, strided<[512, 64, 1]>>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK: scf.for %[[J:.*]] = %[[C0]] to %[[C8]] step %[[C1]] {
// CHECK: %[[V:.*]] = vector.transfer_read %[[A]][%[[I]], %[[J]], %[[C0]]], %{{.*}} {in_bounds = [true]} : memref<4x8x32xf32>, vector<32xf32>
// CHECK: vector.transfer_write %[[V]], %[[B]][%[[I]], %[[J]], %[[C0]]] {in_bounds = [true]} : vector<32xf32>, memref<4x8x32xf32, strided<[512, 64, 1]>>
// CHECK-NOT: linalg.copy
// With at most 16 elements per transfer, two pieces per row.
// MAX16-LABEL: func @copy_rows
// MAX16: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// MAX16: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// MAX16: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// MAX16: vector.transfer_read %{{.*}}[%{{.*}}, %{{.*}}, %[[K]]]{{.*}} vector<16xf32>
// MAX16: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %[[K]]]{{.*}} vector<16xf32>
func.func @copy_rows(%a: memref<4x8x32xf32>, %b: memref<4x8x32xf32, strided<[512, 64, 1]>>) {
  linalg.copy ins(%a : memref<4x8x32xf32>) outs(%b : memref<4x8x32xf32, strided<[512, 64, 1]>>)
  return
}

// -----

// A row longer than a vector, and not a multiple of it: a loop over the
// whole pieces (0, 64, 128), then the last 8 elements. Dynamic outer sizes
// are read from the destination.
// CHECK-LABEL: func @long_rows
// CHECK-SAME: (%[[A:.*]]: memref<?x200xf16>, %[[B:.*]]: memref<?x200xf16>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C192:.*]] = arith.constant 192 : index
// CHECK: %[[N:.*]] = memref.dim %[[B]], %[[C0]]
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[N]]
// CHECK: scf.for %[[K:.*]] = %[[C0]] to %[[C192]] step %[[C64]] {
// CHECK: %[[V:.*]] = vector.transfer_read %[[A]][%[[I]], %[[K]]]{{.*}} : memref<?x200xf16>, vector<64xf16>
// CHECK: vector.transfer_write %[[V]], %[[B]][%[[I]], %[[K]]]
// CHECK: }
// CHECK: %[[R:.*]] = vector.transfer_read %[[A]][%[[I]], %[[C192]]]{{.*}} : memref<?x200xf16>, vector<8xf16>
// CHECK: vector.transfer_write %[[R]], %[[B]][%[[I]], %[[C192]]]{{.*}} : vector<8xf16>, memref<?x200xf16>
func.func @long_rows(%a: memref<?x200xf16>, %b: memref<?x200xf16>) {
  linalg.copy ins(%a : memref<?x200xf16>) outs(%b : memref<?x200xf16>)
  return
}

// -----

// A fill: the value broadcast once per piece.
// CHECK-LABEL: func @fill
// CHECK-SAME: (%[[B:.*]]: memref<2x64xf32>, %[[X:.*]]: f32)
// CHECK: scf.for %[[I:.*]] =
// CHECK: %[[V:.*]] = vector.broadcast %[[X]] : f32 to vector<64xf32>
// CHECK: vector.transfer_write %[[V]], %[[B]][%[[I]], %{{.*}}] {in_bounds = [true]} : vector<64xf32>, memref<2x64xf32>
// CHECK-NOT: linalg.fill
func.func @fill(%b: memref<2x64xf32>, %x: f32) {
  linalg.fill ins(%x : f32) outs(%b : memref<2x64xf32>)
  return
}

// -----

// A one-dimensional buffer: no outer loops.
// CHECK-LABEL: func @one_row
// CHECK-NOT: scf.for
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}] {in_bounds = [true]} : vector<48xi32>, memref<48xi32>
func.func @one_row(%b: memref<48xi32>) {
  %c = arith.constant 7 : i32
  linalg.fill ins(%c : i32) outs(%b : memref<48xi32>)
  return
}

// -----

// Left alone: copies and fills on tensors, of rank-0 buffers, of rows of
// dynamic size, of one element or with a stride, and of elements narrower
// than a byte (a vector of i1 is packed into bits in memory; a buffer of i1
// holds a byte per element).
// CHECK-LABEL: func @left_alone
// CHECK-NOT: vector.
// CHECK: linalg.copy ins(%{{.*}} : tensor<4x8xf32>)
// CHECK: linalg.copy ins(%{{.*}} : memref<f32>)
// CHECK: linalg.copy ins(%{{.*}} : memref<4x?xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<8x1xf32>)
// CHECK: linalg.copy ins(%{{.*}} : memref<4x8xf32, strided<[1, 4]>>)
// CHECK: linalg.copy ins(%{{.*}} : memref<4x64xi1>)
// CHECK: linalg.fill ins(%{{.*}} : i1) outs(%{{.*}} : memref<4x64xi1>)
// CHECK-NOT: vector.
func.func @left_alone(%t: tensor<4x8xf32>, %u: tensor<4x8xf32>,
                      %s: memref<f32>, %s2: memref<f32>,
                      %d: memref<4x?xf32>, %d2: memref<4x?xf32>,
                      %one: memref<8x1xf32>, %x: f32,
                      %col: memref<4x8xf32, strided<[1, 4]>>, %m: memref<4x8xf32>,
                      %bits: memref<4x64xi1>, %bits2: memref<4x64xi1>, %flag: i1) -> tensor<4x8xf32> {
  %r = linalg.copy ins(%t : tensor<4x8xf32>) outs(%u : tensor<4x8xf32>) -> tensor<4x8xf32>
  linalg.copy ins(%s : memref<f32>) outs(%s2 : memref<f32>)
  linalg.copy ins(%d : memref<4x?xf32>) outs(%d2 : memref<4x?xf32>)
  linalg.fill ins(%x : f32) outs(%one : memref<8x1xf32>)
  linalg.copy ins(%col : memref<4x8xf32, strided<[1, 4]>>) outs(%m : memref<4x8xf32>)
  linalg.copy ins(%bits : memref<4x64xi1>) outs(%bits2 : memref<4x64xi1>)
  linalg.fill ins(%flag : i1) outs(%bits2 : memref<4x64xi1>)
  return %r : tensor<4x8xf32>
}

// ZERO: max-vector-size must be at least 1
