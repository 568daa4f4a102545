//===- kha-lsp-server.cpp - MLIR language server with the kha dialect -----===//
//
// mlir-lsp-server that also knows the kha dialect: editors get parse and
// verifier diagnostics, hover, go-to-definition and symbols for .mlir files
// with kha ops.
//
//===----------------------------------------------------------------------===//

#include "kha/InitAll.h"
#include "kha/Support/InputGuard.h"
#include "kha/Support/ToolVersion.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-lsp-server/MlirLspServerMain.h"

int main(int argc, char **argv) {
  mlir::kha::registerVersionPrinter();
  mlir::DialectRegistry registry;
  mlir::kha::registerKHAPipelineDependencies(registry);
  // MLIR's parser (and the JSON reader) recurse once per nesting level: on a
  // large stack, deeply nested documents are diagnosed instead of crashing
  // the server (kha-opt and kha-translate refuse them up front).
  return mlir::kha::runWithLargeStack([&] {
    return mlir::failed(mlir::MlirLspServerMain(argc, argv, registry)) ? 1 : 0;
  });
}
