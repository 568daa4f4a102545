//===- GPULaunchToHostLoops.cpp - one-thread kernels run on the host ------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPULAUNCHTOHOSTLOOPSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

static bool isOne(Value value) { return matchPattern(value, m_One()); }

namespace {
struct GPULaunchToHostLoopsPass
    : kha::impl::KHAGPULaunchToHostLoopsPassBase<GPULaunchToHostLoopsPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches) {
      gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
      if (!isOne(block.x) || !isOne(block.y) || !isOne(block.z) ||
          launch.getAsyncToken() || !launch.getBody().hasOneBlock()) {
        launch.emitError("only synchronous launches of one-thread blocks can "
                         "run as host loops");
        return signalPassFailure();
      }
      OpBuilder b(launch);
      Location loc = launch.getLoc();
      gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      IRMapping map;
      gpu::KernelDim3 threadIds = launch.getThreadIds(),
                      blockSizes = launch.getBlockSize(),
                      gridSizes = launch.getGridSize();
      for (Value id : {threadIds.x, threadIds.y, threadIds.z})
        map.map(id, zero);
      for (Value size : {blockSizes.x, blockSizes.y, blockSizes.z})
        map.map(size, one);
      map.map(gridSizes.x, grid.x);
      map.map(gridSizes.y, grid.y);
      map.map(gridSizes.z, grid.z);
      // Workgroup buffers: one per block, on the stack of the host loop.
      Block &body = launch.getBody().front();
      auto loops = [&](OpBuilder &nb, Location l, Value z, Value y, Value x) {
        gpu::KernelDim3 ids = launch.getBlockIds();
        map.map(ids.x, x);
        map.map(ids.y, y);
        map.map(ids.z, z);
        for (BlockArgument buffer : launch.getWorkgroupAttributions()) {
          auto type = cast<MemRefType>(buffer.getType());
          map.map(buffer, memref::AllocaOp::create(
                              nb, l, MemRefType::get(type.getShape(),
                                                     type.getElementType())));
        }
        for (Operation &op : body.without_terminator())
          nb.clone(op, map);
      };
      scf::ForOp::create(
          b, loc, zero, grid.z, one, ValueRange{},
          [&](OpBuilder &bz, Location lz, Value z, ValueRange) {
            scf::ForOp::create(
                bz, lz, zero, grid.y, one, ValueRange{},
                [&](OpBuilder &by, Location ly, Value y, ValueRange) {
                  scf::ForOp::create(
                      by, ly, zero, grid.x, one, ValueRange{},
                      [&](OpBuilder &bx, Location lx, Value x, ValueRange) {
                        loops(bx, lx, z, y, x);
                        scf::YieldOp::create(bx, lx);
                      });
                  scf::YieldOp::create(by, ly);
                });
            scf::YieldOp::create(bz, lz);
          });
      launch.erase();
    }
    // One thread waits for nobody.
    getOperation()->walk([](gpu::BarrierOp barrier) { barrier.erase(); });
  }
};
} // namespace
