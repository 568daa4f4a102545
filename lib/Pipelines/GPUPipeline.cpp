//===- GPUPipeline.cpp - kha to NVVM kernels and host code that runs them -===//

#include "kha/Pipelines/Pipelines.h"

#include "PipelineSteps.h"

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"

#include <cstdlib>

using namespace mlir;

LogicalResult kha::checkGPUPipelineSettings(const GPUPipelineSettings &options,
                                            std::string &error) {
  StringRef chip = options.chip;
  if (chip != "sm_80" && chip != "sm_86" && chip != "sm_89" &&
      chip != "sm_90" && chip != "sm_90a") {
    error = "chip must be sm_80, sm_86, sm_89, sm_90 or sm_90a, got '" +
            chip.str() + "'";
    return failure();
  }
  StringRef format = options.format;
  if (format != "isa" && format != "bin" && format != "fatbin") {
    error = "format must be isa, bin or fatbin, got '" + format.str() + "'";
    return failure();
  }
  return success();
}

std::optional<std::string> kha::findCudaToolkit() {
  for (const char *var : {"CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"})
    if (const char *path = std::getenv(var))
      if (*path)
        return std::string(path);
  if (llvm::sys::fs::exists("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"))
    return std::string("/usr/local/cuda");
  return std::nullopt;
}

/// MLIR's NVVM serialisation (gpu-module-to-binary) links libdevice (the
/// math functions kernels call) and runs ptxas from a CUDA toolkit; Debian's
/// MLIR has no default one. The upstream pipeline builder takes no toolkit,
/// so the option is given to the pass it added.
static void setSerialisationToolkit(OpPassManager &pm,
                                    const kha::GPUPipelineSettings &options) {
  std::string toolkit = options.toolkit;
  if (toolkit.empty())
    toolkit = kha::findCudaToolkit().value_or("");
  if (toolkit.empty())
    return;
  for (Pass &pass : pm.getPasses())
    if (pass.getArgument() == "gpu-module-to-binary")
      (void)pass.initializeOptions("toolkit=" + toolkit,
                                   [](const Twine &) { return failure(); });
}

void kha::buildGPUPipeline(OpPassManager &pm,
                           const GPUPipelineSettings &options) {
  // kha -> linalg on tensors, as for the CPU (the knock folds are the same).
  addExpansionAndKnockFolding(pm, options.foldKnocks, options.prepareWeights);
  // f16/bf16 projections multiply the narrow tensors, not f32 copies (here
  // and again for the matmuls kha-lower-to-linalg makes).
  pm.addPass(createKHAFoldMatmulExtensionsPass());
  // Attention: one fused kernel per kha.sdpa (online softmax, K/V tiles in
  // shared memory for a whole query-head group), each kernel chosen for the
  // chip: tensor cores where they can take the op, else the SIMT kernel
  // with a remark saying why.
  KHASDPAToGPUPassOptions attention;
  attention.chip = options.chip;
  attention.requireTensorCores = options.requireTensorCores;
  pm.addPass(createKHASDPAToGPUPass(attention));
  pm.addPass(createKHALowerToLinalgPass());
  pm.addPass(createKHAFoldMatmulExtensionsPass());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Projections (and folded weights, and the matmuls the lowering made):
  // shared-memory tiled matmul kernels, chosen the same way.
  KHAMatmulToGPUPassOptions projections;
  projections.chip = options.chip;
  projections.requireTensorCores = options.requireTensorCores;
  pm.addPass(createKHAMatmulToGPUPass(projections));

  // Buffers; the function's results are device buffers the caller owns.
  addBufferization(pm);
  pm.addPass(createCanonicalizerPass());
  // (MLIR's ownership-based deallocation rejects kernels: they declare no
  // memory effects.)
  pm.addNestedPass<func::FuncOp>(createKHAFreeIntermediateBuffersPass());
  pm.addPass(createKHAMemRefCopyToLinalgPass());
  pm.addPass(createKHAExpandShapeToReinterpretCastPass());

  // Every remaining linalg op becomes a kernel: parallel loops tiled into
  // 16 x 16 thread blocks (constant bounds, guarded), mapped to the grid and
  // the block, outlined.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(
      createParallelLoopTilingPass({16, 16}, /*noMinMaxBounds=*/true));
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addPass(createCanonicalizerPass());
  // exp and friends as polynomials: no libdevice needed.
  pm.addPass(createKHAMathApproximationPass());

  // Constants and index computations move into the kernels (else each
  // becomes a kernel parameter when outlined, and a division by a tile size a
  // 64-bit division by a runtime value).
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());

  // Checking without a GPU: the same kernels run on the host, their threads
  // as loops, on host buffers (with the kernels' index arithmetic narrowed
  // as on the GPU).
  if (options.hostEmulation) {
    pm.addNestedPass<func::FuncOp>(createKHAGPUNarrowIndexArithmeticPass());
    pm.addPass(createKHAGPULaunchToHostLoopsPass());
    pm.addPass(createCanonicalizerPass());
    addHostLowering(pm);
    return;
  }

  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createKHAGPUMergeKernelModulesPass());
  // Hopper kernels: tensor maps as device pointers, swizzled shared buffers
  // aligned to 1024 bytes.
  pm.addPass(createKHAGPUHopperKernelABIPass());

  // Host side: device buffers, one stream per call.
  pm.addPass(createKHAGPUDeviceBuffersPass());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createKHAEmitCInterfacePass());

  // bf16 tensor-core steps, which the upstream nvgpu lowering cannot take.
  pm.addNestedPass<gpu::GPUModuleOp>(createKHAMmaSyncBF16ToNVVMPass());
  // Hopper MMAs with A in registers, which NVVM has no op for, as inline
  // PTX (their descriptors lower with the nvgpu ops below).
  pm.addNestedPass<gpu::GPUModuleOp>(
      createKHAWarpgroupMmaRegisterAToNVVMPass());
  // 32-bit index arithmetic in the kernels where integer range analysis
  // proves it exact (thread and lane decompositions, shared-memory offsets);
  // 64-bit where a value can pass 2^31 (offsets into dynamic tensors).
  pm.addNestedPass<gpu::GPUModuleOp>(createKHAGPUNarrowIndexArithmeticPass());
  // The nvgpu ops to NVVM first, so that the Hopper kernels' accumulators,
  // now LLVM structs, can be read as registers.
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createKHAGPUWgmmaFragmentsToLLVMPass());
  // Kernels to NVVM and PTX/cubin; host code to LLVM.
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = "+ptx80";
  nvvm.cubinFormat = options.format;
  nvvm.optLevel = 3;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
  setSerialisationToolkit(pm, options);
  // Nothing left that the translation to LLVM IR refuses.
  pm.addPass(createKHAVerifyLoweredPass());
}
