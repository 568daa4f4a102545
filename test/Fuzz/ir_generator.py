"""A structure-aware generator of kha IR, run through the pipelines.

Generates modules of kha ops (attention blocks with every knock and norm
combination, SDPA with and without masks, the per-head ops) with awkward
shapes -- sizes 0, 1, primes, dynamic, huge (2^33, 2^62) -- and every element
type, about a third of them made invalid on purpose (one size, head count or
type changed), and runs each through kha-opt: the verifier alone, then
--kha-cpu-pipeline and --kha-gpu-pipeline (sm_90a, PTX) with -verify-each.
Every run must end cleanly: exit 0, or exit 1 with an `error:` diagnostic.
A crash, a signal, an LLVM bug-report banner or a run past the time limit is
a failure, and its module is kept (and printed) for a regression test.

usage: ir_generator.py TOOLS_DIR SECONDS [SEED]
"""
import os
import random
import subprocess
import sys
import tempfile
import time

DTYPES = ["f32", "f16", "bf16"]
PIPELINES = [
    [],
    ["--kha-cpu-pipeline", "-verify-each"],
    ["--kha-gpu-pipeline=chip=sm_90a format=isa", "-verify-each"],
]
PER_RUN_SECONDS = 120


def size(rng, small=False):
    """An awkward static size, or '?'."""
    choices = [0, 1, 1, 2, 3, 5, 7, 13, 16, 31, 64, 97]
    if not small:
        choices += [128, 2 ** 33, 2 ** 62, "?", "?", "?"]
    return rng.choice(choices)


def tensor(shape, dtype):
    return "tensor<%sx%s>" % ("x".join(str(s) for s in shape), dtype)


def attention_block(rng):
    dtype = rng.choice(DTYPES)
    G = rng.choice([1, 1, 2, 3, 4])
    r = rng.choice([1, 2, 3, 4])
    H = G * r
    d = rng.choice([1, 2, 8, 12, 16, 64, 0])
    D = rng.choice([H * d, 48, 64, 7, 0]) or 1
    B, L = size(rng), size(rng)
    x = [B, L, D]
    args = [("x", x), ("wq", [D, H * d]), ("wk", [D, G * d]), ("wv", [D, G * d]),
            ("wo", [H * d, D])]
    extras, attrs = "", ["num_heads = %d : i64" % H, "num_kv_heads = %d : i64" % G]
    knock = rng.choice(["none", "linear", "mlp", "linear_v_mlp"])
    if knock in ("linear", "linear_v_mlp"):
        args += [("tq", [d, d]), ("tk", [d, d])]
        extras += " knock_q(%tq) knock_k(%tk)"
    if knock == "linear":
        args += [("tv", [d, d])]
        extras += " knock_v(%tv)"
    if knock in ("mlp", "linear_v_mlp"):
        hidden = rng.choice([d, 2 * d, 3])
        args += [("up", [d, hidden]), ("gate", [d, hidden]), ("down", [hidden, d])]
        extras += " knock_v_mlp(%up, %gate, %down)"
    if rng.random() < 0.5:
        args += [("qn", [d]), ("kn", [d])]
        extras += " qk_norm(%qn, %kn)"
    if rng.random() < 0.5:
        attrs.append("causal")
    if rng.random() < 0.3:
        attrs.append("rope_theta = %r : f64" % rng.choice([10000.0, 0.0, -1.0, 1e300]))
    return dtype, args, x, "kha.attention_block", extras, attrs


def sdpa(rng):
    dtype = rng.choice(DTYPES)
    G = rng.choice([1, 2, 3, 0])
    H = G * rng.choice([1, 2, 4]) if G else rng.choice([1, 2])
    d, dv = rng.choice([1, 8, 16, 64, 0]), rng.choice([1, 8, 16, 64])
    B, L, S = size(rng), size(rng), size(rng)
    args = [("q", [B, L, H, d]), ("k", [B, S, G, d]), ("v", [B, S, G, dv])]
    extras = ""
    if rng.random() < 0.3:
        args.append(("m", rng.choice([[L, S], [B, H, L, S], [B, 1, 1, S], [1, H, 1, S]])))
        extras = " mask(%m)"
    # The destination (destination-passing style): only its shape is read.
    args.append(("o", [B, L, H, dv]))
    extras += " outs(%o)"
    attrs = ["scale = %r : f64" % rng.choice([0.125, 1.0, 0.0, -2.0, 1e30])]
    if rng.random() < 0.5:
        attrs.append("causal")
    return dtype, args, [B, L, H, dv], "kha.sdpa", extras, attrs


