"""kha IR from Python: parse or build modules, run pass pipelines, compile.

    import kha
    ctx = kha.Context()
    m = kha.Module.from_layer_config("examples/mha-small.json", ctx)
    m.run_pipeline("kha-expand-attention-block")
    lib = kha.compile(m, "layer.so")          # -> kha.Library
    y = lib.kha_layer(x, wq, wk, wv, wo, ...)  # numpy in, numpy out

Everything goes through libKHACAPI.so (the C API of include/kha-c/KHA.h).
Errors raise kha.Error carrying the MLIR diagnostics, with their locations.
"""

import ctypes
import json
import os

from kha import _capi


class Error(RuntimeError):
    """A failure reported by MLIR or kha; `diagnostics` holds each message."""

    def __init__(self, message, diagnostics=()):
        self.diagnostics = list(diagnostics)
        text = message
        if self.diagnostics:
            text += ":\n" + "\n".join(self.diagnostics)
        super().__init__(text)


class Context:
    """An MLIR context with the kha dialect, the upstream dialects, and every
    kha pass and pipeline registered. Diagnostics are collected, not printed:
    errors end up in the kha.Error raised; remarks (e.g. the cost report) are
    returned by the call that produced them."""

    def __init__(self):
        self._lib = _capi.lib()
        self._context = self._lib.khaContextCreate()
        self._diagnostics = []
        self._handler = _capi.MlirDiagnosticHandler(self._on_diagnostic)
        self._no_delete = _capi.MlirDeleteUserData(lambda _: None)
        self._handler_id = self._lib.mlirContextAttachDiagnosticHandler(
            self._context, self._handler, None, self._no_delete)

    def _on_diagnostic(self, diagnostic, _):
        self._diagnostics.append(self._format(diagnostic))
        return 1  # handled

    def _format(self, diagnostic):
        where, what = _capi.Collector(), _capi.Collector()
        self._lib.mlirLocationPrint(self._lib.mlirDiagnosticGetLocation(diagnostic),
                                    where.callback, None)
        self._lib.mlirDiagnosticPrint(diagnostic, what.callback, None)
        severity = _capi.SEVERITY.get(self._lib.mlirDiagnosticGetSeverity(diagnostic), "note")
        text = "%s: %s: %s" % (where.text(), severity, what.text())
        for i in range(self._lib.mlirDiagnosticGetNumNotes(diagnostic)):
            text += "\n  " + self._format(self._lib.mlirDiagnosticGetNote(diagnostic, i))
        return text

    @property
    def handle(self):
        """The MlirContext; kha.Error once the context is closed (using a
        destroyed context would crash the interpreter)."""
        if self._context is None or not self._context.ptr:
            raise Error("the kha.Context is closed")
        return self._context

    def take_diagnostics(self):
        taken, self._diagnostics = self._diagnostics, []
        return taken

    def fail(self, message):
        raise Error(message, self.take_diagnostics())

    def close(self):
        if self._context is not None and self._context.ptr:
            self._lib.mlirContextDetachDiagnosticHandler(self._context, self._handler_id)
            self._lib.mlirContextDestroy(self._context)
        self._context = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Module:
    """An owned builtin.module."""

    def __init__(self, handle, context: Context):
        self._module = handle
        self.context = context

    # Construction ---------------------------------------------------------

    @staticmethod
    def parse(text: str, context: Context = None) -> "Module":
        """Parses (and verifies) MLIR text."""
        context = context or Context()
        data = text.encode("utf-8")
        # khaModuleParse refuses input nested too deeply for the parser's
        # recursion (located error) and parses on a large stack.
        handle = context._lib.khaModuleParse(context.handle, _capi.string_ref(data),
                                             _capi.string_ref(b"-"))
        if not handle.ptr:
            context.fail("cannot parse the module")
        context.take_diagnostics()
        return Module(handle, context)

    @staticmethod
    def from_layer_config(config, context: Context = None, weights_dir: str = None,
                          weights: str = None) -> "Module":
        """The @kha_layer module of a layer configuration (a path to a JSON file
        or a dict, docs/layer-config.md). With `weights` (a directory with one
        .npy per weight argument, or a .safetensors file with a tensor per
        argument name; `weights_dir` is the older name), the weights are
        embedded as constants."""
        context = context or Context()
        if weights is not None and weights_dir is not None:
            raise ValueError("give weights or weights_dir, not both")
        weights_dir = os.fspath(weights) if weights is not None else weights_dir
        if isinstance(config, (str, os.PathLike)):
            filename = os.fspath(config)
            with open(filename, "rb") as f:
                text = f.read()
        else:
            filename, text = "<dict>", json.dumps(config, indent=1).encode("utf-8")
        name, wdir = filename.encode("utf-8"), (weights_dir or "").encode("utf-8")
        handle = context._lib.khaImportLayerConfig(
            context.handle, _capi.string_ref(text), _capi.string_ref(name), _capi.string_ref(wdir))
        if not handle.ptr:
            context.fail("cannot import the layer configuration %s" % filename)
        return Module(handle, context)

    # Inspection -----------------------------------------------------------

    @property
    def operation(self):
        self.context.handle  # raises once the context (and the module) is gone
        if self._module is None or not self._module.ptr:
            raise Error("the kha.Module was destroyed")
        return self.context._lib.mlirModuleGetOperation(self._module)

    def __str__(self):
        out = _capi.Collector()
        self.context._lib.mlirOperationPrint(self.operation, out.callback, None)
        return out.text()

    def verify(self):
        """Raises kha.Error with the verifier's diagnostics if the module is invalid."""
        if not self.context._lib.mlirOperationVerify(self.operation):
            self.context.fail("the module does not verify")
        self.context.take_diagnostics()

    def clone(self) -> "Module":
        lib = self.context._lib
        return Module(lib.mlirModuleFromOperation(lib.mlirOperationClone(self.operation)),
                      self.context)

    # Transformation -------------------------------------------------------

    def run_pipeline(self, pipeline: str):
        """Runs a textual pass pipeline on the module, in place, e.g.
        "kha-expand-attention-block,kha-fold-knock" or
        "builtin.module(kha-cpu-pipeline)" (anchored on builtin.module when
        not already). Returns the remarks the passes emitted (as strings)."""
        pipeline = pipeline.strip()
        if not pipeline.startswith("builtin.module("):
            pipeline = "builtin.module(%s)" % pipeline
        lib, context = self.context._lib, self.context
        operation = self.operation  # checks that the module is alive
        pm = lib.mlirPassManagerCreate(context.handle)
        try:
            errors = _capi.Collector()
            data = pipeline.encode("utf-8")
            ok = lib.mlirParsePassPipeline(lib.mlirPassManagerGetAsOpPassManager(pm),
                                           _capi.string_ref(data), errors.callback, None)
            if not ok.value:
                raise Error("invalid pass pipeline '%s'" % pipeline,
                            [errors.text()] + context.take_diagnostics())
            if not lib.mlirPassManagerRunOnOp(pm, operation).value:
                context.fail("pass pipeline '%s' failed" % pipeline)
        finally:
            lib.mlirPassManagerDestroy(pm)
        return [d for d in context.take_diagnostics() if ": remark: " in d]

    def cost_report(self, per_op=False):
        """The kha-cost-report remarks: FLOPs and bytes per function (and per op)."""
        remarks = self.clone().run_pipeline(
            "kha-cost-report{per-op=%s}" % ("true" if per_op else "false"))
        return [r.split("\n")[0] for r in remarks]  # without the op dumps

    def __del__(self):
        try:
            if self._module is not None and self._module.ptr and self.context._context:
                self.context._lib.mlirModuleDestroy(self._module)
        except Exception:
            pass
        self._module = None


