"""Attention numerics under stress, on the CPU library and on the GPU kernels
run on the host (kha-compile --target=cuda --cuda-on-host: the mma.sync
kernels for sm_80, the TMA + wgmma kernels for sm_90a), against float64:

  - logits up to about 1e4 (queries and keys scaled up): the online softmax
    must not overflow, and the result is nearly one-hot (within the rounding
    of such logits in f32);
  - long sequences: L = S = 8192 on the CPU, causal and not (2048 for the
    emulated GPU kernels, which run every thread as a loop);
  - subnormal inputs (values near 1e-40 in f32): finite, exact enough;
  - f16 and bf16 values near their largest: V near 6e4 in f16, and in bf16
    near 3.4e38 / S, the largest an f32 sum over S keys holds; the output, a
    weighted average of V, stays finite;
  - rows that every key is masked from (an additive mask of -inf, on the
    CPU and the SIMT GPU kernel): zeros, as docs/semantics.md defines.

Each case must agree with float64 at the contract's tolerance for its type
and be finite everywhere.

usage: stress_numerics.py TOOLS_DIR
"""
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
from kha.reference import TOLERANCE, relative_error, sdpa  # noqa: E402
from kha.text import sdpa_function  # noqa: E402

TARGETS = {
    "cpu": [],
    "sm_80 on host": ["--target=cuda", "--cuda-on-host", "--cuda-chip=sm_80"],
    "sm_90a on host": ["--target=cuda", "--cuda-on-host", "--cuda-chip=sm_90a"],
}
NP = {"f32": np.float32, "f16": np.float16, "bf16": np.float32}

def module(B, L, S, H, G, d, dtype, causal, scale, mask):
    t = lambda n, h: "tensor<%dx%dx%dx%dx%s>" % (B, n, h, d, dtype)
    q, kv = t(L, H), t(S, G)
    m = "tensor<%dx%dx%s>" % (L, S, dtype)
    return sdpa_function(q, kv, kv, scale, causal, mask=m if mask else None)


def rounded(x, dtype):
    """What the kernel sees: values rounded to the element type (bf16 is
    passed as float32 .npy and rounded by the runtime)."""
    if dtype == "bf16":
        return torch.from_numpy(x.astype(np.float32)).bfloat16().float().numpy()
    return x.astype(NP[dtype])


