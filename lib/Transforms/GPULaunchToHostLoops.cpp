//===- GPULaunchToHostLoops.cpp - kernels run on the host as loops --------===//
//
// A `gpu.launch` becomes loops over its grid on the host; within a block, the
// threads become loops ("thread loops") over the linear thread id, split at
// every synchronisation point:
//
//   - between two thread loops every thread has finished the first, which is
//     what `gpu.barrier` promises, so barriers are split points;
//   - `gpu.shuffle` reads a value another thread computed in the same step,
//     so it gets a thread loop of its own that reads the partner's value;
//   - `scf.for` and `scf.if` that contain either stay outside, with uniform
//     bounds and conditions (as the GPU requires for barriers and shuffles),
//     and are split recursively.
//
// A value computed in one thread loop and used in another is carried in a
// per-thread array (one element per thread). Side-effect-free operations of
// uniform values (block ids, sizes, constants) are computed once, outside the
// thread loops. Running the threads of a block one after the other between
// split points is one legal schedule of a race-free kernel, so a kernel whose
// barriers or shuffles are wrong (a missing barrier, a wrong partner) gives
// wrong results here too.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPULAUNCHTOHOSTLOOPSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

/// The most threads a block has on NVIDIA GPUs.
static constexpr int64_t kMaxThreads = 1024;

namespace {
/// Emits the host form of one launch.
class HostLaunch {
public:
  HostLaunch(gpu::LaunchOp launch, bool reverseThreads)
      : launch(launch), reverseThreads(reverseThreads) {}
  LogicalResult emit();

private:
  bool isInside(Value value) {
    return launch.getBody().isAncestor(value.getParentRegion());
  }
  bool isUniform(Value value) {
    return !isInside(value) || uniform.contains(value);
  }
  Value constant(OpBuilder &b, Location loc, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }

  /// A loop over the block's threads and the thread id it runs.
  std::pair<scf::ForOp, Value> createThreadLoop(OpBuilder &b, Location loc);
  LogicalResult emitOps(Block &block, OpBuilder &b);
  LogicalResult emitThreadLoop(ArrayRef<Operation *> run, OpBuilder &b);
  LogicalResult emitShuffle(gpu::ShuffleOp shuffle, OpBuilder &b);
  LogicalResult emitFor(scf::ForOp loop, OpBuilder &b);
  LogicalResult emitIf(scf::IfOp branch, OpBuilder &b);
  /// A thread loop storing `values` (per thread) into `targets`.
  LogicalResult emitCopy(Location loc, ValueRange values,
                         ArrayRef<Value> targets, OpBuilder &b);

  /// A new per-thread array for values of `type`.
  FailureOr<Value> newArray(Location loc, Type type);
  LogicalResult newArrays(Location loc, TypeRange types,
                          SmallVectorImpl<Value> &arrays);
  /// `value` as one value for all threads (thread 0's where it is carried).
  FailureOr<Value> uniformValue(Value value, Location loc, OpBuilder &b);
  /// `value` in the thread loop with thread id `tid`, loaded where carried.
  FailureOr<Value> threadValue(Value value, IRMapping &local, Value tid,
                               Location loc, OpBuilder &b);
  /// The host value of a launch id or size operation, else null.
  Value idValue(Operation *op, IRMapping &local, Value lane);
  /// Maps the launch's thread ids to those of linear thread `tid`.
  void mapThreadIds(IRMapping &local, Value tid, Location loc, OpBuilder &b);

  gpu::LaunchOp launch;
  bool reverseThreads;
  DenseSet<Operation *> synchronising;
  IRMapping uniform;
  DenseMap<Value, Value> carried;
  /// Where buffers go: the entry block of the enclosing function.
  Block *entry = nullptr;
  /// A stack buffer of `type` at the function's entry.
  Value entryAlloca(Location loc, MemRefType type) {
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    if (lastEntryAlloca)
      b.setInsertionPointAfter(lastEntryAlloca);
    lastEntryAlloca = memref::AllocaOp::create(b, loc, type);
    return lastEntryAlloca->getResult(0);
  }
  Operation *lastEntryAlloca = nullptr;
  Value numThreads;
};
} // namespace

