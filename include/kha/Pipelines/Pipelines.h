//===- Pipelines.h - the named kha pipelines --------------------*- C++ -*-===//

#ifndef KHA_PIPELINES_PIPELINES_H
#define KHA_PIPELINES_PIPELINES_H

#include "kha/Support/GPUTarget.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <optional>
#include <string>

namespace mlir {
namespace kha {

/// The first steps of both pipelines: TOSA and linalg attention raised to
/// kha, the attention block expanded into mid-level kha ops, knocks
/// simplified, (with `foldKnocks`) linear knocks and the MLP knock's down
/// projection folded into the projection weights, and (with
/// `prepareWeights`) work on `kha.weight` arguments alone outlined into
/// prepare functions (kha-outline-weight-preparation). With a
/// `weightPanelWidth`, matmuls read weights packed into panels of that many
/// columns (kha-pack-matmul-weights; 0: not packed), packed before the
/// outlining so that the packing is prepared once; with `bf16Pairs`, bf16
/// products stay bf16 and their weights are packed in pairs along K, for
/// AVX512-BF16 dot products. kha-compile runs them before it describes a
/// library's functions.
void addExpansionAndKnockFolding(OpPassManager &pm, bool foldKnocks,
                                 bool prepareWeights,
                                 int64_t weightPanelWidth = 0,
                                 bool bf16Pairs = false);

/// What `--kha-cpu-pipeline` builds, with the defaults: the one place they
/// are defined. The registered pipeline's options (CPUPipelineOptions) take
/// their defaults from here, and kha-compile and the C API start from them.
struct CPUPipelineSettings {
  /// Tile and vectorise matmuls and attention (off: plain loops).
  bool vectorize = true;
  /// Fold linear knocks into the projection weights (kha-fold-knock).
  bool foldKnocks = true;
  /// Move work on `kha.weight` arguments alone into @f_prepare
  /// (kha-outline-weight-preparation).
  bool prepareWeights = true;
  /// Fuse MLP knocks into the value projection (kha-fuse-knock-mlp).
  bool fuseKnockMlp = true;
  /// A transform script replacing the built-in CPU schedule ("": built-in).
  std::string scheduleFile;
  /// The width of the target's vector registers (512, 256 or 128), which
  /// sizes the matmuls' register tiles.
  int64_t vectorBits = 512;
  /// Run independent tiles (attention tiles, blocks of projection rows and
  /// columns) on all the cores with OpenMP; the library then needs LLVM's
  /// OpenMP runtime (libomp.so.5). Off: one thread, no runtime.
  bool threads = true;
  /// bf16 x bf16 projections: "none" (computed in f32 from widened
  /// operands), "avx512bf16" (AVX512-BF16 dot products on bf16 panels,
  /// `vdpbf16ps`; kha-compile chooses it where the target has the feature),
  /// "emulate" (the same code, the instruction emulated in f32 vector
  /// arithmetic: to check it on any CPU), or "widen" (the same bf16 panels,
  /// each dot product as two f32 FMAs on the pairs widened in registers).
  std::string bf16Dot = "none";
};

/// Options of `--kha-cpu-pipeline`: CPUPipelineSettings as pass options.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> vectorize{
      *this, "vectorize",
      llvm::cl::desc("tile and vectorise matmuls and attention (off: plain "
                     "loops, for debugging)"),
      llvm::cl::init(CPUPipelineSettings().vectorize)};
  PassOptions::Option<bool> foldKnocks{
      *this, "fold-knocks",
      llvm::cl::desc("fold linear knocks into the projection weights "
                     "(kha-fold-knock)"),
      llvm::cl::init(CPUPipelineSettings().foldKnocks)};
  PassOptions::Option<bool> prepareWeights{
      *this, "prepare-weights",
      llvm::cl::desc("move work on the weights alone into @f_prepare, called "
                     "once per set of weights "
                     "(kha-outline-weight-preparation)"),
      llvm::cl::init(CPUPipelineSettings().prepareWeights)};
  PassOptions::Option<bool> fuseKnockMlp{
      *this, "fuse-knock-mlp",
      llvm::cl::desc("fuse MLP knocks into the value projection "
                     "(kha-fuse-knock-mlp)"),
      llvm::cl::init(CPUPipelineSettings().fuseKnockMlp)};
  PassOptions::Option<std::string> scheduleFile{
      *this, "schedule-file",
      llvm::cl::desc("a transform script to use instead of the built-in CPU "
                     "schedule (for experiments)"),
      llvm::cl::init(CPUPipelineSettings().scheduleFile)};
  PassOptions::Option<int64_t> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("the width of the target's vector registers (512: "
                     "AVX-512, 256: AVX2, 128: SSE or NEON), which sizes the "
                     "matmuls' register tiles; kha-compile sets it from the "
                     "target's features"),
      llvm::cl::init(CPUPipelineSettings().vectorBits)};
  PassOptions::Option<bool> threads{
      *this, "threads",
      llvm::cl::desc("run independent tiles on all the cores with OpenMP "
                     "(the library then needs libomp.so.5; false: one "
                     "thread)"),
      llvm::cl::init(CPUPipelineSettings().threads)};
  PassOptions::Option<std::string> bf16Dot{
      *this, "bf16-dot",
      llvm::cl::desc("bf16 projections: none (in f32 from widened "
                     "operands), avx512bf16 (AVX512-BF16 dot products on "
                     "bf16 weight panels), emulate (the same code with the "
                     "instruction emulated, for checking) or widen (bf16 "
                     "panels widened in registers, f32 FMAs)"),
      llvm::cl::init(CPUPipelineSettings().bf16Dot)};

  CPUPipelineSettings settings() const {
    return {vectorize,    foldKnocks, prepareWeights, fuseKnockMlp,
            scheduleFile, vectorBits, threads,        bf16Dot};
  }
};

