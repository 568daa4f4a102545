"""The GPU check: kha's CUDA libraries on a real GPU, in one short run.

Here (a machine with kha built, no GPU needed):

    /usr/bin/python3 scripts/gpu_check.py prepare DIR

compiles, with kha-compile --target=cuda, the 36 cases of the random
numerics suite (test/Integration/cpu/numerics.py), the four example layers
and mqa in bf16 (tensor cores) at dynamic sizes, and for timing: kha's
attention (kha.sdpa alone, bf16, head dim 64 and 128, causal and not, B and
L dynamic), three projection GEMMs (bf16, M = 16384, K = 2048) and the
paper-main layer in bf16 (L = 2048, B dynamic); it copies kha-run beside them
(49 libraries, about 7 MB in all; nothing that links MLIR). On the GPU
machine (CUDA driver, PyTorch, compute-sanitizer; the repository for
python/kha):

    python3 scripts/gpu_check.py run DIR [--rounds N] [--calls N]
                                         [--sections numerics sanitizer ...]

prints, in order (each section a table; sized to finish within 10 minutes):

  numerics   every case on the GPU with kha-run --device=cuda against the
             float64 reference at the contract's tolerances, and one called
             from Python (kha.Library);
  sanitizer  compute-sanitizer memcheck, racecheck and initcheck on every
             example layer and on mqa in bf16 (tensor cores), ragged L;
  attention  kha's attention kernel at 16k tokens (B x L = 16384, L from 512
             to 16384, model width H x d = 2048) against
             torch.nn.functional.scaled_dot_product_attention with each
             backend forced (flash, cuDNN, efficient; "n/a" where this torch
             lacks one), TFLOP/s, after checking kha's output against SDPA's;
  gemm       kha's tensor-core projection GEMM against torch.matmul (cuBLAS);
  layer      the paper-main layer in bf16 against its PyTorch module
             (kha.torch.KHAAttention) eager and under torch.compile, in ms.

Times are medians over rounds that alternate kha and torch, each round timing
--calls back-to-back calls with CUDA events. A kha library call is
synchronous (it allocates its result, launches on its own stream and waits),
so kha gets two figures: "call", the whole call, and "kernel", the GPU time
of its kernels alone from a torch.profiler trace (n/a where that sees none).
The run ends with "N passed, M failed", counting correctness checks only:
timings never fail it. scripts/gpu-check.sh wraps both steps.
"""

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "cpu"))
from kha.text import sdpa_function  # noqa: E402

