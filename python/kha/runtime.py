"""Calling a library compiled by kha (kha-compile or kha.compile) from Python,
on numpy arrays, with no MLIR involved: the library's `kha_manifest` says
what each public function takes and returns (docs/runtime.md), and
`_mlir_ciface_<name>` is called with MLIR memref descriptors.

    lib = kha.Library("layer.so")
    lib.functions["kha_layer"].args        # [(name, dtype, shape), ...]
    y = lib.kha_layer(x, wq, wk, wv, wo)   # or lib("kha_layer", ...)

A library for --target=cuda is called the same way: numpy arrays are copied to
the GPU and the results back, by the runtime linked into the library.

Arrays are converted to the argument's element type (f32: float32, f16:
float16, bf16: float32 values rounded to bfloat16); results come back as
numpy arrays (bf16 as float32) that own their memory.
"""

import ctypes
import ctypes.util
import os
from dataclasses import dataclass, field

import numpy as np

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None

_NUMPY = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i64": np.int64}
_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i64": 8}


class LibraryError(RuntimeError):
    """A library that cannot be loaded or called as asked."""


@dataclass
class TensorSpec:
    name: str
    dtype: str
    shape: list  # -1: dynamic
    # "arg" (read), "inout" (updated in place: a key/value cache) or
    # "scalar" (an i64 passed by value: a cache length).
    kind: str = "arg"

    def describe(self):
        if self.kind == "scalar":
            return "%s:i64" % self.name
        return "%s:%s[%s]" % (self.name, self.dtype,
                              ", ".join("?" if s < 0 else str(s) for s in self.shape))


@dataclass
class FunctionSpec:
    name: str
    args: list = field(default_factory=list)
    results: list = field(default_factory=list)
    # Groups of (argument, dimension) whose dynamic sizes must be equal.
    equal_sizes: list = field(default_factory=list)
    # The weight-only work, outlined by the compiler: `prepare` takes the
    # arguments `weight_args`, `prepared` all arguments and its results.
    prepare: str = None
    prepared: str = None
    weight_args: list = field(default_factory=list)
    # (length, (arg, dim), (arg, dim)): 0 <= length <= capacity - tokens.
    cache_bounds: list = field(default_factory=list)


def parse_manifest(text):
    """(device, {name: FunctionSpec}) from a kha manifest."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0][:2] != ["kha-manifest", "1"]:
        raise LibraryError("not a kha manifest (version 1)")
    device, functions, current = None, {}, None
    for words in lines[1:]:
        kind = words[0]
        if kind == "device":
            device = words[1]
        elif kind == "function":
            current = functions[words[1]] = FunctionSpec(words[1])
        elif kind in ("arg", "inout", "result") and current is not None:
            rank = int(words[3])
            spec = TensorSpec(words[1], words[2], [int(s) for s in words[4:4 + rank]],
                              "inout" if kind == "inout" else "arg")
            (current.results if kind == "result" else current.args).append(spec)
        elif kind == "scalar" and current is not None and words[2:] == ["i64"]:
            current.args.append(TensorSpec(words[1], "i64", [], "scalar"))
        elif kind == "fits" and current is not None and len(words) == 4:
            def at(item):
                arg, _, dim = item.partition(".")
                if not (arg.isdigit() and dim.isdigit() and int(arg) < len(current.args)
                        and int(dim) < len(current.args[int(arg)].shape)):
                    raise LibraryError("malformed manifest line: %s" % " ".join(words))
                return int(arg), int(dim)
            if not (words[1].isdigit() and int(words[1]) < len(current.args)
                    and current.args[int(words[1])].kind == "scalar"):
                raise LibraryError("malformed manifest line: %s" % " ".join(words))
            current.cache_bounds.append((int(words[1]), at(words[2]), at(words[3])))
        elif kind == "same" and current is not None:
            group = []
            for item in words[1:]:
                arg, _, dim = item.partition(".")
                if not (arg.isdigit() and dim.isdigit() and int(arg) < len(current.args)
                        and int(dim) < len(current.args[int(arg)].shape)):
                    raise LibraryError("malformed manifest line: %s" % " ".join(words))
                group.append((int(arg), int(dim)))
            current.equal_sizes.append(group)
        elif kind == "prepare" and current is not None and len(words) >= 4:
            indices = [int(w) for w in words[3:] if w.isdigit()]
            if (len(indices) != len(words) - 3 or indices != sorted(set(indices))
                    or indices[-1] >= len(current.args)):
                raise LibraryError("malformed manifest line: %s" % " ".join(words))
            current.prepare, current.prepared, current.weight_args = words[1], words[2], indices
        elif kind == "end":
            current = None
        else:
            raise LibraryError("malformed manifest line: %s" % " ".join(words))
    for fn in functions.values():
        if fn.prepare and (fn.prepare not in functions or fn.prepared not in functions):
            raise LibraryError("the manifest's prepare line of %s names functions the "
                               "library does not have" % fn.name)
    return device, functions


def to_bfloat16_bits(values):
    """float32 -> bfloat16 bit patterns, rounded to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    rounded = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(values)
    rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def from_bfloat16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _descriptor(rank):
    return (ctypes.c_int64 * (3 + 2 * rank))()


