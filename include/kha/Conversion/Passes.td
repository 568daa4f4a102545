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

#endif // KHA_CONVERSION_PASSES_TD
