"""Read and write .safetensors files with numpy alone.

    from kha.safetensors import load, save
    tensors = load("model.safetensors")          # {name: numpy array}
    save("layer.safetensors", {"wq": wq, ...})   # float32/float16 arrays

The format: an 8-byte little-endian header length N, N bytes of JSON giving
each tensor's dtype, shape and byte range, then the bytes. numpy has no
bfloat16, so BF16 tensors are returned as float32 (exactly) unless
`bf16_as="raw"` asks for their uint16 bit patterns. Malformed files raise
ValueError naming the problem.
"""

import json
import struct

import numpy as np

_NUMPY = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),
}
_NAMES = {v: k for k, v in _NUMPY.items() if k != "BF16"}


def _header(data, path):
    if len(data) < 8:
        raise ValueError("%s: too short for a .safetensors file" % path)
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise ValueError("%s: header length %d runs past the end of the file" % (path, size))
    try:
        header = json.loads(bytes(data[8:8 + size]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError("%s: header is not JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise ValueError("%s: header is not a JSON object" % path)
    return header, 8 + size


def load(path, bf16_as="float32"):
    """The tensors of a .safetensors file, by name, as numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    header, start = _header(data, path)
    body = memoryview(data)[start:]
    out, ranges = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        bad = lambda why: ValueError("%s: tensor %r: %s" % (path, name, why))
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise bad("needs exactly 'dtype', 'shape' and 'data_offsets'")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _NUMPY:
            raise bad("unknown dtype %r" % (dtype,))
        if (not isinstance(shape, list)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in shape)):
            raise bad("shape must be a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise bad("'data_offsets' must be two integers 0 <= begin <= end")
        begin, end = offsets
        if end > len(body):
            raise bad("data_offsets [%d, %d] run past the %d data bytes" % (begin, end, len(body)))
        count = int(np.prod(shape, dtype=object))
        if end - begin != count * _NUMPY[dtype].itemsize:
            raise bad("holds %d bytes, its shape and %s need %d"
                      % (end - begin, dtype, count * _NUMPY[dtype].itemsize))
        array = np.frombuffer(body[begin:end], dtype=_NUMPY[dtype]).reshape(shape)
        if dtype == "BF16" and bf16_as == "float32":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        out[name] = array.copy()
        if end > begin:
            ranges.append((begin, end))
    ranges.sort()
    for (_, e0), (b1, _) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise ValueError("%s: tensors' byte ranges overlap" % path)
    return out


def save(path, tensors, metadata=None):
    """Writes numpy arrays (by name) to a .safetensors file."""
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = _NAMES.get(array.dtype.newbyteorder("<") if array.dtype.itemsize > 1
                           else array.dtype)
        if dtype is None:
            raise ValueError("tensor %r: dtype %s has no .safetensors name" % (name, array.dtype))
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
