// kha-gpu-launch-to-host-loops: a launch becomes loops over its grid (z, y, x);
// a block's threads become loops over the linear thread id, split at barriers
// and shuffles; values crossing a split are carried in per-thread arrays;
// uniform arithmetic is computed once; loops and branches holding a barrier
// stay outside with uniform bounds. Launches it cannot run are refused.
// RUN: kha-opt %s -kha-gpu-launch-to-host-loops -split-input-file -verify-diagnostics | FileCheck %s
// RUN: kha-opt %s -kha-gpu-launch-to-host-loops=reverse-threads -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=REV

// One thread per block: the barrier splits nothing that matters; workgroup
// memory is one stack buffer at the function's entry.
// CHECK-LABEL: func @one_thread
// CHECK-SAME: (%[[GX:.*]]: index, %[[GY:.*]]: index, %[[OUT:.*]]: memref<?x?xf32>)
// CHECK: %[[TILE:.*]] = memref.alloca() : memref<4xf32>
// CHECK: scf.for %[[Z:.*]] = %{{.*}} to %c1
// CHECK:   scf.for %[[Y:.*]] = %{{.*}} to %[[GY]]
// CHECK:     scf.for %[[X:.*]] = %{{.*}} to %[[GX]]
// CHECK:       scf.for %[[T:.*]] = %{{.*}} to %[[ONE:.*]] step
// CHECK:         memref.store %{{.*}}, %[[TILE]][
// CHECK-NOT:   gpu.barrier
// CHECK:       scf.for %{{.*}} = %{{.*}} to %[[ONE]] step
// CHECK:         %[[V:.*]] = memref.load %[[TILE]][
// CHECK:         memref.store %[[V]], %[[OUT]][%[[Y]], %[[X]]]
// CHECK-NOT: gpu.launch
func.func @one_thread(%gx: index, %gy: index, %out: memref<?x?xf32>) {
  %c1 = arith.constant 1 : index
  %f = arith.constant 2.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %gx, %y = %gy, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1)
             workgroup(%tile : memref<4xf32, #gpu.address_space<workgroup>>) {
    memref.store %f, %tile[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %v = memref.load %tile[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out[%by, %bx] : memref<?x?xf32>
    gpu.terminator
  }
  return
}

// -----

// 32 threads reverse a tile through workgroup memory. Before the barrier every
// thread stores; after it every thread loads its mirror element. The index
// 31 - tx, computed before the barrier and used after, is carried in a
// per-thread array; the block offset (uniform) is computed once per block.
// With reverse-threads, thread loop i runs thread N - 1 - i.
// REV-LABEL: func @reverse
// REV: scf.for
// REV:   scf.for
// REV:     scf.for %{{.*}} = %{{.*}} to %{{.*}} step
// REV: scf.for %[[I:.*]] = %{{.*}} to %[[N:.*]] step
// REV:   %[[LAST:.*]] = arith.subi %[[N]], %{{.*}}
// REV:   %[[T:.*]] = arith.subi %[[LAST]], %[[I]]
// REV:   arith.remui %[[T]]
// CHECK-LABEL: func @reverse
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[TILE:.*]] = memref.alloca() : memref<32xf32>
// CHECK-DAG: %[[MIRROR:.*]] = memref.alloca() : memref<32xindex>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for %[[BX:.*]] = %{{.*}} to %{{.*}} step
// CHECK:   %[[BASE:.*]] = arith.muli %[[BX]], %c32
// CHECK:   scf.for %[[T:.*]] = %{{.*}} to %[[NT:.*]] step
// CHECK:     %[[TX:.*]] = arith.remui %[[T]], %[[C32]]
// CHECK:     %[[R:.*]] = arith.subi %c31, %[[TX]]
// CHECK:     %[[G:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:     %[[A:.*]] = memref.load %{{.*}}[%[[G]]]
// CHECK:     memref.store %[[A]], %[[TILE]][%[[TX]]]
// CHECK:     memref.store %[[R]], %[[MIRROR]][%[[T]]]
// CHECK:     memref.store %[[G]], %[[GIDX:.*]][%[[T]]]
// CHECK:   }
// CHECK-NOT: gpu.barrier
// CHECK:   scf.for %[[T2:.*]] = %{{.*}} to %[[NT]] step
// CHECK:     %[[R2:.*]] = memref.load %[[MIRROR]][%[[T2]]]
// CHECK:     %[[B:.*]] = memref.load %[[TILE]][%[[R2]]]
// CHECK:     %[[G2:.*]] = memref.load %[[GIDX]][%[[T2]]]
// CHECK:     memref.store %[[B]], %{{.*}}[%[[G2]]]
func.func @reverse(%in: memref<?xf32>, %out: memref<?xf32>, %blocks: index) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c31 = arith.constant 31 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %blocks, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1)
             workgroup(%tile : memref<32xf32, #gpu.address_space<workgroup>>) {
    %base = arith.muli %bx, %c32 : index
    %r = arith.subi %c31, %tx : index
    %g = arith.addi %base, %tx : index
    %a = memref.load %in[%g] : memref<?xf32>
    memref.store %a, %tile[%tx] : memref<32xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %b = memref.load %tile[%r] : memref<32xf32, #gpu.address_space<workgroup>>
    memref.store %b, %out[%g] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// A butterfly reduction: the shuffle reads the source lane's value from the
// array its producer wrote; an out-of-range source reads the thread's own.
// CHECK-LABEL: func @shuffle_xor
// CHECK-DAG: %[[SRC:.*]] = memref.alloca() : memref<8xf32>
// CHECK-DAG: %[[RES:.*]] = memref.alloca() : memref<8xf32>
// CHECK-DAG: %[[VALID:.*]] = memref.alloca() : memref<8xi1>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK: scf.for %[[T:.*]] =
// CHECK:   %[[V:.*]] = memref.load
// CHECK:   memref.store %[[V]], %[[SRC]][%[[T]]]
// CHECK: %[[W8:.*]] = arith.index_castui %c8_i32
// CHECK: scf.for %[[U:.*]] =
// CHECK:   %[[OFF:.*]] = arith.index_castui %c4_i32
// CHECK:   %[[LANE:.*]] = arith.remui %[[U]], %c32
// CHECK:   %[[WARP:.*]] = arith.subi %[[U]], %[[LANE]]
// CHECK:   %[[FROM:.*]] = arith.xori %[[LANE]], %[[OFF]]
// CHECK:   %[[FROMT:.*]] = arith.addi %[[WARP]], %[[FROM]]
// CHECK:   %[[LANEOK:.*]] = arith.cmpi ult, %[[LANE]], %[[W8]]
// CHECK:   %[[FROMOK:.*]] = arith.cmpi ult, %[[FROM]], %[[W8]]
// CHECK:   %[[BOTH:.*]] = arith.andi %[[LANEOK]], %[[FROMOK]]
// CHECK:   %[[OK:.*]] = arith.andi %[[BOTH]],
// CHECK:   %[[AT:.*]] = arith.select %[[OK]], %[[FROMT]], %[[U]]
// CHECK:   %[[OTHER:.*]] = memref.load %[[SRC]][%[[AT]]]
// CHECK:   memref.store %[[OTHER]], %[[RES]][%[[U]]]
// CHECK:   memref.store %[[OK]], %[[VALID]][%[[U]]]
// CHECK: scf.for %[[W:.*]] =
// CHECK:   memref.load %[[SRC]][%[[W]]]
// CHECK:   memref.load %[[RES]][%[[W]]]
// CHECK:   arith.addf
func.func @shuffle_xor(%in: memref<8xf32>, %out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %off = arith.constant 4 : i32
  %width = arith.constant 8 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c8, %j = %c1, %k = %c1) {
    %v = memref.load %in[%tx] : memref<8xf32>
    %other, %valid = gpu.shuffle xor %v, %off, %width : f32
    %s = arith.addf %v, %other : f32
    memref.store %s, %out[%tx] : memref<8xf32>
    gpu.terminator
  }
  return
}

