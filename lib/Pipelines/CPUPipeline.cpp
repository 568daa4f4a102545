//===- CPUPipeline.cpp - kha to the LLVM dialect for the host CPU ---------===//

#include "kha/Pipelines/Pipelines.h"

#include "PipelineSteps.h"

#include "kha/Conversion/Passes.h"
#include "kha/Dialect/KHA/Transforms/Passes.h"
#include "kha/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// Keys per step of the CPU's online softmax: a 64 x 64 block of f32 scores
/// (16 KiB) stays in L1 beside the query rows.
static constexpr int64_t kCPUKeyBlockSize = 64;

void kha::addExpansionAndKnockFolding(OpPassManager &pm, bool foldKnocks,
                                      bool prepareWeights,
                                      int64_t weightPanelWidth,
                                      bool bf16Pairs) {
  // TOSA input through upstream's conversions (nothing happens without
  // TOSA ops), then attention and head-shared knocks written in linalg
  // become kha.sdpa and kha.linear_knock.
  tosa::addTosaToLinalgPasses(pm, TosaToLinalgOptions());
  pm.addNestedPass<func::FuncOp>(createTosaToArithPass());
  pm.addNestedPass<func::FuncOp>(createTosaToTensorPass());
  pm.addNestedPass<func::FuncOp>(createTosaToSCFPass());
  pm.addPass(createKHARaiseAttentionPass());
  pm.addPass(createKHARaiseKnocksPass());
  // kha ops where the pipelines cannot lower them are errors that say so.
  pm.addPass(createKHAVerifyPipelineInputPass());
  // linalg.softmax and other aggregates, which no lowering takes whole.
  pm.addPass(createKHADecomposeAggregateOpsPass());
  pm.addPass(createKHASimplifyKnocksPass());
  pm.addPass(createKHAExpandAttentionBlockPass());
  if (foldKnocks) {
    // Constant weights fold only once their casts are folded away.
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createKHAFoldKnockPass());
  }
  // Projection weights in the panels the CPU's matmul kernels read; for
  // AVX512-BF16 dot products, bf16 products are kept in bf16 and their
  // weights packed in pairs along K.
  if (weightPanelWidth > 0) {
    if (bf16Pairs) {
      KHAFoldMatmulExtensionsPassOptions fold;
      fold.elementTypes = {"bf16"};
      pm.addNestedPass<func::FuncOp>(createKHAFoldMatmulExtensionsPass(fold));
    }
    KHAPackMatmulWeightsPassOptions pack;
    pack.panelWidth = weightPanelWidth;
    pack.bf16Pairs = bf16Pairs;
    pm.addNestedPass<func::FuncOp>(createKHAPackMatmulWeightsPass(pack));
  }
  // Work on the weights alone, once per set of weights.
  if (prepareWeights)
    pm.addPass(createKHAOutlineWeightPreparationPass());
}

