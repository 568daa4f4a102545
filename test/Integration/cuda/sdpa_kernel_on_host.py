"""The fused attention kernel of kha-sdpa-to-gpu, run on the host:
kha-gpu-launch-to-host-loops turns the grid into loops and each block's
threads into loops split at barriers and shuffles; the result is compiled
for the CPU and compared with the float64 reference. Every case runs twice:
with the kernel shape the GPU pipeline chooses (several lanes per row whose
partial dot products meet through xor shuffles, the r query heads of a GQA
group in one block sharing its K/V tiles) and with `lanes=1 rows=1` (one
thread per block). This checks the kernel's tiling over keys (several
shared-memory tiles, a partial last one), the online softmax, the causal
bound and mask, both additive mask layouts, fully masked rows, L != S,
L = 1, GQA and MQA groups, f16/bf16 loads and stores, and dynamic sizes,
without a GPU.

usage: sdpa_kernel_on_host.py TOOLS_DIR
"""
import itertools
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from kha.reference import TOLERANCE, relative_error, sdpa  # noqa: E402
from kha.text import sdpa_function  # noqa: E402

# (B, L, S, H, G, d, causal, mask, dtype, dynamic)
CASES = [
    (2, 5, 7, 3, 3, 8, True, None, "f32", False),
    (1, 150, 150, 2, 2, 16, True, None, "f32", True),  # 3 key tiles, the last partial
    (2, 9, 130, 2, 2, 5, False, "LS", "f32", False),   # odd d, [L, S] mask
    (1, 1, 1, 4, 4, 8, True, None, "f32", False),      # L = S = 1
    (2, 6, 6, 2, 2, 8, False, "BHLS", "f16", False),   # [B, H, L, S] mask, f16
    (1, 70, 70, 1, 1, 12, True, None, "bf16", True),
    (2, 37, 37, 4, 2, 8, True, None, "f32", False),    # GQA: 2 query heads per block
    (1, 45, 90, 6, 1, 6, False, "BHLS", "f32", True),  # MQA, d = 6 (2 lanes)
    (1, 33, 33, 8, 2, 16, True, None, "f16", False),   # GQA, 4 lanes, f16
]
TILINGS = ["", "lanes=1 rows=1"]
# Negative control: the same kernel with its xor shuffles turned into "down"
# shuffles (partial dot products summed from the wrong lanes) must fail, so
# the host run can see a wrong shuffle.
BROKEN = (2, 37, 37, 4, 2, 8, True, None, "f32", False)


def module(B, L, S, H, G, d, causal, mask, dtype, dynamic):
    b, l, s = ("?", "?", "?") if dynamic else (B, L, S)
    t = lambda n, m: "tensor<%sx%sx%dx%dx%s>" % (b, n, m, d, dtype)
    q, kv = t(l, H), t(s, G)
    mask_type = {"LS": "tensor<%sx%sx%s>" % (l, s, dtype),
                 "BHLS": "tensor<%sx%dx%sx%sx%s>" % (b, H, l, s, dtype)}.get(mask)
    return sdpa_function(q, kv, kv, d ** -0.5, causal, mask=mask_type)


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(3)
    passed = failed = 0
    runs = [(case, tiling, False) for case, tiling in itertools.product(CASES, TILINGS)]
    runs.append((BROKEN, "", True))
    for (B, L, S, H, G, d, causal, mask, dtype, dynamic), tiling, broken in runs:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "attn.mlir")
            with open(src, "w") as f:
                f.write(module(B, L, S, H, G, d, causal, mask, dtype, dynamic))
            kernel = subprocess.run([os.path.join(tools, "kha-opt"), src,
                                     "--kha-sdpa-to-gpu=tensor-cores=false " + tiling],
                                    check=True, capture_output=True, text=True).stdout
            if broken:
                assert "gpu.shuffle  xor" in kernel
                kernel = kernel.replace("gpu.shuffle  xor", "gpu.shuffle  down")
            # Threads in order, and (several threads per block) in reverse.
            schedules = ["", "reverse-threads"] if tiling == "" and not broken else [""]
            libs = []
            for schedule in schedules:
                host = os.path.join(tmp, "host%d.mlir" % len(libs))
                subprocess.run([os.path.join(tools, "kha-opt"), "-",
                                "--kha-gpu-launch-to-host-loops=" + schedule, "-o", host],
                               input=kernel, check=True, text=True)
                libs.append(os.path.join(tmp, "attn%d.so" % len(libs)))
                subprocess.run([os.path.join(tools, "kha-compile"), host, "-o", libs[-1]],
                               check=True)
            store = np.float16 if dtype == "f16" else np.float32
            arrays = [rng.uniform(-1, 1, (B, n, heads, d)).astype(store)
                      for n, heads in ((L, H), (S, G), (S, G))]
            if dtype == "bf16":  # the values the kernel sees
                arrays = [torch.from_numpy(a).bfloat16().float().numpy() for a in arrays]
            m = None
            if mask:
                m = rng.uniform(-2, 2, (L, S) if mask == "LS" else (B, H, L, S)).astype(store)
                m[..., L // 2, :] = -np.inf  # one fully masked row
                if dtype == "bf16":
                    m = torch.from_numpy(m).bfloat16().float().numpy()
                arrays.append(m)
            paths = []
            for i, a in enumerate(arrays):
                paths.append(os.path.join(tmp, "in%d.npy" % i))
                np.save(paths[-1], a)
            ys = []
            for lib in libs:
                out = os.path.join(tmp, "y.npy")
                subprocess.run([os.path.join(tools, "kha-run"), lib,
                                *["--input=@" + p for p in paths], "--output=@" + out],
                               check=True, capture_output=True)
                ys.append(np.load(out).astype(np.float64))
            y = ys[0]
            # A race-free kernel gives the same bits under either schedule.
            same_bits = all(np.array_equal(y, other) for other in ys[1:])
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
        ref = sdpa(t(arrays[0]), t(arrays[1]), t(arrays[2]), d ** -0.5, causal,
                   None if m is None else t(m)).numpy()
        err = relative_error(y, ref)
        ok = err < TOLERANCE[dtype] and np.all(np.isfinite(y)) and same_bits
        if mask:
            ok = ok and np.all(y[:, L // 2] == 0)
        if causal and L > 1:
            # Negative control: the same output is far from the non-causal
            # reference, so the comparison can see a wrong mask.
            other = sdpa(t(arrays[0]), t(arrays[1]), t(arrays[2]), d ** -0.5, False).numpy()
            ok = ok and relative_error(y, other) > 10 * TOLERANCE[dtype]
        if broken:  # (a NaN error fails the comparison too)
            ok = not err < TOLERANCE[dtype]
        passed += ok
        failed += not ok
        print("B=%d L=%d S=%d H=%d G=%d d=%d causal=%s mask=%s %s%s [%s]: error %.3g: %s" % (
            B, L, S, H, G, d, causal, mask, dtype, " dynamic" if dynamic else "",
            (tiling or "default tiling") + (", shuffles broken: must fail" if broken else "")
            + (", same bits with threads reversed" if len(ys) > 1 and same_bits else ""),
            err, "ok" if ok else "FAIL"))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
