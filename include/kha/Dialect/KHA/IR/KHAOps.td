//===- KHAOps.td - kha dialect operations ------------------*- tablegen -*-===//
//
// The high-level attention block and the mid-level ops it expands into. Each
// verifier rule is named in docs/semantics.md (rules R1..).
//
//===----------------------------------------------------------------------===//

#ifndef KHA_DIALECT_KHA_IR_KHAOPS_TD
#define KHA_DIALECT_KHA_IR_KHAOPS_TD

include "kha/Dialect/KHA/IR/KHAAttrs.td"
include "kha/Dialect/KHA/IR/KHADialect.td"
include "mlir/Dialect/NVGPU/IR/NVGPUTypes.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/TilingInterface.td"
include "mlir/IR/OpBase.td"

//===----------------------------------------------------------------------===//
// Base classes and type constraints
//===----------------------------------------------------------------------===//

/// Every kha op is a pure function of its tensor operands.
class KHA_Op<string mnemonic, list<Trait> traits = []>
    : Op<KHA_Dialect, mnemonic, !listconcat([Pure], traits)>;

/// The element types KHA computes in. Ranks are checked by the verifiers so that
/// each rule gets its own message.
def KHA_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;

/// Token positions and attention masks, as Hugging Face passes them
/// (`position_ids`, `attention_mask`: int64).
def KHA_I64Tensor : RankedTensorOf<[I64]>;

/// Mid-level ops that map a per-head tensor `[B, L, N, d]` to one of the same
/// type.
class KHA_PerHeadOp<string mnemonic, list<Trait> traits = []>
    : KHA_Op<mnemonic, !listconcat([AllTypesMatch<["input", "result"]>],
                                   traits)> {
  let results = (outs KHA_FloatTensor:$result);
  let hasVerifier = 1;
}

// A per-head op whose other operands are parameters shared by every head
// and token: tileable over (batch, token, head), each head vector whole
// (PerHeadTiling.cpp).
class KHA_TileablePerHeadOp<string mnemonic, list<Trait> traits = []>
    : KHA_PerHeadOp<mnemonic, !listconcat([
        DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
            ["reifyResultShapes"]>,
        DeclareOpInterfaceMethods<TilingInterface,
            ["getLoopIteratorTypes", "getIterationDomain",
             "getTiledImplementation", "getResultTilePosition",
             "generateResultTileValue"]>], traits)>;

//===----------------------------------------------------------------------===//
// High-level op
//===----------------------------------------------------------------------===//

