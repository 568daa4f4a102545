//===- Compiler.h - compile kha modules to shared libraries -------*- C++ -*-===//
//
// What kha-compile does, as a library: lower a module, describe its public
// functions for the runner, emit an object for the host and link a shared
// library.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_COMPILER_COMPILER_H
#define KHA_COMPILER_COMPILER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
namespace kha {

struct CompileOptions {
  /// "cpu" (the host) is the only target this library builds so far.
  std::string target = "cpu";
  /// The host CPU to tune for: "native" or an LLVM CPU name.
  std::string cpu = "native";
  /// Tile and vectorise (false: plain loops).
  bool vectorize = true;
  /// Fold linear knocks into the projection weights.
  bool foldKnocks = true;
  /// Fuse MLP knocks into the value projection.
  bool fuseKnockMlp = true;
  /// A transform script replacing the built-in CPU schedule ("": built-in).
  std::string scheduleFile;
};

/// The name of the NUL-terminated string global every compiled library holds:
/// the manifest describing its public functions (docs/runtime.md).
constexpr const char *kManifestSymbol = "kha_manifest";

/// The manifest of `module`'s public functions for `device`. Fails, with a
/// diagnostic, when a public function has an argument or result the runner
/// cannot pass (anything but ranked tensors or memrefs of f32, f16, bf16).
FailureOr<std::string> buildManifest(ModuleOp module, StringRef device);

/// Lowers `module` (in place) and writes a self-contained shared library to
/// `outputPath`. `emitLLVMIR` writes the optimised LLVM IR there instead.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            StringRef outputPath, bool emitLLVMIR = false);

} // namespace kha
} // namespace mlir

#endif // KHA_COMPILER_COMPILER_H
