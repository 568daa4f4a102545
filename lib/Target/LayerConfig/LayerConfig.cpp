//===- LayerConfig.cpp - parse and validate a layer configuration ---------===//
//
// Every rule of docs/layer-config.md is enforced here, each with a message
// that names the key and the problem, located at the key's line in the file.
//
//===----------------------------------------------------------------------===//

#include "kha/Target/LayerConfig/LayerConfig.h"
#include "kha/Support/InputGuard.h"
#include "kha/Target/LayerConfig/RoPEScaling.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Regex.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kha;

namespace {
/// Reports configuration errors at the line of the key they concern.
class ConfigReader {
public:
  ConfigReader(StringRef text, StringRef filename, MLIRContext *context)
      : text(text), filename(filename), context(context) {}

  /// The location of `"key"`'s first occurrence in the text, or the file's
  /// start.
  Location locate(StringRef key) const {
    size_t pos = text.find(("\"" + key + "\"").str());
    if (pos == StringRef::npos)
      return locAt(1, 1);
    StringRef before = text.take_front(pos);
    unsigned line = before.count('\n') + 1;
    size_t lineStart = before.rfind('\n');
    unsigned column = lineStart == StringRef::npos ? pos + 1 : pos - lineStart;
    return locAt(line, column);
  }

  Location locAt(unsigned line, unsigned column) const {
    return FileLineColLoc::get(context, filename, line, column);
  }

  InFlightDiagnostic error(StringRef key) const {
    return emitError(locate(key)) << "layer config: ";
  }

private:
  StringRef text;
  StringRef filename;
  MLIRContext *context;
};
} // namespace

/// The largest size accepted for any dimension; keeps every product of sizes
/// (H*d, B*L*D) far from int64 overflow.
static constexpr int64_t kMaxSize = int64_t(1) << 24;

static const char *const kKnownKeys[] = {"hidden_size",
                                         "num_attention_heads",
                                         "num_key_value_heads",
                                         "head_dim",
                                         "knock",
                                         "qk_norm",
                                         "rms_norm_eps",
                                         "rope_theta",
                                         "causal",
                                         "batch",
                                         "seq_len",
                                         "dtype",
                                         "attention_bias",
                                         "qkv_bias",
                                         "rope_scaling",
                                         "max_position_embeddings",
                                         "position_ids",
                                         "attention_mask",
                                         "kv_cache",
                                         "cache_capacity"};

/// Reads a positive integer size, or nullopt for null when `nullable`.
static LogicalResult readSize(const ConfigReader &reader,
                              const llvm::json::Object &object, StringRef key,
                              std::optional<int64_t> &out, bool nullable) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return success();
  if (nullable && value->getAsNull()) {
    out = std::nullopt;
    return success();
  }
  std::optional<int64_t> size = value->getAsInteger();
  if (!size || *size <= 0 || *size > kMaxSize) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << *value;
    return reader.error(key) << "'" << key << "' must be a positive integer"
                             << (nullable ? " or null (dynamic)" : "")
                             << " at most " << kMaxSize << ", got " << text;
  }
  out = *size;
  return success();
}

static LogicalResult readBool(const ConfigReader &reader,
                              const llvm::json::Object &object, StringRef key,
                              bool &out) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return success();
  std::optional<bool> flag = value->getAsBoolean();
  if (!flag)
    return reader.error(key) << "'" << key << "' must be true or false";
  out = *flag;
  return success();
}

/// Reads a positive finite number (or null, giving nullopt, when `nullable`).
static LogicalResult
readPositiveNumber(const ConfigReader &reader, const llvm::json::Object &object,
                   StringRef key, std::optional<double> &out, bool nullable) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return success();
  if (nullable && value->getAsNull()) {
    out = std::nullopt;
    return success();
  }
  std::optional<double> number = value->getAsNumber();
  if (!number || !std::isfinite(*number) || *number <= 0.0)
    return reader.error(key) << "'" << key << "' must be a positive number"
                             << (nullable ? " or null" : "");
  out = *number;
  return success();
}

