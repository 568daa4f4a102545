"""Compiled entry points check their arguments before trusting them
(lib/Compiler/EntryChecks.cpp, docs/runtime.md): a C caller that passes
descriptors directly to `_mlir_ciface_attn`, bypassing kha-run's and
kha.Library's own checks, gets its call refused with a message from
`kha_last_error()` and zeroed results, for each kind of bad descriptor:
batch sizes that disagree between q and k, key lengths that disagree between
k and v, a static size other than the compiled one, a strided view, a
nonzero offset, a null descriptor, a null data pointer. A good call after a
refused one clears the message and agrees with float64. Then 300 random
calls, half of them wrong in one of those ways, with sizes 0 and 1 among
the others: each is refused exactly when it is wrong, and each accepted one
agrees with float64.

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
sys.path.insert(0, os.path.join(HERE, ".."))
from checks import expect, report  # noqa: E402
from kha.text import sdpa_function  # noqa: E402
from kha.reference import relative_error, sdpa  # noqa: E402

SOURCE = sdpa_function("tensor<?x?x4x16xf32>", "tensor<?x?x2x16xf32>",
                       "tensor<?x?x2x16xf32>", 0.25, causal=True)

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

        fuzz_descriptors(rng, call)

    return report()


def fuzz_descriptors(rng, call, rounds=300):
    """Random descriptors, about half of them wrong in one way (a batch or
    key count that disagrees, a static size, a stride, an offset, a null
    data pointer), including sizes of 0: a call is refused exactly when
    something is wrong, and an accepted call agrees with float64."""
    refused_ok = accepted_ok = 0
    problems = []
    for n in range(rounds):
        B, L, S = (int(rng.choice(c)) for c in ([0, 1, 2], [0, 1, 5], [0, 1, 7]))
        q = rng.uniform(-1, 1, (B, L, 4, 16)).astype(np.float32)
        k = rng.uniform(-1, 1, (B, S, 2, 16)).astype(np.float32)
        v = rng.uniform(-1, 1, (B, S, 2, 16)).astype(np.float32)
        arrays, options = [q, k, v], [{}, {}, {}]
        wrong = rng.random() < 0.5
        if wrong:
            i = int(rng.integers(3))
            kind = rng.choice(["batch", "length", "static", "stride", "offset", "data"])
            a = arrays[i]
            if kind == "batch":
                arrays[i] = np.resize(a, (a.shape[0] + 1,) + a.shape[1:]).astype(np.float32)
            elif kind == "length" and i > 0:
                arrays[i] = np.resize(a, (a.shape[0], a.shape[1] + 2) + a.shape[2:]).astype(
                    np.float32)
            elif kind == "static":
                arrays[i] = np.resize(a, a.shape[:2] + (a.shape[2] + 1, a.shape[3])).astype(
                    np.float32)
            elif kind == "stride":
                strides = [st // 4 for st in a.strides]
                strides[int(rng.integers(4))] += int(rng.integers(1, 5))
                options[i] = {"strides": strides}
            elif kind == "offset":
                options[i] = {"offset": int(rng.integers(1, 64))}
            else:
                options[i] = {"data": False}
        # What the entry checks must decide, from the descriptors.
        shapes = [list(a.shape) for a in arrays]
        valid = (shapes[0][0] == shapes[1][0] == shapes[2][0] and shapes[1][1] == shapes[2][1]
                 and shapes[0][2:] == [4, 16] and shapes[1][2:] == [2, 16]
                 and shapes[2][2:] == [2, 16])
        for a, o in zip(arrays, options):
            if a.size == 0:
                continue  # never read: offset, strides and data do not matter
            if o.get("offset"):
                valid = False
            if "strides" in o:
                natural = [st // 4 for st in a.strides]
                if any(sz > 1 and st != nat for sz, st, nat in
                       zip(a.shape, o["strides"], natural)):
                    valid = False
            if o.get("data") is False:
                valid = False
        # Refused calls never read the arrays; strided views stay inside them
        # only because they are refused (that is what is tested).
        descriptors = [descriptor(a, **o) for a, o in zip(arrays, options)]
        result, message = call(*descriptors)
        if message is not None:
            if valid:
                problems.append("round %d: a valid call refused: %s" % (n, message))
            else:
                refused_ok += 1
            continue
        if not valid:
            problems.append("round %d: an invalid call accepted: shapes %s, %s" % (
                n, shapes, options))
            continue
        shape = list(result[3:7])
        y = (np.frombuffer((ctypes.c_float * int(np.prod(shape))).from_address(result[1]),
                           dtype=np.float32).reshape(shape).astype(np.float64)
             if np.prod(shape) else np.zeros(shape))
        t = lambda a: torch.as_tensor(a.astype(np.float64))
        ref = sdpa(t(q), t(k), t(v), 0.25, True).numpy()
        if shape != list(q.shape) or (y.size and not relative_error(y, ref) < 1e-5) or (
                y.size and not np.all(np.isfinite(y))):
            problems.append("round %d: shape %s, wrong result" % (n, shape))
        else:
            accepted_ok += 1
        if result[0]:
            ctypes.CDLL(None).free(ctypes.c_void_p(result[0]))
    for p in problems[:10]:
        print("  " + p)
    expect(not problems, "%d random calls: %d wrong ones refused, %d good ones agree with "
           "float64 (sizes 0, 1, 2, 5, 7), %d problems" % (
               rounds, refused_ok, accepted_ok, len(problems)))


if __name__ == "__main__":
    sys.exit(main())
