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
//   - the warp-collective tensor-core operations `nvgpu.ldmatrix` and
//     `nvgpu.mma.sync` read values of the other lanes of the warp, so each
//     gets a thread loop of its own that gathers them with the PTX ISA's
//     fragment layouts;
//   - `scf.for` and `scf.if` that contain either stay outside, with uniform
//     bounds and conditions (as the GPU requires for barriers and shuffles),
//     and are split recursively.
//
// Asynchronous copies (`nvgpu.device_async_copy`, cp.async) are per thread:
// a copy poisons its destination with NaN when issued and is queued; it is
// carried out when a `nvgpu.device_async_wait` retires its group. A kernel
// that reads a tile before waiting for it (or before the barrier that
// follows the other threads' waits) reads NaN.
//
// A value computed in one thread loop and used in another is carried in a
// per-thread array (one element per thread); a view of memory is made again
// in the loop that uses it. Side-effect-free operations of
// uniform values (block ids, sizes, constants) are computed once, outside the
// thread loops. Running the threads of a block one after the other between
// split points is one legal schedule of a race-free kernel, so a kernel whose
// barriers or shuffles are wrong (a missing barrier, a wrong partner) gives
// wrong results here too.
//
//===----------------------------------------------------------------------===//

#include "kha/Conversion/WgmmaFragments.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/TypeSwitch.h"

#include <functional>

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPULAUNCHTOHOSTLOOPSPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

/// The most threads a block has on NVIDIA GPUs.
static constexpr int64_t kMaxThreads = 1024;
/// The most asynchronous copies one thread may have pending on the host.
static constexpr int64_t kQueue = 64;
/// Fields of a queued copy: copy number, destination offset, source offset,
/// source elements, group.
static constexpr int64_t kRecordFields = 5;

/// Operations of the GPU dialects, which have no host form but those given
/// here.
static bool isGPUOp(Operation *op) {
  StringRef dialect = op->getName().getDialectNamespace();
  return dialect == gpu::GPUDialect::getDialectNamespace() ||
         dialect == nvgpu::NVGPUDialect::getDialectNamespace();
}

/// Per-thread Hopper operations: each thread's part is run in its thread
/// loop (mbarrier arrivals, TMA issue, descriptors, accumulators).
static bool isHopperThreadOp(Operation *op) {
  if (kha::isWgmmaFragmentCast(op))
    return true;
  return isa<nvgpu::MBarrierInitOp, nvgpu::MBarrierArriveExpectTxOp,
             nvgpu::MBarrierArriveOp, nvgpu::TmaAsyncLoadOp,
             nvgpu::TmaPrefetchOp, nvgpu::TmaFenceOp,
             nvgpu::WarpgroupGenerateDescriptorOp,
             nvgpu::WarpgroupMmaInitAccumulatorOp, nvgpu::WarpgroupMmaStoreOp>(
      op);
}

/// Views of memory (side-effect-free address computations), which thread
/// loops make again where they use them instead of carrying them.
static bool isRecomputedView(Operation *op) {
  return isa<memref::ViewOp, memref::SubViewOp, memref::CastOp,
             memref::CollapseShapeOp, memref::ExpandShapeOp>(op) &&
         isPure(op);
}

/// The type a kernel value has on the host: a warpgroup accumulator is each
/// thread's fragment (N / 2 floats of a 64 x N tile), a matrix descriptor
/// its 64-bit value.
static Type hostType(Type type) {
  if (auto acc = dyn_cast<nvgpu::WarpgroupAccumulatorType>(type)) {
    VectorType tile = acc.getFragmented();
    return VectorType::get({tile.getNumElements() / 128},
                           tile.getElementType());
  }
  if (isa<nvgpu::WarpgroupMatrixDescriptorType>(type))
    return IntegerType::get(type.getContext(), 64);
  return type;
}

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
  LogicalResult emitLdMatrix(nvgpu::LdMatrixOp load, OpBuilder &b);
  LogicalResult emitMmaSync(nvgpu::MmaSyncOp mma, OpBuilder &b);
  /// The host form of a cp.async operation of thread `tid`.
  LogicalResult emitAsyncCopyOp(Operation *op, IRMapping &local, Value tid,
                                OpBuilder &b);
  /// The queue of pending asynchronous copies, made before the grid loops.
  LogicalResult prepareAsyncCopies(OpBuilder &b);
  /// Hopper (sm_90a): mbarriers, TMA loads and warpgroup MMAs.
  LogicalResult prepareHopper(OpBuilder &b);
  /// The host form of a per-thread Hopper operation `op` (already cloned
  /// into a thread loop, its operands host values), built before it: the
  /// values that replace its results.
  FailureOr<SmallVector<Value>> emitHopperThreadOp(Operation *op, Value tid,
                                                   OpBuilder &b);
  LogicalResult emitMBarrierWait(nvgpu::MBarrierTryWaitParityOp wait,
                                 OpBuilder &b);
  /// Carries out the TMA loads that signal `wait`'s mbarrier and completes
  /// its phase if it is due: whether the phase `wait` waits for has
  /// completed (i1).
  FailureOr<Value> emitMBarrierPhase(nvgpu::MBarrierTryWaitParityOp wait,
                                     OpBuilder &b);
  /// A warp-specialised kernel's split into consumer warpgroups (the first
  /// `consumers` threads, `roles`' then region) and a producer (its else
  /// region).
  LogicalResult emitRoles(scf::IfOp roles, int64_t consumers, OpBuilder &b);
  /// Runs the producer role as far as its mbarrier waits let it.
  LogicalResult advanceProducer(Location loc, OpBuilder &b);
  /// `nvgpu.warpgroup.mma` (A and B from shared memory) or
  /// `kha.warpgroup_mma_register_a` (A from the threads' registers).
  LogicalResult emitWarpgroupMma(Operation *mma, OpBuilder &b);
  /// The host buffer of the workgroup buffer that kernel memref `value` is
  /// a view of, or null.
  Value hostRootOf(Value value);
  /// The workgroup buffer (attribution) that kernel memref `value` is a
  /// view of, or null.
  Value kernelRootOf(Value value);
  /// The host buffer `root` as a 1-D buffer of `element`.
  FailureOr<Value> flatView(Value root, Type element, Location loc);
  /// `value` as thread `tid` holds it (uniform, or loaded where carried).
  FailureOr<Value> valueOfThread(Value value, Value tid, Location loc,
                                 OpBuilder &b);
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
  /// The threads the thread loops run, [activeLo, activeHi): the block's,
  /// or those of a warpgroup role of a warp-specialised kernel (`inRole`).
  Value activeLo, activeHi;
  bool inRole = false;
  /// The producer role of a warp-specialised kernel, which its first thread
  /// runs: steps, each either work that may begin with one mbarrier wait
  /// (`wait`, then `ops`), or a loop whose iterations may each begin with
  /// one (`beforeWait`, the side-effect-free operations that compute the
  /// wait's operands, `wait`, then `ops`). The host runs it on demand, as far
  /// as its waits let it, whenever a consumer is about to wait; `state`
  /// holds its step and the loop's next iteration.
  struct ProducerStep {
    scf::ForOp loop;
    SmallVector<Operation *> beforeWait, ops;
    nvgpu::MBarrierTryWaitParityOp wait;
    Value upperBound, step;
  };
  struct Producer {
    int64_t thread;
    SmallVector<ProducerStep> steps;
    Value state;
  };
  std::optional<Producer> producer;
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

  /// Pending asynchronous copies: per thread, `kQueue` records of
  /// (copy, destination offset, source offset, source elements, group),
  /// how many are queued and how many groups were committed.
  struct AsyncCopies {
    Value records, counts, groups;
    /// Copy operations by number, with 1-D views of their buffers.
    llvm::MapVector<Operation *, std::pair<Value, Value>> views;
  } async;
  /// Pending TMA loads of the block: `kTmaQueue` records of (load number,
  /// mbarrier, destination byte offset in its workgroup buffer,
  /// coordinates) and how many are queued.
  struct TmaLoads {
    Value records, count;
    SmallVector<nvgpu::TmaAsyncLoadOp> loads;
  } tma;
  /// 1-D views of workgroup buffers, by buffer and element type.
  DenseMap<std::pair<Value, Type>, Value> flatViews;
  /// The host buffers of the launch's workgroup buffers, by attribution.
  DenseMap<Value, Value> workgroupHost;
};
} // namespace

