"""The tensor-core kernels (kha-sdpa-to-gpu and kha-matmul-to-gpu for sm_80,
which choose the `mma_sync` kernels) run on the host by
kha-gpu-launch-to-host-loops, which gives `nvgpu.ldmatrix` and
`nvgpu.mma.sync` the PTX ISA's fragment layouts across the lanes of a warp
and carries out each `cp.async` only when a wait retires its group (its
destination is NaN until then). Results are compared with float64 at the
contract's tolerances.

Attention: f16 and bf16, head dims 16 to 256 (every K/V tile width), GQA,
MQA and MHA groups, causal and not, L = 1, L != S, sizes that are not
multiples of any tile, dynamic sizes. Matmuls: f16 and bf16 operands, f32,
f16 and bf16 results, M, N, K not multiples of the tiles, dynamic M.

Negative controls, each of which must fail: the V fragments loaded without
`.trans` (a wrong fragment layout), the waits for the copies deleted, a wait
that leaves the step about to be used in flight (an off-by-one in the
pipeline). Not visible here: a missing barrier between a wait and an
`ldmatrix` of other threads' data, because each warp-collective operation
runs as a block-wide step of the emulation.

usage: mma_kernels_on_host.py TOOLS_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from kha.reference import TOLERANCE, relative_error, sdpa  # noqa: E402
from kha.text import sdpa_function  # noqa: E402

# (B, L, S, H, G, d, causal, dtype, dynamic)
SDPA = [
    (2, 37, 50, 4, 2, 64, True, "f16", False),     # GQA, two K/V tiles of 64 (partial)
    (1, 70, 70, 2, 2, 128, True, "bf16", True),    # MHA, d = 128: tiles of 32 keys
    (1, 1, 1, 3, 1, 32, True, "f16", False),       # L = S = 1, MQA
    (2, 20, 33, 8, 1, 16, False, "bf16", False),   # MQA, d = 16, non-causal
    (1, 18, 40, 2, 1, 96, False, "f16", False),    # d = 96
    (1, 9, 17, 1, 1, 256, True, "bf16", False),    # d = 256: tiles of 16 keys
]
# (M, K, N, in dtype, out dtype, dynamic M)
MATMUL = [
    (70, 64, 48, "f16", "f32", True),
    (130, 136, 72, "bf16", "bf16", False),
    (1, 16, 8, "f16", "f16", False),
    (64, 96, 200, "bf16", "f32", False),
]
# Negative controls: (name, kernel kind, case, edit of the kernel IR).
BROKEN = [
    ("V fragments without .trans (wrong layout)", "sdpa", SDPA[0],
     lambda ir: ir.replace("{numTiles = 4 : i32, transpose = true}",
                           "{numTiles = 4 : i32, transpose = false}")),
    ("cp.async waits deleted", "sdpa", SDPA[0],
     lambda ir: re.sub(r"^.*nvgpu\.device_async_wait.*$", "", ir, flags=re.M)),
    ("waits one group short (numGroups 3 for 3 stages)", "matmul", MATMUL[1],
     lambda ir: ir.replace("{numGroups = 2 : i32}", "{numGroups = 3 : i32}")),
    ("cp.async waits deleted", "matmul", MATMUL[0],
     lambda ir: re.sub(r"^.*nvgpu\.device_async_wait.*$", "", ir, flags=re.M)),
]


def sdpa_module(B, L, S, H, G, d, causal, dtype, dynamic):
    b, l, s = ("?", "?", "?") if dynamic else (B, L, S)
    t = lambda n, m: "tensor<%sx%sx%dx%dx%s>" % (b, n, m, d, dtype)
    q, kv = t(l, H), t(s, G)
    return sdpa_function(q, kv, kv, d ** -0.5, causal)


def matmul_module(M, K, N, dtype, out, dynamic):
    m = "?" if dynamic else M
    a, bt, c = ("tensor<%sx%dx%s>" % (m, K, dtype), "tensor<%dx%dx%s>" % (K, N, dtype),
                "tensor<%sx%dx%s>" % (m, N, out))
    dim = ("  %%c0 = arith.constant 0 : index\n  %%m = tensor.dim %%a, %%c0 : %s\n" % a
           if dynamic else "")
    return ("func.func @mm(%%a: %s, %%b: %s) -> %s {\n%s"
            "  %%e = tensor.empty(%s) : %s\n  %%z = arith.constant 0.0 : %s\n"
            "  %%f = linalg.fill ins(%%z : %s) outs(%%e : %s) -> %s\n"
            "  %%r = linalg.matmul ins(%%a, %%b : %s, %s) outs(%%f : %s) -> %s\n"
            "  return %%r : %s\n}\n" % (a, bt, c, dim, "%m" if dynamic else "", c, out,
                                       out, c, c, a, bt, c, c, c))


def values(rng, shape, dtype):
    x = rng.uniform(-1, 1, shape).astype(np.float16 if dtype == "f16" else np.float32)
    if dtype == "bf16":  # what the kernel sees, stored as float32 .npy
        x = torch.from_numpy(x).bfloat16().float().numpy()
    return x


MMA_SYNC_OPS = ("nvgpu.mma.sync", "nvgpu.ldmatrix", "nvgpu.device_async_copy")


def run(tools, tmp, source, edit, arrays, chip="sm_80", expect=MMA_SYNC_OPS,
        host_edit=None):
    """Builds `source`'s kernels for `chip` (each op of `expect` must be in
    them), applies `edit` to the kernel IR and `host_edit` to its host form,
    and runs it on `arrays`."""
    src = os.path.join(tmp, "in.mlir")
    with open(src, "w") as f:
        f.write(source)
    kernel = subprocess.run(
        [os.path.join(tools, "kha-opt"), src,
         "--kha-sdpa-to-gpu=chip=%s require-tensor-cores" % chip,
         "--kha-matmul-to-gpu=chip=%s require-tensor-cores" % chip],
        check=True, capture_output=True, text=True).stdout
    counts = {op: kernel.count(op) for op in expect}
    assert all(counts.values()), "not the expected kernel: %s" % counts
    if edit:
        edited = edit(kernel)
        assert edited != kernel, "the negative control changed nothing"
        kernel = edited
    host_ir = subprocess.run([os.path.join(tools, "kha-opt"), "-",
                              "--kha-gpu-launch-to-host-loops"],
                             input=kernel, check=True, capture_output=True, text=True).stdout
    if host_edit:
        edited = host_edit(host_ir)
        assert edited != host_ir, "the negative control changed nothing"
        host_ir = edited
    host = os.path.join(tmp, "host.mlir")
    with open(host, "w") as f:
        f.write(host_ir)
    lib = os.path.join(tmp, "k.so")
    subprocess.run([os.path.join(tools, "kha-compile"), host, "-o", lib], check=True)
    paths = []
    for i, a in enumerate(arrays):
        paths.append(os.path.join(tmp, "in%d.npy" % i))
        np.save(paths[-1], a)
    out = os.path.join(tmp, "y.npy")
    subprocess.run([os.path.join(tools, "kha-run"), lib, *["--input=@" + p for p in paths],
                    "--output=@" + out], check=True, capture_output=True)
    return np.load(out).astype(np.float64), counts


def check_sdpa(tools, rng, case, edit=None, **kwargs):
    B, L, S, H, G, d, causal, dtype, dynamic = case
    arrays = [values(rng, (B, n, heads, d), dtype) for n, heads in ((L, H), (S, G), (S, G))]
    with tempfile.TemporaryDirectory() as tmp:
        y, counts = run(tools, tmp, sdpa_module(*case), edit, arrays, **kwargs)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    ref = sdpa(t(arrays[0]), t(arrays[1]), t(arrays[2]), d ** -0.5, causal).numpy()
    err = relative_error(y, ref)
    ok = err < TOLERANCE[dtype] and bool(np.all(np.isfinite(y)))
    if causal and L > 1 and not edit:
        # The output is far from the non-causal reference: the mask is seen.
        other = sdpa(t(arrays[0]), t(arrays[1]), t(arrays[2]), d ** -0.5, False).numpy()
        ok = ok and relative_error(y, other) > 10 * TOLERANCE[dtype]
    name = "sdpa B=%d L=%d S=%d H=%d G=%d d=%d%s %s%s" % (
        B, L, S, H, G, d, " causal" if causal else "", dtype, " dynamic" if dynamic else "")
    return ok, err, name, counts


def check_matmul(tools, rng, case, edit=None, **kwargs):
    M, K, N, dtype, out, dynamic = case
    arrays = [values(rng, (M, K), dtype), values(rng, (K, N), dtype)]
    with tempfile.TemporaryDirectory() as tmp:
        y, counts = run(tools, tmp, matmul_module(*case), edit, arrays, **kwargs)
    ref = arrays[0].astype(np.float64) @ arrays[1].astype(np.float64)
    err = relative_error(y, ref)
    ok = err < TOLERANCE[out if out != "f32" else dtype] and bool(np.all(np.isfinite(y)))
    name = "matmul %dx%d * %dx%d %s -> %s%s" % (M, K, K, N, dtype, out,
                                                 " dynamic M" if dynamic else "")
    return ok, err, name, counts


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(11)
    passed = failed = 0
    runs = [("sdpa", c, None, None) for c in SDPA] + [("matmul", c, None, None) for c in MATMUL]
    runs += [(kind, case, edit, why) for why, kind, case, edit in BROKEN]
    for kind, case, edit, why in runs:
        check = check_sdpa if kind == "sdpa" else check_matmul
        ok, err, name, counts = check(tools, rng, case, edit)
        if why:  # a negative control must fail (a NaN error fails too)
            ok = not ok
            name += " [%s: must fail]" % why
        else:
            name += " [%d mma.sync, %d ldmatrix, %d cp.async]" % (
                counts["nvgpu.mma.sync"], counts["nvgpu.ldmatrix"],
                counts["nvgpu.device_async_copy"])
        passed += ok
        failed += not ok
        print("%s: error %.3g: %s" % (name, err, "ok" if ok else "FAIL"), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
