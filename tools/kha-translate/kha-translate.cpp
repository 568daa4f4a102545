//===- kha-translate.cpp - mlir-translate with the kha importers ----------===//

#include "kha/Target/LayerConfig/LayerConfig.h"

#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::registerAllTranslations();
  mlir::kha::registerImportLayerConfigTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "kha translation driver\n"));
}
