//===- kha-compile.cpp - compile kha IR to a shared library ---------------===//
//
//   kha-compile IN.mlir --target=cpu -o OUT.so
//
// The library exposes each public function as _mlir_ciface_<name> and a
// manifest of their argument and result types for kha-run (docs/runtime.md).
//
//===----------------------------------------------------------------------===//

#include "kha/Compiler/Compiler.h"
#include "kha/InitAll.h"
#include "kha/Support/InputGuard.h"
#include "kha/Support/ToolVersion.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;

/// kha-compile's own options: --help lists these and MLIR's --mlir-*
/// options (timing, IR printing); LLVM's other options stay hidden
/// (--help-hidden lists them).
static cl::OptionCategory category("kha-compile options");

static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<input .mlir>"),
                                          cl::cat(category), cl::init("-"));
static cl::opt<std::string> outputFilename("o", cl::desc("output file"),
                                           cl::value_desc("path"), cl::Required,
                                           cl::cat(category));
static cl::opt<std::string>
    target("target", cl::desc("cpu (the host) or cuda"), cl::cat(category),
           cl::init(mlir::kha::CompileOptions().target));
static cl::opt<std::string>
    cudaChip("cuda-chip", cl::desc("sm_80 or sm_90a (--target=cuda)"),
             cl::cat(category),
             cl::init(mlir::kha::GPUPipelineSettings().chip));
static cl::opt<std::string>
    cudaFormat("cuda-format",
               cl::desc("how kernels are embedded (--target=cuda): isa (PTX, "
                        "compiled by the driver), bin (cubin) or fatbin"),
               cl::cat(category),
               cl::init(mlir::kha::GPUPipelineSettings().format));
static cl::opt<std::string> cudaToolkit(
    "cuda-toolkit",
    cl::desc("the CUDA toolkit whose ptxas and libdevice serialise the "
             "kernels (--target=cuda; default: $CUDA_HOME, $CUDA_ROOT, "
             "$CUDA_PATH, else /usr/local/cuda)"),
    cl::cat(category), cl::init(mlir::kha::GPUPipelineSettings().toolkit));
static cl::opt<bool> cudaOnHost(
    "cuda-on-host",
    cl::desc("run the CUDA kernels on the host CPU instead, threads as loops "
             "(--target=cuda): a slow check of the GPU path without a GPU; "
             "the library is called like a CPU one"),
    cl::cat(category),
    cl::init(mlir::kha::GPUPipelineSettings().hostEmulation));
static cl::opt<bool> cudaRequireTensorCores(
    "cuda-require-tensor-cores",
    cl::desc("make a kernel that falls back to the CUDA cores (f32, a head "
             "dim not a multiple of 16, ...) an error instead of a remark "
             "(--target=cuda)"),
    cl::cat(category),
    cl::init(mlir::kha::GPUPipelineSettings().requireTensorCores));
static cl::opt<std::string> emit("emit",
                                 cl::desc("so (default), llvm (LLVM IR), or "
                                          "ptx (--target=cuda)"),
                                 cl::cat(category), cl::init("so"));
static cl::opt<std::string> cpu("mcpu",
                                cl::desc("CPU to tune for (native or an LLVM "
                                         "CPU name)"),
                                cl::cat(category),
                                cl::init(mlir::kha::CompileOptions().cpu));
static cl::opt<std::string> bf16Dot(
    "bf16-dot",
    cl::desc("--target=cpu, bf16 projections as AVX512-BF16 dot products: "
             "auto (where the target CPU has them), none, widen (the same "
             "bf16 weight panels, widened in registers for f32 FMAs), "
             "emulate (the instruction emulated: runs on any CPU, to check "
             "the code) or avx512bf16 (required)"),
    cl::cat(category), cl::init(mlir::kha::CompileOptions().bf16Dot));
static cl::opt<bool> noVectorize("no-vectorize",
                                 cl::desc("plain loops (for debugging)"),
                                 cl::cat(category), cl::init(false));

static cl::opt<bool>
    noFoldKnocks("no-fold-knocks",
                 cl::desc("keep linear knocks as separate ops instead of "
                          "folding them into the projection weights"),
                 cl::cat(category), cl::init(false));
static cl::opt<bool> noPrepareWeights(
    "no-prepare-weights",
    cl::desc("keep work on the weights alone in each call instead of "
             "outlining it into @f_prepare (kha-outline-weight-preparation)"),
    cl::cat(category), cl::init(false));
