"""The shared-memory tiled matmul kernel of kha-matmul-to-gpu (64 x 64 tiles,
256 threads staging A and B through workgroup memory, 4 x 4 accumulators per
thread), run on the host by kha-gpu-launch-to-host-loops and compared with
float64: sizes that are not multiples of the tile or of the K step, a single
row, dynamic sizes, f16 and bf16 operands. Negative control: the same kernel
with its barriers deleted must give wrong results (threads would read tiles
the others have not staged yet), so this check can see a missing barrier.

usage: matmul_kernel_on_host.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from kha.reference import TOLERANCE, relative_error  # noqa: E402

# (M, K, N, dtype, dynamic, broken)
CASES = [
    (70, 33, 130, "f32", False, False),
    (1, 17, 64, "f32", False, False),
    (129, 64, 65, "f32", True, False),
    (40, 48, 72, "f16", False, False),
    (33, 20, 90, "bf16", True, False),
    (70, 33, 130, "f32", False, True),  # barriers deleted: must fail
]


def module(M, K, N, dtype, dynamic):
    m, n = ("?", "?") if dynamic else (M, N)
    a, b, c = ("tensor<%sx%sx%s>" % (r, s, dtype) for r, s in ((m, K), (K, n), (m, n)))
    dims = ""
    sizes = ""
    if dynamic:
        dims = ("  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
                "  %m = tensor.dim %a, %c0 : " + a + "\n  %n = tensor.dim %b, %c1 : " + b + "\n")
        sizes = "%m, %n"
    return ("func.func @mm(%%a: %s, %%b: %s) -> %s {\n%s"
            "  %%zero = arith.constant 0.0 : %s\n"
            "  %%e = tensor.empty(%s) : %s\n"
            "  %%z = linalg.fill ins(%%zero : %s) outs(%%e : %s) -> %s\n"
            "  %%c = linalg.matmul ins(%%a, %%b : %s, %s) outs(%%z : %s) -> %s\n"
            "  return %%c : %s\n}\n" % (a, b, c, dims, dtype, sizes, c, dtype, c, c,
                                        a, b, c, c, c))


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(5)
    passed = failed = 0
    for (M, K, N, dtype, dynamic, broken) in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "mm.mlir")
            with open(src, "w") as f:
                f.write(module(M, K, N, dtype, dynamic))
            kernel = subprocess.run([os.path.join(tools, "kha-opt"), src, "--kha-matmul-to-gpu"],
                                    check=True, capture_output=True, text=True).stdout
            if broken:
                assert "gpu.barrier" in kernel
                kernel = "\n".join(l for l in kernel.splitlines() if "gpu.barrier" not in l)
            host = os.path.join(tmp, "host.mlir")
            subprocess.run([os.path.join(tools, "kha-opt"), "-", "--kha-gpu-launch-to-host-loops",
                            "-o", host], input=kernel, check=True, text=True)
            lib = os.path.join(tmp, "mm.so")
            subprocess.run([os.path.join(tools, "kha-compile"), host, "-o", lib], check=True)
            store = np.float16 if dtype == "f16" else np.float32
            a = rng.uniform(-1, 1, (M, K)).astype(store)
            b = rng.uniform(-1, 1, (K, N)).astype(store)
            if dtype == "bf16":  # the values the kernel sees
                a, b = (torch.from_numpy(x).bfloat16().float().numpy() for x in (a, b))
            paths = []
            for i, x in enumerate((a, b)):
                paths.append(os.path.join(tmp, "in%d.npy" % i))
                np.save(paths[-1], x)
            out = os.path.join(tmp, "c.npy")
            subprocess.run([os.path.join(tools, "kha-run"), lib, *["--input=@" + p for p in paths],
                            "--output=@" + out], check=True, capture_output=True)
            c = np.load(out).astype(np.float64)
        err = relative_error(c, a.astype(np.float64) @ b.astype(np.float64))
        # (a NaN error, from reading unstaged memory, fails the comparison too)
        ok = not err < TOLERANCE[dtype] if broken else err < TOLERANCE[dtype]
        passed += ok
        failed += not ok
        print("M=%d K=%d N=%d %s%s%s: error %.3g: %s" % (
            M, K, N, dtype, " dynamic" if dynamic else "",
            " (barriers deleted: must fail)" if broken else "", err, "ok" if ok else "FAIL"))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
