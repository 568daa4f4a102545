//===- GPUHopperKernelABI.cpp - how outlined Hopper kernels take TMA maps -===//
//
// After outlining, a kernel that uses TMA takes its tensor maps as kernel
// parameters of type !nvgpu.tensormap.descriptor, which MLIR's GPU-to-NVVM
// conversion of gpu.func signatures does not know. This pass gives such
// kernels the ABI the host side already has: each tensor map is a pointer
// to the encoded map in device memory (what mgpuTensorMapEncodeTiledMemref
// returns), cast back to the descriptor type inside the kernel and at the
// launch, casts the conversions to LLVM resolve. It also aligns the
// kernel's shared memory to 1024 bytes, which 128-byte-swizzled TMA
// destinations and wgmma descriptors need: its workgroup buffers, and its
// dynamic shared memory, which becomes one external, 1024-byte aligned
// shared array per module (PTX `.extern .shared .align 1024 .b8 x[]`;
// MLIR's own lowering of gpu.dynamic_shared_memory makes a 16-byte aligned
// internal array, which PTX emits as a 1-byte static one). A kernel that
// moves registers between its warpgroups (`nvvm.setmaxregister`) gets
// `nvvm.minctasm = 1` (PTX `.minnctapersm 1`): with it ptxas gives the
// kernel the most registers its block size allows at entry, the pool the
// warpgroups then trade from; without it ptxas may choose fewer and ignores
// the `setmaxnreg` instructions ("unable to determine register count at
// entry").
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir {
namespace kha {
#define GEN_PASS_DEF_KHAGPUHOPPERKERNELABIPASS
#include "kha/Transforms/Passes.h.inc"
} // namespace kha
} // namespace mlir

using namespace mlir;

/// The alignment of shared buffers that TMA fills with a swizzle.
static constexpr int64_t kSwizzleAlignment = 1024;

static bool usesTma(gpu::GPUFuncOp kernel) {
  return kernel
      ->walk([](Operation *op) {
        return isa<nvgpu::TmaAsyncLoadOp, nvgpu::TmaAsyncStoreOp,
                   nvgpu::WarpgroupGenerateDescriptorOp>(op)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      })
      .wasInterrupted();
}

/// The name of the dynamic shared memory array of a GPU module.
static constexpr StringLiteral kDynamicShared = "kha_dynamic_shared";

/// Replaces `op` by a memref on the module's external, 1024-byte aligned
/// shared array: the LLVM memref descriptor built from the array's address
/// and cast to the op's type, a cast the conversion to NVVM folds.
static void lowerDynamicSharedMemory(gpu::DynamicSharedMemoryOp op) {
  MLIRContext *context = op.getContext();
  auto module = op->getParentOfType<gpu::GPUModuleOp>();
  OpBuilder b(context);
  auto array = LLVM::LLVMArrayType::get(IntegerType::get(context, 8), 0);
  auto global = module.lookupSymbol<LLVM::GlobalOp>(kDynamicShared);
  if (!global) {
    b.setInsertionPointToStart(module.getBody());
    global = LLVM::GlobalOp::create(b, op.getLoc(), array, /*isConstant=*/false,
                                    LLVM::Linkage::External, kDynamicShared,
                                    /*value=*/Attribute(), kSwizzleAlignment,
                                    /*addrSpace=*/3);
  }
  b.setInsertionPoint(op);
  Location loc = op.getLoc();
  auto pointer = LLVM::LLVMPointerType::get(context, 3);
  Type i64 = b.getI64Type();
  auto sizes = LLVM::LLVMArrayType::get(i64, 1);
  auto descriptorType = LLVM::LLVMStructType::getLiteral(
      context, {pointer, pointer, i64, sizes, sizes});
  Value address = LLVM::AddressOfOp::create(b, loc, global);
  auto i64Constant = [&](int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  Value descriptor = LLVM::PoisonOp::create(b, loc, descriptorType);
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, address,
                                           ArrayRef<int64_t>{0});
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, address,
                                           ArrayRef<int64_t>{1});
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, i64Constant(0),
                                           ArrayRef<int64_t>{2});
  // The size is not known here; the views taken from the array are static.
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, i64Constant(0),
                                           ArrayRef<int64_t>{3, 0});
  descriptor = LLVM::InsertValueOp::create(b, loc, descriptor, i64Constant(1),
                                           ArrayRef<int64_t>{4, 0});
  auto cast = UnrealizedConversionCastOp::create(b, loc, op.getType(),
                                                 ValueRange{descriptor});
  op.replaceAllUsesWith(cast.getResult(0));
  op.erase();
}

namespace {
struct GPUHopperKernelABIPass
    : kha::impl::KHAGPUHopperKernelABIPassBase<GPUHopperKernelABIPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    auto pointer = LLVM::LLVMPointerType::get(context);
    OpBuilder b(context);
    module.walk([&](gpu::GPUFuncOp kernel) {
      bool rebalances = kernel
                            ->walk([](NVVM::SetMaxRegisterOp) {
                              return WalkResult::interrupt();
                            })
                            .wasInterrupted();
      if (rebalances)
        kernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                        b.getI32IntegerAttr(1));
      if (!usesTma(kernel))
        return;
      SmallVector<gpu::DynamicSharedMemoryOp> dynamicShared;
      kernel.walk(
          [&](gpu::DynamicSharedMemoryOp op) { dynamicShared.push_back(op); });
      for (gpu::DynamicSharedMemoryOp op : dynamicShared)
        lowerDynamicSharedMemory(op);
      for (unsigned i = 0, e = kernel.getNumWorkgroupAttributions(); i < e; ++i)
        kernel.setWorkgroupAttributionAttr(
            i, LLVM::LLVMDialect::getAlignAttrName(),
            b.getI64IntegerAttr(kSwizzleAlignment));
      Block &entry = kernel.getBody().front();
      bool changed = false;
      for (BlockArgument arg :
           entry.getArguments().take_front(kernel.getNumArguments())) {
        if (!isa<nvgpu::TensorMapDescriptorType>(arg.getType()))
          continue;
        Type map = arg.getType();
        arg.setType(pointer);
        b.setInsertionPointToStart(&entry);
        auto cast = UnrealizedConversionCastOp::create(b, arg.getLoc(), map,
                                                       ValueRange{arg});
        arg.replaceAllUsesExcept(cast.getResult(0), cast);
        changed = true;
      }
      if (!changed)
        return;
      SmallVector<Type> inputs;
      for (unsigned i = 0, e = kernel.getNumArguments(); i < e; ++i)
        inputs.push_back(entry.getArgument(i).getType());
      kernel.setFunctionType(FunctionType::get(
          context, inputs, kernel.getFunctionType().getResults()));
    });
    // Launches pass the map's pointer.
    module.walk([&](gpu::LaunchFuncOp launch) {
      for (OpOperand &operand : launch.getKernelOperandsMutable()) {
        if (!isa<nvgpu::TensorMapDescriptorType>(operand.get().getType()))
          continue;
        b.setInsertionPoint(launch);
        auto cast = UnrealizedConversionCastOp::create(
            b, launch.getLoc(), pointer, ValueRange{operand.get()});
        operand.set(cast.getResult(0));
      }
    });
  }
};
} // namespace