std::pair<scf::ForOp, Value> HostLaunch::createThreadLoop(OpBuilder &b,
                                                          Location loc) {
  auto loop =
      scf::ForOp::create(b, loc, activeLo, activeHi, constant(b, loc, 1));
  Value tid = loop.getInductionVar();
  if (reverseThreads) {
    // hi - 1 - (tid - lo)
    OpBuilder tb = OpBuilder::atBlockBegin(loop.getBody());
    Value end = activeHi;
    if (getConstantIntValue(activeLo) != 0)
      end = arith::AddIOp::create(tb, loc, activeHi, activeLo);
    tid = arith::SubIOp::create(
        tb, loc, arith::SubIOp::create(tb, loc, end, constant(tb, loc, 1)),
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
  type = hostType(type);
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
  Value first = memref::LoadOp::create(b, loc, array, ValueRange{activeLo});
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
  // A view made in another thread loop is made again here (a view is not
  // carried: it is an address computation, as it is on the GPU).
  if (Operation *def = value.getDefiningOp(); def && isInside(value) &&
                                              !uniform.contains(value) &&
                                              isRecomputedView(def)) {
    for (Value operand : def->getOperands())
      if (failed(threadValue(operand, local, tid, loc, b)))
        return failure();
    b.clone(*def, local);
    return local.lookup(value);
  }
  FailureOr<Value> mine = valueOfThread(value, tid, loc, b);
  if (succeeded(mine) && isInside(value))
    local.map(value, *mine);
  return mine;
}

void HostLaunch::mapThreadIds(IRMapping &local, Value tid, Location loc,
                              OpBuilder &b) {
  gpu::KernelDim3 size = launch.getBlockSizeOperandValues();
  gpu::KernelDim3 ids = launch.getThreadIds();
  Value plane = arith::MulIOp::create(b, loc, size.x, size.y);
  local.map(ids.x, arith::RemUIOp::create(b, loc, tid, size.x));
  local.map(ids.y,
            arith::RemUIOp::create(
                b, loc, arith::DivUIOp::create(b, loc, tid, size.x), size.y));
  local.map(ids.z, arith::DivUIOp::create(b, loc, tid, plane));
}

Value HostLaunch::idValue(Operation *op, IRMapping &local, Value lane) {
  auto pick = [](gpu::Dimension dim, gpu::KernelDim3 v) {
    return dim == gpu::Dimension::x   ? v.x
           : dim == gpu::Dimension::y ? v.y
                                      : v.z;
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
  for (Operation *op : run) {
    // Ids and sizes of the launch, as operations.
    if (Value value = idValue(op, local, lane)) {
      local.map(op->getResult(0), value);
      inLoop.insert(op);
      continue;
    }
    if (isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp,
            nvgpu::DeviceAsyncWaitOp>(op)) {
      if (failed(emitAsyncCopyOp(op, local, tid, tb)))
        return failure();
      inLoop.insert(op);
      continue;
    }
    // mbarriers are block-wide state, made before the grid loops; proxy
    // fences order what the host does in program order anyway, and
    // warpgroup MMAs run when issued (checkInFlight makes sure nothing can
    // tell), so wgmma waits have nothing left to wait for.
    // Register budgets (setmaxnreg) are the GPU's business.
    if (isa<nvgpu::MBarrierCreateOp, NVVM::FenceProxyOp,
            NVVM::WgmmaWaitGroupSyncOp, NVVM::SetMaxRegisterOp,
            gpu::DynamicSharedMemoryOp>(op))
      continue;
    if (isGPUOp(op) && !isHopperThreadOp(op))
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
    // Ids inside nested regions and per-thread Hopper operations; other GPU
    // operations have no host form.
    SmallVector<Operation *> nested;
    clone->walk([&](Operation *inner) {
      if ((isGPUOp(inner) && inner != clone) || isHopperThreadOp(inner) ||
          isa<NVVM::FenceProxyOp, NVVM::WgmmaWaitGroupSyncOp,
              NVVM::SetMaxRegisterOp>(inner))
        nested.push_back(inner);
    });
    for (Operation *inner : nested) {
      if (isa<NVVM::FenceProxyOp, NVVM::WgmmaWaitGroupSyncOp,
              NVVM::SetMaxRegisterOp>(inner)) {
        inner->erase();
        continue;
      }
      if (isHopperThreadOp(inner)) {
        OpBuilder ib(inner);
        FailureOr<SmallVector<Value>> values =
            emitHopperThreadOp(inner, tid, ib);
        if (failed(values))
          return failure();
        for (auto [result, value] : llvm::zip(inner->getResults(), *values)) {
          if (inner == clone) {
            local.map(op->getResult(result.getResultNumber()), value);
            continue;
          }
          if (result.getType() != value.getType() && !result.use_empty())
            return op->emitError("a descriptor or accumulator made inside a "
                                 "branch of one thread cannot run on the host");
          result.replaceAllUsesWith(value);
        }
        inner->erase();
        continue;
      }
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
      // cp.async tokens only order copies; the queue stands for them. Views
      // are made again where they are used.
      if (isa<nvgpu::DeviceAsyncTokenType>(result.getType()) ||
          isRecomputedView(op))
        continue;
      // Used after this loop, directly or through a view made again there.
      std::function<bool(Value)> escapes = [&](Value v) {
        return llvm::any_of(v.getUsers(), [&](Operation *user) {
          Operation *ancestor = op->getBlock()->findAncestorOpInBlock(*user);
          if (!ancestor || !inLoop.contains(ancestor))
            return true;
          return isRecomputedView(user) &&
                 llvm::any_of(user->getResults(), escapes);
        });
      };
      if (!escapes(result))
        continue;
      FailureOr<Value> array = newArray(op->getLoc(), result.getType());
      if (failed(array))
        return failure();
      carried[result] = *array;
      Value mine = local.lookupOrNull(result);
      if (!mine)
        return op->emitError("internal: no host value for a result");
      memref::StoreOp::create(tb, op->getLoc(), mine, *array, ValueRange{tid});
    }
  }
  // A loop left with nothing but index arithmetic does nothing.
  if (llvm::all_of(loop.getBody()->without_terminator(),
                   [](Operation &op) { return isMemoryEffectFree(&op); }))
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
    inRange =
        arith::CmpIOp::create(tb, loc, arith::CmpIPredicate::uge, lane, off);
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

FailureOr<Value> HostLaunch::valueOfThread(Value value, Value tid, Location loc,
                                           OpBuilder &b) {
  if (!isInside(value))
    return value;
  if (Value mapped = uniform.lookupOrNull(value))
    return mapped;
  auto it = carried.find(value);
  if (it == carried.end())
    return emitError(loc) << "kernel value used before it is defined";
  return memref::LoadOp::create(b, loc, it->second, ValueRange{tid})
      .getResult();
}

/// Checks that a block is made of whole warps, which warp-collective
/// operations need.
static LogicalResult checkWholeWarps(Operation *op, Value numThreads) {
  std::optional<int64_t> threads = getConstantIntValue(numThreads);
  if (!threads || *threads % 32)
    return op->emitError("a warp-collective operation runs on the host only "
                         "in blocks of a static number of whole warps");
  return success();
}

/// Where thread `tid` sits in its warp for the fragment layouts: the first
/// thread of its warp, g = lane / 4 and t = lane % 4.
struct LanePosition {
  Value warp, g, t;
};
static LanePosition laneOf(OpBuilder &b, Location loc, Value tid) {
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value lane = arith::RemUIOp::create(b, loc, tid, c(32));
  return {arith::SubIOp::create(b, loc, tid, lane),
          arith::DivUIOp::create(b, loc, lane, c(4)),
          arith::RemUIOp::create(b, loc, lane, c(4))};
}

LogicalResult HostLaunch::emitLdMatrix(nvgpu::LdMatrixOp load, OpBuilder &b) {
  Location loc = load.getLoc();
  if (failed(checkWholeWarps(load, numThreads)))
    return failure();
  auto type = cast<VectorType>(load.getRes().getType());
  Value source = load.getSrcMemref();
  if (!isUniform(source) || type.getRank() != 2 || type.getDimSize(1) != 2)
    return load.emitError("only ldmatrix of b16 pairs from a buffer shared by "
                          "the block has a host form");
  Value memref = uniform.lookupOrDefault(source);
  FailureOr<Value> results = newArray(loc, type);
  if (failed(results))
    return failure();
  auto [loop, tid] = createThreadLoop(b, loc);
  OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
  auto c = [&](int64_t v) { return constant(tb, loc, v); };
  auto [warp, g, t] = laneOf(tb, loc, tid);
  Value t2 = arith::MulIOp::create(tb, loc, t, c(2));
  // Pairs are built as 16-bit integers (scalar bf16 values become library
  // calls on some hosts) and seen as the element type at the end.
  unsigned width = type.getElementType().getIntOrFloatBitWidth();
  auto bitsType = VectorType::get({2}, tb.getIntegerType(width));
  auto pairType = VectorType::get({2}, type.getElementType());
  Value vec = arith::ConstantOp::create(tb, loc, type, tb.getZeroAttr(type));
  Value pair;
  // Register j holds two elements of 8 x 8 matrix j, whose rows come from
  // lanes 8j .. 8j + 7: (row g, columns 2t, 2t + 1), or with .trans (rows
  // 2t and 2t + 1, column g).
  for (int64_t j = 0; j < load.getNumTiles(); ++j)
    for (int64_t e = 0; e < 2; ++e) {
      Value rowLane, column;
      if (load.getTranspose()) {
        rowLane = arith::AddIOp::create(tb, loc, c(8 * j + e), t2);
        column = g;
      } else {
        rowLane = arith::AddIOp::create(tb, loc, c(8 * j), g);
        column = arith::AddIOp::create(tb, loc, t2, c(e));
      }
      Value from = arith::AddIOp::create(tb, loc, warp, rowLane);
      SmallVector<Value> indices;
      for (Value index : load.getIndices()) {
        FailureOr<Value> v = valueOfThread(index, from, loc, tb);
        if (failed(v))
          return failure();
        indices.push_back(*v);
      }
      indices.back() = arith::AddIOp::create(tb, loc, indices.back(), column);
      Value x = arith::BitcastOp::create(
          tb, loc, tb.getIntegerType(width),
          memref::LoadOp::create(tb, loc, memref, indices));
      if (e == 0)
        pair = arith::ConstantOp::create(tb, loc, bitsType,
                                         tb.getZeroAttr(bitsType));
      pair = vector::InsertOp::create(tb, loc, x, pair, e);
      if (e == 1)
        vec = vector::InsertOp::create(
            tb, loc, arith::BitcastOp::create(tb, loc, pairType, pair), vec, j);
    }
  memref::StoreOp::create(tb, loc, vec, *results, ValueRange{tid});
  carried[load.getRes()] = *results;
  return success();
}

LogicalResult HostLaunch::emitMmaSync(nvgpu::MmaSyncOp mma, OpBuilder &b) {
  Location loc = mma.getLoc();
  if (failed(checkWholeWarps(mma, numThreads)))
    return failure();
  auto aType = cast<VectorType>(mma.getMatrixA().getType());
  auto bType = cast<VectorType>(mma.getMatrixB().getType());
  auto cType = cast<VectorType>(mma.getMatrixC().getType());
  SmallVector<int64_t> shape =
      llvm::map_to_vector(mma.getMmaShape(), [](Attribute a) {
        return cast<IntegerAttr>(a).getInt();
      });
  Type in = aType.getElementType();
  if (shape != SmallVector<int64_t>{16, 8, 16} ||
      !(in.isF16() || in.isBF16()) ||
      aType.getShape() != ArrayRef<int64_t>{4, 2} ||
      bType.getShape() != ArrayRef<int64_t>{2, 2} ||
      cType.getShape() != ArrayRef<int64_t>{2, 2} ||
      !cType.getElementType().isF32())
    return mma.emitError("only mma.sync m16n8k16 of f16/bf16 into f32 has a "
                         "host form");
  FailureOr<Value> results = newArray(loc, cType);
  if (failed(results))
    return failure();
  auto [loop, tid] = createThreadLoop(b, loc);
  OpBuilder tb = OpBuilder::atBlockTerminator(loop.getBody());
  auto c = [&](OpBuilder &ob, int64_t v) { return constant(ob, loc, v); };
  auto [warp, g, t] = laneOf(tb, loc, tid);
  FailureOr<Value> own = valueOfThread(mma.getMatrixC(), tid, loc, tb);
  if (failed(own))
    return failure();
  Value result = *own;
  Type f32 = tb.getF32Type();
  // D[row][col] = C + sum over k of A[row][k] B[k][col], this lane's
  // (row g or g + 8, column 2t or 2t + 1). A[row][k] is element k % 2 of
  // row (row / 8) + 2 (k / 8) of lane 4 (row % 8) + (k % 8) / 2; B[k][col]
  // is element k % 2 of row k / 8 of lane 4 col + (k % 8) / 2.
  for (int64_t ri = 0; ri < 2; ++ri)
    for (int64_t ci = 0; ci < 2; ++ci) {
      SmallVector<int64_t, 2> at = {ri, ci};
      Value acc = vector::ExtractOp::create(tb, loc, result, at);
      Value col = arith::AddIOp::create(
          tb, loc, arith::MulIOp::create(tb, loc, t, c(tb, 2)), c(tb, ci));
      for (int64_t kh = 0; kh < 2; ++kh) {
        auto kLoop = scf::ForOp::create(tb, loc, c(tb, 0), c(tb, 4), c(tb, 1),
                                        ValueRange{acc});
        OpBuilder kb = OpBuilder::atBlockBegin(kLoop.getBody());
        Value tp = kLoop.getInductionVar();
        Value laneA = arith::AddIOp::create(
            kb, loc, warp,
            arith::AddIOp::create(
                kb, loc, arith::MulIOp::create(kb, loc, g, c(kb, 4)), tp));
        Value laneB = arith::AddIOp::create(
            kb, loc, warp,
            arith::AddIOp::create(
                kb, loc, arith::MulIOp::create(kb, loc, col, c(kb, 4)), tp));
        FailureOr<Value> aVec = valueOfThread(mma.getMatrixA(), laneA, loc, kb);
        FailureOr<Value> bVec = valueOfThread(mma.getMatrixB(), laneB, loc, kb);
        if (failed(aVec) || failed(bVec))
          return failure();
        Value sum = kLoop.getRegionIterArgs()[0];
        for (int64_t e = 0; e < 2; ++e) {
          SmallVector<int64_t, 2> atA = {ri + 2 * kh, e}, atB = {kh, e};
          Value x = arith::ExtFOp::create(
              kb, loc, f32,
              vector::ExtractOp::create(kb, loc, *aVec, atA).getResult());
          Value y = arith::ExtFOp::create(
              kb, loc, f32,
              vector::ExtractOp::create(kb, loc, *bVec, atB).getResult());
          sum = arith::AddFOp::create(kb, loc, sum,
                                      arith::MulFOp::create(kb, loc, x, y));
        }
        scf::YieldOp::create(kb, loc, sum);
        acc = kLoop.getResult(0);
      }
      result = vector::InsertOp::create(tb, loc, acc, result, at);
    }
  memref::StoreOp::create(tb, loc, result, *results, ValueRange{tid});
  carried[mma.getRes()] = *results;
  return success();
}

LogicalResult HostLaunch::prepareAsyncCopies(OpBuilder &b) {
  SmallVector<nvgpu::DeviceAsyncCopyOp> copies;
  launch.getBody().walk(
      [&](nvgpu::DeviceAsyncCopyOp copy) { copies.push_back(copy); });
  if (copies.empty())
    return success();
  Location loc = launch.getLoc();
  // A 1-D view of each buffer, to copy by linear offsets.
  auto flat = [&](Operation *op, Value buffer) -> FailureOr<Value> {
    auto type = cast<MemRefType>(buffer.getType());
    if (!isUniform(buffer) || !type.getLayout().isIdentity())
      return op->emitError("a cp.async runs on the host only between buffers "
                           "with the identity layout that all threads share");
    Value host = uniform.lookupOrDefault(buffer);
    if (type.getRank() == 1)
      return host;
    SmallVector<ReassociationIndices> all(1);
    for (int64_t i = 0; i < type.getRank(); ++i)
      all[0].push_back(i);
    return memref::CollapseShapeOp::create(b, loc, host, all).getResult();
  };
  for (nvgpu::DeviceAsyncCopyOp copy : copies) {
    if (!isa<FloatType>(copy.getDst().getType().getElementType()))
      return copy.emitError("only cp.async of floating-point elements has a "
                            "host form (its destination is poisoned with NaN)");
    FailureOr<Value> src = flat(copy, copy.getSrc());
    FailureOr<Value> dst = flat(copy, copy.getDst());
    if (failed(src) || failed(dst))
      return failure();
    async.views[copy] = {*src, *dst};
  }
  std::optional<int64_t> threads = getConstantIntValue(numThreads);
  int64_t n = threads ? *threads : kMaxThreads;
  Type index = b.getIndexType();
  async.records =
      entryAlloca(loc, MemRefType::get({n, kQueue, kRecordFields}, index));
  async.counts = entryAlloca(loc, MemRefType::get({n}, index));
  async.groups = entryAlloca(loc, MemRefType::get({n}, index));
  return success();
}

/// The linear offset of `indices` in a buffer with identity layout.
static Value linearOffset(OpBuilder &b, Location loc, Value buffer,
                          ValueRange indices) {
  Value offset = arith::ConstantIndexOp::create(b, loc, 0);
  for (auto [i, index] : llvm::enumerate(indices)) {
    Value size = memref::DimOp::create(b, loc, buffer, i);
    offset = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, offset, size), index);
  }
  return offset;
}

LogicalResult HostLaunch::emitAsyncCopyOp(Operation *op, IRMapping &local,
                                          Value tid, OpBuilder &b) {
  Location loc = op->getLoc();
  auto c = [&](OpBuilder &ob, int64_t v) { return constant(ob, loc, v); };
  auto field = [&](OpBuilder &ob, Value slot, int64_t f) {
    return memref::LoadOp::create(ob, loc, async.records,
                                  ValueRange{tid, slot, c(ob, f)})
        .getResult();
  };
  auto operands = [&](ValueRange values) -> FailureOr<SmallVector<Value>> {
    SmallVector<Value> out;
    for (Value v : values) {
      FailureOr<Value> mine = threadValue(v, local, tid, loc, b);
      if (failed(mine))
        return failure();
      out.push_back(*mine);
    }
    return out;
  };
  Value count = memref::LoadOp::create(b, loc, async.counts, ValueRange{tid});
  Value groups = memref::LoadOp::create(b, loc, async.groups, ValueRange{tid});

  if (isa<nvgpu::DeviceAsyncCreateGroupOp>(op)) {
    memref::StoreOp::create(b, loc,
                            arith::AddIOp::create(b, loc, groups, c(b, 1)),
                            async.groups, ValueRange{tid});
    return success();
  }

  if (auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op)) {
    FailureOr<SmallVector<Value>> dstIndices = operands(copy.getDstIndices());
    FailureOr<SmallVector<Value>> srcIndices = operands(copy.getSrcIndices());
    if (failed(dstIndices) || failed(srcIndices))
      return failure();
    Value srcElements = c(b, copy.getDstElements().getZExtValue());
    if (copy.getSrcElements()) {
      FailureOr<Value> v =
          threadValue(copy.getSrcElements(), local, tid, loc, b);
      if (failed(v))
        return failure();
      srcElements = *v;
    }
    auto [src, dst] = async.views.lookup(copy);
    Value dstOffset = linearOffset(
        b, loc, uniform.lookupOrDefault(copy.getDst()), *dstIndices);
    Value srcOffset = linearOffset(
        b, loc, uniform.lookupOrDefault(copy.getSrc()), *srcIndices);
    cf::AssertOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, count,
                              c(b, kQueue)),
        "kha-gpu-launch-to-host-loops: more than 64 cp.async pending in one "
        "thread");
    int64_t id = async.views.find(copy) - async.views.begin();
    Value fields[kRecordFields] = {c(b, id), dstOffset, srcOffset, srcElements,
                                   groups};
    for (int64_t f = 0; f < kRecordFields; ++f)
      memref::StoreOp::create(b, loc, fields[f], async.records,
                              ValueRange{tid, count, c(b, f)});
    memref::StoreOp::create(b, loc,
                            arith::AddIOp::create(b, loc, count, c(b, 1)),
                            async.counts, ValueRange{tid});
    // Until a wait retires it, the destination holds NaN.
    auto element = cast<FloatType>(copy.getDst().getType().getElementType());
    auto chunk = VectorType::get(
        {int64_t(copy.getDstElements().getZExtValue())}, element);
    Value nan = arith::ConstantOp::create(
        b, loc, chunk,
        DenseElementsAttr::get(chunk,
                               APFloat::getNaN(element.getFloatSemantics())));
    vector::StoreOp::create(b, loc, nan, dst, ValueRange{dstOffset});
    return success();
  }

  // A wait retires the groups older than the newest `numGroups`, in order,
  // and keeps the rest queued.
  auto wait = cast<nvgpu::DeviceAsyncWaitOp>(op);
  int64_t pending = wait.getNumGroups().value_or(0);
  Value keepFrom = arith::SubIOp::create(b, loc, groups, c(b, pending));
  auto slots =
      scf::ForOp::create(b, loc, c(b, 0), count, c(b, 1), ValueRange{c(b, 0)});
  OpBuilder sb = OpBuilder::atBlockBegin(slots.getBody());
  Value slot = slots.getInductionVar(), kept = slots.getRegionIterArgs()[0];
  // (groups - pending may wrap below 0: then nothing is retired.)
  Value retire = arith::AndIOp::create(
      sb, loc,
      arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::uge, groups,
                            c(sb, pending)),
      arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::ult,
                            field(sb, slot, 4), keepFrom));
  auto branch = scf::IfOp::create(sb, loc, TypeRange{sb.getIndexType()}, retire,
                                  /*withElseRegion=*/true);
  {
    OpBuilder rb = OpBuilder::atBlockBegin(branch.thenBlock());
    Value id = field(rb, slot, 0), dstOffset = field(rb, slot, 1),
          srcOffset = field(rb, slot, 2), srcElements = field(rb, slot, 3);
    SmallVector<int64_t> cases;
    for (int64_t i = 0; i < int64_t(async.views.size()); ++i)
      cases.push_back(i);
    auto perform = scf::IndexSwitchOp::create(rb, loc, TypeRange{}, id, cases,
                                              cases.size());
    for (auto [i, entry] : llvm::enumerate(async.views)) {
      auto copy = cast<nvgpu::DeviceAsyncCopyOp>(entry.first);
      auto [src, dst] = entry.second;
      Block &block = perform.getCaseRegions()[i].emplaceBlock();
      OpBuilder cb = OpBuilder::atBlockBegin(&block);
      // The first srcElements elements are read, the rest zero-filled, as
      // whole vectors (scalar bf16 values become library calls on some
      // hosts).
      int64_t n = copy.getDstElements().getZExtValue();
      Type element = copy.getDst().getType().getElementType();
      auto chunk = VectorType::get({n}, element);
      Value mask = vector::CreateMaskOp::create(
          cb, loc, VectorType::get({n}, cb.getI1Type()),
          ValueRange{arith::MinUIOp::create(cb, loc, srcElements, c(cb, n))});
      Value zeros =
          arith::ConstantOp::create(cb, loc, chunk, cb.getZeroAttr(chunk));
      Value data = vector::MaskedLoadOp::create(
          cb, loc, chunk, src, ValueRange{srcOffset}, mask, zeros);
      vector::StoreOp::create(cb, loc, data, dst, ValueRange{dstOffset});
      scf::YieldOp::create(cb, loc);
    }
    Block &none = perform.getDefaultRegion().emplaceBlock();
    OpBuilder db = OpBuilder::atBlockBegin(&none);
    scf::YieldOp::create(db, loc);
    scf::YieldOp::create(rb, loc, kept);
  }
  {
    OpBuilder kb = OpBuilder::atBlockBegin(branch.elseBlock());
    for (int64_t f = 0; f < kRecordFields; ++f)
      memref::StoreOp::create(kb, loc, field(kb, slot, f), async.records,
                              ValueRange{tid, kept, c(kb, f)});
    scf::YieldOp::create(
        kb, loc, arith::AddIOp::create(kb, loc, kept, c(kb, 1)).getResult());
  }
  scf::YieldOp::create(sb, loc, branch.getResult(0));
  memref::StoreOp::create(b, loc, slots.getResult(0), async.counts,
                          ValueRange{tid});
  return success();
}

