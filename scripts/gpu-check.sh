#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py):
#   scripts/gpu-check.sh prepare [DIR]   here: compile the CUDA libraries into DIR
#                                        (default gpu-check/, ignored by git)
#   scripts/gpu-check.sh run [DIR]       on the GPU machine: numerics against the
#                                        float64 reference, compute-sanitizer, and
#                                        attention timing against PyTorch SDPA
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
dir=${2:-$root/gpu-check}
case "$command" in
  prepare) "$root/scripts/build.sh" >/dev/null
           exec /usr/bin/python3 "$root/scripts/gpu_check.py" prepare "$dir" ;;
  run)     exec python3 "$root/scripts/gpu_check.py" run "$dir" ;;
  *)       echo "usage: $0 prepare|run [DIR]" >&2; exit 2 ;;
esac
