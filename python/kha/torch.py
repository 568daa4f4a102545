"""kha.torch: knocking-heads attention as a PyTorch module, and its export to
kha IR.

    from kha.torch import KHAAttention, export
    layer = KHAAttention(hidden_size=512, num_heads=8, num_kv_heads=2,
                         knock_q="linear", knock_k="linear", knock_v="mlp")
    y = layer(x)                                   # x [B, L, D] -> [B, L, D]
    module = export(layer, seq_len=None)           # kha.Module, weights as arguments
    module = export(layer, embed_weights=True)     # weights as constants
    lib = kha.compile(module, "layer.so")
    y2 = lib.kha_layer(x.numpy(), *layer.weight_arrays())   # same as y

The module computes exactly the layer of docs/semantics.md (the reference's
`layer_forward`), with parameters in docs/layer-config.md's layout (x @ W,
W [D, N*d]). It is initialised as the paper does: projections ~ N(0, 0.02),
knock matrices T = I, value MLP with identity up/down and a zero gate (so
that the MLP knock starts as V), norm weights 1.

`capture(model)` turns an attention block written with standard modules
(nn.Linear projections, view/transpose into heads,
F.scaled_dot_product_attention, an output nn.Linear) into a KHAAttention with
no knock, through torch.fx.
"""

import json
import os
import operator
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from kha.config import LayerConfig
from kha.reference import INTEGER_ARGUMENTS, layer_forward

_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
_NAMES = {v: k for k, v in _DTYPES.items()}


