//===- ImportLayerConfig.cpp - layer config JSON to kha IR ----------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Target/LayerConfig/LayerConfig.h"

#include "kha/Runtime/Runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::kha;

SmallVector<std::string> mlir::kha::getLayerArgumentNames(const LayerConfig &config) {
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
  if (config.qkvBias)
    names.append({"bq", "bk", "bv"});
  if (config.outputBias)
    names.push_back("bo");
  return names;
}

SmallVector<int64_t> mlir::kha::getLayerWeightShape(const LayerConfig &config,
                                                    StringRef name) {
  int64_t D = config.hiddenSize, H = config.numHeads, G = config.numKvHeads,
          d = config.headDim;
  if (name == "wq")
    return {D, H * d};
  if (name == "wk" || name == "wv")
    return {D, G * d};
  if (name == "wo")
    return {H * d, D};
  if (name == "bq")
    return {H * d};
  if (name == "bk" || name == "bv")
    return {G * d};
  if (name == "bo")
    return {D};
  if (name.ends_with("norm"))
    return {d};
  return {d, d}; // knock matrices
}

static Type getElementType(const LayerConfig &config, Builder &builder) {
  if (config.dtype == "f16")
    return builder.getF16Type();
  if (config.dtype == "bf16")
    return builder.getBF16Type();
  return builder.getF32Type();
}

