"""Compiled entry points check their arguments before trusting them
(lib/Compiler/EntryChecks.cpp, docs/runtime.md): a C caller that passes
descriptors directly to `_mlir_ciface_attn`, bypassing kha-run's and
kha.Library's own checks, gets its call refused with a message from
`kha_last_error()` and zeroed results, for each kind of bad descriptor:
batch sizes that disagree between q and k, key lengths that disagree between
k and v, a static size other than the compiled one, a strided view, a
nonzero offset, a null descriptor, a null data pointer. A good call after a
refused one clears the message and agrees with float64.

usage: entry_checks.py TOOLS_DIR
"""
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from kha.reference import relative_error, sdpa  # noqa: E402

SOURCE = """
func.func @attn(%q: tensor<?x?x4x16xf32>, %k: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>) -> tensor<?x?x4x16xf32> {
  %o = kha.sdpa %q, %k, %v {causal, scale = 0.25 : f64} : (tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> tensor<?x?x4x16xf32>
  return %o : tensor<?x?x4x16xf32>
}
"""

passed = failed = 0


def expect(ok, what):
    global passed, failed
    passed += bool(ok)
    failed += not ok
    print("%s: %s" % ("ok  " if ok else "FAIL", what), flush=True)


def descriptor(array, offset=0, strides=None, data=True, sizes=None):
    """An MLIR memref descriptor of `array`: allocated, aligned, offset,
    sizes, strides (elements)."""
    rank = array.ndim
    words = (ctypes.c_int64 * (3 + 2 * rank))()
    ptr = array.ctypes.data if data else 0
    words[0] = words[1] = ptr
    words[2] = offset
    sizes = list(array.shape) if sizes is None else sizes
    strides = [s // array.itemsize for s in array.strides] if strides is None else strides
    words[3:3 + rank] = sizes
    words[3 + rank:3 + 2 * rank] = strides
    return words


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "attn.mlir")
        with open(src, "w") as f:
            f.write(SOURCE)
        lib = os.path.join(tmp, "attn.so")
        subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", lib], check=True)
        dll = ctypes.CDLL(lib)
        entry = dll._mlir_ciface_attn
        entry.restype = None
        entry.argtypes = [ctypes.c_void_p] * 4
        last_error = dll.kha_last_error
        last_error.restype, last_error.argtypes = ctypes.c_char_p, []

        q = rng.uniform(-1, 1, (2, 5, 4, 16)).astype(np.float32)
        k = rng.uniform(-1, 1, (2, 7, 2, 16)).astype(np.float32)
        v = rng.uniform(-1, 1, (2, 7, 2, 16)).astype(np.float32)

        def call(dq, dk, dv):
            result = (ctypes.c_int64 * 11)(*([7] * 11))  # rank 4: 3 + 2 * 4 words
            address = lambda d: ctypes.cast(d, ctypes.c_void_p) if d is not None else None
            entry(address(result), address(dq), address(dk), address(dv))
            message = last_error()
            return result, message.decode() if message else None

        def refused(what, words, needle):
            result, message = call(*words)
            ok = message is not None and needle in message and all(w == 0 for w in result)
            expect(ok, "refused: %s -> %r, results zeroed: %s" % (
                what, message, all(w == 0 for w in result)))

        good = (descriptor(q), descriptor(k), descriptor(v))
        k1 = k[:1].copy()
        refused("batch 2 in q, 1 in k", (good[0], descriptor(k1), good[2]),
                "inputs disagree")
        v5 = v[:, :5].copy()
        refused("7 keys in k, 5 values in v", (good[0], good[1], descriptor(v5)),
                "inputs disagree")
        q8 = q[..., :8].copy()
        refused("head dim 8 where 16 was compiled", (descriptor(q8), good[1], good[2]),
                "is not 16, the size it was compiled for")
        strided = q[:, ::2]
        refused("a strided view of q", (descriptor(strided), good[1], good[2]),
                "is not contiguous")
        refused("an offset into k", (good[0], descriptor(k, offset=16), good[2]),
                "nonzero offset")
        refused("a null descriptor for v", (good[0], good[1], None), "null descriptor")
        refused("no data for k", (good[0], descriptor(k, data=False), good[2]), "has no data")
        refused("a negative dynamic size", (descriptor(q, sizes=[2, -5, 4, 16]), good[1], good[2]),
                "is negative")

        # A good call clears the message and computes attention.
        result, message = call(*good)
        rank = 4
        shape = list(result[3:3 + rank])
        ok = message is None and shape == [2, 5, 4, 16] and result[1] != 0
        err = float("nan")
        if ok:
            buf = (ctypes.c_float * int(np.prod(shape))).from_address(result[1])
            y = np.frombuffer(buf, dtype=np.float32).reshape(shape).astype(np.float64)
            t = lambda a: torch.as_tensor(a.astype(np.float64))
            ref = sdpa(t(q), t(k), t(v), 0.25, True).numpy()
            err = relative_error(y, ref)
            ok = err < 1e-5
            ctypes.CDLL(None).free(ctypes.c_void_p(result[0]))
        expect(ok, "a good call after the refused ones: no message, error %.2g" % err)

    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