class Library:
    """A compiled kha library, loaded. Each public function is an attribute."""

    def __init__(self, path):
        # A path, not a name for the dynamic loader's search.
        self.path = os.path.abspath(os.fspath(path))
        try:
            self._dll = ctypes.CDLL(self.path)
        except OSError as e:
            raise LibraryError("cannot load %s: %s" % (self.path, e)) from None
        try:
            start = ctypes.addressof(ctypes.c_char.in_dll(self._dll, "kha_manifest"))
        except ValueError:
            raise LibraryError("%s is not a kha library (no kha_manifest)" % self.path) from None
        self.device, self.functions = parse_manifest(ctypes.string_at(start).decode())
        if self.device not in ("cpu", "cuda"):
            raise LibraryError("%s is built for an unknown device %s" % (self.path, self.device))
        self._gpu = _CudaRuntime(self._dll) if self.device == "cuda" else None

    def __getattr__(self, name):
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return lambda *arrays: self(name, *arrays)
        raise AttributeError(name)

    def bind(self, name, *weights, **named):
        """`name` with its weights bound: the weight arguments (those the
        manifest's prepare line lists; without one, every argument but the
        first and the int64 ones, as for a layer: x, positions and masks are
        not weights), positionally in argument order or by name. Where the
        compiler outlined the work on the weights alone (kha-compile's
        prepare step), it runs here, once; the returned function takes the
        other arguments and runs the rest per call."""
        if name not in self.functions:
            raise LibraryError("%s has no function %s (it has %s)"
                               % (self.path, name, ", ".join(sorted(self.functions))))
        fn = self.functions[name]
        indices = fn.weight_args or [i for i in range(1, len(fn.args))
                                     if fn.args[i].dtype != "i64"
                                     and fn.args[i].kind == "arg"]
        names = [fn.args[i].name for i in indices]
        if weights and named:
            raise LibraryError("give the weights positionally or by name, not both")
        if named:
            unknown = sorted(set(named) - set(names))
            missing = [n for n in names if n not in named]
            if unknown or missing:
                raise LibraryError("%s's weights are %s; %s" % (
                    name, ", ".join(names),
                    "unknown: " + ", ".join(unknown) if unknown
                    else "missing: " + ", ".join(missing)))
            weights = [named[n] for n in names]
        if len(weights) != len(indices):
            raise LibraryError("%s has %d weights (%s), got %d"
                               % (name, len(indices), ", ".join(names), len(weights)))
        prepared = ()
        if fn.prepare:
            prepared = self(fn.prepare, *weights)
            if not isinstance(prepared, tuple):
                prepared = (prepared,)
        return BoundFunction(self, fn, indices, list(weights), prepared)

    def __call__(self, name, *arrays):
        if name not in self.functions:
            raise LibraryError("%s has no function %s (it has %s)"
                                % (self.path, name, ", ".join(sorted(self.functions))))
        fn = self.functions[name]
        if len(arrays) != len(fn.args):
            raise LibraryError("%s takes %d arguments (%s), got %d" % (
                name, len(fn.args), ", ".join(a.describe() for a in fn.args), len(arrays)))
        buffers = [self._argument(spec, a) for spec, a in zip(fn.args, arrays)]
        # Dynamic sizes the function needs equal: a mismatch would make it
        # read outside the smaller array.
        for group in fn.equal_sizes:
            (a0, d0), sizes = group[0], [buffers[a].shape[d] for a, d in group]
            for (a, d), size in zip(group, sizes):
                if size != sizes[0]:
                    raise LibraryError(
                        "arguments disagree: dimension %d of %s is %d but dimension %d of %s "
                        "is %d; %s needs them equal" % (
                            d, fn.args[a].describe(), size, d0, fn.args[a0].describe(),
                            sizes[0], fn.name))
        gpu = self._gpu
        arrays_of = [b for spec, b in zip(fn.args, buffers) if spec.kind != "scalar"]
        # For cuda: the library's own runtime moves arguments to the device.
        pointers_of = [buf.ctypes.data for buf in arrays_of]
        if gpu:
            gpu.start()
            pointers_of = [gpu.to_device(buf) for buf in arrays_of]
        device_of = iter(pointers_of)
        args, argtypes = [], []
        for spec, buf in zip(fn.args, buffers):
            if spec.kind == "scalar":  # an i64 by value
                args.append(ctypes.c_int64(buf))
                argtypes.append(ctypes.c_int64)
                continue
            ptr = next(device_of)
            desc = _descriptor(buf.ndim)
            strides = [s // buf.itemsize for s in buf.strides]
            desc[:] = [ptr, ptr, 0, *buf.shape, *strides]
            args.append(ctypes.cast(desc, ctypes.c_void_p))
            argtypes.append(ctypes.c_void_p)
        words = sum(3 + 2 * len(r.shape) for r in fn.results)
        result_struct = (ctypes.c_int64 * max(words, 1))()
        pointers = ([ctypes.cast(result_struct, ctypes.c_void_p)] if fn.results else []) + args
        entry = getattr(self._dll, "_mlir_ciface_" + name)
        entry.restype = None
        entry.argtypes = [ctypes.c_void_p] * (len(pointers) - len(args)) + argtypes
        entry(*pointers)
        # The entry point's own argument checks (absent from libraries
        # older than them).
        refused = getattr(self._dll, "kha_last_error", None)
        if refused is not None:
            refused.restype, refused.argtypes = ctypes.c_char_p, []
            problem = refused()
            if problem:
                if gpu:  # nothing ran: the inputs' device copies go back
                    for ptr in pointers_of:
                        gpu.free(ptr)
                raise LibraryError("the library refused the call: " + problem.decode())
        if gpu:
            gpu.check(name + " failed on the GPU")
        # Arguments updated in place (a cache): back into the caller's arrays.
        device_of = iter(pointers_of)
        for spec, buf, array in zip(fn.args, buffers, arrays):
            if spec.kind == "scalar":
                continue
            ptr = next(device_of)
            if spec.kind != "inout":
                continue
            if gpu:
                gpu.to_host(buf, ptr)
            if buf is not array:
                array[...] = from_bfloat16_bits(buf) if spec.dtype == "bf16" else buf
        outputs, word = [], 0
        inputs = set(pointers_of)
        for spec in fn.results:
            rank = len(spec.shape)
            desc = list(result_struct[word:word + 3 + 2 * rank])
            word += 3 + 2 * rank
            outputs.append(self._result(spec, desc, inputs, gpu))
        if gpu:
            for ptr in pointers_of:
                gpu.free(ptr)
            gpu.check("the GPU failed")
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    @staticmethod
    def _argument(spec, array):
        if spec.kind == "scalar":
            if isinstance(array, (bool, np.bool_)) or not isinstance(array, (int, np.integer)):
                raise LibraryError("argument %s: expected an integer, got %r"
                                   % (spec.describe(), array))
            if not -2**63 <= int(array) < 2**63:
                raise LibraryError("argument %s: %d does not fit in 64 bits"
                                   % (spec.describe(), int(array)))
            return int(array)
        if spec.kind == "inout" and not (isinstance(array, np.ndarray)
                                         and array.flags.writeable):
            raise LibraryError("argument %s is updated in place: pass a writeable numpy array"
                               % spec.describe())
        a = np.asarray(array)
        if a.ndim != len(spec.shape):
            raise LibraryError("argument %s: expected rank %d, got shape %s"
                                % (spec.describe(), len(spec.shape), list(a.shape)))
        for i, (want, got) in enumerate(zip(spec.shape, a.shape)):
            if want >= 0 and want != got:
                raise LibraryError("argument %s: dimension %d is %d, expected %d"
                                    % (spec.describe(), i, got, want))
        if spec.dtype == "i64":
            if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
                raise LibraryError("argument %s: expected integers, got %s"
                                   % (spec.describe(), a.dtype))
            return np.ascontiguousarray(a, dtype=np.int64)
        if not np.issubdtype(a.dtype, np.floating):
            raise LibraryError("argument %s: expected floating-point values, got %s"
                                % (spec.describe(), a.dtype))
        if spec.dtype == "bf16":
            return to_bfloat16_bits(a)
        return np.ascontiguousarray(a, dtype=_NUMPY[spec.dtype])

    @staticmethod
    def _result(spec, desc, inputs, gpu=None):
        rank = len(spec.shape)
        allocated, aligned, offset = desc[0], desc[1], desc[2]
        sizes, strides = desc[3:3 + rank], desc[3 + rank:3 + 2 * rank]
        itemsize = _BYTES[spec.dtype]
        count = int(np.prod(sizes)) if rank else 1
        out = np.empty(sizes, dtype=_NUMPY[spec.dtype])
        if count:
            extent = 1 + sum((s - 1) * st for s, st in zip(sizes, strides)) if rank else 1
            start = aligned + offset * itemsize
            if gpu:  # the result's extent, copied back
                host = np.empty(extent, dtype=_NUMPY[spec.dtype])
                gpu.to_host(host, start)
                start = host.ctypes.data
            base = (ctypes.c_char * (extent * itemsize)).from_address(start)
            view = np.lib.stride_tricks.as_strided(
                np.frombuffer(base, dtype=_NUMPY[spec.dtype]), shape=sizes,
                strides=[st * itemsize for st in strides])
            out[...] = view
        if allocated and allocated not in inputs:
            if gpu:
                gpu.free(allocated)
            else:
                _libc.free(allocated)
        return from_bfloat16_bits(out) if spec.dtype == "bf16" else out


class BoundFunction:
    """A library function with its weights bound (Library.bind): called with
    the remaining arguments (for a layer, x)."""

    def __init__(self, library, fn, weight_args, weights, prepared):
        self.library, self.function = library, fn
        self._weight_args, self._weights, self._prepared = weight_args, weights, prepared
        self.others = [a for i, a in enumerate(fn.args) if i not in weight_args]

    def __call__(self, *arrays):
        if len(arrays) != len(self.others):
            raise LibraryError("%s with its weights bound takes %d arguments (%s), got %d" % (
                self.function.name, len(self.others),
                ", ".join(a.describe() for a in self.others), len(arrays)))
        full, given, bound = [], iter(arrays), iter(self._weights)
        for i in range(len(self.function.args)):
            full.append(next(bound) if i in self._weight_args else next(given))
        if self.function.prepare:
            return self.library(self.function.prepared, *full, *self._prepared)
        return self.library(self.function.name, *full)


class _CudaRuntime:
    """The data-moving entry points of the CUDA runtime linked into a library
    compiled for --target=cuda (lib/Runtime/CUDARuntime.cpp)."""

    def __init__(self, dll):
        def bind(name, restype, argtypes):
            fn = getattr(dll, name)
            fn.restype, fn.argtypes = restype, argtypes
            return fn
        p, c = ctypes.c_void_p, ctypes.c_char_p
        self._init = bind("kha_cuda_init", c, [])
        self._error = bind("kha_cuda_last_error", c, [])
        self._alloc = bind("mgpuMemAlloc", p, [ctypes.c_uint64, p, ctypes.c_bool])
        self._free = bind("mgpuMemFree", None, [p, p])
        self._copy = bind("mgpuMemcpy", None, [p, p, ctypes.c_size_t, p])
        self._sync = bind("mgpuStreamSynchronize", None, [p])

    def start(self):
        problem = self._init()
        if problem:
            raise LibraryError("cannot use the GPU: " + problem.decode())

    def check(self, what):
        self._sync(None)
        problem = self._error()
        if problem:
            raise LibraryError("%s: %s" % (what, problem.decode()))

    def to_device(self, array):
        pointer = self._alloc(array.nbytes, None, False)
        self._copy(pointer, array.ctypes.data, array.nbytes, None)
        self.check("copying an argument to the GPU failed")
        return pointer

    def to_host(self, array, pointer):
        self._copy(array.ctypes.data, pointer, array.nbytes, None)
        self.check("copying a result from the GPU failed")

    def free(self, pointer):
        self._free(pointer, None)