class KHAAttention(nn.Module):
    """A knocking-heads attention layer (docs/semantics.md)."""

    def __init__(self, hidden_size, num_heads, num_kv_heads=None, head_dim=None,
                 knock_q="none", knock_k="none", knock_v="none", qk_norm=False,
                 rope_theta=10000.0, causal=True, rms_norm_eps=1e-6,
                 dtype=torch.float32, init_std=0.02, qkv_bias=False, output_bias=False,
                 rope_scaling=None, max_position_embeddings=None, position_ids=False,
                 attention_mask=False):
        """`position_ids` / `attention_mask`: the exported layer takes positions
        [B, L] and an attention mask [B, L] (int64) after its weights; forward
        takes them as keywords either way."""
        super().__init__()
        num_kv_heads = num_kv_heads or num_heads
        head_dim = head_dim or hidden_size // num_heads
        if dtype not in _NAMES:
            raise ValueError("dtype must be float32, float16 or bfloat16, got %s" % dtype)
        self.layer_config = LayerConfig(
            hidden_size=hidden_size, num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads, head_dim=head_dim,
            knock={"q": knock_q, "k": knock_k, "v": knock_v}, qk_norm=qk_norm,
            rms_norm_eps=rms_norm_eps, rope_theta=rope_theta, causal=causal,
            dtype=_NAMES[dtype], qkv_bias=qkv_bias, output_bias=output_bias,
            rope_scaling=rope_scaling, max_position_embeddings=max_position_embeddings,
            position_ids=position_ids, attention_mask=attention_mask)
        self._check()
        for name, shape in self.layer_config.argument_shapes(1, 1)[1:]:
            if name not in INTEGER_ARGUMENTS:
                self.register_parameter(name, nn.Parameter(torch.empty(shape, dtype=dtype)))
        self.reset_parameters(init_std)

    def _check(self):
        c = self.layer_config
        if c.knock["q"] not in ("none", "linear") or c.knock["k"] not in ("none", "linear") \
                or c.knock["v"] not in ("none", "linear", "mlp"):
            raise ValueError("knocks: q and k are none|linear, v is none|linear|mlp; got %s"
                             % c.knock)
        if c.num_attention_heads % c.num_key_value_heads:
            raise ValueError("num_heads (%d) must be a multiple of num_kv_heads (%d)"
                             % (c.num_attention_heads, c.num_key_value_heads))
        if c.rope_theta is not None and c.head_dim % 2:
            raise ValueError("RoPE needs an even head_dim, got %d" % c.head_dim)
        if c.output_bias and not c.qkv_bias:
            raise ValueError("an output bias needs the q, k, v biases too (attention_bias)")

    @classmethod
    def from_config(cls, config, dtype=None):
        """From a layer configuration (a LayerConfig, a dict or a JSON path)."""
        if isinstance(config, (str, os.PathLike)):
            config = LayerConfig.load(config)
        elif isinstance(config, dict):
            config = LayerConfig.from_dict(config)
        return cls(config.hidden_size, config.num_attention_heads,
                   config.num_key_value_heads, config.head_dim,
                   knock_q=config.knock["q"], knock_k=config.knock["k"],
                   knock_v=config.knock["v"], qk_norm=config.qk_norm,
                   rope_theta=config.rope_theta, causal=config.causal,
                   rms_norm_eps=config.rms_norm_eps,
                   dtype=dtype or _DTYPES[config.dtype],
                   qkv_bias=config.qkv_bias, output_bias=config.output_bias,
                   rope_scaling=config.rope_scaling,
                   max_position_embeddings=config.max_position_embeddings,
                   position_ids=config.position_ids, attention_mask=config.attention_mask)

    @torch.no_grad()
    def reset_parameters(self, init_std=0.02):
        """The paper's initialisation (docs/semantics.md)."""
        for name, p in self.named_parameters():
            if name in ("wq", "wk", "wv", "wo"):
                p.normal_(0.0, init_std)
            elif name in ("tq", "tk", "tv", "v_up", "v_down"):
                p.copy_(torch.eye(p.shape[0]))  # converted to p's dtype
            elif name in ("v_gate", "bq", "bk", "bv", "bo"):
                p.zero_()
            else:  # q_norm, k_norm
                p.fill_(1.0)

    def argument_names(self):
        return [name for name, _ in self.layer_config.argument_shapes(1, 1)]

    def forward(self, x, positions=None, attention_mask=None):
        """y for x [B, L, D]; `positions` [B, L] (RoPE positions, default
        0..L-1) and `attention_mask` [B, L] (0: a padded key) are integer
        tensors."""
        t = dict(self.named_parameters())
        t["x"] = x
        if positions is not None:
            t["positions"] = positions.to(torch.int64)
        if attention_mask is not None:
            t["attention_mask"] = attention_mask.to(torch.int64)
        return layer_forward(self.layer_config, t)

    def weight_arrays(self):
        """The weights as numpy arrays in argument order after x (bf16 as float32)."""
        return [_to_numpy(p) for name, p in self.named_parameters()]

    def extra_repr(self):
        c = self.layer_config
        return ("hidden_size=%d, num_heads=%d, num_kv_heads=%d, head_dim=%d, knock=%s, "
                "qk_norm=%s, rope_theta=%s, causal=%s, dtype=%s"
                % (c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                   c.knock, c.qk_norm, c.rope_theta, c.causal, c.dtype))


def _to_numpy(t):
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def export_config(layer: KHAAttention, batch=None, seq_len=None) -> dict:
    """The layer's configuration as contract JSON (None: a dynamic size)."""
    config = layer.layer_config.to_dict()
    if batch is not None:
        config["batch"] = int(batch)
    if seq_len is not None:
        config["seq_len"] = int(seq_len)
    return config


def export(layer: KHAAttention, batch=None, seq_len=None, embed_weights=False, context=None):
    """kha IR for `layer`: a kha.Module whose public function @kha_layer takes
    x [B, L, D] and the weights in argument order (docs/layer-config.md),
    or, with `embed_weights`, x only, the current weights being constants.
    `batch`/`seq_len` fix those sizes; None leaves them dynamic."""
    import kha

    config = export_config(layer, batch, seq_len)
    if not embed_weights:
        return kha.Module.from_layer_config(config, context)
    with tempfile.TemporaryDirectory() as tmp:
        for name, p in layer.named_parameters():
            array = _to_numpy(p)
            if layer.layer_config.dtype == "f16":
                array = array.astype(np.float16)
            np.save(os.path.join(tmp, name + ".npy"), array)
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return kha.Module.from_layer_config(path, context, weights_dir=tmp)