# Attention timing: head dim -> (query heads, kv heads), the model width
# H x d = 2048 either way; B x L = TOKENS for each L.
ATTENTION_HEADS = {64: (32, 32), 128: (16, 16)}
ATTENTION_SEQ_LENS = [512, 1024, 2048, 4096, 8192, 16384]
TOKENS = 16384
# Projection GEMMs (M, K, N): 16k tokens through a 2048-wide model.
GEMMS = [(TOKENS, 2048, 2048), (TOKENS, 2048, 512), (TOKENS, 2048, 256)]
# The whole layer: paper-main in bf16, checked at B = 1 against float64,
# timed at 16k tokens.
LAYER = {"example": "paper-main", "seq_len": 2048, "batch": TOKENS // 2048}
# Seconds of timing rounds per row at most (24 + 3 + 1 rows: under 4 minutes
# even if a kernel is far slower than expected).
ROW_BUDGET_S = 8.0
SECTIONS = ["numerics", "sanitizer", "attention", "gemm", "layer"]
# Where the timing sections put torch tensors (a test without a GPU may set "cpu").
TORCH_DEVICE = "cuda"


def attention_module(B, L, H, G, d, dtype, causal=True):
    """kha.sdpa alone: q [B, L, H, d], k and v [B, L, G, d] (None: dynamic)."""
    size = lambda n: "?" if n is None else "%d" % n
    t = lambda n: "tensor<%sx%sx%dx%dx%s>" % (size(B), size(L), n, d, dtype)
    return sdpa_function(t(H), t(G), t(G), d ** -0.5, causal)


def projection_module(m, k, n, dtype):
    """A projection as the layer has it (bench/tensor_core_roofline.py): a
    [m, k] x [k, n] matmul of `dtype` operands into an f32 zero-filled
    accumulator, rounded to `dtype`."""
    a, b = "tensor<%dx%dx%s>" % (m, k, dtype), "tensor<%dx%dx%s>" % (k, n, dtype)
    c, y = "tensor<%dx%dxf32>" % (m, n), "tensor<%dx%dx%s>" % (m, n, dtype)
    return ("func.func @projection(%%a: %s, %%b: %s) -> %s {\n"
            "  %%e = tensor.empty() : %s\n  %%z = arith.constant 0.0 : f32\n"
            "  %%f = linalg.fill ins(%%z : f32) outs(%%e : %s) -> %s\n"
            "  %%r = linalg.matmul ins(%%a, %%b : %s, %s) outs(%%f : %s) -> %s\n"
            "  %%t = arith.truncf %%r : %s to %s\n"
            "  return %%t : %s\n}\n" % (a, b, y, c, c, c, a, b, c, c, c, y, y))


# prepare --------------------------------------------------------------------

SANITIZER_TOOLS = ("memcheck", "racecheck", "initcheck")

def prepare(opts):
    from numerics import cases
    tools = opts.tools
    os.makedirs(opts.dir, exist_ok=True)
    plan = {"numerics": [], "sanitizer": {}, "attention": [], "gemm": [], "layer": None}
    # Timing and racecheck libraries must use the tensor cores: a fallback to
    # the CUDA cores is a compile error rather than a slow row.
    tensor_cores = ["--cuda-require-tensor-cores"]

    def compile_module(name, source, flags=(), chip=None):
        mlir = os.path.join(opts.dir, name + ".mlir")
        with open(mlir, "w") as f:
            f.write(source)
        subprocess.run([os.path.join(tools, "kha-compile"), mlir, "--target=cuda",
                        "--cuda-chip=" + (chip or opts.chip), *flags,
                        "-o", os.path.join(opts.dir, name + ".so")], check=True)
        os.remove(mlir)

    # The attention and GEMM timings also run the sm_80 (mma.sync) kernels
    # beside the chip's own (on sm_90a: TMA + wgmma), in the same table.
    baseline = "sm_80" if opts.chip != "sm_80" else None

    def compile_pair(name, source, flags=()):
        compile_module(name, source, flags)
        if baseline:
            compile_module(name + "-" + baseline, source, flags, baseline)
        return name + "-" + baseline if baseline else None

    def compile_layer(name, config, flags=()):
        cfg_path = os.path.join(opts.dir, name + ".json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        mlir = os.path.join(opts.dir, name + ".mlir")
        subprocess.run([os.path.join(tools, "kha-translate"), "--import-layer-config", cfg_path,
                        "-o", mlir], check=True)
        with open(mlir) as f:
            source = f.read()
        compile_module(name, source, flags)

    def example(name, **changes):
        with open(os.path.join(ROOT, "examples", name + ".json")) as f:
            config = json.load(f)
        config.update(changes)
        return config

    for n, (config, B, L) in enumerate(cases()):
        name = "case-%02d" % n
        compile_layer(name, config)
        plan["numerics"].append({"name": name, "batch": B, "seq_len": L})
    for name in ("mha-small", "mqa", "paper-main", "dense-1.68B"):
        compile_layer(name, example(name, batch=None, seq_len=None))
        plan["numerics"].append({"name": name, "batch": 2, "seq_len": 77})
    # mqa in bf16: tensor-core projections and attention (G = 1), checked
    # like the rest and run under racecheck.
    compile_layer("mqa-bf16", example("mqa", batch=None, seq_len=None, dtype="bf16"),
                  tensor_cores)
    plan["numerics"].append({"name": "mqa-bf16", "batch": 2, "seq_len": 77})
    # Every example layer (and mqa in bf16, the tensor-core kernels) under
    # each of compute-sanitizer's checks, with a ragged L.
    plan["sanitizer"] = [{"tool": tool, "name": name, "batch": 2, "seq_len": 37}
                         for name in ("mha-small", "mqa", "paper-main", "dense-1.68B",
                                      "mqa-bf16")
                         for tool in SANITIZER_TOOLS]

    # One attention library per (d, causal), B and L dynamic: it serves
    # every sequence length.
    for d, (H, G) in sorted(ATTENTION_HEADS.items()):
        for causal in (False, True):
            name = "attn-d%d%s" % (d, "-causal" if causal else "")
            other = compile_pair(name, attention_module(None, None, H, G, d, "bf16", causal),
                                 tensor_cores)
            plan["attention"].append({"name": name, "heads": H, "kv_heads": G, "head_dim": d,
                                      "causal": causal, "seq_lens": ATTENTION_SEQ_LENS,
                                      "tokens": TOKENS, "baseline": other,
                                      "chip": opts.chip})
    for m, k, n in GEMMS:
        name = "gemm-%dx%dx%d" % (m, k, n)
        other = compile_pair(name, projection_module(m, k, n, "bf16"), tensor_cores)
        plan["gemm"].append({"name": name, "m": m, "k": k, "n": n, "baseline": other,
                             "chip": opts.chip})
    name = LAYER["example"] + "-bf16"
    compile_layer(name, example(LAYER["example"], batch=None, seq_len=LAYER["seq_len"],
                                dtype="bf16"), tensor_cores)
    plan["layer"] = {"name": name, "batch": LAYER["batch"], "seq_len": LAYER["seq_len"]}

    shutil.copy(os.path.join(tools, "kha-run"), os.path.join(opts.dir, "kha-run"))
    with open(os.path.join(opts.dir, "plan.json"), "w") as f:
        json.dump(plan, f, indent=1)
    size = sum(os.path.getsize(os.path.join(opts.dir, p)) for p in os.listdir(opts.dir))
    count = sum(p.endswith(".so") for p in os.listdir(opts.dir))
    print("prepared %d libraries in %s (%.1f MB) for %s" % (count, opts.dir, size / 1e6,
                                                             opts.chip))
    return 0


# run: helpers ---------------------------------------------------------------

class Tally:
    """Correctness checks: the run's verdict."""

    def __init__(self):
        self.passed = self.failed = 0

    def add(self, ok):
        self.passed += bool(ok)
        self.failed += not ok
        return ok


def first_line(error, width=160):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:width]


def run_layer(kha_run, lib, inputs, tmp, extra=(), timeout=120):
    """kha-run on `inputs` (numpy arrays, saved as .npy); (process, result path).
    A run past `timeout` seconds comes back with status 124."""
    import numpy as np
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(tmp, "in%d.npy" % i))
        np.save(paths[-1], a)
    out = os.path.join(tmp, "y.npy")
    cmd = [*extra, kha_run, lib, "--device=cuda", *["--input=@" + p for p in paths],
           "--output=@" + out]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        done = subprocess.CompletedProcess(cmd, 124, e.stdout or "",
                                           "timed out after %d s" % timeout)
    return done, out


