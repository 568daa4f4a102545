"""The Python bindings (import kha) over libKHACAPI.so: parse/print/verify,
layer-config import (weights as arguments and embedded), pass pipelines, the
cost report, compile-and-call on numpy arrays against the float64 reference
at the contract's tolerances (f32/f16/bf16, L = 1, dynamic B/L, GQA, H*d !=
D), and every error path raising with a message.

usage: bindings.py   (PYTHONPATH=python; prints "N passed, M failed")
"""
import os
import sys
import tempfile

import numpy as np

import kha
from kha.config import LayerConfig
from kha.inputs import make_inputs
from kha.reference import TOLERANCE, kha_layer, relative_error
from kha.text import sdpa_function

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import case, finish, raises as _raises  # noqa: E402


def raises(fn, *fragments):
    _raises(fn, *fragments, errors=(kha.Error, RuntimeError, ValueError))


def compile_text(text, tmp, name):
    """The MLIR `text` compiled for the CPU into `tmp`, loaded."""
    return kha.compile(kha.Module.parse(text), os.path.join(tmp, name + ".so"))


SMALL = {"hidden_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 10,
         "knock": {"q": "linear", "k": "linear", "v": "mlp"}, "qk_norm": True,
         "rope_theta": 10000.0, "causal": True, "dtype": "f32"}


@case("parse, print, clone and verify")
def _():
    text = ("func.func @f(%x: tensor<1x2x2x4xf32>, %t: tensor<4x4xf32>) -> tensor<1x2x2x4xf32> {\n"
            "  %k = kha.linear_knock %x, %t : tensor<1x2x2x4xf32>, tensor<4x4xf32>\n"
            "  return %k : tensor<1x2x2x4xf32>\n}\n")
    m = kha.Module.parse(text)
    assert "kha.linear_knock" in str(m)
    m.verify()
    copy = m.clone()
    copy.run_pipeline("kha-lower-to-linalg")
    assert "kha.linear_knock" not in str(copy) and "kha.linear_knock" in str(m)


@case("parse errors carry locations; verifier messages")
def _():
    raises(lambda: kha.Module.parse("func.func @f() {\n  kha.bogus\n}"),
           "cannot parse", '"-":2:', "kha.bogus")
    raises(lambda: kha.Module.parse(
        "func.func @f(%x: tensor<1x2x2x4xf32>, %t: tensor<3x3xf32>) -> tensor<1x2x2x4xf32> {\n"
        "  %k = kha.linear_knock %x, %t : tensor<1x2x2x4xf32>, tensor<3x3xf32>\n"
        "  return %k : tensor<1x2x2x4xf32>\n}"), "must have shape [4, 4]")


@case("hostile use raises, never crashes: deep nesting, a closed context, a bad CPU")
def _():
    deep = "module {\n" * 5000 + "}\n" * 5000
    raises(lambda: kha.Module.parse(deep), "cannot parse", "nested more than 4096 levels deep")
    nested = "module {\n" * 2000 + "}\n" * 2000  # below the limit: parses (large stack)
    assert str(kha.Module.parse(nested)).count("module") == 2000
    text = ("func.func @f(%x: tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32> {\n"
            "  %0 = kha.rope %x {theta = 10000.0 : f64} : tensor<2x4x2x8xf32>\n"
            "  return %0 : tensor<2x4x2x8xf32>\n}\n")
    context = kha.Context()
    m = kha.Module.parse(text, context)
    context.close()
    raises(lambda: str(m), "the kha.Context is closed")
    raises(lambda: m.run_pipeline("kha-lower-to-linalg"), "the kha.Context is closed")
    raises(lambda: kha.Module.parse(text, context), "the kha.Context is closed")
    with tempfile.TemporaryDirectory() as tmp:
        m = kha.Module.parse(text)
        raises(lambda: kha.compile(m, os.path.join(tmp, "a.so"), cpu="i386"),
               "cannot compile", "cannot run 64-bit")
        raises(lambda: kha.compile(m, os.path.join(tmp, "a.so"), cpu="frobnicator"),
               "cannot compile", "unknown CPU 'frobnicator'")