/// The width of the weight panels the CPU schedule's matmul kernels read
/// (the register tile's: 32, 16 or 8 columns for 512-, 256- or 128-bit
/// vectors), or 0 when the CPU pipeline packs no weights (no vectorising
/// schedule).
int64_t cpuWeightPanelWidth(const CPUPipelineSettings &settings);

/// True when `bf16Dot` names a valid choice (none, avx512bf16, emulate,
/// widen).
bool isValidCPUBF16Dot(StringRef bf16Dot);

/// True when the CPU pipeline built from `settings` packs bf16 products in
/// pairs for dot products (vectorised, and `bf16Dot` not "none").
bool cpuPacksBF16Pairs(const CPUPipelineSettings &settings);

/// The CPU schedule's code generation entry point for vector registers of
/// `vectorBits` (lib/Transforms/Schedules/cpu.mlir), or failure when the
/// width is not 128, 256 or 512.
FailureOr<std::string> cpuScheduleEntryPoint(int64_t vectorBits);

/// Lowers a module of kha (and linalg) ops on tensors to the LLVM dialect for
/// the host CPU: kha to linalg, bufferisation with deallocation, the CPU
/// schedule, then the standard conversions to LLVM. Public functions get a
/// `_mlir_ciface_` entry point.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineSettings &settings);

/// What `--kha-gpu-pipeline` builds, with the defaults: the one place they
/// are defined (GPUPipelineOptions, kha-compile and the C API start from
/// them).
struct GPUPipelineSettings {
  /// The NVIDIA GPU: sm_80 (Ampere) ... sm_90a (Hopper).
  std::string chip = kDefaultCudaChip;
  /// The kernels' embedded form: isa (PTX), bin (cubin) or fatbin.
  std::string format = "isa";
  /// The CUDA toolkit whose ptxas and libdevice serialise the kernels ("":
  /// findCudaToolkit()).
  std::string toolkit;
  /// Fold linear knocks into the projection weights (kha-fold-knock).
  bool foldKnocks = true;
  /// Move work on `kha.weight` arguments alone into @f_prepare.
  bool prepareWeights = true;
  /// A kernel that cannot use the tensor cores is an error, not a remark.
  bool requireTensorCores = false;
  /// Run the kernels on the host CPU instead (threads as loops): host code
  /// with host buffers, the GPU path checked without a GPU.
  bool hostEmulation = false;
};