static LogicalResult readKnocks(const ConfigReader &reader,
                                const llvm::json::Object &object,
                                LayerConfig &config) {
  const llvm::json::Value *value = object.get("knock");
  if (!value)
    return success();
  const llvm::json::Object *knock = value->getAsObject();
  if (!knock)
    return reader.error("knock")
           << "'knock' must be an object such as {\"q\": \"none\", \"k\": "
              "\"none\", \"v\": \"mlp\"}";
  for (const auto &entry : *knock) {
    StringRef key = entry.first;
    if (key != "q" && key != "k" && key != "v")
      return reader.error("knock")
             << "unknown key '" << key << "' in 'knock' (expected q, k, v)";
  }
  for (auto [key, slot] :
       {std::pair<StringRef, KnockKind *>{"q", &config.knockQ},
        {"k", &config.knockK},
        {"v", &config.knockV}}) {
    const llvm::json::Value *kind = knock->get(key);
    if (!kind)
      continue;
    std::optional<StringRef> name = kind->getAsString();
    bool valuesOnly = key == "v";
    if (name && *name == "none")
      *slot = KnockKind::None;
    else if (name && *name == "linear")
      *slot = KnockKind::Linear;
    else if (name && *name == "mlp" && valuesOnly)
      *slot = KnockKind::Mlp;
    else
      return reader.error("knock")
             << "'knock." << key << "' must be "
             << (valuesOnly ? "\"none\", \"linear\" or \"mlp\""
                            : "\"none\" or \"linear\"")
             << (name && *name == "mlp"
                     ? " (the MLP knock applies to values only)"
                     : "");
  }
  return success();
}

/// `rope_scaling` (Hugging Face's object, or null) and the
/// `max_position_embeddings` it may need, turned into the frequencies of
/// `config` once its head width and RoPE base are known.
static LogicalResult readRoPEScaling(const ConfigReader &reader,
                                     const llvm::json::Object &object,
                                     LayerConfig &config) {
  std::optional<int64_t> maxPositions;
  if (failed(readSize(reader, object, "max_position_embeddings", maxPositions,
                      false)))
    return failure();
  const llvm::json::Value *value = object.get("rope_scaling");
  if (!value || value->getAsNull())
    return success();
  const llvm::json::Object *fields = value->getAsObject();
  if (!fields)
    return reader.error("rope_scaling")
           << "'rope_scaling' must be an object such as {\"rope_type\": "
              "\"llama3\", \"factor\": 8.0, ...} or null";
  RoPEScaling scaling;
  const llvm::json::Value *type = fields->get("rope_type");
  if (!type)
    type = fields->get("type"); // the older key
  std::optional<StringRef> typeName = type ? type->getAsString() : std::nullopt;
  if (!typeName)
    return reader.error("rope_scaling")
           << "'rope_scaling' needs a \"rope_type\" string";
  scaling.type = typeName->str();
  if (scaling.type == "default")
    return success();
  if (!config.ropeTheta)
    return reader.error("rope_scaling")
           << "'rope_scaling' needs RoPE ('rope_theta' is null)";
  static const char *const known[] = {
      "rope_type",       "type",
      "factor",          "original_max_position_embeddings",
      "low_freq_factor", "high_freq_factor",
      "beta_fast",       "beta_slow",
      "attention_factor"};
  for (const auto &entry : *fields)
    if (!llvm::is_contained(known, StringRef(entry.first)))
      return reader.error("rope_scaling")
             << "unknown key '" << StringRef(entry.first)
             << "' in 'rope_scaling'";
  auto number = [&](StringRef key,
                    std::optional<double> &slot) -> LogicalResult {
    const llvm::json::Value *field = fields->get(key);
    if (!field || field->getAsNull())
      return success();
    std::optional<double> v = field->getAsNumber();
    if (!v || !std::isfinite(*v) || *v < 0)
      return reader.error("rope_scaling")
             << "'rope_scaling." << key << "' must be a non-negative number";
    slot = *v;
    return success();
  };
  std::optional<double> factor;
  if (failed(number("factor", factor)) ||
      failed(number("original_max_position_embeddings",
                    scaling.originalMaxPositions)) ||
      failed(number("low_freq_factor", scaling.lowFreqFactor)) ||
      failed(number("high_freq_factor", scaling.highFreqFactor)) ||
      failed(number("beta_fast", scaling.betaFast)) ||
      failed(number("beta_slow", scaling.betaSlow)) ||
      failed(number("attention_factor", scaling.attentionFactor)))
    return failure();
  if (!factor)
    return reader.error("rope_scaling") << "'rope_scaling' needs a 'factor'";
  scaling.factor = *factor;
  std::string error = computeRoPEFrequencies(
      scaling, *config.ropeTheta, config.headDim, maxPositions, config.seqLen,
      config.ropeFrequencies, config.ropeAttentionFactor);
  if (!error.empty())
    return reader.error("rope_scaling") << error;
  for (double f : config.ropeFrequencies)
    if (!(f > 0) || !std::isfinite(f))
      return reader.error("rope_scaling")
             << "'rope_scaling' gives a frequency that is not a positive "
                "number";
  if (!(config.ropeAttentionFactor > 0) ||
      !std::isfinite(config.ropeAttentionFactor))
    return reader.error("rope_scaling")
           << "'rope_scaling' gives an attention factor that is not positive";
  return success();
}