@case("a compiled function never writes into its caller's arrays")
def _():
    text = ("func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
            "  %c0 = arith.constant 0 : index\n"
            "  %v = arith.constant 7.0 : f32\n"
            "  %y = tensor.insert %v into %x[%c0] : tensor<4xf32>\n"
            "  return %y : tensor<4xf32>\n}\n")
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_text(text, tmp, "f")
        x = np.arange(4, dtype=np.float32)
        y = lib.f(x)
        assert y.tolist() == [7, 1, 2, 3] and x.tolist() == [0, 1, 2, 3], (x, y)


@case("dynamic sizes that must agree are checked before the call")
def _():
    text = sdpa_function("tensor<?x?x4x16xf32>", "tensor<?x?x2x16xf32>",
                         "tensor<?x?x2x16xf32>", 0.25)
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_text(text, tmp, "attn")
        q, kv = np.zeros((2, 5, 4, 16), np.float32), np.zeros((2, 7, 2, 16), np.float32)
        assert lib.attn(q, kv, kv).shape == (2, 5, 4, 16)
        raises(lambda: lib.attn(np.zeros((64, 5, 4, 16), np.float32), kv, kv),
               "arguments disagree: dimension 0 of", "is 2 but dimension 0 of", "is 64")
        raises(lambda: lib.attn(q, kv, np.zeros((2, 9, 2, 16), np.float32)),
               "arguments disagree: dimension 1 of", "is 9")


@case("layer config import: dict and file, errors located")
def _():
    m = kha.Module.from_layer_config(SMALL)
    assert "kha.attention_block" in str(m) and "knock_v_mlp" in str(m)
    m = kha.Module.from_layer_config(os.path.join(ROOT, "examples", "paper-main.json"))
    assert "num_kv_heads = 4" in str(m)
    bad = dict(SMALL, num_key_value_heads=3)
    raises(lambda: kha.Module.from_layer_config(bad), "cannot import", "num_key_value_heads")
    raises(lambda: kha.Module.from_layer_config(dict(SMALL, knock={"q": "mlp"})), "knock")


@case("pipelines and their errors")
def _():
    m = kha.Module.from_layer_config(SMALL)
    m.run_pipeline("kha-expand-attention-block,kha-simplify-knocks")
    text = str(m)
    assert "kha.sdpa" in text and "kha.attention_block" not in text
    raises(lambda: m.run_pipeline("kha-no-such-pass"), "does not refer to a registered pass")
    # MLIR's own passes mix with kha's.
    m.run_pipeline("canonicalize,cse,kha-lower-to-linalg,canonicalize")
    assert "linalg." in str(m)
    m.run_pipeline("builtin.module(kha-cpu-pipeline)")
    assert "llvm.func" in str(m)


@case("cost report matches the hand counts on mha-small")
def _():
    # mha-small is causal: the attention is counted over the L (L + 1) / 2
    # pairs on and below the diagonal (docs/cost-model.md).
    m = kha.Module.from_layer_config(os.path.join(ROOT, "examples", "mha-small.json"))
    remarks = m.cost_report()
    assert len(remarks) == 1 and "total cost of 'kha_layer': 1452550144 FLOPs" in remarks[0], remarks
    per_op = m.cost_report(per_op=True)
    assert any("cost: 1452550144 FLOPs" in r for r in per_op), per_op


def check_layer(config, batch, seq_len, embed, seed, **options):
    cfg = LayerConfig.from_dict(config)
    inputs = [a for _, a in make_inputs(cfg, batch, seq_len, seed=seed)]
    with tempfile.TemporaryDirectory() as tmp:
        weights_dir = None
        if embed:
            names = [n for n, _ in cfg.argument_shapes(batch, seq_len)]
            for name, a in zip(names[1:], inputs[1:]):
                np.save(os.path.join(tmp, name + ".npy"), a)
            weights_dir = tmp
        m = kha.Module.from_layer_config(config, weights_dir=weights_dir)
        lib = kha.compile(m, os.path.join(tmp, "layer.so"), **options)
        y = lib.kha_layer(*(inputs[:1] if embed else inputs))
    ref = kha_layer(cfg, inputs).numpy()
    err = relative_error(np.asarray(y, dtype=np.float64), ref)
    assert err < TOLERANCE[cfg.dtype], "error %.3g >= %g" % (err, TOLERANCE[cfg.dtype])
    return err


