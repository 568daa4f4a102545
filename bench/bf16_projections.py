"""Benchmark: bf16 projections, f32 products of widened operands against bf16
weight panels, side by side.

    /usr/bin/python3 bench/bf16_projections.py [--tools build/bin]
        [--shapes 1x1536x4096 512x1536x4096 ...] [--modes none widen]
        [--runs 50] [--rounds 5] [--threads 1]

For each shape M x K x N, kha compiles `@proj(x: bf16[M, K], W: bf16[K, N]
{kha.weight}) -> bf16[M, N]` (f32 accumulation, the result rounded to bf16)
once per `kha-compile --bf16-dot` mode:

  - none:  the weight widened to f32 panels once (prepare function), the
           activations widened to an f32 copy per call, f32 FMAs;
  - widen: the weight kept in bf16, packed in pairs along K (half the bytes),
           widened in registers, f32 FMAs (the AVX512-BF16 dot products' code
           with each dot product as two FMAs);
  - emulate, avx512bf16: the dot products' code, the instruction emulated
           (slow, for checking) or real (needs the CPU feature).

`kha-run --benchmark` times each library's per-call function (the weights
prepared once); the rounds alternate between the modes, so that a noisy host
affects all. The table gives the medians of the rounds' medians and each
mode's time over the first mode's. M = 1 is a decoding step, whose time is
reading the weights; M = 512 a prefill, whose time is the FMAs.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_SHAPES = ["1x512x512", "1x1536x4096", "1x4096x1536", "512x512x512", "512x1536x4096"]


def projection_mlir(m, k, n):
    text = """func.func @proj(%x: tensor<MxKxbf16>, %w: tensor<KxNxbf16> {kha.weight}) -> tensor<MxNxbf16> {
  %xf = arith.extf %x : tensor<MxKxbf16> to tensor<MxKxf32>
  %wf = arith.extf %w : tensor<KxNxbf16> to tensor<KxNxf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<MxNxf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<MxNxf32>) -> tensor<MxNxf32>
  %y = linalg.matmul ins(%xf, %wf : tensor<MxKxf32>, tensor<KxNxf32>) outs(%c : tensor<MxNxf32>) -> tensor<MxNxf32>
  %r = arith.truncf %y : tensor<MxNxf32> to tensor<MxNxbf16>
  return %r : tensor<MxNxbf16>
}
"""
    return text.replace("MxK", "%dx%d" % (m, k)).replace("KxN", "%dx%d" % (k, n)) \
               .replace("MxN", "%dx%d" % (m, n))


def median_ms(tools, lib, runs, threads):
    out = subprocess.run([os.path.join(tools, "kha-run"), lib, "--random=1",
                          "--benchmark=%d" % runs, "--threads=%d" % threads],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES)
    parser.add_argument("--modes", nargs="+", default=["none", "widen"])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    opts = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in opts.shapes:
            m, k, n = (int(v) for v in shape.split("x"))
            src = os.path.join(tmp, "proj.mlir")
            with open(src, "w") as f:
                f.write(projection_mlir(m, k, n))
            libs = {}
            for mode in opts.modes:
                libs[mode] = os.path.join(tmp, "proj_%s_%s.so" % (shape, mode))
                subprocess.run([os.path.join(opts.tools, "kha-compile"), src,
                                "--bf16-dot=" + mode, "-o", libs[mode]]
                               + ([] if opts.threads > 1 else ["--no-threads"]), check=True)
            medians = {mode: [] for mode in opts.modes}
            for _ in range(opts.rounds):
                for mode in opts.modes:
                    medians[mode].append(median_ms(opts.tools, libs[mode], opts.runs,
                                                   opts.threads))
            rows.append((shape, {mode: statistics.median(v) for mode, v in medians.items()}))
    first = opts.modes[0]
    print("%d thread(s), %d rounds of %d calls; medians of the rounds' medians" % (
        opts.threads, opts.rounds, opts.runs))
    print()
    print("| M x K x N | " + " | ".join(opts.modes) + " | "
          + " | ".join("%s / %s" % (mode, first) for mode in opts.modes[1:]) + " |")
    print("|---|" + "---|" * (2 * len(opts.modes) - 1))
    for shape, med in rows:
        print("| %s | %s | %s |" % (
            shape, " | ".join("%.3f ms" % med[mode] for mode in opts.modes),
            " | ".join("%.2f" % (med[mode] / med[first]) for mode in opts.modes[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
