//===- KHADialect.cpp - the kha dialect -----------------------------------===//

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"

using namespace mlir;
using namespace mlir::kha;

#include "kha/Dialect/KHA/IR/KHAOpsDialect.cpp.inc"

void KHADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kha/Dialect/KHA/IR/KHAOps.cpp.inc"
      >();
}