for dtype in ("f32", "f16", "bf16"):
    @case("compile and call, %s, dynamic B/L (B=2, L=7), GQA, H*d != D" % dtype)
    def _(dtype=dtype):
        check_layer(dict(SMALL, dtype=dtype), 2, 7, False, 1)

@case("compile and call, L = 1, embedded weights, static sizes")
def _():
    check_layer(dict(SMALL, batch=1, seq_len=1), 1, 1, True, 2)

@case("compile and call, G = 1, linear V knock, no fusions, no RoPE")
def _():
    config = dict(SMALL, num_key_value_heads=1, knock={"q": "none", "k": "linear", "v": "linear"},
                  rope_theta=None, causal=False)
    check_layer(config, 3, 5, False, 3, fold_knocks=False, fuse_knock_mlp=False)

@case("compile for cuda with the kernels on the host (cuda_on_host), GQA, f16")
def _():
    check_layer(dict(SMALL, dtype="f16"), 2, 7, False, 5, target="cuda", cuda_on_host=True)


@case("compile errors and library call errors")
def _():
    m = kha.Module.from_layer_config(SMALL)
    with tempfile.TemporaryDirectory() as tmp:
        raises(lambda: kha.compile(m, os.path.join(tmp, "a.so"), target="tpu"), "cannot compile")
        raises(lambda: kha.compile(m, os.path.join(tmp, "a.so"), target="cuda", cuda_chip="sm_70"),
               "chip must be")
        # A cuda library: called like a cpu one where a GPU is, else a clear error.
        gpu = kha.compile(m, os.path.join(tmp, "gpu.so"), target="cuda")
        assert gpu.device == "cuda"
        cfg = LayerConfig.from_dict(SMALL)
        xs = [a for _, a in make_inputs(cfg, 2, 5, seed=4)]
        try:
            y = gpu.kha_layer(*xs)
        except kha.LibraryError as e:
            assert "cannot use the GPU: cannot load the CUDA driver" in str(e) or \
                "cannot use the GPU" in str(e), str(e)
        else:
            err = relative_error(y, kha_layer(cfg, xs).numpy())
            assert err < TOLERANCE["f32"], "GPU error %.3g" % err
        raises(lambda: kha.compile(m, os.path.join(tmp, "no", "dir", "a.so")), "cannot compile")
        lib = kha.compile(m, os.path.join(tmp, "a.so"))
        assert "kha.attention_block" in str(m)  # compile works on a copy
        raises(lambda: lib.kha_layer(np.zeros((1, 2, 48), np.float32)), "takes 12 arguments")
        cfg = LayerConfig.from_dict(SMALL)
        args = [a for _, a in make_inputs(cfg, 1, 3, seed=0)]
        raises(lambda: lib.kha_layer(args[0][0], *args[1:]), "expected rank 3")
        raises(lambda: lib.kha_layer(np.zeros((1, 3, 47), np.float32), *args[1:]),
               "dimension 2 is 47, expected 48")
        raises(lambda: lib("nope", *args), "has no function nope")
        raises(lambda: lib.kha_layer(args[0].astype(np.int32), *args[1:]), "floating-point")
        libm = next(p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                                "/lib/aarch64-linux-gnu/libm.so.6") if os.path.exists(p))
        raises(lambda: kha.Library(libm), "not a kha library")
        raises(lambda: kha.Library(os.path.join(tmp, "missing.so")), "cannot load")
        cwd = os.getcwd()
        try:  # a relative path is a path, not a loader search
            os.chdir(tmp)
            assert "kha_layer" in kha.Library("a.so").functions
        finally:
            os.chdir(cwd)


finish()
