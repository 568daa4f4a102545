"""Benchmark: what a knock costs in the compiled layer (CPU).

    /usr/bin/python3 bench/knock_overhead.py [--tools build/bin] [--runs 10] [--rounds 3]

For the mha-small shape (D = 512, H = G = 8, d = 64, causal, QK-norm, RoPE, f32,
B = 1) at L in {128, 512, 2048}, compiles the layer with no knock, with KHA-Linear
(Q, K, V linear knocks, folded into the projections by kha-fold-knock), and with
KHA-MLP on values, runs them alternately with kha-run on the same inputs, and
prints the median times and the overhead against no knock. Targets (issue 4):
KHA-Linear <= 1% at L >= 512, KHA-MLP <= 5%.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from kha.check import compile_config  # noqa: E402
from kha.config import LayerConfig  # noqa: E402
from kha.inputs import make_inputs, save_inputs  # noqa: E402

VARIANTS = {
    "none": {"q": "none", "k": "none", "v": "none"},
    "linear": {"q": "linear", "k": "linear", "v": "linear"},
    "mlp": {"q": "none", "k": "none", "v": "mlp"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with open(os.path.join(ROOT, "examples", "mha-small.json")) as f:
        base = json.load(f)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in opts.seq_lens:
            commands = {}
            for name, knock in VARIANTS.items():
                work = os.path.join(tmp, "%s-%d" % (name, seq_len))
                os.makedirs(work)
                config = dict(base, knock=knock, batch=1, seq_len=seq_len)
                path = os.path.join(work, "config.json")
                with open(path, "w") as f:
                    json.dump(config, f)
                lib = compile_config(path, opts.tools, work)
                inputs = make_inputs(LayerConfig.load(path), 1, seq_len, seed=3)
                paths = save_inputs(inputs, work)
                commands[name] = [os.path.join(opts.tools, "kha-run"), lib,
                                  *["--input=@" + p for p in paths],
                                  "--benchmark=%d" % opts.runs]
            times = {name: [] for name in VARIANTS}
            for _ in range(opts.rounds):
                for name, cmd in commands.items():
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                    times[name].append(float(re.search(r"median ([0-9.]+) ms", out).group(1)))
            med = {name: statistics.median(t) for name, t in times.items()}
            rows.append((seq_len, med))

    print("| L | no knock | KHA-Linear (Q, K, V) | overhead | KHA-MLP (V) | overhead |")
    print("|---|---|---|---|---|---|")
    for seq_len, med in rows:
        print("| %d | %.2f ms | %.2f ms | %+.1f%% | %.2f ms | %+.1f%% |" % (
            seq_len, med["none"], med["linear"], 100 * (med["linear"] / med["none"] - 1),
            med["mlp"], 100 * (med["mlp"] / med["none"] - 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
