"""Benchmark: what a knock costs in the compiled layer (CPU).

    /usr/bin/python3 bench/knock_overhead.py [--tools build/bin] [--runs 10] [--rounds 3]

For the mha-small shape (D = 512, H = G = 8, d = 64, causal, QK-norm, RoPE, f32,
B = 1; `--config` picks another, e.g. paper-main) at L in {128, 512, 2048}, compiles the layer with no knock, with KHA-Linear
(Q, K, V linear knocks, folded into the projections by kha-fold-knock), and with
KHA-MLP on values, in two forms: weights as runtime arguments (the folded weights
W T are computed on every call, a cost of D*N*d*d) and weights embedded as
constants (kha-translate --weights; the fold happens at compile time: inference).
Runs all alternately with kha-run on the same inputs and prints the median times
and the overhead against no knock. Targets (issue 4): KHA-Linear <= 1% at
L >= 512, KHA-MLP <= 5%. Wall-clock times on a shared host are noisy;
`--instructions --seq-lens 512` counts instructions with callgrind instead.

With runtime weights the compiler outlines the folds into kha_layer_prepare,
which kha-run calls once; `--instructions --runtime-weights` counts the
instructions of the per-call function only (callgrind --toggle-collect on
_mlir_ciface_kha_layer_prepared, or _mlir_ciface_kha_layer where nothing was
outlined), beside the whole layer called every time (kha-run --no-prepare)
and the prepare function's own count. Targets (issue 12): KHA-Linear within 2%
of no knock per call at L = 512, KHA-MLP within 5%.
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
    parser.add_argument("--config", default="mha-small",
                        help="an examples/ config name or a config JSON path whose shape is "
                             "measured (its knock is replaced by each variant)")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions with callgrind instead of timing "
                             "(deterministic; embedded weights; AVX2 code, as "
                             "valgrind does not decode AVX-512)")
    parser.add_argument("--runtime-weights", action="store_true",
                        help="with --instructions: weights as arguments; count the "
                             "per-call function (the weights prepared once), the whole "
                             "layer per call, and the preparation")
    opts = parser.parse_args()
    if opts.instructions and opts.runtime_weights:
        return count_runtime_weight_instructions(opts)
    if opts.instructions:
        return count_instructions(opts)
    base = load_config(opts.config)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in opts.seq_lens:
            commands = {}
            for name, knock in VARIANTS.items():
                for form in ("args", "const"):
                    work = os.path.join(tmp, "%s-%s-%d" % (name, form, seq_len))
                    os.makedirs(work)
                    config = dict(base, knock=knock, batch=1, seq_len=seq_len)
                    path = os.path.join(work, "config.json")
                    with open(path, "w") as f:
                        json.dump(config, f)
                    inputs = make_inputs(LayerConfig.load(path), 1, seq_len, seed=3)
                    paths = save_inputs(inputs, work)
                    mlir = os.path.join(work, "layer.mlir")
                    lib = os.path.join(work, "layer.so")
                    translate = [os.path.join(opts.tools, "kha-translate"),
                                 "--import-layer-config", path, "-o", mlir]
                    if form == "const":
                        translate.append("--weights=" + work)
                        paths = paths[:1]
                    subprocess.run(translate, check=True)
                    subprocess.run([os.path.join(opts.tools, "kha-compile"), mlir,
                                    "--target=cpu", "-o", lib], check=True)
                    commands[(name, form)] = [os.path.join(opts.tools, "kha-run"), lib,
                                              *["--input=@" + p for p in paths],
                                              "--benchmark=%d" % opts.runs, "--threads=1"]
            times = {key: [] for key in commands}
            for _ in range(opts.rounds):
                for name, cmd in commands.items():
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                    times[name].append(float(re.search(r"median ([0-9.]+) ms", out).group(1)))
            med = {key: statistics.median(t) for key, t in times.items()}
            rows.append((seq_len, med))

    for form, title in (("const", "weights embedded as constants (inference)"),
                        ("args", "weights as runtime arguments")):
        print("\n%s:\n" % title)
        print("| L | no knock | KHA-Linear (Q, K, V) | overhead | KHA-MLP (V) | overhead |")
        print("|---|---|---|---|---|---|")
        for seq_len, med in rows:
            none, lin, mlp = (med[(n, form)] for n in ("none", "linear", "mlp"))
            print("| %d | %.2f ms | %.2f ms | %+.1f%% | %.2f ms | %+.1f%% |" % (
                seq_len, none, lin, 100 * (lin / none - 1), mlp, 100 * (mlp / none - 1)))
    return 0


def load_config(name):
    path = name if os.path.exists(name) else os.path.join(ROOT, "examples", name + ".json")
    with open(path) as f:
        return json.load(f)


def build_haswell(opts, tmp, base, name, knock, seq_len, embed):
    """One variant's layer (B = 1), compiled for AVX2 (what valgrind
    decodes): (its directory, the input paths, the library)."""
    work = os.path.join(tmp, "%s-%d" % (name, seq_len))
    os.makedirs(work)
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(dict(base, knock=knock, batch=1, seq_len=seq_len), f)
    paths = save_inputs(make_inputs(LayerConfig.load(path), 1, seq_len, seed=3), work)
    mlir, lib = os.path.join(work, "layer.mlir"), os.path.join(work, "layer.so")
    subprocess.run([os.path.join(opts.tools, "kha-translate"), "--import-layer-config", path,
                    *(["--weights=" + work] if embed else []), "-o", mlir], check=True)
    # One thread: instruction counts of OpenMP threads waiting for work would
    # depend on the scheduler.
    subprocess.run([os.path.join(opts.tools, "kha-compile"), mlir, "--target=cpu",
                    "--mcpu=haswell", "--no-threads", "-o", lib], check=True)
    return work, paths, lib


def count_instructions(opts):
    """Instructions of one kha-run (3 calls) per variant, weights embedded."""
    base = load_config(opts.config)
    print("| L | no knock | KHA-Linear (Q, K, V) | overhead | KHA-MLP (V) | overhead |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in opts.seq_lens:
            counts = {}
            for name, knock in VARIANTS.items():
                work, paths, lib = build_haswell(opts, tmp, base, name, knock, seq_len, True)
                out = subprocess.run(["valgrind", "--tool=callgrind",
                                      "--callgrind-out-file=" + os.path.join(work, "cg.out"),
                                      os.path.join(opts.tools, "kha-run"), lib,
                                      "--input=@" + paths[0], "--benchmark=2"],
                                     capture_output=True, text=True, check=True).stderr
                counts[name] = int(re.search(r"Collected : ([0-9]+)", out).group(1))
            none = counts["none"]
            print("| %d | %d | %d | %+.2f%% | %d | %+.2f%% |" % (
                seq_len, none, counts["linear"], 100 * (counts["linear"] / none - 1),
                counts["mlp"], 100 * (counts["mlp"] / none - 1)))
    return 0


def callgrind(work, cmd, functions):
    """Instructions executed inside each of `functions` (inclusive), one
    callgrind run of `cmd`."""
    out_file = os.path.join(work, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file, *cmd],
                   capture_output=True, text=True, check=True)
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                           out_file], capture_output=True, text=True, check=True).stdout
    counts = {}
    for name in functions:
        match = re.search(r"^\s*([0-9,]+)\s.*[ :]%s(?:'2)?\s" % re.escape(name), text, re.M)
        counts[name] = int(match.group(1).replace(",", "")) if match else 0
    return counts


def count_runtime_weight_instructions(opts):
    """Per-call instructions with the weights as arguments (2 calls each)."""
    base = load_config(opts.config)
    print("| L | layer | per call, weights prepared once | per call, whole layer "
          "(--no-prepare) | preparation, once |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in opts.seq_lens:
            counts = {}
            for name, knock in VARIANTS.items():
                work, paths, lib = build_haswell(opts, tmp, base, name, knock, seq_len, False)
                listing = subprocess.run([os.path.join(opts.tools, "kha-run"), lib, "--list"],
                                         capture_output=True, text=True, check=True).stdout
                prepared = "kha_layer_prepared (" in listing
                # Two calls (one warm-up, one timed) per run.
                run = [os.path.join(opts.tools, "kha-run"), lib,
                       *["--input=@" + p for p in paths], "--benchmark=1"]
                entry, rest, prep = ("_mlir_ciface_kha_layer", "_mlir_ciface_kha_layer_prepared",
                                     "_mlir_ciface_kha_layer_prepare")
                if prepared:
                    split = callgrind(work, run, [rest, prep])
                    whole = callgrind(work, run + ["--no-prepare"], [entry])[entry]
                    counts[name] = (split[rest] / 2, whole / 2, split[prep])
                else:
                    whole = callgrind(work, run, [entry])[entry]
                    counts[name] = (whole / 2, whole / 2, 0)
            none = counts["none"][0]
            for name in ("none", "linear", "mlp"):
                per_call, whole, once = counts[name]
                print("| %d | %s | %d (%+.2f%%) | %d (%+.2f%%) | %d |" % (
                    seq_len, name, per_call, 100 * (per_call / none - 1), whole,
                    100 * (whole / none - 1), once))
    return 0


if __name__ == "__main__":
    sys.exit(main())
