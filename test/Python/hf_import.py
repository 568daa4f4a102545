"""kha.hf against Hugging Face transformers: attention modules of the Llama
(with and without attention_bias, and with every rope_scaling type kha
computes), Mistral, Qwen2 (q, k, v biases) and Gemma families, built from config objects with random weights (no downloads), run
by transformers (eager attention, the model's rotary embedding, a causal
mask) and by kha: the imported KHAAttention in PyTorch, and the layer
compiled by kha with embedded weights, called from Python; the compiled
layer with a key/value cache (kha.torch.CompiledAttention) against the module
with transformers' DynamicCache for a padded prefill and 32 decode steps, on
the CPU and with the GPU kernels run on the host, and a whole two-layer Llama
with compiled attention decoding greedily. Then config
mapping alone (Qwen3's QK-norm, which this transformers lacks), and what must
be refused or warned about.

usage: hf_import.py   (PYTHONPATH=python:<transformers dir>; "N passed, M failed")
"""
import os
import sys
import tempfile
import warnings

import numpy as np
import torch

import kha
from kha.hf import from_hf_attention, layer_config_from_hf
from kha.reference import relative_error
from kha.torch import export

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import case, finish, raises  # noqa: E402

try:
    import transformers
    from transformers.models.gemma import modeling_gemma
    from transformers.models.llama import modeling_llama
    from transformers.models.mistral import modeling_mistral
    from transformers.models.qwen2 import modeling_qwen2
except ImportError as e:  # the set-up script installs it
    print("transformers is not importable (%s): run scripts/setup.sh" % e)
    print("0 passed, 1 failed")
    sys.exit(1)

SMALL = dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             intermediate_size=64, num_hidden_layers=1, vocab_size=32, rope_theta=10000.0)
FAMILIES = [
    ("Llama", modeling_llama, "LlamaAttention", "LlamaRotaryEmbedding",
     transformers.LlamaConfig, {}),
    ("Llama with attention_bias", modeling_llama, "LlamaAttention", "LlamaRotaryEmbedding",
     transformers.LlamaConfig, {"attention_bias": True}),
    ("Mistral, MQA", modeling_mistral, "MistralAttention", "MistralRotaryEmbedding",
     transformers.MistralConfig, {"num_key_value_heads": 1, "sliding_window": None}),
    ("Qwen2 (q, k, v biases)", modeling_qwen2, "Qwen2Attention", "Qwen2RotaryEmbedding",
     transformers.Qwen2Config, {"rope_theta": 1000000.0}),
    ("Gemma, MHA, H*d != D", modeling_gemma, "GemmaAttention", "GemmaRotaryEmbedding",
     transformers.GemmaConfig, {"num_key_value_heads": 4, "head_dim": 8}),
]
# Scaled RoPE (Llama): every rope_scaling type kha computes. The sequence
# (11 tokens) is longer than max_position_embeddings (8), so dynamic NTK
# scaling is in effect; the positions reach the scaled wavelengths.
SCALINGS = [
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "dynamic", "factor": 2.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 4},
    {"rope_type": "yarn", "factor": 4.0},
    {"rope_type": "yarn", "factor": 2.0, "beta_fast": 8.0, "beta_slow": 2.0,
     "attention_factor": 1.3},
]
for scaling in SCALINGS:
    FAMILIES.append(("Llama, rope_scaling %s" % scaling, modeling_llama, "LlamaAttention",
                     "LlamaRotaryEmbedding", transformers.LlamaConfig,
                     {"rope_scaling": scaling, "max_position_embeddings": 8,
                      "rope_theta": 500.0}))


def hf_forward(module, rotary, x):
    """The module as its model calls it: eager attention, RoPE at positions
    0..L-1, a causal additive mask."""
    B, L, _ = x.shape
    positions = torch.arange(L).unsqueeze(0).expand(B, L)
    cos, sin = rotary(x, positions)
    mask = torch.full((L, L), torch.finfo(x.dtype).min).triu(1)[None, None].expand(B, 1, L, L)
    with torch.no_grad():
        return module(x, position_embeddings=(cos, sin), attention_mask=mask)[0]


def hf_module(seed, module_lib, attention, rotary_name, config_class, changes):
    """A family's attention module (eager) with random weights, and its
    rotary embedding."""
    torch.manual_seed(seed)
    config = config_class(**dict(SMALL, **changes))
    config._attn_implementation = "eager"
    module = getattr(module_lib, attention)(config, layer_idx=0).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.2)
    return config, module, getattr(module_lib, rotary_name)(config=config)


