"""Benchmark: the compiled KHA layer against PyTorch eager on the CPU.

    /usr/bin/python3 bench/cpu_vs_pytorch.py [--tools build/bin] [--runs 10] [--rounds 3]
        [--seq-lens 512 ...] [--torch-max-seq-len 4096]

For each shape (mha-small and paper-main at B = 1, L = 512 by default; more
lengths with --seq-lens) the layer is compiled with kha-compile and run with
kha-run on the same inputs that PyTorch gets, on 1 thread (kha-run --threads=1)
and on all threads; PyTorch runs the same layer (kha.reference in float32,
eager) with 1 thread and with all threads. Rounds alternate between the four so
that a noisy host affects all; medians of all runs are reported with their
ratios and kha's rate in GFLOP/s (the FLOPs of kha-cost-report), next to the
BLAS rate PyTorch saw, and the fraction of the FLOP floor (the layer's FLOPs at
one core's FMA peak, measured by bench/peak.py) that kha's one-thread time is.

PyTorch must use a fast BLAS (Debian's torch calls the reference netlib BLAS
by default, about 4 GFLOP/s on one core): this script installs Debian's
OpenBLAS when it is missing (--no-install to skip) and sets OPENBLAS_CORETYPE
for the CPU (bench/openblas.py) before torch loads.
"""

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers import fixed_size_config  # noqa: E402
from openblas import ensure_openblas, set_openblas_coretype, set_threads  # noqa: E402
from peak import fma_peak  # noqa: E402


def layer_flops(tools, config_path, tmp):
    """The layer's FLOPs as kha-cost-report counts them (0 if it cannot)."""
    mlir = os.path.join(tmp, "cost.mlir")
    subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config",
                    config_path, "-o", mlir], check=True)
    out = subprocess.run([os.path.join(tools, "kha-opt"), mlir, "--kha-cost-report",
                          "-o", os.devnull], capture_output=True, text=True).stderr
    found = re.search(r"total cost of '\w+': (\d+) FLOPs", out)
    return int(found.group(1)) if found else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--configs", nargs="+",
                        default=[os.path.join(ROOT, "examples", "mha-small.json"),
                                 os.path.join(ROOT, "examples", "paper-main.json")])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[512])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--torch-max-seq-len", type=int, default=4096,
                        help="longer sequences are timed for kha only: PyTorch eager "
                             "materialises the L x L scores (2 GiB for mha-small at 8192)")
    opts = parser.parse_args()

    openblas = ensure_openblas(not opts.no_install)
    set_openblas_coretype()
    import torch
    from kha.check import compile_config
    from kha.inputs import make_inputs, save_inputs
    from kha.reference import kha_layer

    # The BLAS rate PyTorch sees (one thread).
    set_threads(torch, 1)
    a = torch.rand(512, 512)
    b = torch.rand(512, 512)
    a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    gflops = 20 * 2 * 512 ** 3 / (time.perf_counter() - start) / 1e9
    print("PyTorch %s, BLAS: %s, sgemm 512^3 on 1 thread: %.0f GFLOP/s"
          % (torch.__version__, "OpenBLAS" if openblas else "default", gflops))
    all_threads = os.cpu_count() or 1
    # The FLOP floor: the layer's FLOPs at one core's FMA peak.
    peak = fma_peak()
    if peak:
        print("FMA peak, one core: %.1f GFLOP/s (%d-bit vectors)" % peak)

    rows = []
    for config_path, seq_len in itertools.product(opts.configs, opts.seq_lens):
        with tempfile.TemporaryDirectory() as tmp:
            name, static, config = fixed_size_config(config_path, opts.batch, seq_len, tmp)
            lib = compile_config(static, opts.tools, tmp)
            flops = layer_flops(opts.tools, static, tmp)
            inputs = make_inputs(config, opts.batch, seq_len, seed=1)
            paths = save_inputs(inputs, tmp)
            run_cmd = [os.path.join(opts.tools, "kha-run"), lib,
                       *["--input=@" + p for p in paths], "--benchmark=%d" % opts.runs]
            tensors = [a for _, a in inputs]
            times = {"kha1": [], "khaN": [], "torch1": [], "torchN": []}
            for _ in range(opts.rounds):
                for key, threads in (("kha1", 1), ("khaN", all_threads)):
                    out = subprocess.run(run_cmd + ["--threads=%d" % threads],
                                         capture_output=True, text=True, check=True).stdout
                    times[key].append(float(re.search(r"median ([0-9.]+) ms", out).group(1)))
                for key, threads in (("torch1", 1), ("torchN", all_threads)):
                    if seq_len > opts.torch_max_seq_len:
                        continue
                    set_threads(torch, threads)
                    with torch.no_grad():
                        kha_layer(config, tensors, dtype=torch.float32)
                        samples = []
                        for _ in range(opts.runs):
                            start = time.perf_counter()
                            kha_layer(config, tensors, dtype=torch.float32)
                            samples.append((time.perf_counter() - start) * 1e3)
                    times[key].append(statistics.median(samples))
            med = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
            rows.append((name, seq_len, flops, med))

    n = all_threads
    print()
    print("| shape (B=%d, f32) | L | kha 1T | kha %dT | kha 1T/%dT | PyTorch 1T | PyTorch %dT "
          "| PyTorch/kha 1T | PyTorch/kha %dT | kha GFLOP/s 1T, %dT "
          "| FLOP floor 1T / kha 1T |" % (opts.batch, n, n, n, n, n))
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, seq_len, flops, med in rows:
        rate = lambda ms: flops / ms / 1e6 if flops else float("nan")
        floor = "%.2f" % (rate(med["kha1"]) / peak[0]) if peak and flops else "-"
        print("| %s | %d | %.2f ms | %.2f ms | %.2fx | %.2f ms | %.2f ms | %.2fx | %.2fx "
              "| %.0f, %.0f | %s |" % (
                  name, seq_len, med["kha1"], med["khaN"], med["kha1"] / med["khaN"],
                  med["torch1"], med["torchN"], med["torch1"] / med["kha1"],
                  med["torchN"] / med["khaN"], rate(med["kha1"]), rate(med["khaN"]), floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