# torch.fx capture ---------------------------------------------------------

class CaptureError(ValueError):
    """The model is not an attention block capture() understands."""


_SHAPE_METHODS = {"view", "reshape", "transpose", "permute", "contiguous", "repeat_interleave"}
_SHAPE_FUNCTIONS = {torch.reshape, torch.transpose, torch.permute, torch.repeat_interleave}
_MATMULS = {operator.matmul, torch.matmul, torch.bmm}
_SOFTMAX = {F.softmax, torch.softmax}


def _is_shape_op(node):
    return ((node.op == "call_method" and node.target in _SHAPE_METHODS)
            or (node.op == "call_function" and node.target in _SHAPE_FUNCTIONS))


def _is_matmul(node):
    return ((node.op == "call_function" and node.target in _MATMULS)
            or (node.op == "call_method" and node.target in ("matmul", "bmm")))


def capture(model: nn.Module, example_input=None) -> KHAAttention:
    """A KHAAttention (no knock, no RoPE, no QK-norm) computing what `model`
    computes: self-attention over x [B, L, D] written with standard modules.

    Understood: `nn.MultiheadAttention(D, H, bias=False, batch_first=True)`
    (called as self-attention, mha(x, x, x)), and any module that torch.fx
    traces into

        q = self.q_proj(x).view(B, L, H, d).transpose(1, 2)  # likewise k, v
        o = F.scaled_dot_product_attention(q, k, v, is_causal=...)   # or
        o = softmax(q @ k.transpose(-2, -1) * d**-0.5 [masked]) @ v
        y = self.o_proj(o.transpose(1, 2).reshape(B, L, H * d))

    with bias-free nn.Linear projections, GQA by `enable_gqa` or
    repeat_interleave of k and v, H read from a `num_heads` (or `n_heads`)
    attribute and G from `num_kv_heads` (or `num_key_value_heads`). The
    written-out softmax form needs `example_input` to tell causal from not
    (its mask is data); otherwise `example_input`, when given, checks the
    captured layer against the model. Raises CaptureError naming what did
    not match.

    A Hugging Face attention module of a supported family (Llama, Mistral,
    Qwen2, Qwen3, Gemma: it has a `config` and q/k/v/o_proj) is not traced:
    its forward unpacks shapes and takes position embeddings from the model;
    kha.hf.from_hf_attention maps it, with its RoPE, biases and norms."""
    if isinstance(model, nn.MultiheadAttention):
        return _capture_multihead(model, example_input)
    if _is_hf_attention(model):
        from kha.hf import from_hf_attention
        return from_hf_attention(model)
    import torch.fx as fx

    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as e:  # fx raises TraceError and others for untraceable code
        raise CaptureError("torch.fx cannot trace %s: %s. %s" % (
            type(model).__name__, e, _untraceable_hint(str(e)))) from None
    modules = dict(model.named_modules())
    q_src, k_src, v_src, out, causal, scale = _match_attention(graph)

    def projection(node, what):
        """The nn.Linear feeding `node` through shape-only ops."""
        while not (node.op == "call_module" and isinstance(modules.get(node.target), nn.Linear)):
            if not _is_shape_op(node):
                raise CaptureError("%s does not come from an nn.Linear through view/reshape/"
                                   "transpose (found %s %s)" % (what, node.op, node.target))
            node = node.args[0]
        if modules[node.target].bias is not None:
            raise CaptureError("%s projection %s has a bias" % (what, node.target))
        return node, modules[node.target]

    q_node, q_proj = projection(q_src, "the query")
    k_node, k_proj = projection(k_src, "the key")
    v_node, v_proj = projection(v_src, "the value")
    if len({q_node.args[0], k_node.args[0], v_node.args[0]}) != 1:
        raise CaptureError("q, k and v projections read different inputs (cross attention)")
    if q_node.args[0].op != "placeholder":
        raise CaptureError("the projections' input is not the model's input")

    # The output projection: reached from the attention through shape ops,
    # and the model's result.
    node = out
    while True:
        users = list(node.users)
        if len(users) != 1:
            raise CaptureError("the attention output is used more than once")
        node = users[0]
        if node.op == "call_module" and isinstance(modules.get(node.target), nn.Linear):
            o_proj = modules[node.target]
            break
        if not _is_shape_op(node):
            raise CaptureError("the attention output reaches %s %s, not an output nn.Linear"
                               % (node.op, node.target))
    if o_proj.bias is not None:
        raise CaptureError("output projection %s has a bias" % node.target)
    if [u.op for u in node.users] != ["output"]:
        raise CaptureError("the output projection is not the model's result")

    heads = _attribute(model, "num_heads", "n_heads", "num_attention_heads")
    if heads is None:
        raise CaptureError("the model has no num_heads (or n_heads) attribute to read H from")
    kv_heads = _attribute(model, "num_kv_heads", "num_key_value_heads", "n_kv_heads") or heads
    head_dim = q_proj.out_features // heads
    if scale is not None and abs(scale * head_dim ** 0.5 - 1.0) > 1e-6:
        raise CaptureError("attention scale %g is not 1/sqrt(d) = %g"
                           % (scale, head_dim ** -0.5))
    weights = (q_proj.weight.t(), k_proj.weight.t(), v_proj.weight.t(), o_proj.weight.t())
    return _build_captured(model, example_input, q_proj.in_features, heads, kv_heads, head_dim,
                           causal, weights)


