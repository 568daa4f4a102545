//===- kha-opt.cpp - mlir-opt with the kha dialect and passes -------------===//

#include "kha/InitAll.h"
#include "kha/Support/InputGuard.h"
#include "kha/Support/ToolVersion.h"

#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

/// Deeper bracket nesting than any real IR; the parser handles it on the large
/// stack the tool runs on.
static constexpr unsigned kMaxNesting = 4096;

int main(int argc, char **argv) {
  mlir::kha::registerVersionPrinter();
  mlir::kha::registerKHAAndUpstreamPasses();

  mlir::DialectRegistry registry;
  mlir::kha::registerKHAPipelineDependencies(registry);
  // gpu-module-to-binary translates kernels to LLVM IR.
  mlir::registerAllToLLVMIRTranslations(registry);

  return mlir::kha::runWithLargeStack([&] {
    auto [input, output] = mlir::registerAndParseCLIOptions(
        argc, argv, "kha optimizer driver\n", registry);
    if (!mlir::kha::checkInputNesting(input, kMaxNesting))
      return 1;
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, input, output, registry));
  });
}
