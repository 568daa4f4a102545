//===- Compiler.cpp - kha module to a shared library for the host ---------===//

#include "kha/Compiler/Compiler.h"
#include "kha/Pipelines/Pipelines.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

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
static std::optional<std::string> findLinker() {
  if (const char *env = std::getenv("KHA_CC"))
    return std::string(env);
  for (const char *name : {"clang-22", "clang", "cc", "gcc"})
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(name))
      return *path;
  if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(
          "clang", {"/usr/lib/llvm-22/bin"}))
    return *path;
  return std::nullopt;
}

LogicalResult kha::compileModule(ModuleOp module, const CompileOptions &options,
                                 StringRef outputPath, bool emitLLVMIR) {
  Location loc = module.getLoc();
  if (options.target != "cpu")
    return emitError(loc) << "target '" << options.target
                          << "' is not supported by this build (use cpu)";
  FailureOr<std::string> manifest = buildManifest(module, options.target);
  if (failed(manifest))
    return failure();

  PassManager pm(module.getContext());
  CPUPipelineOptions pipelineOptions;
  pipelineOptions.vectorize = options.vectorize;
  pipelineOptions.scheduleFile = options.scheduleFile;
  pipelineOptions.foldKnocks = options.foldKnocks;
  pipelineOptions.fuseKnockMlp = options.fuseKnockMlp;
  buildCPUPipeline(pm, pipelineOptions);
  if (failed(pm.run(module)))
    return emitError(loc) << "lowering for the CPU failed";

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "kha");
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";

  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(options.cpu, error);
  if (!machine)
    return emitError(loc) << "no LLVM target for this host: " << error;
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());

  // The runner's description of the functions, as an exported string.
  llvm::Constant *text =
      llvm::ConstantDataArray::getString(llvmContext, *manifest);
  new llvm::GlobalVariable(*llvmModule, text->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, text,
                           kManifestSymbol);

  if (llvm::Error err =
          makeOptimizingTransformer(3, 0, machine.get())(llvmModule.get()))
    return emitError(loc) << "LLVM optimisation failed: "
                          << llvm::toString(std::move(err));

  if (emitLLVMIR) {
    auto output = openOutputFile(outputPath, &error);
    if (!output)
      return emitError(loc) << error;
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return success();
  }

  // Object file, then a shared library linked by the C driver.
  SmallString<128> objectPath;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("kha", "o", fd, objectPath))
    return emitError(loc) << "cannot create a temporary object file";
  llvm::FileRemover removeObject(objectPath);
  {
    llvm::raw_fd_ostream object(fd, /*shouldClose=*/true);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, object, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return emitError(loc) << "the host target cannot emit object files";
    codegen.run(*llvmModule);
  }

  std::optional<std::string> linker = findLinker();
  if (!linker)
    return emitError(loc) << "no C compiler driver found to link the shared "
                             "library (install clang-22, or set KHA_CC)";
  SmallVector<StringRef> args = {*linker,      "-shared", "-o",
                                 outputPath,   objectPath, "-lm",
                                 "-Wl,-z,defs"};
  std::string linkError;
  int status = llvm::sys::ExecuteAndWait(*linker, args, std::nullopt, {}, 0, 0,
                                         &linkError);
  if (status != 0)
    return emitError(loc) << "linking " << outputPath << " with " << *linker
                          << " failed"
                          << (linkError.empty() ? "" : ": " + linkError);
  return success();
}
