"""The PyTorch reference of a KHA layer (docs/semantics.md), float64-capable.

    /usr/bin/python3 -m kha.reference CONFIG.json X.npy WQ.npy ... [-o Y.npy]
        [--check Y.npy]

Inputs are .npy files in the argument order of docs/layer-config.md (bf16
arguments as float32 files). The layer is computed in float64. --check compares
a result with it and fails when max|y - ref| / max|ref| exceeds the tolerance of
docs/semantics.md for the configuration's dtype.
"""

import argparse
import os
import sys

import numpy as np
import torch

from kha.config import LayerConfig
from kha.rope import rope_frequencies

TOLERANCE = {"f32": 1e-4, "f16": 5e-3, "bf16": 2e-2}
# Arguments that are integers (int64), not values of the layer's dtype.
INTEGER_ARGUMENTS = ("positions", "attention_mask", "cache_length")


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight


def rope(x, theta, frequencies=None, attention_factor=1.0, positions=None):
    """Rotate-half RoPE of x [B, L, N, d] at positions 0..L-1, or at
    `positions` [B, L]; a scaled RoPE gives its frequencies and the factor on
    cos and sin (kha.rope)."""
    L, d = x.shape[1], x.shape[-1]
    half = d // 2
    if frequencies is None:
        j = torch.arange(half, dtype=torch.float64, device=x.device)
        freq = theta ** (-2.0 * j / d)
    else:
        freq = torch.tensor(frequencies, dtype=torch.float64, device=x.device)
    if positions is None:
        positions = torch.arange(L, device=x.device)[None, :]
    angle = positions.to(torch.float64)[..., None] * freq  # [B or 1, L, d/2]
    cos = (torch.cos(angle) * attention_factor).to(x.dtype)[:, :, None, :]
    sin = (torch.sin(angle) * attention_factor).to(x.dtype)[:, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def sdpa(q, k, v, scale, causal, mask=None, bottom_right=False):
    """q [B, L, H, d], k [B, S, G, d], v [B, S, G, dv] -> [B, L, H, dv].
    With `bottom_right`, query i sits at key position i + S - L (the queries
    are the newest of S tokens)."""
    H, G = q.shape[2], k.shape[2]
    group = H // G
    k = k.repeat_interleave(group, dim=2)  # head h reads kv head h // group
    v = v.repeat_interleave(group, dim=2)
    scores = torch.einsum("blhd,bshd->bhls", q, k) * scale
    if mask is not None:
        scores = scores + mask
    if causal:
        L, S = scores.shape[-2:]
        future = torch.ones(L, S, dtype=torch.bool, device=scores.device).triu(
            1 + (S - L if bottom_right else 0))
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    # A fully masked row gives NaN in softmax; kha defines it as zeros.
    weights = torch.nan_to_num(weights, nan=0.0)
    return torch.einsum("bhls,bshd->blhd", weights, v)


def kha_layer(config: LayerConfig, args, dtype=torch.float64):
    """The layer of docs/semantics.md on `args` (arrays in argument order).
    With a cache: (y, k_cache, v_cache), the caches updated."""
    names = [name for name, _ in config.argument_shapes(1, 1, capacity=1)]
    t = {name: torch.as_tensor(np.asarray(a),
                               dtype=torch.int64 if name in INTEGER_ARGUMENTS else dtype)
         for name, a in zip(names, args)}
    if config.kv_cache:
        t["k_cache"], t["v_cache"] = t["k_cache"].clone(), t["v_cache"].clone()
        return layer_forward(config, t), t["k_cache"], t["v_cache"]
    return layer_forward(config, t)


def layer_forward(config: LayerConfig, t):
    """The layer on tensors `t` (by argument name, docs/layer-config.md), in
    their dtype and on their device; kha.torch.KHAAttention runs this too."""
    x = t["x"]
    B, L, _ = x.shape
    H, G, d = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    def project(w, b):
        y = x @ t[w]
        return y + t[b] if b in t else y
    q = project("wq", "bq").reshape(B, L, H, d)
    k = project("wk", "bk").reshape(B, L, G, d)
    v = project("wv", "bv").reshape(B, L, G, d)
    if config.knock["q"] == "linear":
        q = q @ t["tq"]
    if config.knock["k"] == "linear":
        k = k @ t["tk"]
    if config.knock["v"] == "linear":
        v = v @ t["tv"]
    elif config.knock["v"] == "mlp":
        v = 2.0 * ((v @ t["v_up"]) * torch.sigmoid(v @ t["v_gate"])) @ t["v_down"]
    if config.qk_norm:
        q = rms_norm(q, t["q_norm"], config.rms_norm_eps)
        k = rms_norm(k, t["k_norm"], config.rms_norm_eps)
    cached = 0
    if "k_cache" in t:
        cached = int(t["cache_length"])
        capacity = t["k_cache"].shape[1]
        if not 0 <= cached <= capacity - L:
            raise ValueError("cache_length %d + %d new tokens do not fit in a cache of %d"
                             % (cached, L, capacity))
    if config.rope_theta is not None:
        frequencies, factor = None, 1.0
        if config.rope_scaling:
            frequencies, factor = rope_frequencies(
                config.rope_theta, d, config.rope_scaling, config.max_position_embeddings,
                config.seq_len if config.seq_len is not None else L)
        positions = t.get("positions")
        if positions is None and "k_cache" in t:  # after the cached tokens
            positions = cached + torch.arange(L, device=x.device)[None, :]
        q = rope(q, config.rope_theta, frequencies, factor, positions)
        k = rope(k, config.rope_theta, frequencies, factor, positions)
    keep = t.get("attention_mask")
    if "k_cache" in t:  # written in place; attend over the used rows
        t["k_cache"][:, cached:cached + L] = k
        t["v_cache"][:, cached:cached + L] = v
        k, v = t["k_cache"][:, :cached + L], t["v_cache"][:, :cached + L]
        if keep is not None:
            keep = keep[:, :cached + L]
    mask = None
    if keep is not None:  # padded keys: -inf, shared by heads and queries
        keep = keep != 0
        mask = torch.zeros(keep.shape, dtype=q.dtype, device=q.device).masked_fill(
            ~keep, float("-inf"))[:, None, None, :]
    o = sdpa(q, k, v, 1.0 / d ** 0.5, config.causal, mask, bottom_right="k_cache" in t)
    y = o.reshape(B, L, H * d) @ t["wo"]
    return y + t["bo"] if "bo" in t else y


def relative_error(y, ref):
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        raise ValueError("shape %s != reference shape %s" % (y.shape, ref.shape))
    scale = np.max(np.abs(ref))
    return float(np.max(np.abs(y - ref)) / (scale if scale > 0 else 1.0))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m kha.reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("inputs", nargs="+", help=".npy files in argument order")
    parser.add_argument("-o", "--output", help="write the float64 result here")
    parser.add_argument("--check", help="compare this result with the reference")
    parser.add_argument("--check-caches", nargs=2, metavar=("K.npy", "V.npy"),
                        help="with a cache: compare the updated caches too")
    opts = parser.parse_args(argv)

    config = LayerConfig.load(opts.config)
    expected = len(config.argument_shapes(1, 1, capacity=1))
    if len(opts.inputs) != expected:
        parser.error("the layer takes %d inputs, got %d" % (expected, len(opts.inputs)))
    # A cache length may be given as a number.
    args = [int(path) if path.lstrip("-").isdigit() else np.load(path) for path in opts.inputs]
    ref = kha_layer(config, args)
    caches = None
    if config.kv_cache:
        ref, caches = ref[0], ref[1:]
    ref = ref.numpy()
    if opts.output:
        np.save(opts.output, ref)
    print("reference: shape %s, max|ref| %.6g" % (ref.shape, np.max(np.abs(ref))))
    if opts.check:
        err = relative_error(np.load(opts.check), ref)
        tol = TOLERANCE[config.dtype]
        ok = err < tol
        print("max|y - ref| / max|ref| = %.3g (tolerance %.0e for %s): %s"
              % (err, tol, config.dtype, "ok" if ok else "FAIL"))
        if opts.check_caches and caches is not None:
            for path, cache in zip(opts.check_caches, caches):
                cache_err = relative_error(np.load(path), cache.numpy())
                print("%s: max|c - ref| / max|ref| = %.3g: %s"
                      % (os.path.basename(path), cache_err, "ok" if cache_err < tol else "FAIL"))
                ok &= cache_err < tol
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