def _is_hf_attention(model):
    config = getattr(model, "config", None)
    from kha.hf import FAMILIES
    return (getattr(config, "model_type", None) in FAMILIES
            and all(isinstance(getattr(model, name, None), nn.Linear)
                    for name in ("q_proj", "k_proj", "v_proj", "o_proj")))


def _untraceable_hint(message):
    """What in the model's forward stopped torch.fx, and the way around it."""
    explicit = ("Otherwise map the weights explicitly: build KHAAttention(D, H, G, d, ...) "
                "and copy the projections' weights (transposed) into wq, wk, wv, wo "
                "(kha.hf.from_hf_attention does this for Hugging Face modules).")
    if "iterated" in message or "iterate" in message:
        return ("The forward unpacks a traced value (B, L, _ = x.size(), "
                "q, k, v = qkv.split(...), view(*shape, -1, d)); fx cannot unpack "
                "proxies: index instead (x.shape[0], qkv.split(...)[0]). " + explicit)
    if "control flow" in message:
        return ("The forward branches on a traced value (if x.size(1) > ...); fx "
                "cannot follow data-dependent branches. " + explicit)
    return explicit


def _match_attention(graph):
    """(q, k, v sources, attention output node, causal or None, scale or
    None) of the one attention in `graph`."""
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    fused = [n for n in graph.nodes if sdpa is not None and n.op == "call_function"
             and n.target is sdpa]
    softmaxes = [n for n in graph.nodes
                 if (n.op == "call_function" and n.target in _SOFTMAX)
                 or (n.op == "call_method" and n.target == "softmax")]
    if len(fused) + len(softmaxes) != 1:
        raise CaptureError("expected one attention (F.scaled_dot_product_attention or one "
                           "softmax), found %d" % (len(fused) + len(softmaxes)))
    if fused:
        node = fused[0]
        args = dict(zip(["query", "key", "value", "attn_mask", "dropout_p", "is_causal"],
                        node.args))
        args.update(node.kwargs)
        if args.get("attn_mask") is not None:
            raise CaptureError("attention masks are not captured (only is_causal)")
        if args.get("dropout_p", 0.0):
            raise CaptureError("attention dropout is not captured")
        scale = args.get("scale")
        return (args["query"], args["key"], args["value"], node,
                bool(args.get("is_causal", False)), scale if scale is not None else None)

    softmax = softmaxes[0]
    dim = softmax.kwargs.get("dim", softmax.args[1] if len(softmax.args) > 1 else None)
    if dim not in (-1, 3):
        raise CaptureError("the softmax is not over the last dimension")
    users = list(softmax.users)
    if len(users) != 1 or not _is_matmul(users[0]) or users[0].args[0] is not softmax:
        raise CaptureError("the softmax does not feed one matmul with the values")
    out, v_src = users[0], users[0].args[1]
    # scores = (q @ k^T) * scale, maybe masked.
    node, scale, masked = softmax.args[0], 1.0, False
    while not _is_matmul(node):
        if node.op in ("call_method", "call_function") and \
                getattr(node.target, "__name__", node.target) in ("masked_fill", "masked_fill_"):
            masked = True
            node = node.args[0]
        elif node.op == "call_function" and node.target in (operator.mul, operator.truediv) \
                and isinstance(node.args[1], (int, float)):
            scale = scale * node.args[1] if node.target is operator.mul else scale / node.args[1]
            node = node.args[0]
        elif node.op == "call_function" and node.target is operator.add:
            raise CaptureError("an additive attention mask is not captured")
        else:
            raise CaptureError("the attention scores come from %s %s, not q @ k^T"
                               % (node.op, node.target))
    q_src, kt = node.args[0], node.args[1]
    if not _is_shape_op(kt) or kt.target not in ("transpose", torch.transpose):
        raise CaptureError("the scores are not q @ k.transpose(-2, -1)")
    return q_src, kt.args[0], v_src, out, (None if masked else False), scale


