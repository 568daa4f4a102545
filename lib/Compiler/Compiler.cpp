//===- Compiler.cpp - kha module to a shared library for the host ---------===//

#include "kha/Compiler/Compiler.h"
#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <dlfcn.h>

using namespace mlir;
using namespace mlir::kha;

/// The width of the widest vector registers `machine` has, in bits: 512 with
/// AVX-512, 256 with AVX, else 128 (SSE, NEON).
static int64_t vectorBits(const llvm::TargetMachine &machine) {
  if (!machine.getTargetTriple().isX86())
    return 128;
  const llvm::MCSubtargetInfo *info = machine.getMCSubtargetInfo();
  if (info->checkFeatures("+avx512f"))
    return 512;
  if (info->checkFeatures("+avx"))
    return 256;
  return 128;
}

/// The CPU pipeline's settings for `machine`: register tiles for its vector
/// width, and AVX512-BF16 dot products as `options.bf16Dot` asks (failure,
/// with `error`, for a choice the target cannot run).
static FailureOr<CPUPipelineSettings>
cpuSettingsFor(const CompileOptions &options,
               const llvm::TargetMachine &machine, std::string &error) {
  CPUPipelineSettings settings = options.cpuPipeline;
  settings.vectorBits = vectorBits(machine);
  bool hasDot = machine.getTargetTriple().isX86() &&
                machine.getMCSubtargetInfo()->checkFeatures("+avx512bf16");
  StringRef choice = options.bf16Dot;
  if (choice == "auto") {
    settings.bf16Dot = hasDot ? "avx512bf16" : "none";
  } else if (choice == "avx512bf16" && !hasDot) {
    error = "--bf16-dot=avx512bf16: the target CPU has no AVX512-BF16 "
            "(choose it with --mcpu, or use auto or emulate)";
    return failure();
  } else if (isValidCPUBF16Dot(choice)) {
    settings.bf16Dot = choice.str();
  } else {
    error = "--bf16-dot must be auto, none, widen, emulate or avx512bf16, "
            "got '" +
            choice.str() + "'";
    return failure();
  }
  return settings;
}

/// A target machine for the host, tuned for `cpu` ("native": this machine's
/// CPU and features).
static std::unique_ptr<llvm::TargetMachine>
createHostTargetMachine(StringRef cpu, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string cpuName = cpu.str();
  std::string features;
  if (cpu == "native") {
    cpuName = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures list;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      list.AddFeature(feature.first(), feature.second);
    features = list.getString();
  } else {
    // An unknown CPU would only be warned about (and then guessed at), and
    // a 32-bit one cannot run the 64-bit code of this host's triple.
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(triple, cpuName, ""));
    if (!info || !info->isCPUStringValid(cpuName)) {
      error = "unknown CPU '" + cpuName + "' for " + triple.str();
      return nullptr;
    }
    if (triple.getArch() == llvm::Triple::x86_64 &&
        !info->checkFeatures("+64bit")) {
      error =
          "CPU '" + cpuName + "' cannot run 64-bit (" + triple.str() + ") code";
      return nullptr;
    }
  }
  llvm::TargetOptions options;
  // Fuse multiply-adds (like -ffp-contract=fast): vectorised matmuls are
  // emitted as mul + add, and FMA is both faster and more accurate.
  options.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpuName, features, options, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}

/// The C compiler driver that links the shared library (it knows where libc
/// and libm are): $KHA_CC, else the first of clang-22, clang, cc, gcc.
/// Defines `__truncsfbf2` (f32 -> bf16, round to nearest even) in `module`
/// as a weak hidden function. The host's code generator rounds scalar bf16
/// values through this compiler-rt routine, which older runtime libraries
/// (libgcc before GCC 13) lack, so every library carries its own.
static void addBF16RoundingRoutine(llvm::Module &module) {
  llvm::LLVMContext &context = module.getContext();
  if (module.getFunction("__truncsfbf2"))
    return;
  auto *type =
      llvm::FunctionType::get(llvm::Type::getBFloatTy(context),
                              {llvm::Type::getFloatTy(context)}, false);
  auto *function = llvm::Function::Create(
      type, llvm::GlobalValue::WeakAnyLinkage, "__truncsfbf2", module);
  function->setVisibility(llvm::GlobalValue::HiddenVisibility);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", function));
  llvm::Type *i32 = b.getInt32Ty();
  llvm::Value *x = function->getArg(0);
  llvm::Value *bits = b.CreateBitCast(x, i32);
  // A NaN stays a (quiet) NaN; others round to nearest even at bit 16.
  llvm::Value *odd = b.CreateAnd(b.CreateLShr(bits, 16), 1);
  llvm::Value *rounded =
      b.CreateLShr(b.CreateAdd(bits, b.CreateAdd(odd, b.getInt32(0x7FFF))), 16);
  llvm::Value *quiet = b.CreateOr(b.CreateLShr(bits, 16), b.getInt32(0x40));
  llvm::Value *isNaN = b.CreateFCmpUNO(x, x);
  llvm::Value *half =
      b.CreateTrunc(b.CreateSelect(isNaN, quiet, rounded), b.getInt16Ty());
  b.CreateRet(b.CreateBitCast(half, llvm::Type::getBFloatTy(context)));
}

