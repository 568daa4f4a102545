"""The shared-memory tiled matmul kernel of kha-matmul-to-gpu (64 x 64 tiles,
256 threads staging A and B through workgroup memory, 4 x 4 accumulators per
thread), run on the host by kha-gpu-launch-to-host-loops and compared with
float64: sizes that are not multiples of the tile or of the K step, a single
row, dynamic sizes, f16 and bf16 operands; each case also runs with the
threads of every block in reverse order and must give the same bits (no
races). Negative controls: the same kernel with its barriers deleted must give
wrong results (threads would read tiles the others have not staged yet), and
a kernel with a race (every thread writes one workgroup element) must give
different results under the two schedules.

usage: matmul_kernel_on_host.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from kha.reference import TOLERANCE, relative_error  # noqa: E402

# (M, K, N, dtype, dynamic, broken)
CASES = [
    (70, 33, 130, "f32", False, False),
    (1, 17, 64, "f32", False, False),
    (129, 64, 65, "f32", True, False),
    (40, 48, 72, "f16", False, False),
    (33, 20, 90, "bf16", True, False),
    (70, 33, 130, "f32", False, True),  # barriers deleted: must fail
]


def module(M, K, N, dtype, dynamic):
    m, n = ("?", "?") if dynamic else (M, N)
    a, b, c = ("tensor<%sx%sx%s>" % (r, s, dtype) for r, s in ((m, K), (K, n), (m, n)))
    dims = ""
    sizes = ""
    if dynamic:
        dims = ("  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
                "  %m = tensor.dim %a, %c0 : " + a + "\n  %n = tensor.dim %b, %c1 : " + b + "\n")
        sizes = "%m, %n"
    return ("func.func @mm(%%a: %s, %%b: %s) -> %s {\n%s"
            "  %%zero = arith.constant 0.0 : %s\n"
            "  %%e = tensor.empty(%s) : %s\n"
            "  %%z = linalg.fill ins(%%zero : %s) outs(%%e : %s) -> %s\n"
            "  %%c = linalg.matmul ins(%%a, %%b : %s, %s) outs(%%z : %s) -> %s\n"
            "  return %%c : %s\n}\n" % (a, b, c, dims, dtype, sizes, c, dtype, c, c,
                                        a, b, c, c, c))


RACE = """
func.func @race(%x: memref<32xf32>) -> memref<32xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %out = memref.alloc() : memref<32xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1)
             workgroup(%cell : memref<1xf32, #gpu.address_space<workgroup>>) {
    %v = memref.load %x[%tx] : memref<32xf32>
    memref.store %v, %cell[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %w = memref.load %cell[%c0] : memref<1xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%tx] : memref<32xf32>
    gpu.terminator
  }
  return %out : memref<32xf32>
}
"""


def compile_kernel(tools, tmp, kernel, schedule, name):
    host = os.path.join(tmp, name + ".mlir")
    subprocess.run([os.path.join(tools, "kha-opt"), "-",
                    "--kha-gpu-launch-to-host-loops=" + schedule, "-o", host],
                   input=kernel, check=True, text=True)
    lib = os.path.join(tmp, name + ".so")
    subprocess.run([os.path.join(tools, "kha-compile"), host, "-o", lib], check=True)
    return lib


def run_library(tools, tmp, lib, paths):
    out = os.path.join(tmp, "out.npy")
    subprocess.run([os.path.join(tools, "kha-run"), lib, *["--input=@" + p for p in paths],
                    "--output=@" + out], check=True, capture_output=True)
    return np.load(out).astype(np.float64)


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(5)
    passed = failed = 0
    for (M, K, N, dtype, dynamic, broken) in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "mm.mlir")
            with open(src, "w") as f:
                f.write(module(M, K, N, dtype, dynamic))
            kernel = subprocess.run([os.path.join(tools, "kha-opt"), src,
                                     "--kha-matmul-to-gpu=tensor-cores=false"],
                                    check=True, capture_output=True, text=True).stdout
            if broken:
                assert "gpu.barrier" in kernel
                kernel = "\n".join(l for l in kernel.splitlines() if "gpu.barrier" not in l)
            schedules = [""] if broken else ["", "reverse-threads"]
            libs = [compile_kernel(tools, tmp, kernel, s, "mm%d" % i)
                    for i, s in enumerate(schedules)]
            store = np.float16 if dtype == "f16" else np.float32
            a = rng.uniform(-1, 1, (M, K)).astype(store)
            b = rng.uniform(-1, 1, (K, N)).astype(store)
            if dtype == "bf16":  # the values the kernel sees
                a, b = (torch.from_numpy(x).bfloat16().float().numpy() for x in (a, b))
            paths = []
            for i, x in enumerate((a, b)):
                paths.append(os.path.join(tmp, "in%d.npy" % i))
                np.save(paths[-1], x)
            cs = [run_library(tools, tmp, lib, paths) for lib in libs]
            c = cs[0]
            same_bits = all(np.array_equal(c, other) for other in cs[1:])
        err = relative_error(c, a.astype(np.float64) @ b.astype(np.float64))
        # (a NaN error, from reading unstaged memory, fails the comparison too)
        ok = not err < TOLERANCE[dtype] if broken else err < TOLERANCE[dtype] and same_bits
        passed += ok
        failed += not ok
        print("M=%d K=%d N=%d %s%s%s: error %.3g: %s" % (
            M, K, N, dtype, " dynamic" if dynamic else "",
            " (barriers deleted: must fail)" if broken else ", same bits with threads reversed",
            err, "ok" if ok else "FAIL"))
    # The race control: thread 31 wins in order, thread 0 in reverse.
    with tempfile.TemporaryDirectory() as tmp:
        x = np.arange(32, dtype=np.float32)
        path = os.path.join(tmp, "x.npy")
        np.save(path, x)
        forward, backward = (run_library(tools, tmp, compile_kernel(tools, tmp, RACE, s, n), [path])
                             for s, n in (("", "race"), ("reverse-threads", "race_rev")))
    ok = np.all(forward == 31) and np.all(backward == 0)
    passed += ok
    failed += not ok
    print("a racy kernel differs between the schedules (%g vs %g): %s" % (
        forward[0], backward[0], "ok" if ok else "FAIL"))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
