// kha-gpu-wgmma-fragments-to-llvm: casts between a lowered wgmma
// accumulator (an LLVM struct of registers per 64 rows) and the thread's
// registers as an f32 vector become element moves in register order; such a
// cast that is not such a chain is an error.
// RUN: kha-opt %s -split-input-file -pass-pipeline="builtin.module(gpu.module(kha-gpu-wgmma-fragments-to-llvm))" -verify-diagnostics | FileCheck %s

!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<128x8xf32>>
!regs = !llvm.struct<(struct<(f32, f32, f32, f32)>, struct<(f32, f32, f32, f32)>)>
// CHECK-LABEL: llvm.func @round_trip
// CHECK-SAME: (%[[S:.*]]: !llvm.struct
// CHECK-NOT: unrealized_conversion_cast
// CHECK: llvm.extractvalue %[[S]][0, 0]
// CHECK: llvm.insertelement
// CHECK: llvm.extractvalue %[[S]][1, 3]
// CHECK: %[[V:.*]] = llvm.insertelement
// CHECK: %[[W:.*]] = arith.addf %[[V]], %[[V]] : vector<8xf32>
// CHECK: llvm.extractelement %[[W]]
// CHECK: llvm.insertvalue {{.*}}[0, 0]
// CHECK: llvm.insertvalue {{.*}}[1, 3]
// CHECK-NOT: unrealized_conversion_cast
// CHECK: llvm.return
gpu.module @kernels {
  llvm.func @round_trip(%s: !regs) -> !regs {
    %a = builtin.unrealized_conversion_cast %s : !regs to !acc
    %v = builtin.unrealized_conversion_cast %a : !acc to vector<8xf32>
    %w = arith.addf %v, %v : vector<8xf32>
    %b = builtin.unrealized_conversion_cast %w : vector<8xf32> to !acc
    %t = builtin.unrealized_conversion_cast %b : !acc to !regs
    llvm.return %t : !regs
  }
}

// -----

!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x8xf32>>
gpu.module @kernels {
  func.func @not_lowered(%a: !acc) -> vector<4xf32> {
    // expected-error @below {{kha-gpu-wgmma-fragments-to-llvm: not a lowered wgmma accumulator of this many registers}}
    %v = builtin.unrealized_conversion_cast %a : !acc to vector<4xf32>
    return %v : vector<4xf32>
  }
}

// -----

!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x8xf32>>
!regs = !llvm.struct<(struct<(f32, f32, f32, f32)>)>
gpu.module @kernels {
  llvm.func @wrong_count(%s: !regs) -> vector<8xf32> {
    %a = builtin.unrealized_conversion_cast %s : !regs to !acc
    // expected-error @below {{kha-gpu-wgmma-fragments-to-llvm: not a lowered wgmma accumulator of this many registers}}
    %v = builtin.unrealized_conversion_cast %a : !acc to vector<8xf32>
    llvm.return %v : vector<8xf32>
  }
}

// -----

// Casts between other types (here f16 registers, not an accumulator's f32
// ones) are left to the conversions that made them.
// CHECK-LABEL: func.func @other_types
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : vector<4xf16> to !nvgpu.warpgroup.accumulator
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x8xf32>>
gpu.module @kernels {
  func.func @other_types(%v: vector<4xf16>) -> !acc {
    %a = builtin.unrealized_conversion_cast %v : vector<4xf16> to !acc
    return %a : !acc
  }
}

// -----

!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x8xf32>>
gpu.module @kernels {
  func.func @used_unlowered(%v: vector<4xf32>) -> !acc {
    // expected-error @below {{kha-gpu-wgmma-fragments-to-llvm: a wgmma accumulator made of registers is used by an operation that was not lowered}}
    %a = builtin.unrealized_conversion_cast %v : vector<4xf32> to !acc
    return %a : !acc
  }
}
