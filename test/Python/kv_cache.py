"""Decoding with a key/value cache: compiled layers with kv_cache, called
through kha.Library (weights bound once) step by step (a prefill, one-token
steps, a multi-token step, a step that fills the cache exactly), agree with
the float64 reference in their output and in both caches at the contract's
tolerances, on the CPU and through the cuda path's kernels run on the host:
GQA with H*d != D and a dynamic capacity; MQA (G = 1) with the MLP knock,
biases, f16 and a static capacity; bf16 MHA without RoPE, not causal; a long
cache (1100 rows, 1000 used), where the GPU kernel splits the keys across
blocks and combines them. Negative controls: the output is not the layer at
another cache length, and a refused length leaves the caches untouched.

usage: kv_cache.py   (PYTHONPATH=python; "N passed, M failed")
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

BASE = dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            qk_norm=True, rope_theta=10000.0, causal=True, kv_cache=True,
            position_ids=True, attention_mask=True, knock={"q": "linear", "k": "linear"})
# (label, config changes, batch, capacity, steps: new tokens per call, first
# cache length)
LAYERS = [
    ("GQA, H*d != D, dynamic capacity", dict(hidden_size=40), 2, 40, [7, 1, 1, 3, 1], 0),
    ("MQA (G = 1), MLP knock, biases, f16, static capacity",
     dict(num_key_value_heads=1, knock={"v": "mlp"}, attention_bias=True, dtype="f16",
          cache_capacity=24), 3, 24, [5, 1, 2], 16),
    ("MHA, bf16, no RoPE, not causal",
     dict(num_key_value_heads=4, rope_theta=None, position_ids=False, causal=False,
          qk_norm=False, dtype="bf16"), 1, 12, [1, 1, 1], 3),
    ("a long cache (the GPU kernel splits the keys)",
     dict(num_attention_heads=8, num_key_value_heads=2, head_dim=32, hidden_size=64),
     1, 1100, [1, 2], 1000),
]
TARGETS = [("cpu", dict(target="cpu")),
           ("cuda kernels on the host", dict(target="cuda", cuda_on_host=True))]


for label, changes, batch, capacity, steps, first in LAYERS:
    for target_label, target in TARGETS:
        @case("%s (%s): each step and the caches vs float64" % (label, target_label))
        def _(changes=changes, batch=batch, capacity=capacity, steps=steps, first=first,
              target=target):
            config = LayerConfig.from_dict(dict(BASE, **changes))
            with tempfile.TemporaryDirectory() as tmp:
                lib = kha.compile(kha.Module.from_layer_config(config.to_dict()),
                                  os.path.join(tmp, "l.so"), **target)
                length = first
                inputs = make_inputs(config, batch, steps[0], 1, capacity=capacity,
                                     cache_length=length)
                named = dict(inputs)
                k, v = named["k_cache"].copy(), named["v_cache"].copy()
                weights = [a for n, a in inputs if n not in
                           ("x", "positions", "attention_mask", "k_cache", "v_cache",
                            "cache_length")]
                layer = lib.bind("kha_layer", *weights)
                tol = TOLERANCE[config.dtype]
                for step, L in enumerate(steps):
                    fresh = dict(make_inputs(config, batch, L, 10 + step, capacity=capacity,
                                             cache_length=length))
                    args = [fresh["x"]] + \
                        ([fresh["positions"]] if config.position_ids else []) + \
                        [named["attention_mask"], k, v, length]
                    ref_args = [fresh["x"]] + weights + args[1:-3] + \
                        [k.astype(np.float64), v.astype(np.float64), length]
                    want, want_k, want_v = kha_layer(config, ref_args)
                    y = layer(*args)
                    errors = [relative_error(y, want.numpy()),
                              relative_error(k, want_k.numpy()),
                              relative_error(v, want_v.numpy())]
                    assert max(errors) < tol, (step, errors)
                    if step == len(steps) - 1 and length > 0:
                        # A control: not the layer at another length.
                        other = kha_layer(config, ref_args[:-1] + [length - 1])[0]
                        assert relative_error(y, other.numpy()) > tol, "control"
                    length += L
                assert length <= capacity


@case("a length that does not fit is refused and the caches are left alone")
def _():
    config = LayerConfig.from_dict(BASE)
    with tempfile.TemporaryDirectory() as tmp:
        lib = kha.compile(kha.Module.from_layer_config(config.to_dict()),
                          os.path.join(tmp, "l.so"))
        inputs = dict(make_inputs(config, 1, 2, 3, capacity=8, cache_length=5))
        args = [inputs[n] for n, _ in config.argument_shapes(1, 2, 8)]
        k, v = args[-3], args[-2]
        before = k.copy(), v.copy()
        for length in (7, -1, 2**40):
            raises(lambda: lib.kha_layer(*args[:-1], length), "the library refused the call",
                   errors=kha.LibraryError)
        assert np.array_equal(k, before[0]) and np.array_equal(v, before[1])
        raises(lambda: lib.kha_layer(*args[:-1], 1.5), "expected an integer",
               errors=kha.LibraryError)
        raises(lambda: lib.kha_layer(*args[:-3], k.tolist(), v, 1),
               "is updated in place: pass a writeable numpy array", errors=kha.LibraryError)


finish()
