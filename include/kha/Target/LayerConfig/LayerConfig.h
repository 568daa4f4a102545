//===- LayerConfig.h - layer configurations --------------------*- C++ -*-===//
//
// The JSON layer configuration (Hugging Face-style keys) and its import into a
// module holding the public function @kha_layer.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_TARGET_LAYERCONFIG_LAYERCONFIG_H
#define KHA_TARGET_LAYERCONFIG_LAYERCONFIG_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir {
namespace kha {

enum class KnockKind { None, Linear, Mlp };

/// A validated layer configuration. Defaults follow Hugging Face's for the
/// keys a model's config.json may omit (docs/layer-config.md).
struct LayerConfig {
  int64_t hiddenSize = 0; // D
  int64_t numHeads = 0;   // H
  int64_t numKvHeads = 0; // G (default: H)
  int64_t headDim = 0;    // d (default: D / H)
  KnockKind knockQ = KnockKind::None;
  KnockKind knockK = KnockKind::None;
  KnockKind knockV = KnockKind::None;
  bool qkNorm = false;
  bool qkvBias = false;    // biases on the q, k, v projections
  bool outputBias = false; // a bias on the output projection
  double rmsNormEps = 1e-6;
  std::optional<double> ropeTheta = 10000.0; // nullopt: no RoPE
  /// A scaled RoPE (`rope_scaling`): its d/2 frequencies and the factor on
  /// cos and sin; empty for plain RoPE.
  llvm::SmallVector<double> ropeFrequencies;
  double ropeAttentionFactor = 1.0;
  bool causal = true;
  /// The layer takes `positions` [B, L] (Hugging Face's position_ids) for
  /// RoPE, and an `attention_mask` [B, L] (1: attend, 0: padding).
  bool positionIds = false;
  bool attentionMask = false;
  /// Decoding with a key/value cache: the layer takes `k_cache` and
  /// `v_cache` [B, S, G, d] (updated in place) and `cache_length` after the
  /// other arguments; S is `cacheCapacity` (nullopt: dynamic).
  bool kvCache = false;
  std::optional<int64_t> cacheCapacity;
  std::optional<int64_t> batch;  // nullopt: dynamic
  std::optional<int64_t> seqLen; // nullopt: dynamic
  std::string dtype = "f32";     // "f32", "f16" or "bf16"
};

/// Parses and validates the JSON text of a layer configuration. Problems are
/// reported as errors at locations in `filename` (the line of the offending
/// key where it can be found); returns failure after the first one.
FailureOr<LayerConfig> parseLayerConfig(StringRef text, StringRef filename,
                                        MLIRContext *context);

/// Builds a module with the public function @kha_layer of
/// docs/layer-config.md: arguments x, wq, wk, wv, wo, then tq, tk, tv or
/// v_up, v_gate, v_down,
/// then q_norm, k_norm, then bq, bk, bv, then bo, then positions and
/// attention_mask, as the configuration asks; one kha.attention_block.
/// Weights are marked `kha.weight`. With `weights` (one constant per weight
/// name), the weights are embedded as constants and the other arguments
/// remain.
OwningOpRef<ModuleOp>
buildLayerModule(const LayerConfig &config, MLIRContext *context, Location loc,
                 const llvm::StringMap<DenseElementsAttr> *weights = nullptr);

/// Reads every weight argument of `config` (all but x) from `source`: a
/// directory of <name>.npy files (float32 for f32 and bf16 layers, float16 for
/// f16), or a file ending in .safetensors holding a tensor per argument name
/// in F32, F16 or BF16 (converted to the layer's type, rounding to nearest
/// even). Shapes and dtypes are checked; errors are reported at `loc`.
FailureOr<llvm::StringMap<DenseElementsAttr>>
loadLayerWeights(const LayerConfig &config, StringRef source,
                 MLIRContext *context, Location loc);

/// The names of @kha_layer's arguments, in order, for `config`: x, the
/// weights, then positions and attention_mask where the configuration asks,
/// then k_cache, v_cache and cache_length for a layer with a cache.
SmallVector<std::string> getLayerArgumentNames(const LayerConfig &config);

/// True for the arguments that are weights (all but x, positions,
/// attention_mask and the cache's k_cache, v_cache and cache_length).
bool isLayerWeight(StringRef name);

/// The shape of the weight argument `name` (one of getLayerArgumentNames but
/// x) of `config`'s layer.
SmallVector<int64_t> getLayerWeightShape(const LayerConfig &config,
                                         StringRef name);

/// Registers `--import-layer-config` with mlir-translate's registry.
void registerImportLayerConfigTranslation();

} // namespace kha
} // namespace mlir

#endif // KHA_TARGET_LAYERCONFIG_LAYERCONFIG_H
