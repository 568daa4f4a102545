// kha-fold-constant-generics: parallel linalg.generic ops that read only
// constants and their loop indices become constants, evaluated point by
// point through their body ops' folders.
// RUN: kha-opt %s -kha-fold-constant-generics -split-input-file | FileCheck %s

// RoPE's tables as kha-lower-to-linalg builds them (theta 10000, d 4): at
// position p and frequency j, cos and sin of p * theta^(-2j/d), in f64, then
// rounded to f32.
// CHECK-LABEL: func @rope_tables
// CHECK-DAG: %[[COS:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.540302277, 0.999949991], [-0.416146845, 9.998000e-01]]> : tensor<3x2xf32>
// CHECK-DAG: %[[SIN:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00], [0.841470957, 0.00999983306], [0.909297406, 0.0199986659]]> : tensor<3x2xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[COS]], %[[SIN]]
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @rope_tables() -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %theta = arith.constant 10000.0 : f64
  %scale = arith.constant -0.5 : f64
  %e = tensor.empty() : tensor<3x2xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      outs(%e, %e : tensor<3x2xf32>, tensor<3x2xf32>) {
  ^bb0(%o0: f32, %o1: f32):
    %i = linalg.index 0 : index
    %i64 = arith.index_cast %i : index to i64
    %pos = arith.sitofp %i64 : i64 to f64
    %j = linalg.index 1 : index
    %j64 = arith.index_cast %j : index to i64
    %jf = arith.sitofp %j64 : i64 to f64
    %exp = arith.mulf %jf, %scale : f64
    %freq = math.powf %theta, %exp : f64
    %angle = arith.mulf %pos, %freq : f64
    %c = math.cos %angle : f64
    %s = math.sin %angle : f64
    %c32 = arith.truncf %c : f64 to f32
    %s32 = arith.truncf %s : f64 to f32
    linalg.yield %c32, %s32 : f32, f32
  } -> (tensor<3x2xf32>, tensor<3x2xf32>)
  return %r#0, %r#1 : tensor<3x2xf32>, tensor<3x2xf32>
}

// -----

// Constant inputs, read through a transposing map and broadcast along a
// dimension; a splat constant.
// CHECK-LABEL: func @constant_inputs
// CHECK: %[[R:.*]] = arith.constant dense<{{\[}}[1.500000e+00, 3.500000e+00], [2.500000e+00, 4.500000e+00]]> : tensor<2x2xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]
#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @constant_inputs() -> tensor<2x2xf32> {
  %m = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %half = arith.constant dense<0.5> : tensor<2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %r = linalg.generic {indexing_maps = [#t, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %half : tensor<2x2xf32>, tensor<2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x2xf32>
  return %r : tensor<2x2xf32>
}

// -----

// Left alone: an input that is not a constant.
// CHECK-LABEL: func @argument_input
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @argument_input(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Left alone: the output's initial value is read.
// CHECK-LABEL: func @reads_output
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @reads_output(%init: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%init : tensor<4xf32>) {
  ^bb0(%o: f32):
    %s = arith.addf %o, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Left alone: a reduction.
// CHECK-LABEL: func @reduction
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>
func.func @reduction() -> tensor<f32> {
  %c = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %e = tensor.empty() : tensor<f32>
  %r = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%c : tensor<2xf32>) outs(%e : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// Left alone: a dynamic shape.
// CHECK-LABEL: func @dynamic
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @dynamic(%n: index) -> tensor<?xf32> {
  %e = tensor.empty(%n) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%e : tensor<?xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %i64 = arith.index_cast %i : index to i64
    %f = arith.sitofp %i64 : i64 to f32
    linalg.yield %f : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

// Left alone: more points (300 x 300) than max-elements (65536 by default).
// CHECK-LABEL: func @too_large
// CHECK: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @too_large() -> tensor<300x300xf32> {
  %e = tensor.empty() : tensor<300x300xf32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%e : tensor<300x300xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %i64 = arith.index_cast %i : index to i64
    %f = arith.sitofp %i64 : i64 to f32
    linalg.yield %f : f32
  } -> tensor<300x300xf32>
  return %r : tensor<300x300xf32>
}

// -----

// Left alone: an op that does not fold at some point (a division by zero).
// CHECK-LABEL: func @does_not_fold
// CHECK: linalg.generic
// CHECK: arith.divui
#id = affine_map<(d0) -> (d0)>
func.func @does_not_fold() -> tensor<3xi32> {
  %e = tensor.empty() : tensor<3xi32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%e : tensor<3xi32>) {
  ^bb0(%o: i32):
    %i = linalg.index 0 : index
    %i32 = arith.index_cast %i : index to i32
    %one = arith.constant 1 : i32
    %d = arith.subi %one, %i32 : i32
    %q = arith.divui %one, %d : i32
    linalg.yield %q : i32
  } -> tensor<3xi32>
  return %r : tensor<3xi32>
}

// -----

// Left alone: a body op with memory effects.
// CHECK-LABEL: func @effects
// CHECK: linalg.generic
// CHECK: memref.load
#id = affine_map<(d0) -> (d0)>
func.func @effects(%m: memref<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%e : tensor<4xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %v = memref.load %m[%i] : memref<4xf32>
    linalg.yield %v : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
