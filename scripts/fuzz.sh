#!/usr/bin/env bash
# Runs every fuzz target of test/Fuzz (the libFuzzer ones and the kha IR
# generator) for longer than the suite does:
#   scripts/fuzz.sh [SECONDS_EACH]     (default 600)
# from the committed seeds; crashes are kept under build/fuzz/artifacts-*.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
build=${KHA_BUILD_DIR:-$here/build}
ninja -C "$build" -j2 kha-fuzz-npy kha-fuzz-manifest kha-fuzz-safetensors \
  kha-fuzz-layer-config kha-fuzz-ir
status=0
for target in npy manifest safetensors layer-config ir; do
  seeds="$here/test/Fuzz/corpus/$target"
  [[ $target == layer-config ]] && seeds="$here/examples"
  [[ $target == ir ]] && seeds="$here/test/Dialect/KHA $here/test/Robustness/Inputs"
  echo "== $target: $seconds s"
  python3 "$here/test/Fuzz/run_fuzzer.py" "$build/fuzz/kha-fuzz-$target" \
    "$seconds" $seeds || status=1
done
echo "== kha IR through the pipelines: $seconds s"
python3 "$here/test/Fuzz/ir_generator.py" "$build/bin" "$seconds" "${KHA_FUZZ_SEED:-$RANDOM}" \
  || status=1
exit $status
