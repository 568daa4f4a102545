"""Benchmark: kha's projection matmuls against the BLAS libraries, side by side.

    /usr/bin/python3 bench/gemm.py [--tools build/bin] [--shapes 512x512x512 ...]
        [--runs 20] [--rounds 5] [--threads 1] [--no-install]

A projection is `x (M x K) @ W (K x N)` with W a weight. For each shape kha
compiles `@proj(x, W {kha.weight})`, so that W is packed into the panels its
kernel reads once (`@proj_prepare`, called by `Library.bind`), and the
benchmark times the per-call function in this process next to PyTorch's
`torch.mm` (OpenBLAS, with OPENBLAS_CORETYPE set for the CPU by
bench/openblas.py) and oneDNN's linear with its weight packed ahead
(`torch.utils.mkldnn`, where PyTorch has it). Rounds alternate between the
three so that a noisy host affects all; the table gives medians of all the
runs, GFLOP/s, kha's rate as a fraction of the best library's, and (one
thread) as a fraction of one core's FMA peak, measured by bench/peak.py at
the start of the run. With
`--threads N` kha uses a threaded library on N threads (OMP_NUM_THREADS) and
PyTorch N threads; the default is one thread each.

The default shapes are the layers' projections: mha-small's (D 512) and
paper-main's (D 1536, q 4096 columns, k/v 512) at L = 512, a decoding step
(M = 1) and sizes that no tile divides.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openblas import ensure_openblas, set_openblas_coretype, set_threads  # noqa: E402
from peak import fma_peak  # noqa: E402
from timing import timed  # noqa: E402

DEFAULT_SHAPES = ["512x512x512", "512x1536x4096", "512x1536x512", "512x4096x1536",
                  "1x1536x4096", "333x520x776"]


def projection_mlir(m, k, n):
    return ("func.func @proj(%%x: tensor<%dx%dxf32>, %%w: tensor<%dx%dxf32> {kha.weight})\n"
            "    -> tensor<%dx%dxf32> {\n"
            "  %%zero = arith.constant 0.0 : f32\n"
            "  %%e = tensor.empty() : tensor<%dx%dxf32>\n"
            "  %%c = linalg.fill ins(%%zero : f32) outs(%%e : tensor<%dx%dxf32>) -> tensor<%dx%dxf32>\n"
            "  %%y = linalg.matmul ins(%%x, %%w : tensor<%dx%dxf32>, tensor<%dx%dxf32>)\n"
            "                      outs(%%c : tensor<%dx%dxf32>) -> tensor<%dx%dxf32>\n"
            "  return %%y : tensor<%dx%dxf32>\n"
            "}\n" % (m, k, k, n, m, n, m, n, m, n, m, n, m, k, k, n, m, n, m, n, m, n))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES,
                        help="MxKxN, the product of M x K activations and K x N weights")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-install", action="store_true")
    opts = parser.parse_args()

    openblas = ensure_openblas(not opts.no_install)
    set_openblas_coretype()
    os.environ["OMP_NUM_THREADS"] = str(opts.threads)
    import numpy as np
    import torch
    from kha.runtime import Library
    set_threads(torch, opts.threads)
    onednn = torch.backends.mkldnn.is_available()
    print("PyTorch %s (BLAS: %s, oneDNN: %s), %d thread(s)" % (
        torch.__version__, "OpenBLAS" if openblas else "default",
        "yes" if onednn else "no", opts.threads))

    peak = fma_peak() if opts.threads == 1 else None
    if peak:
        print("FMA peak, one core: %.1f GFLOP/s (%d-bit vectors)" % peak)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in opts.shapes:
            m, k, n = (int(v) for v in shape.split("x"))
            src = os.path.join(tmp, "proj_%s.mlir" % shape)
            lib_path = os.path.join(tmp, "proj_%s.so" % shape)
            with open(src, "w") as f:
                f.write(projection_mlir(m, k, n))
            subprocess.run([os.path.join(opts.tools, "kha-compile"), src, "-o", lib_path]
                           + ([] if opts.threads > 1 else ["--no-threads"]), check=True)
            rng = np.random.default_rng(1)
            x = rng.standard_normal((m, k), dtype=np.float32)
            w = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
            proj = Library(lib_path).bind("proj", w)
            y = proj(x)
            error = float(np.abs(y - x.astype(np.float64) @ w.astype(np.float64)).max())
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            candidates = {"kha": lambda: proj(x), "openblas": lambda: torch.mm(tx, tw)}
            if onednn:
                from torch.utils import mkldnn as mkldnn_utils
                linear = torch.nn.Linear(k, n, bias=False)
                with torch.no_grad():
                    linear.weight.copy_(tw.t())
                packed = mkldnn_utils.to_mkldnn(linear)
                candidates["onednn"] = lambda: packed(tx.to_mkldnn()).to_dense()
            times = {key: [] for key in candidates}
            with torch.no_grad():
                for _ in range(opts.rounds):
                    for key, fn in candidates.items():
                        fn()  # warm-up
                        times[key] += timed(fn, opts.runs)
            med = {key: statistics.median(v) for key, v in times.items()}
            rows.append((shape, 2.0 * m * k * n, med, error))

    libs = [key for key in ("openblas", "onednn") if key in rows[0][2]]
    print()
    print("| M x K x N | kha | " + " | ".join(libs) + " | kha GFLOP/s | best library GFLOP/s "
          "| kha / best | kha / FMA peak | max abs error vs float64 |")
    print("|---|---|" + "---|" * len(libs) + "---|---|---|---|---|")
    for shape, flops, med, error in rows:
        best = min(med[key] for key in libs)
        rate = flops / med["kha"] / 1e6
        print("| %s | %.3f ms | %s | %.1f | %.1f | %.2f | %s | %.1e |" % (
            shape, med["kha"], " | ".join("%.3f ms" % med[key] for key in libs),
            rate, flops / best / 1e6, best / med["kha"],
            "%.2f" % (rate / peak[0]) if peak else "-", error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
