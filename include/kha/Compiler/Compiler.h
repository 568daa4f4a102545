//===- Compiler.h - compile kha modules to shared libraries -----*- C++ -*-===//
//
// What kha-compile does, as a library: lower a module, describe its public
// functions for the runner, emit an object for the host and link a shared
// library.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_COMPILER_COMPILER_H
#define KHA_COMPILER_COMPILER_H

#include "kha/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace mlir {
class PassManager;

namespace kha {

struct CompileOptions {
  /// "cpu" (the host) or "cuda" (NVIDIA GPUs).
  std::string target = "cpu";
  /// The host CPU to tune for: "native" or an LLVM CPU name.
  std::string cpu = "native";
  /// --target=cpu: the CPU pipeline's settings; `vectorBits` and `bf16Dot`
  /// are taken from the target machine's features and `bf16Dot` below.
  CPUPipelineSettings cpuPipeline;
  /// --target=cpu: bf16 products as AVX512-BF16 dot products. "auto": where
  /// the target CPU has the feature; "none": never (f32 products of widened
  /// operands); "emulate": the dot products' code with the instruction
  /// emulated in f32 vector arithmetic, which runs on any CPU (to check it);
  /// "widen": the same bf16 weight panels, each dot product two f32 FMAs on
  /// the pairs widened in registers; "avx512bf16": required (an error for a
  /// target without the feature).
  std::string bf16Dot = "auto";
  /// --target=cuda: the GPU pipeline's settings. `hostEmulation` runs the
  /// kernels on the host CPU instead (threads as loops), giving a host
  /// library with host buffers: the GPU path checked without a GPU. PTX
  /// output takes the `isa` format whatever `format` says.
  GPUPipelineSettings gpuPipeline;
  /// Called on the lowering's pass manager before it runs (a tool applies
  /// its --mlir-* options, timing and IR printing, here); a failure stops
  /// the compilation.
  std::function<LogicalResult(PassManager &)> configurePassManager;
};

/// The name of the NUL-terminated string global every compiled library holds:
/// the manifest describing its public functions (docs/runtime.md).
constexpr const char *kManifestSymbol = "kha_manifest";

/// Groups of (argument, dimension) of a function whose dynamic sizes must be
/// equal: the manifest's `same` lines.
using EqualSizes = SmallVector<SmallVector<std::pair<unsigned, int64_t>>>;

/// The equal dynamic sizes of `func`'s arguments that its kha ops require.
EqualSizes equalDynamicSizes(func::FuncOp func);

/// A cache length argument and the sizes it must fit between: the manifest's
/// `fits` lines (0 <= length <= capacity - new tokens).
struct CacheBound {
  unsigned length;                       ///< the i64 argument
  std::pair<unsigned, int64_t> tokens;   ///< (argument, dimension): L
  std::pair<unsigned, int64_t> capacity; ///< (argument, dimension): S
};

/// The cache lengths of `func`'s attention blocks that are its arguments.
SmallVector<CacheBound> cacheBounds(func::FuncOp func);

/// What a caller must check of `func`'s argument sizes.
struct SizeRelations {
  EqualSizes equal;
  SmallVector<CacheBound> cacheBounds;
};
SizeRelations sizeRelations(func::FuncOp func);

/// The manifest of `module`'s public functions for `device`. Fails, with a
/// diagnostic, when a public function has an argument or result the runner
/// cannot pass (anything but ranked tensors or memrefs of f32, f16, bf16,
/// i64, and i64 scalars). `known` (by function name) replaces the derived
/// `same` and `fits` relations of those functions and of their prepared
/// functions: kha-compile derives them before it expands the kha ops, whose
/// relations the expansion does not keep.
FailureOr<std::string>
buildManifest(ModuleOp module, StringRef device,
              const llvm::StringMap<SizeRelations> *known = nullptr);

/// Makes each exported `_mlir_ciface_<f>` of `module` check its argument
/// descriptors against the manifest text's description of f (static sizes,
/// offset 0, contiguous strides, the `same` groups) before running f; a
/// failed check zeroes the results and sets the message the exported
/// `const char *kha_last_error(void)` returns (docs/runtime.md).
LogicalResult addEntryChecks(llvm::Module &module, const std::string &manifest,
                             std::string &error);

/// What compileModule writes.
enum class OutputKind {
  SharedLibrary, ///< a self-contained .so
  LLVMIR,        ///< the optimised host LLVM IR
  PTX,           ///< --target=cuda: the kernels' PTX
};

/// Lowers `module` (in place) and writes a self-contained shared library to
/// `outputPath` (or, as `kind` asks, the host LLVM IR or the kernels' PTX).
/// A library for "cuda" embeds its kernels and links kha's CUDA runtime
/// (libKHACudaRuntime.a, found next to this library's lib/ directory or
/// through $KHA_CUDA_RUNTIME); its memref arguments are device pointers.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            StringRef outputPath,
                            OutputKind kind = OutputKind::SharedLibrary);

} // namespace kha
} // namespace mlir

#endif // KHA_COMPILER_COMPILER_H
