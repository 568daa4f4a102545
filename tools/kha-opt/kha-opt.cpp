//===- kha-opt.cpp - mlir-opt with the kha dialect and passes -------------===//

#include "kha/InitAll.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::kha::registerAllKHAPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::kha::registerAllKHADialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "kha optimizer driver\n", registry));
}
