"""Weights prepared once: kha-compile outlines the work on the weights alone
(kha-outline-weight-preparation: the knock folds W T, the MLP knock's D W_o)
into @kha_layer_prepare, and kha.Library.bind runs it once per set of
weights. For every knock kind, with biases, GQA/MQA, f32/f16/bf16, L = 1 and
odd sizes, on the CPU and through the cuda path's kernels run on the host:
the bound layer equals the layer called whole, bit for bit, and agrees with
the float64 reference at the contract's tolerance for several inputs per
binding. On the CPU a layer without knocks still prepares its weights
(packed into the panels its matmul kernels read), unless they are narrower
than two panels: then there is nothing to prepare.

usage: prepare_weights.py   (PYTHONPATH=python; "N passed, M failed")
"""
import os
import sys
import tempfile

import numpy as np

import kha
from kha.config import LayerConfig
from kha.inputs import make_inputs
from kha.reference import TOLERANCE, kha_layer, relative_error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import case, finish, raises  # noqa: E402

BASE = dict(hidden_size=40, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
            qk_norm=True, rope_theta=10000.0, causal=True, batch=None, seq_len=None)
VARIANTS = [
    ("linear q, k, v", dict(knock={"q": "linear", "k": "linear", "v": "linear"}), "cpu"),
    ("MLP v, MQA", dict(knock={"v": "mlp"}, num_key_value_heads=1), "cpu"),
    ("linear q + MLP v, biases", dict(knock={"q": "linear", "v": "mlp"}, attention_bias=True), "cpu"),
    ("linear k, f16", dict(knock={"k": "linear"}, dtype="f16"), "cpu"),
    ("linear v, bf16, no QK-norm", dict(knock={"v": "linear"}, dtype="bf16", qk_norm=False), "cpu"),
    ("linear q, k, v, bf16 (sm_90a kernels on the host)",
     dict(knock={"q": "linear", "k": "linear", "v": "linear"}, dtype="bf16"), "sm_90a"),
    ("MLP v (sm_80 kernels on the host)", dict(knock={"v": "mlp"}), "sm_80"),
]


def compile_layer(raw, where, tmp):
    module = kha.Module.from_layer_config(raw)
    path = os.path.join(tmp, "layer.so")
    if where == "cpu":
        return kha.compile(module, path)
    return kha.compile(module, path, target="cuda", cuda_chip=where, cuda_on_host=True)


for label, changes, where in VARIANTS:
    @case("%s: bound once, called three times == whole layer == float64" % label)
    def _(changes=changes, where=where):
        raw = dict(BASE, **changes)
        config = LayerConfig.from_dict(raw)
        with tempfile.TemporaryDirectory() as tmp:
            lib = compile_layer(raw, where, tmp)
            fn = lib.functions["kha_layer"]
            assert fn.prepare == "kha_layer_prepare", fn
            assert fn.weight_args == list(range(1, len(fn.args))), fn.weight_args
            weights = [a for _, a in make_inputs(config, 1, 1, 0)][1:]
            bound = lib.bind("kha_layer", *weights)
            for seed, (B, L) in enumerate([(2, 13), (1, 1), (3, 70)]):
                x = make_inputs(config, B, L, 10 + seed)[0][1]
                inputs = [x] + weights
                got = bound(x)
                whole = lib.kha_layer(*inputs)
                assert np.array_equal(got, whole), np.abs(got - whole).max()
                want = kha_layer(config, inputs).numpy()
                err = relative_error(got, want)
                assert err < TOLERANCE[config.dtype], (B, L, err)


@case("no knock (f32, CPU): the weights are packed once; bind binds")
def _():
    raw = dict(BASE)
    config = LayerConfig.from_dict(raw)
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_layer(raw, "cpu", tmp)
        assert sorted(lib.functions) == ["kha_layer", "kha_layer_prepare",
                                         "kha_layer_prepared"], sorted(lib.functions)
        inputs = [a for _, a in make_inputs(config, 2, 5, 1)]
        got = lib.bind("kha_layer", *inputs[1:])(inputs[0])
        assert np.array_equal(got, lib.kha_layer(*inputs))
        err = relative_error(got, kha_layer(config, inputs).numpy())
        assert err < TOLERANCE[config.dtype], err