def _capture_multihead(mha, example_input):
    if not mha.batch_first:
        raise CaptureError("nn.MultiheadAttention must be batch_first=True ([B, L, D])")
    if mha.in_proj_bias is not None or mha.out_proj.bias is not None \
            or mha.bias_k is not None or mha.add_zero_attn:
        raise CaptureError("nn.MultiheadAttention must have bias=False")
    if not mha._qkv_same_embed_dim or mha.dropout:
        raise CaptureError("nn.MultiheadAttention with kdim/vdim or dropout is not captured")
    D, H = mha.embed_dim, mha.num_heads
    wq, wk, wv = mha.in_proj_weight.chunk(3, dim=0)
    weights = (wq.t(), wk.t(), wv.t(), mha.out_proj.weight.t())
    model = _SelfAttention(mha)
    return _build_captured(model, example_input, D, H, H, D // H, False, weights)


class _SelfAttention(nn.Module):
    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


def _build_captured(model, example_input, hidden, heads, kv_heads, head_dim, causal, weights):
    if causal is None and example_input is None:
        raise CaptureError("the attention is masked in a way only data shows: pass "
                           "example_input to tell causal from not")

    def build(is_causal):
        layer = KHAAttention(hidden, heads, kv_heads, head_dim, rope_theta=None,
                             causal=is_causal, dtype=weights[0].dtype)
        with torch.no_grad():  # nn.Linear stores W^T: y = x W^T
            for p, w in zip((layer.wq, layer.wk, layer.wv, layer.wo), weights):
                if p.shape != w.shape:
                    raise CaptureError("a projection is %s, expected %s for %d heads of %d "
                                       "(%d kv heads)" % (tuple(w.shape), tuple(p.shape),
                                                         heads, head_dim, kv_heads))
                p.copy_(w)
        return layer

    if example_input is None:
        return build(causal)
    with torch.no_grad():
        want = model(example_input)
    for candidate in ([causal] if causal is not None else [True, False]):
        layer = build(candidate)
        with torch.no_grad():
            got = layer(example_input)
        scale = want.abs().max().clamp_min(1e-30)
        if torch.isfinite(got).all() and float((want - got).abs().max() / scale) < 1e-4:
            return layer
    raise CaptureError("the captured layer does not reproduce the model on example_input "
                       "(heads laid out as [B, L, H, d] -> [B, H, L, d]? a causal or no mask?)")


def _attribute(model, *names):
    for name in names:
        value = getattr(model, name, None)
        if isinstance(value, int):
            return value
    return None


#===----------------------------------------------------------------------===#
# A compiled layer in place of a Hugging Face attention module
#===----------------------------------------------------------------------===#

_NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16, "bf16": np.float32}


