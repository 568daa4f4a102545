//===- KHA.cpp - C API of the kha dialect, passes and compiler ------------===//

#include "kha-c/KHA.h"
#include "kha/Support/InputGuard.h"
#include "mlir/Parser/Parser.h"

#include "kha/Compiler/Compiler.h"
#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/InitAll.h"
#include "kha/Target/LayerConfig/LayerConfig.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(KHA, kha, mlir::kha::KHADialect)

void khaRegisterPasses(void) {
  // Idempotent: a binding may call it once per context it creates.
  static bool registered = [] {
    kha::registerKHAAndUpstreamPasses();
    return true;
  }();
  (void)registered;
}

void khaRegisterAllDialects(MlirDialectRegistry registry) {
  kha::registerKHAPipelineDependencies(*unwrap(registry));
}

MlirContext khaContextCreate(void) {
  DialectRegistry registry;
  kha::registerKHAPipelineDependencies(registry);
  return wrap(new MLIRContext(registry));
}

MlirModule khaImportLayerConfig(MlirContext context, MlirStringRef json,
                                MlirStringRef filename,
                                MlirStringRef weightsDir) {
  MLIRContext *ctx = unwrap(context);
  ctx->loadDialect<kha::KHADialect>();
  StringRef file = unwrap(filename);
  if (file.empty())
    file = "<layer-config>";
  FailureOr<kha::LayerConfig> config =
      kha::parseLayerConfig(unwrap(json), file, ctx);
  if (failed(config))
    return MlirModule{nullptr};
  Location loc = FileLineColLoc::get(ctx, file, 1, 1);
  FailureOr<llvm::StringMap<DenseElementsAttr>> weights;
  StringRef dir = unwrap(weightsDir);
  if (!dir.empty()) {
    weights = kha::loadLayerWeights(*config, dir, ctx, loc);
    if (failed(weights))
      return MlirModule{nullptr};
  }
  OwningOpRef<ModuleOp> module = kha::buildLayerModule(
      *config, ctx, loc, dir.empty() ? nullptr : &*weights);
  if (!module || failed(verify(*module)))
    return MlirModule{nullptr};
  return wrap(module.release());
}

MlirModule khaModuleParse(MlirContext context, MlirStringRef text,
                          MlirStringRef filename) {
  // The limit of kha-opt and kha-translate.
  constexpr unsigned kMaxNesting = 4096;
  MLIRContext *ctx = unwrap(context);
  StringRef source = unwrap(text), file = unwrap(filename);
  if (file.empty())
    file = "<string>";
  if (std::optional<size_t> offset =
          kha::findExcessiveNesting(source, kMaxNesting)) {
    auto [line, column] = kha::getLineAndColumn(source, *offset);
    emitError(FileLineColLoc::get(ctx, file, line, column))
        << "input nested more than " << kMaxNesting << " levels deep";
    return MlirModule{nullptr};
  }
  OwningOpRef<ModuleOp> module;
  kha::runWithLargeStack([&] {
    module = parseSourceString<ModuleOp>(source, ParserConfig(ctx), file);
    return 0;
  });
  return module ? wrap(module.release()) : MlirModule{nullptr};
}

KhaCompileOptions khaCompileOptionsGetDefault(void) {
  // The defaults are the compiler's and its pipelines' (the strings they
  // point to live as long as the process).
  static const kha::CompileOptions defaults;
  KhaCompileOptions options;
  options.target = mlirStringRefCreateFromCString(defaults.target.c_str());
  options.cpu = mlirStringRefCreateFromCString(defaults.cpu.c_str());
  options.vectorize = defaults.cpuPipeline.vectorize;
  options.foldKnocks = defaults.cpuPipeline.foldKnocks;
  options.fuseKnockMlp = defaults.cpuPipeline.fuseKnockMlp;
  options.scheduleFile =
      mlirStringRefCreateFromCString(defaults.cpuPipeline.scheduleFile.c_str());
  options.cudaChip =
      mlirStringRefCreateFromCString(defaults.gpuPipeline.chip.c_str());
  options.cudaFormat =
      mlirStringRefCreateFromCString(defaults.gpuPipeline.format.c_str());
  options.cudaOnHost = defaults.gpuPipeline.hostEmulation;
  options.prepareWeights = defaults.cpuPipeline.prepareWeights;
  options.threads = defaults.cpuPipeline.threads;
  return options;
}

MlirLogicalResult khaCompileModule(MlirModule module,
                                   const KhaCompileOptions *options,
                                   MlirStringRef outputPath) {
  KhaCompileOptions given = options ? *options : khaCompileOptionsGetDefault();
  kha::CompileOptions compile;
  compile.target = unwrap(given.target).str();
  compile.cpu = unwrap(given.cpu).str();
  compile.cpuPipeline.vectorize = given.vectorize;
  compile.cpuPipeline.foldKnocks = given.foldKnocks;
  compile.cpuPipeline.fuseKnockMlp = given.fuseKnockMlp;
  compile.cpuPipeline.scheduleFile = unwrap(given.scheduleFile).str();
  compile.cpuPipeline.prepareWeights = given.prepareWeights;
  compile.cpuPipeline.threads = given.threads;
  compile.gpuPipeline.foldKnocks = given.foldKnocks;
  compile.gpuPipeline.prepareWeights = given.prepareWeights;
  compile.gpuPipeline.chip = unwrap(given.cudaChip).str();
  compile.gpuPipeline.format = unwrap(given.cudaFormat).str();
  compile.gpuPipeline.hostEmulation = given.cudaOnHost;
  return wrap(kha::compileModule(unwrap(module), compile, unwrap(outputPath)));
}