std::pair<scf::ForOp, Value> HostLaunch::createThreadLoop(OpBuilder &b,
                                                          Location loc) {
  auto loop = scf::ForOp::create(b, loc, constant(b, loc, 0), numThreads,
                                 constant(b, loc, 1));
  Value tid = loop.getInductionVar();
  if (reverseThreads) {
    OpBuilder tb = OpBuilder::atBlockBegin(loop.getBody());
    tid = arith::SubIOp::create(
        tb, loc, arith::SubIOp::create(tb, loc, numThreads, constant(tb, loc, 1)),
        tid);
  }
  return {loop, tid};
}

LogicalResult HostLaunch::newArrays(Location loc, TypeRange types,
                                    SmallVectorImpl<Value> &arrays) {
  for (Type type : types) {
    FailureOr<Value> array = newArray(loc, type);
    if (failed(array))
      return failure();
    arrays.push_back(*array);
  }
  return success();
}

FailureOr<Value> HostLaunch::newArray(Location loc, Type type) {
  // Scalars and vectors: what a thread keeps in registers.
  if (!isa<IntegerType, IndexType, FloatType, VectorType>(type))
    return emitError(loc) << "cannot carry a value of type " << type
                          << " from one thread loop to another";
  // A block has at most 1024 threads (checked when it runs, for sizes known
  // only then), so arrays have a static size and live at the function's
  // entry.
  std::optional<int64_t> threads = getConstantIntValue(numThreads);
  return entryAlloca(loc,
                     MemRefType::get({threads ? *threads : kMaxThreads}, type));
}

FailureOr<Value> HostLaunch::uniformValue(Value value, Location loc,
                                          OpBuilder &b) {
  if (!isInside(value))
    return value;
  if (Value mapped = uniform.lookupOrNull(value))
    return mapped;
  auto it = carried.find(value);
  if (it == carried.end())
    return emitError(loc) << "a loop bound, branch condition or shuffle width "
                             "that is a thread id cannot run on the host";
  Value array = it->second;
  Value first =
      memref::LoadOp::create(b, loc, array, ValueRange{constant(b, loc, 0)});
  // Every thread must agree (as the GPU requires around barriers); a kernel
  // whose threads do not stops here rather than computing something else.
  if (isa<IntegerType, IndexType>(value.getType())) {
    auto [loop, tid] = createThreadLoop(b, loc);
    OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
    Value mine = memref::LoadOp::create(tb, loc, array, ValueRange{tid});
    cf::AssertOp::create(
        tb, loc,
        arith::CmpIOp::create(tb, loc, arith::CmpIPredicate::eq, mine, first),
        "kha-gpu-launch-to-host-loops: a loop bound, branch condition or "
        "shuffle width around a barrier or shuffle differs between the "
        "threads of a block");
  }
  return first;
}

FailureOr<Value> HostLaunch::threadValue(Value value, IRMapping &local,
                                         Value tid, Location loc,
                                         OpBuilder &b) {
  if (Value mapped = local.lookupOrNull(value))
    return mapped;
  if (!isInside(value))
    return value;
  if (Value mapped = uniform.lookupOrNull(value)) {
    local.map(value, mapped);
    return mapped;
  }
  auto it = carried.find(value);
  if (it == carried.end())
    return emitError(loc) << "kernel value used before it is defined";
  Value loaded = memref::LoadOp::create(b, loc, it->second, ValueRange{tid});
  local.map(value, loaded);
  return loaded;
}

void HostLaunch::mapThreadIds(IRMapping &local, Value tid, Location loc,
                              OpBuilder &b) {
  gpu::KernelDim3 size = launch.getBlockSizeOperandValues();
  gpu::KernelDim3 ids = launch.getThreadIds();
  Value plane = arith::MulIOp::create(b, loc, size.x, size.y);
  local.map(ids.x, arith::RemUIOp::create(b, loc, tid, size.x));
  local.map(ids.y, arith::RemUIOp::create(
                       b, loc, arith::DivUIOp::create(b, loc, tid, size.x),
                       size.y));
  local.map(ids.z, arith::DivUIOp::create(b, loc, tid, plane));
}