class DeviceLibrary:
    """A kha library for --target=cuda called on torch CUDA tensors where they
    are: each argument's memref descriptor points at the tensor's memory (the
    library's runtime uses device 0's primary context, as torch does), and the
    result stays on the GPU until `result` copies it into a torch tensor.
    kha.Library does the same from numpy arrays, with copies each way.

    A call is synchronous: the library's host code allocates the result
    (cuMemAlloc), launches its kernels on a stream of its own and waits for
    them. That stream does not wait for torch's, so torch's work on the
    arguments must be finished first (torch.cuda.synchronize())."""

    _DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}

    def __init__(self, path):
        from kha.runtime import LibraryError, parse_manifest
        self.Error = LibraryError
        self.path = os.path.abspath(path)
        self._dll = ctypes.CDLL(self.path)
        start = ctypes.addressof(ctypes.c_char.in_dll(self._dll, "kha_manifest"))
        device, self.functions = parse_manifest(ctypes.string_at(start).decode())
        if device != "cuda":
            raise LibraryError("%s is built for %s, not cuda" % (self.path, device))
        p = ctypes.c_void_p
        self._error = self._bind("kha_cuda_last_error", ctypes.c_char_p, [])
        self._free = self._bind("mgpuMemFree", None, [p, p])
        self._copy = self._bind("mgpuMemcpy", None, [p, p, ctypes.c_size_t, p])
        self._sync = self._bind("mgpuStreamSynchronize", None, [p])
        problem = self._bind("kha_cuda_init", ctypes.c_char_p, [])()
        if problem:
            raise LibraryError("cannot use the GPU: " + problem.decode())

    def _bind(self, name, restype, argtypes):
        fn = getattr(self._dll, name)
        fn.restype, fn.argtypes = restype, argtypes
        return fn

    def _check(self, what):
        problem = self._error()
        if problem:
            raise self.Error("%s: %s" % (what, problem.decode()))

    def bind(self, name, *tensors):
        """A function of no arguments that calls @name on `tensors`
        (contiguous, on the GPU, of the arguments' types) and returns the
        result's descriptor (allocated, aligned, offset, sizes, strides),
        still on the GPU. The descriptors are built once, here."""
        import torch
        fn = self.functions[name]
        if len(tensors) != len(fn.args) or len(fn.results) != 1:
            raise self.Error("%s takes %d arguments and has %d results; called with %d"
                             % (name, len(fn.args), len(fn.results), len(tensors)))
        descs = []
        for spec, t in zip(fn.args, tensors):
            if (t.dtype != getattr(torch, self._DTYPES[spec.dtype]) or not t.is_cuda
                    or not t.is_contiguous() or t.dim() != len(spec.shape)
                    or any(want >= 0 and want != got for want, got in zip(spec.shape, t.shape))):
                raise self.Error("argument %s: got a %s%s tensor %s on %s" % (
                    spec.describe(), "" if t.is_contiguous() else "non-contiguous ", t.dtype,
                    list(t.shape), t.device))
            descs.append((ctypes.c_int64 * (3 + 2 * t.dim()))(
                t.data_ptr(), t.data_ptr(), 0, *t.shape, *t.stride()))
        rank = len(fn.results[0].shape)
        result = (ctypes.c_int64 * (3 + 2 * rank))()
        pointers = [ctypes.cast(d, ctypes.c_void_p) for d in [result] + descs]
        entry = self._bind("_mlir_ciface_" + name, None, [ctypes.c_void_p] * len(pointers))
        inputs = {t.data_ptr() for t in tensors}

        def call():
            entry(*pointers)
            self._check(name + " failed on the GPU")
            if result[0] in inputs:
                raise self.Error("%s returned one of its arguments" % name)
            return list(result)
        return call

    def free(self, desc):
        self._free(desc[0], None)

    def result(self, name, desc):
        """The result of a call (its descriptor) as a new torch tensor; frees
        the library's buffer."""
        import torch
        spec = self.functions[name].results[0]
        rank = len(spec.shape)
        sizes, strides = desc[3:3 + rank], desc[3 + rank:3 + 2 * rank]
        out = torch.empty(sizes, dtype=getattr(torch, self._DTYPES[spec.dtype]), device="cuda")
        try:
            if out.numel() and list(strides) != list(out.stride()):
                raise self.Error("%s returned a strided result %s" % (name, strides))
            torch.cuda.synchronize()
            if out.numel():
                self._copy(out.data_ptr(), desc[1] + desc[2] * out.element_size(),
                           out.numel() * out.element_size(), None)
                self._sync(None)
        finally:
            self.free(desc)
        self._check("copying the result of %s failed" % name)
        return out


