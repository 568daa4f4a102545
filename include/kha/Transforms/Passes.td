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
    compiled libraries expose (contract.md section 3). Private functions are
    left alone.
  }];
}

def KHAMemRefCopyToLinalgPass : Pass<"kha-memref-copy-to-linalg"> {
  let summary = "rewrite memref.copy as linalg.copy";
  let description = [{
    Bufferisation copies buffers with `memref.copy`, which lowers to a call
    of `memrefCopy` from MLIR's runner-utils library for anything but the
    simplest layouts. Compiled libraries must be self-contained, so copies
    become `linalg.copy` and are lowered (and vectorised) like any other
    linalg op.

    ```mlir
    memref.copy %a, %b : memref<?x8xf32> to memref<?x8xf32, strided<[16, 1]>>
    // becomes
    linalg.copy ins(%a : memref<?x8xf32>) outs(%b : memref<?x8xf32, strided<[16, 1]>>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // KHA_TRANSFORMS_PASSES_TD
