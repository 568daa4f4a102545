"""kha.torch: the KHAAttention module (semantics and the paper's
initialisation), its export to kha IR (weights as arguments and embedded), the
round trip module -> IR -> compiled library -> same output as the module, and
torch.fx capture of attention written with standard modules.

usage: torch_frontend.py   (PYTHONPATH=python; prints "N passed, M failed")
"""
import copy
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

import kha
from kha.config import LayerConfig
from kha.reference import TOLERANCE, kha_layer, relative_error
from kha.torch import CaptureError, KHAAttention, capture, export

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import case, finish, raises  # noqa: E402


def perturb(layer, seed):
    """Moves the knocks away from their identity initialisation and the
    biases from zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name in ("tq", "tk", "tv", "v_up", "v_gate", "v_down", "q_norm", "k_norm",
                        "bq", "bk", "bv", "bo"):
                p.add_((0.2 * torch.randn(p.shape, generator=g)).to(p.dtype))


def round_trip(layer, x, embed, **compile_options):
    with tempfile.TemporaryDirectory() as tmp:
        lib = kha.compile(export(layer, embed_weights=embed), os.path.join(tmp, "l.so"),
                          **compile_options)
        xs = x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
        return lib.kha_layer(xs, *([] if embed else layer.weight_arrays()))


@case("initialisation: identity knocks, zero gate; the MLP knock starts as V")
def _():
    layer = KHAAttention(32, 4, 2, knock_q="linear", knock_k="linear", knock_v="mlp")
    assert torch.equal(layer.tq, torch.eye(8)) and torch.equal(layer.v_up, torch.eye(8))
    assert torch.count_nonzero(layer.v_gate) == 0
    plain = KHAAttention(32, 4, 2)
    with torch.no_grad():
        for n in ("wq", "wk", "wv", "wo"):
            getattr(plain, n).copy_(getattr(layer, n))
    x = torch.randn(2, 5, 32)
    # 2 * (v I * sigmoid(0)) I = v: at init the knocked layer is the plain one.
    assert torch.allclose(layer(x), plain(x), atol=1e-6)


@case("forward equals the float64 reference")
def _():
    layer = KHAAttention(40, 4, 1, 12, knock_q="linear", knock_v="mlp", qk_norm=True)
    perturb(layer, 1)
    x = torch.randn(3, 6, 40)
    ref = kha_layer(layer.layer_config, [x.numpy()] + layer.weight_arrays()).numpy()
    assert relative_error(layer(x).detach().numpy(), ref) < 1e-5


for label, kwargs, dtype, embed, shape in [
        ("f32 GQA, all knocks, weights as arguments", dict(num_kv_heads=2, knock_q="linear",
         knock_k="linear", knock_v="mlp", qk_norm=True), torch.float32, False, (2, 9)),
        ("f32 MHA, linear knocks, embedded weights, L = 1", dict(knock_q="linear",
         knock_k="linear", knock_v="linear"), torch.float32, True, (1, 1)),
        ("f16 MQA, MLP knock, no RoPE, not causal", dict(num_kv_heads=1, knock_v="mlp",
         rope_theta=None, causal=False), torch.float16, False, (2, 5)),
        ("bf16 GQA, QK-norm, embedded", dict(num_kv_heads=2, qk_norm=True, knock_k="linear"),
         torch.bfloat16, True, (1, 7)),
        ("f32 GQA, all four biases, linear knocks (folded with the biases), embedded",
         dict(num_kv_heads=2, knock_q="linear", knock_k="linear", knock_v="linear",
              qkv_bias=True, output_bias=True), torch.float32, True, (2, 6)),
        ("f32 MQA, q/k/v biases, MLP knock, weights as arguments",
         dict(num_kv_heads=1, knock_v="mlp", qkv_bias=True), torch.float32, False, (1, 4))]:
    @case("round trip module -> IR -> library: " + label)
    def _(kwargs=kwargs, dtype=dtype, embed=embed, shape=shape):
        torch.manual_seed(7)
        layer = KHAAttention(48, 4, head_dim=10, dtype=dtype, init_std=0.15, **kwargs)
        perturb(layer, 2)
        x = torch.randn(*shape, 48).to(dtype)
        y = round_trip(layer, x, embed)
        # The module in float32 (this host's PyTorch has no f16 matmul on the
        # CPU) on the same rounded weights and input.
        want = copy.deepcopy(layer).float()(x.float()).detach().numpy()
        tol = TOLERANCE[layer.layer_config.dtype]
        ref = kha_layer(layer.layer_config, [x.float().numpy()] + layer.weight_arrays()).numpy()
        assert relative_error(y, ref) < tol, relative_error(y, ref)
        assert relative_error(y, want) < 2 * tol, relative_error(y, want)


@case("export: dynamic or fixed sizes, arguments named as the contract says")
def _():
    layer = KHAAttention(32, 4, knock_v="linear")
    text = str(export(layer))
    assert "tensor<?x?x32xf32>" in text
    assert "tensor<2x16x32xf32>" in str(export(layer, batch=2, seq_len=16))
    assert layer.argument_names() == ["x", "wq", "wk", "wv", "wo", "tv"]
    biased = KHAAttention(32, 4, 2, qk_norm=True, qkv_bias=True, output_bias=True)
    assert biased.argument_names() == ["x", "wq", "wk", "wv", "wo", "q_norm", "k_norm",
                                       "bq", "bk", "bv", "bo"]
    assert "qkv_bias(" in str(export(biased)) and "o_bias(" in str(export(biased))
    try:
        KHAAttention(32, 4, output_bias=True)
    except ValueError as e:
        assert "output bias needs" in str(e)
    else:
        raise AssertionError("an output bias without q, k, v biases accepted")
    embedded = str(export(layer, embed_weights=True))
    assert "func.func @kha_layer(%arg0: tensor<?x?x32xf32>) ->" in embedded
    try:
        KHAAttention(32, 4, 3)
    except ValueError as e:
        assert "multiple of num_kv_heads" in str(e)
    else:
        raise AssertionError("GQA with H % G != 0 accepted")


@torch.fx.wrap
def causal_mask(scores):
    L, S = scores.shape[-2], scores.shape[-1]
    return torch.ones(L, S, dtype=torch.bool).triu(1)


class StandardAttention(nn.Module):
    """Attention as a model author writes it with standard modules."""

    def __init__(self, D, H, G, causal=True):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.d, self.causal = H, G, D // H, causal
        self.q_proj = nn.Linear(D, H * self.d, bias=False)
        self.k_proj = nn.Linear(D, G * self.d, bias=False)
        self.v_proj = nn.Linear(D, G * self.d, bias=False)
        self.o_proj = nn.Linear(H * self.d, D, bias=False)

    def forward(self, x):
        B, L = x.shape[0], x.shape[1]
        q = self.q_proj(x).view(B, L, self.num_heads, self.d).transpose(1, 2)
        k = self.k_proj(x).view(B, L, self.num_kv_heads, self.d).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.num_kv_heads, self.d).transpose(1, 2)
        k = k.repeat_interleave(self.num_heads // self.num_kv_heads, dim=1)
        v = v.repeat_interleave(self.num_heads // self.num_kv_heads, dim=1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d)
        if self.causal:
            scores = scores.masked_fill(causal_mask(scores), float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(o.transpose(1, 2).reshape(B, L, self.num_heads * self.d))


for causal in (True, False):
    @case("torch.fx capture of a standard GQA block (causal=%s), compiled" % causal)
    def _(causal=causal):
        torch.manual_seed(3)
        model = StandardAttention(64, 8, 2, causal)
        x = torch.randn(2, 11, 64)
        layer = capture(model, x)
        assert layer.layer_config.causal == causal and layer.layer_config.num_key_value_heads == 2
        y = round_trip(layer, x, True)
        assert relative_error(y, model(x).detach().numpy()) < 1e-4


@case("capture of nn.MultiheadAttention (self-attention), compiled")
def _():
    torch.manual_seed(4)
    mha = nn.MultiheadAttention(32, 4, bias=False, batch_first=True)
    x = torch.randn(3, 5, 32)
    layer = capture(mha, x)
    y = round_trip(layer, x, False)
    assert relative_error(y, mha(x, x, x)[0].detach().numpy()) < 1e-4


@case("capture refusals name what did not match")
def _():
    def refuses(fn, fragment):
        raises(fn, fragment, errors=CaptureError)
    model = StandardAttention(32, 4, 4)
    refuses(lambda: capture(model), "pass example_input")
    biased = StandardAttention(32, 4, 4)
    biased.k_proj = nn.Linear(32, 32, bias=True)
    refuses(lambda: capture(biased, torch.randn(1, 3, 32)), "has a bias")
    refuses(lambda: capture(nn.Sequential(nn.Linear(8, 8))), "found 0")
    refuses(lambda: capture(nn.MultiheadAttention(32, 4, batch_first=True)), "bias=False")

    class Unpacking(StandardAttention):
        def forward(self, x):
            B, L, _ = x.shape
            return x
    refuses(lambda: capture(Unpacking(32, 4, 4)), "cannot trace")


finish()