class KVCache:
    """The key/value cache of one compiled layer (CompiledAttention): keys and
    values `[B, S, G, d]` (after the knock, QK-norm and RoPE) as numpy arrays
    that the compiled layer updates in place, and `length`, the tokens held.
    bf16 layers keep float32 arrays here (numpy has no bf16); the library
    rounds them. The cache is the layer's only state."""

    def __init__(self, batch, capacity, num_kv_heads, head_dim, dtype="f32"):
        if batch < 1 or capacity < 1:
            raise ValueError("a cache needs a batch and a capacity of at least 1, got %d and %d"
                             % (batch, capacity))
        shape = (batch, capacity, num_kv_heads, head_dim)
        self.keys = np.zeros(shape, dtype=_NUMPY_DTYPES[dtype])
        self.values = np.zeros(shape, dtype=_NUMPY_DTYPES[dtype])
        self.length = 0

    @property
    def batch(self):
        return self.keys.shape[0]

    @property
    def capacity(self):
        return self.keys.shape[1]

    def get_seq_length(self, layer_idx=0):
        """The tokens held (Hugging Face's Cache.get_seq_length)."""
        return self.length

    def reset(self):
        self.length = 0


class ModelKVCache:
    """The caches of a model whose attention modules are CompiledAttention
    layers (replace_hf_attention), one KVCache per layer index; pass it as
    the model's `past_key_values`. It answers what a Hugging Face model asks
    of its cache (get_seq_length)."""

    def __init__(self, layers):
        self.layers = list(layers)

    def __getitem__(self, layer_idx):
        return self.layers[layer_idx]

    def __len__(self):
        return len(self.layers)

    def get_seq_length(self, layer_idx=0):
        return self.layers[layer_idx].length

    def reset(self):
        for layer in self.layers:
            layer.reset()


def _key_padding(mask, batch, new, start, capacity):
    """A Hugging Face attention mask as kha's key padding [B, capacity]
    (1: attend): a 2-D mask [B, start + new] (0: padding), or the model's 4-D
    one [B, 1, new, >= start + new] (additive, or True where attended), read
    from its last query row, which sees every earlier key."""
    keep = np.ones((batch, capacity), dtype=np.int64)
    if mask is None:
        return keep
    m = mask.detach().cpu() if isinstance(mask, torch.Tensor) else torch.as_tensor(mask)
    total = start + new
    if m.dim() == 2:
        if tuple(m.shape) != (batch, total):
            raise ValueError("attention_mask has shape %s; a 2-D mask is [batch, cached + new "
                             "tokens] = [%d, %d]" % (tuple(m.shape), batch, total))
        keep[:, :total] = (m != 0).numpy()
        return keep
    if m.dim() == 4:
        if m.shape[0] != batch or m.shape[1] != 1 or m.shape[2] != new or m.shape[3] < total:
            raise ValueError("attention_mask has shape %s; a 4-D mask is [batch, 1, new "
                             "tokens, >= cached + new tokens] = [%d, 1, %d, >= %d]"
                             % (tuple(m.shape), batch, new, total))
        last = m[:, 0, new - 1, :total]
        keep[:, :total] = (last if last.dtype == torch.bool else last == 0).numpy()
        return keep
    raise ValueError("attention_mask must be 2-D [batch, tokens] or 4-D [batch, 1, new, tokens], "
                     "got %d dimensions" % m.dim())


