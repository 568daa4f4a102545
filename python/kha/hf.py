"""Hugging Face models in: a kha layer from a model's config.json (or its
PretrainedConfig) and from an attention module's weights.

    from kha.hf import layer_config_from_hf, from_hf_attention
    cfg = layer_config_from_hf("config.json")        # a kha LayerConfig
    layer = from_hf_attention(model.model.layers[0].self_attn)   # KHAAttention
    w = weights_from_safetensors("model_dir", cfg, layer=0)      # numpy, kha layout

Families: Llama (with or without `attention_bias`), Mistral, Qwen2 (q, k, v
biases), Qwen3 (per-head QK-RMSNorm) and Gemma, GQA/MQA included. A model
config carries many keys that do not concern attention (vocabulary, MLP,
tokens); they are ignored, and the ones this importer does not know are
named in one warning. `rope_scaling` of the linear, dynamic (at a given
seq_len), llama3 and yarn types carries over. What kha cannot compute yet is
refused with a `ValueError` naming it, never approximated: other RoPE
scalings, partial rotary embeddings, Gemma 2's logit soft-capping and its
query pre-attention scalar, a sliding window shorter than the sequence.

The imported layer has no knocks (a pretrained model has none); add them
afterwards (`KHAAttention(..., knock_q="linear")` and the weights) to train a
knocking-heads variant.
"""

import json
import os
import warnings

from .config import LayerConfig

# Keys of Hugging Face model configs that are read, or that are known not to
# concern the attention layer's computation.
_READ = {
    "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "rope_theta", "rms_norm_eps", "attention_bias", "rope_scaling", "sliding_window",
    "use_sliding_window", "max_window_layers", "attn_logit_softcapping",
    "query_pre_attn_scalar", "model_type", "torch_dtype", "partial_rotary_factor",
    "max_position_embeddings",
}
_UNRELATED = {
    "architectures", "vocab_size", "intermediate_size", "num_hidden_layers",
    "hidden_act", "hidden_activation", "initializer_range",
    "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings",
    "pretraining_tp", "attention_dropout", "mlp_bias", "transformers_version",
    "_name_or_path", "_attn_implementation_autoset", "final_logit_softcapping",
    "cache_implementation", "rope_local_base_freq", "layer_types",
}
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma")
_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def _as_dict(config):
    """The config's keys, and the ones to ignore silently beyond _UNRELATED:
    a PretrainedConfig object also carries every generic generation and
    training setting of transformers' base class."""
    if isinstance(config, (str, os.PathLike)):
        with open(config) as f:
            return json.load(f), set()
    if isinstance(config, dict):
        return dict(config), set()
    from transformers import PretrainedConfig  # the object is one
    return config.to_dict(), set(PretrainedConfig().to_dict())