/// Options of `--kha-gpu-pipeline`: GPUPipelineSettings as pass options.
struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("the NVIDIA GPU to compile for: sm_80 (Ampere) ... "
                     "sm_90a (Hopper)"),
      llvm::cl::init(GPUPipelineSettings().chip)};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("the kernels' embedded form: isa (PTX, compiled by the "
                     "driver when loaded), bin (cubin, needs ptxas) or fatbin "
                     "(needs ptxas and fatbinary)"),
      llvm::cl::init(GPUPipelineSettings().format)};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("the CUDA toolkit whose ptxas and libdevice serialise the "
                     "kernels (default: findCudaToolkit())"),
      llvm::cl::init(GPUPipelineSettings().toolkit)};
  PassOptions::Option<bool> foldKnocks{
      *this, "fold-knocks",
      llvm::cl::desc("fold linear knocks into the projection weights "
                     "(kha-fold-knock)"),
      llvm::cl::init(GPUPipelineSettings().foldKnocks)};
  PassOptions::Option<bool> prepareWeights{
      *this, "prepare-weights",
      llvm::cl::desc("move work on the weights alone into @f_prepare, called "
                     "once per set of weights "
                     "(kha-outline-weight-preparation)"),
      llvm::cl::init(GPUPipelineSettings().prepareWeights)};
  PassOptions::Option<bool> requireTensorCores{
      *this, "require-tensor-cores",
      llvm::cl::desc(
          "make a kernel that cannot use the tensor cores an error "
          "instead of a remark (kha-sdpa-to-gpu, kha-matmul-to-gpu)"),
      llvm::cl::init(GPUPipelineSettings().requireTensorCores)};
  PassOptions::Option<bool> hostEmulation{
      *this, "host-emulation",
      llvm::cl::desc("run the kernels on the host CPU instead, threads as "
                     "loops split at barriers and shuffles "
                     "(kha-gpu-launch-to-host-loops): the GPU path checked "
                     "without a GPU; the result is host code with host "
                     "buffers, like --kha-cpu-pipeline's"),
      llvm::cl::init(GPUPipelineSettings().hostEmulation)};

  GPUPipelineSettings settings() const {
    return {chip,         format,         toolkit,
            foldKnocks,   prepareWeights, requireTensorCores,
            hostEmulation};
  }
};

/// Lowers a module of kha (and linalg) ops on tensors for NVIDIA GPUs: kha to
/// linalg, bufferisation into device buffers, every linalg op a kernel
/// mapped to blocks and threads, kernels to NVVM and serialised (PTX or
/// cubin), host code to LLVM calling the mgpu* runtime. Public functions take
/// and return device buffers and get a `_mlir_ciface_` entry point.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineSettings &settings);

/// The CUDA toolkit whose libdevice kernels link: $CUDA_HOME (or CUDA_ROOT,
/// CUDA_PATH), else /usr/local/cuda when it has libdevice. buildGPUPipeline
/// passes it (or the `toolkit` option) to gpu-module-to-binary.
std::optional<std::string> findCudaToolkit();

/// Checks the chip and format of `settings`; the error names what is wrong.
LogicalResult checkGPUPipelineSettings(const GPUPipelineSettings &settings,
                                       std::string &error);

/// Registers `--kha-cpu-pipeline` and `--kha-gpu-pipeline`.
void registerKHAPipelines();

} // namespace kha
} // namespace mlir

#endif // KHA_PIPELINES_PIPELINES_H