//===----------------------------------------------------------------------===//
// Hopper: mbarriers, TMA loads and warpgroup MMAs
//===----------------------------------------------------------------------===//

/// Fields of a queued TMA load: load number, mbarrier, destination byte
/// offset, then up to five coordinates (innermost first).
static constexpr int64_t kTmaFields = 8;
/// The number of a TMA load of the kernel, on its clones in thread loops.
static constexpr StringLiteral kTmaLoadAttr = "kha.host_tma_load";
/// The most TMA loads a block may have pending on the host.
static constexpr int64_t kTmaQueue = 64;
/// Fields of an mbarrier's state: expected arrivals, arrivals, pending
/// transaction bytes, completed phases.
static constexpr int64_t kBarrierFields = 4;

/// The address of `memref`'s first element, in bytes.
static Value byteAddress(OpBuilder &b, Location loc, Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, memref);
  Value bytes =
      arith::ConstantIndexOp::create(b, loc, type.getElementTypeBitWidth() / 8);
  return arith::AddIOp::create(
      b, loc, base, arith::MulIOp::create(b, loc, meta.getOffset(), bytes));
}

/// The shared-memory swizzle of the TMA and of wgmma descriptors, on byte
/// offsets from a 1024-byte aligned base: the 16-byte chunk bits 4-6 (128 B
/// mode), 4-5 (64 B) or 4 (32 B) are XORed with bits 7-9 (the row of 128 B
/// within its group of eight). `mode` is the descriptor's code: 0 none,
/// 1 128 B, 2 64 B, 3 32 B.
static Value swizzleBytes(OpBuilder &b, Location loc, Value offset,
                          Value mode) {
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  auto is = [&](int64_t v) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, mode, c(v));
  };
  Value mask = arith::SelectOp::create(
      b, loc, is(1), c(0x70),
      arith::SelectOp::create(
          b, loc, is(2), c(0x30),
          arith::SelectOp::create(b, loc, is(3), c(0x10), c(0))));
  Value bits = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, offset, c(3)), mask);
  return arith::XOrIOp::create(b, loc, offset, bits);
}

/// The descriptor code of a tensor map's swizzle (as in a wgmma descriptor).
static int64_t swizzleCode(nvgpu::TensorMapSwizzleKind kind) {
  switch (kind) {
  case nvgpu::TensorMapSwizzleKind::SWIZZLE_128B:
    return 1;
  case nvgpu::TensorMapSwizzleKind::SWIZZLE_64B:
    return 2;
  case nvgpu::TensorMapSwizzleKind::SWIZZLE_32B:
    return 3;
  default:
    return 0;
  }
}

/// The bytes of one row of a swizzle pattern (16 without swizzle).
static int64_t swizzleSpan(int64_t code) {
  return code == 1 ? 128 : code == 2 ? 64 : code == 3 ? 32 : 16;
}

/// The view chain of `value` down to the buffer it views.
static Value viewedBuffer(Value value) {
  Operation *def = value.getDefiningOp();
  if (!def)
    return nullptr;
  if (auto view = dyn_cast<memref::ViewOp>(def))
    return view.getSource();
  if (auto sub = dyn_cast<memref::SubViewOp>(def))
    return sub.getSource();
  if (auto cast = dyn_cast<memref::CastOp>(def))
    return cast.getSource();
  if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def))
    return collapse.getSrc();
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(def))
    return expand.getSrc();
  return nullptr;
}

Value HostLaunch::kernelRootOf(Value value) {
  for (; value; value = viewedBuffer(value))
    if (workgroupHost.count(value))
      return value;
  return nullptr;
}