def layer_config_from_hf(config, batch=None, seq_len=None, dtype=None, causal=True,
                         position_ids=False, attention_mask=False, kv_cache=False,
                         cache_capacity=None):
    """A kha LayerConfig for one attention layer of a Hugging Face model.

    `config`: a config.json path, its dict, or a transformers PretrainedConfig.
    `dtype`: "f32", "f16" or "bf16" (default: the config's torch_dtype, else
    f32). `position_ids`, `attention_mask`: the compiled layer takes the
    model's position_ids and 2-D attention_mask (padded batches).
    `kv_cache`: the layer decodes with a key/value cache of `cache_capacity`
    rows (None: chosen per call). Raises ValueError for what kha cannot
    represent."""
    raw, generic = _as_dict(config)
    family = raw.get("model_type")
    if family not in FAMILIES:
        raise ValueError("model_type %r is not one of the supported families (%s)"
                         % (family, ", ".join(FAMILIES)))
    unknown = sorted(k for k in raw
                     if k not in _READ and k not in _UNRELATED and k not in generic)
    if unknown:
        warnings.warn("kha.hf: ignoring config keys that do not concern attention or that "
                      "kha does not know: %s" % ", ".join(unknown), stacklevel=2)
    scaling = raw.get("rope_scaling")
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else None
        if kind not in ("default", "linear", "dynamic", "llama3", "yarn"):
            raise ValueError("rope_scaling (%s) is not supported: kha computes linear, "
                             "dynamic, llama3 and yarn" % kind)
        if kind == "dynamic" and kv_cache:
            raise ValueError("rope_scaling (dynamic) depends on the sequence length, which "
                             "grows with a cache: not supported with kv_cache")
        if kind == "dynamic" and seq_len is None:
            raise ValueError("rope_scaling (dynamic) depends on the sequence length: give "
                             "seq_len")
    if raw.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("partial_rotary_factor %r is not supported: kha rotates the whole "
                         "head" % raw["partial_rotary_factor"])
    if raw.get("attn_logit_softcapping") is not None:
        raise ValueError("attn_logit_softcapping is not supported")
    heads = raw["num_attention_heads"]
    head_dim = raw.get("head_dim") or raw["hidden_size"] // heads
    scalar = raw.get("query_pre_attn_scalar")
    if scalar is not None and scalar != head_dim:
        raise ValueError("query_pre_attn_scalar %r != head_dim %d: kha scales by "
                         "1/sqrt(head_dim)" % (scalar, head_dim))
    window = raw.get("sliding_window")
    uses_window = window is not None and raw.get("use_sliding_window", family != "qwen2")
    if uses_window and kv_cache and (cache_capacity is None or cache_capacity > window):
        raise ValueError("sliding_window %d: kha attends to every cached position, which "
                         "matches only for caches of at most %d rows; give cache_capacity <= %d"
                         % (window, window, window))
    if uses_window and not kv_cache and (seq_len is None or seq_len > window):
        raise ValueError("sliding_window %d: kha attends to every earlier position, which "
                         "matches only for sequences of at most %d tokens; give seq_len <= %d"
                         % (window, window, window))
    if dtype is None:
        dtype = _DTYPES.get(str(raw.get("torch_dtype")), "f32")
    bias = bool(raw.get("attention_bias", False))
    return LayerConfig(
        hidden_size=raw["hidden_size"], num_attention_heads=heads,
        num_key_value_heads=raw.get("num_key_value_heads") or heads, head_dim=head_dim,
        qk_norm=family == "qwen3", rms_norm_eps=raw.get("rms_norm_eps", 1e-6),
        rope_scaling=dict(scaling) if scaling else None,
        max_position_embeddings=raw.get("max_position_embeddings"),
        rope_theta=float(raw.get("rope_theta", 10000.0)), causal=causal,
        batch=batch, seq_len=seq_len, dtype=dtype,
        # Qwen2 always has q, k, v biases; the others follow attention_bias.
        qkv_bias=bias or family == "qwen2", output_bias=bias,
        position_ids=position_ids, attention_mask=attention_mask, kv_cache=kv_cache,
        cache_capacity=cache_capacity)


def weights_from_hf_attention(module, layer_config):
    """The weights of a Hugging Face attention module (q_proj, k_proj, v_proj,
    o_proj, and q_norm/k_norm where present), by kha argument name, as
    tensors laid out as kha takes them (x @ wq: nn.Linear's weight transposed)."""
    import torch

    def linear(name):
        return getattr(module, name)

    out = {}
    for kha_name, hf_name in (("wq", "q_proj"), ("wk", "k_proj"), ("wv", "v_proj"),
                              ("wo", "o_proj")):
        out[kha_name] = linear(hf_name).weight.detach().t()
    for kha_name, hf_name in (("bq", "q_proj"), ("bk", "k_proj"), ("bv", "v_proj"),
                              ("bo", "o_proj")):
        bias = linear(hf_name).bias
        wanted = (layer_config.qkv_bias if kha_name != "bo" else layer_config.output_bias)
        if (bias is not None) != wanted:
            raise ValueError("%s.bias is %s but the configuration says %s"
                             % (hf_name, "present" if bias is not None else "absent",
                                "biased" if wanted else "unbiased"))
        if bias is not None:
            out[kha_name] = bias.detach()
    if layer_config.qk_norm:
        for kha_name in ("q_norm", "k_norm"):
            norm = getattr(module, kha_name, None)
            if norm is None:
                raise ValueError("the module has no %s, which the configuration asks for"
                                 % kha_name)
            out[kha_name] = norm.weight.detach()
    for name, tensor in out.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError("%s is not a tensor" % name)
    return out


