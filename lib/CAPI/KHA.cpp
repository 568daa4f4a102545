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
  KhaCompileOptions options;
  options.target = mlirStringRefCreateFromCString("cpu");
  options.cpu = mlirStringRefCreateFromCString("native");
  options.vectorize = true;
  options.foldKnocks = true;
  options.fuseKnockMlp = true;
  options.scheduleFile = mlirStringRefCreateFromCString("");
  options.cudaChip = mlirStringRefCreateFromCString(kha::kDefaultCudaChip);
  options.cudaFormat = mlirStringRefCreateFromCString("isa");
  options.cudaOnHost = false;
  options.prepareWeights = true;
  return options;
}

MlirLogicalResult khaCompileModule(MlirModule module,
                                   const KhaCompileOptions *options,
                                   MlirStringRef outputPath) {
  KhaCompileOptions given = options ? *options : khaCompileOptionsGetDefault();
  kha::CompileOptions compile;
  compile.target = unwrap(given.target).str();
  compile.cpu = unwrap(given.cpu).str();
  compile.vectorize = given.vectorize;
  compile.foldKnocks = given.foldKnocks;
  compile.fuseKnockMlp = given.fuseKnockMlp;
  compile.scheduleFile = unwrap(given.scheduleFile).str();
  compile.cudaChip = unwrap(given.cudaChip).str();
  compile.cudaFormat = unwrap(given.cudaFormat).str();
  compile.cudaOnHost = given.cudaOnHost;
  compile.prepareWeights = given.prepareWeights;
  return wrap(kha::compileModule(unwrap(module), compile, unwrap(outputPath)));
}