Value HostLaunch::hostRootOf(Value value) {
  for (; value; value = viewedBuffer(value))
    for (auto [buffer, host] : workgroupHost)
      if (host == value)
        return host;
  return nullptr;
}

FailureOr<Value> HostLaunch::flatView(Value root, Type element, Location loc) {
  auto key = std::make_pair(root, element);
  if (Value view = flatViews.lookup(key))
    return view;
  auto type = cast<MemRefType>(root.getType());
  OpBuilder b(root.getContext());
  b.setInsertionPointAfterValue(root);
  Value view;
  if (type.getElementType() == element) {
    SmallVector<ReassociationIndices> all(1);
    for (int64_t i = 0; i < type.getRank(); ++i)
      all[0].push_back(i);
    view = type.getRank() == 1
               ? root
               : memref::CollapseShapeOp::create(b, loc, root, all).getResult();
  } else if (type.getRank() == 1 && type.getElementType().isInteger(8)) {
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    view = memref::ViewOp::create(
        b, loc, MemRefType::get({type.getNumElements() / bytes}, element), root,
        arith::ConstantIndexOp::create(b, loc, 0), ValueRange{});
  } else {
    return emitError(loc) << "a workgroup buffer read by TMA or wgmma runs on "
                             "the host only as bytes (i8) or of the element "
                             "type it is read as";
  }
  flatViews[key] = view;
  return view;
}

LogicalResult HostLaunch::prepareHopper(OpBuilder &b) {
  Location loc = launch.getLoc();
  Type index = b.getIndexType();
  // mbarriers: created once, at the top of the kernel.
  WalkResult walk = launch.getBody().walk([&](Operation *op) {
    if (auto create = dyn_cast<nvgpu::MBarrierCreateOp>(op)) {
      if (create->getBlock() != &launch.getBody().front()) {
        create.emitError("an mbarrier runs on the host only when it is "
                         "created at the top of its kernel");
        return WalkResult::interrupt();
      }
      int64_t n = create.getBarriers().getType().getNumBarriers();
      uniform.map(
          create.getBarriers(),
          entryAlloca(loc, MemRefType::get({n, kBarrierFields}, index)));
    }
    if (auto load = dyn_cast<nvgpu::TmaAsyncLoadOp>(op)) {
      auto create = load.getTensorMapDescriptor()
                        .getDefiningOp<nvgpu::TmaCreateDescriptorOp>();
      auto cast = create ? create.getTensor().getDefiningOp<memref::CastOp>()
                         : memref::CastOp();
      auto dst = cast ? dyn_cast<MemRefType>(cast.getSource().getType())
                      : MemRefType();
      if (!dst || !dst.getLayout().isIdentity() ||
          dst.getRank() + 3 > kTmaFields ||
          int64_t(create.getBoxDimensions().size()) != dst.getRank() ||
          load.getMulticastMask()) {
        load.emitError("a TMA load runs on the host only from a tensor map "
                       "(rank 1 to 5) made by nvgpu.tma.create.descriptor of "
                       "a ranked memref with the identity layout, without "
                       "multicast");
        return WalkResult::interrupt();
      }
      load->setAttr(kTmaLoadAttr,
                    b.getI64IntegerAttr(int64_t(tma.loads.size())));
      tma.loads.push_back(load);
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  if (!tma.loads.empty()) {
    tma.records =
        entryAlloca(loc, MemRefType::get({kTmaQueue, kTmaFields}, index));
    tma.count = entryAlloca(loc, MemRefType::get({1}, index));
  }
  return success();
}

FailureOr<SmallVector<Value>>
HostLaunch::emitHopperThreadOp(Operation *op, Value tid, OpBuilder &b) {
  Location loc = op->getLoc();
  auto c = [&](int64_t v) { return constant(b, loc, v); };
  auto ifPredicate = [&](Value predicate) -> OpBuilder {
    if (!predicate)
      return b;
    auto branch = scf::IfOp::create(b, loc, predicate, false);
    return OpBuilder::atBlockBegin(branch.thenBlock());
  };
  auto field = [&](OpBuilder &ob, Value state, Value id, int64_t f) {
    return memref::LoadOp::create(ob, loc, state,
                                  ValueRange{id, constant(ob, loc, f)})
        .getResult();
  };
  auto setField = [&](OpBuilder &ob, Value state, Value id, int64_t f,
                      Value v) {
    memref::StoreOp::create(ob, loc, v, state,
                            ValueRange{id, constant(ob, loc, f)});
  };
  SmallVector<Value> none;

  if (isa<nvgpu::TmaPrefetchOp, nvgpu::TmaFenceOp>(op))
    return none;

  // An accumulator read or written as the thread's registers: on the host
  // both are the same vector.
  if (auto cast = dyn_cast<UnrealizedConversionCastOp>(op)) {
    Value from = cast.getInputsMutable()[0].get();
    if (from.getType() != hostType(cast.getResult(0).getType()))
      return cast.emitError("a wgmma fragment cast between ")
             << from.getType() << " and " << cast.getResult(0).getType()
             << " has no host form";
    return SmallVector<Value>{from};
  }

  if (auto init = dyn_cast<nvgpu::MBarrierInitOp>(op)) {
    OpBuilder ib = ifPredicate(init.getPredicate());
    Value state = init.getBarriersMutable().get(), id = init.getMbarId();
    setField(ib, state, id, 0, init.getCount());
    for (int64_t f = 1; f < kBarrierFields; ++f)
      setField(ib, state, id, f, constant(ib, loc, 0));
    return none;
  }

  if (auto arrive = dyn_cast<nvgpu::MBarrierArriveExpectTxOp>(op)) {
    OpBuilder ib = ifPredicate(arrive.getPredicate());
    Value state = arrive.getBarriersMutable().get(), id = arrive.getMbarId();
    setField(ib, state, id, 1,
             arith::AddIOp::create(ib, loc, field(ib, state, id, 1),
                                   constant(ib, loc, 1)));
    setField(ib, state, id, 2,
             arith::AddIOp::create(ib, loc, field(ib, state, id, 2),
                                   arrive.getTxcount()));
    return none;
  }

  // A plain arrival: the phase completes with the last expected one (when
  // no transaction bytes are pending), and arrivals count anew.
  if (auto arrive = dyn_cast<nvgpu::MBarrierArriveOp>(op)) {
    Value state = arrive.getBarriersMutable().get(), id = arrive.getMbarId();
    Value arrivals =
        arith::AddIOp::create(b, loc, field(b, state, id, 1), c(1));
    Value complete = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, arrivals,
                              field(b, state, id, 0)),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                              field(b, state, id, 2), c(0)));
    setField(b, state, id, 1,
             arith::SelectOp::create(b, loc, complete, c(0), arrivals));
    setField(b, state, id, 3,
             arith::AddIOp::create(
                 b, loc, field(b, state, id, 3),
                 arith::SelectOp::create(b, loc, complete, c(1), c(0))));
    return none;
  }

  if (auto load = dyn_cast<nvgpu::TmaAsyncLoadOp>(op)) {
    int64_t number = load->getAttrOfType<IntegerAttr>(kTmaLoadAttr).getInt();
    auto create = tma.loads[number]
                      .getTensorMapDescriptor()
                      .getDefiningOp<nvgpu::TmaCreateDescriptorOp>();
    Value dst = load.getDst(), root = hostRootOf(dst);
    auto dstType = cast<MemRefType>(dst.getType());
    if (!root || !memref::isStaticShapeAndContiguousRowMajor(dstType))
      return load.emitError("a TMA load runs on the host only into a "
                            "contiguous view of a workgroup buffer");
    Type element = dstType.getElementType();
    FailureOr<Value> flat = flatView(root, element, loc);
    if (failed(flat))
      return failure();
    OpBuilder ib = ifPredicate(load.getPredicate());
    auto k = [&](int64_t v) { return constant(ib, loc, v); };
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    int64_t code = swizzleCode(create.getTensorMap().getType().getSwizzle());
    Value offset = arith::SubIOp::create(ib, loc, byteAddress(ib, loc, dst),
                                         byteAddress(ib, loc, root));
    auto check = [&](Value condition, StringRef message) {
      cf::AssertOp::create(ib, loc, condition, message);
    };
    auto eq = [&](Value x, Value y) {
      return arith::CmpIOp::create(ib, loc, arith::CmpIPredicate::eq, x, y);
    };
    check(
        eq(arith::RemUIOp::create(ib, loc, offset, k(code ? 1024 : 128)), k(0)),
        "kha-gpu-launch-to-host-loops: a TMA destination is not 128-byte "
        "aligned (1024-byte with a swizzle)");
    Value cols = create.getBoxDimensions().back();
    if (code)
      check(eq(arith::MulIOp::create(ib, loc, cols, k(bytes)),
               k(swizzleSpan(code))),
            "kha-gpu-launch-to-host-loops: a swizzled TMA box row is not one "
            "swizzle row (128, 64 or 32 bytes)");
    Value count = memref::LoadOp::create(ib, loc, tma.count, ValueRange{k(0)});
    check(arith::CmpIOp::create(ib, loc, arith::CmpIPredicate::ult, count,
                                k(kTmaQueue)),
          "kha-gpu-launch-to-host-loops: more than 64 TMA loads pending in "
          "one block");
    SmallVector<Value> fields = {k(number), load.getMbarId(), offset};
    for (Value coordinate : load.getCoordinates())
      fields.push_back(coordinate);
    while (fields.size() < kTmaFields)
      fields.push_back(k(0));
    for (auto [f, v] : llvm::enumerate(fields))
      memref::StoreOp::create(ib, loc, v, tma.records, ValueRange{count, k(f)});
    memref::StoreOp::create(ib, loc,
                            arith::AddIOp::create(ib, loc, count, k(1)),
                            tma.count, ValueRange{k(0)});
    // Until the mbarrier's phase completes, the box holds NaN.
    Value first = arith::DivUIOp::create(ib, loc, offset, k(bytes));
    Value n = k(1);
    for (Value size : create.getBoxDimensions())
      n = arith::MulIOp::create(ib, loc, n, size);
    auto poison = scf::ForOp::create(ib, loc, k(0), n, k(1));
    OpBuilder pb = OpBuilder::atBlockTerminator(poison.getBody());
    Value nan = arith::ConstantOp::create(
        pb, loc, element,
        pb.getFloatAttr(
            element,
            APFloat::getNaN(cast<FloatType>(element).getFloatSemantics())));
    memref::StoreOp::create(pb, loc, nan, *flat,
                            ValueRange{arith::AddIOp::create(
                                pb, loc, first, poison.getInductionVar())});
    return none;
  }

  if (auto gen = dyn_cast<nvgpu::WarpgroupGenerateDescriptorOp>(op)) {
    // The 64-bit descriptor MLIR's nvgpu-to-nvvm lowering builds: start
    // address >> 4 (bits 0-13; here the offset in the workgroup buffer),
    // leading-dimension byte offset >> 4 (bits 16-29: the tensor map
    // tile's first size times the swizzle bytes), stride-dimension byte
    // offset >> 4 (bits 32-45: eight rows of the swizzle), swizzle (62-63).
    Value tile = gen.getTensor(), root = hostRootOf(tile);
    if (!root)
      return gen.emitError("a wgmma descriptor runs on the host only for a "
                           "view of a workgroup buffer");
    nvgpu::TensorMapDescriptorType map = gen.getTensorMap().getType();
    int64_t code = swizzleCode(map.getSwizzle());
    int64_t layout = code ? swizzleSpan(code) : 1;
    int64_t sizeN = map.getTensor().getDimSize(0);
    int64_t fixed = (code << 62) | (((layout << 3) >> 4) << 32) |
                    (((sizeN * layout) >> 4) << 16);
    Value offset = arith::SubIOp::create(b, loc, byteAddress(b, loc, tile),
                                         byteAddress(b, loc, root));
    Value start = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, offset, c(4)), c(0x3FFF));
    Value desc = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), start);
    desc = arith::OrIOp::create(
        b, loc, desc,
        arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(fixed)));
    return SmallVector<Value>{desc};
  }

  if (auto init = dyn_cast<nvgpu::WarpgroupMmaInitAccumulatorOp>(op)) {
    auto type = cast<VectorType>(hostType(init.getMatrixC().getType()));
    return SmallVector<Value>{
        arith::ConstantOp::create(b, loc, type, b.getZeroAttr(type))};
  }

  if (auto store = dyn_cast<nvgpu::WarpgroupMmaStoreOp>(op)) {
    // Warp w of the warpgroup holds rows 16w .. 16w + 15; register
    // 4j + i is row 16w + g + 8 (i / 2), column 8j + 2t + i % 2.
    Value fragment = store.getMatrixDMutable().get();
    int64_t n = 2 * cast<VectorType>(fragment.getType()).getNumElements();
    auto [warp, g, t] = laneOf(b, loc, tid);
    Value w = arith::DivUIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, warp, c(128)), c(32));
    Value row0 = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, w, c(16)), g);
    Value col0 = arith::MulIOp::create(b, loc, t, c(2));
    for (int64_t j = 0; j < n / 8; ++j)
      for (int64_t i = 0; i < 4; ++i) {
        Value row = arith::AddIOp::create(b, loc, row0, c(8 * (i / 2)));
        Value col = arith::AddIOp::create(b, loc, col0, c(8 * j + i % 2));
        Value x =
            vector::ExtractOp::create(b, loc, fragment, int64_t(4 * j + i));
        memref::StoreOp::create(b, loc, x, store.getDstMemref(),
                                ValueRange{row, col});
      }
    return none;
  }
  return op->emitError("no host form for this operation in a kernel");
}