def KHA_AttentionBlockOp : KHA_Op<"attention_block", [AttrSizedOperandSegments]> {
  let summary = "a whole knocking-heads attention layer";
  let description = [{
    Computes one attention layer with knocking heads, in the order of
    docs/semantics.md:

        projection -> knock -> QK-RMSNorm (q, k) -> RoPE (q, k) -> SDPA -> W^O

    Operands, in the order of the layer function's arguments:
    `input` `[B, L, D]`; `wq` `[D, H*d]`; `wk`, `wv` `[D, G*d]`; `wo` `[H*d, D]`;
    then the optional parts, each introduced by a keyword:

    - `knock_q(%tq)`, `knock_k(%tk)`, `knock_v(%tv)`: a `[d, d]` matrix shared
      by all query heads, all key heads, or all value heads;
    - `knock_v_mlp(%up, %gate, %down)`: the gated value MLP
      `2 * ((v up) * sigmoid(v gate)) down`, each matrix `[d, d]`;
    - `qk_norm(%q_norm, %k_norm)`: per-head RMSNorm weights `[d]` for queries
      and keys, with `rms_norm_eps`;
    - `qkv_bias(%bq, %bk, %bv)`: biases of the query, key and value
      projections, `[H*d]`, `[G*d]`, `[G*d]`, added before the knocks
      (`(x W + b) T`);
    - `o_bias(%bo)`: the output projection's bias `[D]`;
    - `positions(%p)`: each token's position `[B, L]` (int64, Hugging
      Face's `position_ids`) for RoPE, instead of 0..L-1: a left-padded
      batch starts each sequence at its first real token;
    - `attention_mask(%m)`: `[B, L]` (int64, Hugging Face's 2-D
      `attention_mask`): key j of sequence b is attended only where
      `m[b, j] != 0` (padding is 0), on top of the causal mask. A query
      that may attend no key gets zeros. With a cache, the mask is `[B, S]`:
      one entry per cache slot.
    - `kv_cache(%k_cache, %v_cache, %cache_length)`: decoding with a cache of
      keys and values `[B, S, G, d]` (after the knock, QK-norm and RoPE; S is
      the capacity) holding `cache_length` (i64) tokens per sequence. The L
      new tokens sit at positions `cache_length + l` (unless `positions`
      says otherwise); their keys and values are written at rows
      `cache_length .. cache_length + L - 1` and the queries attend over the
      first `cache_length + L` rows, query l seeing keys up to
      `cache_length + l` when causal. The op then has two more results, the
      updated caches. A length outside `0 .. S - L` is the caller's error:
      the op stays within the caches (the length is clamped) but its results
      are then unspecified.

    Attributes: `num_heads` (H) and `num_kv_heads` (G, dividing H); `causal`;
    `rope_theta` (absent: no RoPE); `rms_norm_eps` (default 1e-6); for a
    scaled RoPE, `rope_frequencies` (d/2 values) and `rope_attention_factor`,
    as `kha.rope`'s `frequencies` and `attention_factor`. The head width
    d is `wq`'s column count divided by H, and the attention scale is
    `1/sqrt(d)`. Query head h reads key/value head `h / (H / G)`. B and L may be
    dynamic; weights must have static shapes. D need not equal `H*d`.

    Example (GQA, MLP knock on values, QK-norm, RoPE):

    ```mlir
    %y = kha.attention_block %x, %wq, %wk, %wv, %wo
           knock_v_mlp(%up, %gate, %down) qk_norm(%qn, %kn)
           {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal,
            rope_theta = 10000.0 : f64}
         : (tensor<2x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
            tensor<512x128xf32>, tensor<512x512xf32>, tensor<64x64xf32>,
            tensor<64x64xf32>, tensor<64x64xf32>, tensor<64xf32>,
            tensor<64xf32>) -> tensor<2x?x512xf32>
    ```
  }];
  let arguments = (ins
    KHA_FloatTensor:$input,
    KHA_FloatTensor:$wq,
    KHA_FloatTensor:$wk,
    KHA_FloatTensor:$wv,
    KHA_FloatTensor:$wo,
    Optional<KHA_FloatTensor>:$tq,
    Optional<KHA_FloatTensor>:$tk,
    Optional<KHA_FloatTensor>:$tv,
    Optional<KHA_FloatTensor>:$v_up,
    Optional<KHA_FloatTensor>:$v_gate,
    Optional<KHA_FloatTensor>:$v_down,
    Optional<KHA_FloatTensor>:$q_norm,
    Optional<KHA_FloatTensor>:$k_norm,
    Optional<KHA_FloatTensor>:$bq,
    Optional<KHA_FloatTensor>:$bk,
    Optional<KHA_FloatTensor>:$bv,
    Optional<KHA_FloatTensor>:$bo,
    Optional<KHA_I64Tensor>:$positions,
    Optional<KHA_I64Tensor>:$attention_mask,
    Optional<KHA_FloatTensor>:$k_cache,
    Optional<KHA_FloatTensor>:$v_cache,
    Optional<I64>:$cache_length,
    I64Attr:$num_heads,
    I64Attr:$num_kv_heads,
    UnitAttr:$causal,
    OptionalAttr<F64Attr>:$rope_theta,
    DefaultValuedAttr<F64Attr, "1e-6">:$rms_norm_eps,
    OptionalAttr<DenseF64ArrayAttr>:$rope_frequencies,
    OptionalAttr<F64Attr>:$rope_attention_factor
  );
  let results = (outs KHA_FloatTensor:$result,
                   Variadic<KHA_FloatTensor>:$updated_caches);
  let assemblyFormat = [{
    $input `,` $wq `,` $wk `,` $wv `,` $wo
    (`knock_q` `(` $tq^ `)`)?
    (`knock_k` `(` $tk^ `)`)?
    (`knock_v` `(` $tv^ `)`)?
    (`knock_v_mlp` `(` $v_up^ `,` $v_gate `,` $v_down `)`)?
    (`qk_norm` `(` $q_norm^ `,` $k_norm `)`)?
    (`qkv_bias` `(` $bq^ `,` $bk `,` $bv `)`)?
    (`o_bias` `(` $bo^ `)`)?
    (`positions` `(` $positions^ `)`)?
    (`attention_mask` `(` $attention_mask^ `)`)?
    (`kv_cache` `(` $k_cache^ `,` $v_cache `,` $cache_length `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True when the block decodes with a key/value cache.
    bool hasKVCache() { return getKCache() != nullptr; }
    /// d, the width of one head (wq's columns / H). Valid after verification.
    int64_t getHeadDim();
    /// D, the model width (the input's last dimension).
    int64_t getModelDim();
    /// True when the values go through the gated MLP knock.
    bool hasMlpKnock() { return getVUp() != nullptr; }
  }];
}

//===----------------------------------------------------------------------===//
// Mid-level ops
//===----------------------------------------------------------------------===//

def KHA_LinearKnockOp : KHA_TileablePerHeadOp<"linear_knock"> {
  let summary = "multiply every head by one shared d x d matrix";
  let description = [{
    For a per-head tensor `input` of shape `[B, L, N, d]` and a matrix
    `transform` of shape `[d, d]`, computes for every head n

        result[b, l, n, :] = input[b, l, n, :] * transform

    i.e. `X~_n = X_n T` with one `T` shared by all N heads (the KHA-Linear knock,
    Eqs. 5-7 of the paper). A constant identity `transform` folds away, and two
    knocks in a row compose into one (`kha-simplify-knocks`).

    ```mlir
    %k2 = kha.linear_knock %k, %tk : tensor<2x128x4x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins KHA_FloatTensor:$input, KHA_FloatTensor:$transform);
  let assemblyFormat = [{
    $input `,` $transform attr-dict `:` type($input) `,` type($transform)
  }];
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def KHA_MlpKnockOp : KHA_TileablePerHeadOp<"mlp_knock",
    [AllTypesMatch<["up", "gate", "down"]>]> {
  let summary = "the gated MLP shared by all value heads";
  let description = [{
    For a per-head tensor `input` `[B, L, N, d]` and three `[d, d]` matrices,
    computes for every head n

        result_n = 2 * ((X_n up) * sigmoid(X_n gate)) down

    (the KHA-MLP knock, Eq. 9). With `up = down = I` and `gate = 0` (the
    paper's initialisation) it is the identity, and folds away when those are
    constants.

    ```mlir
    %v2 = kha.mlp_knock %v, %up, %gate, %down
        : tensor<2x128x4x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins KHA_FloatTensor:$input, KHA_FloatTensor:$up,
                       KHA_FloatTensor:$gate, KHA_FloatTensor:$down);
  let assemblyFormat = [{
    $input `,` $up `,` $gate `,` $down attr-dict `:` type($input) `,` type($up)
  }];
  let hasFolder = 1;
}

def KHA_RMSNormOp : KHA_TileablePerHeadOp<"rms_norm"> {
  let summary = "RMSNorm over the last axis of every head";
  let description = [{
    For `input` `[B, L, N, d]` and `weight` `[d]`:

        result[b, l, n, :] = x / sqrt(mean(x^2) + epsilon) * weight

    where `x = input[b, l, n, :]`. Used for QK-norm; `epsilon` must be positive.

    ```mlir
    %q2 = kha.rms_norm %q, %w {epsilon = 1.0e-06 : f64}
        : tensor<2x?x8x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins KHA_FloatTensor:$input, KHA_FloatTensor:$weight,
                       F64Attr:$epsilon);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
}

def KHA_RoPEOp : KHA_PerHeadOp<"rope"> {
  let summary = "rotary position embedding, rotate-half form";
  let description = [{
    For `input` `[B, L, N, d]` with even d, position p = the index along L
    (0-based) or, with `positions` `[B, L]` (int64), `positions[b, l]`, and
    j in [0, d/2):

        f_j = theta^(-2j/d),  a = p * f_j
        out[j]       = x[j] cos a - x[j + d/2] sin a
        out[j + d/2] = x[j + d/2] cos a + x[j] sin a

    `theta` must be positive. A scaled RoPE (Hugging Face's `rope_scaling`:
    linear, dynamic NTK, llama3, YaRN) gives its frequencies instead:
    `frequencies` holds f_0 .. f_{d/2-1}, and `attention_factor` (YaRN's)
    multiplies cos a and sin a.

    ```mlir
    %q2 = kha.rope %q {theta = 1.0e+04 : f64} : tensor<2x128x8x64xf32>
    %k2 = kha.rope %k positions(%p : tensor<2x?xi64>) {theta = 1.0e+04 : f64}
        : tensor<2x?x2x64xf32>
    ```
  }];
  let arguments = (ins KHA_FloatTensor:$input,
                       Optional<KHA_I64Tensor>:$positions, F64Attr:$theta,
                       OptionalAttr<DenseF64ArrayAttr>:$frequencies,
                       OptionalAttr<F64Attr>:$attention_factor);
  let assemblyFormat = [{
    $input (`positions` `(` $positions^ `:` type($positions) `)`)? attr-dict
    `:` type($input)
  }];
}

def KHA_SDPAOp : KHA_Op<"sdpa", [
    AttrSizedOperandSegments,
    DestinationStyleOpInterface,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
        ["reifyResultShapes"]>,
    DeclareOpInterfaceMethods<TilingInterface,
        ["getLoopIteratorTypes", "getIterationDomain",
         "getTiledImplementation", "getResultTilePosition",
         "generateResultTileValue"]>]> {
  let summary = "scaled dot-product attention with H query and G key/value heads";
  let description = [{
    `query` `[B, L, H, d]`, `key` `[B, S, G, d]`, `value` `[B, S, G, dv]`,
    G dividing H. Query head h attends with key/value head `h / (H / G)` (MHA
    when G = H, MQA when G = 1, GQA otherwise):

        result[b, :, h, :] = softmax(Q_h K_g^T * scale + M) V_g     [B, L, H, dv]

    `M` is the optional additive `mask`, either `[L, S]` (shared by batch and
    heads) or `[B, H, L, S]`, where each of B, H and L may also be 1 (shared
    along that dimension: `[B, 1, 1, S]` masks padded keys), plus, with
    `causal`, -inf where key position j
    exceeds query position i (the upper-left aligned causal mask, as in
    PyTorch's `is_causal`). With `bottom_right` as well, query i sits at key
    position `i + S - L` (the last query sees every key), as when the queries
    are the newest L of S tokens in a cache. With `query_offset(%o)` instead,
    query i sits at key position `i + %o`: this is how a tile of query rows
    keeps its place on the diagonal. Rows that sit before key 0 attend no key
    and give zeros. `scale` must be positive; the attention block uses
    `1/sqrt(d)`.

    The op is in destination-passing style: `outs(%init)` is the tensor the
    result is written into, of the result's type. Every element is
    overwritten, so only its shape is read (`tensor.empty` is the usual
    destination); after bufferization the result lands in its buffer.

    The op is a structured op for tiling (`TilingInterface`). Its iteration
    domain is `(b, l, g, r, e)`, every loop parallel: batch, query row,
    key/value head, query head within the group (`h = g * H/G + r`) and
    value column. A tile takes its query rows, query heads and value columns,
    the key/value heads its query heads read, the mask's matching part, and,
    with `causal`, only the keys up to the tile's last row on the diagonal:
    the blocks above the diagonal are never computed. `kha-decompose-sdpa`
    turns a (tiled) op into an online softmax over key blocks in linalg.

    ```mlir
    %init = tensor.empty() : tensor<2x128x8x64xf32>
    %o = kha.sdpa %q, %k, %v outs(%init) {scale = 0.125 : f64, causal}
       : (tensor<2x128x8x64xf32>, tensor<2x128x2x64xf32>,
          tensor<2x128x2x64xf32>, tensor<2x128x8x64xf32>)
       -> tensor<2x128x8x64xf32>
    ```
  }];
  let arguments = (ins KHA_FloatTensor:$query, KHA_FloatTensor:$key,
                       KHA_FloatTensor:$value, Optional<KHA_FloatTensor>:$mask,
                       Optional<Index>:$query_offset,
                       KHA_FloatTensor:$init,
                       F64Attr:$scale, UnitAttr:$causal,
                       UnitAttr:$bottom_right);
  let results = (outs KHA_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `)`)?
    (`query_offset` `(` $query_offset^ `)`)? `outs` `(` $init `)` attr-dict
    `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// DestinationStyleOpInterface: the result is written into `init`.
    MutableOperandRange getDpsInitsMutable() { return getInitMutable(); }

    /// An empty destination `[B, L, H, dv]` for attention of `query`
    /// `[B, L, H, d]` over `value` `[B, S, G, dv]`.
    static Value createInit(OpBuilder &b, Location loc, Value query,
                            Value value);

    /// The key position of query row 0: `query_offset`, `S - L` when
    /// aligned bottom right, 0 otherwise. Meaningful with `causal`.
    OpFoldResult getCausalBase(OpBuilder &b);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernel-level ops
//===----------------------------------------------------------------------===//

def KHA_WarpgroupMmaRegisterAOp : Op<KHA_Dialect, "warpgroup_mma_register_a",
    [AllTypesMatch<["accumulator", "result"]>]> {
  let summary = "warpgroup MMA (sm_90a) with A from the threads' registers";
  let description = [{
    One warpgroup (128 threads, run convergently) computes
    `D = A B + C` with A `64 x K` and D `64 x N`, A held in the threads'
    registers and B in shared memory, as PTX's `wgmma.mma_async` with a
    register A operand does; upstream `nvgpu.warpgroup.mma` takes A from
    shared memory only. kha's Hopper attention kernel multiplies its
    probabilities P, already in registers, by V with it.

    - `a` is this thread's fragment of A: `K / 2` elements, eight per k16
      step in the PTX ISA's register layout of A (thread `l` of warp `w`,
      `g = l / 4`, `t = l % 4`: elements 0-1 are row `16 w + g`, columns
      `2 t`, `2 t + 1` of the step; 2-3 the same columns of row `g + 8`;
      4-7 the same for columns `2 t + 8`, `2 t + 9`). This is the order of
      an f32 accumulator's registers, so the accumulator of an `N = K` MMA
      rounded to f16/bf16 is a valid `a`.
    - `descriptorB` gives the start and the 128-byte swizzle of the whole
      `K x N` B tile in shared memory, laid out as TMA boxes with rows of
      128 bytes: K-major (each of the N rows holds K contiguous elements,
      K <= 64), or with `transposeB`, N-major: boxes of 64 columns, each K
      rows of 128 bytes, one after the other (the op sets the descriptor's
      leading byte offset to that spacing, K * 128 bytes). Step `s` of K
      uses the descriptor advanced by `32 s` bytes (K-major) or `16 s` rows
      of 128 bytes (N-major).
    - `accumulator` and `result` are this thread's `N / 2` registers of C
      and D in the wgmma accumulator layout (register `4 j + i` is row
      `16 w + g + 8 (i / 2)`, column `8 j + 2 t + i % 2`).

    The op fences the registers it reads (`wgmma.fence`), commits its steps
    as one group and waits until at most `waitGroup` groups are in flight;
    with `waitGroup` > 0 the result may only be read after a later wait has
    retired the group.

    ```mlir
    %d = kha.warpgroup_mma_register_a %p, %descV, %o {transposeB}
       : vector<32xbf16>,
         !nvgpu.warpgroup.descriptor<tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>>,
         vector<32xf32>
    ```
  }];
  let arguments = (ins VectorOfRankAndType<[1], [F16, BF16]>:$a,
                       NVGPU_WarpgroupMatrixDescriptor:$descriptorB,
                       VectorOfRankAndType<[1], [F32]>:$accumulator,
                       UnitAttr:$transposeB,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>,
                                         "0">:$waitGroup);
  let results = (outs VectorOfRankAndType<[1], [F32]>:$result);
  let assemblyFormat = [{
    $a `,` $descriptorB `,` $accumulator attr-dict `:` type($a) `,`
    type($descriptorB) `,` type($accumulator)
  }];
  let hasVerifier = 1;
}

#endif // KHA_DIALECT_KHA_IR_KHAOPS_TD
