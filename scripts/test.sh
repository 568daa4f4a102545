#!/usr/bin/env bash
# Builds kha and runs every test through ctest (one ctest per lit file); the last
# lines are ctest's summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root/build"
ctest -j2 --output-on-failure "$@"