def run_case(tools, tmp, target, name, case, arrays, mask=None, tolerance=None):
    B, L, S, H, G, d, dtype, causal, scale = case
    src = os.path.join(tmp, "attn.mlir")
    with open(src, "w") as f:
        f.write(module(B, L, S, H, G, d, dtype, causal, scale, mask is not None))
    lib = os.path.join(tmp, "attn.so")
    compiled = subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", lib,
                               *TARGETS[target]], capture_output=True, text=True)
    if compiled.returncode != 0:
        expect(False, "%s, %s: kha-compile failed: %s" % (name, target, compiled.stderr[-300:]))
        return
    inputs = list(arrays) + ([mask] if mask is not None else [])
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(tmp, "in%d.npy" % i))
        np.save(paths[-1], a)
    out = os.path.join(tmp, "out.npy")
    proc = subprocess.run([os.path.join(tools, "kha-run"), lib,
                           *["--input=@" + p for p in paths], "--output=@" + out],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        expect(False, "%s, %s: kha-run failed: %s" % (name, target, proc.stderr[-300:]))
        return
    y = np.load(out).astype(np.float64)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    ref = sdpa(t(arrays[0]), t(arrays[1]), t(arrays[2]), scale, causal,
               None if mask is None else t(mask)).numpy()
    err = relative_error(y, ref)
    finite = bool(np.all(np.isfinite(y)))
    tolerance = tolerance or TOLERANCE[dtype]
    expect(finite and err < tolerance,
           "%s, %s: error %.2g (tolerance %.2g), %s" % (
               name, target, err, tolerance, "finite" if finite else "NOT FINITE"))
    return y


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(2026)
    u = lambda shape, lo=-1.0, hi=1.0: rng.uniform(lo, hi, shape)
    with tempfile.TemporaryDirectory() as tmp:
        # Logits up to about 1e4 (|q . k| * scale). Computed in f32, a logit
        # of that size is off by up to ulp(1e4) ~ 1e-3, and so is its
        # softmax weight: the tolerance is the contract's or that rounding
        # (a unit of f32 rounding of the largest logit), whichever is larger.
        for dtype in ("f32", "f16", "bf16"):
            case = (1, 70, 90, 4, 2, 64, dtype, True, 0.125)
            q = rounded(u((1, 70, 4, 64)) * 50, dtype)
            k = rounded(u((1, 90, 2, 64)) * 50, dtype)
            v = rounded(u((1, 90, 2, 64)), dtype)
            logits = np.einsum("blhd,bsgd->bhls", q.astype(np.float64),
                               np.repeat(k.astype(np.float64), 2, axis=2)) * 0.125
            rounding = 2.0 ** -24 * np.abs(logits).max()
            for target in TARGETS:
                if dtype == "f32" and target != "cpu":
                    continue  # f32 attention is the SIMT kernel: covered below
                run_case(tools, tmp, target, "logits up to %.1e %s" % (np.abs(logits).max(), dtype),
                         case, (q, k, v), tolerance=max(TOLERANCE[dtype], rounding))

        # Long sequences.
        for causal in (False, True):
            case = (1, 8192, 8192, 1, 1, 16, "f32", causal, 0.25)
            arrays = [u((1, 8192, 1, 16)).astype(np.float32) for _ in range(3)]
            run_case(tools, tmp, "cpu", "L = S = 8192%s f32" % (" causal" if causal else ""),
                     case, arrays)
        for target in ("sm_80 on host", "sm_90a on host"):
            case = (1, 2048, 2048, 2, 1, 64, "bf16", True, 0.125)
            arrays = [rounded(u((1, 2048, h, 64)), "bf16") for h in (2, 1, 1)]
            run_case(tools, tmp, target, "L = S = 2048 causal bf16", case, arrays)

        # Subnormal inputs (f32): q and k near 1e-20 (logits underflow to
        # subnormals), v near 1e-40.
        case = (2, 33, 47, 2, 2, 16, "f32", True, 0.25)
        q = (u((2, 33, 2, 16)) * 1e-20).astype(np.float32)
        k = (u((2, 47, 2, 16)) * 1e-20).astype(np.float32)
        v = (u((2, 47, 2, 16)) * 1e-40).astype(np.float32)
        for target in TARGETS:
            run_case(tools, tmp, target, "subnormal inputs f32", case, (q, k, v))

        # Near the largest value of f16, and of bf16 as far as an f32 sum
        # over the keys allows (docs/semantics.md: the kernels accumulate
        # sum(p v) in f32 before dividing by sum(p), so |v| times the number
        # of keys must stay below 3.4e38).
        for dtype, big in (("f16", 6.0e4), ("bf16", 3.0e38 / 64)):
            case = (1, 40, 60, 2, 1, 64, dtype, False, 0.125)
            q = rounded(u((1, 40, 2, 64)), dtype)
            k = rounded(u((1, 60, 1, 64)), dtype)
            v = rounded(u((1, 60, 1, 64), 0.5, 1.0) * big, dtype)
            for target in TARGETS:
                run_case(tools, tmp, target, "values near the largest %s" % dtype, case,
                         (q, k, v))

        # Rows masked from every key: zeros.
        case = (1, 6, 9, 2, 1, 16, "f32", False, 0.25)
        q, k, v = u((1, 6, 2, 16)), u((1, 9, 1, 16)), u((1, 9, 1, 16))
        q, k, v = (a.astype(np.float32) for a in (q, k, v))
        mask = np.zeros((6, 9), np.float32)
        mask[2, :] = -np.inf
        mask[4, :] = -np.inf
        for target in ("cpu", "sm_80 on host"):
            y = run_case(tools, tmp, target, "fully masked rows f32", case, (q, k, v), mask)
            if y is not None:
                expect(np.all(y[:, [2, 4]] == 0), "fully masked rows are zeros, %s" % target)

    return report()


if __name__ == "__main__":
    sys.exit(main())
