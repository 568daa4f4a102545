/*===- kha-c/KHA.h - C API of the kha dialect, passes and compiler -*- C
-*-===*\
|*                                                                            *|
|* In the style of mlir-c: the dialect handle, pass and pipeline registration,*|
|* the layer-config importer, and compilation of a module to a shared library.*|
|* libKHACAPI.so also carries MLIR's own IR and pass C API (mlir-c/IR.h,     *|
|* mlir-c/Pass.h), so one library is all a binding needs.                    *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef KHA_C_KHA_H
#define KHA_C_KHA_H

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// mlirGetDialectHandle__kha__(): insert or load the kha dialect.
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(KHA, kha);

/// Registers the kha passes and named pipelines (kha-cpu-pipeline, ...) with
/// the global registry, so that mlirParsePassPipeline accepts them.
MLIR_CAPI_EXPORTED void khaRegisterPasses(void);

/// Inserts the upstream dialects and extensions kha IR and its lowerings use,
/// and the kha dialect, into `registry`.
MLIR_CAPI_EXPORTED void khaRegisterAllDialects(MlirDialectRegistry registry);

/// A context with every dialect of khaRegisterAllDialects registered.
MLIR_CAPI_EXPORTED MlirContext khaContextCreate(void);

/// Builds the module of a layer configuration (JSON text,
/// docs/layer-config.md): the public function @kha_layer with one
/// kha.attention_block. With a non-empty `weightsDir`, the weights are read
/// from <dir>/<name>.npy, or from a file ending in .safetensors holding a
/// tensor per argument name, and embedded as constants. Returns a null module
/// after emitting a diagnostic on `context` (located in `filename`) when
/// anything is wrong.
MLIR_CAPI_EXPORTED MlirModule khaImportLayerConfig(MlirContext context,
                                                   MlirStringRef json,
                                                   MlirStringRef filename,
                                                   MlirStringRef weightsDir);

/// Parses and verifies MLIR text as kha-opt does: input whose brackets nest
/// more than 4096 levels deep is refused with a located error before parsing,
/// and the parser runs on a large stack. Returns a null module after emitting
/// diagnostics on `context` (located in `filename`) when the text is invalid.
MLIR_CAPI_EXPORTED MlirModule khaModuleParse(MlirContext context,
                                             MlirStringRef text,
                                             MlirStringRef filename);

/// What kha-compile's flags set.
typedef struct {
  MlirStringRef target;       ///< "cpu" or "cuda"
  MlirStringRef cpu;          ///< "native" or an LLVM CPU name
  bool vectorize;             ///< false: plain loops
  bool foldKnocks;            ///< kha-fold-knock
  bool fuseKnockMlp;          ///< kha-fuse-knock-mlp
  MlirStringRef scheduleFile; ///< "" for the built-in CPU schedule
  MlirStringRef cudaChip;     ///< "sm_80" ... "sm_90a" (target "cuda")
  MlirStringRef cudaFormat;   ///< "isa", "bin" or "fatbin" (target "cuda")
  bool cudaOnHost;            ///< target "cuda": kernels run on the host CPU
  bool prepareWeights;        ///< kha-outline-weight-preparation
  bool threads;               ///< target "cpu": tiles on all cores (libomp)
} KhaCompileOptions;

/// kha-compile's defaults: cpu, native, everything on (threads too); sm_90a,
/// isa, on the GPU.
MLIR_CAPI_EXPORTED KhaCompileOptions khaCompileOptionsGetDefault(void);

/// Lowers `module` (in place) and writes a shared library to `outputPath`;
/// failures are emitted as diagnostics on the module's context.
MLIR_CAPI_EXPORTED MlirLogicalResult
khaCompileModule(MlirModule module, const KhaCompileOptions *options,
                 MlirStringRef outputPath);

#ifdef __cplusplus
}
#endif

#endif // KHA_C_KHA_H
