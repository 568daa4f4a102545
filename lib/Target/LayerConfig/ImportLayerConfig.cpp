//===- ImportLayerConfig.cpp - layer config JSON to kha IR ----------------===//

#include "kha/Dialect/KHA/IR/KHAOps.h"
#include "kha/Target/LayerConfig/LayerConfig.h"
#include "kha/Target/LayerConfig/Safetensors.h"

#include "kha/Runtime/Runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::kha;

SmallVector<std::string>
mlir::kha::getLayerArgumentNames(const LayerConfig &config) {
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
  if (config.positionIds)
    names.push_back("positions");
  if (config.attentionMask)
    names.push_back("attention_mask");
  if (config.kvCache)
    names.append({"k_cache", "v_cache", "cache_length"});
  return names;
}

bool mlir::kha::isLayerWeight(StringRef name) {
  return !llvm::is_contained({StringRef("x"), StringRef("positions"),
                              StringRef("attention_mask"), StringRef("k_cache"),
                              StringRef("v_cache"), StringRef("cache_length")},
                             name);
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
  context->loadDialect<KHADialect, func::FuncDialect, arith::ArithDialect,
                       bufferization::BufferizationDialect>();
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

  // Argument types in the order of docs/layer-config.md; with embedded
  // weights, only the arguments that are not weights.
  SmallVector<std::string> names = getLayerArgumentNames(config), argNames;
  SmallVector<Type> argTypes;
  int64_t batch = config.batch.value_or(ShapedType::kDynamic);
  int64_t capacity = config.cacheCapacity.value_or(ShapedType::kDynamic);
  auto tokens = RankedTensorType::get(
      {batch, config.seqLen.value_or(ShapedType::kDynamic)},
      builder.getI64Type());
  // With a cache, the mask has one entry per cache slot.
  auto slots = RankedTensorType::get({batch, capacity}, builder.getI64Type());
  // The caches are buffers the layer updates in place.
  auto cacheType =
      MemRefType::get({batch, capacity, G, config.headDim}, element);
  for (StringRef name : names) {
    if (weights && isLayerWeight(name))
      continue;
    argNames.push_back(name.str());
    Type type;
    if (name == "x")
      type = xType;
    else if (name == "k_cache" || name == "v_cache")
      type = cacheType;
    else if (name == "cache_length")
      type = builder.getI64Type();
    else if (name == "attention_mask" && config.kvCache)
      type = slots;
    else if (!isLayerWeight(name))
      type = tokens;
    else
      type = tensor(getLayerWeightShape(config, name));
    argTypes.push_back(type);
  }
  auto func = func::FuncOp::create(builder, loc, "kha_layer",
                                   builder.getFunctionType(argTypes, {xType}));
  Block *body = func.addEntryBlock();
  for (auto [index, name] : llvm::enumerate(argNames)) {
    body->getArgument(index).setLoc(
        NameLoc::get(builder.getStringAttr(name), loc));
    // Weights are bound once by a caller that runs the layer many times.
    if (isLayerWeight(name))
      func.setArgAttr(index, kWeightAttrName, builder.getUnitAttr());
  }
  builder.setInsertionPointToStart(body);

  llvm::StringMap<Value> values;
  for (auto [index, name] : llvm::enumerate(argNames))
    values[name] = body->getArgument(index);
  if (weights)
    for (StringRef name : names)
      if (isLayerWeight(name))
        values[name] = arith::ConstantOp::create(
            builder, NameLoc::get(builder.getStringAttr(name), loc),
            cast<TypedAttr>(weights->lookup(name)));
  // The caches as tensors whose buffers are the arguments' (written in
  // place).
  SmallVector<Type> cacheTypes;
  for (StringRef name : {"k_cache", "v_cache"})
    if (Value buffer = values.lookup(name)) {
      auto type = cast<MemRefType>(buffer.getType());
      auto tensorType =
          RankedTensorType::get(type.getShape(), type.getElementType());
      values[name] = bufferization::ToTensorOp::create(
          builder, buffer.getLoc(), tensorType, buffer, /*restrict=*/true,
          /*writable=*/true);
      cacheTypes.push_back(tensorType);
    }
  auto arg = [&](StringRef name) -> Value { return values.lookup(name); };
  auto block = AttentionBlockOp::create(
      builder, loc, xType, cacheTypes, arg("x"), arg("wq"), arg("wk"),
      arg("wv"), arg("wo"), arg("tq"), arg("tk"), arg("tv"), arg("v_up"),
      arg("v_gate"), arg("v_down"), arg("q_norm"), arg("k_norm"), arg("bq"),
      arg("bk"), arg("bv"), arg("bo"), arg("positions"), arg("attention_mask"),
      arg("k_cache"), arg("v_cache"), arg("cache_length"),
      builder.getI64IntegerAttr(H), builder.getI64IntegerAttr(G),
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
  // The updated caches end in the caller's buffers.
  const char *cacheNames[] = {"k_cache", "v_cache"};
  for (auto [updated, name] : llvm::zip(block.getUpdatedCaches(), cacheNames)) {
    auto store = bufferization::MaterializeInDestinationOp::create(
        builder, loc, updated,
        body->getArgument(llvm::find(argNames, name) - argNames.begin()));
    store.setRestrict(true);
    store.setWritable(true);
  }
  func::ReturnOp::create(builder, loc, block.getResult());
  return module;
}

/// The elements of one weight as `element` values, from little-endian bytes
/// of the source type `source` ("f32", "f16" or "bf16"), rounded to nearest
/// even where `element` is narrower.
static DenseElementsAttr convertWeight(StringRef bytes, StringRef source,
                                       RankedTensorType type) {
  Type element = type.getElementType();
  const llvm::fltSemantics &from = source == "f16"    ? APFloat::IEEEhalf()
                                   : source == "bf16" ? APFloat::BFloat()
                                                      : APFloat::IEEEsingle();
  unsigned width = APFloat::getSizeInBits(from);
  size_t count = bytes.size() / (width / 8);
  SmallVector<APFloat> values;
  values.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, bytes.data() + i * (width / 8), width / 8);
    APFloat value(from, APInt(width, bits));
    bool losesInfo;
    value.convert(cast<FloatType>(element).getFloatSemantics(),
                  APFloat::rmNearestTiesToEven, &losesInfo);
    values.push_back(value);
  }
  return DenseElementsAttr::get(type, values);
}

