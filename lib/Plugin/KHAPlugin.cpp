//===- KHAPlugin.cpp - the kha dialect and passes for any *-opt tool ------===//
//
// A shared library that mlir-opt (and any tool built on MlirOptMain) loads
// with --load-dialect-plugin to parse kha IR and --load-pass-plugin to run
// the kha passes and pipelines.
//
//===----------------------------------------------------------------------===//

#include "kha/InitAll.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK ::mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "KHA", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            mlir::kha::registerAllKHADialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK ::mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "KHA", LLVM_VERSION_STRING,
          []() { mlir::kha::registerAllKHAPasses(); }};
}