Value HostLaunch::idValue(Operation *op, IRMapping &local, Value lane) {
  auto pick = [](gpu::Dimension dim, gpu::KernelDim3 v) {
    return dim == gpu::Dimension::x ? v.x : dim == gpu::Dimension::y ? v.y : v.z;
  };
  return TypeSwitch<Operation *, Value>(op)
      .Case([&](gpu::ThreadIdOp id) {
        return local.lookup(pick(id.getDimension(), launch.getThreadIds()));
      })
      .Case([&](gpu::BlockIdOp id) {
        return uniform.lookup(pick(id.getDimension(), launch.getBlockIds()));
      })
      .Case([&](gpu::BlockDimOp dim) {
        return pick(dim.getDimension(), launch.getBlockSizeOperandValues());
      })
      .Case([&](gpu::GridDimOp dim) {
        return pick(dim.getDimension(), launch.getGridSizeOperandValues());
      })
      .Case([&](gpu::LaneIdOp) { return lane; })
      .Default([](Operation *) { return Value(); });
}

LogicalResult HostLaunch::emitThreadLoop(ArrayRef<Operation *> run,
                                         OpBuilder &b) {
  if (run.empty())
    return success();
  Location loc = run.front()->getLoc();
  auto [loop, tid] = createThreadLoop(b, loc);
  OpBuilder hoisted(loop);
  OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
  IRMapping local;
  mapThreadIds(local, tid, loc, tb);
  Value lane = arith::RemUIOp::create(tb, loc, tid, constant(tb, loc, 32));
  DenseSet<Operation *> inLoop;
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  for (Operation *op : run) {
    // Ids and sizes of the launch, as operations.
    if (Value value = idValue(op, local, lane)) {
      local.map(op->getResult(0), value);
      inLoop.insert(op);
      continue;
    }
    if (op->getName().getDialectNamespace() ==
        gpu::GPUDialect::getDialectNamespace())
      return op->emitError("no host form for this operation in a kernel");
    // Side-effect-free arithmetic on uniform values: once, for all threads.
    if (op->getNumRegions() == 0 && isPure(op) &&
        llvm::all_of(op->getOperands(),
                     [&](Value v) { return isUniform(v); })) {
      hoisted.clone(*op, uniform);
      continue;
    }
    SetVector<Value> used;
    used.insert(op->operand_begin(), op->operand_end());
    getUsedValuesDefinedAbove(op->getRegions(), used);
    for (Value value : used)
      if (failed(threadValue(value, local, tid, op->getLoc(), tb)))
        return failure();
    Operation *clone = tb.clone(*op, local);
    inLoop.insert(op);
    // Ids inside nested regions; other GPU operations have no host form.
    SmallVector<Operation *> nested;
    clone->walk([&](Operation *inner) {
      if (inner != clone && inner->getName().getDialectNamespace() ==
                                gpu::GPUDialect::getDialectNamespace())
        nested.push_back(inner);
    });
    for (Operation *inner : nested) {
      Value value = idValue(inner, local, lane);
      if (!value)
        return inner->emitError("no host form for this operation in a kernel");
      inner->getResult(0).replaceAllUsesWith(value);
      inner->erase();
    }
  }
  // Results used outside this thread loop are carried in arrays.
  for (Operation *op : run) {
    if (!inLoop.contains(op))
      continue;
    for (Value result : op->getResults()) {
      bool escapes = llvm::any_of(result.getUsers(), [&](Operation *user) {
        Operation *ancestor = op->getBlock()->findAncestorOpInBlock(*user);
        return !ancestor || !inLoop.contains(ancestor);
      });
      if (!escapes)
        continue;
      FailureOr<Value> array = newArray(op->getLoc(), result.getType());
      if (failed(array))
        return failure();
      carried[result] = *array;
      memref::StoreOp::create(tb, op->getLoc(), local.lookup(result), *array,
                              ValueRange{tid});
    }
  }
  // A loop left with nothing but index arithmetic does nothing.
  if (llvm::all_of(loop.getBody()->without_terminator(),
                   [](Operation &op) { return isPure(&op); }))
    loop.erase();
  return success();
}

