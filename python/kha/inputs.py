"""Seeded random inputs for a layer, drawn so that activations stay O(1).

x ~ U(-1, 1); projection weights ~ U(-1, 1) / sqrt(fan-in); knock and MLP
matrices ~ U(-1, 1) * sqrt(3 / d) (unit-norm columns on average, far from the
identity so that the knocks are really exercised); norm weights ~ U(0.5, 1.5).
Positions start each sequence at a random offset in [0, 8) and step by 1 or 2
(RoPE sees only their differences); an attention mask
pads each sequence on the left by a random count in [0, L/2] (int64 arrays).
With a cache, its first `cache_length` rows hold U(-1, 1) keys and values and
the rest zeros, positions start after them, and the mask covers the cache.
Values are rounded to the layer's dtype, so the reference sees exactly what the
compiled layer sees.
"""

import os

import numpy as np

from kha.config import LayerConfig


def round_to_bf16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bf16 (ties to even), as float32."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def round_to_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if dtype == "f16":
        return values.astype(np.float16)
    if dtype == "bf16":
        return round_to_bf16(values)
    return values


def make_inputs(config: LayerConfig, batch: int, seq_len: int, seed: int,
                capacity=None, cache_length=0):
    """[(name, array)] in argument order, arrays in the .npy dtype kha-run
    reads (cache_length: a 0-d int64 array)."""
    rng = np.random.default_rng(seed)
    d = config.head_dim
    out = []
    for name, shape in config.argument_shapes(batch, seq_len, capacity):
        if name == "cache_length":
            out.append((name, np.array(cache_length, dtype=np.int64)))
            continue
        if name in ("k_cache", "v_cache"):
            values = np.zeros(shape)
            values[:, :cache_length] = rng.uniform(-1.0, 1.0, size=values[:, :cache_length].shape)
            out.append((name, round_to_dtype(values, config.dtype)))
            continue
        if name == "positions":
            # Steps of 1 or 2: RoPE sees only differences of positions, so
            # an offset alone would change nothing.
            start = rng.integers(0, 8, size=(shape[0], 1))
            steps = rng.integers(1, 3, size=shape)
            out.append((name, (cache_length + start + np.cumsum(steps, axis=1) - steps[:, :1])
                        .astype(np.int64)))
            continue
        if name == "attention_mask":
            pad = rng.integers(0, min(shape[1], cache_length + seq_len) // 2 + 1,
                               size=(shape[0], 1))
            out.append((name, (np.arange(shape[1])[None, :] >= pad).astype(np.int64)))
            continue
        u = rng.uniform(-1.0, 1.0, size=shape)
        if name == "x":
            values = u
        elif name in ("wq", "wk", "wv", "wo"):
            values = u / np.sqrt(shape[0])
        elif name.endswith("norm"):
            values = 1.0 + 0.5 * u
        elif name in ("bq", "bk", "bv", "bo"):
            values = 0.5 * u
        else:
            values = u * np.sqrt(3.0 / d)
        out.append((name, round_to_dtype(values, config.dtype)))
    return out


def save_inputs(inputs, directory: str):
    """Writes each input as DIRECTORY/NAME.npy and returns the paths in order."""
    paths = []
    for name, array in inputs:
        path = os.path.join(directory, name + ".npy")
        np.save(path, array)
        paths.append(path)
    return paths