for label, module_lib, attention, rotary_name, config_class, changes in FAMILIES:
    @case("%s: transformers vs kha (PyTorch and compiled)" % label)
    def _(module_lib=module_lib, attention=attention, rotary_name=rotary_name,
          config_class=config_class, changes=changes):
        config, module, rotary = hf_module(3, module_lib, attention, rotary_name,
                                           config_class, changes)
        x = torch.randn(2, 11, config.hidden_size)
        want = hf_forward(module, rotary, x).numpy()
        layer = from_hf_attention(module, seq_len=x.shape[1])
        with torch.no_grad():
            got = layer(x).numpy()
        assert relative_error(got, want) < 1e-5, relative_error(got, want)
        with tempfile.TemporaryDirectory() as tmp:
            lib = kha.compile(export(layer, seq_len=x.shape[1], embed_weights=True),
                              os.path.join(tmp, "l.so"))
            compiled = lib.kha_layer(x.numpy())
        assert relative_error(compiled, want) < 1e-4, relative_error(compiled, want)


def hf_padded_forward(module, rotary, x, keep):
    """The module as generate() calls it on a left-padded batch: positions
    from the mask's running count (padding at 1), a causal mask plus the
    padding, in the model's additive form."""
    B, L, _ = x.shape
    positions = (keep.cumsum(-1) - 1).masked_fill(keep == 0, 1)
    cos, sin = rotary(x, positions)
    low = torch.finfo(x.dtype).min
    causal = torch.full((L, L), low).triu(1)[None, None]
    padding = (1.0 - keep[:, None, None, :].to(x.dtype)) * low
    mask = (causal + padding).clamp(min=low)
    with torch.no_grad():
        return module(x, position_embeddings=(cos, sin), attention_mask=mask)[0], positions


for label, module_lib, attention, rotary_name, config_class, changes in FAMILIES[:4]:
    @case("%s: a left-padded batch (position_ids, attention_mask) vs transformers" % label)
    def _(module_lib=module_lib, attention=attention, rotary_name=rotary_name,
          config_class=config_class, changes=changes):
        config, module, rotary = hf_module(4, module_lib, attention, rotary_name,
                                           config_class, changes)
        B, L = 3, 9
        x = torch.randn(B, L, config.hidden_size)
        pad = torch.tensor([0, 3, 6])
        keep = (torch.arange(L)[None, :] >= pad[:, None]).to(torch.int64)
        want, positions = hf_padded_forward(module, rotary, x, keep)
        real = keep.bool().numpy()  # padded queries' outputs are not compared
        layer = from_hf_attention(module, position_ids=True, attention_mask=True)
        with torch.no_grad():
            got = layer(x, positions=positions, attention_mask=keep).numpy()
        err = relative_error(got[real], want.numpy()[real])
        assert err < 1e-5, err
        with tempfile.TemporaryDirectory() as tmp:
            lib = kha.compile(export(layer, embed_weights=True), os.path.join(tmp, "l.so"))
            compiled = lib.kha_layer(x.numpy(), positions.numpy(), keep.numpy())
        err = relative_error(compiled[real], want.numpy()[real])
        assert err < 1e-4, err
        # Without the mask, the padded rows' keys would be attended: a control.
        with torch.no_grad():
            unmasked = layer(x, positions=positions).numpy()
        assert relative_error(unmasked[real], want.numpy()[real]) > 1e-2


def hf_decode_steps(module, rotary, xs, keep):
    """Prefill xs[0] on a left-padded batch (`keep` [B, P], 0: padding), then
    each of xs[1:] as generate() runs it: a DynamicCache, positions from the
    mask's running count, the model's 4-D mask (causal + padding) over cached
    and new keys. Yields (y, x, positions, mask, cache_position)."""
    from transformers.cache_utils import DynamicCache
    cache, past, low = DynamicCache(), 0, torch.finfo(torch.float32).min
    for x in xs:
        B, L, _ = x.shape
        if past:
            keep = torch.cat([keep, torch.ones(B, L, dtype=keep.dtype)], 1)
        total = past + L
        positions = (keep.cumsum(-1) - 1).masked_fill(keep == 0, 1)[:, past:total]
        cos, sin = rotary(x, positions)
        causal = torch.full((L, total), low).triu(1 + past)[None, None]
        padding = (1.0 - keep[:, None, None, :].to(x.dtype)) * low
        mask = (causal + padding).clamp(min=low)
        cache_position = torch.arange(past, total)
        with torch.no_grad():
            y = module(x, position_embeddings=(cos, sin), attention_mask=mask,
                       past_key_value=cache, cache_position=cache_position)[0]
        yield y, x, positions, mask, cache_position
        past = total


