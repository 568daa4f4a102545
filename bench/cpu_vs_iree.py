"""Benchmark: the compiled KHA layer against IREE's llvm-cpu on the same linalg.

    /usr/bin/python3 bench/cpu_vs_iree.py [--tools build/bin] [--iree build/iree-python]
        [--configs examples/mha-small.json ...] [--seq-len 512] [--runs 10] [--rounds 3]

For each layer configuration (at B = 1, L = --seq-len, f32) kha's expanded
linalg (kha-opt --kha-expand-attention-block --kha-fold-knock
--kha-lower-to-linalg: the route an IREE user takes) is compiled by IREE's
compiler for its llvm-cpu backend and this host's CPU, and benchmarked with
IREE's iree-benchmark-module on one worker thread and on all the cores; the
same layer compiled by kha-compile runs with kha-run --threads=1 and
--threads=N on the same .npy inputs. Rounds alternate between the four so that
a noisy host affects all; the medians of all runs are reported with the
ratios. IREE comes from the iree-base-compiler and iree-base-runtime wheels
that scripts/setup.sh unpacks into build/iree-python.
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers import fixed_size_config  # noqa: E402

LOWER = ["--kha-expand-attention-block", "--kha-fold-knock", "--kha-lower-to-linalg",
         "--canonicalize", "--cse"]


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd[:2]), proc.stderr[-2000:]))
    return proc.stdout


def iree_median_ms(benchmark, vmfb, inputs, threads, runs):
    """The median time of `runs` calls of kha_layer in IREE's benchmark tool."""
    out = run([benchmark, "--device=local-task", "--module=" + vmfb,
               "--function=kha_layer", *["--input=@" + p for p in inputs],
               "--task_topology_group_count=%d" % threads,
               "--benchmark_repetitions=%d" % runs, "--benchmark_format=json"])
    report = json.loads(out[out.index("{"):])
    for entry in report["benchmarks"]:
        if entry.get("aggregate_name") == "median":
            scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[entry["time_unit"]]
            return entry["real_time"] * scale
    raise RuntimeError("no median in iree-benchmark-module's report")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--iree", default=os.path.join(ROOT, "build", "iree-python"))
    parser.add_argument("--configs", nargs="+",
                        default=[os.path.join(ROOT, "examples", "mha-small.json")])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()

    sys.path.insert(0, opts.iree)
    os.environ["IREE_TOOL_PATH"] = os.path.join(opts.iree, "iree", "compiler", "_mlir_libs")
    try:
        import iree.compiler as compiler
        import iree.compiler.version as version
    except ImportError as e:
        print("IREE's Python packages are not in %s (%s): run scripts/setup.sh" % (opts.iree, e))
        return 1
    benchmark = os.path.join(opts.iree, "iree", "_runtime_libs", "iree-benchmark-module")
    from kha.check import compile_config
    from kha.inputs import make_inputs, save_inputs

    threads = os.cpu_count() or 1
    print("IREE %s (llvm-cpu, --iree-llvmcpu-target-cpu=host), %d cores"
          % (getattr(version, "VERSION", "?"), threads))
    rows = []
    for config_path in opts.configs:
        with tempfile.TemporaryDirectory() as tmp:
            name, static, config = fixed_size_config(config_path, 1, opts.seq_len, tmp)
            lib = compile_config(static, opts.tools, tmp)
            imported = run([os.path.join(opts.tools, "kha-translate"),
                            "--import-layer-config", static])
            linalg = run([os.path.join(opts.tools, "kha-opt"), "-", *LOWER], input=imported)
            vmfb = os.path.join(tmp, name + ".vmfb")
            with open(vmfb, "wb") as f:
                f.write(compiler.compile_str(
                    linalg, target_backends=["llvm-cpu"],
                    extra_args=["--iree-llvmcpu-target-cpu=host"]))
            paths = save_inputs(make_inputs(config, 1, opts.seq_len, seed=1), tmp)
            kha_run = [os.path.join(opts.tools, "kha-run"), lib,
                       *["--input=@" + p for p in paths], "--benchmark=%d" % opts.runs]
            times = {"kha1": [], "khaN": [], "iree1": [], "ireeN": []}
            for _ in range(opts.rounds):
                for key, n in (("kha1", 1), ("khaN", threads)):
                    out = run(kha_run + ["--threads=%d" % n])
                    times[key].append(float(re.search(r"median ([0-9.]+) ms", out).group(1)))
                for key, n in (("iree1", 1), ("ireeN", threads)):
                    times[key].append(iree_median_ms(benchmark, vmfb, paths, n, opts.runs))
            rows.append((name, {k: statistics.median(v) for k, v in times.items()}))

    n = threads
    print()
    print("| shape (B=1, L=%d, f32) | kha 1T | IREE 1T | IREE/kha 1T | kha %dT | IREE %dT "
          "| IREE/kha %dT |" % (opts.seq_len, n, n, n))
    print("|---|---|---|---|---|---|---|")
    for name, med in rows:
        print("| %s | %.2f ms | %.2f ms | %.2fx | %.2f ms | %.2f ms | %.2fx |" % (
            name, med["kha1"], med["iree1"], med["iree1"] / med["kha1"], med["khaN"],
            med["ireeN"], med["ireeN"] / med["khaN"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
