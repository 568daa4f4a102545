//===- InitAll.cpp - register everything kha provides ---------------------===//

#include "kha/InitAll.h"

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Pipelines/Pipelines.h"
#include "kha/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"

using namespace mlir;

void kha::registerAllKHADialects(DialectRegistry &registry) {
  registry.insert<KHADialect>();
}

void kha::registerAllKHAPasses() {
  registerKHAPasses();
  registerKHAConversionPasses();
  registerKHACodegenPasses();
  registerKHAPipelines();
}

void kha::registerKHAPipelineDependencies(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllKHADialects(registry);
}

void kha::registerKHAAndUpstreamPasses() {
  registerAllPasses();
  registerAllKHAPasses();
}
