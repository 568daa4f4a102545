"""The Hopper kernels (kha-matmul-to-gpu and kha-sdpa-to-gpu for sm_90a,
which choose the `wgmma` kernels) run on
the host by kha-gpu-launch-to-host-loops: TMA loads copy their boxes with the
tensor map's swizzle and zero fill when the mbarrier phase they signal
completes (their destination is NaN until then), mbarriers count arrivals and
transaction bytes by phase, and each warpgroup MMA decodes its operands from
its 64-bit shared-memory matrix descriptors (start address, leading and
stride byte offsets, swizzle) as the PTX ISA defines them. Results are
compared with float64 at the contract's tolerances.

Negative controls, each of which must fail:
  - a wrong swizzle: the A tiles loaded by TMA through a tensor map without
    swizzle while their descriptors read the 128-byte swizzle;
  - a wrong descriptor stride: the stride byte offset (between groups of
    eight rows) of the descriptors halved, 512 bytes instead of 1024;
  - a wrong phase: every mbarrier wait for the opposite parity, so a stage
    is read before (or long after) its loads complete;
  - a short transaction count: arrive.expect_tx announces half of a stage's
    bytes, so the phase completes before the second load has landed;
  - attention: K read as an N-major operand in S = Q K^T; P's register
    fragment in the order of an accumulator's columns instead of the PTX A
    layout (elements 2-3 and 4-5 of each k16 step swapped); the wait before
    O's rescale removed, so the rescale reads O while P V is still in flight
    (the emulation refuses it, as the result would be undefined on the GPU);
    every wait for the other phase; head dim 72 with the tensor maps filling
    the columns past it (which its last k16 step reads) with NaN instead of
    zeros;
  - warp specialisation (a producer warpgroup loading the stages, the
    emulation running it as far ahead as its waits allow whenever a consumer
    is about to wait): the producer not waiting for a stage's release (it
    overwrites a tile still in use), waiting for the other parity of it
    (it never proceeds), and the consumers' release removed (the producer
    is left waiting).

usage: wgmma_kernels_on_host.py TOOLS_DIR
"""
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mma_kernels_on_host import check_matmul, check_sdpa  # noqa: E402

HOPPER = dict(chip="sm_90a",
              expect=("nvgpu.warpgroup.mma", "nvgpu.tma.async.load",
                      "nvgpu.mbarrier.try_wait.parity"))
# Attention multiplies P (in registers) by V with the register-A MMA.
HOPPER_SDPA = dict(HOPPER, expect=HOPPER["expect"] + ("kha.warpgroup_mma_register_a",))

# (M, K, N, in dtype, out dtype, dynamic M)
MATMUL = [
    (130, 136, 72, "bf16", "bf16", False),  # 3 steps of K (the last partial), 2 x 3 tiles
    (70, 64, 48, "f16", "f32", True),       # one step, N < 64, dynamic M
    (1, 16, 8, "f16", "f16", False),        # one row, K and N inside one box
    (64, 200, 200, "bf16", "f32", False),   # 4 steps: the ring wraps twice
    (200, 520, 136, "bf16", "bf16", True),  # 128 x 128 tiles (two warpgroups), 9 steps
                                            # on 4 stages, partial tiles both ways
    (70, 72, 264, "f16", "f32", False),     # 128 x 256 tiles (m64n256k16), a partial
                                            # second tile of 8 columns, 2 steps of K
]
# (B, L, S, H, G, d, causal, dtype, dynamic)
SDPA = [
    (2, 37, 50, 4, 2, 64, True, "bf16", False),    # GQA (r = 2), a partial second tile
    (1, 130, 130, 2, 2, 64, True, "f16", True),    # MHA, 3 row blocks, 3 tiles: the ring wraps
    (1, 1, 1, 8, 1, 64, True, "bf16", False),      # L = S = 1, MQA (r = 8)
    (2, 20, 70, 4, 4, 64, False, "f16", False),    # non-causal, S not a multiple of 64
    (1, 70, 150, 4, 1, 128, True, "bf16", True),   # d = 128 (dynamic shared memory), MQA
    (2, 33, 33, 2, 2, 128, False, "f16", False),   # d = 128, MHA, one partial tile
    (1, 45, 77, 6, 3, 96, True, "f16", False),     # d = 96: the second box half zero-filled
    (1, 20, 20, 2, 1, 32, False, "bf16", False),   # d = 32: half a box
    (1, 40, 40, 4, 2, 72, True, "f16", True),      # d = 72: 8 columns into a second box
    (1, 17, 90, 2, 2, 256, True, "bf16", False),   # d = 256: four boxes per row
    (1, 5, 0, 2, 2, 128, False, "bf16", True),     # S = 0 at run time: no key tile
                                                    # to load or wait for, zeros out
    (1, 70, 300, 4, 2, 64, False, "f16", False),   # 5 tiles on 3 stages: the producer
                                                    # refills released stages
]

