//===- IRFuzzer.cpp - libFuzzer target: parsing and verifying kha IR ------===//
//
// Any text, as kha-opt takes it (refused when nested deeper than its limit,
// parsed on a large stack): MLIR's parser with the kha dialect (compiled
// into this target with coverage and the sanitizers) either reports an
// error or returns a module; a module that verifies prints and parses back
// to one that verifies. Whatever the input, the verifiers must not crash (a
// head count of 0, sizes that overflow, ...).
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Support/InputGuard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    DialectRegistry registry;
    registry.insert<kha::KHADialect, func::FuncDialect, arith::ArithDialect,
                    tensor::TensorDialect, linalg::LinalgDialect>();
    auto *ctx = new MLIRContext(registry, MLIRContext::Threading::DISABLED);
    ctx->loadAllAvailableDialects();
    return ctx;
  }();
  ScopedDiagnosticHandler quiet(context,
                                [](Diagnostic &) { return success(); });
  // MLIR's lexer reads source buffers up to a terminating NUL, which files
  // have and libFuzzer's input does not: a copy adds it.
  std::string source(reinterpret_cast<const char *>(data), size);
  StringRef text(source);
  // kha-opt's limit (tools/kha-opt) and, as there, a large stack.
  if (kha::findExcessiveNesting(text, 4096))
    return 0;
  return kha::runWithLargeStack(
      [&] {
        ParserConfig config(context, /*verifyAfterParse=*/true);
        OwningOpRef<ModuleOp> module =
            parseSourceString<ModuleOp>(text, config);
        if (!module)
          return 0;
        // A verified module round-trips through its printed form.
        std::string printed;
        llvm::raw_string_ostream os(printed);
        module->print(os);
        if (!parseSourceString<ModuleOp>(printed, config))
          std::abort();
        return 0;
      },
      256u << 20);
}
