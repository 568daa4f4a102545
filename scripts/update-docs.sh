#!/usr/bin/env bash
# Regenerates the op and pass reference from TableGen into docs/generated/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" kha-docs
mkdir -p "$root/docs/generated"
cp "$root/build/docs/Dialects/KHAOps.md" "$root/docs/generated/KHAOps.md"
for doc in KHAPasses KHAConversionPasses KHACodegenPasses; do
  cp "$root/build/docs/Passes/$doc.md" "$root/docs/generated/$doc.md"
done
echo "docs/generated updated"