def gpu_relative_error(y, ref):
    """max|y - ref| / max|ref| on the GPU (NaN when y has NaN)."""
    y, ref = y.float(), ref.float()
    scale = ref.abs().max().item()
    return (y - ref).abs().max().item() / (scale if scale > 0 else 1.0)


def time_rounds(torch, impls, rounds, calls, budget_s=ROW_BUDGET_S):
    """Median milliseconds per call of each implementation in `impls` (label
    -> function of no arguments, or None where there is none): `rounds`
    rounds that alternate the implementations (so that clock or heat drift
    affects all alike), each timing `calls` back-to-back calls between two
    CUDA events. One warm-up call each first. Rounds stop early, after the
    first, once `budget_s` seconds are spent. Labels map to a float, "n/a",
    or the first line of the error the implementation raised."""
    times, live = {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDPA's "kernel not used because ..."
        for label, fn in impls.items():
            if fn is None:
                times[label] = "n/a"
                continue
            try:
                fn()
                torch.cuda.synchronize()
                live.append(label)
            except Exception as e:  # a backend that cannot run these inputs
                times[label] = first_line(e)
        samples = {label: [] for label in live}
        started = time.monotonic()
        for _ in range(rounds):
            for label in live:
                begin, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                torch.cuda.synchronize()
                begin.record()
                for _ in range(calls):
                    impls[label]()
                end.record()
                torch.cuda.synchronize()
                samples[label].append(begin.elapsed_time(end) / calls)
            if time.monotonic() - started > budget_s:
                break
    times.update({label: statistics.median(samples[label]) for label in live})
    return times


def kernel_ms(torch, fn, calls, tmp):
    """GPU milliseconds per call of the kernels `fn` launches, from a CUDA
    trace of torch.profiler (CUPTI sees every kernel of the process, kha's
    included): a kha call without its host work. None when the trace holds
    no kernel or the profiler fails."""
    try:
        from torch.profiler import ProfilerActivity, profile
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(calls):
                    fn()
                torch.cuda.synchronize()
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f).get("traceEvents", [])
    except Exception:
        return None
    total_us = sum(e.get("dur", 0) for e in events if e.get("cat") == "kernel")
    return total_us / 1e3 / calls if total_us else None


def time_against(torch, kha, others, reference, opts, notes, tmp):
    """Times `kha` and `others` ({label: callable or None}) in alternating
    rounds, and kha's kernels alone from a profiler trace. Returns (times by
    label, kha's kernel ms or None, the ratio reference / kha as text: kha's
    kernel time, else its whole call, marked "(call)")."""
    times = notes.add(time_rounds(torch, {"kha": kha, **others}, opts.rounds, opts.calls))
    kernel = kernel_ms(torch, kha, opts.calls, tmp) if kha else None
    best = kernel if kernel is not None else times["kha"]
    ratio = "n/a"
    if isinstance(best, float) and isinstance(times[reference], float):
        ratio = "%.2f%s" % (times[reference] / best, "" if kernel is not None else " (call)")
    return times, kernel, ratio