# The descriptor bits MLIR's nvgpu-to-nvvm lowering (and the emulation) put
# in a 64 x 64 16-bit tile's descriptor: 128-byte swizzle (code 1, bits
# 62-63), stride byte offset 1024 >> 4 (bits 32-45), leading byte offset
# 64 * 128 >> 4 (bits 16-29).
FIXED = (1 << 62) | (64 << 32) | (512 << 16)
HALF_STRIDE = (1 << 62) | (32 << 32) | (512 << 16)


def unswizzled_a(ir):
    """A's TMA loads through a copy of its tensor map without swizzle, while
    its wgmma descriptors still read the 128-byte swizzle."""
    create = re.search(r"^(\s*)(%\w+) = (nvgpu\.tma\.create\.descriptor .*swizzle_128b.*)$",
                       ir, flags=re.M)
    indent, name, rest = create.groups()
    bad = "%s%%unswizzled = %s" % (indent, rest.replace("swizzle_128b", "none"))
    ir = ir[:create.end()] + "\n" + bad + ir[create.end():]
    return re.sub(r"(nvgpu\.tma\.async\.load )" + re.escape(name) + r"(\[.*? : .*?)swizzle_128b",
                  r"\1%unswizzled\2none", ir)


def replace_operand(ir, op, define):
    """Every `op` line's last bracketed-group operand (`op %x[%i], %OPERAND`)
    replaced by a value `define(indent, operand, n)` computes just before
    it; `define` returns (lines, new operand)."""
    out = []
    for n, line in enumerate(ir.split("\n")):
        m = re.match(r"(\s*)(.*%s \S+\[\S+\], )(%%\w+)(.*)$" % re.escape(op), line)
        if m:
            indent, head, operand, tail = m.groups()
            lines, operand = define(indent, operand, n)
            out += lines
            line = "%s%s%s%s" % (indent, head, operand, tail)
        out.append(line)
    return "\n".join(out)


