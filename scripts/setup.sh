#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test kha: LLVM/MLIR 22,
# clang/lld 22 with compiler-rt (libFuzzer and the sanitizers), clang-format 22
# (the style check), ninja, cmake,
# and Debian's numpy and torch for the references.
# Also fetches NVIDIA's cuobjdump and nvdisasm (PyPI wheels, which read the
# cubins of the CUDA 13.0 ptxas here) into build/cuda-tools, for the tests that
# read the kernels' SASS, and the Python packages of the IREE and Hugging
# Face tests into folders of their own under build/. Idempotent, and fast
# when nothing is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# cuobjdump/nvdisasm: no CUDA package of Debian's has them; without them the
# SASS test reports itself skipped.
fetch_cuda_tools() {
  local dest="$root/build/cuda-tools"
  [[ -x "$dest/nvidia/cu13/bin/cuobjdump" && -x "$dest/nvidia/cu13/bin/nvdisasm" ]] && return 0
  local py
  for py in python3 /usr/bin/python3; do
    "$py" -m pip --version >/dev/null 2>&1 || continue
    local tmp
    tmp=$(mktemp -d)
    if "$py" -m pip download -q --no-deps -d "$tmp" nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm; then
      mkdir -p "$dest"
      for wheel in "$tmp"/*.whl; do "$py" -m zipfile -e "$wheel" "$dest"; done
      chmod +x "$dest"/nvidia/cu13/bin/*
      echo "setup: cuobjdump and nvdisasm in $dest"
    else
      echo "setup: could not fetch cuobjdump/nvdisasm (the SASS test will be skipped)" >&2
    fi
    rm -rf "$tmp"
    return 0
  done
  echo "setup: no pip to fetch cuobjdump/nvdisasm (the SASS test will be skipped)" >&2
}

# Python packages the tests use beside Debian's numpy and torch, as PyPI
# wheels unpacked into a folder of their own under build/ that a test puts
# on its path (Debian's own packages are not touched):
# - IREE's compiler and runtime (build/iree-python), for the IREE
#   interoperability test; ml_dtypes is the newest that works with Debian's
#   numpy;
# - Hugging Face transformers 4.49 (build/hf-python), the newest that
#   imports with Debian's torch 1.13, and the pure-Python or abi3 packages it
#   needs that Debian lacks, for the Hugging Face import test.
# Versions as tested (docs/integrating.md, docs/user-guide.md).
IREE_WHEELS=(iree-base-compiler==3.13.0 iree-base-runtime==3.13.0 ml_dtypes==0.5.1)
HF_WHEELS=(transformers==4.49.0 huggingface-hub==0.36.2 tokenizers==0.21.4
           safetensors==0.8.0 tqdm==4.70.1 regex==2026.11.19 filelock==4.3.1
           packaging==26.4 fsspec==2026.9.0)
fetch_wheels() {
  local what=$1 dest=$2
  shift 2
  [[ -f "$dest/.complete" ]] && return 0
  local py tmp
  for py in /usr/bin/python3 python3; do
    "$py" -m pip --version >/dev/null 2>&1 || continue
    tmp=$(mktemp -d)
    echo "setup: fetching $what: $*"
    if "$py" -m pip download -q --no-deps --python-version 3.11 --only-binary=:all: \
         -d "$tmp" "$@"; then
      rm -rf "$dest"
      mkdir -p "$dest"
      for wheel in "$tmp"/*.whl; do "$py" -m zipfile -e "$wheel" "$dest"; done
      touch "$dest/.complete"
      echo "setup: $what in $dest"
    else
      echo "setup: could not fetch $what (its test will fail)" >&2
    fi
    rm -rf "$tmp"
    return 0
  done
  echo "setup: no pip to fetch $what (its test will fail)" >&2
}
fetch_python_packages() {
  fetch_wheels "IREE for Python" "$root/build/iree-python" "${IREE_WHEELS[@]}"
  # zipfile does not keep the tools' executable bits.
  chmod +x "$root"/build/iree-python/iree/compiler/_mlir_libs/iree-* 2>/dev/null || true
  fetch_wheels "transformers" "$root/build/hf-python" "${HF_WHEELS[@]}"
}

packages=(llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
          libclang-rt-22-dev clang-format-22 libomp-22-dev
          ninja-build cmake python3-numpy python3-torch python3-venv)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  fetch_cuda_tools
  fetch_python_packages
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
fetch_cuda_tools
fetch_python_packages
