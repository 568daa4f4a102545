"""A static roofline estimate of kha's tensor-core kernels (no GPU needed).

Each kernel is compiled by kha-compile --target=cuda --emit=ptx
--cuda-require-tensor-cores (the whole GPU pipeline) and assembled by
`ptxas -v` for sm_80 and sm_90a. From the registers and shared memory it
reports the occupancy (blocks and warps per multiprocessor), and from the
kernels' structure (their tiles, as kha-sdpa-to-gpu and kha-matmul-to-gpu
choose them) the
arithmetic intensity against shared memory and against global memory (L2 or
DRAM, counting each block's own loads, no reuse between blocks), and the
ceiling that shared-memory bandwidth sets:

    ceiling = FLOP per shared byte x 128 B/clock/SM x SMs x clock

with the datasheet figures below (A100 SXM: 108 SMs, 1.41 GHz, 312 TFLOP/s
dense f16/bf16; H100/H200 SXM: 132 SMs, 1.83 GHz, 990 TFLOP/s dense with
wgmma; `mma.sync` does not reach wgmma's rate on Hopper). These are
estimates to compare with a measurement, not measurements.

usage: tensor_core_roofline.py [TOOLS_DIR]   (default build/bin)
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "cuda"))
from ptxas_examples import find_ptxas  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "python"))
from kha.text import sdpa_function  # noqa: E402

# chip: (SMs, clock GHz, dense f16/bf16 TFLOP/s, registers/SM, shared bytes/SM,
#        max threads/SM, max blocks/SM)
CHIPS = {
    "sm_80": (108, 1.41, 312, 65536, 164 * 1024, 2048, 32),
    "sm_90a": (132, 1.83, 990, 65536, 228 * 1024, 2048, 32),
}
SHARED_BYTES_PER_CLOCK = 128
THREADS = 128  # four warps per block, both kernels


def attention(dtype, d, heads, groups, causal):
    """kha.sdpa on [1, 4096, H, d] queries and [1, 4096, G, d] keys/values."""
    t = lambda n: "tensor<1x4096x%dx%dx%s>" % (n, d, dtype)
    q, kv = t(heads), t(groups)
    source = sdpa_function(q, kv, kv, d ** -0.5, causal, name="attention")
    # 64 rows (query positions x heads of a group) per block; K/V tiles of
    # 64, 32 or 16 keys (d <= 64, <= 128, else). Per key tile of n keys each
    # of the four warps multiplies its 16 rows by the whole K and V tiles,
    # read from shared memory by ldmatrix; the block loads each tile once.
    n = 64 if d <= 64 else 32 if d <= 128 else 16
    flops = 2 * 2 * 64 * n * d
    shared = 4 * 2 * n * d * 2
    global_ = 2 * n * d * 2
    return source, "attention %s d=%d H=%d G=%d%s" % (
        dtype, d, heads, groups, " causal" if causal else ""), flops, shared, global_


def projection(dtype, m, k, n):
    a, b, c = ("tensor<%dx%dx%s>" % (m, k, dtype), "tensor<%dx%dx%s>" % (k, n, dtype),
               "tensor<%dx%dxf32>" % (m, n))
    source = ("func.func @projection(%%a: %s, %%b: %s) -> tensor<%dx%dx%s> {\n"
              "  %%e = tensor.empty() : %s\n  %%z = arith.constant 0.0 : f32\n"
              "  %%f = linalg.fill ins(%%z : f32) outs(%%e : %s) -> %s\n"
              "  %%r = linalg.matmul ins(%%a, %%b : %s, %s) outs(%%f : %s) -> %s\n"
              "  %%t = arith.truncf %%r : %s to tensor<%dx%dx%s>\n"
              "  return %%t : tensor<%dx%dx%s>\n}\n" % (
                  a, b, m, n, dtype, c, c, c, a, b, c, c, c, m, n, dtype, m, n, dtype))
    # 64 x 64 x 32 block tiles, each warp 32 x 32: per 16-deep step a warp
    # reads a 32 x 16 A and a 16 x 32 B fragment set from shared memory.
    flops = 2 * 64 * 64 * 32
    shared = 4 * 2 * (32 * 16 + 16 * 32) * 2
    global_ = (64 * 32 + 32 * 64) * 2
    return source, "projection %s %dx%dx%d" % (dtype, m, k, n), flops, shared, global_


KERNELS = [
    attention("bf16", 64, 16, 16, False),
    attention("bf16", 128, 16, 16, False),
    attention("bf16", 128, 32, 4, True),
    attention("f16", 256, 8, 8, False),
    projection("bf16", 4096, 2048, 2048),
]


def occupancy(chip, registers, smem):
    _, _, _, regs_sm, smem_sm, threads_sm, blocks_sm = CHIPS[chip]
    per_warp = ((registers * 32 + 255) // 256) * 256  # allocated per warp, 256 at a time
    by_registers = regs_sm // (per_warp * (THREADS // 32))
    by_smem = smem_sm // (smem + 1024) if smem else blocks_sm  # 1 KiB reserved per block
    blocks = min(by_registers, by_smem, threads_sm // THREADS, blocks_sm)
    return blocks, "registers" if blocks == by_registers else "shared memory" \
        if blocks == by_smem else "threads"


def main():
    tools = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
    ptxas = find_ptxas()
    if not ptxas:
        print("ptxas not found")
        return 1
    print("| kernel | chip | registers | spills | smem | blocks/SM (limit) | warps/SM "
          "| FLOP/B shared | FLOP/B global | shared-memory ceiling |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for source, name, flops, shared, global_ in KERNELS:
            src = os.path.join(tmp, "k.mlir")
            with open(src, "w") as f:
                f.write(source)
            for chip, (sms, ghz, peak, *_rest) in CHIPS.items():
                ptx = os.path.join(tmp, "k.ptx")
                subprocess.run([os.path.join(tools, "kha-compile"), src, "--target=cuda",
                                "--cuda-chip=" + chip, "--cuda-require-tensor-cores",
                                "--emit=ptx", "-o", ptx], check=True)
                report = subprocess.run([ptxas, "-arch=" + chip, "-v", ptx, "-o",
                                         os.path.join(tmp, "k.cubin")],
                                        capture_output=True, text=True, check=True).stderr
                # The tensor-core kernel is the one with the most registers.
                best = None
                for entry in report.split("Compiling entry function")[1:]:
                    regs = int(re.search(r"Used (\d+) registers", entry).group(1))
                    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads",
                                      entry)
                    smem = re.search(r"(\d+) bytes smem", entry)
                    row = (regs, int(spill.group(1)) + int(spill.group(2)),
                           int(smem.group(1)) if smem else 0)
                    best = max(best, row) if best else row
                regs, spills, smem = best
                blocks, limit = occupancy(chip, regs, smem)
                ceiling = flops / shared * SHARED_BYTES_PER_CLOCK * sms * ghz / 1000
                print("| %s | %s | %d | %d B | %d B | %d (%s) | %d | %.0f | %.0f | "
                      "%.0f TFLOP/s (%.2f of %d) |" % (
                          name, chip, regs, spills, smem, blocks, limit, blocks * 4,
                          flops / shared, flops / global_, ceiling, ceiling / peak, peak),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
