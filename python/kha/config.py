"""Layer configurations (docs/layer-config.md), read the way kha-translate does.

Defaults for missing keys follow Hugging Face's (docs/layer-config.md).
"""

import json
from dataclasses import dataclass, field
from typing import Optional

KNOWN_KEYS = {
    "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "knock", "qk_norm", "rms_norm_eps", "rope_theta", "causal", "batch",
    "seq_len", "dtype", "attention_bias", "qkv_bias", "rope_scaling",
    "max_position_embeddings", "position_ids", "attention_mask",
    "kv_cache", "cache_capacity",
}


@dataclass
class LayerConfig:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    knock: dict = field(default_factory=lambda: {"q": "none", "k": "none", "v": "none"})
    qk_norm: bool = False
    rms_norm_eps: float = 1e-6
    rope_theta: Optional[float] = 10000.0
    causal: bool = True
    batch: Optional[int] = None
    seq_len: Optional[int] = None
    dtype: str = "f32"
    qkv_bias: bool = False     # biases on the q, k, v projections
    output_bias: bool = False  # a bias on the output projection
    rope_scaling: Optional[dict] = None  # Hugging Face's rope_scaling object
    max_position_embeddings: Optional[int] = None  # what dynamic and yarn read
    position_ids: bool = False    # the layer takes positions [B, L] (int64) for RoPE
    attention_mask: bool = False  # the layer takes attention_mask [B, L] (int64, 0: padding)
    # Decoding with a cache: k_cache, v_cache [B, S, G, d] (updated in place)
    # and cache_length (an i64 scalar) follow the other arguments, and the
    # mask is [B, S]; S is cache_capacity (None: dynamic).
    kv_cache: bool = False
    cache_capacity: Optional[int] = None

    @staticmethod
    def from_dict(raw: dict) -> "LayerConfig":
        unknown = set(raw) - KNOWN_KEYS
        if unknown:
            raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
        heads = raw["num_attention_heads"]
        knock = {"q": "none", "k": "none", "v": "none"}
        knock.update(raw.get("knock", {}))
        return LayerConfig(
            hidden_size=raw["hidden_size"],
            num_attention_heads=heads,
            num_key_value_heads=raw.get("num_key_value_heads", heads),
            head_dim=raw.get("head_dim", raw["hidden_size"] // heads),
            knock=knock,
            qk_norm=raw.get("qk_norm", False),
            rms_norm_eps=raw.get("rms_norm_eps", 1e-6),
            rope_theta=raw.get("rope_theta", 10000.0),
            causal=raw.get("causal", True),
            batch=raw.get("batch"),
            seq_len=raw.get("seq_len"),
            dtype=raw.get("dtype", "f32"),
            # attention_bias (Llama's key): all four projections; qkv_bias (as
            # Qwen2 has them): q, k and v only.
            qkv_bias=bool(raw.get("attention_bias", False) or raw.get("qkv_bias", False)),
            output_bias=bool(raw.get("attention_bias", False)),
            rope_scaling=raw.get("rope_scaling"),
            max_position_embeddings=raw.get("max_position_embeddings"),
            position_ids=bool(raw.get("position_ids", False)),
            attention_mask=bool(raw.get("attention_mask", False)),
            kv_cache=bool(raw.get("kv_cache", False)),
            cache_capacity=raw.get("cache_capacity"),
        )

    def to_dict(self) -> dict:
        """The JSON object of docs/layer-config.md (batch/seq_len omitted when
        dynamic, rope_theta null when RoPE is off)."""
        out = {
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "knock": dict(self.knock),
            "qk_norm": self.qk_norm,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "causal": self.causal,
            "dtype": self.dtype,
        }
        if self.qkv_bias and self.output_bias:
            out["attention_bias"] = True
        elif self.qkv_bias:
            out["qkv_bias"] = True
        elif self.output_bias:
            raise ValueError("an output bias needs the q, k, v biases too (attention_bias)")
        if self.rope_scaling:
            out["rope_scaling"] = dict(self.rope_scaling)
        if self.max_position_embeddings is not None:
            out["max_position_embeddings"] = self.max_position_embeddings
        if self.position_ids:
            out["position_ids"] = True
        if self.attention_mask:
            out["attention_mask"] = True
        if self.kv_cache:
            out["kv_cache"] = True
            if self.cache_capacity is not None:
                out["cache_capacity"] = self.cache_capacity
        if self.batch is not None:
            out["batch"] = self.batch
        if self.seq_len is not None:
            out["seq_len"] = self.seq_len
        return out

    @staticmethod
    def load(path: str) -> "LayerConfig":
        with open(path) as f:
            return LayerConfig.from_dict(json.load(f))

    def argument_shapes(self, batch: int, seq_len: int, capacity: Optional[int] = None):
        """(name, shape) of @kha_layer's arguments, in order (docs/layer-config.md);
        with a cache, `capacity` (default: cache_capacity) sizes it, and
        cache_length has shape () (an integer passed by value)."""
        D, H, G, d = (self.hidden_size, self.num_attention_heads,
                      self.num_key_value_heads, self.head_dim)
        args = [("x", (batch, seq_len, D)), ("wq", (D, H * d)), ("wk", (D, G * d)),
                ("wv", (D, G * d)), ("wo", (H * d, D))]
        if self.knock["q"] == "linear":
            args.append(("tq", (d, d)))
        if self.knock["k"] == "linear":
            args.append(("tk", (d, d)))
        if self.knock["v"] == "linear":
            args.append(("tv", (d, d)))
        if self.knock["v"] == "mlp":
            args += [("v_up", (d, d)), ("v_gate", (d, d)), ("v_down", (d, d))]
        if self.qk_norm:
            args += [("q_norm", (d,)), ("k_norm", (d,))]
        if self.qkv_bias:
            args += [("bq", (H * d,)), ("bk", (G * d,)), ("bv", (G * d,))]
        if self.output_bias:
            args.append(("bo", (D,)))
        if self.position_ids:
            args.append(("positions", (batch, seq_len)))
        if self.kv_cache:
            capacity = capacity if capacity is not None else self.cache_capacity
            if capacity is None:
                raise ValueError("the cache's capacity is dynamic: give it")
        if self.attention_mask:
            args.append(("attention_mask", (batch, capacity if self.kv_cache else seq_len)))
        if self.kv_cache:
            args += [("k_cache", (batch, capacity, G, d)), ("v_cache", (batch, capacity, G, d)),
                     ("cache_length", ())]
        return args