LogicalResult HostLaunch::emitShuffle(gpu::ShuffleOp shuffle, OpBuilder &b) {
  Location loc = shuffle.getLoc();
  FailureOr<Value> width = uniformValue(shuffle.getWidth(), loc, b);
  if (failed(width))
    return failure();
  Type index = b.getIndexType();
  Value w = arith::IndexCastUIOp::create(b, loc, index, *width);
  FailureOr<Value> values = newArray(loc, shuffle.getShuffleResult().getType());
  FailureOr<Value> valids = newArray(loc, shuffle.getValid().getType());
  if (failed(values) || failed(valids))
    return failure();
  auto [loop, tid] = createThreadLoop(b, loc);
  OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
  IRMapping local;
  mapThreadIds(local, tid, loc, tb);
  // The offset may differ between lanes.
  FailureOr<Value> offset =
      threadValue(shuffle.getOffset(), local, tid, loc, tb);
  if (failed(offset))
    return failure();
  Value off = arith::IndexCastUIOp::create(tb, loc, index, *offset);
  // The lane within the warp (the subgroup: 32 consecutive thread ids), and
  // the source lane; the first `width` lanes take part.
  Value lane = arith::RemUIOp::create(tb, loc, tid, constant(tb, loc, 32));
  Value warp = arith::SubIOp::create(tb, loc, tid, lane);
  Value source, inRange;
  switch (shuffle.getMode()) {
  case gpu::ShuffleMode::XOR:
    source = arith::XOrIOp::create(tb, loc, lane, off);
    break;
  case gpu::ShuffleMode::DOWN:
    source = arith::AddIOp::create(tb, loc, lane, off);
    break;
  case gpu::ShuffleMode::UP:
    inRange = arith::CmpIOp::create(tb, loc, arith::CmpIPredicate::uge, lane,
                                    off);
    source = arith::SubIOp::create(tb, loc, lane, off);
    break;
  case gpu::ShuffleMode::IDX:
    source = off;
    break;
  }
  Value sourceTid = arith::AddIOp::create(tb, loc, warp, source);
  auto ult = [&](Value x, Value y) {
    return arith::CmpIOp::create(tb, loc, arith::CmpIPredicate::ult, x, y);
  };
  Value valid = arith::AndIOp::create(
      tb, loc, arith::AndIOp::create(tb, loc, ult(lane, w), ult(source, w)),
      ult(sourceTid, numThreads));
  if (inRange)
    valid = arith::AndIOp::create(tb, loc, inRange, valid);
  // An invalid source reads this thread's own value.
  Value from = arith::SelectOp::create(tb, loc, valid, sourceTid, tid);
  Value value = shuffle.getValue();
  Value result;
  if (isUniform(value)) {
    result = uniform.lookupOrDefault(value);
  } else {
    auto it = carried.find(value);
    if (it == carried.end())
      return shuffle.emitError("shuffled value is not carried between threads");
    result = memref::LoadOp::create(tb, loc, it->second, ValueRange{from});
  }
  memref::StoreOp::create(tb, loc, result, *values, ValueRange{tid});
  memref::StoreOp::create(tb, loc, valid, *valids, ValueRange{tid});
  carried[shuffle.getShuffleResult()] = *values;
  carried[shuffle.getValid()] = *valids;
  return success();
}

LogicalResult HostLaunch::emitCopy(Location loc, ValueRange values,
                                   ArrayRef<Value> targets, OpBuilder &b) {
  if (values.empty())
    return success();
  auto [loop, tid] = createThreadLoop(b, loc);
  OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
  IRMapping local;
  mapThreadIds(local, tid, loc, tb);
  // All loads before any store: a value may move from one array to another.
  SmallVector<Value> loaded;
  for (Value value : values) {
    FailureOr<Value> v = threadValue(value, local, tid, loc, tb);
    if (failed(v))
      return failure();
    loaded.push_back(*v);
  }
  for (auto [value, target] : llvm::zip(loaded, targets))
    memref::StoreOp::create(tb, loc, value, target, ValueRange{tid});
  return success();
}

