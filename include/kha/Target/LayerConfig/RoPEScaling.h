//===- RoPEScaling.h - scaled RoPE frequencies ------------------*- C++ -*-===//
//
// The frequencies of a scaled rotary position embedding, as Hugging Face
// transformers computes them from a model's `rope_scaling`.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_TARGET_LAYERCONFIG_ROPESCALING_H
#define KHA_TARGET_LAYERCONFIG_ROPESCALING_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir {
namespace kha {

/// A `rope_scaling` object: `rope_type` (or `type`) one of linear, dynamic,
/// llama3, yarn, and the parameters that type reads.
struct RoPEScaling {
  std::string type;
  double factor = 1.0;
  std::optional<double> originalMaxPositions;                // llama3
  std::optional<double> lowFreqFactor, highFreqFactor;       // llama3
  std::optional<double> betaFast, betaSlow, attentionFactor; // yarn
};

/// The d/2 frequencies f_j (RoPE's angle at position p is p f_j) and the
/// factor on cos and sin, for base `theta` and head width `d`:
/// - linear: theta^(-2j/d) / factor;
/// - dynamic (NTK): for a sequence longer than `maxPositions`, the base
///   becomes theta ((factor L / maxPositions) - (factor - 1))^(d/(d-2));
///   needs a static `seqLen`;
/// - llama3: long wavelengths divided by factor, short ones kept, a smooth
///   blend between (`originalMaxPositions`, `lowFreqFactor`,
///   `highFreqFactor`);
/// - yarn: interpolation and extrapolation blended by a ramp between the
///   dimensions turning `betaFast` and `betaSlow` times over `maxPositions`,
///   and an attention factor (0.1 ln(factor) + 1 unless given).
/// Returns an error message, empty on success.
std::string computeRoPEFrequencies(const RoPEScaling &scaling, double theta,
                                   int64_t d,
                                   std::optional<int64_t> maxPositions,
                                   std::optional<int64_t> seqLen,
                                   llvm::SmallVectorImpl<double> &frequencies,
                                   double &attentionFactor);

} // namespace kha
} // namespace mlir

#endif // KHA_TARGET_LAYERCONFIG_ROPESCALING_H