namespace {
/// What llvm::json accepts but JSON (RFC 8259) does not, or what it would
/// silently resolve: a number that is not in JSON's grammar (a leading zero,
/// `+1`, `1.`, `.5`) and a key repeated in one object (llvm::json keeps the
/// later one). The offset of the first such token and a message, or nothing.
struct StrictnessError {
  size_t offset;
  std::string message;
};

std::optional<StrictnessError> findStrictnessError(StringRef text) {
  static const llvm::Regex number(
      "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$");
  // Per open object: the keys seen, and whether the next string is a key.
  struct Frame {
    bool object;
    llvm::StringSet<> keys;
    bool expectKey;
  };
  SmallVector<Frame> stack;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      size_t start = i;
      std::string value;
      for (++i; i < e && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < e)
          value += text[++i];
        else
          value += text[i];
      }
      if (!stack.empty() && stack.back().object && stack.back().expectKey) {
        stack.back().expectKey = false;
        if (!stack.back().keys.insert(value).second)
          return StrictnessError{start, "duplicate key '" + value + "'"};
      }
      continue;
    }
    if (c == '{' || c == '[') {
      stack.push_back({c == '{', {}, c == '{'});
    } else if (c == '}' || c == ']') {
      if (!stack.empty())
        stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty() && stack.back().object)
        stack.back().expectKey = true;
    } else if (c == '-' || c == '+' || c == '.' ||
               std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = i;
      while (end < e &&
             (std::isalnum(static_cast<unsigned char>(text[end])) ||
              text[end] == '.' || text[end] == '-' || text[end] == '+'))
        ++end;
      StringRef token = text.slice(i, end);
      if (!number.match(token))
        return StrictnessError{i, "'" + token.str() + "' is not a JSON number"};
      i = end - 1;
    }
  }
  return std::nullopt;
}
} // namespace