class CompiledAttention(nn.Module):
    """A compiled kha layer with a key/value cache, called as a Hugging Face
    attention module is: `forward(hidden_states, position_embeddings=None,
    attention_mask=None, past_key_value=None, cache_position=None,
    position_ids=None)` returns `(attn_output, None)`.

    `past_key_value` is a KVCache (`new_cache(batch)`), whose new entries the
    library writes in place; without one the call is a prefill of its own.
    RoPE is computed by the layer from `position_ids` (default: the cache's
    length onwards); `position_embeddings` are not read. The attention mask
    may be 2-D (Hugging Face's, over cached and new tokens) or the model's
    4-D mask. Weights are bound once (their folds run then)."""

    def __init__(self, library, layer_config, weights, layer_idx=0):
        super().__init__()
        if not (layer_config.kv_cache and layer_config.position_ids
                and layer_config.attention_mask):
            raise ValueError("CompiledAttention needs a layer compiled with kv_cache, "
                             "position_ids and attention_mask")
        self.library, self.config, self.layer_idx = library, layer_config, layer_idx
        names = [n for n, _ in layer_config.argument_shapes(1, 1, capacity=1)
                 if n not in INTEGER_ARGUMENTS and n not in ("x", "k_cache", "v_cache")]
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError("missing weights: %s" % ", ".join(missing))
        dtype = _NUMPY_DTYPES[layer_config.dtype]
        self._layer = library.bind("kha_layer", *[np.asarray(_to_numpy(weights[n]), dtype=dtype)
                                                  for n in names])

    @staticmethod
    def compile_for(config, capacity=None, dtype=None, target="cpu", cuda_on_host=False,
                    cuda_chip="sm_90a", directory=None):
        """(library, layer config): the attention of a Hugging Face model
        `config` compiled with a cache for `target` (weights as arguments,
        bound per layer); `capacity` fixes the cache's rows (None: any)."""
        from kha.hf import layer_config_from_hf
        from kha.ir import Module, compile as kha_compile
        cfg = layer_config_from_hf(config, dtype=dtype, position_ids=True, attention_mask=True,
                                   kv_cache=True, cache_capacity=capacity)
        directory = directory or tempfile.mkdtemp(prefix="kha-")
        path = os.path.join(directory, "kha_attention.so")
        lib = kha_compile(Module.from_layer_config(cfg.to_dict()), path, target=target,
                          cuda_on_host=cuda_on_host, cuda_chip=cuda_chip)
        return lib, cfg

    @classmethod
    def from_hf_attention(cls, module, config=None, capacity=None, dtype=None,
                          target="cpu", cuda_on_host=False, cuda_chip="sm_90a", directory=None,
                          library=None):
        """Compiles the layer of a Hugging Face attention module (its weights
        bound at load, not embedded) for `target`, or binds the module's
        weights to `library`, a (library, layer config) of compile_for."""
        from kha.hf import weights_from_hf_attention
        lib, cfg = library or cls.compile_for(
            config if config is not None else module.config, capacity, dtype, target,
            cuda_on_host, cuda_chip, directory)
        weights = weights_from_hf_attention(module, cfg)
        return cls(lib, cfg, weights, layer_idx=getattr(module, "layer_idx", 0) or 0)

    def new_cache(self, batch, capacity=None):
        """An empty KVCache for `batch` sequences (`capacity` rows: the
        compiled capacity by default)."""
        capacity = capacity if capacity is not None else self.config.cache_capacity
        if capacity is None:
            raise ValueError("the layer was compiled for any capacity: give one")
        if self.config.cache_capacity is not None and capacity != self.config.cache_capacity:
            raise ValueError("the layer was compiled for a cache of %d rows, not %d"
                             % (self.config.cache_capacity, capacity))
        return KVCache(batch, capacity, self.config.num_key_value_heads, self.config.head_dim,
                       self.config.dtype)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None,
                past_key_value=None, cache_position=None, position_ids=None, **kwargs):
        x = hidden_states.detach().cpu()
        if x.dim() != 3 or x.shape[-1] != self.config.hidden_size:
            raise ValueError("hidden_states must be [batch, tokens, %d], got %s"
                             % (self.config.hidden_size, tuple(x.shape)))
        B, L = x.shape[0], x.shape[1]
        cache = past_key_value
        if isinstance(cache, ModelKVCache):
            cache = cache[self.layer_idx]
        if cache is None:  # a prefill of its own, in a cache just large enough
            cache = KVCache(B, self.config.cache_capacity or L, self.config.num_key_value_heads,
                            self.config.head_dim, self.config.dtype)
        elif not isinstance(cache, KVCache):
            raise TypeError("past_key_value must be a kha.torch.KVCache (layer.new_cache(batch)), "
                            "got %s: the compiled layer keeps its keys and values in kha's "
                            "layout" % type(cache).__name__)
        start = cache.length
        if cache.batch != B:
            raise ValueError("the cache holds %d sequences, hidden_states %d" % (cache.batch, B))
        if start + L > cache.capacity:
            raise ValueError("the cache is too small: it holds %d of %d rows, and %d new tokens "
                             "do not fit" % (start, cache.capacity, L))
        if cache_position is not None:
            cp = np.asarray(torch.as_tensor(cache_position).cpu()).reshape(-1)
            if cp.shape != (L,) or not np.array_equal(cp, start + np.arange(L)):
                raise ValueError("cache_position %s does not continue the cache, which holds %d "
                                 "tokens (expected %d..%d)"
                                 % (cp.tolist(), start, start, start + L - 1))
        if position_ids is None:
            positions = np.broadcast_to(start + np.arange(L), (B, L))
        else:
            positions = np.asarray(torch.as_tensor(position_ids).cpu(), dtype=np.int64)
            if positions.ndim != 2 or positions.shape[1] != L or positions.shape[0] not in (1, B):
                raise ValueError("position_ids must be [batch, tokens] = [%d, %d] (or [1, %d]), "
                                 "got %s" % (B, L, L, tuple(positions.shape)))
            positions = np.broadcast_to(positions, (B, L))
            if (positions < 0).any() or (positions >= 2**31).any():
                raise ValueError("position_ids must be in 0 .. 2^31 - 1")
        keep = _key_padding(attention_mask, B, L, start, cache.capacity)
        dtype = _NUMPY_DTYPES[self.config.dtype]
        y = self._layer(x.to(torch.float32).numpy().astype(dtype), np.ascontiguousarray(positions),
                        keep, cache.keys, cache.values, start)
        cache.length = start + L
        return torch.from_numpy(np.asarray(y, dtype=np.float32)).to(hidden_states.dtype), None


def replace_hf_attention(model, capacity, **compile_options):
    """Puts a CompiledAttention in place of every decoder layer's attention of
    a Hugging Face model (`model.model.layers[i].self_attn`, or
    `model.layers[i].self_attn`): the layer is compiled once and each layer's
    weights bound to it. Returns `new_cache(batch)`, which makes the
    ModelKVCache to pass as the model's `past_key_values`."""
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None:
        raise ValueError("%s has no decoder layers (model.layers)" % type(model).__name__)
    library = CompiledAttention.compile_for(model.config, capacity, **compile_options)
    compiled = []
    for index, layer in enumerate(layers):
        attention = CompiledAttention.from_hf_attention(layer.self_attn, library=library)
        attention.layer_idx = index
        layer.self_attn = attention
        compiled.append(attention)

    def new_cache(batch):
        return ModelKVCache(attention.new_cache(batch) for attention in compiled)
    return new_cache