LogicalResult HostLaunch::emitMBarrierWait(nvgpu::MBarrierTryWaitParityOp wait,
                                           OpBuilder &b) {
  // A producer role (of a warp-specialised kernel) does all it can first.
  if (failed(advanceProducer(wait.getLoc(), b)))
    return failure();
  FailureOr<Value> done = emitMBarrierPhase(wait, b);
  if (failed(done))
    return failure();
  // Otherwise no thread is left to complete the phase (they have all run
  // up to here): the GPU would wait for ever.
  cf::AssertOp::create(
      b, wait.getLoc(), *done,
      "kha-gpu-launch-to-host-loops: mbarrier.try_wait.parity waits for a "
      "phase "
      "that never completes (an arrival, a transaction count or the parity is "
      "wrong)");
  return success();
}

FailureOr<Value>
HostLaunch::emitMBarrierPhase(nvgpu::MBarrierTryWaitParityOp wait,
                              OpBuilder &b) {
  Location loc = wait.getLoc();
  auto c = [&](OpBuilder &ob, int64_t v) { return constant(ob, loc, v); };
  FailureOr<Value> id = uniformValue(wait.getMbarId(), loc, b);
  FailureOr<Value> parity = uniformValue(wait.getPhaseParity(), loc, b);
  if (failed(id) || failed(parity))
    return failure();
  Value state = uniform.lookupOrNull(wait.getBarriers());
  if (!state)
    return wait.emitError("an mbarrier runs on the host only when it is "
                          "created at the top of its kernel");
  auto field = [&](OpBuilder &ob, int64_t f) {
    return memref::LoadOp::create(ob, loc, state, ValueRange{*id, c(ob, f)})
        .getResult();
  };
  auto setField = [&](OpBuilder &ob, int64_t f, Value v) {
    memref::StoreOp::create(ob, loc, v, state, ValueRange{*id, c(ob, f)});
  };

  // The TMA loads queued on this mbarrier arrive: their boxes are copied
  // (zeros outside the tensor, swizzled as the tensor map says) and their
  // bytes complete the expected transactions; the others stay queued.
  if (tma.count) {
    Value count =
        memref::LoadOp::create(b, loc, tma.count, ValueRange{c(b, 0)});
    auto slots = scf::ForOp::create(b, loc, c(b, 0), count, c(b, 1),
                                    ValueRange{c(b, 0)});
    OpBuilder sb = OpBuilder::atBlockBegin(slots.getBody());
    Value slot = slots.getInductionVar(), kept = slots.getRegionIterArgs()[0];
    auto record = [&](OpBuilder &ob, int64_t f) {
      return memref::LoadOp::create(ob, loc, tma.records,
                                    ValueRange{slot, c(ob, f)})
          .getResult();
    };
    // Loads on this mbarrier group, by number.
    Value number = record(sb, 0);
    Value mine = arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::eq,
                                       record(sb, 1), *id);
    Value ofGroup = arith::ConstantOp::create(sb, loc, sb.getBoolAttr(false));
    for (auto [i, load] : llvm::enumerate(tma.loads))
      if (load.getBarriers() == wait.getBarriers())
        ofGroup = arith::OrIOp::create(
            sb, loc, ofGroup,
            arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::eq, number,
                                  c(sb, i)));
    Value arrives = arith::AndIOp::create(sb, loc, mine, ofGroup);
    auto branch = scf::IfOp::create(sb, loc, TypeRange{sb.getIndexType()},
                                    arrives, /*withElseRegion=*/true);
    {
      OpBuilder rb = OpBuilder::atBlockBegin(branch.thenBlock());
      SmallVector<int64_t> cases;
      for (int64_t i = 0; i < int64_t(tma.loads.size()); ++i)
        cases.push_back(i);
      auto perform = scf::IndexSwitchOp::create(rb, loc, TypeRange{}, number,
                                                cases, cases.size());
      for (auto [i, load] : llvm::enumerate(tma.loads)) {
        Block &block = perform.getCaseRegions()[i].emplaceBlock();
        OpBuilder cb = OpBuilder::atBlockBegin(&block);
        auto k = [&](int64_t v) { return constant(cb, loc, v); };
        auto create = load.getTensorMapDescriptor()
                          .getDefiningOp<nvgpu::TmaCreateDescriptorOp>();
        Value global =
            create.getTensor().getDefiningOp<memref::CastOp>().getSource();
        Type element = cast<MemRefType>(global.getType()).getElementType();
        int64_t bytes = element.getIntOrFloatBitWidth() / 8;
        Value root = workgroupHost.lookup(kernelRootOf(load.getDst()));
        FailureOr<Value> flat =
            root ? flatView(root, element, loc) : FailureOr<Value>(failure());
        if (failed(flat))
          return load.emitError("a TMA load runs on the host only into a "
                                "view of a workgroup buffer");
        Value mode =
            k(swizzleCode(create.getTensorMap().getType().getSwizzle()));
        // Every element of the box, in the order of its shared-memory
        // copy (the last dimension fastest): global coordinates are the
        // load's, innermost first, plus the element's place in the box.
        ValueRange box = create.getBoxDimensions();
        int64_t rank = box.size();
        Value offset = record(cb, 2);
        Value count = k(1);
        for (Value size : box)
          count = arith::MulIOp::create(cb, loc, count, size);
        auto all = scf::ForOp::create(cb, loc, k(0), count, k(1));
        OpBuilder eb = OpBuilder::atBlockTerminator(all.getBody());
        auto ek = [&](int64_t v) { return constant(eb, loc, v); };
        Value linear = all.getInductionVar(), rest = linear;
        SmallVector<Value> at(rank);
        Value inside = arith::ConstantOp::create(eb, loc, eb.getBoolAttr(true));
        for (int64_t dim = rank - 1; dim >= 0; --dim) {
          Value size = box[dim];
          Value place = arith::RemUIOp::create(eb, loc, rest, size);
          rest = arith::DivUIOp::create(eb, loc, rest, size);
          // The record holds coordinates from field 3, innermost first.
          Value coordinate = memref::LoadOp::create(
              eb, loc, tma.records, ValueRange{slot, ek(3 + rank - 1 - dim)});
          at[dim] = arith::AddIOp::create(eb, loc, coordinate, place);
          Value extent = memref::DimOp::create(eb, loc, global, dim);
          inside = arith::AndIOp::create(
              eb, loc, inside,
              arith::AndIOp::create(
                  eb, loc,
                  arith::CmpIOp::create(eb, loc, arith::CmpIPredicate::sge,
                                        at[dim], ek(0)),
                  arith::CmpIOp::create(eb, loc, arith::CmpIPredicate::slt,
                                        at[dim], extent)));
        }
        auto read =
            scf::IfOp::create(eb, loc, TypeRange{element}, inside, true);
        {
          OpBuilder tb = OpBuilder::atBlockBegin(read.thenBlock());
          scf::YieldOp::create(
              tb, loc, memref::LoadOp::create(tb, loc, global, at).getResult());
          // Outside the tensor: zeros, or NaN when the map says so.
          OpBuilder fb = OpBuilder::atBlockBegin(read.elseBlock());
          bool nanFill = create.getTensorMap().getType().getOob() ==
                         nvgpu::TensorMapOOBKind::OOB_NAN;
          Attribute fill =
              nanFill ? Attribute(fb.getFloatAttr(
                            element,
                            APFloat::getNaN(
                                cast<FloatType>(element).getFloatSemantics())))
                      : fb.getZeroAttr(element);
          scf::YieldOp::create(
              fb, loc,
              arith::ConstantOp::create(fb, loc, cast<TypedAttr>(fill))
                  .getResult());
        }
        Value addr = arith::AddIOp::create(
            eb, loc, offset, arith::MulIOp::create(eb, loc, linear, ek(bytes)));
        addr = swizzleBytes(eb, loc, addr, mode);
        memref::StoreOp::create(
            eb, loc, read.getResult(0), *flat,
            ValueRange{arith::DivUIOp::create(eb, loc, addr, ek(bytes))});
        // Its bytes complete transactions.
        Value boxBytes = arith::MulIOp::create(cb, loc, count, k(bytes));
        setField(cb, 2, arith::SubIOp::create(cb, loc, field(cb, 2), boxBytes));
        scf::YieldOp::create(cb, loc);
      }
      Block &other = perform.getDefaultRegion().emplaceBlock();
      OpBuilder ob = OpBuilder::atBlockBegin(&other);
      scf::YieldOp::create(ob, loc);
      scf::YieldOp::create(rb, loc, kept);
    }
    {
      OpBuilder kb = OpBuilder::atBlockBegin(branch.elseBlock());
      for (int64_t f = 0; f < kTmaFields; ++f)
        memref::StoreOp::create(kb, loc, record(kb, f), tma.records,
                                ValueRange{kept, c(kb, f)});
      scf::YieldOp::create(
          kb, loc, arith::AddIOp::create(kb, loc, kept, c(kb, 1)).getResult());
    }
    scf::YieldOp::create(sb, loc, branch.getResult(0));
    memref::StoreOp::create(b, loc, slots.getResult(0), tma.count,
                            ValueRange{c(b, 0)});
  }

  // The phase completes when every expected arrival has come and no
  // transaction bytes are pending; arrivals start again for the next one.
  Value complete = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, field(b, 1),
                            field(b, 0)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, field(b, 2),
                            c(b, 0)));
  auto phase = scf::IfOp::create(b, loc, complete, false);
  {
    OpBuilder pb = OpBuilder::atBlockBegin(phase.thenBlock());
    setField(pb, 3, arith::AddIOp::create(pb, loc, field(pb, 3), c(pb, 1)));
    setField(pb, 1, c(pb, 0));
  }
  // try_wait.parity(p) returns once the phase of parity p has completed:
  // when the phase now running has the other parity.
  Value running = arith::IndexCastUIOp::create(
      b, loc, b.getI1Type(),
      arith::RemUIOp::create(b, loc, field(b, 3), c(b, 2)));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, running,
                               *parity)
      .getResult();
}

/// The operands of a warpgroup MMA of either kind.
namespace {
struct WarpgroupMma {
  Value descriptorA, fragmentA, descriptorB, c, d;
  bool transposeA, transposeB;
  int64_t waitGroup;
};
} // namespace

static std::optional<WarpgroupMma> asWarpgroupMma(Operation *op) {
  if (auto mma = dyn_cast<nvgpu::WarpgroupMmaOp>(op))
    return WarpgroupMma{mma.getDescriptorA(),      Value(),
                        mma.getDescriptorB(),      mma.getMatrixC(),
                        mma.getMatrixD(),          bool(mma.getTransposeA()),
                        bool(mma.getTransposeB()), int64_t(mma.getWaitGroup())};
  if (auto mma = dyn_cast<kha::WarpgroupMmaRegisterAOp>(op))
    return WarpgroupMma{Value(),
                        mma.getA(),
                        mma.getDescriptorB(),
                        mma.getAccumulator(),
                        mma.getResult(),
                        false,
                        mma.getTransposeB(),
                        int64_t(mma.getWaitGroup())};
  return std::nullopt;
}