def tflops(flops, ms):
    return "%.1f" % (flops / ms / 1e9) if isinstance(ms, float) else "n/a"


class Notes:
    """Why a table cell says n/a: each distinct reason printed once, after
    the table."""

    def __init__(self):
        self.lines = []

    def add(self, times):
        for label, value in times.items():
            if isinstance(value, str) and value != "n/a":
                line = "%s: %s" % (label, value)
                if line not in self.lines:
                    self.lines.append(line)
                times[label] = "n/a"
        return times

    def print(self):
        for line in self.lines:
            print("  n/a %s" % line)


def sdpa_backends(torch):
    """Backend label -> a function making a context that forces it, or None
    where this torch lacks the backend."""
    labels = (("flash", "FLASH_ATTENTION"), ("cuDNN", "CUDNN_ATTENTION"),
              ("efficient", "EFFICIENT_ATTENTION"))
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3: the older switch, without cuDNN
        switch = getattr(torch.backends.cuda, "sdp_kernel", None)
        if switch is None:
            return {label: None for label, _ in labels}
        only = lambda flash, efficient: lambda: switch(
            enable_flash=flash, enable_mem_efficient=efficient, enable_math=False)
        return {"flash": only(True, False), "cuDNN": None, "efficient": only(False, True)}
    out = {}
    for label, attr in labels:
        backend = getattr(SDPBackend, attr, None)
        out[label] = (lambda b=backend: sdpa_kernel(b)) if backend is not None else None
    return out


# run: sections --------------------------------------------------------------

def numerics_section(opts, plan, tally, tmp):
    import numpy as np
    from kha.config import LayerConfig
    from kha.inputs import make_inputs
    from kha.reference import TOLERANCE, kha_layer, relative_error

    kha_run = os.path.join(opts.dir, "kha-run")
    print("\n| case | dtype | B | L | error | tolerance | result |")
    print("|---|---|---|---|---|---|---|")
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
        tally.add(ok)
        print("| %s | %s | %d | %d | %.3g | %g | %s |" % (
            item["name"], cfg.dtype, item["batch"], item["seq_len"], err,
            TOLERANCE[cfg.dtype], note))

    # The same library called from Python (kha.Library: numpy to and from
    # the GPU through the library's runtime; no MLIR needed).
    from kha.runtime import Library
    name = "mqa"
    cfg = LayerConfig.load(os.path.join(opts.dir, name + ".json"))
    inputs = [a for _, a in make_inputs(cfg, 2, 37, seed=7)]
    try:
        y = Library(os.path.join(opts.dir, name + ".so")).kha_layer(*inputs)
        err = relative_error(y, kha_layer(cfg, inputs).numpy())
        ok = err < TOLERANCE[cfg.dtype]
        print("\nkha.Library (Python) on %s, B=2, L=37: error %.3g: %s" % (
            name, err, "ok" if ok else "FAIL"))
    except Exception as e:  # report, count, go on
        ok = False
        print("\nkha.Library (Python) on %s: FAIL: %s" % (name, e))
    tally.add(ok)


def sanitizer_section(opts, plan, tally, tmp):
    """compute-sanitizer's memcheck (out-of-bounds and misaligned accesses),
    racecheck (shared-memory hazards) and initcheck (reads of uninitialised
    device memory) on every example layer and mqa in bf16, ragged L."""
    from kha.config import LayerConfig
    from kha.inputs import make_inputs

    kha_run = os.path.join(opts.dir, "kha-run")
    sanitizer = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    print()
    for item in plan["sanitizer"]:
        tool = item["tool"]
        cfg = LayerConfig.load(os.path.join(opts.dir, item["name"] + ".json"))
        inputs = [a for _, a in make_inputs(cfg, item["batch"], item["seq_len"], seed=5)]
        what = "compute-sanitizer %s (%s, %s, B=%d, L=%d)" % (
            tool, item["name"], cfg.dtype, item["batch"], item["seq_len"])
        if not os.path.exists(sanitizer):
            print("%s: compute-sanitizer not found: FAIL" % what)
            tally.add(False)
            continue
        started = time.monotonic()
        done, _ = run_layer(kha_run, os.path.join(opts.dir, item["name"] + ".so"), inputs, tmp,
                            extra=(sanitizer, "--tool", tool, "--error-exitcode", "3"),
                            timeout=120)
        lines = done.stdout.splitlines() + done.stderr.splitlines()
        summary = [l for l in lines if "ERROR SUMMARY" in l or "RACECHECK SUMMARY" in l]
        ok = tally.add(done.returncode == 0)
        detail = summary[-1].strip() if summary else (lines[-1].strip() if lines else "")
        print("%s: %s, %.0f s: %s" % (what, detail, time.monotonic() - started,
                                      "ok" if ok else "FAIL"))


