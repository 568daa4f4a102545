// kha-emulate-bf16-dot: x86vector.avx512.dot as what VDPBF16PS computes, in
// vector arithmetic any target has.
// RUN: kha-opt %s -kha-emulate-bf16-dot | FileCheck %s
// RUN: kha-opt %s -kha-emulate-bf16-dot=flush-subnormals=false | FileCheck %s --check-prefix=IEEE

// Each 32-bit lane holds a pair: element 2i widened by a shift left by 16,
// element 2i+1 by clearing the low half. Subnormals (exponent field zero)
// become a zero of their sign, on the inputs and after each step. The odd
// products are added first, then the even ones, each by one fma.
// CHECK-LABEL: func @dot
// CHECK-SAME:    (%[[ACC:.*]]: vector<16xf32>, %[[A:.*]]: vector<32xbf16>, %[[B:.*]]: vector<32xbf16>)
// CHECK-DAG:     %[[EXP:.*]] = arith.constant dense<2139095040> : vector<16xi32>
// CHECK-DAG:     %[[SIGN:.*]] = arith.constant dense<-2147483648> : vector<16xi32>
// CHECK:         %[[AI:.*]] = vector.bitcast %[[A]] : vector<32xbf16> to vector<16xi32>
// CHECK:         %[[SIXTEEN:.*]] = arith.constant dense<16> : vector<16xi32>
// CHECK:         %[[AE:.*]] = arith.shli %[[AI]], %[[SIXTEEN]]
// CHECK:         %[[HIGH:.*]] = arith.constant dense<-65536> : vector<16xi32>
// CHECK:         %[[AO:.*]] = arith.andi %[[AI]], %[[HIGH]]
// CHECK:         %[[AEX:.*]] = arith.andi %[[AE]], %[[EXP]]
// CHECK:         %[[AET:.*]] = arith.cmpi eq, %[[AEX]]
// CHECK:         %[[AES:.*]] = arith.andi %[[AE]], %[[SIGN]]
// CHECK:         %[[AEF:.*]] = arith.select %[[AET]], %[[AES]], %[[AE]]
// CHECK:         %[[AEVEN:.*]] = arith.bitcast %[[AEF]] : vector<16xi32> to vector<16xf32>
// CHECK:         arith.select %{{.*}}, %{{.*}}, %[[AO]]
// CHECK:         %[[AODD:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         vector.bitcast %[[B]] : vector<32xbf16> to vector<16xi32>
// CHECK:         %[[BEVEN:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         %[[BODD:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         %[[ACCI:.*]] = arith.bitcast %[[ACC]] : vector<16xf32> to vector<16xi32>
// CHECK:         %[[ACC0:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         %[[S1:.*]] = math.fma %[[AODD]], %[[BODD]], %[[ACC0]] : vector<16xf32>
// CHECK:         %[[S1F:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         %[[S2:.*]] = math.fma %[[AEVEN]], %[[BEVEN]], %[[S1F]] : vector<16xf32>
// CHECK:         %[[R:.*]] = arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:         return %[[R]]
// CHECK-NOT:     x86vector
// Without the flushing: the pairs widened, two fmas, nothing else.
// IEEE-LABEL: func @dot
// IEEE-SAME:    (%[[ACC:.*]]: vector<16xf32>, %[[A:.*]]: vector<32xbf16>, %[[B:.*]]: vector<32xbf16>)
// IEEE-NOT:     arith.cmpi
// IEEE-NOT:     arith.select
// IEEE:         %[[S1:.*]] = math.fma %{{.*}}, %{{.*}}, %[[ACC]] : vector<16xf32>
// IEEE:         %[[S2:.*]] = math.fma %{{.*}}, %{{.*}}, %[[S1]] : vector<16xf32>
// IEEE:         return %[[S2]]
func.func @dot(%acc: vector<16xf32>, %a: vector<32xbf16>, %b: vector<32xbf16>) -> vector<16xf32> {
  %d = x86vector.avx512.dot %acc, %a, %b : vector<32xbf16> -> vector<16xf32>
  return %d : vector<16xf32>
}

// The 128-bit form: four lanes.
// CHECK-LABEL: func @dot4
// CHECK-COUNT-2: math.fma %{{.*}} : vector<4xf32>
// CHECK-NOT:     x86vector
func.func @dot4(%acc: vector<4xf32>, %a: vector<8xbf16>, %b: vector<8xbf16>) -> vector<4xf32> {
  %d = x86vector.avx512.dot %acc, %a, %b : vector<8xbf16> -> vector<4xf32>
  return %d : vector<4xf32>
}
