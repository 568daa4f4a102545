"""Writes .safetensors files for import-safetensors.test from DIR/<name>.npy.

usage: make_safetensors.py DIR OUT KIND
KIND: good (float32 tensors and an unrelated one), bf16 (BF16 tensors), or a
defect: missing, shape, dtype, short, header-past-end, not-json, past-data,
wrong-size, overlap.
"""
import glob
import json
import os
import struct
import sys

import numpy as np

from kha import safetensors

directory, out, kind = sys.argv[1:4]
tensors = {os.path.basename(p)[:-4]: np.load(p)
           for p in sorted(glob.glob(os.path.join(directory, "*.npy")))}
tensors.pop("x")
tensors["model.embed_tokens.weight"] = np.zeros((3, 2), np.float32)


def raw(header, data):
    text = json.dumps(header).encode()
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


if kind == "good":
    safetensors.save(out, tensors, metadata={"format": "pt"})
elif kind == "bf16":
    # BF16 bit patterns of the float32 weights, rounded to nearest even.
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        bits = array.astype(np.float32).view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        data = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw(header, b"".join(chunks))
elif kind == "missing":
    tensors.pop("tv")
    safetensors.save(out, tensors)
elif kind == "shape":
    tensors["wq"] = tensors["wq"].T.copy()
    safetensors.save(out, tensors)
elif kind == "dtype":
    tensors["wk"] = tensors["wk"].astype(np.int32)
    safetensors.save(out, tensors)
elif kind == "short":
    with open(out, "wb") as f:
        f.write(b"\x01\x02")
elif kind == "header-past-end":
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", 1 << 40) + b"{}")
elif kind == "not-json":
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", 5) + b"{oops")
elif kind == "past-data":
    raw({"wq": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4)
elif kind == "wrong-size":
    raw({"wq": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
elif kind == "overlap":
    raw({"wq": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "wk": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
else:
    sys.exit("unknown kind " + kind)
