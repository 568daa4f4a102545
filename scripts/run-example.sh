#!/usr/bin/env bash
# The main job on a bundled example: import the paper-shaped layer config, verify
# and expand it, compile it for this CPU, run it on seeded random inputs, and print
# the max error against the float64 PyTorch reference and the median time.
# Usage: scripts/run-example.sh [CONFIG.json]   (default: examples/paper-main.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/examples/paper-main.json}
"$root/scripts/build.sh" >/dev/null

bin="$root/build/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/kha-translate" --import-layer-config "$config" -o "$work/layer.mlir"
cat "$work/layer.mlir"
"$bin/kha-opt" "$work/layer.mlir" --verify-each --kha-expand-attention-block \
  --canonicalize -o "$work/expanded.mlir"

count() { grep -c -- "$1" "$work/expanded.mlir" || true; }
echo "expanded: $(count 'linalg.matmul') linalg.matmul, $(count 'kha.linear_knock') kha.linear_knock," \
  "$(count 'kha.mlp_knock') kha.mlp_knock, $(count 'kha.rms_norm') kha.rms_norm," \
  "$(count 'kha.rope') kha.rope, $(count 'kha.sdpa') kha.sdpa"

# Compile for the CPU, run on random inputs, compare with the reference.
PYTHONPATH="$root/python" /usr/bin/python3 -m kha.check "$config" --tools "$bin" \
  --batch 1 --seq-len 512 --benchmark 10 | sed 's/^/summary: /'
