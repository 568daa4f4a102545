#!/usr/bin/env bash
# The main job on a bundled example: import the paper-shaped layer config, verify
# it, expand the attention block, print the result and a one-line summary.
# Usage: scripts/run-example.sh [CONFIG.json]   (default: examples/paper-main.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/examples/paper-main.json}
"$root/scripts/build.sh" >/dev/null

bin="$root/build/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/kha-translate" --import-layer-config "$config" -o "$work/layer.mlir"
"$bin/kha-opt" "$work/layer.mlir" --verify-each -o /dev/null
"$bin/kha-opt" "$work/layer.mlir" --kha-expand-attention-block --canonicalize \
  -o "$work/expanded.mlir"
cat "$work/expanded.mlir"

count() { grep -c -- "$1" "$work/expanded.mlir" || true; }
echo "summary: $(basename "$config"): imported, verified and expanded into" \
  "$(count 'linalg.matmul') linalg.matmul, $(count 'kha.linear_knock') kha.linear_knock," \
  "$(count 'kha.mlp_knock') kha.mlp_knock, $(count 'kha.rms_norm') kha.rms_norm," \
  "$(count 'kha.rope') kha.rope, $(count 'kha.sdpa') kha.sdpa"