// -----

// The modes other than xor: the source lane is lane + offset (down),
// lane - offset (up, in range only when lane >= offset) or offset (idx).
// CHECK-LABEL: func @shuffle_modes
// CHECK: arith.addi %{{.*}}, %{{.*}} : index
// CHECK: arith.cmpi uge
// CHECK: arith.subi
// CHECK: scf.for
// CHECK-NOT: gpu.shuffle
func.func @shuffle_modes(%in: memref<8xf32>, %out: memref<3x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %off = arith.constant 1 : i32
  %width = arith.constant 8 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c8, %j = %c1, %k = %c1) {
    %v = memref.load %in[%tx] : memref<8xf32>
    %d, %dv = gpu.shuffle down %v, %off, %width : f32
    %u, %uv = gpu.shuffle up %v, %off, %width : f32
    %i0, %iv = gpu.shuffle idx %v, %off, %width : f32
    memref.store %d, %out[%c0, %tx] : memref<3x8xf32>
    memref.store %u, %out[%c1, %tx] : memref<3x8xf32>
    memref.store %i0, %out[%c2, %tx] : memref<3x8xf32>
    gpu.terminator
  }
  return
}

// -----

// A loop holding a barrier stays outside the thread loops, its bounds uniform;
// its iteration value lives in a per-thread array: set before the loop,
// updated at the end of each iteration, read after it.
// CHECK-LABEL: func @loop_with_barrier
// CHECK-DAG: %[[ACC:.*]] = memref.alloca() : memref<16xf32>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK: scf.for %[[T0:.*]] =
// CHECK:   memref.store %{{.*}}, %[[ACC]][%[[T0]]]
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %c16
// CHECK:   scf.for %[[T1:.*]] =
// CHECK:     memref.store %{{.*}}, %[[TILE:.*]][
// CHECK:   scf.for %[[T2:.*]] =
// CHECK:     memref.load %[[TILE]]
// CHECK:     memref.load %[[ACC]][%[[T2]]]
// CHECK:     arith.addf
// CHECK:   scf.for %[[T3:.*]] =
// CHECK:     %[[NEW:.*]] = memref.load %{{.*}}[%[[T3]]]
// CHECK:     memref.store %[[NEW]], %[[ACC]][%[[T3]]]
// CHECK: scf.for %[[T4:.*]] =
// CHECK:   %[[FINAL:.*]] = memref.load %[[ACC]][%[[T4]]]
// CHECK:   memref.store %[[FINAL]], %{{.*}}[
func.func @loop_with_barrier(%in: memref<?xf32>, %out: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c15 = arith.constant 15 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c16, %j = %c1, %k = %c1)
             workgroup(%tile : memref<32xf32, #gpu.address_space<workgroup>>) {
    %sum = scf.for %k0 = %c0 to %n step %c16 iter_args(%acc = %zero) -> f32 {
      %g = arith.addi %k0, %tx : index
      %a = memref.load %in[%g] : memref<?xf32>
      memref.store %a, %tile[%tx] : memref<32xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %r = arith.subi %c15, %tx : index
      %b = memref.load %tile[%r] : memref<32xf32, #gpu.address_space<workgroup>>
      %next = arith.addf %acc, %b : f32
      gpu.barrier
      scf.yield %next : f32
    }
    memref.store %sum, %out[%tx] : memref<16xf32>
    gpu.terminator
  }
  return
}