LogicalResult HostLaunch::emitFor(scf::ForOp loop, OpBuilder &b) {
  Location loc = loop.getLoc();
  FailureOr<Value> lb = uniformValue(loop.getLowerBound(), loc, b);
  FailureOr<Value> ub = uniformValue(loop.getUpperBound(), loc, b);
  FailureOr<Value> step = uniformValue(loop.getStep(), loc, b);
  if (failed(lb) || failed(ub) || failed(step))
    return failure();
  SmallVector<Value> state;
  if (failed(newArrays(loc, loop.getResultTypes(), state)) ||
      failed(emitCopy(loc, loop.getInitArgs(), state, b)))
    return failure();
  auto host = scf::ForOp::create(b, loc, *lb, *ub, *step, ValueRange{},
                                 /*bodyBuilder=*/nullptr,
                                 loop.getUnsignedCmp());
  uniform.map(loop.getInductionVar(), host.getInductionVar());
  for (auto [arg, array] : llvm::zip(loop.getRegionIterArgs(), state))
    carried[arg] = array;
  OpBuilder body = OpBuilder::atBlockTerminator(host.getBody());
  if (failed(emitOps(*loop.getBody(), body)) ||
      failed(emitCopy(loc, loop.getBody()->getTerminator()->getOperands(),
                      state, body)))
    return failure();
  for (auto [result, array] : llvm::zip(loop.getResults(), state))
    carried[result] = array;
  return success();
}

LogicalResult HostLaunch::emitIf(scf::IfOp branch, OpBuilder &b) {
  Location loc = branch.getLoc();
  FailureOr<Value> condition = uniformValue(branch.getCondition(), loc, b);
  if (failed(condition))
    return failure();
  SmallVector<Value> results;
  if (failed(newArrays(loc, branch.getResultTypes(), results)))
    return failure();
  auto host = scf::IfOp::create(b, loc, *condition,
                                /*withElseRegion=*/!branch.getElseRegion().empty());
  auto emitRegion = [&](Region &from, Block *to) -> LogicalResult {
    OpBuilder body = OpBuilder::atBlockTerminator(to);
    Block &block = from.front();
    return success(
        succeeded(emitOps(block, body)) &&
        succeeded(emitCopy(loc, block.getTerminator()->getOperands(), results,
                           body)));
  };
  if (failed(emitRegion(branch.getThenRegion(), host.thenBlock())))
    return failure();
  if (!branch.getElseRegion().empty() &&
      failed(emitRegion(branch.getElseRegion(), host.elseBlock())))
    return failure();
  for (auto [result, array] : llvm::zip(branch.getResults(), results))
    carried[result] = array;
  return success();
}

LogicalResult HostLaunch::emitOps(Block &block, OpBuilder &b) {
  SmallVector<Operation *> run;
  for (Operation &op : block.without_terminator()) {
    if (!synchronising.contains(&op)) {
      run.push_back(&op);
      continue;
    }
    if (failed(emitThreadLoop(run, b)))
      return failure();
    run.clear();
    if (isa<gpu::BarrierOp>(op))
      continue;
    LogicalResult emitted =
        TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](gpu::ShuffleOp shuffle) { return emitShuffle(shuffle, b); })
            .Case([&](scf::ForOp loop) { return emitFor(loop, b); })
            .Case([&](scf::IfOp branch) { return emitIf(branch, b); })
            .Default([](Operation *other) {
              return other->emitError(
                  "a barrier or shuffle inside this operation cannot run on "
                  "the host");
            });
    if (failed(emitted))
      return failure();
  }
  return emitThreadLoop(run, b);
}

