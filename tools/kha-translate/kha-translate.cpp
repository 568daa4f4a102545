//===- kha-translate.cpp - mlir-translate with the kha importers ----------===//

#include "kha/Support/InputGuard.h"
#include "kha/Support/ToolVersion.h"
#include "kha/Target/LayerConfig/LayerConfig.h"

#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "llvm/ADT/StringRef.h"

static constexpr unsigned kMaxNesting = 4096;

int main(int argc, char **argv) {
  mlir::kha::registerVersionPrinter();
  mlir::registerAllTranslations();
  mlir::kha::registerImportLayerConfigTranslation();

  // mlirTranslateMain parses the command line itself; the input is the
  // positional argument (anything not an option nor the value of -o).
  bool sawInput = false;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    if (arg == "-o") {
      ++i;
      continue;
    }
    if (arg.starts_with("-") && arg != "-")
      continue;
    sawInput = true;
    if (!mlir::kha::checkInputNesting(arg, kMaxNesting))
      return 1;
  }
  if (!sawInput && !mlir::kha::checkInputNesting("-", kMaxNesting))
    return 1;
  return mlir::kha::runWithLargeStack([&] {
    return mlir::failed(
        mlir::mlirTranslateMain(argc, argv, "kha translation driver\n"));
  });
}