static std::optional<std::string> findLinker() {
  if (const char *env = std::getenv("KHA_CC"))
    return std::string(env);
  for (const char *name : {"clang-22", "clang", "cc", "gcc"})
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(name))
      return *path;
  if (llvm::ErrorOr<std::string> path =
          llvm::sys::findProgramByName("clang", {"/usr/lib/llvm-22/bin"}))
    return *path;
  return std::nullopt;
}

/// kha's CUDA runtime archive: $KHA_CUDA_RUNTIME, else in the lib/
/// directory beside the binary holding this code (build/bin -> build/lib,
/// PREFIX/lib/libKHACAPI.so -> PREFIX/lib).
static std::optional<std::string> findCudaRuntime() {
  if (const char *env = std::getenv("KHA_CUDA_RUNTIME"))
    return std::string(env);
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&findCudaRuntime), &info) ||
      !info.dli_fname)
    return std::nullopt;
  SmallString<256> file(info.dli_fname);
  llvm::sys::fs::make_absolute(file);
  llvm::sys::path::remove_filename(file); // the binary's directory
  llvm::sys::path::remove_filename(file); // its parent
  llvm::sys::path::append(file, "lib", "libKHACudaRuntime.a");
  if (!llvm::sys::fs::exists(file))
    return std::nullopt;
  return std::string(file);
}

/// Keeps `output` once everything written to it has reached the file; a
/// write error (a full disk, /dev/full) is reported, not a crash.
static LogicalResult keepOutput(llvm::ToolOutputFile &output, Location loc) {
  output.os().flush();
  if (std::error_code ec = output.os().error()) {
    output.os().clear_error();
    // A partial regular file is removed; anything else (a device such as
    // /dev/full) is left where it is.
    if (!llvm::sys::fs::is_regular_file(output.getFilename()))
      output.keep();
    return emitError(loc) << "cannot write " << output.getFilename() << ": "
                          << ec.message();
  }
  output.keep();
  return success();
}

/// Writes the PTX of every kernel image of `module` (format=isa) to `path`.
static LogicalResult writePTX(ModuleOp module, StringRef path) {
  std::string text;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute object : binary.getObjects())
      text += cast<gpu::ObjectAttr>(object).getObject().getValue().str();
  });
  if (text.empty())
    return emitError(module.getLoc()) << "the module has no GPU kernels";
  std::string error;
  auto output = openOutputFile(path, &error);
  if (!output)
    return emitError(module.getLoc()) << error;
  output->os() << text;
  return keepOutput(*output, module.getLoc());
}

/// True when a public function has an argument marked `kha.weight`.
static bool hasWeightArguments(ModuleOp module) {
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (func.getArgAttr(i, kha::kWeightAttrName))
          return true;
  return false;
}

namespace {
/// What a compilation makes, from the options.
struct CompileTarget {
  bool cuda;   ///< --target=cuda
  bool onHost; ///< the cuda target's kernels run on the host
};
} // namespace

/// The target the options name, or an error at `loc`.
static FailureOr<CompileTarget>
checkTarget(Location loc, const CompileOptions &options, OutputKind kind) {
  bool cuda = options.target == "cuda";
  if (options.target != "cpu" && !cuda)
    return emitError(loc) << "target must be cpu or cuda, got '"
                          << options.target << "'";
  if (kind == OutputKind::PTX && !cuda)
    return emitError(loc) << "PTX is only emitted for the cuda target";
  if (options.gpuPipeline.hostEmulation && !cuda)
    return emitError(loc) << "kernels on the host is an option of the cuda "
                             "target";
  // Kernels run on the host: a host library, called like a CPU one.
  bool onHost = cuda && options.gpuPipeline.hostEmulation;
  if (kind == OutputKind::PTX && onHost)
    return emitError(loc) << "kernels run on the host have no PTX";
  return CompileTarget{cuda, onHost};
}

