"""Model (not measurement): the projection kernel's inner loop on CPUs this
host may not have, through LLVM's machine-code analyser.

    /usr/bin/python3 bench/microkernel_mca.py [--tools build/bin]
        [--cpus skylake-avx512 sapphirerapids znver4] [--k 512] [--n 512]

For each CPU, kha compiles a projection `x (512 x K) @ W (K x N)` with W a
weight, in f32 and in bf16 (`kha-compile --mcpu=CPU --emit=llvm`), LLVM's
code generator (`llc -mcpu=CPU`) makes its assembly, and the innermost loop
with the most multiply-adds (the register tile's K loop: FMAs, or
AVX512-BF16 dot products where the CPU has them) is given to `llvm-mca
-mcpu=CPU`, which estimates its cycles per iteration from LLVM's scheduling
model of that CPU. The table gives the loop's instructions, its multiply-
adds, the model's cycles per iteration and the FLOPs per cycle that implies
(a multiply and an add per f32 lane of an FMA, two of each per lane of a
dot product of bf16 pairs).

This is a model of the loop alone, with its data in L1: no cache misses,
no loop overhead outside it. It says what the instructions allow on those
CPUs, not what the layer runs at; only a timed run on the CPU measures that.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROJ = """
func.func @proj(%x: tensor<512xKxT>, %w: tensor<KxNxT> {kha.weight}) -> tensor<512xNxf32> {
  WIDEN
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<512xNxf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<512xNxf32>) -> tensor<512xNxf32>
  %y = linalg.matmul ins(%xf, %wf : tensor<512xKxf32>, tensor<KxNxf32>)
                     outs(%acc : tensor<512xNxf32>) -> tensor<512xNxf32>
  return %y : tensor<512xNxf32>
}
"""

# bf16 operands are widened as the kha lowering writes them; the pipeline
# folds the widening into the product (or into the dot products).
WIDEN = """%xf = arith.extf %x : tensor<512xKxT> to tensor<512xKxf32>
  %wf = arith.extf %w : tensor<KxNxT> to tensor<KxNxf32>"""

MULTIPLY_ADD = re.compile(r"^\s+(vfmadd\w*|vfnmadd\w*|vdpbf16ps)\s")


def module(dtype, k, n):
    widen = WIDEN if dtype != "f32" else ""
    text = PROJ.replace("WIDEN", widen)
    if dtype == "f32":
        text = text.replace("%xf, %wf", "%x, %w")
    return text.replace("K", str(k)).replace("N", str(n)).replace("T", dtype)


def innermost_loops(asm):
    """(label, instructions) of each loop whose body is one basic block that
    branches back to its own label."""
    loops, label, body = [], None, []
    for line in asm.splitlines():
        m = re.match(r"^(\.LBB\w+):", line)
        if m:
            label, body = m.group(1), []
            continue
        if label is None or not line.startswith("\t") or line.strip().startswith((".", "#")):
            continue
        body.append(line)
        jump = re.match(r"^\s+j\w+\s+(\.LBB\w+)", line)
        if jump:
            if jump.group(1) == label:
                loops.append((label, list(body)))
            label = None
    return loops


def analyse(tools, cpu, dtype, k, n, tmp):
    src = os.path.join(tmp, "proj-%s-%s.mlir" % (cpu, dtype))
    with open(src, "w") as f:
        f.write(module(dtype, k, n))
    ll, s = src[:-5] + ".ll", src[:-5] + ".s"
    subprocess.run([os.path.join(tools, "kha-compile"), src, "--target=cpu", "--mcpu=" + cpu,
                    "--no-threads", "--emit=llvm", "-o", ll], check=True)
    subprocess.run([tool("llc"), "-O3", "-mcpu=" + cpu, ll, "-o", s], check=True)
    with open(s) as f:
        loops = innermost_loops(f.read())
    label, body = max(loops, key=lambda lb: sum(bool(MULTIPLY_ADD.match(i)) for i in lb[1]))
    ops = [MULTIPLY_ADD.match(i).group(1) for i in body if MULTIPLY_ADD.match(i)]
    kernel = os.path.join(tmp, "kernel.s")
    with open(kernel, "w") as f:
        f.write("\n".join(body) + "\n")
    report = subprocess.run([tool("llvm-mca"), "-mcpu=" + cpu, "-iterations=200", kernel],
                            check=True, capture_output=True, text=True).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", report).group(1)) / 200
    # Lanes of the widest register used: zmm 16, ymm 8, xmm 4 f32 lanes.
    lanes = 16 if "zmm" in "".join(body) else 8 if "ymm" in "".join(body) else 4
    flops = sum(2 * lanes * (2 if op == "vdpbf16ps" else 1) for op in ops)
    return {"cpu": cpu, "dtype": dtype, "instructions": len(body), "ops": len(ops),
            "kind": ops[0] if ops else "-", "cycles": cycles, "flops_per_cycle": flops / cycles}


def tool(name):
    for candidate in ("/usr/lib/llvm-22/bin/" + name, name + "-22", name):
        path = shutil.which(candidate)
        if path:
            return path
    sys.exit("%s not found (LLVM 22's tools)" % name)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--cpus", nargs="+",
                        default=["skylake-avx512", "sapphirerapids", "znver4"])
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--n", type=int, default=512)
    opts = parser.parse_args()
    print("| CPU (LLVM's model) | type | loop instructions | multiply-adds | "
          "cycles / iteration | FLOP / cycle |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for cpu in opts.cpus:
            for dtype in ("f32", "bf16"):
                r = analyse(opts.tools, cpu, dtype, opts.k, opts.n, tmp)
                print("| %s | %s | %d | %d %s | %.2f | %.1f |" % (
                    r["cpu"], r["dtype"], r["instructions"], r["ops"], r["kind"],
                    r["cycles"], r["flops_per_cycle"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
