// kha-gpu-hopper-kernel-abi: an outlined kernel using TMA takes its tensor
// maps as pointers and aligns its workgroup buffers and its dynamic shared
// memory to 1024 bytes; a kernel that rebalances registers between its
// warpgroups gets .minnctapersm 1; other kernels are left alone.
// RUN: kha-opt %s -kha-gpu-hopper-kernel-abi | FileCheck %s

!map = !nvgpu.tensormap.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
!bars = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 1>
module attributes {gpu.container_module} {
  // CHECK: gpu.func @tma(%[[P:.*]]: !llvm.ptr, %{{.*}}: index) workgroup(%[[S:.*]] : memref<8192xi8, #gpu.address_space<workgroup>> {llvm.align = 1024 : i64}) kernel
  // CHECK: %[[MAP:.*]] = builtin.unrealized_conversion_cast %[[P]] : !llvm.ptr to !nvgpu.tensormap.descriptor
  // CHECK: nvgpu.tma.async.load %[[MAP]]
  // CHECK: gpu.func @plain(%{{.*}}: index) workgroup(%{{.*}} : memref<16xf32, #gpu.address_space<workgroup>>) kernel
  // CHECK-NOT: nvvm.minctasm
  // A kernel whose warpgroups trade registers starts with all a block may
  // have (PTX .minnctapersm 1).
  // CHECK: gpu.func @rebalances(%{{.*}}: index) kernel attributes {nvvm.minctasm = 1 : i32}
  // Dynamic shared memory: a memref on the module's external array.
  // CHECK: llvm.mlir.global external @kha_dynamic_shared() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
  // CHECK: gpu.func @dynamic
  // CHECK-NOT: gpu.dynamic_shared_memory
  // CHECK: %[[ADDR:.*]] = llvm.mlir.addressof @kha_dynamic_shared : !llvm.ptr<3>
  // CHECK: llvm.insertvalue %[[ADDR]], %{{.*}}[0]
  // CHECK: llvm.insertvalue %[[ADDR]], %{{.*}}[1]
  // CHECK: %[[SMEM:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr<3>, ptr<3>, i64, array<1 x i64>, array<1 x i64>)> to memref<?xi8, #gpu.address_space<workgroup>>
  // CHECK: memref.view %[[SMEM]]
  // A kernel without TMA keeps MLIR's own dynamic shared memory.
  // CHECK: gpu.func @plain_dynamic
  // CHECK: gpu.dynamic_shared_memory
  gpu.module @kernels {
    gpu.func @tma(%map: !map, %i: index) workgroup(%smem : memref<8192xi8, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %bars = nvgpu.mbarrier.create -> !bars
      %tile = memref.view %smem[%c0][] : memref<8192xi8, #gpu.address_space<workgroup>> to memref<64x64xf16, #gpu.address_space<workgroup>>
      nvgpu.tma.async.load %map[%i, %i], %bars[%c0] to %tile : !map, !bars -> memref<64x64xf16, #gpu.address_space<workgroup>>
      gpu.return
    }
    gpu.func @plain(%i: index) workgroup(%buf : memref<16xf32, #gpu.address_space<workgroup>>) kernel {
      gpu.return
    }
    gpu.func @rebalances(%i: index) kernel {
      %c128 = arith.constant 128 : index
      %tid = gpu.thread_id x
      %consumer = arith.cmpi ult, %tid, %c128 : index
      scf.if %consumer {
        nvvm.setmaxregister increase 240
      } else {
        nvvm.setmaxregister decrease 24
      }
      gpu.return
    }
  }
  gpu.module @dynamic_kernels {
    gpu.func @dynamic(%map: !map, %i: index) kernel {
      %c0 = arith.constant 0 : index
      %bars = nvgpu.mbarrier.create -> !bars
      %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %tile = memref.view %smem[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x64xf16, #gpu.address_space<workgroup>>
      nvgpu.tma.async.load %map[%i, %i], %bars[%c0] to %tile : !map, !bars -> memref<64x64xf16, #gpu.address_space<workgroup>>
      gpu.return
    }
    gpu.func @plain_dynamic() kernel {
      %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
  // CHECK-LABEL: func @host
  // CHECK: %[[PTR:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !nvgpu.tensormap.descriptor{{.*}} to !llvm.ptr
  // CHECK: gpu.launch_func @kernels::@tma {{.*}} args(%[[PTR]] : !llvm.ptr, %{{.*}} : index)
  func.func @host(%t: memref<*xf16>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %map = nvgpu.tma.create.descriptor %t box[%c64, %c64] : memref<*xf16> -> !map
    gpu.launch_func @kernels::@tma blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%map : !map, %c1 : index)
    return
  }
}
