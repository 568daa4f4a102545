//===- Passes.td - kha code generation passes ---------------*- tablegen -*-===//
//
// Passes of the code generation pipelines that are not about kha ops.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_TRANSFORMS_PASSES_TD
#define KHA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KHAExpandShapeToReinterpretCastPass
    : Pass<"kha-expand-shape-to-reinterpret-cast"> {
  let summary = "rewrite memref.expand_shape of contiguous buffers as "
                "memref.reinterpret_cast";
  let description = [{
    MLIR 22's `expand-strided-metadata` crashes on a `memref.expand_shape`
    that splits one dynamic size into two dynamic sizes (dynamic B and L,
    `[B*L, N] -> [B, L, N]`). For a source with the identity layout the
    result is the same buffer with the output sizes and row-major strides, so
    this pass states it directly:

    ```mlir
    %e = memref.expand_shape %a [[0, 1], [2]] output_shape [%b, %l, 16]
        : memref<?x16xf32> into memref<?x?x16xf32>
    // becomes
    %s = arith.muli %l, %c16 : index
    %e = memref.reinterpret_cast %a to offset: [0], sizes: [%b, %l, 16],
           strides: [%s, 16, 1] : memref<?x16xf32> to memref<?x?x16xf32>
    ```

    Expansions of buffers with other layouts are left alone.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def KHAEmitCInterfacePass : Pass<"kha-emit-c-interface", "::mlir::ModuleOp"> {
  let summary = "expose public functions through the MLIR C interface";
  let description = [{
    Marks every public `func.func` with `llvm.emit_c_interface`, so that
    `convert-func-to-llvm` emits `_mlir_ciface_<name>`, the entry point that
    compiled libraries expose (docs/runtime.md). Private functions are
    left alone. kha's function attributes (`kha.weight` on arguments,
    `kha.prepare`), which the library's manifest has recorded by then, are
    removed: the LLVM IR translation has no meaning for them.
  }];
}

def KHAGPUNarrowIndexArithmeticPass
    : Pass<"kha-gpu-narrow-index-arithmetic"> {
  let summary = "32-bit index arithmetic in tensor-core kernels where it is exact";
  let description = [{
    Index arithmetic is 64-bit (`index`) as generated; on NVIDIA GPUs each
    64-bit integer operation costs two registers and several instructions.
    In every tensor-core kernel (a `gpu.func` or a `gpu.launch` body that
    contains `nvgpu.mma.sync` or `nvvm.mma.sync`), this pass runs MLIR's
    integer range analysis (thread ids are bounded by the block size, block
    ids by constant grid sizes) and rewrites the `arith` operations whose
    operands and results provably fit in 32 bits to i32
    (`arith-int-range-narrowing`): lane and warp decompositions,
    shared-memory offsets, tile coordinates. Offsets into tensors with dynamic
    sizes, which can pass 2^31, stay 64-bit. Kernels on the CUDA cores are
    left alone (narrowing gained them nothing and ptxas then spilled one of
    them).

    The GPU pipeline runs it on the outlined kernels and, with
    `host-emulation`, on the `gpu.launch` bodies before they become host
    loops, so that the emulated kernels compute what the GPU's do.
  }];
}

def KHAFoldMatmulExtensionsPass : Pass<"kha-fold-matmul-extensions"> {
  let summary = "multiply f16/bf16 operands directly instead of f32 copies";
  let description = [{
    The kha lowering computes f16/bf16 projections as a matmul of operands
    extended to f32 (`arith.extf` on whole tensors). A `linalg.matmul`
    extends its operands to the result's element type itself, exactly as
    `arith.extf` does, so this pass feeds it the narrow tensors instead:
    no widened copy of the activations or the weights is made, and the GPU
    kernel configuration sees f16/bf16 operands (tensor cores). Only
    matmuls on tensors with the default indexing maps, and only float
    extensions (exact), are folded; an extension seen through
    `tensor.collapse_shape`/`tensor.expand_shape` (a folded weight's head
    blocks) is folded too, the reshapes moving to the narrow tensor.
    A rounding (`arith.truncf`) of a reshaped tensor moves above the
    single-use reshapes, next to the product it rounds, so that the matmul
    kernel can store the rounded values itself (`kha-matmul-to-gpu`). The GPU
    pipeline runs it before kernel selection and after `kha-lower-to-linalg`.
    With `element-types`, a matmul is folded only when both its operands
    are extensions of one of the listed types (`bf16`, `f16`), and roundings
    are left where they are: the CPU pipeline folds the bf16 products that
    AVX512-BF16 dot products compute (`kha-pack-matmul-weights{bf16-pairs}`).

    ```mlir
    %a = arith.extf %x : tensor<8x16xbf16> to tensor<8x16xf32>
    %b = arith.extf %w : tensor<16x32xbf16> to tensor<16x32xf32>
    %c = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x32xf32>) outs(%z : tensor<8x32xf32>) -> tensor<8x32xf32>
    // becomes
    %c = linalg.matmul ins(%x, %w : tensor<8x16xbf16>, tensor<16x32xbf16>) outs(%z : tensor<8x32xf32>) -> tensor<8x32xf32>
    ```
  }];
  let options = [
    ListOption<"elementTypes", "element-types", "std::string",
               "fold only matmuls both of whose operands extend one of these "
               "types (bf16, f16), and move no rounding (default: every "
               "extended operand, and roundings)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def KHAPackMatmulWeightsPass : Pass<"kha-pack-matmul-weights"> {
  let summary = "read projection weights as contiguous panels of columns";
  let description = [{
    A CPU matmul kernel keeps a register tile of C (rows x `panel-width`
    columns) and, for each step along K, loads `panel-width` consecutive
    elements of one row of B. With B row-major those loads are N elements
    apart: for the layer's power-of-two widths they fall into the same few
    L1 cache sets and evict each other. This pass gives each
    `linalg.matmul` whose right operand B (K x N) is computed from the
    function's `kha.weight` arguments and constants alone a packed copy of
    it instead: N / `panel-width` panels of K x `panel-width`, each
    contiguous (`linalg.pack` with `outer_dims_perm = [1, 0]`), read by a
    `linalg.contract` that writes C through its M x N/w x w view.

    ```mlir
    %c = linalg.matmul ins(%x, %w : tensor<?x512xf32>, tensor<512x512xf32>)
                       outs(%z : tensor<?x512xf32>) -> tensor<?x512xf32>
    // becomes (panel-width=16)
    %e = tensor.empty() : tensor<32x512x16xf32>
    %p = linalg.pack %w outer_dims_perm = [1, 0] inner_dims_pos = [1]
           inner_tiles = [16] into %e : tensor<512x512xf32> -> tensor<32x512x16xf32>
    %v = tensor.expand_shape %z [[0], [1, 2]] ... : tensor<?x512xf32> into tensor<?x32x16xf32>
    %r = linalg.contract indexing_maps = [affine_map<(m, j, c, k) -> (m, k)>,
                                          affine_map<(m, j, c, k) -> (j, k, c)>,
                                          affine_map<(m, j, c, k) -> (m, j, c)>]
           ins(%x, %p : tensor<?x512xf32>, tensor<32x512x16xf32>)
           outs(%v : tensor<?x32x16xf32>) -> tensor<?x32x16xf32>
    %c = tensor.collapse_shape %r [[0], [1, 2]] : tensor<?x32x16xf32> into tensor<?x512xf32>
    ```

    The packing is work on the weights alone: `kha-outline-weight-preparation`
    moves it into the prepare function, so that it runs once per set of
    weights. A constant B (embedded weights) is packed at compile time.

    Left alone: matmuls on buffers, with transposed or broadcast operands,
    mixed element types, a B of dynamic shape, whose N is not a multiple of
    `panel-width` or is a single panel, and whose B depends on anything but
    weights and constants (an activation would be packed on every call).
    The CPU pipeline runs it with the vectorising schedule, `panel-width`
    being the register tile's width (32, 16 or 8 for 512-, 256- or 128-bit
    vectors), before `kha-outline-weight-preparation`.

    With `bf16-pairs`, a matmul of bf16 operands into f32 (as
    `kha-fold-matmul-extensions` leaves it) whose K is even is packed for
    AVX512-BF16 dot products instead, which multiply pairs of consecutive
    K elements: the panels are N / w x K / 2 x w x 2 (`linalg.pack` with
    inner tiles `[w, 2]`), element `[j, k, c, p]` being `B[2 k + p, j w + c]`,
    and A is read as M x K / 2 x 2 (a `tensor.expand_shape`):

    ```mlir
    %r = linalg.contract indexing_maps = [affine_map<(m, j, c, k, p) -> (m, k, p)>,
                                          affine_map<(m, j, c, k, p) -> (j, k, c, p)>,
                                          affine_map<(m, j, c, k, p) -> (m, j, c)>]
           ins(%x2, %p : tensor<?x256x2xbf16>, tensor<16x256x32x2xbf16>)
           outs(%v : tensor<?x16x32xf32>) -> tensor<?x16x32xf32>
    ```

    A register tile then reads one pair of A's elements (a 32-bit
    broadcast) and `2 w` consecutive bf16 of a panel per step of the pair
    loop: what `kha-contract-to-bf16-dot` turns into dot products. Other
    element types, and an odd K, are packed as without the option.
  }];
  let options = [
    Option<"panelWidth", "panel-width", "int64_t", /*default=*/"16",
           "columns per panel: the width of the CPU schedule's register tile">,
    Option<"bf16Pairs", "bf16-pairs", "bool", /*default=*/"false",
           "pack bf16 x bf16 -> f32 matmuls in pairs of K for AVX512-BF16 "
           "dot products">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def KHAContiguousAttentionHeadsPass : Pass<"kha-contiguous-attention-heads"> {
  let summary = "give attention tiles their key/value head as contiguous rows";
  let description = [{
    `kha.sdpa` reads keys and values laid out `[B, S, G, d]`: one key/value
    head's rows are `G * d` elements apart, interleaved with the other
    heads'. A tile of the op (one batch entry, one key/value head) rereads
    its head's keys and values for every block of keys and every tile of
    query rows, and rows that far apart (for the power-of-two `G * d` of
    real layers, a multiple of 4 KiB) fall into a few cache sets and evict
    each other. This pass transposes such an operand once, to `[B, G, S, d]`,
    right after it is made (outside the loops over the tiles), and gives
    each tile its head as a contiguous slice of the copy, reshaped to the
    op's layout (only dimensions of size 1 move, so it is a view).

    ```mlir
    scf.forall (%i, %g) in (16, 8) ... {
      %k = tensor.extract_slice %keys[0, 0, %g, 0] [1, %n, 1, 64] [1, 1, 1, 1]
          : tensor<1x1024x8x64xf32> to tensor<1x?x1x64xf32>
      %o = kha.sdpa %q, %k, %v ...
    // becomes
    %t = linalg.transpose ins(%keys : tensor<1x1024x8x64xf32>)
           outs(%e : tensor<1x8x1024x64xf32>) permutation = [0, 2, 1, 3]
    scf.forall (%i, %g) in (16, 8) ... {
      %h = tensor.extract_slice %t[0, %g, 0, 0] [1, 1, %n, 64] [1, 1, 1, 1]
      %r = tensor.collapse_shape %h [[0, 1, 2], [3]]
      %k = tensor.expand_shape %r [[0, 1, 2], [3]] output_shape [1, %n, 1, 64]
      %o = kha.sdpa %q, %k, %v ...
    ```

    Rewritten: key and value operands that are unit-stride slices of one
    head, of one batch entry and of the whole width, of a source with a
    static number of heads greater than one that is made outside the loop
    the op is in. Left alone: ops with fewer than `min-rows` query rows per
    key/value head (or a dynamic number), such as a decoding step's, which
    reads each key once: there the copy would cost more than it saves. The
    CPU pipeline runs it after `kha-cpu-schedule`'s attention tiling.
  }];
  let options = [
    Option<"minRows", "min-rows", "int64_t", /*default=*/"16",
           "the fewest query rows per key/value head (static) for which a "
           "tile's operands are rewritten">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KHAMemRefCopyToLinalgPass : Pass<"kha-memref-copy-to-linalg"> {
  let summary = "rewrite memref.copy as linalg.copy";
  let description = [{
    Bufferisation copies buffers with `memref.copy`, which lowers to a call
    of `memrefCopy` from MLIR's runner-utils library for anything but the
    simplest layouts. Compiled libraries must be self-contained, so copies
    become `linalg.copy` and are lowered like any other linalg op (the CPU
    pipeline vectorises them with `kha-vectorize-buffer-copies`).

    ```mlir
    memref.copy %a, %b : memref<?x8xf32> to memref<?x8xf32, strided<[16, 1]>>
    // becomes
    linalg.copy ins(%a : memref<?x8xf32>) outs(%b : memref<?x8xf32, strided<[16, 1]>>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def KHADuplicateSharedInitsPass : Pass<"kha-duplicate-shared-inits"> {
  let summary = "give each use of an empty tensor, or of a fill of one, its "
                "own copy";
  let description = [{
    CSE merges identical `tensor.empty` ops, and identical `linalg.fill` ops
    of them, into one value read by several ops (a zero-filled accumulator
    for each of a layer's projections, an empty row for both halves of a
    rotation). Bufferisation gives such a value one buffer: each op that
    writes into it while another use still needs it gets a copy of it, and
    `eliminate-empty-tensors`, which computes a value straight into the
    buffer it is later inserted into, can serve only one use of an empty
    tensor. This pass undoes the sharing before bufferisation, with clones
    made where the op is: every use of an empty tensor but the first gets its
    own, and every use that writes into a fill (a destination operand) gets
    its own fill, except one where nothing else only reads it. Reads keep
    the original, as they need no copy. A fill costs no more than the copy
    it replaces, and an empty tensor costs nothing.

    ```mlir
    %e = tensor.empty() : tensor<64x32xf32>
    %z = linalg.fill ins(%cst : f32) outs(%e : tensor<64x32xf32>) -> tensor<64x32xf32>
    %a = linalg.matmul ins(%x, %w : ...) outs(%z : tensor<64x32xf32>) -> tensor<64x32xf32>
    %b = linalg.matmul ins(%y, %w : ...) outs(%z : tensor<64x32xf32>) -> tensor<64x32xf32>
    // becomes
    %e = tensor.empty() : tensor<64x32xf32>
    %e1 = tensor.empty() : tensor<64x32xf32>
    %z = linalg.fill ins(%cst : f32) outs(%e : tensor<64x32xf32>) -> tensor<64x32xf32>
    %z1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<64x32xf32>) -> tensor<64x32xf32>
    %a = linalg.matmul ins(%x, %w : ...) outs(%z : tensor<64x32xf32>) -> tensor<64x32xf32>
    %b = linalg.matmul ins(%y, %w : ...) outs(%z1 : tensor<64x32xf32>) -> tensor<64x32xf32>
    ```

    Left alone: fills of anything but an empty tensor (duplicated, they
    would write the same buffer twice) and fills on buffers. The CPU
    pipeline runs it right before bufferisation.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect"];
}

def KHAVectorizeBufferCopiesPass : Pass<"kha-vectorize-buffer-copies"> {
  let summary = "copy and fill buffers a vector at a time along their rows";
  let description = [{
    Rewrites `linalg.copy` and `linalg.fill` on buffers into loops over every
    dimension but the innermost and, inside, `vector.transfer_read` /
    `vector.transfer_write` of whole pieces of the row (at most
    `max-vector-size` elements each, the last piece shorter where the row is
    not a multiple of it). Such ops are bufferisation's copies (for
    example, of a value written in place that is read again later) and the
    fills and copies that no tile of a schedule vectorised; lowered to
    loops by `convert-linalg-to-loops`, they would move one element per
    iteration.

    ```mlir
    linalg.copy ins(%a : memref<512x8x32xf32>) outs(%b : memref<512x8x32xf32, strided<[512, 64, 1]>>)
    // becomes
    scf.for %i = %c0 to %c512 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %v = vector.transfer_read %a[%i, %j, %c0], %pad {in_bounds = [true]}
            : memref<512x8x32xf32>, vector<32xf32>
        vector.transfer_write %v, %b[%i, %j, %c0] {in_bounds = [true]}
            : vector<32xf32>, memref<512x8x32xf32, strided<[512, 64, 1]>>
      }
    }
    ```

    Rewritten: ops on buffers whose operands have a static innermost
    dimension of at least two elements and unit stride there, and copies
    between buffers of one element type. Left alone (for
    `convert-linalg-to-loops`): ops on tensors, rank-0 buffers, rows of
    dynamic size or of one element, rows with a stride, and elements narrower
    than a byte (a vector of i1 is packed into bits in memory, a buffer of i1
    is not). The CPU pipeline
    runs it after bufferisation when it vectorises.
  }];
  let options = [
    Option<"maxVectorSize", "max-vector-size", "int64_t", /*default=*/"64",
           "the most elements one transfer moves">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::arith::ArithDialect"];
}

def KHAForallToThreadsPass : Pass<"kha-forall-to-threads"> {
  let summary = "run the outermost scf.forall loops on threads, the others "
                "in order";
  let description = [{
    The CPU schedule expresses independent work as `scf.forall`: attention
    tiles (batch, query rows, key/value head) and blocks of projection rows
    and columns. After bufferization (a loop without results), each
    `scf.forall` that no other `scf.forall` or `scf.parallel` encloses
    becomes an `scf.parallel`, which `convert-scf-to-openmp` hands to a team
    of OpenMP threads; one nested in another becomes `scf.for`, since a
    second level of threads would only oversubscribe the cores. With
    `threads=false` every `scf.forall` becomes `scf.for` and the library
    runs on one thread with no OpenMP runtime.

    ```mlir
    scf.forall (%i, %j) in (4, 8) {
      scf.forall (%k) in (2) { ... }
    }
    // becomes
    scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c8) step (%c1, %c1) {
      scf.for %k = %c0 to %c2 step %c1 { ... }
    }
    ```

    Loops with results (on tensors) are left alone.
  }];
  let options = [
    Option<"threads", "threads", "bool", /*default=*/"true",
           "run the outermost loops on threads (false: every loop in order)">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def KHAOmpDynamicSchedulePass : Pass<"kha-omp-dynamic-schedule"> {
  let summary = "give OpenMP work-sharing loops without a schedule a dynamic "
                "one";
  let description = [{
    `convert-scf-to-openmp` makes `omp.wsloop`s without a `schedule` clause,
    which the OpenMP runtime splits statically: each thread gets one
    contiguous, equal share of the iterations. kha's parallel iterations are
    whole tiles whose cost varies: a causal attention tile costs in
    proportion to its last row, so the thread with the last rows would do
    most of the work while the others wait. A dynamic schedule hands out
    iterations one at a time as threads become free.

    ```mlir
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) { ... }
    }
    // becomes
    omp.wsloop schedule(dynamic) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) { ... }
    }
    ```

    Loops that already have a schedule are left alone.
  }];
}

def KHACPUSchedulePass : Pass<"kha-cpu-schedule", "::mlir::ModuleOp"> {
  let summary = "tile and vectorise for the host CPU with kha's transform schedule";
  let description = [{
    Applies one entry point of kha's CPU schedule, a transform-dialect library
    kept in the source tree as `lib/Transforms/Schedules/cpu.mlir` and
    embedded at build time (or `schedule-file`, to try another), with the
    transform interpreter. The CPU pipeline applies it twice:

    - `kha_tile_attention`, before `kha-decompose-sdpa`: each `kha.sdpa` is
      tiled through its `TilingInterface` (`transform.structured.tile_using_for`)
      into blocks of one batch, 64 query rows and one key/value head with the
      query heads that read it; a causal tile reads only the keys up to its
      last row on the diagonal, so the blocks above it are never computed;
    - `__transform_main`, on the linalg the pipeline made of everything: matmuls
      (`linalg.matmul`, `linalg.batch_matmul`, the attention's products
      included) are tiled to an 8 x 32 register tile (512-bit vectors; the
      entry points `kha_codegen_256` and `kha_codegen_128` use 6 x 16 and
      4 x 8 for 256- and 128-bit ones) and a K step of 1, vectorised into
      `vector.contract`, and their accumulator is hoisted out of the K loop
      so that it stays in registers (`convert-vector-to-llvm` later turns each
      step into outer-product FMAs), four K steps per iteration; matmuls on
      weight panels (the `linalg.contract` of kha-pack-matmul-weights) get
      register tiles of 8 rows x one panel, one panel at a time, and a
      `linalg.pack` left in a function becomes a reshape and a vectorised
      transpose; the K loops are marked `kha.hoist_accumulator` while the
      schedule runs (the pass removes the mark); row-wise `linalg.generic` ops (every loop
      parallel but the last, which is static) and transposes are found by
      `transform.foreach_match` matchers, tiled to one row (transposes: to
      8 x 16 blocks) and vectorised.

    ```mlir
    %c = linalg.matmul ins(%a, %b : tensor<512x512xf32>, tensor<512x512xf32>) ...
    // becomes scf.for loops over 8 x 32 tiles whose K loop carries a
    // vector<8x32xf32> accumulator updated by vector.contract
    ```
  }];
  let options = [
    Option<"scheduleFile", "schedule-file", "std::string", /*default=*/"\"\"",
           "a transform library to apply instead of the built-in one">,
    Option<"entryPoint", "entry-point", "std::string",
           /*default=*/"\"__transform_main\"",
           "the named sequence of the library to apply">
  ];
  let dependentDialects = [
    "::mlir::transform::TransformDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::ub::UBDialect"
  ];
}

def KHAMathApproximationPass : Pass<"kha-math-approximation"> {
  let summary = "replace f32 math functions by polynomial approximations";
  let description = [{
    Rewrites f32 `math.exp` (and the other functions MLIR approximates:
    tanh, log, erf, ...) on scalars and vectors into arithmetic: LLVM would
    otherwise call libm once per vector lane. The approximations are accurate
    to a few ulp, far inside the tolerances of docs/semantics.md
    ("Numerical agreement"); f64 math
    (the RoPE tables) is left alone.

    ```mlir
    %e = math.exp %x : vector<16xf32>
    // becomes a range reduction and a polynomial in arith ops on vector<16xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def KHAFoldConstantGenericsPass : Pass<"kha-fold-constant-generics"> {
  let summary = "evaluate linalg.generic ops of constants at compile time";
  let description = [{
    A `linalg.generic` on tensors whose loops are all parallel, whose inputs
    are constants, whose outputs' initial values are not read and whose body
    folds to a constant at every point (its ops' own folders, given the
    point's `linalg.index` values and input elements) becomes an
    `arith.constant` of its results. The CPU pipeline runs it after the
    lowering to linalg: RoPE's cos/sin tables for a static sequence length
    (and no position input) are then built once, by the compiler, instead of
    at every call.

    ```mlir
    %t = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
        outs(%e : tensor<4x2xf32>) {
    ^bb0(%out: f32):
      %i = linalg.index 0 : index
      ...
      %c = math.cos %angle : f64
      %r = arith.truncf %c : f64 to f32
      linalg.yield %r : f32
    } -> tensor<4x2xf32>
    // becomes
    %t = arith.constant dense<[[1.0, 1.0], [0.5403023, 0.99995], ...]> : tensor<4x2xf32>
    ```

    Left alone: reductions; dynamic shapes; more than `max-elements` points;
    inputs that are not constants, or read through maps that are not
    projected permutations; outputs read in the body; bodies with memory
    effects, regions, or an op that does not fold.
  }];
  let options = [
    Option<"maxElements", "max-elements", "int64_t", /*default=*/"65536",
           "the largest iteration space evaluated (points; each result is "
           "one constant of that many elements)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def KHAExpandBF16ConversionsPass : Pass<"kha-expand-bf16-conversions"> {
  let summary = "f32 <-> bf16 conversions as integer arithmetic on their bits";
  let description = [{
    Rewrites `arith.truncf` from f32 to bf16 and `arith.extf` from bf16 to
    f32, on scalars and vectors, into arithmetic on the values' bits (MLIR's
    `populateExpandBFloat16Patterns`): an extension is a shift left by 16;
    a rounding adds `0x7FFF` plus the lowest kept bit (round to nearest,
    ties to even) and keeps the high half, and gives a quiet NaN for a NaN.
    Without AVX512-BF16, LLVM rounds each lane of a vector to bf16 with a
    call of the runtime routine `__truncsfbf2`; the expanded form is plain
    vector integer arithmetic.

    ```mlir
    %b = arith.truncf %x : vector<16xf32> to vector<16xbf16>
    // becomes
    %i = arith.bitcast %x : vector<16xf32> to vector<16xi32>
    // ... the rounding bias added, shifted right by 16, NaNs selected ...
    %t = arith.trunci %r : vector<16xi32> to vector<16xi16>
    %b = arith.bitcast %t : vector<16xi16> to vector<16xbf16>
    ```

    Conversions between bf16 and types other than f32 are left alone. The
    CPU pipeline runs it with the other host lowerings.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def KHAContractToBF16DotPass : Pass<"kha-contract-to-bf16-dot"> {
  let summary = "register tiles of bf16 pair products as AVX512-BF16 dot products";
  let description = [{
    Rewrites the vectorised register tiles of the bf16 pair contraction that
    `kha-pack-matmul-weights{bf16-pairs}` makes, a `vector.contract`

    ```mlir
    %r = vector.contract {indexing_maps = [affine_map<(m, j, c, k, p) -> (m, k, p)>,
                                           affine_map<(m, j, c, k, p) -> (j, k, c, p)>,
                                           affine_map<(m, j, c, k, p) -> (m, j, c)>],
                          iterator_types = ["parallel", "parallel", "parallel",
                                            "reduction", "reduction"],
                          kind = #vector.kind<add>}
           %a, %b, %acc : vector<Rx1x2xbf16>, vector<1x1xWx2xbf16> into vector<Rx1xWxf32>
    ```

    into one `x86vector.avx512.dot` (`vdpbf16ps`) per row and per 16
    columns (8 or 4 when W is smaller): the row's pair of A elements,
    bit-cast to one 32-bit value and broadcast, against `2 x 16` consecutive
    bf16 of the panel, accumulated in f32. The pair loop's extent in the
    tile may be more than 1 (one dot product per step). A panel tile read
    whole from a tensor slice is read again through a flat view of it
    (`tensor.collapse_shape`): one load of consecutive elements per dot
    product, where the n-D vector would be assembled from 2-element pieces. Contractions with
    other maps, types, a pair dimension other than 2, or a W that is not a
    multiple of 4 are left alone. Each dot product adds the odd products of
    its pairs, then the even ones, each rounded to f32 (nearest even), with
    subnormal inputs and results flushed to zero: the sums differ from a
    contraction in f32 by that order and that flushing.

    The CPU pipeline runs it after the schedule when the target has
    AVX512-BF16 (`kha-compile` reads it from the target's features), or
    when `bf16-dot=emulate` asks for the same code with the instruction
    emulated (`kha-emulate-bf16-dot`).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::x86vector::X86VectorDialect"];
}

def KHAEmulateBF16DotPass : Pass<"kha-emulate-bf16-dot"> {
  let summary = "AVX512-BF16 dot products as f32 vector arithmetic";
  let description = [{
    Rewrites `x86vector.avx512.dot` into what the instruction computes, in
    vector arithmetic any target has: each 32-bit lane of the two bf16
    operands holds a pair (element 2i in its low half, 2i+1 in its high
    half), widened to f32 by a shift or a mask; subnormal inputs are read as
    zero; the accumulator gets the product of the odd elements, then that
    of the even ones, each by `math.fma` (the products of two bf16 are exact
    in f32, so this is one rounding to nearest even per step), and a
    subnormal result is flushed to zero after each step.

    ```mlir
    %d = x86vector.avx512.dot %acc, %a, %b : vector<32xbf16> -> vector<16xf32>
    // becomes
    %ai = vector.bitcast %a : vector<32xbf16> to vector<16xi32>
    // ... odd and even halves widened, subnormals flushed ...
    %s = math.fma %a_odd, %b_odd, %acc : vector<16xf32>
    %d = math.fma %a_even, %b_even, %s_flushed : vector<16xf32>
    ```

    It lets the code made for AVX512-BF16 run, and its numerics be checked,
    on a CPU without it (`kha-compile --bf16-dot=emulate`); it is not a fast
    path.

    With `flush-subnormals=false`, nothing is flushed: each dot product is
    two IEEE f32 FMAs on the pairs widened in registers, the bf16 products
    of a CPU without AVX512-BF16 reading bf16 weight panels
    (`kha-compile --bf16-dot=widen`).
  }];
  let options = [
    Option<"flushSubnormals", "flush-subnormals", "bool", /*default=*/"true",
           "read subnormal inputs as zero and flush subnormal results, as "
           "VDPBF16PS does (false: IEEE f32 arithmetic)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def KHALowerVectorReductionsPass : Pass<"kha-lower-vector-reductions"> {
  let summary = "lower vector.multi_reduction to 1-D reductions";
  let description = [{
    The vectorised row reductions of the softmax and RMSNorm are
    `vector.multi_reduction`s, which `convert-vector-to-llvm` does not lower.
    This pass rewrites them (inner-reduction strategy) into `vector.reduction`
    of 1-D vectors, which become LLVM's vector reduction intrinsics.

    ```mlir
    %r = vector.multi_reduction <add>, %v, %acc [1] : vector<1x64xf32> to vector<1xf32>
    // becomes a vector.reduction <add> of the 64-element row
    ```
  }];
  let dependentDialects = ["::mlir::vector::VectorDialect"];
}

def KHAGPUDeviceBuffersPass : Pass<"kha-gpu-device-buffers", "::mlir::ModuleOp"> {
  let summary = "allocate host functions' buffers in GPU memory";
  let description = [{
    After bufferization for `--target=cuda`, every buffer a host function
    allocates is read and written by kernels only, so it must live in device
    memory: `memref.alloc` becomes `gpu.alloc`, `memref.dealloc` becomes
    `gpu.dealloc`, and a constant (`memref.get_global`, e.g. embedded
    weights) is copied from the host image into a device buffer once per call
    with `gpu.memcpy`. Ops inside `gpu.launch` bodies are left alone.

    ```mlir
    %b = memref.alloc(%n) : memref<?x64xf32>
    // becomes
    %b = gpu.alloc (%n) : memref<?x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KHAEntryPointOwnershipPass
    : Pass<"kha-entry-point-ownership", "::mlir::ModuleOp"> {
  let summary = "public functions read their arguments only and return buffers the caller owns";
  let description = [{
    A compiled public function is called with the caller's arrays and returns
    arrays the caller owns (and frees). On tensors, before one-shot
    bufferization, this pass marks every tensor argument of a public function
    `bufferization.writable = false` (so an in-place update copies instead of
    writing into the caller's input) and copies, with `linalg.copy` into a
    `tensor.empty`, every returned value that would not be a buffer of its
    own: a value returned twice, an argument returned as it is, a constant,
    or a reshape or slice of one of these (bufferized, a view of its
    memory). Both pipelines run it just before bufferization.

    ```mlir
    func.func @f(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
      return %x, %x : tensor<4xf32>, tensor<4xf32>
    }
    // becomes
    func.func @f(%x: tensor<4xf32> {bufferization.writable = false}) -> ... {
      %c0 = linalg.copy ins(%x ...) outs(%e0 ...)
      %c1 = linalg.copy ins(%x ...) outs(%e1 ...)
      return %c0, %c1 : tensor<4xf32>, tensor<4xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def KHAVerifyPipelineInputPass
    : Pass<"kha-verify-pipeline-input", "::mlir::ModuleOp"> {
  let summary = "refuse kha ops the pipelines cannot lower, naming them";
  let description = [{
    `--kha-cpu-pipeline` and `--kha-gpu-pipeline` lower kha ops placed
    directly in the body of a function of the module they run on. This pass,
    their first step, reports every kha op elsewhere with an error at the op:
    inside a nested `builtin.module` (which the pipelines would leave alone),
    or inside a region of another op such as `scf.for` (whose loop-carried
    tensors the pipelines cannot bufferize in place).

    ```mlir
    %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%a = %x) -> tensor<2x4x2x8xf32> {
      // error: 'kha.rope' inside 'scf.for' is not supported: the kha
      // pipelines lower kha ops at the top level of a function body
      %0 = kha.rope %a {theta = 10000.0 : f64} : tensor<2x4x2x8xf32>
      scf.yield %0 : tensor<2x4x2x8xf32>
    }
    ```
  }];
}

def KHADecomposeAggregateOpsPass
    : Pass<"kha-decompose-aggregate-ops", "::mlir::ModuleOp"> {
  let summary = "replace aggregate linalg ops (linalg.softmax) by their parts";
  let description = [{
    Ops implementing `linalg::AggregatedOpInterface` stand for several
    simpler ones; `linalg.softmax` is a max reduction, a subtraction, an
    exponential, a sum reduction and a division. No lowering takes them as
    they are, so both pipelines replace each, on tensors, by what its
    `decomposeOperation` gives (linalg generics and fills).

    ```mlir
    %y = linalg.softmax dimension(1) ins(%x : tensor<2x16xf32>)
                                     outs(%e : tensor<2x16xf32>) -> tensor<2x16xf32>
    // becomes linalg.fill + linalg.generic (max), linalg.generic (sub, exp),
    // linalg.fill + linalg.generic (sum), linalg.generic (div)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def KHAVerifyLoweredPass : Pass<"kha-verify-lowered", "::mlir::ModuleOp"> {
  let summary = "refuse anything the pipeline left that LLVM IR translation "
                "does not take, naming the first such op";
  let description = [{
    The last step of `--kha-cpu-pipeline` and `--kha-gpu-pipeline`: every op
    left in the module must be of the LLVM dialect, or for GPU code a
    `gpu.binary` (the kernels) or a `gpu.launch_func`. Otherwise the first
    other op, in program order, gets an error, and an
    `unrealized_conversion_cast` (what a conversion leaves where it could
    not lower something) a note pointing at the op it stands for. Without
    this check the pipeline would succeed and the translation to LLVM IR
    fail later with a message about the cast.
  }];
}

def KHAFreeIntermediateBuffersPass
    : Pass<"kha-free-intermediate-buffers", "::mlir::func::FuncOp"> {
  let summary = "free each buffer a straight-line function allocates after its last use";
  let description = [{
    The GPU path's replacement for MLIR's ownership-based deallocation, which
    rejects kernels (`gpu.barrier` and `gpu.launch_func` declare no memory
    effects). In a function whose body is one block (what the kha lowering
    produces on the host side), every `memref.alloc` whose buffer, through
    any views of it, does not reach the `return` gets a `memref.dealloc`
    after its last use in that block (a use inside a `gpu.launch` counts as
    the launch; so does a use of a TMA tensor map made of the buffer). So
    does every buffer a call to a function of the module returns (a
    function's results are its caller's: the prepared weights that
    `@f` receives from `@f_prepare`). Returned buffers are the caller's. A
    function with more than one block is left alone.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def KHAGPULaunchToHostLoopsPass : Pass<"kha-gpu-launch-to-host-loops"> {
  let summary = "run gpu.launch kernels on the host as loops (to check them "
                "without a GPU)";
  let description = [{
    For checking kernels' numerics on machines without a GPU. A `gpu.launch`
    becomes loops over its grid (z, y, x) on the host. Within a block, the
    threads become loops over the linear thread id ("thread loops"), split at
    every synchronisation point:

    - `gpu.barrier` ends one thread loop and starts the next: every thread
      has finished what comes before it, as on the GPU;
    - `gpu.shuffle` (all four modes, per-lane offsets) is a thread loop of
      its own that reads the source lane's value within the warp (32
      consecutive thread ids); lanes at or past `width`, and sources out of
      range, get `valid` false and their own value;
    - `scf.for` and `scf.if` that contain a barrier or shuffle stay on the
      outside with their bounds or condition taken from thread 0 and are
      split in turn; when the kernel runs, every thread's value is checked
      against thread 0's (`cf.assert`), so control flow that diverges around
      a barrier or shuffle stops with a message instead of computing
      something else.

    - the warp-collective tensor-core operations `nvgpu.ldmatrix`
      (`.x1/.x2/.x4`, `.trans`) and `nvgpu.mma.sync` (m16n8k16, f16/bf16
      into f32) are thread loops of their own that gather the other lanes'
      row addresses or fragments with the PTX ISA's layouts (lane
      `g = lane / 4`, `t = lane % 4`), products in f32;
    - `nvgpu.device_async_copy` (cp.async) is per thread: it fills its
      destination with NaN and queues the copy (at most 64 pending per
      thread); `nvgpu.device_async_create_group` closes a group and
      `nvgpu.device_async_wait {numGroups = N}` carries out, in order, the
      copies of all but the newest N groups (reading only `srcElements`,
      zero-filling the rest). A kernel that reads a tile it has not waited
      for reads NaN.

    A warp-collective operation is a step of the whole block here (all
    threads reach it before any goes on), so a barrier missing between a
    wait and an `ldmatrix` of other threads' data is not seen.

    A value made in one thread loop and used in another is carried in a
    per-thread array (a view of memory is made again where it is used);
    side-effect-free operations of uniform values (block
    ids, sizes, constants) are computed once, outside the thread loops.
    Workgroup buffers (static shapes) and the arrays (sized for the block,
    at most 1024 threads) are stack buffers at the function's entry, shared
    by the blocks in turn; launch ids and sizes, also inside nested regions,
    become the loops' values. Running
    a block's threads one after another between synchronisation points is a
    legal schedule of a race-free kernel, so a wrong barrier or shuffle gives
    wrong numbers here as well. Refused with an error: asynchronous launches,
    clusters, private attributions, stack buffers allocated in a kernel,
    blocks of more than 1024 threads, a barrier or shuffle inside any other
    region-holding operation, a bound or condition that is a thread id,
    other GPU operations, and carrying anything but scalars and vectors.

    Hopper (sm_90a): `nvgpu.mbarrier.*` keep each barrier's expected
    arrivals, arrivals, transaction bytes and completed phases;
    `nvgpu.tma.async.load` fills its box with NaN and is queued;
    `nvgpu.mbarrier.try_wait.parity` is a block-wide step that carries out
    the loads queued on its barrier (zeros outside the tensor, swizzled as
    the tensor map says), completes the phase and stops with a message when
    the awaited phase can never complete; `nvgpu.warpgroup.mma` and
    `kha.warpgroup_mma_register_a` are steps per warpgroup that read their
    shared-memory operands through the 64-bit matrix descriptors (start,
    leading and stride byte offsets, swizzle), gather a register A from the
    128 threads' fragments and keep the accumulators in the PTX fragment
    layout. An MMA runs when issued; one that leaves its group in flight
    (waitGroup > 0) is accepted only when a later MMA or
    `nvvm.wgmma.wait.group.sync.aligned` of its block retires it (groups
    retire oldest first) with nothing in between that touches memory or
    reads a result still in flight other than as the accumulator of a later
    MMA, so running it early cannot be told apart. TMA
    boxes have 1 to 5 dimensions; `gpu.dynamic_shared_memory` is a buffer of
    the launch's constant size; `unrealized_conversion_cast`s between
    a warpgroup accumulator and a `vector<N x f32>` (an accumulator read or
    written as the thread's registers) are the identity, and `nvvm.fence.proxy` and the wgmma waits
    have nothing left to order; `nvvm.setmaxregister` has no host meaning.
    A plain `nvgpu.mbarrier.arrive` counts one arrival, completing the phase
    with the last expected one.

    Warp specialisation: a top-level `scf.if (thread id x < N) {consumers}
    else {producer}` (N a multiple of 128) splits the block into roles. The
    consumers' region runs as above over threads 0 .. N - 1 only (a block
    barrier inside a role is refused: it would wait for the other role).
    The producer's region must be register hints, arithmetic and one
    `scf.if (thread id x == N)` holding work that may begin with an mbarrier
    wait and loops whose iterations may each begin with one; it runs on
    demand, thread N alone: at the start and before every consumer wait,
    as far as its own waits let it (so it runs as far ahead as the GPU
    could, and a missing or wrong wait shows). When the consumers are done,
    a producer still waiting stops the run with a message.

    `--kha-gpu-pipeline="host-emulation"` and `kha-compile --target=cuda
    --cuda-on-host` use it to run the whole GPU path on the CPU.

    With `reverse-threads`, each thread loop runs the threads from the last
    to the first: another legal schedule, under which a race-free kernel
    computes bit-identical results, so comparing the two schedules finds
    races between two synchronisation points (two threads writing one
    location, or one reading what another writes).
  }];
  let options = [
    Option<"reverseThreads", "reverse-threads", "bool", /*default=*/"false",
           "run each block's threads from the last to the first">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::cf::ControlFlowDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::vector::VectorDialect"];
}

def KHAGPUMergeKernelModulesPass
    : Pass<"kha-gpu-merge-kernel-modules", "::mlir::ModuleOp"> {
  let summary = "move every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` makes one `gpu.module` per kernel. This pass moves
    all kernels into a single `gpu.module @kha_kernels` (renaming on clashes)
    and updates the `gpu.launch_func` references, so that a library embeds
    one PTX/cubin image, loaded once, and `--emit=ptx` writes one PTX file.
    Kernel names become PTX identifiers on the way (a kernel is named after
    its function, and an MLIR symbol such as `@"my layer"` may hold
    characters PTX does not allow: each becomes `_`).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KHAGPUHopperKernelABIPass
    : Pass<"kha-gpu-hopper-kernel-abi", "::mlir::ModuleOp"> {
  let summary = "outlined TMA kernels take tensor maps as device pointers, "
                "shared memory aligned to 1024 bytes";
  let description = [{
    After `gpu-kernel-outlining`, a kernel using TMA or wgmma descriptors
    takes `!nvgpu.tensormap.descriptor` parameters, which the conversion of
    `gpu.func` signatures to NVVM does not know. Each such parameter becomes
    an `!llvm.ptr` (the encoded tensor map in device memory, as
    `nvgpu.tma.create.descriptor` yields it on the host) with an
    `unrealized_conversion_cast` back to the descriptor type at the kernel's
    entry and one to the pointer at each `gpu.launch_func`; the conversions
    to LLVM resolve both. The kernel's workgroup buffers get
    `llvm.align = 1024`: a 128-byte swizzle is a function of the shared
    address bits 4-9, so TMA destinations and wgmma operand tiles must
    start on 1024-byte boundaries. For the same reason its
    `gpu.dynamic_shared_memory` becomes a memref on one external shared
    array of the GPU module, `kha_dynamic_shared`, aligned to 1024 bytes
    (PTX `.extern .shared .align 1024 .b8 kha_dynamic_shared[]`), where
    MLIR's own lowering makes a 16-byte aligned internal array. Kernels
    without TMA are left alone, but for one rule: a kernel whose warpgroups
    trade registers (`nvvm.setmaxregister`, warp specialisation) gets
    `nvvm.minctasm = 1` (PTX `.minnctapersm 1`), so that ptxas gives it the
    most registers its block size allows at entry; otherwise ptxas may
    choose fewer and then ignores `setmaxnreg` ("unable to determine
    register count at entry").
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // KHA_TRANSFORMS_PASSES_TD