@case("no knock, weights of one panel (f32, CPU): nothing to prepare; bind still binds")
def _():
    # D = H d = 8: no weight is two panels wide for any vector width (panels of
    # 8, 16 or 32 columns).
    raw = dict(BASE, hidden_size=8, num_attention_heads=1, num_key_value_heads=1, head_dim=8)
    config = LayerConfig.from_dict(raw)
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_layer(raw, "cpu", tmp)
        assert sorted(lib.functions) == ["kha_layer"], sorted(lib.functions)
        inputs = [a for _, a in make_inputs(config, 2, 5, 1)]
        got = lib.bind("kha_layer", *inputs[1:])(inputs[0])
        assert np.array_equal(got, lib.kha_layer(*inputs))


@case("positions and a padding mask stay per-call arguments of the bound layer")
def _():
    for knock in ({"q": "linear"}, {}):  # a knock folded, or only the weights packed
        raw = dict(BASE, knock=knock, position_ids=True, attention_mask=True)
        config = LayerConfig.from_dict(raw)
        inputs = [a for _, a in make_inputs(config, 2, 7, 3)]
        with tempfile.TemporaryDirectory() as tmp:
            lib = compile_layer(raw, "cpu", tmp)
            bound = lib.bind("kha_layer", *inputs[1:-2])
            assert [a.name for a in bound.others] == ["x", "positions", "attention_mask"]
            got = bound(inputs[0], *inputs[-2:])
            assert np.array_equal(got, lib.kha_layer(*inputs))
            err = relative_error(got, kha_layer(config, inputs).numpy())
            assert err < 1e-4, err


@case("prepare_weights=False (kha-compile --no-prepare-weights): one function, same result")
def _():
    raw = dict(BASE, knock={"q": "linear", "v": "mlp"})
    config = LayerConfig.from_dict(raw)
    inputs = [a for _, a in make_inputs(config, 2, 9, 4)]
    with tempfile.TemporaryDirectory() as tmp:
        lib = kha.compile(kha.Module.from_layer_config(raw), os.path.join(tmp, "a.so"),
                          prepare_weights=False)
        assert sorted(lib.functions) == ["kha_layer"], sorted(lib.functions)
        err = relative_error(lib.kha_layer(*inputs), kha_layer(config, inputs).numpy())
        assert err < 1e-4, err


@case("bind by name; wrong weights are errors naming them")
def _():
    raw = dict(BASE, knock={"q": "linear"})
    config = LayerConfig.from_dict(raw)
    named = make_inputs(config, 1, 3, 2)
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_layer(raw, "cpu", tmp)
        # The arguments carry their names through the C API (not through text).
        names = [a.name for a in lib.functions["kha_layer"].args]
        assert names[:3] == ["x", "wq", "wk"], names
        bound = lib.bind("kha_layer", **dict(named[1:]))
        assert np.array_equal(bound(named[0][1]), lib.kha_layer(*[a for _, a in named]))
        weights = [a for _, a in named][1:]
        raises(lambda: lib.bind("kha_layer", *weights[:-1]), "has 7 weights", "got 6")
        raises(lambda: lib.bind("kha_layer", **dict(named[2:])), "missing: wq")
        raises(lambda: lib.bind("kha_layer", **dict(named[1:], wz=weights[0])), "unknown: wz")
        raises(lambda: lib.bind("nope", *weights), "has no function nope")
        bad = list(weights)
        bad[0] = np.zeros((3, 3), np.float32)
        raises(lambda: lib.bind("kha_layer", *bad), "dimension 0 is 3, expected 40")
        raises(lambda: bound(named[0][1], named[0][1]), "takes 1 arguments")


finish()