// -----

// A branch holding a barrier takes thread 0's condition (uniform on a GPU).
// CHECK-LABEL: func @branch_with_barrier
// CHECK: %[[FLAGS:.*]] = memref.alloca() : memref<4xi1>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK: scf.for %[[T:.*]] =
// CHECK:   memref.store %{{.*}}, %[[FLAGS]][%[[T]]]
// CHECK: %[[COND:.*]] = memref.load %[[FLAGS]][%c0
// CHECK: scf.if %[[COND]] {
// CHECK:   scf.for
// CHECK:   scf.for
// CHECK: }
func.func @branch_with_barrier(%flag: memref<1xi1>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %one = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c4, %j = %c1, %k = %c1) {
    %f = memref.load %flag[%c0] : memref<1xi1>
    scf.if %f {
      memref.store %one, %out[%tx] : memref<4xf32>
      gpu.barrier
      memref.store %one, %out[%c0] : memref<4xf32>
    }
    gpu.terminator
  }
  return
}

// -----

// Block sizes known only at run time: arrays for the most threads a block can
// have (1024), at the function's entry; a bigger block stops with a message.
// CHECK-LABEL: func @dynamic_block
// CHECK: memref.alloca() : memref<1024xf32>
// CHECK: arith.muli
// CHECK: %[[N:.*]] = arith.muli
// CHECK: %[[FITS:.*]] = arith.cmpi ule, %[[N]], %c1024
// CHECK: cf.assert %[[FITS]], "a block has more than 1024 threads"
func.func @dynamic_block(%in: memref<?xf32>, %out: memref<?xf32>, %threads: index) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %threads, %j = %c1, %k = %c1) {
    %a = memref.load %in[%tx] : memref<?xf32>
    gpu.barrier
    memref.store %a, %out[%tx] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @barrier_in_while(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %true = arith.constant true
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    // expected-error @+1 {{a barrier or shuffle inside this operation cannot run on the host}}
    scf.while : () -> () {
      scf.condition(%true)
    } do {
      gpu.barrier
      scf.yield
    }
    gpu.terminator
  }
  return
}

