//===- Cost.h - FLOPs and bytes of kha and linalg ops -----------*- C++ -*-===//
//
// The cost model of `--kha-cost-report` (docs/cost-model.md): floating-point
// operations and bytes moved per op, for static shapes.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_ANALYSIS_COST_H
#define KHA_ANALYSIS_COST_H

#include "mlir/IR/Operation.h"

#include <cstdint>
#include <optional>

namespace mlir {
namespace kha {

struct OpCost {
  /// Floating-point operations: a multiply-add counts 2.
  int64_t flops = 0;
  /// Bytes of the operands read plus the results written (each once).
  int64_t bytes = 0;

  OpCost &operator+=(const OpCost &other) {
    flops += other.flops;
    bytes += other.bytes;
    return *this;
  }
};

/// The cost of `op`, or nullopt when the model does not cover it or a shape it
/// needs is dynamic. Covered: every kha op and every linalg structured op (by
/// counting the float ops of its body once per iteration).
std::optional<OpCost> estimateCost(Operation *op);

} // namespace kha
} // namespace mlir

#endif // KHA_ANALYSIS_COST_H