OwningOpRef<ModuleOp>
mlir::kha::buildLayerModule(const LayerConfig &config, MLIRContext *context,
                      Location loc,
                      const llvm::StringMap<DenseElementsAttr> *weights) {
  context->loadDialect<KHADialect, func::FuncDialect, arith::ArithDialect>();
  OpBuilder builder(context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  Type element = getElementType(config, builder);
  int64_t D = config.hiddenSize, H = config.numHeads, G = config.numKvHeads;
  auto tensor = [&](ArrayRef<int64_t> shape) -> Type {
    return RankedTensorType::get(shape, element);
  };
  Type xType = tensor({config.batch.value_or(ShapedType::kDynamic),
                       config.seqLen.value_or(ShapedType::kDynamic), D});

  // Argument types in the order of docs/layer-config.md.
  SmallVector<Type> argTypes = {xType};
  SmallVector<std::string> names = getLayerArgumentNames(config);
  for (StringRef name : ArrayRef(names).drop_front())
    argTypes.push_back(tensor(getLayerWeightShape(config, name)));

  // With embedded weights, x is the only argument.
  SmallVector<Type> funcArgTypes = argTypes;
  if (weights)
    funcArgTypes.resize(1);
  auto func = func::FuncOp::create(
      builder, loc, "kha_layer", builder.getFunctionType(funcArgTypes, {xType}));
  Block *body = func.addEntryBlock();
  for (auto [arg, name] : llvm::zip(body->getArguments(), names))
    arg.setLoc(NameLoc::get(builder.getStringAttr(name), loc));
  builder.setInsertionPointToStart(body);

  llvm::StringMap<Value> values;
  for (auto [index, name] : llvm::enumerate(names)) {
    if (index < body->getNumArguments())
      values[name] = body->getArgument(index);
    else
      values[name] = arith::ConstantOp::create(
          builder, NameLoc::get(builder.getStringAttr(name), loc),
          cast<TypedAttr>(weights->lookup(name)));
  }
  auto arg = [&](StringRef name) -> Value { return values.lookup(name); };
  auto block = AttentionBlockOp::create(
      builder, loc, xType, arg("x"), arg("wq"), arg("wk"), arg("wv"), arg("wo"),
      arg("tq"), arg("tk"), arg("tv"), arg("v_up"), arg("v_gate"),
      arg("v_down"), arg("q_norm"), arg("k_norm"), arg("bq"), arg("bk"),
      arg("bv"), arg("bo"), builder.getI64IntegerAttr(H),
      builder.getI64IntegerAttr(G),
      config.causal ? builder.getUnitAttr() : UnitAttr(),
      config.ropeTheta ? builder.getF64FloatAttr(*config.ropeTheta)
                       : FloatAttr(),
      builder.getF64FloatAttr(config.rmsNormEps),
      config.ropeFrequencies.empty()
          ? DenseF64ArrayAttr()
          : builder.getDenseF64ArrayAttr(config.ropeFrequencies),
      config.ropeAttentionFactor != 1.0
          ? builder.getF64FloatAttr(config.ropeAttentionFactor)
          : FloatAttr());
  func::ReturnOp::create(builder, loc, block.getResult());
  return module;
}

FailureOr<llvm::StringMap<DenseElementsAttr>>
mlir::kha::loadLayerWeights(const LayerConfig &config, StringRef directory,
                      MLIRContext *context, Location loc) {
  Builder builder(context);
  Type element = getElementType(config, builder);
  llvm::StringMap<DenseElementsAttr> weights;
  // The names outlive the loop (a temporary in the range expression would
  // not: only the ArrayRef over it would be kept alive).
  auto names = getLayerArgumentNames(config);
  for (StringRef name : ArrayRef(names).drop_front()) {
    SmallVector<int64_t> shape = getLayerWeightShape(config, name);
    SmallString<128> path(directory);
    llvm::sys::path::append(path, name + ".npy");
    ::kha::runtime::NpyArray array;
    std::string error;
    if (!::kha::runtime::readNpy(path.str().str(), array, error))
      return emitError(loc) << "weights: " << error;
    std::string expected = element.isF16() ? "<f2" : "<f4";
    if (array.descr != expected)
      return emitError(loc) << "weights: " << path << " holds "
                            << ::kha::runtime::numpyTypeName(array.descr)
                            << ", expected "
                            << ::kha::runtime::numpyTypeName(expected);
    if (ArrayRef<int64_t>(array.shape) != ArrayRef<int64_t>(shape))
      return emitError(loc) << "weights: " << path << " has shape "
                            << ::kha::runtime::formatShape(array.shape)
                            << ", expected " << ::kha::runtime::formatShape(
                                                    std::vector<int64_t>(
                                                        shape.begin(),
                                                        shape.end()));
    auto type = RankedTensorType::get(shape, element);
    SmallVector<APFloat> values;
    size_t count = array.data.size() / (element.isF16() ? 2 : 4);
    values.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      if (element.isF16()) {
        uint16_t bits;
        std::memcpy(&bits, array.data.data() + 2 * i, 2);
        values.emplace_back(APFloat::IEEEhalf(), APInt(16, bits));
        continue;
      }
      float value;
      std::memcpy(&value, array.data.data() + 4 * i, 4);
      APFloat f(value);
      bool losesInfo;
      if (element.isBF16())
        f.convert(APFloat::BFloat(), APFloat::rmNearestTiesToEven, &losesInfo);
      values.push_back(f);
    }
    weights[name] = DenseElementsAttr::get(type, values);
  }
  return weights;
}

/// kha-translate --import-layer-config --weights=DIR embeds the weights.
static llvm::cl::opt<std::string>
    weightsDirectory("weights",
                     llvm::cl::desc("with --import-layer-config: embed the "
                                    "weights from DIR/<argument>.npy as "
                                    "constants; x stays the only argument"),
                     llvm::cl::value_desc("DIR"), llvm::cl::init(""));

void mlir::kha::registerImportLayerConfigTranslation() {
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
        FailureOr<llvm::StringMap<DenseElementsAttr>> weights;
        if (!weightsDirectory.empty()) {
          weights = loadLayerWeights(*config, weightsDirectory, context, loc);
          if (failed(weights))
            return nullptr;
        }
        OwningOpRef<ModuleOp> module = buildLayerModule(
            *config, context, loc,
            weightsDirectory.empty() ? nullptr : &*weights);
        if (failed(verify(*module)))
          return nullptr;
        return module;
      },
      [](DialectRegistry &registry) {
        registry.insert<KHADialect, func::FuncDialect, arith::ArithDialect>();
      });
}
