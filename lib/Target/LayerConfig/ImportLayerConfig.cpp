//===- ImportLayerConfig.cpp - layer config JSON to kha IR ----------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Target/LayerConfig/LayerConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::kha;

SmallVector<std::string> kha::getLayerArgumentNames(const LayerConfig &config) {
  SmallVector<std::string> names = {"x", "wq", "wk", "wv", "wo"};
  if (config.knockQ == KnockKind::Linear)
    names.push_back("tq");
  if (config.knockK == KnockKind::Linear)
    names.push_back("tk");
  if (config.knockV == KnockKind::Linear)
    names.push_back("tv");
  if (config.knockV == KnockKind::Mlp)
    names.append({"v_up", "v_gate", "v_down"});
  if (config.qkNorm)
    names.append({"q_norm", "k_norm"});
  return names;
}

static Type getElementType(const LayerConfig &config, Builder &builder) {
  if (config.dtype == "f16")
    return builder.getF16Type();
  if (config.dtype == "bf16")
    return builder.getBF16Type();
  return builder.getF32Type();
}

OwningOpRef<ModuleOp> kha::buildLayerModule(const LayerConfig &config,
                                            MLIRContext *context,
                                            Location loc) {
  context->loadDialect<KHADialect, func::FuncDialect>();
  OpBuilder builder(context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  Type element = getElementType(config, builder);
  int64_t D = config.hiddenSize, H = config.numHeads, G = config.numKvHeads,
          d = config.headDim;
  auto tensor = [&](ArrayRef<int64_t> shape) -> Type {
    return RankedTensorType::get(shape, element);
  };
  Type xType = tensor({config.batch.value_or(ShapedType::kDynamic),
                       config.seqLen.value_or(ShapedType::kDynamic), D});

  // Argument types in the order of contract.md section 2.
  SmallVector<Type> argTypes = {xType, tensor({D, H * d}), tensor({D, G * d}),
                                tensor({D, G * d}), tensor({H * d, D})};
  SmallVector<std::string> names = getLayerArgumentNames(config);
  for (StringRef name : ArrayRef(names).drop_front(5))
    argTypes.push_back(name.ends_with("norm") ? tensor({d}) : tensor({d, d}));

  auto func = func::FuncOp::create(builder, loc, "kha_layer",
                                   builder.getFunctionType(argTypes, {xType}));
  Block *body = func.addEntryBlock();
  for (auto [arg, name] : llvm::zip_equal(body->getArguments(), names))
    arg.setLoc(NameLoc::get(builder.getStringAttr(name), loc));
  builder.setInsertionPointToStart(body);

  auto arg = [&](StringRef name) -> Value {
    auto *it = llvm::find(names, name.str());
    return it == names.end() ? Value()
                             : body->getArgument(it - names.begin());
  };
  auto block = AttentionBlockOp::create(
      builder, loc, xType, arg("x"), arg("wq"), arg("wk"), arg("wv"), arg("wo"),
      arg("tq"), arg("tk"), arg("tv"), arg("v_up"), arg("v_gate"),
      arg("v_down"), arg("q_norm"), arg("k_norm"), builder.getI64IntegerAttr(H),
      builder.getI64IntegerAttr(G),
      config.causal ? builder.getUnitAttr() : UnitAttr(),
      config.ropeTheta ? builder.getF64FloatAttr(*config.ropeTheta)
                       : FloatAttr(),
      builder.getF64FloatAttr(config.rmsNormEps));
  func::ReturnOp::create(builder, loc, block.getResult());
  return module;
}

void kha::registerImportLayerConfigTranslation() {
  TranslateToMLIRRegistration registration(
      "import-layer-config",
      "import a KHA layer configuration (JSON) as a module with @kha_layer",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        StringRef filename = buffer->getBufferIdentifier();
        FailureOr<LayerConfig> config =
            parseLayerConfig(buffer->getBuffer(), filename, context);
        if (failed(config))
          return nullptr;
        Location loc = FileLineColLoc::get(context, filename, 1, 1);
        OwningOpRef<ModuleOp> module = buildLayerModule(*config, context, loc);
        if (failed(verify(*module)))
          return nullptr;
        return module;
      },
      [](DialectRegistry &registry) {
        registry.insert<KHADialect, func::FuncDialect>();
      });
}
