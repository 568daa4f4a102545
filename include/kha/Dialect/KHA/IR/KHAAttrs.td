//===- KHAAttrs.td - kha dialect attributes ----------------*- tablegen -*-===//
//
// The GPU kernel configuration: what the kernel generators of KHAToGPU
// choose for an op and the chip, or follow where it is written on the op.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_DIALECT_KHA_IR_KHAATTRS_TD
#define KHA_DIALECT_KHA_IR_KHAATTRS_TD

include "kha/Dialect/KHA/IR/KHADialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def KHA_MmaKindSimt : I32EnumAttrCase<"simt", 0>;
def KHA_MmaKindMmaSync : I32EnumAttrCase<"mma_sync", 1>;
def KHA_MmaKindWgmma : I32EnumAttrCase<"wgmma", 2>;
def KHA_MmaKind : I32EnumAttr<"MmaKind", "the instructions a GPU kernel multiplies with",
                              [KHA_MmaKindSimt, KHA_MmaKindMmaSync,
                               KHA_MmaKindWgmma]> {
  let cppNamespace = "::mlir::kha";
  let genSpecializedAttr = 0;
}

def KHA_GPUKernelAttr : AttrDef<KHA_Dialect, "GPUKernel"> {
  let mnemonic = "gpu_kernel";
  let summary = "the configuration of the GPU kernel an op becomes";
  let description = [{
    The kernel `kha-sdpa-to-gpu` and `kha-matmul-to-gpu` generate for an
    op: chosen by them from the op, its shapes and element types and the
    target chip (`kha-gpu-report-kernels` shows the choice as a remark), or
    written on the op by hand as a `kha.gpu_kernel` attribute, which they
    then follow (an error where it does not fit the op). No pass writes
    the attribute.

    - `mma`: `simt` (f32 fused multiply-adds on the CUDA cores, the fallback
      for any shape), `mma_sync` (tensor cores: `mma.sync.m16n8k16` with
      f16/bf16 operands and f32 accumulation, operands through `ldmatrix`,
      global-to-shared copies through `cp.async`) or `wgmma` (Hopper,
      sm_90a: warpgroup MMAs `wgmma.mma_async` reading both operands from
      shared memory, which TMA loads fill with a 128-byte swizzle, completing
      on mbarriers; `padding` is 0, the swizzle takes its place);
    - `tile_m`, `tile_n`, `tile_k`: for a matmul, the block's tile of C
      (`tile_m x tile_n`) and the K step staged per pipeline stage; for
      attention, the query rows of a block (`tile_m`), the keys of a K/V
      tile (`tile_n`) and the head dim (`tile_k`);
    - `warps`: warps per block; for `wgmma`, a warpgroup (4 warps) per 64
      rows of the tile, plus 4 where one more warpgroup is a producer (warp
      specialisation: it issues the TMA loads into the stages while the
      other warpgroups compute, each side waiting on mbarriers);
    - `stages`: shared-memory buffers per staged operand (2: double
      buffering, the copy of the next tile overlapping the math of this one);
    - `padding`: elements added to each shared-memory row, so that the eight
      16-byte rows an `ldmatrix` reads fall into distinct bank groups.

    For `simt` the tiles, warps, stages and padding are 0: the SIMT
    generators choose their own shapes.

    ```mlir
    %o = kha.sdpa %q, %k, %v outs(%init) {causal, scale = 0.125 : f64,
        kha.gpu_kernel = #kha.gpu_kernel<mma = mma_sync, tile_m = 64,
            tile_n = 64, tile_k = 64, warps = 4, stages = 2, padding = 8>} : ...
    ```
  }];
  let parameters = (ins EnumParameter<KHA_MmaKind>:$mma, "int64_t":$tile_m,
                        "int64_t":$tile_n, "int64_t":$tile_k, "int64_t":$warps,
                        "int64_t":$stages, "int64_t":$padding);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    // `name` ("kha.gpu_kernel") is also the attribute that holds a
    // configuration written on an op.
    bool isTensorCore() const { return getMma() != MmaKind::simt; }
  }];
}

#endif // KHA_DIALECT_KHA_IR_KHAATTRS_TD