DECODE_TARGETS = [("cpu", {}), ("cuda kernels on the host", dict(target="cuda", cuda_on_host=True))]
for label, module_lib, attention, rotary_name, config_class, changes in FAMILIES[:4]:
    for target_label, target in DECODE_TARGETS:
        @case("%s: prefill of a padded batch and 32 cached decode steps vs transformers (%s)"
              % (label, target_label))
        def _(module_lib=module_lib, attention=attention, rotary_name=rotary_name,
              config_class=config_class, changes=changes, target=target):
            from kha.torch import CompiledAttention
            config, module, rotary = hf_module(7, module_lib, attention, rotary_name,
                                               config_class, changes)
            B, P, steps = 2, 6, 32
            keep = torch.ones(B, P, dtype=torch.int64)
            keep[1, :2] = 0  # sequence 1 is left-padded
            xs = [torch.randn(B, P, config.hidden_size)] + \
                 [torch.randn(B, 1, config.hidden_size) for _ in range(steps)]
            with tempfile.TemporaryDirectory() as tmp:
                layer = CompiledAttention.from_hf_attention(module, capacity=48, directory=tmp,
                                                            **target)
                cache = layer.new_cache(B)
                worst = 0.0
                for step, (want, x, positions, mask, cache_position) in enumerate(
                        hf_decode_steps(module, rotary, xs, keep)):
                    got, _ = layer(x, attention_mask=mask, past_key_value=cache,
                                   cache_position=cache_position, position_ids=positions)
                    # Padded queries' outputs are not compared (nothing to attend).
                    rows = keep.bool() if step == 0 else torch.ones(B, 1, dtype=torch.bool)
                    err = relative_error(got[rows].numpy(), want[rows].numpy())
                    worst = max(worst, err)
                    assert err < 1e-4, (step, err)
                assert cache.length == P + steps
                # A control: the same step without the cache's history differs.
                fresh = layer.new_cache(B)
                alone, _ = layer(xs[-1], past_key_value=fresh)
                assert relative_error(alone.numpy(), want.numpy()) > 1e-2


@case("a whole model (Llama, 2 layers): compiled attention in every layer, a padded prompt "
      "and 12 greedy steps give transformers' logits and tokens")
def _():
    import copy
    from transformers.cache_utils import DynamicCache
    from kha.torch import replace_hf_attention
    torch.manual_seed(9)
    config = transformers.LlamaConfig(**dict(SMALL, num_hidden_layers=2, vocab_size=64))
    config._attn_implementation = "eager"
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    ours = copy.deepcopy(model)
    with tempfile.TemporaryDirectory() as tmp:
        new_cache = replace_hf_attention(ours, capacity=32, directory=tmp)
        ids = torch.randint(0, 64, (2, 7))
        mask = torch.ones(2, 7, dtype=torch.int64)
        mask[1, :3] = 0  # sequence 1 is left-padded
        caches = {"hf": DynamicCache(), "kha": new_cache(2)}
        runs = {"hf": model, "kha": ours}
        tokens = {name: ids for name in runs}
        masks = {name: mask for name in runs}
        for step in range(13):
            logits = {}
            for name, run in runs.items():
                m = masks[name]
                positions = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)[:, -tokens[name].shape[1]:]
                with torch.no_grad():
                    out = run(input_ids=tokens[name], attention_mask=m, position_ids=positions,
                              past_key_values=caches[name], use_cache=True)
                logits[name] = out.logits[:, -1]
                tokens[name] = logits[name].argmax(-1, keepdim=True)
                masks[name] = torch.cat([m, torch.ones(2, 1, dtype=m.dtype)], 1)
            err = relative_error(logits["kha"].numpy(), logits["hf"].numpy())
            assert err < 1e-4, (step, err)
            assert torch.equal(tokens["kha"], tokens["hf"]), step
        assert caches["kha"].get_seq_length() == 7 + 12


