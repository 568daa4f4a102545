//===- GPUHopperKernelABI.cpp - how outlined Hopper kernels take TMA maps -===//
//
// After outlining, a kernel that uses TMA takes its tensor maps as kernel
// parameters of type !nvgpu.tensormap.descriptor, which MLIR's GPU-to-NVVM
// conversion of gpu.func signatures does not know. This pass gives such
// kernels the ABI the host side already has: each tensor map is a pointer
// to the encoded map in device memory (what mgpuTensorMapEncodeTiledMemref
// returns), cast back to the descriptor type inside the kernel and at the
// launch, casts the conversions to LLVM resolve. It also aligns the
// kernel's workgroup buffers to 1024 bytes, which 128-byte-swizzled TMA
// destinations and wgmma descriptors need.
//
//===----------------------------------------------------------------------===//

#include "kha/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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

namespace {
struct GPUHopperKernelABIPass
    : kha::impl::KHAGPUHopperKernelABIPassBase<GPUHopperKernelABIPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    auto pointer = LLVM::LLVMPointerType::get(context);
    OpBuilder b(context);
    module.walk([&](gpu::GPUFuncOp kernel) {
      if (!usesTma(kernel))
        return;
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
