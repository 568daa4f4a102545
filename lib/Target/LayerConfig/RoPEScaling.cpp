//===- RoPEScaling.cpp - scaled RoPE frequencies --------------------------===//
//
// Hugging Face transformers' definitions (modeling_rope_utils, version
// 4.49), in double precision.
//
//===----------------------------------------------------------------------===//

#include "kha/Target/LayerConfig/RoPEScaling.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::kha;

std::string kha::computeRoPEFrequencies(const RoPEScaling &scaling,
                                        double theta, int64_t d,
                                        std::optional<int64_t> maxPositions,
                                        std::optional<int64_t> seqLen,
                                        llvm::SmallVectorImpl<double> &out,
                                        double &attentionFactor) {
  int64_t half = d / 2;
  double factor = scaling.factor;
  auto plain = [&](double base, int64_t j) {
    return std::pow(base, -double(2 * j) / double(d));
  };
  out.clear();
  attentionFactor = 1.0;
  if (!(factor > 0) || !std::isfinite(factor))
    return "'rope_scaling.factor' must be a positive number";

  if (scaling.type == "linear") {
    for (int64_t j = 0; j < half; ++j)
      out.push_back(plain(theta, j) / factor);
    return "";
  }

  if (scaling.type == "dynamic") {
    if (!maxPositions)
      return "dynamic RoPE scaling needs 'max_position_embeddings'";
    if (!seqLen)
      return "dynamic RoPE scaling depends on the sequence length: give a "
             "static 'seq_len'";
    if (d <= 2)
      return "dynamic RoPE scaling needs a head width above 2";
    double base = theta;
    if (*seqLen > *maxPositions)
      base = theta * std::pow(factor * double(*seqLen) / double(*maxPositions) -
                                  (factor - 1.0),
                              double(d) / double(d - 2));
    for (int64_t j = 0; j < half; ++j)
      out.push_back(plain(base, j));
    return "";
  }

  if (scaling.type == "llama3") {
    if (!scaling.originalMaxPositions || !scaling.lowFreqFactor ||
        !scaling.highFreqFactor)
      return "llama3 RoPE scaling needs 'original_max_position_embeddings', "
             "'low_freq_factor' and 'high_freq_factor'";
    double old = *scaling.originalMaxPositions;
    double low = *scaling.lowFreqFactor, high = *scaling.highFreqFactor;
    if (!(high > low))
      return "llama3 RoPE scaling needs 'high_freq_factor' > "
             "'low_freq_factor'";
    double lowWavelength = old / low, highWavelength = old / high;
    for (int64_t j = 0; j < half; ++j) {
      double f = plain(theta, j), wavelength = 2 * M_PI / f;
      if (wavelength > lowWavelength) {
        out.push_back(f / factor);
      } else if (wavelength < highWavelength) {
        out.push_back(f);
      } else {
        double smooth = (old / wavelength - low) / (high - low);
        out.push_back((1 - smooth) * f / factor + smooth * f);
      }
    }
    return "";
  }

  if (scaling.type == "yarn") {
    if (!maxPositions)
      return "yarn RoPE scaling needs 'max_position_embeddings'";
    attentionFactor = scaling.attentionFactor ? *scaling.attentionFactor
                                              : 0.1 * std::log(factor) + 1.0;
    // transformers reads `beta_fast or 32`: an absent or zero value is the
    // default.
    double fast =
        scaling.betaFast && *scaling.betaFast != 0 ? *scaling.betaFast : 32.0;
    double slow =
        scaling.betaSlow && *scaling.betaSlow != 0 ? *scaling.betaSlow : 1.0;
    auto correctionDim = [&](double rotations) {
      return double(d) *
             std::log(double(*maxPositions) / (rotations * 2 * M_PI)) /
             (2 * std::log(theta));
    };
    double lowDim = std::max(std::floor(correctionDim(fast)), 0.0);
    double highDim = std::min(std::ceil(correctionDim(slow)), double(d - 1));
    if (lowDim == highDim)
      highDim += 0.001; // as transformers, against a zero-width ramp
    for (int64_t j = 0; j < half; ++j) {
      double ramp =
          std::clamp((double(j) - lowDim) / (highDim - lowDim), 0.0, 1.0);
      double extrapolation = 1.0 - ramp;
      double f = plain(theta, j);
      out.push_back(f / factor * (1 - extrapolation) + f * extrapolation);
    }
    return "";
  }

  return "'rope_scaling' type '" + scaling.type +
         "' is not supported (linear, dynamic, llama3, yarn)";
}
