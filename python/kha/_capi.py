"""ctypes declarations of libKHACAPI.so: kha's C API (include/kha-c/KHA.h) and
the MLIR IR/pass C API (mlir-c/IR.h, mlir-c/Pass.h) it carries.

The library is found through $KHA_CAPI_LIBRARY, else inside the package
(kha/_lib/lib, as `pip install .` puts it), else next to this package in an
installed tree (PREFIX/python/kha -> PREFIX/lib) or a source checkout
(python/kha -> build/lib).
"""

import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = [
    os.path.join(_HERE, "_lib", "lib", "libKHACAPI.so"),  # installed by pip
    os.path.join(_HERE, "..", "..", "lib", "libKHACAPI.so"),
    os.path.join(_HERE, "..", "..", "build", "lib", "libKHACAPI.so"),
]


def _handle(name):
    return type(name, (ctypes.Structure,), {"_fields_": [("ptr", ctypes.c_void_p)]})


MlirContext = _handle("MlirContext")
MlirModule = _handle("MlirModule")
MlirOperation = _handle("MlirOperation")
MlirLocation = _handle("MlirLocation")
MlirDiagnostic = _handle("MlirDiagnostic")
MlirPassManager = _handle("MlirPassManager")
MlirOpPassManager = _handle("MlirOpPassManager")
MlirDialectHandle = _handle("MlirDialectHandle")


class MlirStringRef(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class MlirLogicalResult(ctypes.Structure):
    _fields_ = [("value", ctypes.c_int8)]


class KhaCompileOptions(ctypes.Structure):
    _fields_ = [("target", MlirStringRef), ("cpu", MlirStringRef),
                ("vectorize", ctypes.c_bool), ("foldKnocks", ctypes.c_bool),
                ("fuseKnockMlp", ctypes.c_bool), ("scheduleFile", MlirStringRef),
                ("cudaChip", MlirStringRef), ("cudaFormat", MlirStringRef),
                ("cudaOnHost", ctypes.c_bool), ("prepareWeights", ctypes.c_bool),
                ("threads", ctypes.c_bool)]


MlirStringCallback = ctypes.CFUNCTYPE(None, MlirStringRef, ctypes.c_void_p)
# ctypes callbacks cannot return structs; MlirLogicalResult is one int8_t,
# returned in a register like a plain int8_t.
MlirDiagnosticHandler = ctypes.CFUNCTYPE(ctypes.c_int8, MlirDiagnostic, ctypes.c_void_p)
MlirDeleteUserData = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

# Severities of mlir-c/Diagnostics.h.
SEVERITY = {0: "error", 1: "warning", 2: "note", 3: "remark"}

_SIGNATURES = {
    # kha-c/KHA.h
    "mlirGetDialectHandle__kha__": (MlirDialectHandle, []),
    "khaRegisterPasses": (None, []),
    "khaContextCreate": (MlirContext, []),
    "khaImportLayerConfig": (MlirModule, [MlirContext, MlirStringRef, MlirStringRef, MlirStringRef]),
    "khaModuleParse": (MlirModule, [MlirContext, MlirStringRef, MlirStringRef]),
    "khaCompileOptionsGetDefault": (KhaCompileOptions, []),
    "khaCompileModule": (MlirLogicalResult,
                         [MlirModule, ctypes.POINTER(KhaCompileOptions), MlirStringRef]),
    # mlir-c/IR.h
    "mlirContextDestroy": (None, [MlirContext]),
    "mlirModuleCreateParse": (MlirModule, [MlirContext, MlirStringRef]),
    "mlirModuleGetOperation": (MlirOperation, [MlirModule]),
    "mlirModuleFromOperation": (MlirModule, [MlirOperation]),
    "mlirModuleDestroy": (None, [MlirModule]),
    "mlirOperationClone": (MlirOperation, [MlirOperation]),
    "mlirOperationPrint": (None, [MlirOperation, MlirStringCallback, ctypes.c_void_p]),
    "mlirOperationVerify": (ctypes.c_bool, [MlirOperation]),
    "mlirLocationPrint": (None, [MlirLocation, MlirStringCallback, ctypes.c_void_p]),
    # mlir-c/Diagnostics.h
    "mlirContextAttachDiagnosticHandler": (ctypes.c_uint64, [MlirContext, MlirDiagnosticHandler,
                                                            ctypes.c_void_p, MlirDeleteUserData]),
    "mlirContextDetachDiagnosticHandler": (None, [MlirContext, ctypes.c_uint64]),
    "mlirDiagnosticGetSeverity": (ctypes.c_int, [MlirDiagnostic]),
    "mlirDiagnosticGetLocation": (MlirLocation, [MlirDiagnostic]),
    "mlirDiagnosticPrint": (None, [MlirDiagnostic, MlirStringCallback, ctypes.c_void_p]),
    "mlirDiagnosticGetNumNotes": (ctypes.c_ssize_t, [MlirDiagnostic]),
    "mlirDiagnosticGetNote": (MlirDiagnostic, [MlirDiagnostic, ctypes.c_ssize_t]),
    # mlir-c/Pass.h
    "mlirPassManagerCreate": (MlirPassManager, [MlirContext]),
    "mlirPassManagerDestroy": (None, [MlirPassManager]),
    "mlirPassManagerGetAsOpPassManager": (MlirOpPassManager, [MlirPassManager]),
    "mlirPassManagerRunOnOp": (MlirLogicalResult, [MlirPassManager, MlirOperation]),
    "mlirParsePassPipeline": (MlirLogicalResult, [MlirOpPassManager, MlirStringRef,
                                                  MlirStringCallback, ctypes.c_void_p]),
}

_lib = None


class LibraryNotFound(RuntimeError):
    pass


def library_path():
    override = os.environ.get("KHA_CAPI_LIBRARY")
    if override:
        return override
    for candidate in _CANDIDATES:
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    raise LibraryNotFound(
        "libKHACAPI.so not found: build kha (scripts/build.sh) or set KHA_CAPI_LIBRARY "
        "(looked in %s)" % ", ".join(os.path.normpath(c) for c in _CANDIDATES))


def lib():
    """The loaded C API, declared; loaded on first use."""
    global _lib
    if _lib is None:
        loaded = ctypes.CDLL(library_path())
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(loaded, name)
            fn.restype = restype
            fn.argtypes = argtypes
        loaded.khaRegisterPasses()
        _lib = loaded
    return _lib


def string_ref(data: bytes) -> MlirStringRef:
    """A string ref to `data`; the caller keeps `data` alive during the call."""
    return MlirStringRef(ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data))


def to_str(ref: MlirStringRef) -> str:
    return ctypes.string_at(ref.data, ref.length).decode("utf-8", "replace") if ref.length else ""


class Collector:
    """A MlirStringCallback appending to a list of pieces."""

    def __init__(self):
        self.pieces = []
        self.callback = MlirStringCallback(lambda ref, _: self.pieces.append(to_str(ref)))

    def text(self):
        return "".join(self.pieces)