@case("CompiledAttention: a full cache, a bad mask, a position past the cache are errors")
def _():
    from transformers.cache_utils import DynamicCache
    from kha.torch import CompiledAttention
    config, module, _ = hf_module(8, modeling_llama, "LlamaAttention", "LlamaRotaryEmbedding",
                                  transformers.LlamaConfig, {})
    with tempfile.TemporaryDirectory() as tmp:
        layer = CompiledAttention.from_hf_attention(module, capacity=8, directory=tmp)
        cache = layer.new_cache(2)
        x = torch.randn(2, 6, config.hidden_size)
        layer(x, past_key_value=cache)
        raises(lambda: layer(torch.randn(2, 3, config.hidden_size), past_key_value=cache),
               "the cache is too small: it holds 6 of 8 rows, and 3 new tokens do not fit",
               errors=ValueError)
        one = torch.randn(2, 1, config.hidden_size)
        raises(lambda: layer(one, past_key_value=cache, attention_mask=torch.ones(2, 5)),
               "attention_mask has shape (2, 5); a 2-D mask is [batch, cached + new tokens] "
               "= [2, 7]", errors=ValueError)
        raises(lambda: layer(one, past_key_value=cache, cache_position=torch.tensor([9])),
               "cache_position [9] does not continue the cache, which holds 6 tokens",
               errors=ValueError)
        raises(lambda: layer(one, past_key_value=DynamicCache()),
               "past_key_value must be a kha.torch.KVCache", errors=TypeError)
        raises(lambda: layer(one, past_key_value=layer.new_cache(3)),
               "the cache holds 3 sequences, hidden_states 2", errors=ValueError)
        # The library checks the length itself (a C caller gets the message).
        bound = layer._layer
        raises(lambda: bound(one.numpy(), np.zeros((2, 1), np.int64), np.ones((2, 8), np.int64),
                             cache.keys, cache.values, 8),
               "the library refused the call", "exceed the cache's capacity",
               errors=kha.LibraryError)
        raises(lambda: bound(one.numpy(), np.zeros((2, 1), np.int64), np.ones((2, 8), np.int64),
                             cache.keys, cache.values, -1),
               "the library refused the call", "is negative", errors=kha.LibraryError)
        assert cache.length == 6  # refused calls change nothing


@case("kha.torch.capture: a Hugging Face module is mapped, nanoGPT's block names what stops fx")
def _():
    from kha.torch import CaptureError, capture
    torch.manual_seed(6)
    config = transformers.LlamaConfig(**SMALL)
    config._attn_implementation = "eager"
    module = modeling_llama.LlamaAttention(config, layer_idx=0).eval()
    rotary = modeling_llama.LlamaRotaryEmbedding(config=config)
    x = torch.randn(2, 7, config.hidden_size)
    with torch.no_grad():
        got = capture(module)(x).numpy()
    err = relative_error(got, hf_forward(module, rotary, x).numpy())
    assert err < 1e-5, err

    class CausalSelfAttention(torch.nn.Module):  # nanoGPT's, bias-free
        def __init__(self, n_embd=32, n_head=4):
            super().__init__()
            self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.c_proj = torch.nn.Linear(n_embd, n_embd, bias=False)
            self.n_head, self.n_embd = n_head, n_embd

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = torch.nn.functional.softmax(q @ k.transpose(-2, -1) / 8 ** 0.5, dim=-1) @ v
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    raises(lambda: capture(CausalSelfAttention()), "torch.fx cannot trace CausalSelfAttention",
           "unpacks a traced value", "map the weights explicitly", errors=CaptureError)


@case("a checkpoint's .safetensors (sharded, bf16 and f32) -> kha-translate's weights")
def _():
    from safetensors.numpy import load_file, save_file
    from kha import safetensors
    from kha.hf import weights_from_safetensors
    torch.manual_seed(5)
    config = transformers.Qwen2Config(**dict(SMALL, num_hidden_layers=2))
    config._attn_implementation = "eager"
    model = transformers.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    module = model.model.layers[1].self_attn
    rotary = modeling_qwen2.Qwen2RotaryEmbedding(config=config)
    x = torch.randn(1, 7, config.hidden_size)
    want = hf_forward(module, rotary, x).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        # A sharded checkpoint, as save_pretrained writes one.
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size="20KB")
        assert os.path.exists(os.path.join(tmp, "model.safetensors.index.json"))
        cfg = layer_config_from_hf(os.path.join(tmp, "config.json"), seq_len=7)
        w = weights_from_safetensors(tmp, cfg, layer=1)
        assert sorted(w) == ["bk", "bq", "bv", "wk", "wo", "wq", "wv"], sorted(w)
        path = os.path.join(tmp, "layer1.safetensors")
        safetensors.save(path, w)
        # The safetensors package reads kha's file, and kha reads its files.
        theirs = load_file(path)
        assert all(np.array_equal(theirs[k], w[k]) for k in w)
        save_file({k: v.astype(np.float16) for k, v in w.items()},
                  os.path.join(tmp, "h.safetensors"))
        ours = safetensors.load(os.path.join(tmp, "h.safetensors"))
        assert all(ours[k].dtype == np.float16 and np.array_equal(ours[k], w[k].astype(np.float16))
                   for k in w)
        module_ir = kha.Module.from_layer_config(cfg.to_dict(), weights=path)
        got = kha.compile(module_ir, os.path.join(tmp, "l.so")).kha_layer(x.numpy())
        assert relative_error(got, want) < 1e-4, relative_error(got, want)
        # A bf16 checkpoint: the same layer within bf16's tolerance.
        model.to(torch.bfloat16).save_pretrained(os.path.join(tmp, "bf16"))
        w16 = weights_from_safetensors(os.path.join(tmp, "bf16"), cfg, layer=1)
        safetensors.save(path, w16)
        got16 = kha.compile(kha.Module.from_layer_config(cfg.to_dict(), weights=path),
                            os.path.join(tmp, "l16.so")).kha_layer(x.numpy())
        assert relative_error(got16, want) < 2e-2, relative_error(got16, want)
        assert relative_error(got16, want) > 1e-5  # the bf16 weights are not the f32 ones
        raises(lambda: weights_from_safetensors(tmp, cfg, layer=2),
               "has no tensor model.layers.2.self_attn.q_proj.weight", errors=ValueError)