/// A group left in flight (waitGroup > 0) runs at once on the host. That is
/// the same only when nothing can tell. Following the block from `mma`,
/// groups are committed in order by each warpgroup MMA, which then waits
/// until at most its waitGroup of the newest are left (as does a
/// `wgmma.wait_group`); until `mma`'s group is retired, nothing may touch
/// memory, and the results of groups in flight may only be the accumulators
/// of later warpgroup MMAs (PTX lets MMAs chain on in-flight accumulators).
static LogicalResult checkInFlight(Operation *mma) {
  std::optional<WarpgroupMma> first = asWarpgroupMma(mma);
  if (first->waitGroup == 0)
    return success();
  // Groups in flight, oldest first, by their results; `mma`'s is the
  // first (later ones are checked from their own MMAs).
  SmallVector<Value> groups = {first->d};
  auto retire = [&](int64_t keep) {
    if (int64_t(groups.size()) > keep)
      groups.erase(groups.begin(), groups.end() - keep);
  };
  auto fail = [&] {
    return mma->emitError(
        "a warpgroup MMA that leaves its group in flight (waitGroup > 0) "
        "runs on the host only when a later wait of its block retires it, "
        "with no memory access in between and the results in flight read "
        "only as the accumulators of warpgroup MMAs");
  };
  auto inFlight = [&](Value v) { return llvm::is_contained(groups, v); };
  retire(first->waitGroup);
  auto retired = [&] { return !inFlight(first->d); };
  for (Operation *op = mma->getNextNode(); op && !retired();
       op = op->getNextNode()) {
    if (std::optional<WarpgroupMma> next = asWarpgroupMma(op)) {
      for (Value operand : op->getOperands())
        if (operand != next->c && inFlight(operand))
          return fail();
      groups.push_back(next->d);
      retire(next->waitGroup);
      continue;
    }
    if (auto wait = dyn_cast<NVVM::WgmmaWaitGroupSyncOp>(op)) {
      retire(wait.getGroup());
      continue;
    }
    WalkResult reads = op->walk([&](Operation *inner) {
      return llvm::any_of(inner->getOperands(), inFlight)
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (reads.wasInterrupted())
      return fail();
    if (!isMemoryEffectFree(op) &&
        !isa<nvgpu::WarpgroupGenerateDescriptorOp, memref::ViewOp>(op))
      return fail();
  }
  return retired() ? success() : fail();
}

LogicalResult HostLaunch::emitWarpgroupMma(Operation *op, OpBuilder &b) {
  Location loc = op->getLoc();
  WarpgroupMma mma = *asWarpgroupMma(op);
  // The warpgroups of the block, or of the role that runs it.
  std::optional<int64_t> lo = getConstantIntValue(activeLo),
                         hi = getConstantIntValue(activeHi);
  if (!lo || !hi || *lo % 128 || *hi % 128)
    return op->emitError("a warpgroup MMA runs on the host only in blocks of "
                         "a static number of whole warpgroups");
  if (failed(checkInFlight(op)))
    return failure();
  auto descriptorType = [](Value desc) {
    return cast<nvgpu::WarpgroupMatrixDescriptorType>(desc.getType())
        .getTensor();
  };
  MemRefType typeB = descriptorType(mma.descriptorB);
  Type element = typeB.getElementType();
  int64_t totalK = typeB.getDimSize(0);
  auto accumulatorShape = [&](Value acc) -> SmallVector<int64_t> {
    if (auto type = dyn_cast<nvgpu::WarpgroupAccumulatorType>(acc.getType()))
      return llvm::to_vector(type.getFragmented().getShape());
    return {64, 2 * cast<VectorType>(acc.getType()).getNumElements()};
  };
  bool fitsA = true;
  if (mma.descriptorA) {
    MemRefType typeA = descriptorType(mma.descriptorA);
    fitsA = typeA.getElementType() == element && typeA.getDimSize(0) == 64 &&
            typeA.getDimSize(1) == totalK;
  }
  if (!(element.isF16() || element.isBF16()) || !fitsA || totalK % 16 ||
      accumulatorShape(mma.c) != ArrayRef<int64_t>{64, typeB.getDimSize(1)})
    return op->emitError("only f16/bf16 warpgroup MMAs of 64 rows (one "
                         "accumulator) run on the host");
  auto rootOf = [&](Value desc) -> Value {
    auto gen = desc.getDefiningOp<nvgpu::WarpgroupGenerateDescriptorOp>();
    return gen ? workgroupHost.lookup(kernelRootOf(gen.getTensor())) : Value();
  };
  Value rootA = mma.descriptorA ? rootOf(mma.descriptorA) : Value(),
        rootB = rootOf(mma.descriptorB);
  if ((mma.descriptorA && !rootA) || !rootB)
    return op->emitError("a warpgroup MMA runs on the host only with "
                         "descriptors generated in the same kernel region");
  FailureOr<Value> flatA = rootA ? flatView(rootA, element, loc) : Value(),
                   flatB = flatView(rootB, element, loc);
  if (failed(flatA) || failed(flatB))
    return failure();
  // The shape and descriptor steps of MLIR's lowering: m64nNk16 MMAs, A
  // advanced by 16 elements along K and by 64 rows of the A tile per
  // accumulator, B by 16 rows of the B tile.
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  int64_t n = typeB.getDimSize(1);
  bool kMajorA = !mma.transposeA, kMajorB = !mma.transposeB;
  Type f32 = b.getF32Type();
  auto cType = MemRefType::get({64, n}, f32);
  Value tile = entryAlloca(loc, cType);
  auto wgLoop =
      scf::ForOp::create(b, loc, constant(b, loc, *lo / 128),
                         constant(b, loc, *hi / 128), constant(b, loc, 1));
  OpBuilder wb = OpBuilder::atBlockTerminator(wgLoop.getBody());
  auto c = [&](OpBuilder &ob, int64_t v) { return constant(ob, loc, v); };
  Value first =
      arith::MulIOp::create(wb, loc, wgLoop.getInductionVar(), c(wb, 128));
  FailureOr<Value> descA = mma.descriptorA
                               ? valueOfThread(mma.descriptorA, first, loc, wb)
                               : Value();
  FailureOr<Value> descB = valueOfThread(mma.descriptorB, first, loc, wb);
  if (failed(descA) || failed(descB))
    return failure();
  // kha-warpgroup-mma-register-a-to-nvvm: an N-major B's leading byte
  // offset is K rows of 128 bytes (its 64-column boxes one after the other).
  if (mma.fragmentA && mma.transposeB) {
    auto i64 = [&](uint64_t v) {
      return arith::ConstantOp::create(wb, loc, wb.getI64IntegerAttr(v));
    };
    descB = arith::OrIOp::create(
                wb, loc,
                arith::AndIOp::create(wb, loc, *descB,
                                      i64(~(uint64_t(0x3FFF) << 16))),
                i64(uint64_t(totalK * 128 / 16) << 16))
                .getResult();
  }
  // Fragment position of register 4j + i of thread `t` of the warpgroup.
  auto position = [&](OpBuilder &ob, Value t, int64_t j, int64_t i) {
    Value lane = arith::RemUIOp::create(ob, loc, t, c(ob, 32));
    Value w = arith::DivUIOp::create(ob, loc, t, c(ob, 32));
    Value g = arith::DivUIOp::create(ob, loc, lane, c(ob, 4));
    Value tt = arith::RemUIOp::create(ob, loc, lane, c(ob, 4));
    Value row = arith::AddIOp::create(
        ob, loc, arith::MulIOp::create(ob, loc, w, c(ob, 16)),
        arith::AddIOp::create(ob, loc, g, c(ob, 8 * (i / 2))));
    Value col = arith::AddIOp::create(
        ob, loc, arith::MulIOp::create(ob, loc, tt, c(ob, 2)),
        c(ob, 8 * j + i % 2));
    return std::make_pair(row, col);
  };
  // The element (x, k) of an operand (x: its row of A or column of B) at
  // descriptor `desc`, as the PTX ISA's canonical layouts place it: K-major
  // rows of one swizzle row each (16 bytes without swizzle, then core
  // matrices `leading` bytes apart along K), groups of eight rows `stride`
  // bytes apart; MN-major rows of the swizzle's width along MN, eight K rows
  // one swizzle row apart, groups of eight K rows `stride` apart and blocks
  // of the swizzle's width along MN `leading` apart. Then the swizzle.
  struct Decoded {
    Value start, leading, stride, mode, span;
  };
  auto decode = [&](OpBuilder &ob, Value desc) {
    Value d = arith::IndexCastUIOp::create(ob, loc, ob.getIndexType(), desc);
    auto bits = [&](int64_t from, int64_t mask) {
      return arith::AndIOp::create(
          ob, loc, arith::ShRUIOp::create(ob, loc, d, c(ob, from)),
          c(ob, mask));
    };
    auto times16 = [&](Value v) {
      return arith::MulIOp::create(ob, loc, v, c(ob, 16)).getResult();
    };
    Decoded r{times16(bits(0, 0x3FFF)), times16(bits(16, 0x3FFF)),
              times16(bits(32, 0x3FFF)), bits(62, 3), Value()};
    cf::AssertOp::create(
        ob, loc,
        arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq, bits(49, 7),
                              c(ob, 0)),
        "kha-gpu-launch-to-host-loops: wgmma descriptors with a base offset "
        "are not emulated");
    auto is = [&](int64_t v) {
      return arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq, r.mode,
                                   c(ob, v));
    };
    r.span = arith::SelectOp::create(
        ob, loc, is(1), c(ob, 128),
        arith::SelectOp::create(
            ob, loc, is(2), c(ob, 64),
            arith::SelectOp::create(ob, loc, is(3), c(ob, 32), c(ob, 16))));
    return r;
  };
  auto read = [&](OpBuilder &ob, Value flat, const Decoded &dsc, Value x,
                  Value k, bool kMajor) {
    auto mul = [&](Value p, Value q) {
      return arith::MulIOp::create(ob, loc, p, q).getResult();
    };
    auto add = [&](Value p, Value q) {
      return arith::AddIOp::create(ob, loc, p, q).getResult();
    };
    auto div = [&](Value p, Value q) {
      return arith::DivUIOp::create(ob, loc, p, q).getResult();
    };
    auto rem = [&](Value p, Value q) {
      return arith::RemUIOp::create(ob, loc, p, q).getResult();
    };
    Value eb = c(ob, bytes), eight = c(ob, 8);
    Value perRow = div(dsc.span, eb);
    Value at;
    if (kMajor)
      at = add(
          add(dsc.start, mul(div(x, eight), dsc.stride)),
          add(mul(rem(x, eight), dsc.span),
              add(mul(div(k, perRow), dsc.leading), mul(rem(k, perRow), eb))));
    else
      at = add(
          add(dsc.start, mul(div(x, perRow), dsc.leading)),
          add(add(mul(div(k, eight), dsc.stride), mul(rem(k, eight), dsc.span)),
              mul(rem(x, perRow), eb)));
    at = swizzleBytes(ob, loc, at, dsc.mode);
    Value v = memref::LoadOp::create(ob, loc, flat, ValueRange{div(at, eb)});
    return arith::ExtFOp::create(ob, loc, f32, v).getResult();
  };

  Value cIn = mma.c;
  // Gather the 128 threads' fragments into the 64 x N tile.
  {
    auto gather = scf::ForOp::create(wb, loc, c(wb, 0), c(wb, 128), c(wb, 1));
    OpBuilder gb = OpBuilder::atBlockTerminator(gather.getBody());
    Value t = gather.getInductionVar();
    FailureOr<Value> frag =
        valueOfThread(cIn, arith::AddIOp::create(gb, loc, first, t), loc, gb);
    if (failed(frag))
      return failure();
    for (int64_t j = 0; j < n / 8; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        auto [row, col] = position(gb, t, j, e);
        memref::StoreOp::create(
            gb, loc, vector::ExtractOp::create(gb, loc, *frag, 4 * j + e), tile,
            ValueRange{row, col});
      }
  }
  // A from registers: the 128 threads' fragments gathered into a 64 x K
  // tile. Element 8s + q of thread t (warp w, g = lane / 4, tt = lane % 4)
  // is row 16w + g + 8 (q / 2 % 2), column 16s + 2tt + q % 2 + 8 (q / 4).
  Value tileA;
  if (mma.fragmentA) {
    tileA = entryAlloca(loc, MemRefType::get({64, totalK}, f32));
    auto gather = scf::ForOp::create(wb, loc, c(wb, 0), c(wb, 128), c(wb, 1));
    OpBuilder gb = OpBuilder::atBlockTerminator(gather.getBody());
    Value t = gather.getInductionVar();
    FailureOr<Value> frag = valueOfThread(
        mma.fragmentA, arith::AddIOp::create(gb, loc, first, t), loc, gb);
    if (failed(frag))
      return failure();
    for (int64_t e = 0; e < totalK / 2; ++e) {
      int64_t step = e / 8, q = e % 8;
      auto [row, col] = position(gb, t, 0, 2 * ((q / 2) % 2) + q % 2);
      col = arith::AddIOp::create(gb, loc, col, c(gb, 16 * step + 8 * (q / 4)));
      memref::StoreOp::create(
          gb, loc,
          arith::ExtFOp::create(
              gb, loc, f32,
              vector::ExtractOp::create(gb, loc, *frag, e).getResult()),
          tileA, ValueRange{row, col});
    }
  }
  // D += A B, one k16 step after the other.
  for (int64_t k = 0; k < totalK / 16; ++k) {
    int64_t stepA = ((16 * k) * bytes) >> 4;
    // kha-warpgroup-mma-register-a-to-nvvm: 32 bytes along a K-major row,
    // or 16 rows of 128 bytes down an N-major tile, per step.
    int64_t stepB = mma.fragmentA
                        ? (mma.transposeB ? 16 * 128 * k : 32 * k) >> 4
                        : (typeB.getDimSize(0) * 16 * k * bytes) >> 4;
    auto advance = [&](Value desc, int64_t step) {
      return arith::AddIOp::create(
          wb, loc, desc,
          arith::ConstantOp::create(wb, loc, wb.getI64IntegerAttr(step)));
    };
    Decoded a =
        mma.descriptorA ? decode(wb, advance(*descA, stepA)) : Decoded();
    Decoded bb = decode(wb, advance(*descB, stepB));
    if (!kMajorB || (mma.descriptorA && !kMajorA)) {
      Value mnSwizzled =
          arith::CmpIOp::create(wb, loc, arith::CmpIPredicate::ne,
                                (!kMajorB ? bb : a).mode, c(wb, 0));
      cf::AssertOp::create(wb, loc, mnSwizzled,
                           "kha-gpu-launch-to-host-loops: MN-major wgmma "
                           "operands without a swizzle are not emulated");
    }
    auto rows = scf::ForOp::create(wb, loc, c(wb, 0), c(wb, 64), c(wb, 1));
    OpBuilder rb = OpBuilder::atBlockTerminator(rows.getBody());
    auto cols = scf::ForOp::create(rb, loc, c(rb, 0), c(rb, n), c(rb, 1));
    OpBuilder cb = OpBuilder::atBlockTerminator(cols.getBody());
    Value row = rows.getInductionVar(), col = cols.getInductionVar();
    Value acc = memref::LoadOp::create(cb, loc, tile, ValueRange{row, col});
    auto ks = scf::ForOp::create(cb, loc, c(cb, 0), c(cb, 16), c(cb, 1),
                                 ValueRange{acc});
    OpBuilder kb = OpBuilder::atBlockBegin(ks.getBody());
    Value kk = ks.getInductionVar();
    Value x = tileA ? memref::LoadOp::create(
                          kb, loc, tileA,
                          ValueRange{row, arith::AddIOp::create(kb, loc, kk,
                                                                c(kb, 16 * k))})
                          .getResult()
                    : read(kb, *flatA, a, row, kk, kMajorA);
    Value y = read(kb, *flatB, bb, col, kk, kMajorB);
    Value sum = arith::AddFOp::create(kb, loc, ks.getRegionIterArgs()[0],
                                      arith::MulFOp::create(kb, loc, x, y));
    scf::YieldOp::create(kb, loc, sum);
    memref::StoreOp::create(cb, loc, ks.getResult(0), tile,
                            ValueRange{row, col});
  }
  // Scatter the tile back into the fragments.
  FailureOr<Value> results = newArray(loc, mma.d.getType());
  if (failed(results))
    return failure();
  {
    auto scatter = scf::ForOp::create(wb, loc, c(wb, 0), c(wb, 128), c(wb, 1));
    OpBuilder sb = OpBuilder::atBlockTerminator(scatter.getBody());
    Value t = scatter.getInductionVar();
    auto type = cast<VectorType>(hostType(mma.d.getType()));
    Value frag = arith::ConstantOp::create(sb, loc, type, sb.getZeroAttr(type));
    for (int64_t j = 0; j < n / 8; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        auto [row, col] = position(sb, t, j, e);
        frag = vector::InsertOp::create(
            sb, loc,
            memref::LoadOp::create(sb, loc, tile, ValueRange{row, col}), frag,
            4 * j + e);
      }
    memref::StoreOp::create(
        sb, loc, frag, *results,
        ValueRange{arith::AddIOp::create(sb, loc, first, t)});
  }
  carried[mma.d] = *results;
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
  auto host =
      scf::ForOp::create(b, loc, *lb, *ub, *step, ValueRange{},
                         /*bodyBuilder=*/nullptr, loop.getUnsignedCmp());
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
  auto host =
      scf::IfOp::create(b, loc, *condition,
                        /*withElseRegion=*/!branch.getElseRegion().empty());
  auto emitRegion = [&](Region &from, Block *to) -> LogicalResult {
    OpBuilder body = OpBuilder::atBlockTerminator(to);
    Block &block = from.front();
    return success(succeeded(emitOps(block, body)) &&
                   succeeded(emitCopy(loc, block.getTerminator()->getOperands(),
                                      results, body)));
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

/// Whether `value` is the launch's thread id x (as the block argument or a
/// `gpu.thread_id x`), maybe cast to another integer type.
static bool isThreadIdX(Value value, gpu::LaunchOp launch) {
  if (auto cast = value.getDefiningOp<arith::IndexCastOp>())
    value = cast.getIn();
  else if (auto cast = value.getDefiningOp<arith::IndexCastUIOp>())
    value = cast.getIn();
  if (value == launch.getThreadIds().x)
    return true;
  auto id = value.getDefiningOp<gpu::ThreadIdOp>();
  return id && id.getDimension() == gpu::Dimension::x;
}

/// `thread id x <predicate> N` as (predicate, N), N a constant.
static std::optional<std::pair<arith::CmpIPredicate, int64_t>>
threadIdComparison(Value condition, gpu::LaunchOp launch) {
  auto cmp = condition.getDefiningOp<arith::CmpIOp>();
  if (!cmp || !isThreadIdX(cmp.getLhs(), launch))
    return std::nullopt;
  std::optional<int64_t> n = getConstantIntValue(cmp.getRhs());
  if (!n)
    return std::nullopt;
  return std::make_pair(cmp.getPredicate(), *n);
}

/// The consumer threads of a warp-specialised kernel's split into roles:
/// `scf.if (thread id x < N) {consumers} else {producer}` with N a positive
/// multiple of 128 (whole warpgroups) and no results.
static std::optional<int64_t> roleSplit(scf::IfOp branch,
                                        gpu::LaunchOp launch) {
  if (branch.getElseRegion().empty() || branch.getNumResults())
    return std::nullopt;
  auto cmp = threadIdComparison(branch.getCondition(), launch);
  if (!cmp ||
      (cmp->first != arith::CmpIPredicate::ult &&
       cmp->first != arith::CmpIPredicate::slt) ||
      cmp->second <= 0 || cmp->second % 128)
    return std::nullopt;
  return cmp->second;
}

/// The operations that synchronise or gather the threads of a block or a
/// warp (split points, with mbarrier waits); a producer role may hold none.
static bool isCollective(Operation *op) {
  return isa<gpu::BarrierOp, gpu::ShuffleOp, nvgpu::LdMatrixOp,
             nvgpu::MmaSyncOp, nvgpu::WarpgroupMmaOp,
             kha::WarpgroupMmaRegisterAOp>(op);
}

LogicalResult HostLaunch::emitRoles(scf::IfOp roles, int64_t consumers,
                                    OpBuilder &b) {
  Location loc = roles.getLoc();
  gpu::KernelDim3 size = launch.getBlockSizeOperandValues();
  std::optional<int64_t> threads = getConstantIntValue(numThreads),
                         y = getConstantIntValue(size.y),
                         z = getConstantIntValue(size.z);
  if (inRole || !threads || !y || !z || *y != 1 || *z != 1 ||
      consumers >= *threads)
    return roles.emitError(
        "a split into warpgroup roles runs on the host only once per kernel, "
        "in one-dimensional blocks of a static size, with threads left for "
        "the producer");
  auto refuse = [&](Operation *at) {
    return at->emitError(
        "a producer role runs on the host only as register hints and "
        "arithmetic, then a branch for its first thread: work that may begin "
        "with an mbarrier wait, and loops without results whose iterations "
        "may each begin with one; no other branches, barriers or collective "
        "operations inside, and no result of a side effect used");
  };
  // Side effects whose results nothing uses (mbarrier tokens).
  auto unusedEffects = [](Operation *op) {
    return llvm::all_of(op->getResults(),
                        [](Value v) { return v.use_empty(); });
  };
  // The producer: its first thread's branch, found and checked.
  Producer p;
  p.thread = consumers;
  scf::IfOp elected;
  SmallVector<Operation *> arithmetic;
  for (Operation &op : roles.elseBlock()->without_terminator()) {
    if (isa<NVVM::SetMaxRegisterOp>(op))
      continue;
    if (auto branch = dyn_cast<scf::IfOp>(op)) {
      auto cmp = threadIdComparison(branch.getCondition(), launch);
      if (elected || !cmp || cmp->first != arith::CmpIPredicate::eq ||
          cmp->second != consumers || branch.getNumResults() ||
          !branch.getElseRegion().empty())
        return refuse(&op);
      elected = branch;
      continue;
    }
    if (op.getNumRegions() || !isPure(&op))
      return refuse(&op);
    arithmetic.push_back(&op);
  }
  if (!elected)
    return refuse(roles);
  // Its steps: a new one at each wait and each loop (canonicalisation may
  // have folded a loop of one iteration into straight-line code).
  auto newStep = [&] { p.steps.emplace_back(); };
  newStep();
  for (Operation &op : elected.thenBlock()->without_terminator()) {
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      if (loop.getNumResults())
        return refuse(&op);
      newStep();
      ProducerStep &step = p.steps.back();
      step.loop = loop;
      for (Operation &inner : loop.getBody()->without_terminator()) {
        if (inner.getNumRegions() || isCollective(&inner))
          return refuse(&inner);
        if (auto wait = dyn_cast<nvgpu::MBarrierTryWaitParityOp>(inner)) {
          if (step.wait ||
              llvm::any_of(step.ops, [](Operation *o) { return !isPure(o); }))
            return refuse(&inner);
          step.wait = wait;
          step.beforeWait = std::move(step.ops);
          step.ops.clear();
          continue;
        }
        if (!isPure(&inner) && !unusedEffects(&inner))
          return refuse(&inner);
        step.ops.push_back(&inner);
      }
      newStep();
      continue;
    }
    if (op.getNumRegions() || isCollective(&op))
      return refuse(&op);
    if (auto wait = dyn_cast<nvgpu::MBarrierTryWaitParityOp>(op)) {
      newStep();
      p.steps.back().wait = wait;
      continue;
    }
    if (isPure(&op))
      arithmetic.push_back(&op);
    else if (unusedEffects(&op))
      p.steps.back().ops.push_back(&op);
    else
      return refuse(&op);
  }
  // Its arithmetic outside loops, once for the block (its operands are
  // uniform, it has no thread-dependent value of its own), and the loops'
  // bounds.
  for (Operation *op : arithmetic) {
    if (!llvm::all_of(op->getOperands(),
                      [&](Value v) { return isUniform(v); })) {
      // The first thread's condition is known.
      if (llvm::all_of(op->getUsers(),
                       [&](Operation *user) { return user == elected; }))
        continue;
      return refuse(op);
    }
    b.clone(*op, uniform);
  }
  p.state = entryAlloca(loc, MemRefType::get({2}, b.getIndexType()));
  for (ProducerStep &step : p.steps) {
    if (!step.loop)
      continue;
    FailureOr<Value> ub = uniformValue(step.loop.getUpperBound(), loc, b);
    FailureOr<Value> by = uniformValue(step.loop.getStep(), loc, b);
    if (failed(ub) || failed(by))
      return failure();
    step.upperBound = *ub;
    step.step = *by;
  }
  // Step 0 (work before any loop; a loop's lower bound is set by the step
  // before it).
  memref::StoreOp::create(b, loc, constant(b, loc, 0), p.state,
                          ValueRange{constant(b, loc, 0)});
  producer = std::move(p);

  // The consumers, the producer running whenever they are about to wait:
  // first of all, then before each of their mbarrier waits; so it always
  // runs as far ahead as its waits let it (which is how a missing wait
  // shows: it overwrites what the consumers still read). When they are
  // done, it must be too; otherwise the GPU would wait for ever.
  Value lo = activeLo, hi = activeHi;
  activeLo = constant(b, loc, 0);
  activeHi = constant(b, loc, consumers);
  inRole = true;
  LogicalResult emitted = success(succeeded(advanceProducer(loc, b)) &&
                                  succeeded(emitOps(*roles.thenBlock(), b)) &&
                                  succeeded(advanceProducer(loc, b)));
  if (succeeded(emitted)) {
    Value step = memref::LoadOp::create(b, loc, producer->state,
                                        ValueRange{constant(b, loc, 0)});
    cf::AssertOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, step,
                              constant(b, loc, producer->steps.size())),
        "kha-gpu-launch-to-host-loops: the producer role is left waiting on "
        "an mbarrier after the consumers are done (a stage never released, "
        "or a wait for the wrong parity)");
  }
  activeLo = lo;
  activeHi = hi;
  inRole = false;
  producer.reset();
  return emitted;
}

