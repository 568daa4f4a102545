"""OpenBLAS's kernel choice and thread count for the benchmarks.

Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and falls back to its
SSE3 kernels (about 32 GFLOP/s instead of about 155 on one AVX-512 core), so
the benchmarks name the core type before torch loads OpenBLAS: SkylakeX where
the CPU has AVX-512, Haswell where it has AVX2 (SkylakeX's kernels would stop
there on an illegal instruction). An OPENBLAS_CORETYPE already set is kept.

OpenBLAS also keeps its own pool of threads, one per core, which
`torch.set_num_threads` does not touch: PyTorch "on one thread" still runs its
matmuls on every core. `set_threads` sets both.
"""

import os
import subprocess


def ensure_openblas(install):
    """Whether Debian's OpenBLAS (libopenblas0-pthread) is installed, installing
    it first when `install`: PyTorch otherwise calls the reference BLAS."""
    have = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libopenblas0-pthread"],
                          capture_output=True, text=True).stdout == "install ok installed"
    if not have and install:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "libopenblas0-pthread"],
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        have = True
    return have


def set_openblas_coretype():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return
    if "avx512f" in flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    elif "avx2" in flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


def set_threads(torch, threads):
    """PyTorch's threads and the BLAS's (OpenBLAS through libblas.so.3, where
    it is the one loaded)."""
    import ctypes
    torch.set_num_threads(threads)
    try:
        blas = ctypes.CDLL("libblas.so.3")
    except OSError:
        return
    if hasattr(blas, "openblas_set_num_threads"):
        blas.openblas_set_num_threads(threads)