// -----

func.func @async_launch(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %t = gpu.wait async
  // expected-error @+1 {{only synchronous launches of one-block kernels without clusters or private buffers can run as host loops}}
  %done = gpu.launch async [%t] blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1) {
    gpu.terminator
  }
  return
}

// -----

func.func @private_buffer(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{only synchronous launches of one-block kernels without clusters or private buffers can run as host loops}}
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1)
             private(%p : memref<4xf32, #gpu.address_space<private>>) {
    gpu.terminator
  }
  return
}

// -----

// A per-thread view used across a barrier is made again in the thread loop
// that uses it (views are address computations, not carried values); the
// thread loop before the barrier, left with nothing but the view, is gone.
// CHECK-LABEL: func @view_across_barrier
// CHECK-NOT: memref.subview
// CHECK: scf.for %[[T1:.*]] = %{{.*}} to %c32{{.*}} step
// CHECK:   %[[L1:.*]] = arith.remui %[[T1]], %{{.*}} : index
// CHECK:   %[[V1:.*]] = memref.subview %{{.*}}[%[[L1]]] [1] [1]
// CHECK:   memref.store %{{.*}}, %[[V1]][%{{.*}}]
func.func @view_across_barrier(%out: memref<32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    %view = memref.subview %out[%tx] [1] [1] : memref<32xf32> to memref<1xf32, strided<[1], offset: ?>>
    gpu.barrier
    memref.store %f, %view[%c0] : memref<1xf32, strided<[1], offset: ?>>
    gpu.terminator
  }
  return
}

// -----

