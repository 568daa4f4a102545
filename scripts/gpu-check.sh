#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py):
#   scripts/gpu-check.sh prepare [DIR]   here: compile the CUDA libraries into DIR
#                                        (default gpu-check/, ignored by git)
#   scripts/gpu-check.sh run [DIR [OPTIONS]]
#                                        on the GPU machine: numerics against the
#                                        float64 reference, compute-sanitizer
#                                        (memcheck, racecheck, initcheck), then TFLOP/s and ms
#                                        of kha's attention, GEMMs and layer against
#                                        PyTorch (SDPA backends, cuBLAS, eager,
#                                        torch.compile); OPTIONS go to gpu_check.py
#                                        (--rounds N, --calls N, --sections ...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
dir=${2:-$root/gpu-check}
shift $(( $# < 2 ? $# : 2 ))
case "$command" in
  prepare) "$root/scripts/build.sh" >/dev/null
           exec /usr/bin/python3 "$root/scripts/gpu_check.py" prepare "$dir" ;;
  run)     exec python3 "$root/scripts/gpu_check.py" run "$dir" "$@" ;;
  *)       echo "usage: $0 prepare [DIR] | run [DIR [--rounds N] [--calls N] [--sections ...]]" >&2
           exit 2 ;;
esac
