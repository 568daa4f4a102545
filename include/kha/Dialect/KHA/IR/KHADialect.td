//===- KHADialect.td - the kha dialect ---------------------*- tablegen -*-===//
//
// The dialect that states knocking-heads attention (arXiv 2510.23052).
//
//===----------------------------------------------------------------------===//

#ifndef KHA_DIALECT_KHA_IR_KHADIALECT_TD
#define KHA_DIALECT_KHA_IR_KHADIALECT_TD

include "mlir/IR/OpBase.td"

def KHA_Dialect : Dialect {
  let name = "kha";
  let cppNamespace = "::mlir::kha";
  let summary = "Knocking-heads attention: a layer op and the ops it expands into";
  let description = [{
    The `kha` dialect represents knocking-heads attention (KHA, arXiv 2510.23052)
    on tensors. `kha.attention_block` states a whole attention layer: Q/K/V
    projections, the knocks (a matrix or a gated MLP shared by all heads),
    optional QK-RMSNorm and RoPE, scaled dot-product attention over H query heads
    and G key/value heads, and the output projection.

    `kha-expand-attention-block` rewrites it into `linalg.matmul` projections and
    the mid-level ops of this dialect, each of which means something alone:
    `kha.linear_knock`, `kha.mlp_knock`, `kha.rms_norm`, `kha.rope` and
    `kha.sdpa`. Mid-level ops work on per-head tensors laid out as
    `[batch, seq, heads, head_dim]`, which is a plain reshape of a projection's
    `[batch * seq, heads * head_dim]` result.

    Element types are `f32`, `f16` or `bf16`; `f16`/`bf16` are accumulated in
    `f32` by the lowerings.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let useDefaultAttributePrinterParser = 1;
  let hasRegionArgAttrVerify = 1;
  let hasOperationAttrVerify = 1;
}

#endif // KHA_DIALECT_KHA_IR_KHADIALECT_TD
