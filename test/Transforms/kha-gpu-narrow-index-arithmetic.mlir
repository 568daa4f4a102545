// kha-gpu-narrow-index-arithmetic: 32-bit index arithmetic where integer
// range analysis proves it exact, in tensor-core kernels only.
// RUN: kha-opt %s -kha-gpu-narrow-index-arithmetic -split-input-file | FileCheck %s

// A gpu.launch with 128 threads: the lane/row decomposition of the thread id
// becomes i32; a product with a dynamic size stays index (64-bit).
// CHECK-LABEL: func @launch
// CHECK: gpu.launch
// CHECK: %[[T:.*]] = arith.index_castui %{{.*}} : index to i32
// CHECK: %[[L:.*]] = arith.remui %[[T]], %{{.*}} : i32
// CHECK: arith.divui %[[L]], %{{.*}} : i32
// CHECK: arith.muli %{{.*}}, %{{.*}} : index
// CHECK: nvgpu.mma.sync
func.func @launch(%m: memref<?x64xf16>, %s: memref<64x72xf16, #gpu.address_space<workgroup>>,
                  %b: vector<2x2xf16>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %n = memref.dim %m, %c0 : memref<?x64xf16>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%x = %c128, %y = %c1, %z = %c1) {
    %c0i = arith.constant 0 : index
    %c8 = arith.constant 8 : index
    %c32 = arith.constant 32 : index
    %lane = arith.remui %tx, %c32 : index
    %row = arith.divui %lane, %c8 : index
    %far = arith.muli %tx, %n : index
    %a = nvgpu.ldmatrix %s[%row, %c0i] {numTiles = 4 : i32, transpose = false} : memref<64x72xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %zero = arith.constant dense<0.0> : vector<2x2xf32>
    %d = nvgpu.mma.sync(%a, %b, %zero) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %v = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
    memref.store %v, %out[%far] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// An outlined kernel (known_block_size) with nvvm.mma.sync is narrowed too.
// CHECK-LABEL: gpu.func @outlined
// CHECK: arith.remui %{{.*}}, %{{.*}} : i32
gpu.module @kernels {
  gpu.func @outlined(%a: i32, %b: i32, %out: memref<128xf32>) kernel
      attributes {known_block_size = array<i32: 128, 1, 1>} {
    %c32 = arith.constant 32 : index
    %tx = gpu.thread_id x
    %lane = arith.remui %tx, %c32 : index
    %c0 = arith.constant 0.0 : f32
    %r = nvvm.mma.sync A[%a, %a, %a, %a] B[%b, %b] C[%c0, %c0, %c0, %c0]
        {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
         multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>,
         shape = #nvvm.shape<m = 16, n = 8, k = 16>}
        : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
    %v = llvm.extractvalue %r[0] : !llvm.struct<(f32, f32, f32, f32)>
    memref.store %v, %out[%lane] : memref<128xf32>
    gpu.return
  }
}

// -----

// Left alone: a kernel on the CUDA cores (no mma.sync).
// CHECK-LABEL: func @simt
// CHECK-NOT: i32
// CHECK: arith.remui %{{.*}}, %{{.*}} : index
// CHECK-NOT: i32
func.func @simt(%out: memref<128xf32>) {
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%x = %c128, %y = %c1, %z = %c1) {
    %c32 = arith.constant 32 : index
    %lane = arith.remui %tx, %c32 : index
    %v = arith.constant 1.0 : f32
    memref.store %v, %out[%lane] : memref<128xf32>
    gpu.terminator
  }
  return
}