def attention_section(opts, plan, torch, tally, tmp):
    """kha's attention kernel vs torch SDPA, each backend forced, bf16."""
    import torch.nn.functional as F
    from kha.reference import TOLERANCE, sdpa as reference_sdpa

    sdpa = getattr(F, "scaled_dot_product_attention", None)
    backends = sdpa_backends(torch)
    notes = Notes()
    chip = plan["attention"][0].get("chip", "") if plan["attention"] else ""
    print("\nAttention, bf16, TFLOP/s (4 B H L S d, halved when causal); kha: its %s "
          "kernel alone / the whole call,\nand the whole call of its sm_80 (mma.sync) "
          "kernel; SDPA on the same [B, L, H, d] tensors (as [B, H, L, d] views),\none "
          "backend forced at a time; kha / flash: kha's kernel (else call) TFLOP/s over "
          "flash's (> 1: kha faster).\nError: max|kha - SDPA| / max|SDPA| (the %s kernel, "
          "then sm_80's)." % (chip, chip))
    print("\n| d | H/G | causal | B x L | error | kha kernel | kha call | kha sm_80 call "
          "| flash | cuDNN | efficient | kha / flash |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    started = time.monotonic()
    for item in plan["attention"]:
        d, H, G, causal = item["head_dim"], item["heads"], item["kv_heads"], item["causal"]
        try:
            lib = DeviceLibrary(os.path.join(opts.dir, item["name"] + ".so"))
            base = (DeviceLibrary(os.path.join(opts.dir, item["baseline"] + ".so"))
                    if item.get("baseline") else None)
        except Exception as e:
            print("| %d | %d/%d | %s | all | %s: FAIL |  |  |  |  |  |  |  |" % (
                d, H, G, "yes" if causal else "no", first_line(e, 100)))
            tally.add(False)
            continue
        for L in item["seq_lens"]:
            B = item["tokens"] // L
            gen = torch.Generator(device=TORCH_DEVICE).manual_seed(1000 * d + L)
            q, k, v = (torch.randn(B, L, n, d, device=TORCH_DEVICE, dtype=torch.bfloat16,
                                   generator=gen) for n in (H, G, G))
            # torch's layout: [B, N, L, d] views of the same memory, as a
            # model passes them after its projections; GQA by repetition.
            tq, tk, tv = (t.transpose(1, 2) for t in (q, k, v))
            if G != H:
                tk, tv = tk.repeat_interleave(H // G, 1), tv.repeat_interleave(H // G, 1)
            torch.cuda.synchronize()
            flops = 4.0 * B * H * L * L * d / (2 if causal else 1)

            # Correctness first: kha's output against SDPA's.
            call = base_call = None
            try:
                call = lib.bind("attn", q, k, v)
                o = lib.result("attn", call())
                if sdpa is not None:
                    ref = sdpa(tq, tk, tv, is_causal=causal).transpose(1, 2)
                else:  # torch < 2.0: kha's reference
                    ref = reference_sdpa(q.float(), k.float(), v.float(), d ** -0.5, causal)
                err = gpu_relative_error(o, ref)
                ok = err < TOLERANCE["bf16"]
                verdict = "%.2g" % err + ("" if ok else " FAIL")
                if base is not None:
                    base_call = base.bind("attn", q, k, v)
                    base_err = gpu_relative_error(base.result("attn", base_call()), ref)
                    ok = ok and base_err < TOLERANCE["bf16"]
                    verdict += ", %.2g" % base_err + (
                        "" if base_err < TOLERANCE["bf16"] else " FAIL")
                del o, ref
            except Exception as e:  # report, count, time torch alone
                ok, verdict = False, "FAIL: " + first_line(e, 80)
                call = base_call = None
            tally.add(ok)

            def forced(context):
                def run():
                    with context():
                        return sdpa(tq, tk, tv, is_causal=causal)
                return run if context and sdpa else None
            kha = (lambda: lib.free(call())) if call else None
            others = {label: forced(c) for label, c in backends.items()}
            others["sm_80"] = ((lambda: base.free(base_call()))
                               if base is not None and base_call else None)
            times, kernel, ratio = time_against(torch, kha, others, "flash", opts, notes, tmp)
            print("| %d | %d/%d | %s | %d x %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                d, H, G, "yes" if causal else "no", B, L, verdict, tflops(flops, kernel),
                tflops(flops, times["kha"]), tflops(flops, times["sm_80"]),
                tflops(flops, times["flash"]), tflops(flops, times["cuDNN"]),
                tflops(flops, times["efficient"]), ratio))
    notes.print()
    print("(attention: %.0f s)" % (time.monotonic() - started))


def gemm_section(opts, plan, torch, tally, tmp):
    """kha's projection GEMM vs torch.matmul (cuBLAS), bf16."""
    from kha.reference import TOLERANCE

    notes = Notes()
    print("\nProjection GEMMs, bf16 operands, f32 accumulation, bf16 result; TFLOP/s (2 M K N); "
          "kha / cuBLAS\nfrom kha's kernel (else call). Error: max|kha - f32 matmul| / "
          "max|f32 matmul|.")
    print("(kha sm_80 call: the same GEMM on the sm_80 mma.sync kernel, its whole call; "
          "error: the chip's kernel, then sm_80's.)")
    print("\n| M x K x N | error | kha kernel | kha call | kha sm_80 call | cuBLAS "
          "| kha / cuBLAS |")
    print("|---|---|---|---|---|---|---|")
    started = time.monotonic()
    for item in plan["gemm"]:
        m, k, n = item["m"], item["k"], item["n"]
        shape = "%d x %d x %d" % (m, k, n)
        gen = torch.Generator(device=TORCH_DEVICE).manual_seed(n)
        a = torch.randn(m, k, device=TORCH_DEVICE, dtype=torch.bfloat16, generator=gen)
        b = (torch.randn(k, n, device=TORCH_DEVICE, generator=gen) / k ** 0.5).to(
            torch.bfloat16)
        torch.cuda.synchronize()
        flops = 2.0 * m * k * n
        call = base_call = None
        try:
            lib = DeviceLibrary(os.path.join(opts.dir, item["name"] + ".so"))
            call = lib.bind("projection", a, b)
            ref = torch.matmul(a.float(), b.float())
            err = gpu_relative_error(lib.result("projection", call()), ref)
            ok = err < TOLERANCE["bf16"]
            verdict = "%.2g" % err + ("" if ok else " FAIL")
            if item.get("baseline"):
                base = DeviceLibrary(os.path.join(opts.dir, item["baseline"] + ".so"))
                base_call = base.bind("projection", a, b)
                base_err = gpu_relative_error(base.result("projection", base_call()), ref)
                ok = ok and base_err < TOLERANCE["bf16"]
                verdict += ", %.2g" % base_err + (
                    "" if base_err < TOLERANCE["bf16"] else " FAIL")
        except Exception as e:
            ok, verdict, call, base_call = False, "FAIL: " + first_line(e, 80), None, None
        tally.add(ok)
        kha = (lambda: lib.free(call())) if call else None
        others = {"cuBLAS": lambda: torch.matmul(a, b),
                  "sm_80": (lambda: base.free(base_call())) if base_call else None}
        times, kernel, ratio = time_against(torch, kha, others, "cuBLAS", opts, notes, tmp)
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            shape, verdict, tflops(flops, kernel), tflops(flops, times["kha"]),
            tflops(flops, times["sm_80"]), tflops(flops, times["cuBLAS"]), ratio))
    notes.print()
    print("(gemm: %.0f s)" % (time.monotonic() - started))