// A stack buffer in a kernel would be allocated again for every thread.
func.func @kernel_alloca(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    // expected-error @+1 {{a stack buffer inside a kernel cannot run on the host}}
    %buf = memref.alloca() : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @unknown_gpu_op(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    %v = arith.constant 1.0 : f32
    // expected-error @+1 {{no host form for this operation in a kernel}}
    %r = gpu.subgroup_reduce add %v : (f32) -> f32
    memref.store %r, %out[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

// A shuffle offset may differ between lanes: it is read per thread, inside
// the shuffle's thread loop.
// CHECK-LABEL: func @lane_offsets
// CHECK-DAG: %[[OFFS:.*]] = memref.alloca() : memref<32xi32>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK: scf.for %[[T:.*]] =
// CHECK:   memref.store %{{.*}}, %[[OFFS]][%[[T]]]
// CHECK: scf.for %[[U:.*]] =
// CHECK:   %[[MINE:.*]] = memref.load %[[OFFS]][%[[U]]]
// CHECK:   arith.index_castui %[[MINE]]
func.func @lane_offsets(%in: memref<32xf32>, %out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c31 = arith.constant 31 : index
  %c32 = arith.constant 32 : index
  %w = arith.constant 32 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    %v = memref.load %in[%tx] : memref<32xf32>
    %r = arith.subi %c31, %tx : index
    %src = arith.index_cast %r : index to i32
    %s, %ok = gpu.shuffle idx %v, %src, %w : f32
    memref.store %s, %out[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

// A branch condition computed per thread around a barrier: thread 0's value
// is used, and every thread's value is checked against it when it runs.
// CHECK-LABEL: func @checked_condition
// CHECK: %[[CONDS:.*]] = memref.alloca() : memref<64xi1>
// CHECK: scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK: %[[FIRST:.*]] = memref.load %[[CONDS]][%c0
// CHECK: scf.for %[[T:.*]] =
// CHECK:   %[[MINE:.*]] = memref.load %[[CONDS]][%[[T]]]
// CHECK:   %[[SAME:.*]] = arith.cmpi eq, %[[MINE]], %[[FIRST]]
// CHECK:   cf.assert %[[SAME]], "kha-gpu-launch-to-host-loops: a loop bound, branch condition or shuffle width around a barrier or shuffle differs between the threads of a block"
// CHECK: scf.if %[[FIRST]]
func.func @checked_condition(%flags: memref<64xi1>, %out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %one = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c64, %j = %c1, %k = %c1) {
    %f = memref.load %flags[%tx] : memref<64xi1>
    scf.if %f {
      gpu.barrier
      memref.store %one, %out[%tx] : memref<64xf32>
    }
    gpu.terminator
  }
  return
}

// -----

// Ids inside nested regions become the host's values too.
// CHECK-LABEL: func @nested_ids
// CHECK-NOT: gpu.
// CHECK: scf.if
// CHECK-NOT: gpu.
// CHECK: return
func.func @nested_ids(%c: i1, %out: memref<4x4xindex>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c4, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c4, %j = %c1, %k = %c1) {
    scf.if %c {
      %t = gpu.thread_id x
      %b = gpu.block_id x
      %n = gpu.block_dim x
      %l = gpu.lane_id
      %s = arith.addi %t, %n : index
      %u = arith.addi %s, %l : index
      memref.store %u, %out[%b, %t] : memref<4x4xindex>
    }
    gpu.terminator
  }
  return
}

// -----

// A view of workgroup memory is a view of the host buffer.
// CHECK-LABEL: func @workgroup_view
// CHECK: %[[BUF:.*]] = memref.alloca() : memref<8xf32>
// CHECK: memref.subview %[[BUF]][4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
// CHECK-NOT: workgroup
func.func @workgroup_view(%out: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c4, %j = %c1, %k = %c1)
             workgroup(%buf : memref<8xf32, #gpu.address_space<workgroup>>) {
    %half = memref.subview %buf[4] [4] [1] : memref<8xf32, #gpu.address_space<workgroup>> to memref<4xf32, strided<[1], offset: 4>, #gpu.address_space<workgroup>>
    memref.store %f, %half[%tx] : memref<4xf32, strided<[1], offset: 4>, #gpu.address_space<workgroup>>
    gpu.barrier
    %v = memref.load %half[%tx] : memref<4xf32, strided<[1], offset: 4>, #gpu.address_space<workgroup>>
    memref.store %v, %out[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @global_id(%out: memref<32xindex>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    // expected-error @+1 {{no host form for this operation in a kernel}}
    %g = gpu.global_id x
    memref.store %g, %out[%tx] : memref<32xindex>
    gpu.terminator
  }
  return
}

// -----

func.func @thread_id_bound(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c32, %j = %c1, %k = %c1) {
    // expected-error @+1 {{a loop bound, branch condition or shuffle width that is a thread id cannot run on the host}}
    scf.for %e = %tx to %c32 step %c32 {
      gpu.barrier
      memref.store %f, %out[%e] : memref<32xf32>
    }
    gpu.terminator
  }
  return
}

// -----

func.func @too_many_threads(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c2048 = arith.constant 2048 : index
  // expected-error @+1 {{a block has more than 1024 threads}}
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c2048, %j = %c1, %k = %c1) {
    gpu.terminator
  }
  return
}

// -----

func.func @dynamic_workgroup(%out: memref<32xf32>, %n: index) {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{workgroup buffers run on the host must have a static shape and the identity layout}}
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%i = %c1, %j = %c1, %k = %c1)
             workgroup(%buf : memref<?xf32, #gpu.address_space<workgroup>>) {
    gpu.terminator
  }
  return
}

// -----

