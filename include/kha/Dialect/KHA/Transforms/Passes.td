//===- Passes.td - kha dialect passes ----------------------*- tablegen -*-===//

#ifndef KHA_DIALECT_KHA_TRANSFORMS_PASSES_TD
#define KHA_DIALECT_KHA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KHARaiseAttentionPass : Pass<"kha-raise-attention"> {
  let summary = "raise scaled dot-product attention written in linalg to kha.sdpa";
  let description = [{
    Finds attention that another frontend wrote in linalg on tensors and
    replaces it with `kha.sdpa`, so that kha's fused kernels compute it:

        O = softmax(scale * Q K^T + M [+ causal]) V

    The pass starts from each contraction that multiplies probabilities by
    values, and reads what the element-wise ops and row reductions between
    it and the contraction of the scores compute. Accepted, in any
    combination:

    - contractions as named ops (`linalg.matmul`, `linalg.batch_matmul`, with
      or without indexing maps) or `linalg.generic`s, accumulating into
      zeros, with 0, 1 or 2 batch dimensions ([B, H], [B*H]; none);
    - operands through `linalg.transpose` or copying generics, in any layout;
    - `linalg.softmax` over the key dimension, or its decomposition:
      `exp(Y - rowmax(Y)) / rowsum(...)` (or without the maximum), a
      division or a multiplication by the reciprocal, each step its own
      generic or fused, reductions with or without a kept unit dimension
      (as MLIR's decomposition and tosa-to-linalg write them);
    - a positive constant scale on the scores, on Q or on K (a
      multiplication or a division);
    - a causal mask as a `select` on `linalg.index` comparisons (key
      position j > query position i, to -inf or a value below half the
      type's lowest), as the same select added to the scores, or as an
      additive constant tensor of that pattern; it becomes `causal`
      (upper-left aligned);
    - one other additive mask: a tensor read by any projection of the
      scores' dimensions ([L, S], [B, 1, 1, S], ...), which becomes the
      `mask` operand ([L, S] or materialised as [B, H, L, S]);
    - grouped-query attention: keys and values whose heads are repeated by
      a broadcast collapsed into the head dimension, or read at
      `h floordiv r`; kha.sdpa then takes the G key/value heads.

    Near misses are left alone: a reduction over another dimension, a
    normalisation that is not a softmax, a mask comparison that is not
    exactly j > i (a window, an offset), a negative scale, mixed element
    types, dynamic head counts or widths.

    The operands are transposed and reshaped into kha's [B, L, H, d] layout
    and the result back into the original one; transposes that cancel fold.
  }];
  let dependentDialects = [
    "::mlir::kha::KHADialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def KHARaiseKnocksPass : Pass<"kha-raise-knocks"> {
  let summary = "raise head-shared d x d products written in linalg to kha.linear_knock";
  let description = [{
    A KHA model exported by another frontend multiplies the vectors of every
    head by one `d x d` matrix as a plain contraction. This pass makes it a
    `kha.linear_knock`, which `kha-fold-knock` then folds into the projection
    weights (for free at inference). Recognised:

    - one contraction `y[b, l, n, e] = sum_c x[b, l, n, c] T[c, e]` (a
      `linalg.generic` or a named op with indexing maps, `T` possibly read
      transposed), accumulating into zeros;
    - `tensor.expand_shape(linalg.matmul(tensor.collapse_shape(x), T))` that
      views `[B, L, N, d]` as `[B*L*N, d]` and back, as `torch.matmul`'s
      lowering writes it.

    `T` must be a square `[d, d]` tensor shared by every head and row (no
    batch dimension), of the input's element type. Anything else (a
    per-head matrix, a non-square one, a product over another dimension,
    accumulation into a non-zero tensor) is left alone.
  }];
  let dependentDialects = [
    "::mlir::kha::KHADialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHAExpandAttentionBlockPass : Pass<"kha-expand-attention-block"> {
  let summary = "expand kha.attention_block into linalg projections and "
                "mid-level kha ops";
  let description = [{
    Rewrites every `kha.attention_block` into the computation it stands for:
    the Q, K and V projections and the output projection become
    `linalg.matmul` ops on the input reshaped to `[B*L, D]` (accumulated in f32,
    truncated back for f16/bf16), their results are reshaped into heads
    `[B, L, N, d]`, and the knocks, QK-RMSNorm, RoPE and attention become
    `kha.linear_knock`, `kha.mlp_knock`, `kha.rms_norm`, `kha.rope` and
    `kha.sdpa`, in the order projection, knock, norm, RoPE, SDPA. Projection
    biases are added in f32 (a `linalg.generic`): after the output projection,
    before an MLP knock, and after a linear knock as `b T` (`(x W + b) T =
    x W T + b T`), so that the knock stays right after its projection, where
    `kha-fold-knock` folds it. A scaled RoPE's frequencies go to `kha.rope`.
    With a key/value cache, the new keys and values are inserted into the
    caches at the cache length (clamped so that every access stays inside),
    RoPE places the new tokens after the cached ones unless positions are
    given, and `kha.sdpa {bottom_right}` attends over the used rows; the
    updated caches replace the block's extra results.

    Before:

    ```mlir
    %y = kha.attention_block %x, %wq, %wk, %wv, %wo knock_v(%tv)
           {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal}
         : (...) -> tensor<1x16x512xf32>
    ```

    After (abridged):

    ```mlir
    %x2 = tensor.collapse_shape %x [[0, 1], [2]]
    %v2 = linalg.matmul ins(%x2, %wv : ...) outs(...)
    %v  = tensor.expand_shape %v2 [[0, 1], [2, 3]] output_shape [1, 16, 2, 64]
    %vk = kha.linear_knock %v, %tv : tensor<1x16x2x64xf32>, tensor<64x64xf32>
    %o  = kha.sdpa %q, %k, %vk outs(%init) {causal, scale = 1.250000e-01 : f64} : ...
    ...
    ```

    Ops other than `kha.attention_block` are left alone.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHASimplifyKnocksPass : Pass<"kha-simplify-knocks"> {
  let summary = "remove knocks at their initial value and compose linear "
                "knocks";
  let description = [{
    Applies only the knock simplifications (the same rewrites `-canonicalize`
    applies to knock ops), to knock ops only:

    - `kha.linear_knock %x, %T` with a constant identity `%T` becomes `%x`;
    - `kha.mlp_knock %x, %up, %gate, %down` with constant identity `up` and
      `down` and a constant zero `gate` becomes `%x`
      (`2 * sigmoid(0) = 1`);
    - two linear knocks in a row, the first with no other user, become one
      whose matrix is the product: folded into a new constant when both
      matrices are constants, otherwise a `linalg.matmul` of the two d x d
      matrices (its cost does not grow with B*L).

    Before / after:

    ```mlir
    %a = kha.linear_knock %x, %t1 : tensor<1x4x2x8xf32>, tensor<8x8xf32>
    %b = kha.linear_knock %a, %t2 : tensor<1x4x2x8xf32>, tensor<8x8xf32>
    // becomes
    %t = linalg.matmul ins(%t1, %t2 : ...) outs(...)
    %b = kha.linear_knock %x, %t : tensor<1x4x2x8xf32>, tensor<8x8xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHAFoldKnockPass : Pass<"kha-fold-knock"> {
  let summary = "fold linear knocks into the projection weights";
  let description = [{
    A linear knock applied to a projection costs nothing once folded:
    `(x W_n) T = x (W_n T)` for every head block n of the projection's columns.
    This pass matches, in any frontend's IR,

        %p = C = A B, zero-filled                          [M, N*d] or [B, L, N*d]
        (%p = arith.truncf %p, for f16/bf16)
        %h = tensor.expand_shape %p [..., [2, 3]]           [B, L, N, d]
        %k = kha.linear_knock %h, %t                        [d, d]

    where the contraction is `linalg.matmul`, `linalg.batch_matmul`, either
    with transposed or broadcast indexing maps, or a `linalg.generic`
    multiply-add; and B is one weight matrix `[D, N*d]` or its transpose
    `[N*d, D]` (nn.Linear's layout), used as it is, broadcast over the batch by
    the indexing map, or by a `linalg.broadcast`.

    The weight operand is replaced in place by the folded weights `W' = W T`
    per head block (for the transposed layout, `T^T Wt_n`), computed as one
    `[D*N, d] x [d, d]` matmul (a cost of D*N*d*d, independent of B*L, once
    per call for runtime weights), or folded into a new constant at compile
    time when `W` and `T` are constants; the contraction keeps its form and
    the knock disappears.

    Left alone: a knock whose input is not such a projection (after RMSNorm or
    RoPE, or any other op), a projection or reshape with other users (it would
    be computed anyway), a contraction with a non-zero initial value or a
    non-linear reduction, weights that differ across the batch, a knock
    matrix computed after the projection.

    The MLP knock is not linear, but its last step is: `V' = M D` with
    `M = 2 (V U) * sigmoid(V G)`. Attention is linear in its values, so for
    every query head h of value group g, `O_h = P_h V'_g = (P_h M_g) D`, and
    the output projection gets `y = sum_h (P_h M_g) (D Wo_h)`. When the
    knocked values feed only a `kha.sdpa` whose output, merged into `[..., H*d]`
    columns, feeds only a zero-filled `linalg.matmul` by `Wo [H*d, D]`, the
    down projection joins every head's row block of `Wo` (`Wo_h <- D Wo_h`,
    a new constant or once per call as for the linear knocks) and the knock
    keeps its up and gate matmuls: its down becomes a constant identity,
    which lowers to nothing. A third of the MLP knock's matmul FLOPs go.

    ```mlir
    %p = linalg.matmul ins(%x, %wv : tensor<?x512xf32>, tensor<512x128xf32>) ...
    %v = tensor.expand_shape %p [[0, 1], [2, 3]] ... into tensor<?x?x2x64xf32>
    %k = kha.linear_knock %v, %tv : tensor<?x?x2x64xf32>, tensor<64x64xf32>
    // becomes
    %w2 = linalg.matmul ins(%wv_as_256x64, %tv) ...        // W' = W T
    %p = linalg.matmul ins(%x, %w2_as_512x128) ...
    %v = tensor.expand_shape %p [[0, 1], [2, 3]] ...       // the knock's uses
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHAFuseKnockMlpPass : Pass<"kha-fuse-knock-mlp"> {
  let summary = "fuse the MLP knock into the value projection's epilogue";
  let description = [{
    The MLP knock `2 ((V up) * sigmoid(V gate)) down` is not linear and cannot
    be folded into the weights; this pass fuses it into the projection that
    produces V instead. It matches (as `kha-fold-knock` does, in any
    frontend's IR)

        %p = linalg.matmul ins(%x, %wv) outs(zero-filled)   [M, G*d]
        (%p = arith.truncf %p, for f16/bf16)
        %v = tensor.expand_shape %p [[0, 1], [2, 3]]      [B, L, G, d]
        %o = kha.mlp_knock %v, %up, %gate, %down

    and tiles the knock over one batch entry and `rows` tokens at a time
    with the upstream tile-and-fuse driver (`kha.mlp_knock` implements
    `TilingInterface`; the upstream patterns that bubble
    `tensor.extract_slice` up through reshapes carry the tiles across the
    split into heads), fusing the projection and its zero fill into each
    tile: each tile projects its tokens (`[rows, D] x [D, G*d]`) and runs
    the MLP on its `rows * G` head vectors (the G key/value heads only),
    writing only the knocked result. V exists one tile at a time, in cache,
    and is never written to memory and read back. A rounded projection
    (f16/bf16) is fused unrounded: the tile stays in f32 from the projection
    through the MLP (its matrices widened) and is rounded once, after it.
    Anything else is left alone.

    ```mlir
    %o = scf.for %b = %c0 to %B step %c1 iter_args(%acc = %heads) {
      %ob = scf.for %l = %c0 to %L step %c64 iter_args(%acc2 = %acc) {
        %xi = tensor.extract_slice %x[%b * L + %l, 0] [%n, 512] [1, 1]
        %vi = linalg.matmul ins(%xi, %wv ...)     // [n, G*d], f32
        %hi = tensor.expand_shape %vi ...         // [1, n, G, d]
        %ki = kha.mlp_knock %hi, %up, %gate, %down
        tensor.insert_slice %ki into %acc2[%b, %l, 0, 0] ...
      }
    }
    ```
  }];
  let options = [
    Option<"rows", "rows", "int64_t", /*default=*/"64",
           "tokens per block">
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KHAOutlineWeightPreparationPass
    : Pass<"kha-outline-weight-preparation", "::mlir::ModuleOp"> {
  let summary = "move weight-only computation into a prepare function called once";
  let description = [{
    With weights passed at run time, some of a layer's work depends on the
    weights alone: the folded projections `W T` of kha-fold-knock, the MLP
    knock's `D W_o`, transposes of weights. A server binds its weights once
    and calls the layer many times, so that work belongs in a function of
    its own, called when the weights are bound.

    For every public function with arguments marked `kha.weight` (the layer
    importer marks all of `@kha_layer`'s arguments but `x`), this pass finds
    the side-effect-free ops whose operands are all weight arguments,
    constants or results of such ops, and takes the contractions among them
    that read a weight (linalg ops with a reduction, such as the folds'
    matmuls) and the packings of weights into the panels a CPU kernel reads
    (`linalg.pack`, from kha-pack-matmul-weights), with results no larger
    than the largest weight, what feeds
    them, and what their results go through before the rest reads them
    (roundings to the layer's type, reshapes), except widening casts. Casts,
    copies and broadcasts of the weights themselves stay where they are:
    done once they would only pass the weights on wider, transposed or
    larger (the projections of an f16 layer keep reading the f16 weights,
    unless the CPU pipeline packs them into panels: the packing then reads
    their widened copy, and both are prepared once).
    When there are any, `@f` becomes three public functions:

    - `@f_prepare(weights...) -> (prepared...)`: that work, returning the
      values the rest of the layer reads;
    - `@f_prepared(args..., prepared...)`: the rest of `@f`, taking all of
      `@f`'s arguments (weights it still reads directly, such as `wo` without
      an MLP knock, and the others) followed by the prepared values;
    - `@f` itself, which calls both in turn, so it computes what it did.

    `@f` gets `kha.prepare = [@f_prepare, @f_prepared]`. The library manifest
    records the relation, and the runtimes (kha-run, `kha.Library.bind`) call
    `@f_prepare` once per set of weights and `@f_prepared` per call. A
    function with a name taken by `@f_prepare` or `@f_prepared` is an error.

    ```mlir
    func.func @kha_layer(%x: tensor<?x?x512xf32>,
                         %wq: tensor<512x512xf32> {kha.weight},
                         %tq: tensor<64x64xf32> {kha.weight}, ...) {
      %wq2 = linalg.matmul ins(%wq_blocks, %tq ...)     // W' = W T: weights only
      %q = linalg.matmul ins(%x2, %wq2_as_512x512 ...)
    // becomes
    func.func @kha_layer_prepare(%wq, %tq, ...) -> tensor<512x512xf32>
    func.func @kha_layer_prepared(%x, %wq, %tq, ..., %prepared0)
    func.func @kha_layer(...) attributes {kha.prepare = [...]} {
      %p = call @kha_layer_prepare(%wq, %tq, ...)
      %y = call @kha_layer_prepared(%x, %wq, %tq, ..., %p)
    ```
  }];
}

def KHACostReportPass : Pass<"kha-cost-report", "::mlir::ModuleOp"> {
  let summary = "report the FLOPs and bytes moved of each op and function";
  let description = [{
    An analysis: emits, as remarks, the cost of every kha op and linalg
    structured op with static shapes (floating-point operations, a
    multiply-add counting 2; bytes of the operands read and results written,
    each once) and the total of each function, following the cost model of
    docs/cost-model.md. Running it before and after a rewrite shows what the
    rewrite saved, e.g. around `kha-fold-knock`:

    ```
    kha-opt layer.mlir --kha-expand-attention-block --kha-cost-report
    kha-opt layer.mlir --kha-expand-attention-block --kha-fold-knock --kha-cost-report
    ```

    Ops it cannot estimate are named, never silently left out: a modelled
    op with dynamic shapes is "not estimated (dynamic shapes)", and an op
    outside the model that works on tensors or buffers (`linalg.softmax`,
    `tensor.pad`, another dialect's ops; constants, casts, views, reshapes
    and allocations do no work the model counts) is "not in the cost
    model", the function's total listing how many and which.

    The IR is not changed.
  }];
  let options = [
    Option<"perOp", "per-op", "bool", /*default=*/"true",
           "report each op, not only the function totals">
  ];
}

#endif // KHA_DIALECT_KHA_TRANSFORMS_PASSES_TD