@case("RoPE scaling frequencies: kha's Python reference vs transformers'")
def _():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from kha.rope import rope_frequencies
    for scaling in SCALINGS:
        config = transformers.LlamaConfig(**dict(SMALL, rope_scaling=dict(scaling),
                                                 max_position_embeddings=8, rope_theta=500.0))
        want, want_factor = ROPE_INIT_FUNCTIONS[scaling["rope_type"]](config, "cpu", seq_len=11)
        got, factor = rope_frequencies(500.0, 16, scaling, 8, 11)
        assert np.allclose(got, want.numpy(), rtol=1e-6, atol=0), (scaling, got, want)
        assert abs(factor - want_factor) < 1e-9, (scaling, factor, want_factor)


@case("config.json: Qwen3 gets QK-norm and its head_dim; unrelated keys are silent")
def _():
    raw = {"model_type": "qwen3", "hidden_size": 64, "num_attention_heads": 8,
           "num_key_value_heads": 2, "head_dim": 32, "rms_norm_eps": 1e-6,
           "rope_theta": 1000000.0, "attention_bias": False, "vocab_size": 10,
           "intermediate_size": 128, "max_position_embeddings": 4096,
           "torch_dtype": "bfloat16", "architectures": ["Qwen3ForCausalLM"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = layer_config_from_hf(raw)
    assert cfg.qk_norm and cfg.head_dim == 32 and cfg.num_key_value_heads == 2
    assert cfg.dtype == "bf16" and not cfg.qkv_bias and cfg.rope_theta == 1e6
    names = [n for n, _ in cfg.argument_shapes(1, 1)]
    assert names == ["x", "wq", "wk", "wv", "wo", "q_norm", "k_norm"], names


@case("config.json: keys kha does not know are named in a warning")
def _():
    raw = dict(SMALL, model_type="llama", some_new_key=1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        layer_config_from_hf(raw)
    assert any("some_new_key" in str(w.message) for w in seen), [str(w.message) for w in seen]


@case("refused, never approximated: other RoPE scalings, soft-capping, a short sliding window")
def _():
    base = dict(SMALL, model_type="llama")
    raises(lambda: layer_config_from_hf(
        dict(base, rope_scaling={"rope_type": "longrope", "factor": 8.0})),
        "rope_scaling (longrope) is not supported", errors=ValueError)
    raises(lambda: layer_config_from_hf(
        dict(base, rope_scaling={"rope_type": "dynamic", "factor": 2.0})),
        "give seq_len", errors=ValueError)
    raises(lambda: layer_config_from_hf(
        dict(base, model_type="gemma", attn_logit_softcapping=50.0)),
        "attn_logit_softcapping", errors=ValueError)
    raises(lambda: layer_config_from_hf(
        dict(base, model_type="mistral", sliding_window=16), seq_len=64),
        "sliding_window 16", errors=ValueError)
    cfg = layer_config_from_hf(dict(base, model_type="mistral", sliding_window=16), seq_len=8)
    assert cfg.seq_len == 8
    raises(lambda: layer_config_from_hf(dict(base, model_type="gpt2")),
           "model_type 'gpt2'", errors=ValueError)


finish()
