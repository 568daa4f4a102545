//===- Passes.td - kha conversion passes -------------------*- tablegen -*-===//

#ifndef KHA_CONVERSION_PASSES_TD
#define KHA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def KHADecomposeSDPAPass : Pass<"kha-decompose-sdpa"> {
  let summary = "decompose kha.sdpa into an online softmax in linalg";
  let description = [{
    Rewrites each `kha.sdpa` (whole, or a tile of one made by the upstream
    tiling transforms through its `TilingInterface`) into linalg on tensors.
    The query heads are grouped by the key/value head they read
    (`[B*G, r*L, d]`, without copying K or V per query head). The keys are
    visited in blocks of `key-block-size` (0: all in one step), carrying the
    online softmax's row maximum `m`, row sum `l` and unnormalised output
    `acc`, all in f32:

        s   = Q K_block^T                            (linalg.batch_matmul)
        m'  = max(m, max_j(s * scale + mask))
        p   = exp(s * scale + mask - m'),  c = exp(m - m')
        l'  = l c + sum_j p,               acc' = acc c + p V_block
        out = acc / l, rounded once to the element type

    Full blocks are an `scf.for` with static block sizes; a remainder (when
    the block size does not divide S, or S is dynamic) is one more step. The
    causal mask (any alignment, or a tile's `query_offset`) and an additive
    mask are applied from iteration indices inside the generics, never
    materialised. A row that sees no key gives zeros, not NaN. With fewer
    than 16 grouped query rows (decoding) a key block is multiplied as it
    lies, rows of d; otherwise it is transposed first so that the product
    runs along the keys.

    With `transpose-scores` (the CPU pipeline's choice), an op whose query
    rows are static and at least 16 computes its scores key-major instead,
    `s^T = K_block Q^T` (`[B*G, n, r*L]`): the queries are transposed once,
    no key block is, the row maximum and sum reduce across the rows of
    `s^T` (one vector per key, lanes along the query rows), and the value
    product reads `p` through a transposed indexing map.

    ```mlir
    %o = kha.sdpa %q, %k, %v outs(%init) {causal, scale = 0.125 : f64} : ...
    // becomes, with key-block-size=64 and S = 128:
    %r:3 = scf.for %j = %c0 to %c128 step %c64 iter_args(%m = %max0, %l = %sum0, %acc = %acc0) {
      %s = linalg.batch_matmul ins(%q, %kt : ...) outs(...)
      %m2 = linalg.generic {...reduction...} ins(%s) outs(%m)
      ...
    }
    ```
  }];
  let options = [
    Option<"keyBlockSize", "key-block-size", "int64_t", /*default=*/"0",
           "keys per step of the online softmax (0: all keys in one step)">,
    Option<"transposeScores", "transpose-scores", "bool", /*default=*/"false",
           "compute the scores key-major (K Q^T) where the query rows are "
           "static and at least 16">
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def KHALowerToLinalgPass : Pass<"kha-lower-to-linalg"> {
  let summary = "lower kha ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Expands any `kha.attention_block` (as `kha-expand-attention-block` does)
    and lowers every mid-level kha op to linalg on tensors:

    - `kha.linear_knock`: the heads reshaped to `[B*L*N, d]` times the shared
      matrix, one `linalg.matmul`;
    - `kha.mlp_knock`: two matmuls (up, gate), an elementwise
      `2 * u * sigmoid(g)`, a matmul by down, all accumulated in f32;
    - `kha.rms_norm`: a sum-of-squares reduction, the row's scale
      `1 / sqrt(mean + eps)` once per row, and an elementwise product;
    - `kha.rope`: cos/sin tables `[L, d/2]` computed once in f64 (so that
      angles stay exact at long positions), then an elementwise rotation of
      the two halves of each head;
    - `kha.sdpa`: as `kha-decompose-sdpa` with its default options (all
      keys in one step).

    f16 and bf16 operands are extended to f32 for every reduction and
    rounded back once per op.

    ```mlir
    %o = kha.rms_norm %q, %w {epsilon = 1.0e-6 : f64} : tensor<1x4x2x8xf32>, tensor<8xf32>
    // becomes
    %ss = linalg.generic {... iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ...
    %s = linalg.generic {... iterator_types = ["parallel", "parallel", "parallel"]} ins(%ss : ...) ...
    %o = linalg.generic {...} ins(%q, %s, %w : ...) outs(...)
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHAGPUReportKernelsPass : Pass<"kha-gpu-report-kernels"> {
  let summary = "report the GPU kernel each attention and matmul becomes on a chip";
  let description = [{
    The configuration step of the GPU code generation, made visible. The
    kernel generators (`kha-sdpa-to-gpu`, `kha-matmul-to-gpu`) choose the
    kernel of each `kha.sdpa` and each zero-filled `linalg.matmul` on
    tensors (the projections) themselves, from the op's shapes and element
    types and the chip; this pass emits, for each such op, a remark naming
    the kernel they would build as a `#kha.gpu_kernel`, and leaves the IR as
    it is:

    - tensor cores (`mma = mma_sync`: `mma.sync.m16n8k16`, `ldmatrix`,
      `cp.async`) for f16/bf16 attention whose head dims are multiples of 16
      (up to 256) and have no additive mask: 64 query rows over 4 warps, the
      widest K/V tile of 64, 32 or 16 keys whose two stages fit in 48 KiB of
      shared memory; and for f16/bf16 matmuls whose K and N are static
      multiples of 8: 64 x 64 tiles of C, steps of 32 along K, 3 stages
      (2 when K fits in one step);
    - on `sm_90a`, the Hopper kernels (`mma = wgmma`: TMA, mbarriers,
      `wgmma.mma_async`) first: for every such matmul (128 x 128 tiles over
      two warpgroups, 64 rows or columns where C has no more, steps of 64
      along K in up to 4 stages) and for attention with head dims that are
      multiples of 8 up to 256 and query heads per key/value head dividing
      64 (128 query rows over two warpgroups, 64 where L r <= 64; K/V tiles
      of 64 keys, 2 stages, `tile_k` the head dim rounded up to 64);
    - otherwise the SIMT kernels (`mma = simt`), with the reason, e.g.
      `attention kernel (kha.sdpa) on sm_80: #kha.gpu_kernel<mma = simt,
      ...> (the CUDA cores: head dim 12/12 is not a multiple of 16 up to
      256)`.

    A configuration written on the op by hand (a `kha.gpu_kernel`
    attribute) is reported as such: the generators follow it instead of
    choosing.
  }];
  let options = [
    Option<"chip", "chip", "std::string",
           /*default=*/"::mlir::kha::kDefaultCudaChip",
           "the NVIDIA GPU the kernels are for (sm_80 ... sm_90a)">
  ];
  let dependentDialects = ["::mlir::kha::KHADialect"];
}

def KHASDPAToGPUPass : Pass<"kha-sdpa-to-gpu"> {
  let summary = "lower kha.sdpa to one fused attention kernel";
  let description = [{
    Replaces each `kha.sdpa` (static H, G, d, dv) by a `gpu.launch` of a
    flash-attention kernel on the operands' buffers, the result a new buffer
    seen as a tensor (`bufferization.to_buffer` / `to_tensor`), so that the
    rest of the function bufferizes around it:

    - grid `(ceil(L / rows), G, B)`: one block per (batch, key/value head,
      tile of query rows), covering that tile for all `r = H/G` query heads
      of the group, so a K/V tile is loaded into shared memory once for the
      whole group (GQA/MQA);
    - each (query head, row) is owned by `Td` lanes (4 when d and dv allow)
      holding `d/Td` of the query and of the output accumulator in
      registers; a score is a partial dot product reduced by xor shuffles;
    - K and V tiles (up to 64 keys, f32, at most 40 KiB) go through shared
      memory between barriers;
    - online softmax: running max and sum per row, the accumulator rescaled
      by `exp(m_old - m_new)`; the `L x S` scores never reach memory;
    - `causal`: key tiles past the query tile's last row are not visited;
      the additive mask (`[L, S]` or `[B, H, L, S]`) is added per score; a
      fully masked row is zeros.

    f16/bf16 operands are widened to f32 as they are loaded; the output is
    rounded once. `lanes` and `rows` fix the kernel's shape (0: chosen from
    d, dv and r); `lanes=1 rows=1` on MHA gives one-thread blocks, which
    `kha-gpu-launch-to-host-loops` can run on the CPU in tests.

    The kernel of each op is chosen for the `chip` (see
    `kha-gpu-report-kernels`), or written on the op by hand as a
    `kha.gpu_kernel` attribute. Where the tensor cores cannot take an op
    (and `tensor-cores` is on), a remark names the op and the reason, an
    error under `require-tensor-cores`. An op whose kernel is an `mma_sync`
    one becomes a FlashAttention-2 kernel on the tensor cores instead:

    - rows `R = i * r + j` of a key/value head's group (query position `i`
      of its `j`-th query head), `tile_m` of them per block, 16 per warp;
      grid `(ceil(L r / tile_m), G, B)`;
    - the Q fragments loaded once into registers;
    - K/V tiles of `tile_n` keys copied by `cp.async` (16-byte chunks,
      zero-filled past S) into two shared-memory stages, the next tile in
      flight while this one is used; rows padded by `padding` elements;
    - `S = Q K^T` and `O += P V` by `ldmatrix` (`.trans` for V) and
      `mma.sync.m16n8k16`, f32 accumulators;
    - online softmax on the accumulator fragments in base 2 (the scale
      folded into `log2 e`), quad shuffles for row maxima and sums; P
      re-packed into A fragments in registers, never through memory;
    - causal: key tiles past the block's last row are never loaded; only
      tiles crossing the diagonal or the end of S are masked.

    Under a `wgmma` kernel (sm_90a; f16/bf16, head dims multiples of
    8 up to 256, r = H/G dividing 64) the kernel is Hopper's, a warpgroup
    per 64 of the block's `tile_m` rows (64 or 128), sharing each K/V tile,
    every shared tile made of 64-column boxes (as many per row as 64-column
    slices of the head dim, zero-filled past it; shared memory above 47 KiB
    is dynamic):

    - the host builds TMA descriptors of Q, K and V (4-D boxes of the
      block's rows and of a tile's 64 keys of one head, 128-byte swizzle,
      zeros outside); thread 0 loads Q once and the K/V tiles into a ring
      of `stages` stages, each completing on its mbarrier (expect-tx bytes,
      phase parity);
    - `S = Q K^T` by `nvgpu.warpgroup.mma` from shared memory, one m64n64k16
      step per 16 of d (K a K-major operand);
    - one O accumulator per 64 columns of V;
    - the S and O accumulators are read as each thread's registers
      (`unrealized_conversion_cast`s between the accumulator type and
      `vector<N x f32>`, resolved by `kha-gpu-wgmma-fragments-to-llvm`) for
      the online softmax and the O rescale;
    - P is rounded and written swizzled into the consumed K stage (with two
      warpgroups, into a tile of each one's own), fenced for the async proxy (`nvvm.fence.proxy`), and `O += P V` by
      `nvgpu.warpgroup.mma` (V N-major);
    - causal: tiles past the block's last row are never loaded; only tiles
      crossing the diagonal or the end of S are masked.

    A tensor-core configuration written on an op that does not fit it (an
    f32 op, a head dim not a multiple of 16, ...) is an error.
  }];
  let options = [
    Option<"chip", "chip", "std::string",
           /*default=*/"::mlir::kha::kDefaultCudaChip",
           "the NVIDIA GPU the kernels are for (sm_80 ... sm_90a)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "use the tensor cores where they can take an op (false: the SIMT kernels only)">,
    Option<"requireTensorCores", "require-tensor-cores", "bool",
           /*default=*/"false",
           "make a SIMT fallback an error rather than a remark">,
    Option<"lanes", "lanes", "int64_t", /*default=*/"0",
           "lanes per (query head, row): 1, 2, 4, ... dividing d, dv and 32 (0: choose)">,
    Option<"rows", "rows", "int64_t", /*default=*/"0",
           "query rows per block (0: choose)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def KHAMatmulToGPUPass : Pass<"kha-matmul-to-gpu"> {
  let summary = "lower linalg.matmul to a shared-memory tiled kernel";
  let description = [{
    Replaces each `linalg.matmul` on tensors with the default indexing maps
    and a zero-filled init (the projections of the kha lowering, including
    folded knocks) by a `gpu.launch` of a tiled kernel, the result a new
    buffer seen as a tensor:

    - one block of 256 threads per 64 x 64 tile of C (grid
      `(ceil(N/64), ceil(M/64))`);
    - K walked in steps of 16: a 64 x 16 tile of A (stored transposed) and a
      16 x 64 tile of B staged in shared memory between barriers, zeros past
      the matrices' edges;
    - each thread accumulates a 4 x 4 sub-tile of C in registers (rows
      `ty + 16i`, columns `tx + 16j`), in f32 whatever the operands' type,
      rounded once when stored.

    The kernel of each matmul is chosen for the `chip` (see
    `kha-gpu-report-kernels`), or written on it by hand as a
    `kha.gpu_kernel` attribute; where the tensor cores cannot take it (and
    `tensor-cores` is on), a remark says why, an error under
    `require-tensor-cores`. A matmul whose kernel is an `mma_sync` one
    (f16/bf16 operands, K and N static multiples of 8) becomes a
    tensor-core kernel instead: four warps per
    `tile_m x tile_n` tile of C, each a quarter of it in f32 accumulator
    fragments; steps of `tile_k` along K copied by `cp.async` (16-byte
    chunks, zero-filled past the edges) into a ring of `stages` padded
    shared-memory buffers; A fragments by `ldmatrix`, B by `ldmatrix.trans`,
    `mma.sync.m16n8k16`; C rounded once and stored in pairs. A tensor-core
    configuration written on a matmul that does not fit it is an error.

    Under a `wgmma` kernel (sm_90a) the kernel is Hopper's: a
    `tile_m x tile_n` tile of C per block (64 or 128 rows, a warpgroup per
    64 of them; 64, 128 or 256 columns); the host builds TMA descriptors of
    A and B (`tile_m x 64` and 64 x 64 boxes, 128-byte swizzle, zeros
    outside); thread 0 loads each 64-wide step of K by TMA into a ring of
    `stages` shared-memory stages (dynamic shared memory above 47 KiB) and
    announces its bytes on the stage's mbarrier; all threads wait for the
    stage's phase, then `nvgpu.warpgroup.mma` multiplies each warpgroup's
    rows of A by the B tile from shared memory (A K-major, B N-major) into
    f32 accumulators; C goes out through shared memory, rounded, inside its
    bounds.

    Accumulating matmuls and other indexing maps are left to the generic
    mapping of the GPU pipeline.
  }];
  let options = [
    Option<"chip", "chip", "std::string",
           /*default=*/"::mlir::kha::kDefaultCudaChip",
           "the NVIDIA GPU the kernels are for (sm_80 ... sm_90a)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "use the tensor cores where they can take a matmul (false: the SIMT kernel only)">,
    Option<"requireTensorCores", "require-tensor-cores", "bool",
           /*default=*/"false",
           "make a SIMT fallback an error rather than a remark">
  ];
  let dependentDialects = [
    "::mlir::kha::KHADialect", "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def KHAGPUWgmmaFragmentsToLLVMPass
    : Pass<"kha-gpu-wgmma-fragments-to-llvm", "::mlir::gpu::GPUModuleOp"> {
  let summary = "read wgmma accumulators as per-thread registers";
  let description = [{
    `nvgpu.warpgroup.mma` keeps its accumulator opaque
    (`!nvgpu.warpgroup.accumulator`), but an attention kernel computes its
    softmax on the accumulator and rescales O between MMAs. kha's Hopper
    kernels read and write it through `builtin.unrealized_conversion_cast`s
    between the accumulator and a `vector<N x f32>` of the thread's registers in the PTX ISA's wgmma D
    order (register `4j + i` of warp `w`, lane `4g + t` of the warpgroup:
    row `16w + g + 8(i/2)`, column `8j + 2t + i%2` of each 64-row block).

    Runs after `convert-nvgpu-to-nvvm`, which turns the accumulators into
    LLVM structs (one struct of N/2 f32 per 64 rows) and leaves casts from
    and to them: each chain struct -> accumulator -> vector becomes
    `llvm.extractvalue`s and `llvm.insertelement`s, each chain vector ->
    accumulator -> struct `llvm.extractelement`s and `llvm.insertvalue`s.
    A marked cast that is not such a chain is an error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def KHAMmaSyncBF16ToNVVMPass : Pass<"kha-mma-sync-bf16-to-nvvm"> {
  let summary = "lower bf16 nvgpu.mma.sync to nvvm.mma.sync";
  let description = [{
    MLIR's `convert-nvgpu-to-nvvm` handles f16 `nvgpu.mma.sync` but fails on
    bf16 ("failed to deduce operand PTX types"). This pass rewrites each
    bf16 m16n8k16 `nvgpu.mma.sync` with f32 accumulators into
    `nvvm.mma.sync` (`multiplicandAPtxType = bf16`, row-major A,
    column-major B), each pair of bf16 of a fragment row bitcast to one i32
    register, the four f32 results put back into `vector<2x2xf32>`. Other
    `nvgpu.mma.sync` ops are left to `convert-nvgpu-to-nvvm`. The GPU
    pipeline runs it on the kernels before their lowering to NVVM.

    ```mlir
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]}
        : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    // becomes
    %a0 = vector.extract %a[0] : vector<2xbf16> from vector<4x2xbf16>
    %r0 = llvm.bitcast %a0 : vector<2xbf16> to i32
    ...
    %m = nvvm.mma.sync A[%r0, ...] B[...] C[...] {layoutA = #nvvm.mma_layout<row>,
        layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>,
        multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} ...
    ```
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::arith::ArithDialect", "::mlir::vector::VectorDialect"
  ];
}

def KHAWarpgroupMmaRegisterAToNVVMPass
    : Pass<"kha-warpgroup-mma-register-a-to-nvvm"> {
  let summary = "lower kha.warpgroup_mma_register_a to wgmma.mma_async with "
                "A in registers";
  let description = [{
    NVVM's `nvvm.wgmma.mma_async` takes both operands from shared-memory
    descriptors. This pass lowers each `kha.warpgroup_mma_register_a` to the
    register-A form of the PTX instruction: `nvvm.wgmma.fence.aligned`, one
    `llvm.inline_asm` per k16 step (`wgmma.mma_async.sync.aligned.m64nNk16`
    with the step's four 32-bit registers of A, the B descriptor advanced to
    the step, and the N / 2 accumulator registers tied from input to
    output), `nvvm.wgmma.commit.group.sync.aligned` and
    `nvvm.wgmma.wait.group.sync.aligned` with the op's `waitGroup`. The
    descriptor is cast to the `i64` that `convert-nvgpu-to-nvvm` lowers it
    to, so the GPU pipeline runs this pass on the kernels just before that
    conversion.

    ```mlir
    %d = kha.warpgroup_mma_register_a %a, %desc, %c {transposeB}
       : vector<32xbf16>, !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, 3>>,
         vector<32xf32>
    // becomes
    nvvm.wgmma.fence.aligned
    %r = llvm.inline_asm has_side_effects asm_dialect = att
           "{ .reg .pred p; setp.ne.b32 p, $37, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0, ..., $31}, {$32, $33, $34, $35}, $36, p, 1, 1, 1; }",
           "=f,...,r,r,r,r,l,r,0,...,31" ...
    ... (three more steps, the descriptor advanced by 128 each)
    nvvm.wgmma.commit.group.sync.aligned
    nvvm.wgmma.wait.group.sync.aligned 0
    ```
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::arith::ArithDialect", "::mlir::vector::VectorDialect"
  ];
}

#endif // KHA_CONVERSION_PASSES_TD