LogicalResult HostLaunch::emit() {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.hasClusterSize() || !launch.getPrivateAttributions().empty() ||
      !launch.getBody().hasOneBlock())
    return launch.emitError(
        "only synchronous launches of one-block kernels without clusters or "
        "private buffers can run as host loops");
  WalkResult allocas = launch.getBody().walk([&](memref::AllocaOp alloca) {
    alloca.emitError("a stack buffer inside a kernel cannot run on the host "
                     "(it would be allocated again for every thread)");
    return WalkResult::interrupt();
  });
  if (allocas.wasInterrupted())
    return failure();
  launch.getBody().walk([&](Operation *op) {
    if (!isa<gpu::BarrierOp, gpu::ShuffleOp>(op))
      return;
    for (Operation *at = op; at != launch; at = at->getParentOp())
      synchronising.insert(at);
  });

  // Host buffers (workgroup memory, per-thread arrays) are stack buffers of
  // static size, allocated once at the function's entry, so a launch in a
  // loop does not grow the stack; for the same reason a kernel may not
  // allocate on the stack itself.
  Location loc = launch.getLoc();
  auto function = launch->getParentOfType<FunctionOpInterface>();
  if (!function || function.isExternal())
    return launch.emitError("a launch run on the host needs an enclosing "
                            "function to hold its buffers");
  entry = &function.getFunctionBody().front();
  OpBuilder b(launch);
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues(),
                  block = launch.getBlockSizeOperandValues();
  std::optional<int64_t> x = getConstantIntValue(block.x),
                         y = getConstantIntValue(block.y),
                         z = getConstantIntValue(block.z);
  if (x && y && z && *x * *y * *z > kMaxThreads)
    return launch.emitError("a block has more than 1024 threads");
  numThreads = x && y && z
                   ? constant(b, loc, *x * *y * *z)
                   : arith::MulIOp::create(
                         b, loc, arith::MulIOp::create(b, loc, block.x, block.y),
                         block.z)
                         .getResult();
  Value zero = constant(b, loc, 0), one = constant(b, loc, 1);
  if (!getConstantIntValue(numThreads)) {
    Value fits = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                       numThreads, constant(b, loc, kMaxThreads));
    cf::AssertOp::create(b, loc, fits,
                         "a block has more than 1024 threads");
  }

  // Workgroup buffers: one set, used by the blocks in turn.
  for (BlockArgument buffer : launch.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(buffer.getType());
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return launch.emitError("workgroup buffers run on the host must have a "
                              "static shape and the identity layout");
    uniform.map(buffer,
                entryAlloca(loc, MemRefType::get(type.getShape(),
                                                 type.getElementType())));
  }
  gpu::KernelDim3 blockSizes = launch.getBlockSize(),
                  gridSizes = launch.getGridSize();
  uniform.map(blockSizes.x, block.x);
  uniform.map(blockSizes.y, block.y);
  uniform.map(blockSizes.z, block.z);
  uniform.map(gridSizes.x, grid.x);
  uniform.map(gridSizes.y, grid.y);
  uniform.map(gridSizes.z, grid.z);

  auto gz = scf::ForOp::create(b, loc, zero, grid.z, one);
  OpBuilder zb = OpBuilder::atBlockTerminator(gz.getBody());
  auto gy = scf::ForOp::create(zb, loc, zero, grid.y, one);
  OpBuilder yb = OpBuilder::atBlockTerminator(gy.getBody());
  auto gx = scf::ForOp::create(yb, loc, zero, grid.x, one);
  gpu::KernelDim3 ids = launch.getBlockIds();
  uniform.map(ids.x, gx.getInductionVar());
  uniform.map(ids.y, gy.getInductionVar());
  uniform.map(ids.z, gz.getInductionVar());
  OpBuilder xb = OpBuilder::atBlockTerminator(gx.getBody());
  if (failed(emitOps(launch.getBody().front(), xb)))
    return failure();
  // Views of workgroup buffers are views of host buffers now.
  auto workgroup = gpu::AddressSpaceAttr::get(launch.getContext(),
                                              gpu::AddressSpace::Workgroup);
  auto toHost = [&](Value value) {
    auto type = dyn_cast<MemRefType>(value.getType());
    if (type && type.getMemorySpace() == workgroup)
      value.setType(MemRefType::get(type.getShape(), type.getElementType(),
                                    type.getLayout()));
  };
  gz->walk([&](Operation *op) {
    for (Value result : op->getResults())
      toHost(result);
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          toHost(arg);
  });

  launch.erase();
  return success();
}

namespace {
struct GPULaunchToHostLoopsPass
    : kha::impl::KHAGPULaunchToHostLoopsPassBase<GPULaunchToHostLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches)
      if (failed(HostLaunch(launch, reverseThreads).emit()))
        return signalPassFailure();
  }
};
} // namespace