def swap_fragment(ir):
    """Each register-A MMA's fragment with elements 2-3 and 4-5 of every
    k16 step swapped."""
    out = []
    for n, line in enumerate(ir.split("\n")):
        m = re.match(r"(\s*)(.*kha\.warpgroup_mma_register_a )(%[\w#]+)(.*: vector<(\d+)x(\w+)>, .*)$",
                     line)
        if m:
            indent, head, a, tail, count, element = m.groups()
            order = [8 * (i // 8) + [0, 1, 4, 5, 2, 3, 6, 7][i % 8] for i in range(int(count))]
            out.append("%s%%swapped_%d = vector.shuffle %s, %s [%s] : vector<%sx%s>, vector<%sx%s>" % (
                indent, n, a, a, ", ".join(map(str, order)), count, element, count, element))
            line = "%s%s%%swapped_%d%s" % (indent, head, n, tail)
        out.append(line)
    return "\n".join(out)


def flip_parity(ir):
    """Every mbarrier wait for the opposite parity of the one it needs."""
    return replace_operand(ir, "nvgpu.mbarrier.try_wait.parity", lambda ind, p, n: (
        ["%s%%true_%d = arith.constant true" % (ind, n),
         "%s%%flip_%d = arith.xori %s, %%true_%d : i1" % (ind, n, p, n)], "%%flip_%d" % n))


def producer_lines(ir):
    """The line numbers of the producer warpgroup's code (after its
    register cut), and the lines."""
    lines = ir.split("\n")
    start = next(i for i, l in enumerate(lines) if "nvvm.setmaxregister  decrease" in l)
    return start, lines


def producer_no_wait(ir):
    """The producer refills a stage without waiting for its release."""
    start, lines = producer_lines(ir)
    wait = next(i for i in range(start, len(lines))
                if "nvgpu.mbarrier.try_wait.parity" in lines[i])
    return "\n".join(lines[:wait] + lines[wait + 1:])


def producer_flip_parity(ir):
    """The producer waits for the other parity of a stage's release."""
    start, lines = producer_lines(ir)
    head, tail = "\n".join(lines[:start]), "\n".join(lines[start:])
    return head + "\n" + flip_parity(tail)


def half_tx(ir):
    """Every arrive.expect_tx announcing half of its bytes."""
    return replace_operand(ir, "nvgpu.mbarrier.arrive.expect_tx", lambda ind, c, n: (
        ["%s%%two_%d = arith.constant 2 : index" % (ind, n),
         "%s%%half_%d = arith.divui %s, %%two_%d : index" % (ind, n, c, n)], "%%half_%d" % n))


BROKEN = [
    ("wrong swizzle: A loaded unswizzled, read as swizzled", MATMUL[0], unswizzled_a, None),
    ("wrong descriptor stride: 8-row groups 512 B apart", MATMUL[3], None,
     lambda ir: ir.replace("arith.constant %d : i64" % FIXED,
                           "arith.constant %d : i64" % HALF_STRIDE)),
    ("wrong phase: waits for the other parity", MATMUL[3], flip_parity, None),
    ("short expect_tx: half a stage's bytes", MATMUL[3], half_tx, None),
    ("K read as an N-major operand in S = Q K^T", SDPA[0],
     lambda ir: re.sub(r"\{waitGroup = (\d+) : i64\}", r"{transposeB, waitGroup = \1 : i64}", ir),
     None),
    ("P's fragment in accumulator column order, not the A layout", SDPA[1], swap_fragment,
     None),
    ("O rescaled while its P V is in flight (the wait before it removed)", SDPA[4],
     lambda ir: re.sub(r"\n\s*nvvm\.wgmma\.wait\.group\.sync\.aligned 0\n", "\n", ir), None),
    ("stage parity off by one pass", SDPA[1], flip_parity, None),
    ("columns past the head dim filled with NaN, not zeros", SDPA[8],
     lambda ir: ir.replace("oob = zero", "oob = nan"), None),
    ("the producer refills a stage without waiting for its release", SDPA[11],
     producer_no_wait, None),
    ("the producer waits for the other parity of a stage's release", SDPA[11],
     producer_flip_parity, None),
    ("the consumers never release a stage (their arrive removed)", SDPA[11],
     lambda ir: re.sub(r"\n.*= nvgpu\.mbarrier\.arrive %.*", "", ir), None),
]


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(90)
    passed = failed = 0
    runs = [(check_sdpa, c, None, None, None) for c in SDPA]
    runs += [(check_matmul, c, None, None, None) for c in MATMUL]
    runs += [(check_sdpa if len(case) == 9 else check_matmul, case, edit, host_edit, why)
             for why, case, edit, host_edit in BROKEN]
    for check, case, edit, host_edit, why in runs:
        try:
            ok, err, name, counts = check(tools, rng, case, edit, host_edit=host_edit,
                                          **(HOPPER_SDPA if check is check_sdpa else HOPPER))
        except Exception as e:  # a control may also fail by an emulation assert
            if not why:
                raise
            ok, err, name, counts = False, float("nan"), "%r" % (case,), {}
            code = getattr(e, "returncode", 0)
            name += (" (killed by signal %d: an emulation assert)" % -code if code < 0 else
                     " (%s)" % str(e).splitlines()[0][:120])
        if why:  # a negative control must fail
            ok = not ok
            name += " [%s: must fail]" % why
        else:
            name += " [%s]" % ", ".join("%d %s" % (n, op) for op, n in counts.items())
        passed += ok
        failed += not ok
        print("%s: error %.3g: %s" % (name, err, "ok" if ok else "FAIL"), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