/// The manifest of the library `module` becomes. Weight-only work is
/// outlined first (prepare functions), so that the manifest describes the
/// prepare functions and how they relate to the layer's.
static FailureOr<std::string> describeLibrary(ModuleOp module,
                                              const CompileOptions &options,
                                              CompileTarget target,
                                              const CPUPipelineSettings &cpu) {
  bool foldKnocks = target.cuda ? options.gpuPipeline.foldKnocks
                                : options.cpuPipeline.foldKnocks;
  bool prepareWeights = target.cuda ? options.gpuPipeline.prepareWeights
                                    : options.cpuPipeline.prepareWeights;
  llvm::StringMap<SizeRelations> knownRelations;
  if (prepareWeights && hasWeightArguments(module)) {
    for (auto func : module.getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        knownRelations[func.getName()] = sizeRelations(func);
    // The CPU pipeline packs weights before it outlines their preparation:
    // the prepare functions return the packed panels.
    int64_t panelWidth = target.cuda ? 0 : cpuWeightPanelWidth(cpu);
    bool bf16Pairs = !target.cuda && cpuPacksBF16Pairs(cpu);
    PassManager front(module.getContext());
    addExpansionAndKnockFolding(front, foldKnocks, /*prepareWeights=*/true,
                                panelWidth, bf16Pairs);
    if (failed(front.run(module)))
      return emitError(module.getLoc()) << "expanding the kha ops failed";
  }
  return buildManifest(
      module, target.onHost ? StringRef("cpu") : StringRef(options.target),
      &knownRelations);
}

/// Lowers `module` to the LLVM dialect with the target's pipeline (for the
/// CPU, register tiles sized for `machine`'s vectors).
static LogicalResult lowerToLLVMDialect(ModuleOp module,
                                        const CompileOptions &options,
                                        CompileTarget target, OutputKind kind,
                                        const CPUPipelineSettings &cpu) {
  Location loc = module.getLoc();
  PassManager pm(module.getContext());
  if (target.cuda && !target.onHost && options.gpuPipeline.toolkit.empty() &&
      !findCudaToolkit())
    return emitError(loc) << "the CUDA toolkit was not found (kernels link its "
                             "libdevice): set CUDA_HOME or --cuda-toolkit";
  if (target.cuda) {
    GPUPipelineSettings settings = options.gpuPipeline;
    if (kind == OutputKind::PTX)
      settings.format = "isa";
    std::string error;
    if (failed(checkGPUPipelineSettings(settings, error)))
      return emitError(loc) << error;
    buildGPUPipeline(pm, settings);
  } else {
    buildCPUPipeline(pm, cpu);
  }
  if (options.configurePassManager && failed(options.configurePassManager(pm)))
    return emitError(loc) << "the pass manager options are not valid";
  if (failed(pm.run(module)))
    return emitError(loc) << "lowering for the "
                          << (target.cuda ? "GPU" : "CPU") << " failed";
  return success();
}

/// The LLVM module of the lowered `module`, for `machine`, with the exported
/// `manifest`, the entry points' argument checks, optimised.
static FailureOr<std::unique_ptr<llvm::Module>>
translateToLLVM(ModuleOp module, const std::string &manifest,
                llvm::TargetMachine &machine, llvm::LLVMContext &llvmContext) {
  Location loc = module.getLoc();
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "kha");
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";

  llvmModule->setTargetTriple(machine.getTargetTriple());
  llvmModule->setDataLayout(machine.createDataLayout());

  // The runner's description of the functions, as an exported string.
  llvm::Constant *text =
      llvm::ConstantDataArray::getString(llvmContext, manifest);
  new llvm::GlobalVariable(*llvmModule, text->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, text,
                           kManifestSymbol);
  // Entry points check their arguments before they trust them.
  std::string error;
  if (failed(addEntryChecks(*llvmModule, manifest, error)))
    return emitError(loc) << "cannot add the entry checks: " << error;

  if (llvm::Error err =
          makeOptimizingTransformer(3, 0, &machine)(llvmModule.get()))
    return emitError(loc) << "LLVM optimisation failed: "
                          << llvm::toString(std::move(err));
  return llvmModule;
}

/// Writes `llvmModule` as `machine`'s object file to `objectPath`.
static LogicalResult emitObjectFile(Location loc, llvm::Module &llvmModule,
                                    llvm::TargetMachine &machine, int fd,
                                    StringRef objectPath) {
  llvm::raw_fd_ostream object(fd, /*shouldClose=*/true);
  llvm::legacy::PassManager codegen;
  if (machine.addPassesToEmitFile(codegen, object, nullptr,
                                  llvm::CodeGenFileType::ObjectFile))
    return emitError(loc) << "the host target cannot emit object files";
  codegen.run(llvmModule);
  object.flush();
  if (std::error_code ec = object.error()) {
    object.clear_error();
    return emitError(loc) << "cannot write the object file " << objectPath
                          << ": " << ec.message();
  }
  return success();
}

