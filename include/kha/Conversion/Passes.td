//===- Passes.td - kha conversion passes -------------------*- tablegen -*-===//

#ifndef KHA_CONVERSION_PASSES_TD
#define KHA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def KHALowerToLinalgPass : Pass<"kha-lower-to-linalg"> {
  let summary = "lower kha ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Expands any `kha.attention_block` (as `kha-expand-attention-block` does)
    and lowers every mid-level kha op to linalg on tensors:

    - `kha.linear_knock`: the heads reshaped to `[B*L*N, d]` times the shared
      matrix, one `linalg.matmul`;
    - `kha.mlp_knock`: two matmuls (up, gate), an elementwise
      `2 * u * sigmoid(g)`, a matmul by down, all accumulated in f32;
    - `kha.rms_norm`: a sum-of-squares reduction and an elementwise scale;
    - `kha.rope`: cos/sin tables `[L, d/2]` computed once in f64 (so that
      angles stay exact at long positions), then an elementwise rotation of
      the two halves of each head;
    - `kha.sdpa`: query heads grouped by the key/value head they read
      (`[B*G, r*L, d]`, without copying K or V per query head), scores as a
      batched matmul, a numerically stable softmax (the row maximum is
      subtracted), the product with V and a division by the row sum; the
      causal mask is computed from iteration indices, never materialised. A
      row whose scores are all -inf (fully masked) produces zeros, not NaN.

    f16 and bf16 operands are extended to f32 for every reduction and
    rounded back once per op.

    ```mlir
    %o = kha.rms_norm %q, %w {epsilon = 1.0e-6 : f64} : tensor<1x4x2x8xf32>, tensor<8xf32>
    // becomes
    %ss = linalg.generic {... iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ...
    %o = linalg.generic {...} ins(%q, %ss, %w : ...) outs(...)
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
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
  }];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"0",
           "lanes per (query head, row): 1, 2, 4, ... dividing d, dv and 32 (0: choose)">,
    Option<"rows", "rows", "int64_t", /*default=*/"0",
           "query rows per block (0: choose)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
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

    Accumulating matmuls and other indexing maps are left to the generic
    mapping of the GPU pipeline.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

#endif // KHA_CONVERSION_PASSES_TD