static std::string formatShape(ArrayRef<int64_t> shape) {
  return ::kha::runtime::formatShape(
      std::vector<int64_t>(shape.begin(), shape.end()));
}

/// Weights from DIR/<name>.npy: float32 files for f32 and bf16 layers,
/// float16 files for f16 ones.
static LogicalResult
loadNpyWeights(const LayerConfig &config, StringRef directory, Type element,
               Location loc, llvm::StringMap<DenseElementsAttr> &weights) {
  // The names outlive the loop (a temporary in the range expression would
  // not: only the ArrayRef over it would be kept alive).
  auto names = getLayerArgumentNames(config);
  for (StringRef name : names) {
    if (!isLayerWeight(name))
      continue;
    SmallVector<int64_t> shape = getLayerWeightShape(config, name);
    SmallString<128> path(directory);
    llvm::sys::path::append(path, name + ".npy");
    ::kha::runtime::NpyArray array;
    std::string error;
    if (!::kha::runtime::readNpy(path.str().str(), array, error))
      return emitError(loc) << "weights: " << error;
    std::string expected = element.isF16() ? "<f2" : "<f4";
    if (array.descr != expected)
      return emitError(loc)
             << "weights: " << path << " holds "
             << ::kha::runtime::numpyTypeName(array.descr) << ", expected "
             << ::kha::runtime::numpyTypeName(expected);
    if (ArrayRef<int64_t>(array.shape) != ArrayRef<int64_t>(shape))
      return emitError(loc)
             << "weights: " << path << " has shape " << formatShape(array.shape)
             << ", expected " << formatShape(shape);
    weights[name] = convertWeight(
        StringRef(array.data.data(), array.data.size()),
        element.isF16() ? "f16" : "f32", RankedTensorType::get(shape, element));
  }
  return success();
}

/// Weights from one .safetensors file holding a tensor per argument name
/// (others are ignored), in F32, F16 or BF16, converted to the layer's type.
static LogicalResult
loadSafetensorsWeights(const LayerConfig &config, StringRef path, Type element,
                       Location loc,
                       llvm::StringMap<DenseElementsAttr> &weights) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return emitError(loc) << "weights: " << path
                          << ": cannot open: " << file.getError().message();
  llvm::StringMap<SafetensorsTensor> tensors;
  std::string error;
  if (!parseSafetensors((*file)->getBuffer(), tensors, error))
    return emitError(loc) << "weights: " << path << ": " << error;
  auto names = getLayerArgumentNames(config);
  for (StringRef name : names) {
    if (!isLayerWeight(name))
      continue;
    SmallVector<int64_t> shape = getLayerWeightShape(config, name);
    auto it = tensors.find(name);
    if (it == tensors.end())
      return emitError(loc)
             << "weights: " << path << " has no tensor '" << name << "'";
    const SafetensorsTensor &tensor = it->second;
    StringRef source = llvm::StringSwitch<StringRef>(tensor.dtype)
                           .Case("F32", "f32")
                           .Case("F16", "f16")
                           .Case("BF16", "bf16")
                           .Default("");
    if (source.empty())
      return emitError(loc)
             << "weights: " << path << ": tensor '" << name << "' is "
             << tensor.dtype << ", expected F32, F16 or BF16";
    if (ArrayRef<int64_t>(tensor.shape) != ArrayRef<int64_t>(shape))
      return emitError(loc) << "weights: " << path << ": tensor '" << name
                            << "' has shape " << formatShape(tensor.shape)
                            << ", expected " << formatShape(shape);
    weights[name] = convertWeight(tensor.bytes, source,
                                  RankedTensorType::get(shape, element));
  }
  return success();
}

FailureOr<llvm::StringMap<DenseElementsAttr>>
mlir::kha::loadLayerWeights(const LayerConfig &config, StringRef source,
                            MLIRContext *context, Location loc) {
  Builder builder(context);
  Type element = getElementType(config, builder);
  llvm::StringMap<DenseElementsAttr> weights;
  LogicalResult loaded =
      source.ends_with(".safetensors")
          ? loadSafetensorsWeights(config, source, element, loc, weights)
          : loadNpyWeights(config, source, element, loc, weights);
  if (failed(loaded))
    return failure();
  return weights;
}

/// kha-translate --import-layer-config --weights=DIR embeds the weights.
static llvm::cl::opt<std::string>
    weightsDirectory("weights",
                     llvm::cl::desc("with --import-layer-config: embed the "
                                    "weights from DIR/<argument>.npy, or "
                                    "from the tensors named after the "
                                    "arguments in FILE.safetensors, as "
                                    "constants; x stays the only argument"),
                     llvm::cl::value_desc("DIR|FILE.safetensors"),
                     llvm::cl::init(""));

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
        OwningOpRef<ModuleOp> module =
            buildLayerModule(*config, context, loc,
                             weightsDirectory.empty() ? nullptr : &*weights);
        if (failed(verify(*module)))
          return nullptr;
        return module;
      },
      [](DialectRegistry &registry) {
        registry.insert<KHADialect, func::FuncDialect, arith::ArithDialect,
                        bufferization::BufferizationDialect>();
      });
}