def from_hf_attention(module, config=None, batch=None, seq_len=None, dtype=None,
                      position_ids=False, attention_mask=False):
    """A KHAAttention computing what the Hugging Face attention `module`
    computes (with causal masking and the model's RoPE), its weights copied.
    `config`: the model's config (default: `module.config`). With
    `position_ids` / `attention_mask`, the exported layer takes them (a padded
    batch); forward takes them as keywords either way."""
    import torch
    from .torch import KHAAttention, _DTYPES as TORCH_DTYPES

    layer_config = layer_config_from_hf(config if config is not None else module.config,
                                        batch=batch, seq_len=seq_len, dtype=dtype,
                                        position_ids=position_ids,
                                        attention_mask=attention_mask)
    layer = KHAAttention.from_config(layer_config)
    weights = weights_from_hf_attention(module, layer_config)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name not in weights:
                raise ValueError("no weight for %s" % name)
            if tuple(weights[name].shape) != tuple(p.shape):
                raise ValueError("%s has shape %s, expected %s"
                                 % (name, tuple(weights[name].shape), tuple(p.shape)))
            p.copy_(weights[name].to(TORCH_DTYPES[layer_config.dtype]))
    return layer


def _checkpoint_tensors(path):
    """The tensors of a checkpoint: one .safetensors file, or a directory with
    model.safetensors or a sharded model.safetensors.index.json."""
    from . import safetensors
    if os.path.isdir(path):
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            tensors = {}
            for shard in shards:
                tensors.update(safetensors.load(os.path.join(path, shard)))
            return tensors
        path = os.path.join(path, "model.safetensors")
    return safetensors.load(path)


def weights_from_safetensors(path, layer_config, layer=0, prefix="model.layers."):
    """Layer `layer`'s attention weights from a Hugging Face checkpoint
    (`path`: a .safetensors file, or a model directory, sharded or not), by kha
    argument name, as numpy arrays laid out as kha takes them (projection
    matrices transposed; BF16 read as float32 exactly). Missing or misshapen
    tensors raise ValueError naming them."""
    tensors = _checkpoint_tensors(path)
    base = "%s%d.self_attn." % (prefix, layer)
    D, H = layer_config.hidden_size, layer_config.num_attention_heads
    G, d = layer_config.num_key_value_heads, layer_config.head_dim
    wanted = {"wq": ("q_proj.weight", (H * d, D)), "wk": ("k_proj.weight", (G * d, D)),
              "wv": ("v_proj.weight", (G * d, D)), "wo": ("o_proj.weight", (D, H * d))}
    if layer_config.qkv_bias:
        wanted.update(bq=("q_proj.bias", (H * d,)), bk=("k_proj.bias", (G * d,)),
                      bv=("v_proj.bias", (G * d,)))
    if layer_config.output_bias:
        wanted["bo"] = ("o_proj.bias", (D,))
    if layer_config.qk_norm:
        wanted.update(q_norm=("q_norm.weight", (d,)), k_norm=("k_norm.weight", (d,)))
    out = {}
    for name, (hf_name, shape) in wanted.items():
        key = base + hf_name
        if key not in tensors:
            raise ValueError("%s has no tensor %s" % (path, key))
        array = tensors[key]
        if tuple(array.shape) != shape:
            raise ValueError("%s: %s has shape %s, expected %s"
                             % (path, key, tuple(array.shape), shape))
        out[name] = array.T.copy() if name.startswith("w") else array
    return out
