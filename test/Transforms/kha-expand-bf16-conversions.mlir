// kha-expand-bf16-conversions: f32 <-> bf16 conversions as integer
// arithmetic on their bits, so that vectors are rounded without a runtime
// call per lane.
// RUN: kha-opt %s -kha-expand-bf16-conversions | FileCheck %s

// Rounding: the bits plus 0x7FFF plus the lowest kept bit (ties to even),
// the high half kept; a NaN becomes the quiet NaN 0x7FC0.
// CHECK-LABEL: func @round
// CHECK-SAME: (%[[X:.*]]: vector<16xf32>)
// CHECK-DAG: %[[BIAS:.*]] = arith.constant dense<32767> : vector<16xi32>
// CHECK-DAG: %[[QNAN:.*]] = arith.constant dense<32704> : vector<16xi16>
// CHECK-DAG: %[[C16:.*]] = arith.constant dense<16> : vector<16xi32>
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1> : vector<16xi32>
// CHECK-DAG: %[[NAN:.*]] = arith.cmpf une, %[[X]], %[[X]] : vector<16xf32>
// CHECK: %[[BITS:.*]] = arith.bitcast %[[X]] : vector<16xf32> to vector<16xi32>
// CHECK: %[[HIGH:.*]] = arith.shrui %[[BITS]], %[[C16]]
// CHECK: %[[ODD:.*]] = arith.andi %[[HIGH]], %[[ONE]]
// CHECK: %[[ROUND:.*]] = arith.addi %[[ODD]], %[[BIAS]]
// CHECK: %[[SUM:.*]] = arith.addi %[[BITS]], %[[ROUND]]
// CHECK: %[[KEPT:.*]] = arith.shrui %[[SUM]], %[[C16]]
// CHECK: %[[NARROW:.*]] = arith.trunci %[[KEPT]] : vector<16xi32> to vector<16xi16>
// CHECK: %[[SEL:.*]] = arith.select %[[NAN]], %[[QNAN]], %[[NARROW]]
// CHECK: %[[R:.*]] = arith.bitcast %[[SEL]] : vector<16xi16> to vector<16xbf16>
// CHECK: return %[[R]]
// CHECK-NOT: arith.truncf
func.func @round(%x: vector<16xf32>) -> vector<16xbf16> {
  %0 = arith.truncf %x : vector<16xf32> to vector<16xbf16>
  return %0 : vector<16xbf16>
}

// Widening: the bits shifted left by 16.
// CHECK-LABEL: func @widen
// CHECK-SAME: (%[[B:.*]]: bf16)
// CHECK: %[[I:.*]] = arith.bitcast %[[B]] : bf16 to i16
// CHECK: %[[E:.*]] = arith.extui %[[I]] : i16 to i32
// CHECK: %[[S:.*]] = arith.shli %[[E]], %{{.*}} : i32
// CHECK: %[[F:.*]] = arith.bitcast %[[S]] : i32 to f32
// CHECK: return %[[F]]
func.func @widen(%b: bf16) -> f32 {
  %0 = arith.extf %b : bf16 to f32
  return %0 : f32
}

// Left alone: conversions to and from other types.
// CHECK-LABEL: func @other_types
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xf16>
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK-NOT: arith.bitcast
func.func @other_types(%x: vector<8xf32>, %h: f16) -> (vector<8xf16>, f32) {
  %0 = arith.truncf %x : vector<8xf32> to vector<8xf16>
  %1 = arith.extf %h : f16 to f32
  return %0, %1 : vector<8xf16>, f32
}
