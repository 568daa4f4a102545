"""Scaled RoPE: the frequencies of Hugging Face's `rope_scaling` types
(transformers 4.49's definitions: linear, dynamic NTK, llama3, yarn), in
float64, for the reference. kha-translate computes the same in C++
(lib/Target/LayerConfig/RoPEScaling.cpp) and puts them in the IR."""

import math


def rope_frequencies(theta, d, scaling, max_positions=None, seq_len=None):
    """(f_0 .. f_{d/2-1}, attention factor): RoPE's angle at position p is
    p f_j, and cos and sin are multiplied by the factor. `scaling`: the
    `rope_scaling` dict, or None for plain RoPE."""
    half = d // 2
    plain = [theta ** (-2.0 * j / d) for j in range(half)]
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return plain, 1.0
    factor = float(scaling["factor"])
    if kind == "linear":
        return [f / factor for f in plain], 1.0
    if kind == "dynamic":
        if seq_len is None:
            raise ValueError("dynamic RoPE scaling needs a static seq_len")
        base = theta
        if seq_len > max_positions:
            base = theta * ((factor * seq_len / max_positions) - (factor - 1)) ** (d / (d - 2))
        return [base ** (-2.0 * j / d) for j in range(half)], 1.0
    if kind == "llama3":
        old = scaling["original_max_position_embeddings"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        out = []
        for f in plain:
            wavelength = 2 * math.pi / f
            if wavelength > old / low:
                out.append(f / factor)
            elif wavelength < old / high:
                out.append(f)
            else:
                smooth = (old / wavelength - low) / (high - low)
                out.append((1 - smooth) * f / factor + smooth * f)
        return out, 1.0
    if kind == "yarn":
        attention = scaling.get("attention_factor")
        if attention is None:
            attention = 0.1 * math.log(factor) + 1.0
        fast = scaling.get("beta_fast") or 32
        slow = scaling.get("beta_slow") or 1

        def correction_dim(rotations):
            return d * math.log(max_positions / (rotations * 2 * math.pi)) / (2 * math.log(theta))

        lo = max(math.floor(correction_dim(fast)), 0)
        hi = min(math.ceil(correction_dim(slow)), d - 1)
        if lo == hi:
            hi += 0.001
        out = []
        for j, f in enumerate(plain):
            extrapolation = 1 - min(max((j - lo) / (hi - lo), 0.0), 1.0)
            out.append(f / factor * (1 - extrapolation) + f * extrapolation)
        return out, attention
    raise ValueError("rope_scaling type %r is not supported (linear, dynamic, llama3, yarn)"
                     % kind)
