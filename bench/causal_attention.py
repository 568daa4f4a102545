"""Benchmark: causal against full attention on the CPU (kha.sdpa alone).

    /usr/bin/python3 bench/causal_attention.py [--lengths 512 1024 2048] [--runs 10] [--rounds 3]

For each length L, two functions of one kha.sdpa each (B = 1, H = 8, d = 64,
f32, S = L), one with the causal mask and one without, are compiled with
kha-compile --target=cpu and run with kha-run --benchmark on the same random
inputs, in alternating rounds. The CPU path tiles kha.sdpa by 64 query rows
and reads a causal tile's keys only up to its last row, so the causal
function should take about half the time of the full one (9/16 of the pairs
at L = 512, tending to 1/2). Reported: the medians of all runs, their ratio,
the ratio of FLOPs kha-cost-report counts for the two, and the attention
rate (the cost report's FLOPs over the median time).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from kha.text import sdpa_function  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEADS, HEAD_DIM = 8, 64


def module(length, causal):
    shape = "tensor<1x%dx%dx%dxf32>" % (length, HEADS, HEAD_DIM)
    return sdpa_function(shape, shape, shape, 0.125, causal, name="attention")


def cost_flops(tools, path):
    out = subprocess.run([os.path.join(tools, "kha-opt"), path, "--kha-cost-report",
                          "-o", os.devnull], capture_output=True, text=True, check=True).stderr
    return int(re.search(r"total cost of 'attention': (\d+) FLOPs", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for length in opts.lengths:
            rng = np.random.default_rng(length)
            inputs = []
            for name in ("q", "k", "v"):
                path = os.path.join(tmp, "%s%d.npy" % (name, length))
                np.save(path, rng.standard_normal((1, length, HEADS, HEAD_DIM),
                                                  dtype=np.float32))
                inputs.append("--input=@" + path)
            commands, flops = {}, {}
            for causal in (False, True):
                stem = os.path.join(tmp, "%s%d" % ("causal" if causal else "full", length))
                with open(stem + ".mlir", "w") as f:
                    f.write(module(length, causal))
                subprocess.run([os.path.join(opts.tools, "kha-compile"), stem + ".mlir",
                                "--target=cpu", "-o", stem + ".so"], check=True)
                flops[causal] = cost_flops(opts.tools, stem + ".mlir")
                commands[causal] = [os.path.join(opts.tools, "kha-run"), stem + ".so",
                                    *inputs, "--benchmark=%d" % opts.runs, "--threads=1"]
            times = {False: [], True: []}
            for _ in range(opts.rounds):
                for causal in (False, True):
                    out = subprocess.run(commands[causal], capture_output=True, text=True,
                                         check=True).stdout
                    times[causal].append(float(re.search(r"median ([0-9.]+) ms", out).group(1)))
            med = {c: statistics.median(t) for c, t in times.items()}
            rows.append((length, med, flops))

    print("| L (B 1, H 8, d 64, f32) | full | causal | causal / full time "
          "| causal / full FLOPs (cost report) | full GFLOP/s | causal GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for length, med, flops in rows:
        print("| %d | %.2f ms | %.2f ms | %.2f | %.2f | %.1f | %.1f |" % (
            length, med[False], med[True], med[True] / med[False], flops[True] / flops[False],
            flops[False] / med[False] / 1e6, flops[True] / med[True] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
