//===- LayerConfigFuzzer.cpp - libFuzzer target: layer configurations -----===//
//
// Any text: parseLayerConfig either reports an error or returns a
// configuration whose @kha_layer module builds and verifies.
//
//===----------------------------------------------------------------------===//

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Target/LayerConfig/LayerConfig.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdlib>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    auto *ctx = new MLIRContext(MLIRContext::Threading::DISABLED);
    ctx->loadDialect<kha::KHADialect, func::FuncDialect, arith::ArithDialect,
                     tensor::TensorDialect>();
    return ctx;
  }();
  bool reported = false;
  ScopedDiagnosticHandler quiet(context, [&](Diagnostic &diag) {
    reported |= diag.getSeverity() == DiagnosticSeverity::Error;
    return success();
  });
  StringRef text(reinterpret_cast<const char *>(data), size);
  FailureOr<kha::LayerConfig> config =
      kha::parseLayerConfig(text, "fuzz.json", context);
  if (failed(config)) {
    if (!reported)
      std::abort(); // refused without an error
    return 0;
  }
  OwningOpRef<ModuleOp> module =
      kha::buildLayerModule(*config, context, UnknownLoc::get(context));
  if (!module || failed(verify(*module)))
    std::abort(); // an accepted configuration must build a valid layer
  return 0;
}