def layer_section(opts, plan, torch, tally, tmp):
    """The paper-main layer in bf16: kha vs its PyTorch module (eager and
    torch.compile)."""
    from kha.config import LayerConfig
    from kha.inputs import make_inputs
    from kha.reference import TOLERANCE, layer_forward
    from kha.torch import KHAAttention

    item = plan["layer"]
    cfg = LayerConfig.load(os.path.join(opts.dir, item["name"] + ".json"))
    B, L = item["batch"], item["seq_len"]
    notes = Notes()
    started = time.monotonic()
    print("\nThe %s layer (D=%d, H=%d, G=%d, d=%d, knocks %s, %s), ms per call; ratios: "
          "torch's time over kha's\nwhole call (> 1: kha faster). Error at B=1 against the "
          "float64 reference." % (
              item["name"], cfg.hidden_size, cfg.num_attention_heads,
              cfg.num_key_value_heads, cfg.head_dim,
              "/".join(cfg.knock[p] for p in "qkv"), cfg.dtype))
    # Weights (and the check's x) from the seeded inputs, rounded to bf16.
    inputs = [torch.from_numpy(a) for _, a in make_inputs(cfg, 1, L, seed=3)]
    names = [name for name, _ in cfg.argument_shapes(1, 1)]
    args = [a.to(TORCH_DEVICE, torch.bfloat16).contiguous() for a in inputs]
    ran = False  # kha's layer ran (right or wrong): then it is timed
    with torch.no_grad():
        try:
            lib = DeviceLibrary(os.path.join(opts.dir, item["name"] + ".so"))
            torch.cuda.synchronize()
            y = lib.result("kha_layer", lib.bind("kha_layer", *args)())
            ran = True
            ref = layer_forward(cfg, {name: a.to(TORCH_DEVICE, torch.float64)
                                      for name, a in zip(names, inputs)})
            err = gpu_relative_error(y, ref)
            ok = err < TOLERANCE[cfg.dtype]
            verdict = "%.2g" % err + ("" if ok else " FAIL")
            del y, ref
        except Exception as e:
            ok, verdict = False, "FAIL: " + first_line(e, 80)
        tally.add(ok)

        # Timing at B x L tokens: the same weights, a new x ~ U(-1, 1).
        gen = torch.Generator(device=TORCH_DEVICE).manual_seed(3)
        x = torch.rand(B, L, cfg.hidden_size, device=TORCH_DEVICE, generator=gen)
        x = (x * 2 - 1).to(torch.bfloat16)
        weights = args[1:]
        module = KHAAttention.from_config(cfg, dtype=torch.bfloat16).to(TORCH_DEVICE)
        for p, w in zip(module.parameters(), weights):
            p.copy_(w)
        torch.cuda.synchronize()
        call = lib.bind("kha_layer", x, *weights) if ran else None
        kha = (lambda: lib.free(call())) if call else None
        impls = {"kha": kha, "eager": lambda: module(x), "compiled": None}
        try:  # the first call compiles
            compile_started = time.monotonic()
            compiled = torch.compile(module)
            compiled(x)
            torch.cuda.synchronize()
            impls["compiled"] = lambda: compiled(x)
            print("torch.compile: compiled in %.0f s" % (time.monotonic() - compile_started))
        except Exception as e:  # report, go on without it
            print("torch.compile failed: %s" % " ".join(str(e).split())[:600])
        times = notes.add(time_rounds(torch, impls, opts.rounds, opts.calls,
                                      budget_s=3 * ROW_BUDGET_S))
        kernel = kernel_ms(torch, kha, opts.calls, tmp) if kha else None

    ms = lambda t: "%.3f" % t if isinstance(t, float) else "n/a"
    ratio = lambda t: ("%.2f" % (t / times["kha"])
                       if isinstance(t, float) and isinstance(times["kha"], float) else "n/a")
    print("\n| layer | B x L | error | kha kernels ms | kha call ms | eager ms "
          "| torch.compile ms | eager / kha | compiled / kha |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("| %s | %d x %d | %s | %s | %s | %s | %s | %s | %s |" % (
        item["name"], B, L, verdict, ms(kernel), ms(times["kha"]), ms(times["eager"]),
        ms(times["compiled"]), ratio(times["eager"]), ratio(times["compiled"])))
    notes.print()
    print("(layer: %.0f s)" % (time.monotonic() - started))


