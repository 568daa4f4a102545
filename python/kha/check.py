"""Compile a layer configuration for the CPU, run it, compare with the reference.

    /usr/bin/python3 -m kha.check CONFIG.json --tools build/bin [--batch B]
        [--seq-len L] [--seed S] [--dtype f32|f16|bf16] [--benchmark N]
        [--compile-flag FLAG]...

Imports the configuration (kha-translate), compiles it (kha-compile), runs it on
seeded random inputs (kha-run) and prints max|y - ref| / max|ref| against the
float64 reference, with the tolerance of docs/semantics.md. Exit status 1
when the error is above the tolerance. `--compile-flag` passes a flag to
kha-compile (e.g. `--compile-flag=--target=cuda --compile-flag=--cuda-on-host`
checks the GPU kernels run on the host). `--dtype` checks the configuration
with another element type. A layer with a key/value cache runs one step on a
cache filled to seven eighths of its capacity (64 rows unless the
configuration fixes it); the updated caches are compared too.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from kha.config import LayerConfig
from kha.inputs import make_inputs, save_inputs
from kha.reference import TOLERANCE, kha_layer, relative_error


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode,
                                                  proc.stderr.strip()))
    return proc.stdout


def compile_config(config_path, tools, workdir, extra_flags=()):
    """Imports and compiles CONFIG for the CPU; returns the library's path."""
    mlir = os.path.join(workdir, "layer.mlir")
    lib = os.path.join(workdir, "layer.so")
    run([os.path.join(tools, "kha-translate"), "--import-layer-config", config_path, "-o", mlir])
    run([os.path.join(tools, "kha-compile"), mlir, "--target=cpu", "-o", lib, *extra_flags])
    return lib


def check(config_path, tools, batch=None, seq_len=None, seed=0, benchmark=0,
          workdir=None, library=None, compile_flags=(), dtype=None):
    """Returns (relative error, tolerance, median ms or None); `dtype`
    overrides the configuration's element type."""
    config = LayerConfig.load(config_path)
    batch = config.batch or batch or 2
    seq_len = config.seq_len or seq_len or 16
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        if dtype and dtype != config.dtype:
            config.dtype = dtype
            raw = config.to_dict()
            raw["batch"], raw["seq_len"] = config.batch, config.seq_len
            config_path = os.path.join(tmp, "config.json")
            with open(config_path, "w") as f:
                json.dump(raw, f)
        lib = library or compile_config(config_path, tools, tmp, compile_flags)
        cache = {}
        if config.kv_cache:
            capacity = config.cache_capacity or 64
            cache = dict(capacity=capacity,
                         cache_length=max(0, min(capacity * 7 // 8, capacity - seq_len)))
        inputs = make_inputs(config, batch, seq_len, seed, **cache)
        paths = save_inputs(inputs, tmp)
        y_path = os.path.join(tmp, "y.npy")
        # A cache length goes by value; the caches are updated in their files.
        given = ["--input=%d" % a if n == "cache_length" else "--input=@" + p
                 for (n, a), p in zip(inputs, paths)]
        cmd = [os.path.join(tools, "kha-run"), lib, "--function=kha_layer", *given,
               "--output=@" + y_path] + (["--update"] if cache else [])
        if benchmark:
            cmd.append("--benchmark=%d" % benchmark)
        out = run(cmd)
        y = np.load(y_path)
        ref = kha_layer(config, [a for _, a in inputs])
        if cache:  # the output and both updated caches
            ref, caches = ref[0].numpy(), ref[1:]
            err = max([relative_error(y, ref)] +
                      [relative_error(np.load(os.path.join(tmp, name + ".npy")), c.numpy())
                       for name, c in zip(("k_cache", "v_cache"), caches)])
        else:
            ref = ref.numpy()
            err = relative_error(y, ref)
        median = None
        match = re.search(r"median ([0-9.]+) ms", out)
        if match:
            median = float(match.group(1))
        return err, TOLERANCE[config.dtype], median


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m kha.check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--tools", required=True, help="folder with kha-translate, kha-compile, kha-run")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["f32", "f16", "bf16"],
                        help="check the configuration in this element type")
    parser.add_argument("--benchmark", type=int, default=0)
    parser.add_argument("--compile-flag", action="append", default=[],
                        help="extra kha-compile flag (repeatable)")
    opts = parser.parse_args(argv)
    err, tol, median = check(opts.config, opts.tools, opts.batch, opts.seq_len, opts.seed,
                             opts.benchmark, compile_flags=opts.compile_flag,
                             dtype=opts.dtype)
    ok = err < tol
    line = "%s: max|y - ref| / max|ref| = %.3g (tolerance %.0e) %s" % (
        os.path.basename(opts.config) + (" (%s)" % opts.dtype if opts.dtype else ""), err, tol,
        "ok" if ok else "FAIL")
    if median is not None:
        line += "; median %.3f ms over %d runs" % (median, opts.benchmark)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
