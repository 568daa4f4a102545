"""The AVX512-BF16 dot product as kha-emulate-bf16-dot computes it
(`kha-compile --bf16-dot=emulate`), bit for bit against Intel's definition
of VDPBF16PS, written here in numpy: per 32-bit lane i,

    acc = acc + a[2i+1] * b[2i+1]   (rounded to f32, nearest even)
    acc = acc + a[2i]   * b[2i]     (rounded again)

with subnormal inputs (the accumulator and the bf16 elements) read as zero
and subnormal results flushed to zero. Random lanes, plus lanes where the
flushing or the order of the two steps decides the result.

Negative controls: the same reference with the steps in the other order,
and without the flushing, must each disagree with it on these inputs, so
that an emulation with either mistake cannot pass.

usage: bf16_dot_emulation.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import expect, report  # noqa: E402

ROWS = 64

MODULE = """
func.func @dot(%acc: tensor<64x16xf32>, %a: tensor<64x32xbf16>, %b: tensor<64x32xbf16>)
    -> tensor<64x16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = arith.constant 64 : index
  %zf = arith.constant 0.0 : f32
  %zb = arith.constant 0.0 : bf16
  %r = scf.for %i = %c0 to %rows step %c1 iter_args(%out = %acc) -> tensor<64x16xf32> {
    %s = vector.transfer_read %acc[%i, %c0], %zf {in_bounds = [true]} : tensor<64x16xf32>, vector<16xf32>
    %va = vector.transfer_read %a[%i, %c0], %zb {in_bounds = [true]} : tensor<64x32xbf16>, vector<32xbf16>
    %vb = vector.transfer_read %b[%i, %c0], %zb {in_bounds = [true]} : tensor<64x32xbf16>, vector<32xbf16>
    %d = x86vector.avx512.dot %s, %va, %vb : vector<32xbf16> -> vector<16xf32>
    %w = vector.transfer_write %d, %out[%i, %c0] {in_bounds = [true]} : vector<16xf32>, tensor<64x16xf32>
    scf.yield %w : tensor<64x16xf32>
  }
  return %r : tensor<64x16xf32>
}
"""


def bits(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def flush(x):
    """f32 values with the subnormals replaced by a zero of their sign."""
    b = bits(x).copy()
    tiny = (b & 0x7F800000) == 0
    b[tiny] &= 0x80000000
    return b.view(np.float32)


def reference(acc, a, b, order=(1, 0), flushing=True):
    """VDPBF16PS lane by lane. The sums are exact in float64 for these
    inputs (their bits span fewer than 53 places), so one rounding to f32
    is the instruction's rounding."""
    f = flush if flushing else (lambda x: np.asarray(x, dtype=np.float32))
    out = f(acc).astype(np.float64)
    for p in order:
        prod = f(a[:, p::2]).astype(np.float64) * f(b[:, p::2]).astype(np.float64)
        out = f((out + prod).astype(np.float32)).astype(np.float64)
    return out.astype(np.float32)


def bf16_values(rng, shape, low, high):
    """Random bf16 values (f32 with the low 16 bits clear), exponents in
    [low, high)."""
    mant = rng.integers(0, 128, shape).astype(np.uint32) << 16
    exp = (rng.integers(low, high, shape) + 127).astype(np.uint32) << 23
    sign = rng.integers(0, 2, shape).astype(np.uint32) << 31
    return (sign | exp | mant).view(np.float32)


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(5)
    acc = rng.standard_normal((ROWS, 16)).astype(np.float32) * 4
    a = bf16_values(rng, (ROWS, 32), -8, 8)
    b = bf16_values(rng, (ROWS, 32), -8, 8)
    # Row 0: where the order of the steps decides the result. Odd products
    # 2^-24, even ones -2^-24, accumulator 1: odd first, 1 + 2^-24 ties to
    # 1, and 1 - 2^-24 is exact; even first, 1 - 2^-24 is exact, and adding
    # 2^-24 gives 1.
    acc[0, :] = 1.0
    a[0, :], b[0, 1::2], b[0, 0::2] = 2.0 ** -12, 2.0 ** -12, -(2.0 ** -12)
    # Row 1: a bf16 subnormal input (read as zero) times a large value;
    # row 2: a product that is subnormal in f32 (flushed); row 3: a
    # subnormal accumulator (read as zero).
    sub = np.array([0x00010000], dtype=np.uint32).view(np.float32)[0]  # bf16 2^-133
    a[1, :], b[1, :], acc[1, :] = sub, 2.0 ** 100, 1.0
    a[2, :], b[2, :], acc[2, :] = 2.0 ** -70, -(2.0 ** -70), 0.0
    acc[3, :] = np.array([0x00000003], dtype=np.uint32).view(np.float32)[0]
    a[3, :], b[3, :] = 0.0, 1.0

    expected = reference(acc, a, b)
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = os.path.join(tmp, "dot.mlir"), os.path.join(tmp, "dot.so")
        with open(src, "w") as f:
            f.write(MODULE)
        subprocess.run([os.path.join(tools, "kha-compile"), src, "--bf16-dot=emulate",
                        "--no-threads", "-o", lib], check=True)
        paths = []
        for name, value in (("acc", acc), ("a", a), ("b", b)):
            paths.append(os.path.join(tmp, name + ".npy"))
            np.save(paths[-1], value)  # bf16 arguments: exact f32 values
        y_path = os.path.join(tmp, "y.npy")
        subprocess.run([os.path.join(tools, "kha-run"), lib]
                       + ["--input=@" + p for p in paths] + ["--output=@" + y_path],
                       check=True, capture_output=True)
        got = np.load(y_path)
    expect(np.array_equal(bits(got), bits(expected)),
           "all lanes bit for bit as VDPBF16PS")
    expect(np.all(got[0] == np.float32(1 - 2.0 ** -24)),
           "odd products first (row 0)")
    expect(np.all(got[1] == 1.0),
           "subnormal input read as zero (row 1)")
    expect(np.all(bits(got[2]) == 0x80000000),
           "subnormal product flushed (row 2)")
    expect(np.all(bits(got[3]) == 0),
           "subnormal accumulator read as zero (row 3)")
    expect(not np.array_equal(bits(reference(acc, a, b, order=(0, 1))), bits(expected)),
           "negative control: the even step first differs")
    expect(not np.array_equal(bits(reference(acc, a, b, flushing=False)), bits(expected)),
           "negative control: no flushing differs")
    return report()


if __name__ == "__main__":
    sys.exit(main())
