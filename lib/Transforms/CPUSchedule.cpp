//===- CPUSchedule.cpp - tile and vectorise for the host CPU --------------===//
//
// The schedule is a transform-dialect script, applied through the transform
// interpreter; docs/pipeline.md explains its choices and how they were
// measured on this class of CPU.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Func/TransformOps/FuncTransformOps.h"
#include "mlir/Dialect/Linalg/TransformOps/DialectExtension.h"
#include "mlir/Dialect/SCF/TransformOps/SCFTransformOps.h"
#include "mlir/Dialect/Tensor/TransformOps/TensorTransformOps.h"
#include "mlir/Dialect/Transform/IR/TransformOps.h"
#include "mlir/Dialect/Transform/Transforms/TransformInterpreterUtils.h"
#include "mlir/Dialect/Vector/TransformOps/VectorTransformOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHACPUSCHEDULEPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

/// The built-in schedule; buildSchedule() fills in the row-wise sequences,
/// one per rank.
static const char kScheduleTemplate[] = R"mlir(
module attributes {transform.with_named_sequence} {
  // Matmuls: 8 x 32 register tiles. Loops whose trip count the tile does not
  // divide are peeled, so full tiles are static and vectorise without masks;
  // the partial tiles at the edges stay scalar.
  transform.named_sequence @peel(%loop: !transform.any_op {transform.readonly}) {
    %for = transform.cast %loop : !transform.any_op to !transform.op<"scf.for">
    %main, %rest = transform.loop.peel %for : (!transform.op<"scf.for">) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
  transform.named_sequence @tile_matmul(%mm: !transform.any_op {transform.consumed}) {
    // Cache tiles of 64 rows x 512 columns x 256 of K, visited n, k, m: a
    // 256 x 32 panel of B (32 KiB) stays in L1 while the rows stream past.
    %c, %cl0, %cl1, %cl2 = transform.structured.tile_using_for %mm tile_sizes [64, 512, 256] interchange = [1, 2, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    // Cache tiles are not peeled: a partial one is register-tiled below, and
    // peeling a loop shorter than one tile would move all its work into the
    // remainder, unregister-tiled.
    %t, %l0, %l1 = transform.structured.tile_using_for %c tile_sizes [8, 32, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(suppress) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_batch_matmul(%mm: !transform.any_op {transform.consumed}) {
    %t, %lb, %l0, %l1 = transform.structured.tile_using_for %mm tile_sizes [1, 8, 32, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(suppress) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }
  // A full tile: K step 1, one vector.contract per step (outer-product FMAs
  // after lowering), the 8 x 32 accumulator hoisted out of the K loop.
  transform.named_sequence @vectorize_and_hoist(%t: !transform.any_op {transform.consumed},
                                                %lk: !transform.any_op {transform.readonly}) {
    transform.structured.vectorize %t {create_named_contraction} : !transform.any_op
    // Canonicalise first: hoisting needs the accumulator's read and write to
    // address the loop's iteration argument directly.
    %f = transform.get_parent_op %lk {op_name = "func.func"} : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %f {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.loop.hoist_loop_invariant_subsets %lk : !transform.any_op
    transform.yield
  }
  transform.named_sequence @vectorize_matmul(%mm: !transform.any_op {transform.consumed}) {
    %t, %lk = transform.structured.tile_using_for %mm tile_sizes [0, 0, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize_and_hoist failures(propagate) (%t, %lk) : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_batch_matmul(%mm: !transform.any_op {transform.consumed}) {
    %t, %lk = transform.structured.tile_using_for %mm tile_sizes [0, 0, 0, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize_and_hoist failures(propagate) (%t, %lk) : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }
  // Attention: the normalisation (root) tiled by 16 rows, and its producer
  // chain fused into the row loop, so scores and probabilities live in cache.
  transform.named_sequence @fuse_attention(%root: !transform.any_op {transform.consumed}) {
    %pv = transform.get_producer_of_operand %root[0] : (!transform.any_op) -> !transform.any_op
    %sum = transform.get_producer_of_operand %root[1] : (!transform.any_op) -> !transform.any_op
    %e = transform.get_producer_of_operand %pv[0] : (!transform.any_op) -> !transform.any_op
    %max = transform.get_producer_of_operand %e[1] : (!transform.any_op) -> !transform.any_op
    %scores = transform.get_producer_of_operand %e[0] : (!transform.any_op) -> !transform.any_op
    %tiled, %ln, %lr = transform.structured.tile_using_for %root tile_sizes [1, 16, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    %f1, %l1 = transform.structured.fuse_into_containing_op %pv into %lr : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    %f3, %l3 = transform.structured.fuse_into_containing_op %sum into %l1 : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    // CSE merges the identical slices of e taken by its two users, so that e
    // is fused (computed) once per tile; likewise for the scores below.
    %fn3 = transform.get_parent_op %l3 {op_name = "func.func"} : (!transform.any_op) -> !transform.any_op
    transform.apply_cse to %fn3 : !transform.any_op
    %f5, %l5 = transform.structured.fuse_into_containing_op %e into %l3 : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    %f6, %l6 = transform.structured.fuse_into_containing_op %max into %l5 : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    %fn6 = transform.get_parent_op %l6 {op_name = "func.func"} : (!transform.any_op) -> !transform.any_op
    transform.apply_cse to %fn6 : !transform.any_op
    %f8, %l8 = transform.structured.fuse_into_containing_op %scores into %l6 : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    // The initial values (fills, possibly shared by CSE) are fused too, so
    // that no full-size scores or probabilities tensor is ever allocated.
    %fn8 = transform.get_parent_op %l8 {op_name = "func.func"} : (!transform.any_op) -> !transform.any_op
    %fills = transform.structured.match ops{["linalg.fill"]} in %fn8 : (!transform.any_op) -> !transform.any_op
    transform.foreach %fills : !transform.any_op {
    ^bb0(%fill: !transform.any_op):
      transform.include @fuse_fill failures(suppress) (%fill, %l8) : (!transform.any_op, !transform.any_op) -> ()
    }
    transform.yield
  }
  transform.named_sequence @fuse_fill(%fill: !transform.any_op {transform.consumed}, %loop: !transform.any_op {transform.readonly}) {
    %f, %l = transform.structured.fuse_into_containing_op %fill into %loop : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
@ROW_SEQUENCES@
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %funcs = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    %att = transform.structured.match attributes {kha.attention = "root"} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %att : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @fuse_attention failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    // Slices of full-size empty tensors become tile-size ones.
    transform.apply_patterns to %funcs {
      transform.apply_patterns.tensor.fold_tensor_empty
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %mm = transform.structured.match ops{["linalg.matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %mm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_matmul failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %bmm = transform.structured.match ops{["linalg.batch_matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %bmm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_batch_matmul failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    transform.apply_patterns to %funcs {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %tiles = transform.structured.match ops{["linalg.matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @vectorize_matmul failures(suppress) (%op) : (!transform.any_op) -> ()
    }
    %btiles = transform.structured.match ops{["linalg.batch_matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %btiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @vectorize_batch_matmul failures(suppress) (%op) : (!transform.any_op) -> ()
    }
@ROW_SCHEDULES@
    transform.apply_patterns to %funcs {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }
}
)mlir";


/// The schedule with its row-wise parts for ranks 2 to 5: one row per
/// iteration (all dimensions but the last tiled by 1), vectorised whole.
static std::string buildSchedule() {
  std::string sequences =
      "  // Row-wise generics (tagged kha.rows = rank by kha-lower-to-linalg "
      "when the\n  // row is static): one row per iteration, vectorised along "
      "the row.\n";
  std::string schedules;
  for (int rank = 2; rank <= 5; ++rank) {
    std::string r = std::to_string(rank);
    std::string sizes, handles = "!transform.any_op", loops;
    for (int i = 0; i < rank; ++i) {
      sizes += i + 1 < rank ? "1, " : "0";
      if (i + 1 < rank) {
        handles += ", !transform.any_op";
        loops += ", %l" + std::to_string(i);
      }
    }
    sequences +=
        "  transform.named_sequence @rows" + r +
        "(%op: !transform.any_op {transform.consumed}) {\n"
        "    %t" + loops + " = transform.structured.tile_using_for %op "
        "tile_sizes [" + sizes + "]\n"
        "        : (!transform.any_op) -> (" + handles + ")\n"
        "    transform.structured.vectorize %t : !transform.any_op\n"
        "    transform.yield\n  }\n";
    schedules +=
        "    %rows" + r + " = transform.structured.match attributes "
        "{kha.rows = " + r + " : i64} in %root : (!transform.any_op) -> "
        "!transform.any_op\n"
        "    transform.foreach %rows" + r + " : !transform.any_op {\n"
        "    ^bb0(%op: !transform.any_op):\n"
        "      transform.include @rows" + r + " failures(suppress) (%op) : "
        "(!transform.any_op) -> ()\n    }\n";
  }
  std::string text = kScheduleTemplate;
  text.replace(text.find("@ROW_SEQUENCES@\n"), 16, sequences);
  text.replace(text.find("@ROW_SCHEDULES@\n"), 16, schedules);
  return text;
}

namespace {
struct CPUSchedulePass : kha::impl::KHACPUSchedulePassBase<CPUSchedulePass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    linalg::registerTransformDialectExtension(registry);
    scf::registerTransformDialectExtension(registry);
    tensor::registerTransformDialectExtension(registry);
    vector::registerTransformDialectExtension(registry);
    func::registerTransformDialectExtension(registry);
  }

  LogicalResult initialize(MLIRContext *context) override {
    std::string text = buildSchedule();
    if (!scheduleFile.empty()) {
      std::string error;
      std::unique_ptr<llvm::MemoryBuffer> file =
          openInputFile(scheduleFile, &error);
      if (!file)
        return emitError(UnknownLoc::get(context)) << error;
      text = file->getBuffer().str();
    }
    schedule = std::make_shared<OwningOpRef<ModuleOp>>(
        parseSourceString<ModuleOp>(text, context, "kha-cpu-schedule"));
    if (!*schedule)
      return failure();
    return success();
  }

  void runOnOperation() override {
    ModuleOp scheduleModule = schedule->get();
    Operation *entry = nullptr;
    scheduleModule.walk([&](transform::NamedSequenceOp op) {
      if (op.getSymName() == "__transform_main")
        entry = op;
    });
    if (!entry) {
      scheduleModule.emitError("the schedule has no @__transform_main");
      return signalPassFailure();
    }
    if (failed(transform::applyTransformNamedSequence(
            getOperation(), entry, scheduleModule,
            transform::TransformOptions())))
      signalPassFailure();
  }

  std::shared_ptr<OwningOpRef<ModuleOp>> schedule;
};
} // namespace
