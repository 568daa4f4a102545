"""f32 -> bf16 rounding in compiled code (kha-expand-bf16-conversions) against
PyTorch's conversion, bit for bit: random bit patterns, ties to even, the
largest finite values, infinities, subnormals and NaNs, over a length no
vector width divides. A NaN must stay a NaN (its payload is not kept).

The inputs include values where truncating would differ from rounding, so a
wrong rounding cannot pass (checked, as a negative control).

usage: bf16_rounding.py TOOLS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import expect, report  # noqa: E402

N = 4099

MODULE = """
func.func @round(%x: tensor<NxF32>) -> tensor<NxBF16> {
  %0 = arith.truncf %x : tensor<NxF32> to tensor<NxBF16>
  return %0 : tensor<NxBF16>
}
""".replace("NxF32", "%dxf32" % N).replace("NxBF16", "%dxbf16" % N)


def main():
    tools = sys.argv[1]
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    special = [0x3F808000, 0x3F818000,  # ties: to the even neighbour
               0x7F7FFFFF, 0xFF7FFFFF,  # rounds up to infinity
               0x7F800000, 0xFF800000,  # infinities
               0x7FC00000, 0x7F800001, 0xFFC12345,  # NaNs
               0x00000001, 0x80008000, 0x00018000,  # subnormals
               0x00000000, 0x80000000]  # zeros
    bits[:len(special)] = special
    x = bits.view(np.float32)
    expected = torch.from_numpy(x.copy()).to(torch.bfloat16).float().numpy().view(np.uint32)
    truncated = bits & 0xFFFF0000
    nan = np.isnan(x)
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = os.path.join(tmp, "round.mlir"), os.path.join(tmp, "round.so")
        with open(src, "w") as f:
            f.write(MODULE)
        subprocess.run([os.path.join(tools, "kha-compile"), src, "-o", lib], check=True)
        x_path, y_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(x_path, x)
        subprocess.run([os.path.join(tools, "kha-run"), lib, "--input=@" + x_path,
                        "--output=@" + y_path], check=True, capture_output=True)
        y = np.load(y_path)  # kha-run writes bf16 results widened to f32
    got = y.view(np.uint32)
    expect(np.array_equal(got[~nan], expected[~nan]),
           "finite and infinite values as PyTorch rounds them")
    expect(bool(np.all(np.isnan(y[nan]))),
           "NaN stays NaN")
    expect(not np.array_equal(truncated[~nan], expected[~nan]),
           "negative control: truncation differs from rounding on these inputs")
    return report()


if __name__ == "__main__":
    sys.exit(main())
