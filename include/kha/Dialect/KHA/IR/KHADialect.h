//===- KHADialect.h - the kha dialect -----------------------------*- C++ -*-===//

#ifndef KHA_DIALECT_KHA_IR_KHADIALECT_H
#define KHA_DIALECT_KHA_IR_KHADIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "kha/Dialect/KHA/IR/KHAOpsDialect.h.inc"

#endif // KHA_DIALECT_KHA_IR_KHADIALECT_H