def compile(module: Module, output: str, target=None, cpu=None, vectorize=None,
            fold_knocks=None, fuse_knock_mlp=None, schedule_file=None, cuda_chip=None,
            cuda_format=None, cuda_on_host=None, prepare_weights=None, threads=None):
    """Compiles (a copy of) `module` to the shared library `output`, as
    kha-compile does, and returns it loaded as a kha.Library (for cuda, a
    library whose C functions take device pointers; kha.Library moves numpy
    arrays to and from the GPU). `cuda_on_host` (kha-compile --cuda-on-host)
    runs the cuda target's kernels on the host CPU instead: a host library
    that checks the GPU path without a GPU. `prepare_weights` (off:
    kha-compile --no-prepare-weights) outlines the work on the weights alone
    into a prepare function that `Library.bind` calls once. `threads` (off:
    kha-compile --no-threads) runs a CPU library's independent tiles on all
    the cores with LLVM's OpenMP runtime (OMP_NUM_THREADS chooses how
    many). An argument
    left at None takes the compiler's default (khaCompileOptionsGetDefault:
    the cpu target, the native CPU, vectorised, knocks folded and fused,
    weights prepared, threads, chip sm_90a, PTX)."""
    from kha.runtime import Library

    lib = module.context._lib
    copy = module.clone()
    options = lib.khaCompileOptionsGetDefault()
    keep = []  # the bytes the string references point into
    for field, value in (("target", target), ("cpu", cpu), ("scheduleFile", schedule_file),
                         ("cudaChip", cuda_chip), ("cudaFormat", cuda_format)):
        if value is not None:
            keep.append(value.encode("utf-8"))
            setattr(options, field, _capi.string_ref(keep[-1]))
    for field, value in (("vectorize", vectorize), ("foldKnocks", fold_knocks),
                         ("fuseKnockMlp", fuse_knock_mlp), ("cudaOnHost", cuda_on_host),
                         ("prepareWeights", prepare_weights), ("threads", threads)):
        if value is not None:
            setattr(options, field, bool(value))
    path = os.fspath(output).encode("utf-8")
    ok = lib.khaCompileModule(copy._module, ctypes.byref(options), _capi.string_ref(path))
    if not ok.value:
        module.context.fail("cannot compile the module to %s" % output)
    module.context.take_diagnostics()
    return Library(output)