// A warpgroup MMA left in flight whose accumulator is read before any wait.
!map = !nvgpu.tensormap.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
!desc = !nvgpu.warpgroup.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>>
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
func.func @mma_read_in_flight(%a: memref<64x64xf16>, %out: memref<128x32xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c128 = arith.constant 128 : index
  %cast = memref.cast %a : memref<64x64xf16> to memref<*xf16>
  %map = nvgpu.tma.create.descriptor %cast box[%c64, %c64] : memref<*xf16> -> !map
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c128, %v = %c1, %w = %c1) workgroup(%smem : memref<8192xi8, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %tile = memref.view %smem[%c0][] : memref<8192xi8, #gpu.address_space<workgroup>> to memref<64x64xf16, #gpu.address_space<workgroup>>
    %d = nvgpu.warpgroup.generate.descriptor %tile, %map : memref<64x64xf16, #gpu.address_space<workgroup>>, !map -> !desc
    %zero = nvgpu.warpgroup.mma.init.accumulator -> !acc
    // expected-error @+1 {{a warpgroup MMA that leaves its group in flight (waitGroup > 0) runs on the host only when a later wait of its block retires it, with no memory access in between and the results in flight read only as the accumulators of warpgroup MMAs}}
    %r = nvgpu.warpgroup.mma %d, %d, %zero {transposeB, waitGroup = 1 : i64} : !desc, !desc, !acc -> !acc
    %regs = builtin.unrealized_conversion_cast %r : !acc to vector<32xf32>
    vector.store %regs, %out[%tx, %c0] : memref<128x32xf32>, vector<32xf32>
    gpu.terminator
  }
  return
}

// -----

// Groups retire oldest first: `wgmma.wait_group 1` completes the first MMA
// (whose result may then be read) but leaves the register-A one in flight,
// whose result is read too early.
!map = !nvgpu.tensormap.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
!desc = !nvgpu.warpgroup.descriptor<tensor = memref<64x64xf16, #gpu.address_space<workgroup>>>
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
func.func @register_a_read_before_wait(%a: memref<64x64xf16>, %p: vector<32xf16>, %out: memref<128x32xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c128 = arith.constant 128 : index
  %cast = memref.cast %a : memref<64x64xf16> to memref<*xf16>
  %map = nvgpu.tma.create.descriptor %cast box[%c64, %c64] : memref<*xf16> -> !map
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c128, %v = %c1, %w = %c1) workgroup(%smem : memref<8192xi8, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %tile = memref.view %smem[%c0][] : memref<8192xi8, #gpu.address_space<workgroup>> to memref<64x64xf16, #gpu.address_space<workgroup>>
    %d = nvgpu.warpgroup.generate.descriptor %tile, %map : memref<64x64xf16, #gpu.address_space<workgroup>>, !map -> !desc
    %zero = nvgpu.warpgroup.mma.init.accumulator -> !acc
    %zeros = arith.constant dense<0.0> : vector<32xf32>
    %r = nvgpu.warpgroup.mma %d, %d, %zero {transposeB, waitGroup = 2 : i64} : !desc, !desc, !acc -> !acc
    // expected-error @+1 {{a warpgroup MMA that leaves its group in flight (waitGroup > 0) runs on the host only when a later wait of its block retires it}}
    %o = kha.warpgroup_mma_register_a %p, %d, %zeros {transposeB, waitGroup = 2} : vector<32xf16>, !desc, vector<32xf32>
    nvvm.wgmma.wait.group.sync.aligned 1
    %regs = builtin.unrealized_conversion_cast %r : !acc to vector<32xf32>
    %sum = arith.addf %regs, %o : vector<32xf32>
    nvvm.wgmma.wait.group.sync.aligned 0
    vector.store %sum, %out[%tx, %c0] : memref<128x32xf32>, vector<32xf32>
    gpu.terminator
  }
  return
}

// -----