LogicalResult HostLaunch::advanceProducer(Location loc, OpBuilder &b) {
  if (!producer)
    return success();
  Producer &p = *producer;
  Value lo = activeLo, hi = activeHi;
  activeLo = constant(b, loc, p.thread);
  activeHi = constant(b, loc, p.thread + 1);
  llvm::scope_exit restore([&] {
    activeLo = lo;
    activeHi = hi;
  });
  auto c = [&](OpBuilder &ob, int64_t v) { return constant(ob, loc, v); };
  auto field = [&](OpBuilder &ob, int64_t f) {
    return memref::LoadOp::create(ob, loc, p.state, ValueRange{c(ob, f)})
        .getResult();
  };
  auto setField = [&](OpBuilder &ob, int64_t f, Value v) {
    memref::StoreOp::create(ob, loc, v, p.state, ValueRange{c(ob, f)});
  };
  SmallVector<int64_t> cases;
  for (int64_t i = 0, e = p.steps.size(); i < e; ++i)
    cases.push_back(i);
  // While a step is left and it can go on: a step's wait would return; a
  // loop has iterations left and the next one's wait would return, or none
  // left (it then ends).
  bool ok = true;
  scf::WhileOp::create(
      b, loc, TypeRange{}, ValueRange{},
      [&](OpBuilder &wb, Location l, ValueRange) {
        auto ready =
            scf::IndexSwitchOp::create(wb, l, TypeRange{wb.getI1Type()},
                                       field(wb, 0), cases, cases.size());
        auto boolean = [&](OpBuilder &ob, bool v) {
          return arith::ConstantOp::create(ob, l, ob.getBoolAttr(v))
              .getResult();
        };
        for (auto [i, step] : llvm::enumerate(p.steps)) {
          Block &block = ready.getCaseRegions()[i].emplaceBlock();
          OpBuilder cb = OpBuilder::atBlockBegin(&block);
          if (!step.wait) {
            scf::YieldOp::create(cb, l, boolean(cb, true));
            continue;
          }
          if (!step.loop) {
            FailureOr<Value> done = emitMBarrierPhase(step.wait, cb);
            ok &= succeeded(done);
            scf::YieldOp::create(cb, l,
                                 succeeded(done) ? *done : boolean(cb, false));
            continue;
          }
          Value j = field(cb, 1);
          auto more = scf::IfOp::create(
              cb, l, TypeRange{cb.getI1Type()},
              arith::CmpIOp::create(cb, l, arith::CmpIPredicate::slt, j,
                                    step.upperBound),
              /*withElseRegion=*/true);
          OpBuilder tb = OpBuilder::atBlockBegin(more.thenBlock());
          uniform.map(step.loop.getInductionVar(), j);
          for (Operation *op : step.beforeWait)
            tb.clone(*op, uniform);
          FailureOr<Value> done = emitMBarrierPhase(step.wait, tb);
          ok &= succeeded(done);
          scf::YieldOp::create(tb, l,
                               succeeded(done) ? *done : boolean(tb, false));
          OpBuilder eb = OpBuilder::atBlockBegin(more.elseBlock());
          scf::YieldOp::create(eb, l, boolean(eb, true));
          scf::YieldOp::create(cb, l, more.getResult(0));
        }
        OpBuilder db =
            OpBuilder::atBlockBegin(&ready.getDefaultRegion().emplaceBlock());
        scf::YieldOp::create(db, l, boolean(db, false));
        scf::ConditionOp::create(wb, l, ready.getResult(0), ValueRange{});
      },
      [&](OpBuilder &wb, Location l, ValueRange) {
        Value current = field(wb, 0);
        Value next = arith::AddIOp::create(wb, l, current, c(wb, 1));
        auto run = scf::IndexSwitchOp::create(wb, l, TypeRange{}, current,
                                              cases, cases.size());
        for (auto [i, step] : llvm::enumerate(p.steps)) {
          Block &block = run.getCaseRegions()[i].emplaceBlock();
          OpBuilder yb = OpBuilder::atBlockBegin(&block);
          auto yield = scf::YieldOp::create(yb, l);
          OpBuilder cb(yield);
          if (!step.loop) {
            ok &= succeeded(emitThreadLoop(step.ops, cb));
            setField(cb, 0, next);
            // A loop right after starts at its lower bound.
            if (i + 1 < p.steps.size() && p.steps[i + 1].loop) {
              FailureOr<Value> lb =
                  uniformValue(p.steps[i + 1].loop.getLowerBound(), l, cb);
              ok &= succeeded(lb);
              if (succeeded(lb))
                setField(cb, 1, *lb);
            }
            continue;
          }
          Value j = field(cb, 1);
          auto more = scf::IfOp::create(
              cb, l,
              arith::CmpIOp::create(cb, l, arith::CmpIPredicate::slt, j,
                                    step.upperBound),
              /*withElseRegion=*/true);
          OpBuilder tb = OpBuilder::atBlockTerminator(more.thenBlock());
          uniform.map(step.loop.getInductionVar(), j);
          SmallVector<Operation *> all(step.beforeWait);
          all.append(step.ops);
          ok &= succeeded(emitThreadLoop(all, tb));
          setField(tb, 1, arith::AddIOp::create(tb, l, j, step.step));
          OpBuilder eb = OpBuilder::atBlockTerminator(more.elseBlock());
          setField(eb, 0, next);
        }
        OpBuilder db =
            OpBuilder::atBlockBegin(&run.getDefaultRegion().emplaceBlock());
        scf::YieldOp::create(db, l);
        scf::YieldOp::create(wb, l);
      });
  return success(ok);
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
    if (isa<gpu::BarrierOp>(op)) {
      if (inRole)
        return op.emitError("a block barrier inside a warpgroup role waits "
                            "for the threads of the other role too, which "
                            "never reach it");
      continue;
    }
    if (auto branch = dyn_cast<scf::IfOp>(op))
      if (std::optional<int64_t> consumers = roleSplit(branch, launch)) {
        if (failed(emitRoles(branch, *consumers, b)))
          return failure();
        continue;
      }
    LogicalResult emitted =
        TypeSwitch<Operation *, LogicalResult>(&op)
            .Case(
                [&](gpu::ShuffleOp shuffle) { return emitShuffle(shuffle, b); })
            .Case([&](nvgpu::LdMatrixOp load) { return emitLdMatrix(load, b); })
            .Case([&](nvgpu::MmaSyncOp mma) { return emitMmaSync(mma, b); })
            .Case([&](nvgpu::MBarrierTryWaitParityOp wait) {
              return emitMBarrierWait(wait, b);
            })
            .Case<nvgpu::WarpgroupMmaOp, kha::WarpgroupMmaRegisterAOp>(
                [&](Operation *mma) { return emitWarpgroupMma(mma, b); })
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
    if (!isCollective(op) && !isa<nvgpu::MBarrierTryWaitParityOp>(op))
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
  numThreads =
      x && y && z ? constant(b, loc, *x * *y * *z)
                  : arith::MulIOp::create(
                        b, loc, arith::MulIOp::create(b, loc, block.x, block.y),
                        block.z)
                        .getResult();
  Value zero = constant(b, loc, 0), one = constant(b, loc, 1);
  activeLo = zero;
  activeHi = numThreads;
  if (!getConstantIntValue(numThreads)) {
    Value fits =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, numThreads,
                              constant(b, loc, kMaxThreads));
    cf::AssertOp::create(b, loc, fits, "a block has more than 1024 threads");
  }

  // Workgroup buffers: one set, used by the blocks in turn.
  for (BlockArgument buffer : launch.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(buffer.getType());
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return launch.emitError("workgroup buffers run on the host must have a "
                              "static shape and the identity layout");
    Value host = entryAlloca(
        loc, MemRefType::get(type.getShape(), type.getElementType()));
    uniform.map(buffer, host);
    workgroupHost[buffer] = host;
  }
  // Dynamic shared memory: a buffer of the launch's (constant) size.
  for (auto dynamicShared :
       launch.getBody().getOps<gpu::DynamicSharedMemoryOp>()) {
    std::optional<int64_t> bytes =
        launch.getDynamicSharedMemorySize()
            ? getConstantIntValue(launch.getDynamicSharedMemorySize())
            : std::optional<int64_t>();
    if (!bytes || *bytes <= 0)
      return dynamicShared.emitError(
          "dynamic shared memory runs on the host only with a constant, "
          "positive size at its launch");
    Value host = entryAlloca(loc, MemRefType::get({*bytes}, b.getI8Type()));
    uniform.map(dynamicShared.getResult(),
                memref::CastOp::create(
                    b, loc,
                    MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
                    host)
                    .getResult());
    workgroupHost[dynamicShared.getResult()] = host;
  }
  if (failed(prepareAsyncCopies(b)) || failed(prepareHopper(b)))
    return failure();
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
  if (async.records) {
    // Each block starts with no copies pending and no groups committed.
    auto [clear, tid] = createThreadLoop(xb, loc);
    OpBuilder cb = OpBuilder::atBlockTerminator(clear.getBody());
    for (Value array : {async.counts, async.groups})
      memref::StoreOp::create(cb, loc, constant(cb, loc, 0), array,
                              ValueRange{tid});
  }
  if (tma.count)
    // Nor TMA loads.
    memref::StoreOp::create(xb, loc, constant(xb, loc, 0), tma.count,
                            ValueRange{constant(xb, loc, 0)});
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
    getOperation()->walk(
        [&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches)
      if (failed(HostLaunch(launch, reverseThreads).emit()))
        return signalPassFailure();
    // Tensor maps were read by the launches' host form; the host has no
    // driver to encode them.
    SmallVector<nvgpu::TmaCreateDescriptorOp> maps;
    getOperation()->walk(
        [&](nvgpu::TmaCreateDescriptorOp map) { maps.push_back(map); });
    for (nvgpu::TmaCreateDescriptorOp map : maps) {
      if (!map->use_empty()) {
        map.emitError("a tensor map used outside a kernel has no host form");
        return signalPassFailure();
      }
      Value tensor = map.getTensor();
      map.erase();
      if (Operation *cast = tensor.getDefiningOp<memref::CastOp>())
        if (cast->use_empty())
          cast->erase();
    }
  }
};
} // namespace