FailureOr<LayerConfig> kha::parseLayerConfig(StringRef text, StringRef filename,
                                             MLIRContext *context) {
  ConfigReader reader(text, filename, context);
  // A configuration nests two levels; llvm::json recurses per level, so
  // deeper input is refused before it can exhaust the stack.
  if (std::optional<size_t> offset = findExcessiveNesting(text, 32)) {
    auto [line, column] = getLineAndColumn(text, *offset);
    return emitError(reader.locAt(line, column))
           << "layer config: JSON nested too deeply (a layer configuration "
              "nests two levels)";
  }
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (parsed) {
    if (std::optional<StrictnessError> strict = findStrictnessError(text)) {
      auto [line, column] = getLineAndColumn(text, strict->offset);
      return emitError(reader.locAt(line, column))
             << "layer config is not valid JSON: " << strict->message;
    }
  }
  if (!parsed) {
    // llvm::json reports "[line:column, byte=N]: <message>".
    std::string message = llvm::toString(parsed.takeError());
    SmallVector<StringRef> groups;
    llvm::Regex where("^\\[([0-9]+):([0-9]+), byte=[0-9]+\\]: (.*)$");
    Location loc = reader.locAt(1, 1);
    if (where.match(message, &groups)) {
      unsigned line = 1, column = 1;
      groups[1].getAsInteger(10, line);
      groups[2].getAsInteger(10, column);
      loc = reader.locAt(line, std::max(column, 1u));
      message = groups[3].str();
    }
    return emitError(loc) << "layer config is not valid JSON: " << message;
  }
  const llvm::json::Object *object = parsed->getAsObject();
  if (!object)
    return emitError(reader.locAt(1, 1))
           << "layer config: the configuration must be a JSON object";

  llvm::StringSet<> known;
  for (const char *key : kKnownKeys)
    known.insert(key);
  for (const auto &entry : *object)
    if (!known.contains(entry.first))
      return reader.error(entry.first)
             << "unknown key '" << entry.first.str() << "'";

  LayerConfig config;
  std::optional<int64_t> hidden, heads, kvHeads, headDim;
  // attention_bias (Llama's key): all four projections; qkv_bias (as Qwen2
  // has them): the query, key and value projections only.
  bool attentionBias = false, qkvBias = false;
  if (failed(readSize(reader, *object, "hidden_size", hidden, false)) ||
      failed(readSize(reader, *object, "num_attention_heads", heads, false)) ||
      failed(
          readSize(reader, *object, "num_key_value_heads", kvHeads, false)) ||
      failed(readSize(reader, *object, "head_dim", headDim, false)) ||
      failed(readSize(reader, *object, "batch", config.batch, true)) ||
      failed(readSize(reader, *object, "seq_len", config.seqLen, true)) ||
      failed(readBool(reader, *object, "qk_norm", config.qkNorm)) ||
      failed(readBool(reader, *object, "attention_bias", attentionBias)) ||
      failed(readBool(reader, *object, "qkv_bias", qkvBias)) ||
      failed(readBool(reader, *object, "causal", config.causal)) ||
      failed(readBool(reader, *object, "position_ids", config.positionIds)) ||
      failed(
          readBool(reader, *object, "attention_mask", config.attentionMask)) ||
      failed(readBool(reader, *object, "kv_cache", config.kvCache)) ||
      failed(readSize(reader, *object, "cache_capacity", config.cacheCapacity,
                      true)) ||
      failed(readKnocks(reader, *object, config)))
    return failure();
  std::optional<double> eps = config.rmsNormEps;
  if (failed(readPositiveNumber(reader, *object, "rms_norm_eps", eps, false)) ||
      failed(readPositiveNumber(reader, *object, "rope_theta", config.ropeTheta,
                                true)))
    return failure();
  config.rmsNormEps = *eps;
  config.qkvBias = attentionBias || qkvBias;
  config.outputBias = attentionBias;

  if (!hidden)
    return reader.error("hidden_size") << "'hidden_size' is required";
  if (!heads)
    return reader.error("num_attention_heads")
           << "'num_attention_heads' is required";
  config.hiddenSize = *hidden;
  config.numHeads = *heads;
  config.numKvHeads = kvHeads.value_or(*heads);
  if (config.numHeads % config.numKvHeads != 0)
    return reader.error("num_key_value_heads")
           << "num_key_value_heads (" << config.numKvHeads
           << ") must divide num_attention_heads (" << config.numHeads << ")";
  if (headDim) {
    config.headDim = *headDim;
  } else if (config.hiddenSize % config.numHeads == 0) {
    config.headDim = config.hiddenSize / config.numHeads;
  } else {
    return reader.error("hidden_size")
           << "'head_dim' is missing and hidden_size (" << config.hiddenSize
           << ") is not a multiple of num_attention_heads (" << config.numHeads
           << ")";
  }
  if (config.numHeads * config.headDim > kMaxSize)
    return reader.error("head_dim")
           << "num_attention_heads * head_dim must be at most " << kMaxSize;
  if (config.ropeTheta && config.headDim % 2 != 0)
    return reader.error("head_dim")
           << "RoPE needs an even head_dim, got " << config.headDim
           << " (set \"rope_theta\": null for no RoPE)";

  if (failed(readRoPEScaling(reader, *object, config)))
    return failure();
  // Dynamic NTK scaling changes the frequencies with the sequence length,
  // which grows with every decoding step.
  if (config.kvCache)
    if (const llvm::json::Object *scaling = object->getObject("rope_scaling")) {
      std::optional<StringRef> type = scaling->getString("rope_type");
      if (!type)
        type = scaling->getString("type");
      if (type && *type == "dynamic")
        return reader.error("rope_scaling")
               << "dynamic RoPE scaling depends on the sequence length, which "
                  "a layer with a cache does not know when it is compiled";
    }
  if (config.cacheCapacity && !config.kvCache)
    return reader.error("cache_capacity")
           << "'cache_capacity' sizes the key/value cache; set \"kv_cache\": "
              "true for a layer with one";
  if (config.positionIds && !config.ropeTheta)
    return reader.error("position_ids")
           << "'position_ids' place tokens for RoPE; this layer has none "
              "(\"rope_theta\": null)";

  if (const llvm::json::Value *dtype = object->get("dtype")) {
    std::optional<StringRef> name = dtype->getAsString();
    if (!name || (*name != "f32" && *name != "f16" && *name != "bf16"))
      return reader.error("dtype")
             << "'dtype' must be \"f32\", \"f16\" or \"bf16\"";
    config.dtype = name->str();
  }
  return config;
}