// Dynamic shared memory of a size known only at run time.
func.func @dynamic_shared_size(%n: i32, %out: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c1, %v = %c1, %w = %c1) dynamic_shared_memory_size %n {
    %c0 = arith.constant 0 : index
    // expected-error @+1 {{dynamic shared memory runs on the host only with a constant, positive size at its launch}}
    %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %f = memref.view %smem[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4xf32, #gpu.address_space<workgroup>>
    %x0 = memref.load %f[%c0] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %x0, %out[%c0] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

// Warp specialisation: threads 0-127 consume, the first thread of the
// producer warpgroup (thread 128) writes j into a one-slot ring for j < n.
// The consumers run as thread loops over their 128 threads; the producer
// runs on demand: first of all, then before each consumer wait, as far as
// its own mbarrier waits let it (a `scf.while` over its iterations, each
// thread loop over thread 128 alone), from a state of two words (its step,
// the loop's next iteration); when the consumers are done, it must be too.
!bar = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 2>
// CHECK-LABEL: func @warp_roles
// CHECK: %[[STATE:.*]] = memref.alloca() : memref<2xindex>
// CHECK: memref.store %{{.*}}, %[[STATE]]
// CHECK: scf.while
// CHECK: scf.condition
// CHECK: } do {
// CHECK: scf.for %{{.*}} = %c128{{.*}} to %c129
// CHECK: memref.store %{{.*}}, %[[STATE]]
// The consumers' loop: the producer, then the wait, then their thread loop.
// CHECK: scf.for
// CHECK: scf.while
// CHECK: cf.assert %{{.*}}, "kha-gpu-launch-to-host-loops: mbarrier.try_wait.parity waits for a phase that never completes
// CHECK: scf.for %{{.*}} = %{{.*}} to %c128
// CHECK: cf.assert %{{.*}}, "kha-gpu-launch-to-host-loops: the producer role is left waiting on an mbarrier after the consumers are done
// CHECK-NOT: nvvm.setmaxregister
// CHECK-NOT: nvgpu.
func.func @warp_roles(%n: index, %out: memref<128xf32>) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c256, %v = %c1, %w = %c1) workgroup(%slot : memref<1xf32, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %one = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c128 = arith.constant 128 : index
    %ticks = arith.constant 1000 : index
    %zero = arith.constant 0.0 : f32
    %bars = nvgpu.mbarrier.create -> !bar
    %first = arith.cmpi eq, %tx, %c0 : index
    scf.if %first {
      nvgpu.mbarrier.init %bars[%c0], %one : !bar
      nvgpu.mbarrier.init %bars[%one], %c128 : !bar
    }
    gpu.barrier
    %consumer = arith.cmpi ult, %tx, %c128 : index
    scf.if %consumer {
      nvvm.setmaxregister increase 240
      %sum = scf.for %j = %c0 to %n step %one iter_args(%acc = %zero) -> (f32) {
        %pass = arith.remui %j, %c2 : index
        %parity = arith.index_castui %pass : index to i1
        nvgpu.mbarrier.try_wait.parity %bars[%c0], %parity, %ticks : !bar
        %val = memref.load %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
        %t = nvgpu.mbarrier.arrive %bars[%one] : !bar -> !nvgpu.mbarrier.token
        %next = arith.addf %acc, %val : f32
        scf.yield %next : f32
      }
      memref.store %sum, %out[%tx] : memref<128xf32>
    } else {
      nvvm.setmaxregister decrease 24
      %elected = arith.cmpi eq, %tx, %c128 : index
      scf.if %elected {
        scf.for %j = %c0 to %n step %one {
          %pass = arith.addi %j, %one : index
          %p = arith.remui %pass, %c2 : index
          %parity = arith.index_castui %p : index to i1
          nvgpu.mbarrier.try_wait.parity %bars[%one], %parity, %ticks : !bar
          %i = arith.index_cast %j : index to i32
          %f = arith.sitofp %i : i32 to f32
          memref.store %f, %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
          %t = nvgpu.mbarrier.arrive %bars[%c0] : !bar -> !nvgpu.mbarrier.token
        }
      }
    }
    gpu.terminator
  }
  return
}

// -----

