"""kha.sdpa with additive masks on the CPU against the float64 reference:
[L, S] and [B, H, L, S] masks, causal on and off, L != S, GQA, and a row whose
mask is all -inf (its output must be zeros, not NaN).

usage: sdpa_mask.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
from kha.reference import relative_error, sdpa  # noqa: E402
from kha.text import sdpa_function  # noqa: E402

B, L, S, H, G, D = 2, 5, 7, 4, 2, 8


def module(mask_shape, causal):
    mask_type = "tensor<%sxf32>" % "x".join(map(str, mask_shape))
    return sdpa_function("tensor<%dx%dx%dx%dxf32>" % (B, L, H, D),
                         "tensor<%dx%dx%dx%dxf32>" % (B, S, G, D),
                         "tensor<%dx%dx%dx%dxf32>" % (B, S, G, D), 0.35, causal,
                         mask=mask_type)


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(5)
    passed = failed = 0
    for mask_shape in [(L, S), (B, H, L, S)]:
        for causal in [False, True]:
            q = rng.uniform(-1, 1, (B, L, H, D)).astype(np.float32)
            k = rng.uniform(-1, 1, (B, S, G, D)).astype(np.float32)
            v = rng.uniform(-1, 1, (B, S, G, D)).astype(np.float32)
            mask = rng.uniform(-2, 2, mask_shape).astype(np.float32)
            mask[..., 1, :] = -np.inf  # query position 1: fully masked
            with tempfile.TemporaryDirectory() as tmp:
                src = os.path.join(tmp, "attn.mlir")
                with open(src, "w") as f:
                    f.write(module(mask_shape, causal))
                lib = os.path.join(tmp, "attn.so")
                subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", lib], check=True)
                paths = []
                for name, a in (("q", q), ("k", k), ("v", v), ("m", mask)):
                    paths.append(os.path.join(tmp, name + ".npy"))
                    np.save(paths[-1], a)
                y_path = os.path.join(tmp, "y.npy")
                subprocess.run([os.path.join(tools, "kha-run"), lib, *["--input=@" + p for p in paths],
                                "--output=@" + y_path], check=True, capture_output=True)
                y = np.load(y_path)
            t = lambda a: torch.as_tensor(a, dtype=torch.float64)
            ref = sdpa(t(q), t(k), t(v), 0.35, causal, t(mask)).numpy()
            err = relative_error(y, ref)
            masked_row = y[:, 1]
            ok = err < 1e-4 and np.all(masked_row == 0) and np.all(np.isfinite(y))
            passed += ok
            failed += not ok
            print("mask %s causal=%s: error %.3g, fully masked row all zero: %s: %s"
                  % (mask_shape, causal, err, bool(np.all(masked_row == 0)), "ok" if ok else "FAIL"))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