void kha::addBufferization(OpPassManager &pm) {
  // Arguments stay the caller's, results become the caller's.
  pm.addPass(createKHAEntryPointOwnershipPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
}

void kha::addHostLowering(OpPassManager &pm, StringRef bf16Dot) {
  // Vectors: masks and transfers to plain loads and stores, contractions to
  // outer products (FMA chains).
  pm.addNestedPass<func::FuncOp>(vector::createLowerVectorMaskPass());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass(
      VectorTransferToSCFOptions().enableFullUnroll()));
  pm.addNestedPass<func::FuncOp>(createKHALowerVectorReductionsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createKHAMathApproximationPass());
  // Roundings to bf16 as vector integer arithmetic, not a call per lane.
  pm.addPass(createKHAExpandBF16ConversionsPass());
  // AVX512-BF16 dot products emulated where the target lacks them, or as
  // FMAs on the pairs widened in registers.
  if (bf16Dot == "emulate" || bf16Dot == "widen") {
    KHAEmulateBF16DotPassOptions emulate;
    emulate.flushSubnormals = bf16Dot == "emulate";
    pm.addPass(createKHAEmulateBF16DotPass(emulate));
  }

  // To the LLVM dialect.
  pm.addPass(createKHAEmitCInterfacePass());
  pm.addPass(createKHAExpandShapeToReinterpretCastPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // OpenMP regions (the CPU path's threads), before their bodies' buffers
  // become LLVM structures.
  pm.addPass(createConvertOpenMPToLLVMPass());
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.vectorContractLowering =
      vector::VectorContractLowering::OuterProduct;
  vectorToLLVM.vectorTransposeLowering =
      vector::VectorTransposeLowering::Shuffle1D;
  vectorToLLVM.x86Vector = bf16Dot == "avx512bf16";
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  // Nothing left that the translation to LLVM IR refuses.
  pm.addPass(createKHAVerifyLoweredPass());
}

bool kha::isValidCPUBF16Dot(StringRef bf16Dot) {
  return bf16Dot == "none" || bf16Dot == "avx512bf16" || bf16Dot == "emulate" ||
         bf16Dot == "widen";
}

bool kha::cpuPacksBF16Pairs(const CPUPipelineSettings &settings) {
  return settings.vectorize && settings.bf16Dot != "none";
}

int64_t kha::cpuWeightPanelWidth(const CPUPipelineSettings &settings) {
  if (!settings.vectorize)
    return 0;
  // One f32 accumulator row of the register tile: two vector registers
  // (@kha_codegen* in cpu.mlir).
  switch (settings.vectorBits) {
  case 512:
    return 32;
  case 256:
    return 16;
  case 128:
    return 8;
  default:
    return 0;
  }
}

FailureOr<std::string> kha::cpuScheduleEntryPoint(int64_t vectorBits) {
  switch (vectorBits) {
  case 512:
    return std::string("__transform_main");
  case 256:
    return std::string("kha_codegen_256");
  case 128:
    return std::string("kha_codegen_128");
  default:
    return failure();
  }
}

void kha::buildCPUPipeline(OpPassManager &pm,
                           const CPUPipelineSettings &options) {
  // kha -> linalg on tensors.
  addExpansionAndKnockFolding(pm, options.foldKnocks, options.prepareWeights,
                              cpuWeightPanelWidth(options),
                              cpuPacksBF16Pairs(options));
  if (options.fuseKnockMlp)
    pm.addPass(createKHAFuseKnockMlpPass());
  // Attention: tiles of query rows (causal ones skip the keys above the
  // diagonal), each an online softmax over blocks of 64 keys.
  if (options.vectorize) {
    KHACPUSchedulePassOptions tileAttention;
    tileAttention.scheduleFile = options.scheduleFile;
    tileAttention.entryPoint = "kha_tile_attention";
    pm.addPass(createKHACPUSchedulePass(tileAttention));
    // Static tiles' key counts fold, so that their blocks are static.
    pm.addPass(createCanonicalizerPass());
    // Each tile's key/value head as contiguous rows (one copy per operand).
    pm.addPass(createKHAContiguousAttentionHeadsPass());
    pm.addPass(createCSEPass());
  }
  KHADecomposeSDPAPassOptions decompose;
  decompose.keyBlockSize = kCPUKeyBlockSize;
  // Key-major scores are fast through the schedule's column reductions,
  // which vectorise along the query rows; unvectorised, the row-major form
  // is kept.
  decompose.transposeScores = options.vectorize;
  pm.addPass(createKHADecomposeSDPAPass(decompose));
  pm.addPass(createKHALowerToLinalgPass());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Tables of constants (RoPE's cos/sin at a static sequence length) are
  // computed here once, not at every call.
  pm.addPass(createKHAFoldConstantGenericsPass());

  // Tile and vectorise on tensors, where the accumulators can be hoisted.
  if (options.vectorize) {
    KHACPUSchedulePassOptions schedule;
    schedule.scheduleFile = options.scheduleFile;
    schedule.entryPoint =
        cpuScheduleEntryPoint(options.vectorBits).value_or("__transform_main");
    pm.addPass(createKHACPUSchedulePass(schedule));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    // The bf16 pair products' register tiles as dot products.
    if (cpuPacksBF16Pairs(options))
      pm.addPass(createKHAContractToBF16DotPass());
  }

  // Tensors -> buffers, with deallocation. Shared empty tensors and fills
  // are unshared first, so that no buffer is copied to give each writer its
  // own, and a value computed into an empty tensor and then inserted into a
  // larger one (RoPE's two halves into the rotated row) is computed in
  // place, in the larger one's buffer.
  pm.addPass(createKHADuplicateSharedInitsPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  addBufferization(pm);
  // The schedule's scf.forall loops: the outermost on threads, or all in
  // order.
  KHAForallToThreadsPassOptions forallToThreads;
  forallToThreads.threads = options.threads;
  pm.addPass(createKHAForallToThreadsPass(forallToThreads));
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);

  pm.addPass(createKHAMemRefCopyToLinalgPass());
  // Copies and the fills no tile vectorised, a vector at a time along their
  // rows rather than an element at a time.
  if (options.vectorize)
    pm.addPass(createKHAVectorizeBufferCopiesPass());

  // Loops.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  if (options.threads) {
    // Parallel loops to OpenMP work-sharing loops, tiles handed out as
    // threads become free; the scopes the conversion wraps loop bodies in
    // are inlined where they hold no stack allocation.
    pm.addPass(createConvertSCFToOpenMPPass());
    pm.addPass(createKHAOmpDynamicSchedulePass());
    pm.addPass(createCanonicalizerPass());
  }

  addHostLowering(pm, cpuPacksBF16Pairs(options) ? StringRef(options.bf16Dot)
                                                 : StringRef("none"));
}

void kha::registerKHAPipelines() {
  // Registered by hand so that a bad vector width, chip or format is an
  // error, not a pipeline silently built for something else.
  registerPassPipeline(
      "kha-cpu-pipeline",
      "lower kha (and linalg) on tensors to the LLVM dialect for the host CPU",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        CPUPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        if (failed(cpuScheduleEntryPoint(options.vectorBits)))
          return errorHandler("kha-cpu-pipeline: vector-bits must be 128, "
                              "256 or 512, got " +
                              Twine(options.vectorBits));
        if (!isValidCPUBF16Dot(options.bf16Dot))
          return errorHandler("kha-cpu-pipeline: bf16-dot must be none, "
                              "avx512bf16, emulate or widen, got '" +
                              Twine(options.bf16Dot) + "'");
        buildCPUPipeline(pm, options.settings());
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(CPUPipelineOptions());
      });
  registerPassPipeline(
      "kha-gpu-pipeline",
      "lower kha (and linalg) on tensors to NVVM kernels and host code calling "
      "the GPU runtime",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        GPUPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        std::string error;
        GPUPipelineSettings settings = options.settings();
        if (failed(checkGPUPipelineSettings(settings, error)))
          return errorHandler("kha-gpu-pipeline: " + error);
        buildGPUPipeline(pm, settings);
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(GPUPipelineOptions());
      });
}