static cl::opt<bool>
    noThreads("no-threads",
              cl::desc("--target=cpu: one thread, and a library that needs "
                       "no OpenMP runtime (default: independent tiles run on "
                       "all the cores with libomp)"),
              cl::cat(category), cl::init(false));
static cl::opt<bool>
    noFuseKnockMlp("no-fuse-knock-mlp",
                   cl::desc("keep MLP knocks separate from the value "
                            "projection"),
                   cl::cat(category), cl::init(false));
static cl::opt<std::string>
    cpuSchedule("cpu-schedule",
                cl::desc("transform script replacing the built-in CPU "
                         "schedule (for experiments)"),
                cl::cat(category),
                cl::init(mlir::kha::CPUPipelineSettings().scheduleFile));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "kha-compile") << message << "\n";
  return 1;
}

/// Hides every option but kha-compile's, MLIR's --mlir-* and --help and
/// --version from --help.
static void hideForeignOptions() {
  for (auto &entry : cl::getRegisteredOptions()) {
    cl::Option *option = entry.second;
    llvm::StringRef name = entry.first;
    if (llvm::is_contained(option->Categories, &category) ||
        name.starts_with("mlir-") || name == "help" || name == "version")
      continue;
    option->setHiddenFlag(cl::Hidden);
  }
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::kha::registerVersionPrinter();
  // Passes are registered before the pass manager's options, whose
  // --mlir-print-ir-before/after values name them.
  mlir::kha::registerKHAAndUpstreamPasses();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  hideForeignOptions();
  cl::ParseCommandLineOptions(argc, argv, "kha compiler\n");

  if (target != "cpu" && target != "cuda")
    return fail("--target must be cpu or cuda, got '" + target + "'");
  if (emit != "so" && emit != "llvm" && emit != "ptx")
    return fail("--emit must be so, llvm or ptx, got '" + emit + "'");
  if (emit == "ptx" && target != "cuda")
    return fail("--emit=ptx needs --target=cuda");
  if (cudaOnHost && target != "cuda")
    return fail("--cuda-on-host needs --target=cuda");
  if (cudaOnHost && emit == "ptx")
    return fail("--cuda-on-host makes no PTX: the kernels run on the host");
  if (!mlir::kha::checkInputNesting(inputFilename, 4096))
    return 1;

  return mlir::kha::runWithLargeStack([&] {
    mlir::DialectRegistry registry;
    mlir::kha::registerKHAPipelineDependencies(registry);
    mlir::MLIRContext context(registry);

    std::string error;
    auto file = mlir::openInputFile(inputFilename, &error);
    if (!file)
      return fail(error);
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
    if (!module)
      return 1;

    mlir::kha::CompileOptions options;
    options.target = target;
    options.cpu = cpu;
    mlir::kha::CPUPipelineSettings &cpuPipeline = options.cpuPipeline;
    cpuPipeline.vectorize = !noVectorize;
    cpuPipeline.scheduleFile = cpuSchedule;
    cpuPipeline.foldKnocks = !noFoldKnocks;
    cpuPipeline.fuseKnockMlp = !noFuseKnockMlp;
    cpuPipeline.prepareWeights = !noPrepareWeights;
    cpuPipeline.threads = !noThreads;
    options.bf16Dot = bf16Dot;
    mlir::kha::GPUPipelineSettings &gpuPipeline = options.gpuPipeline;
    gpuPipeline.foldKnocks = !noFoldKnocks;
    gpuPipeline.prepareWeights = !noPrepareWeights;
    gpuPipeline.chip = cudaChip;
    gpuPipeline.format = cudaFormat;
    gpuPipeline.toolkit = cudaToolkit;
    gpuPipeline.hostEmulation = cudaOnHost;
    gpuPipeline.requireTensorCores = cudaRequireTensorCores;
    // --mlir-timing, --mlir-print-ir-*: on the lowering's pass manager.
    options.configurePassManager = [](mlir::PassManager &pm) {
      if (mlir::failed(mlir::applyPassManagerCLOptions(pm)))
        return mlir::failure();
      mlir::applyDefaultTimingPassManagerCLOptions(pm);
      return mlir::success();
    };
    mlir::kha::OutputKind kind = emit == "llvm" ? mlir::kha::OutputKind::LLVMIR
                                 : emit == "ptx"
                                     ? mlir::kha::OutputKind::PTX
                                     : mlir::kha::OutputKind::SharedLibrary;
    return mlir::failed(
               mlir::kha::compileModule(*module, options, outputFilename, kind))
               ? 1
               : 0;
  });
}