def run(opts):
    import torch

    with open(os.path.join(opts.dir, "plan.json")) as f:
        plan = json.load(f)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print("GPU check on %s (torch %s)" % (device, torch.__version__))
    tally = Tally()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        if "numerics" in opts.sections:
            numerics_section(opts, plan, tally, tmp)
        if "sanitizer" in opts.sections:
            sanitizer_section(opts, plan, tally, tmp)
        timed = [s for s in ("attention", "gemm", "layer") if s in opts.sections]
        if timed and not torch.cuda.is_available():
            print("\ntiming: PyTorch sees no GPU: FAIL")
            tally.add(False)
            timed = []
        for section in timed:
            {"attention": attention_section, "gemm": gemm_section,
             "layer": layer_section}[section](opts, plan, torch, tally, tmp)
    print("\n(%.0f s in all)" % (time.monotonic() - started))
    print("\n%d passed, %d failed" % (tally.passed, tally.failed))
    return 0 if tally.failed == 0 else 1


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
    r.add_argument("--rounds", type=int, default=5,
                   help="timing rounds per row (alternating implementations)")
    r.add_argument("--calls", type=int, default=3,
                   help="back-to-back calls timed per round")
    r.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS,
                   help="what to run (default: all)")
    opts = parser.parse_args()
    if opts.command == "run" and (opts.rounds < 1 or opts.calls < 1):
        r.error("--rounds and --calls must be positive")
    sys.stdout.reconfigure(line_buffering=True)  # a killed run still shows its tables
    return prepare(opts) if opts.command == "prepare" else run(opts)


if __name__ == "__main__":
    sys.exit(main())
