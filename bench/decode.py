"""Benchmark: one decoding step with a key/value cache on the CPU.

    /usr/bin/python3 bench/decode.py [--lengths 128 512 2048 4096] [--runs 20] [--rounds 3]
        [--threads=N]

The mha-small layer (D = 512, H = G = 8, d = 64, Q/K/V linear knocks, QK-norm,
RoPE) compiled with kv_cache, its weights bound once (kha.Library.bind: the
knock folds run then), decodes one token (B = 1) after n cached tokens. Side
by side, alternating rounds, on one thread (or N with --threads=N, both sides):

  - kha, one step: the compiled layer with the cache (the library writes the
    new key and value rows in place and attends over the n + 1 used rows);
  - PyTorch, one step: the same layer in float32 eager PyTorch with a
    preallocated cache (kha.reference.layer_forward, the knocks unfolded as a
    PyTorch model runs them);
  - kha, no cache: the compiled layer without a cache recomputing all n + 1
    tokens, what decoding cost before the cache.

Medians over all runs, and ratios. PyTorch should use a fast BLAS (see
bench/cpu_vs_pytorch.py; OPENBLAS_CORETYPE is set for the CPU if unset, bench/openblas.py). As
kha-run --benchmark does, glibc is kept from returning large freed buffers to
the system (mallopt), for both sides: otherwise every call pays page faults
for its intermediate buffers.
"""


import argparse
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openblas import set_openblas_coretype, set_threads  # noqa: E402
from timing import timed  # noqa: E402

set_openblas_coretype()
os.environ.setdefault("KHA_CAPI_LIBRARY", os.path.join(ROOT, "build", "lib", "libKHACAPI.so"))
# Both sides on the same number of threads (one unless --threads N): the
# compiled library's OpenMP threads too, read when the runtime starts (on the
# library's first parallel loop), so set before anything runs.
THREADS = next((int(arg.split("=", 1)[1]) for arg in sys.argv[1:]
                if arg.startswith("--threads=")), 1)
os.environ["OMP_NUM_THREADS"] = str(THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kha  # noqa: E402
from kha.config import LayerConfig  # noqa: E402
from kha.inputs import make_inputs  # noqa: E402
from kha.reference import layer_forward  # noqa: E402

LAYER = dict(hidden_size=512, num_attention_heads=8, num_key_value_heads=8, head_dim=64,
             knock={"q": "linear", "k": "linear", "v": "linear"}, qk_norm=True,
             rope_theta=10000.0, causal=True)
NOT_WEIGHTS = ("x", "positions", "attention_mask", "k_cache", "v_cache", "cache_length")


def keep_freed_memory():
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: large blocks from the heap
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: and kept there


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048, 4096])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both sides (give it as --threads=N)")
    opts = parser.parse_args()
    if opts.threads != THREADS or opts.threads < 1:
        parser.error("give the thread count as --threads=N, N >= 1")
    keep_freed_memory()
    set_threads(torch, opts.threads)
    capacity = max(opts.lengths) + 1
    cached = LayerConfig.from_dict(dict(LAYER, kv_cache=True))
    plain = LayerConfig.from_dict(LAYER)
    with tempfile.TemporaryDirectory() as tmp:
        lib_cache = kha.compile(kha.Module.from_layer_config(cached.to_dict()),
                                os.path.join(tmp, "cache.so"))
        lib_plain = kha.compile(kha.Module.from_layer_config(plain.to_dict()),
                                os.path.join(tmp, "plain.so"))
        inputs = make_inputs(cached, 1, 1, 0, capacity=capacity, cache_length=max(opts.lengths))
        named = dict(inputs)
        weights = [a for n, a in inputs if n not in NOT_WEIGHTS]
        step = lib_cache.bind("kha_layer", *weights)
        whole = lib_plain.bind("kha_layer", *weights)
        t = {n: torch.from_numpy(np.array(a)) for n, a in inputs if n not in ("cache_length",)}
        print("| cached tokens n | kha, one step | PyTorch eager, one step | PyTorch / kha | "
              "kha without a cache (n + 1 tokens) | cache speed-up |")
        print("|---|---|---|---|---|---|")
        x1 = named["x"]
        for n in opts.lengths:
            k, v = named["k_cache"], named["v_cache"]
            xs = np.ascontiguousarray(np.repeat(x1, n + 1, axis=1))
            t_n = dict(t, cache_length=torch.tensor(n))
            times = {"kha": [], "torch": [], "whole": []}
            for _ in range(opts.rounds):
                times["kha"] += timed(lambda: step(x1, k, v, n), opts.runs)
                with torch.no_grad():
                    times["torch"] += timed(lambda: layer_forward(cached, t_n), opts.runs)
                times["whole"] += timed(lambda: whole(xs), max(3, opts.runs // 4))
            med = {key: statistics.median(val) for key, val in times.items()}
            print("| %d | %.3f ms | %.3f ms | %.2fx | %.3f ms | %.0fx |" % (
                n, med["kha"], med["torch"], med["torch"] / med["kha"], med["whole"],
                med["whole"] / med["kha"]))


if __name__ == "__main__":
    main()
