"""kha: Python side of the knocking-heads attention compiler.

- kha.Context, kha.Module, kha.compile, kha.Error (kha.ir): parse or build
  kha IR, run pass pipelines, compile to a shared library, through the C API
  in libKHACAPI.so (loaded on first use).
- kha.Library (kha.runtime): call a compiled library on numpy arrays.
- kha.torch: a PyTorch KHA attention module and its exporter to kha IR.
- kha.config: layer configurations (docs/layer-config.md)
- kha.reference: the float64 PyTorch reference of a layer
"""

__version__ = "0.1.0"  # the CMake project's version (ctest version/python checks)

from kha.ir import Context, Error, Module, compile  # noqa: F401
from kha.runtime import Library, LibraryError  # noqa: F401
