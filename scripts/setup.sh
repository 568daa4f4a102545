#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test kha: LLVM/MLIR 22,
# clang/lld 22 with compiler-rt (libFuzzer and the sanitizers), ninja, cmake,
# and Debian's numpy and torch for the references.
# Also fetches NVIDIA's cuobjdump and nvdisasm (PyPI wheels, which read the
# cubins of the CUDA 13.0 ptxas here) into build/cuda-tools, for the tests that
# read the kernels' SASS, and IREE's Python packages into build/iree-python,
# for the IREE interoperability test. Idempotent, and fast when nothing is
# missing.
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

# IREE's compiler and runtime for Python (PyPI wheels, unpacked into
# build/iree-python; numpy comes from Debian, so ml_dtypes is the newest that
# works with Debian's numpy), for the IREE interoperability test. Versions as
# tested (docs/integrating.md).
IREE_WHEELS=(iree-base-compiler==3.13.0 iree-base-runtime==3.13.0 ml_dtypes==0.5.1)
fetch_iree() {
  local dest="$root/build/iree-python"
  [[ -f "$dest/.complete" ]] && return 0
  local py tmp
  for py in /usr/bin/python3 python3; do
    "$py" -m pip --version >/dev/null 2>&1 || continue
    tmp=$(mktemp -d)
    echo "setup: fetching ${IREE_WHEELS[*]} (about 100 MB)"
    if "$py" -m pip download -q --no-deps --python-version 3.11 --only-binary=:all: \
         -d "$tmp" "${IREE_WHEELS[@]}"; then
      rm -rf "$dest"
      mkdir -p "$dest"
      for wheel in "$tmp"/*.whl; do "$py" -m zipfile -e "$wheel" "$dest"; done
      chmod +x "$dest"/iree/compiler/_mlir_libs/iree-*
      touch "$dest/.complete"
      echo "setup: IREE for Python in $dest"
    else
      echo "setup: could not fetch IREE's wheels (the IREE test will fail)" >&2
    fi
    rm -rf "$tmp"
    return 0
  done
  echo "setup: no pip to fetch IREE's wheels (the IREE test will fail)" >&2
}

packages=(llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
          libclang-rt-22-dev
          ninja-build cmake python3-numpy python3-torch python3-venv)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  fetch_cuda_tools
  fetch_iree
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
fetch_iree