/// Links the object file at `objectPath` into the shared library
/// `outputPath` with the C compiler driver (and, for kernels on a GPU, kha's
/// CUDA runtime).
static LogicalResult linkSharedLibrary(Location loc, StringRef objectPath,
                                       StringRef outputPath,
                                       CompileTarget target, bool openMP) {
  std::optional<std::string> linker = findLinker();
  if (!linker)
    return emitError(loc) << "no C compiler driver found to link the shared "
                             "library (install clang-22, or set KHA_CC)";
  SmallVector<StringRef> args = {*linker, "-shared", "-o", outputPath,
                                 objectPath};
  // Threads: LLVM's OpenMP runtime, found first where kha was built against
  // it and then wherever the loader finds libomp.so.5.
  std::string openMPDir;
  if (openMP) {
#ifdef KHA_OPENMP_LIBRARY_DIR
    openMPDir = KHA_OPENMP_LIBRARY_DIR;
#else
    return emitError(loc)
           << "this library runs on threads and needs LLVM's OpenMP runtime, "
              "which was not found when kha was built (install "
              "libomp-22-dev and rebuild kha), or compile with --no-threads";
#endif
  }
  std::string openMPSearch = "-L" + openMPDir,
              openMPRunPath = "-Wl,-rpath," + openMPDir;
  if (openMP)
    args.append({openMPSearch, "-lomp", openMPRunPath});
  std::optional<std::string> runtime;
  if (target.cuda && !target.onHost) {
    runtime = findCudaRuntime();
    if (!runtime)
      return emitError(loc) << "kha's CUDA runtime (libKHACudaRuntime.a) was "
                               "not found beside the compiler; set "
                               "KHA_CUDA_RUNTIME to its path";
    args.append({*runtime, "-lstdc++", "-ldl"});
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    // A compiler built with the sanitizers (scripts/sanitize.sh) has a
    // runtime instrumented by them: the library needs their runtimes too.
    args.append({"-fsanitize=address,undefined", "-shared-libsan"});
#endif
#endif
  }
  args.append({"-lm", "-Wl,-z,defs"});
  std::string linkError;
  int status = llvm::sys::ExecuteAndWait(*linker, args, std::nullopt, {}, 0, 0,
                                         &linkError);
  if (status != 0)
    return emitError(loc) << "linking " << outputPath << " with " << *linker
                          << " failed"
                          << (linkError.empty() ? "" : ": " + linkError);
  return success();
}

LogicalResult kha::compileModule(ModuleOp module, const CompileOptions &options,
                                 StringRef outputPath, OutputKind kind) {
  Location loc = module.getLoc();
  FailureOr<CompileTarget> target = checkTarget(loc, options, kind);
  if (failed(target))
    return failure();
  // The host machine (the CPU's code, or the host side of CUDA code); its
  // vector width chooses the CPU schedule's register tiles.
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(options.cpu, error);
  if (!machine)
    return emitError(loc) << "no LLVM target for this host and --mcpu: "
                          << error;
  FailureOr<CPUPipelineSettings> cpu = cpuSettingsFor(options, *machine, error);
  if (failed(cpu))
    return emitError(loc) << error;
  FailureOr<std::string> manifest =
      describeLibrary(module, options, *target, *cpu);
  if (failed(manifest))
    return failure();

  // Translations: the kernels' (gpu-module-to-binary) and the host's.
  DialectRegistry registry;
  registerAllToLLVMIRTranslations(registry);
  module.getContext()->appendDialectRegistry(registry);

  if (failed(lowerToLLVMDialect(module, options, *target, kind, *cpu)))
    return failure();
  if (kind == OutputKind::PTX)
    return writePTX(module, outputPath);

  llvm::LLVMContext llvmContext;
  FailureOr<std::unique_ptr<llvm::Module>> llvmModule =
      translateToLLVM(module, *manifest, *machine, llvmContext);
  if (failed(llvmModule))
    return failure();
  if (kind == OutputKind::LLVMIR) {
    auto output = openOutputFile(outputPath, &error);
    if (!output)
      return emitError(loc) << error;
    (*llvmModule)->print(output->os(), nullptr);
    return keepOutput(*output, loc);
  }

  addBF16RoundingRoutine(**llvmModule);
  SmallString<128> objectPath;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("kha", "o", fd, objectPath))
    return emitError(loc) << "cannot create a temporary object file";
  llvm::FileRemover removeObject(objectPath);
  if (failed(emitObjectFile(loc, **llvmModule, *machine, fd, objectPath)))
    return failure();
  bool openMP = (*llvmModule)->getFunction("__kmpc_fork_call") != nullptr;
  return linkSharedLibrary(loc, objectPath, outputPath, *target, openMP);
}
