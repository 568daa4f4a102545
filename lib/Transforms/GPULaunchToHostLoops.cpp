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
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
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
    if (isGPUOp(op))
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
      if (inner != clone && isGPUOp(inner))
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
      // cp.async tokens only order copies; the queue stands for them.
      if (isa<nvgpu::DeviceAsyncTokenType>(result.getType()))
        continue;
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
  SmallVector<int64_t> shape = llvm::map_to_vector(
      mma.getMmaShape(), [](Attribute a) { return cast<IntegerAttr>(a).getInt(); });
  Type in = aType.getElementType();
  if (shape != SmallVector<int64_t>{16, 8, 16} || !(in.isF16() || in.isBF16()) ||
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
  async.records = entryAlloca(loc, MemRefType::get({n, kQueue, kRecordFields}, index));
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
    memref::StoreOp::create(b, loc, arith::AddIOp::create(b, loc, groups, c(b, 1)),
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
      FailureOr<Value> v = threadValue(copy.getSrcElements(), local, tid, loc, b);
      if (failed(v))
        return failure();
      srcElements = *v;
    }
    auto [src, dst] = async.views.lookup(copy);
    Value dstOffset = linearOffset(b, loc, uniform.lookupOrDefault(copy.getDst()),
                                   *dstIndices);
    Value srcOffset = linearOffset(b, loc, uniform.lookupOrDefault(copy.getSrc()),
                                   *srcIndices);
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
    memref::StoreOp::create(b, loc, arith::AddIOp::create(b, loc, count, c(b, 1)),
                            async.counts, ValueRange{tid});
    // Until a wait retires it, the destination holds NaN.
    auto element = cast<FloatType>(copy.getDst().getType().getElementType());
    auto chunk = VectorType::get({int64_t(copy.getDstElements().getZExtValue())},
                                 element);
    Value nan = arith::ConstantOp::create(
        b, loc, chunk,
        DenseElementsAttr::get(chunk, APFloat::getNaN(element.getFloatSemantics())));
    vector::StoreOp::create(b, loc, nan, dst, ValueRange{dstOffset});
    return success();
  }

  // A wait retires the groups older than the newest `numGroups`, in order,
  // and keeps the rest queued.
  auto wait = cast<nvgpu::DeviceAsyncWaitOp>(op);
  int64_t pending = wait.getNumGroups().value_or(0);
  Value keepFrom = arith::SubIOp::create(b, loc, groups, c(b, pending));
  auto slots = scf::ForOp::create(b, loc, c(b, 0), count, c(b, 1),
                                  ValueRange{c(b, 0)});
  OpBuilder sb = OpBuilder::atBlockBegin(slots.getBody());
  Value slot = slots.getInductionVar(), kept = slots.getRegionIterArgs()[0];
  // (groups - pending may wrap below 0: then nothing is retired.)
  Value retire = arith::AndIOp::create(
      sb, loc,
      arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::uge, groups,
                            c(sb, pending)),
      arith::CmpIOp::create(sb, loc, arith::CmpIPredicate::ult, field(sb, slot, 4),
                            keepFrom));
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
      Value zeros = arith::ConstantOp::create(cb, loc, chunk, cb.getZeroAttr(chunk));
      Value data = vector::MaskedLoadOp::create(cb, loc, chunk, src,
                                                ValueRange{srcOffset}, mask, zeros);
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
    scf::YieldOp::create(kb, loc,
                         arith::AddIOp::create(kb, loc, kept, c(kb, 1)).getResult());
  }
  scf::YieldOp::create(sb, loc, branch.getResult(0));
  memref::StoreOp::create(b, loc, slots.getResult(0), async.counts,
                          ValueRange{tid});
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
            .Case([&](nvgpu::LdMatrixOp load) { return emitLdMatrix(load, b); })
            .Case([&](nvgpu::MmaSyncOp mma) { return emitMmaSync(mma, b); })
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
    if (!isa<gpu::BarrierOp, gpu::ShuffleOp, nvgpu::LdMatrixOp,
             nvgpu::MmaSyncOp>(op))
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
  if (failed(prepareAsyncCopies(b)))
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
