"""One core's single-precision FMA peak, measured: bench/fma_peak.c built for
this CPU (-march=native) with the system C compiler and run a few times; the
best rate is the peak the benchmarks report fractions of.

    /usr/bin/python3 bench/peak.py [--runs 5]
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def fma_peak(runs=5, steps=200000000):
    """(GFLOP/s, vector bits) of one core, or None without a compiler or
    AVX2/AVX-512."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "fma_peak")
        built = subprocess.run(["cc", "-O2", "-march=native", os.path.join(HERE, "fma_peak.c"),
                                "-o", exe], capture_output=True, text=True)
        if built.returncode != 0:
            return None
        best, bits = 0.0, 0
        for _ in range(runs):
            out = subprocess.run([exe, str(steps)], capture_output=True, text=True,
                                 check=True).stdout.split()
            best, bits = max(best, float(out[0])), int(out[1])
        return best, bits


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    peak = fma_peak(opts.runs)
    if peak is None:
        print("no FMA peak: needs cc and a CPU with AVX2+FMA or AVX-512")
        return 1
    print("FMA peak, one core: %.1f GFLOP/s (%d-bit vectors)" % peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