// A block barrier inside a role would wait for the other role's threads.
!bar = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 1>
func.func @barrier_in_role(%n: index) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c256, %v = %c1, %w = %c1) {
    %c0 = arith.constant 0 : index
    %c128 = arith.constant 128 : index
    %bars = nvgpu.mbarrier.create -> !bar
    %consumer = arith.cmpi ult, %tx, %c128 : index
    scf.if %consumer {
      // expected-error @+1 {{a block barrier inside a warpgroup role waits for the threads of the other role too, which never reach it}}
      gpu.barrier
    } else {
      %elected = arith.cmpi eq, %tx, %c128 : index
      scf.if %elected {
        scf.for %j = %c0 to %n step %c1 {
          %t = nvgpu.mbarrier.arrive %bars[%c0] : !bar -> !nvgpu.mbarrier.token
        }
      }
    }
    gpu.terminator
  }
  return
}

// -----

// The producer's loop holds a branch: not a form the host runs.
!bar = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 1>
func.func @producer_branch(%n: index, %c: i1) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c256, %v = %c1, %w = %c1) workgroup(%slot : memref<1xf32, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %c128 = arith.constant 128 : index
    %ticks = arith.constant 1000 : index
    %false = arith.constant false
    %bars = nvgpu.mbarrier.create -> !bar
    %consumer = arith.cmpi ult, %tx, %c128 : index
    scf.if %consumer {
      nvgpu.mbarrier.try_wait.parity %bars[%c0], %false, %ticks : !bar
    } else {
      %elected = arith.cmpi eq, %tx, %c128 : index
      scf.if %elected {
        scf.for %j = %c0 to %n step %c1 {
          // expected-error @+1 {{a producer role runs on the host only as register hints and arithmetic, then a branch for its first thread: work that may begin with an mbarrier wait, and loops without results whose iterations may each begin with one; no other branches, barriers or collective operations inside, and no result of a side effect used}}
          scf.if %c {
            %t = nvgpu.mbarrier.arrive %bars[%c0] : !bar -> !nvgpu.mbarrier.token
          }
        }
      }
    }
    gpu.terminator
  }
  return
}

// -----

// A producer without a loop (canonicalisation folds a loop of one
// iteration): work, a wait, more work; steps 0 and 1 of an index switch.
!bar = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>, num_barriers = 2>
// CHECK-LABEL: func @producer_steps
// CHECK: scf.while
// CHECK: scf.index_switch
// CHECK: case 0 {
// CHECK: case 1 {
// CHECK: } do {
// CHECK: scf.index_switch
// CHECK: cf.assert %{{.*}}, "kha-gpu-launch-to-host-loops: the producer role is left waiting
func.func @producer_steps(%out: memref<128xf32>) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%u = %c256, %v = %c1, %w = %c1) workgroup(%slot : memref<1xf32, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %one = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    %ticks = arith.constant 1000 : index
    %true = arith.constant true
    %false = arith.constant false
    %f1 = arith.constant 1.0 : f32
    %f2 = arith.constant 2.0 : f32
    %bars = nvgpu.mbarrier.create -> !bar
    %first = arith.cmpi eq, %tx, %c0 : index
    scf.if %first {
      nvgpu.mbarrier.init %bars[%c0], %one : !bar
      nvgpu.mbarrier.init %bars[%one], %c128 : !bar
    }
    gpu.barrier
    %consumer = arith.cmpi ult, %tx, %c128 : index
    scf.if %consumer {
      nvgpu.mbarrier.try_wait.parity %bars[%c0], %false, %ticks : !bar
      %a = memref.load %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
      %t = nvgpu.mbarrier.arrive %bars[%one] : !bar -> !nvgpu.mbarrier.token
      nvgpu.mbarrier.try_wait.parity %bars[%c0], %true, %ticks : !bar
      %b = memref.load %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
      %sum = arith.addf %a, %b : f32
      memref.store %sum, %out[%tx] : memref<128xf32>
    } else {
      %elected = arith.cmpi eq, %tx, %c128 : index
      scf.if %elected {
        memref.store %f1, %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
        %t0 = nvgpu.mbarrier.arrive %bars[%c0] : !bar -> !nvgpu.mbarrier.token
        nvgpu.mbarrier.try_wait.parity %bars[%one], %false, %ticks : !bar
        memref.store %f2, %slot[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
        %t1 = nvgpu.mbarrier.arrive %bars[%c0] : !bar -> !nvgpu.mbarrier.token
      }
    }
    gpu.terminator
  }
  return
}
