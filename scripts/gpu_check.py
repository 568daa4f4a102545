"""The GPU check: kha's CUDA libraries on a real GPU, in one short run.

Here (a machine with kha built, no GPU needed):

    /usr/bin/python3 scripts/gpu_check.py prepare DIR

compiles, with kha-compile --target=cuda, the 36 cases of the random
numerics suite (test/Integration/cpu/numerics.py), the four example layers
at small sizes, and an attention-only module for timing, and copies kha-run
beside them (a few MB; nothing that links MLIR). On the GPU machine (CUDA
driver, PyTorch; the repository for python/kha):

    python3 scripts/gpu_check.py run DIR [--chip-check]

runs every case on the GPU with kha-run --device=cuda against the float64
reference at the contract's tolerances, calls one from Python (kha.Library),
runs compute-sanitizer memcheck on one case, and times kha's attention kernel against
torch.nn.functional.scaled_dot_product_attention on the same inputs (CUDA
events, medians). Prints one table; ends with "N passed, M failed".
scripts/gpu-check.sh wraps both steps.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "cpu"))

# Attention timing shapes: (B, L, H, G, d, dtype), causal.
TIMING = [(1, 2048, 32, 4, 128, "f16"), (1, 2048, 32, 4, 128, "f32"),
          (4, 1024, 8, 8, 64, "f16")]


def attention_module(B, L, H, G, d, dtype):
    t = lambda n: "tensor<%dx%dx%dx%dx%s>" % (B, L, n, d, dtype)
    return ("func.func @attn(%%q: %s, %%k: %s, %%v: %s) -> %s {\n"
            "  %%o = kha.sdpa %%q, %%k, %%v {causal, scale = %r : f64} : (%s, %s, %s) -> %s\n"
            "  return %%o : %s\n}\n" % (t(H), t(G), t(G), t(H), d ** -0.5,
                                        t(H), t(G), t(G), t(H), t(H)))


def prepare(opts):
    from numerics import cases
    tools = opts.tools
    os.makedirs(opts.dir, exist_ok=True)
    plan = {"numerics": [], "timing": []}

    def compile_layer(name, config):
        cfg_path = os.path.join(opts.dir, name + ".json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        mlir = os.path.join(opts.dir, name + ".mlir")
        subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config", cfg_path,
                        "-o", mlir], check=True)
        subprocess.run([os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                        "--cuda-chip=" + opts.chip, "-o", os.path.join(opts.dir, name + ".so")],
                       check=True)
        os.remove(mlir)

    for n, (config, B, L) in enumerate(cases()):
        name = "case-%02d" % n
        compile_layer(name, config)
        plan["numerics"].append({"name": name, "batch": B, "seq_len": L})
    for example in ("mha-small", "mqa", "paper-main", "dense-1.68B"):
        with open(os.path.join(ROOT, "examples", example + ".json")) as f:
            config = json.load(f)
        config.update(batch=None, seq_len=None)
        compile_layer(example, config)
        plan["numerics"].append({"name": example, "batch": 2, "seq_len": 77})
    for i, shape in enumerate(TIMING):
        name = "attn-%d" % i
        mlir = os.path.join(opts.dir, name + ".mlir")
        with open(mlir, "w") as f:
            f.write(attention_module(*shape))
        subprocess.run([os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                        "--cuda-chip=" + opts.chip, "-o", os.path.join(opts.dir, name + ".so")],
                       check=True)
        os.remove(mlir)
        plan["timing"].append({"name": name, "shape": shape})
    shutil.copy(os.path.join(tools, "kha-run"), os.path.join(opts.dir, "kha-run"))
    with open(os.path.join(opts.dir, "plan.json"), "w") as f:
        json.dump(plan, f, indent=1)
    size = sum(os.path.getsize(os.path.join(opts.dir, p)) for p in os.listdir(opts.dir))
    print("prepared %d libraries in %s (%.1f MB) for %s" % (
        len(plan["numerics"]) + len(plan["timing"]), opts.dir, size / 1e6, opts.chip))
    return 0


def run_layer(kha_run, lib, inputs, tmp, extra=()):
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(tmp, "in%d.npy" % i))
        import numpy as np
        np.save(paths[-1], a)
    out = os.path.join(tmp, "y.npy")
    cmd = [*extra, kha_run, lib, "--device=cuda", *["--input=@" + p for p in paths],
           "--output=@" + out]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return done, out


def run(opts):
    import numpy as np
    import torch
    from kha.config import LayerConfig
    from kha.inputs import make_inputs
    from kha.reference import TOLERANCE, kha_layer, relative_error

    with open(os.path.join(opts.dir, "plan.json")) as f:
        plan = json.load(f)
    kha_run = os.path.join(opts.dir, "kha-run")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print("GPU check on %s (torch %s)" % (device, torch.__version__))
    passed = failed = 0
    print("\n| case | dtype | B | L | error | tolerance | result |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for item in plan["numerics"]:
            lib = os.path.join(opts.dir, item["name"] + ".so")
            cfg = LayerConfig.load(os.path.join(opts.dir, item["name"] + ".json"))
            inputs = [a for _, a in make_inputs(cfg, item["batch"], item["seq_len"], seed=11)]
            done, out = run_layer(kha_run, lib, inputs, tmp)
            if done.returncode != 0:
                ok, err = False, float("nan")
                note = "FAIL: " + (done.stderr.strip().splitlines() or ["?"])[-1][:100]
            else:
                ref = kha_layer(cfg, inputs).numpy()
                err = relative_error(np.load(out), ref)
                ok = err < TOLERANCE[cfg.dtype]
                note = "ok" if ok else "FAIL"
            passed += ok
            failed += not ok
            print("| %s | %s | %d | %d | %.3g | %g | %s |" % (
                item["name"], cfg.dtype, item["batch"], item["seq_len"], err,
                TOLERANCE[cfg.dtype], note))

        # The same library called from Python (kha.Library: numpy to and from
        # the GPU through the library's runtime; no MLIR needed).
        from kha.runtime import Library
        item = plan["numerics"][-3]  # mqa
        cfg = LayerConfig.load(os.path.join(opts.dir, item["name"] + ".json"))
        inputs = [a for _, a in make_inputs(cfg, 2, 37, seed=7)]
        try:
            y = Library(os.path.join(opts.dir, item["name"] + ".so")).kha_layer(*inputs)
            err = relative_error(y, kha_layer(cfg, inputs).numpy())
            ok = err < TOLERANCE[cfg.dtype]
            print("\nkha.Library (Python) on %s, B=2, L=37: error %.3g: %s" % (
                item["name"], err, "ok" if ok else "FAIL"))
        except Exception as e:  # report, count, go on
            ok = False
            print("\nkha.Library (Python) on %s: FAIL: %s" % (item["name"], e))
        passed += ok
        failed += not ok

        # compute-sanitizer memcheck on one GQA case with a ragged L.
        sanitizer = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
        item = plan["numerics"][-3]  # mqa
        cfg = LayerConfig.load(os.path.join(opts.dir, item["name"] + ".json"))
        inputs = [a for _, a in make_inputs(cfg, 2, 37, seed=5)]
        if os.path.exists(sanitizer):
            done, _ = run_layer(kha_run, os.path.join(opts.dir, item["name"] + ".so"), inputs, tmp,
                                extra=(sanitizer, "--tool", "memcheck", "--error-exitcode", "3"))
            summary = [l for l in done.stdout.splitlines() + done.stderr.splitlines()
                       if "ERROR SUMMARY" in l]
            ok = done.returncode == 0
            print("\ncompute-sanitizer memcheck (%s, B=2, L=37): %s %s" % (
                item["name"], summary[-1] if summary else "", "ok" if ok else "FAIL"))
        else:
            ok = False
            print("\ncompute-sanitizer not found: FAIL")
        passed += ok
        failed += not ok

        # Attention time: kha's kernel vs torch SDPA, same inputs.
        if not torch.cuda.is_available():
            print("\nattention timing: PyTorch sees no GPU: FAIL")
            print("\n%d passed, %d failed" % (passed, failed + 1))
            return 1
        print("\n| attention (causal) | kha median ms | torch SDPA median ms | torch / kha |")
        print("|---|---|---|---|")
        for item in plan["timing"]:
            B, L, H, G, d, dtype = item["shape"]
            dt = {"f16": np.float16, "f32": np.float32}[dtype]
            rng = np.random.default_rng(1)
            q, k, v = (rng.standard_normal((B, L, n, d)).astype(dt) for n in (H, G, G))
            paths = []
            for name, a in (("q", q), ("k", k), ("v", v)):
                paths.append(os.path.join(tmp, name + ".npy"))
                np.save(paths[-1], a)
            out = os.path.join(tmp, "o.npy")
            done = subprocess.run([kha_run, os.path.join(opts.dir, item["name"] + ".so"),
                                   "--device=cuda", *["--input=@" + p for p in paths],
                                   "--output=@" + out, "--benchmark=%d" % opts.runs],
                                  capture_output=True, text=True, timeout=240)
            line = [l for l in done.stdout.splitlines() if l.startswith("benchmark:")]
            kha_ms = float(line[0].split("median ")[1].split(" ms")[0]) if line else float("nan")
            tq, tk, tv = (torch.from_numpy(a).cuda().transpose(1, 2) for a in (q, k, v))
            r = H // G
            tk, tv = tk.repeat_interleave(r, dim=1), tv.repeat_interleave(r, dim=1)
            sdpa = torch.nn.functional.scaled_dot_product_attention
            ref = sdpa(tq.double(), tk.double(), tv.double(), is_causal=True).transpose(1, 2)
            agree = done.returncode == 0 and os.path.exists(out) and relative_error(
                np.load(out).astype(np.float64), ref.cpu().numpy()) < TOLERANCE[dtype]
            times = []
            for _ in range(opts.runs + 1):
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                sdpa(tq, tk, tv, is_causal=True)
                stop.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(stop))
            torch_ms = statistics.median(times[1:])
            passed += agree
            failed += not agree
            print("| B=%d L=%d H=%d G=%d d=%d %s | %.3f | %.3f | %.2f%s |" % (
                B, L, H, G, d, dtype, kha_ms, torch_ms, torch_ms / kha_ms,
                "" if agree else " (kha output FAILS the reference)"))
    print("\n%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir")
    p.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--chip", default="sm_90a")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    return prepare(opts) if opts.command == "prepare" else run(opts)


if __name__ == "__main__":
    sys.exit(main())
