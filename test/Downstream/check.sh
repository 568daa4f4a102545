#!/usr/bin/env bash
# Installs the kha build into a fresh prefix, builds test/Downstream against it
# with find_package(KHA), and runs the downstream tool on a layer imported
# from an example config.
# usage: check.sh BUILD_DIR SOURCE_DIR CXX_COMPILER MLIR_DIR FILECHECK PYTHON
set -euo pipefail
build=$1 src=$2 cxx=$3 mlir_dir=$4 filecheck=$5 python=$6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/kha/KHAConfig.cmake"
cmake -G Ninja -S "$src/test/Downstream" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DMLIR_DIR="$mlir_dir" >"$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
grep -q "Using KHAConfig.cmake in: $work/prefix/lib/cmake/kha" "$work/configure.log"
ninja -C "$work/build" -j2 >/dev/null

# The installed tools and the downstream tool agree on the same pipeline.
"$work/prefix/bin/kha-translate" --import-layer-config "$src/examples/mha-small.json" \
  -o "$work/layer.mlir"
"$work/build/downstream-opt" "$work/layer.mlir" --kha-expand-attention-block |
  "$filecheck" "$src/test/Downstream/expected.txt"
# The installed plugin in the stock mlir-opt next to FileCheck.
plugin="$work/prefix/lib/libKHAPlugin.so"
"$(dirname "$filecheck")/mlir-opt" --load-dialect-plugin="$plugin" --load-pass-plugin="$plugin" \
  "$work/layer.mlir" --pass-pipeline="builtin.module(func.func(kha-expand-attention-block))" |
  "$filecheck" "$src/test/Downstream/expected.txt"
# The installed Python package finds the installed C API library.
PYTHONPATH="$work/prefix/python" "$python" -c "
import kha, kha._capi as c
assert c.library_path().startswith('$work/prefix/lib'), c.library_path()
m = kha.Module.from_layer_config('$src/examples/mqa.json')
m.run_pipeline('kha-expand-attention-block')
assert 'kha.sdpa' in str(m)
"
# Unknown passes and bad IR are reported as by any mlir-opt.
if "$work/build/downstream-opt" "$work/layer.mlir" --kha-no-such-pass 2>/dev/null; then
  echo "downstream-opt accepted an unknown pass"; exit 1
fi
echo "1 passed, 0 failed"
