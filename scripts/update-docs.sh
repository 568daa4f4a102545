#!/usr/bin/env bash
# Regenerates the op and pass reference from TableGen into docs/generated/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" kha-docs
mkdir -p "$root/docs/generated"
cp "$root/build/docs/Dialects/KHAOps.md" "$root/docs/generated/KHAOps.md"
cp "$root/build/docs/Passes/KHAPasses.md" "$root/docs/generated/KHAPasses.md"
echo "docs/generated updated"