def per_head(rng):
    dtype = rng.choice(DTYPES)
    B, L, H, d = size(rng), size(rng), size(rng, small=True) or 1, rng.choice([1, 2, 8, 16, 3])
    x = [B, L, H, d]
    op = rng.choice(["rope", "rms_norm", "linear_knock", "mlp_knock"])
    if op == "rope":
        return dtype, [("x", x)], x, "kha.rope", "", ["theta = 10000.0 : f64"]
    if op == "rms_norm":
        return dtype, [("x", x), ("w", [d])], x, "kha.rms_norm", "", ["epsilon = 1.0e-6 : f64"]
    if op == "linear_knock":
        return dtype, [("x", x), ("t", [d, d])], x, "kha.linear_knock", "", []
    return dtype, [("x", x), ("up", [d, d]), ("gate", [d, d]), ("down", [d, d])], x, \
        "kha.mlp_knock", "", []


def module(rng):
    kind = rng.choice([attention_block, sdpa, sdpa, per_head])
    dtype, args, result, op, extras, attrs = kind(rng)
    broken = rng.random() < 0.35
    if broken:  # one thing wrong: a size, or an element type
        i = rng.randrange(len(args))
        name, shape = args[i]
        if shape and rng.random() < 0.7:
            shape = list(shape)
            j = rng.randrange(len(shape))
            shape[j] = rng.choice([0, 1, 5, 2 ** 40, "?"])
            args[i] = (name, shape)
        else:
            args[i] = (name + ":" + rng.choice([t for t in DTYPES + ["i32"] if t != dtype]),
                       shape)
    params, types, names = [], [], []
    for name, shape in args:
        arg_dtype = dtype
        if ":" in name:
            name, arg_dtype = name.split(":")
        t = tensor(shape, arg_dtype)
        params.append("%%%s: %s" % (name, t))
        types.append(t)
        names.append("%" + name)
    out = tensor(result, dtype)
    per_head_op = op in ("kha.rope", "kha.rms_norm", "kha.linear_knock", "kha.mlp_knock")
    attr = "{%s}" % ", ".join(attrs) if attrs else ""
    if per_head_op:
        body = "%%y = %s %s %s : %s" % (op, ", ".join(names), attr, ", ".join(types))
    else:
        first = names[:5] if op == "kha.attention_block" else names[:3]
        body = "%%y = %s %s%s %s : (%s) -> %s" % (op, ", ".join(first), extras, attr,
                                               ", ".join(types), out)
    text = "func.func @f(%s) -> %s {\n  %s\n  return %%y : %s\n}\n" % (
        ", ".join(params), out, body, out)
    return text, broken


def clean(proc):
    """Exit 0, or 1 with a diagnostic; nothing else."""
    text = proc.stderr
    crashed = ("PLEASE submit a bug report" in text or "Stack dump" in text or
               "Assertion" in text or "UNREACHABLE" in text)
    if crashed:
        return False
    return proc.returncode == 0 or (proc.returncode == 1 and "error:" in text)


def main():
    tools, seconds = sys.argv[1], float(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20261130
    rng = random.Random(seed)
    kha_opt = os.path.join(tools, "kha-opt")
    keep = tempfile.mkdtemp(prefix="kha-ir-fuzz-")
    start, runs, modules, invalid, accepted, failures = time.time(), 0, 0, 0, 0, []
    while time.time() - start < seconds:
        text, broken = module(rng)
        modules += 1
        invalid += broken
        path = os.path.join(keep, "m%d.mlir" % modules)
        with open(path, "w") as f:
            f.write(text)
        for pipeline in PIPELINES:
            try:
                proc = subprocess.run([kha_opt, path, "-o", os.devnull, *pipeline],
                                      capture_output=True, text=True,
                                      timeout=PER_RUN_SECONDS)
                ok = clean(proc)
                why = proc.stderr.strip().splitlines()[-1:] if not ok else []
            except subprocess.TimeoutExpired:
                ok, why = False, ["timed out after %d s" % PER_RUN_SECONDS]
            runs += 1
            if not ok:
                failures.append((path, pipeline, why))
                break
            if not pipeline and proc.returncode != 0:
                break  # the verifier refused it: nothing to lower
            if not pipeline:
                accepted += 1
    print("%d modules (%d made invalid on purpose, %d accepted by the verifier), "
          "%d kha-opt runs in %.0f s, seed %d" % (modules, invalid, accepted, runs,
                                                  time.time() - start, seed))
    for path, pipeline, why in failures:
        print("FAIL: kha-opt %s %s: %s" % (path, " ".join(pipeline), " ".join(why)))
        print(open(path).read())
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
