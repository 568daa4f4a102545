#!/usr/bin/env bash
# The AddressSanitizer + UndefinedBehaviorSanitizer configuration: builds the
# whole project into build-asan/ with both sanitizers (any report aborts),
# then runs the lit suite (but the plugin test: stock mlir-opt has no ASan
# runtime to load it into) and the CPU numerics suite under them. Too long for
# CI on two cores (a full build): run it by hand or nightly. The suite runs
# the part that fits (ctest sanitize/kha-run, test/Sanitize).
#   scripts/sanitize.sh [JOBS]          (default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
build="$root/build-asan"
jobs=${1:-2}
# fuzzer-no-link: libFuzzer's coverage instrumentation everywhere, so that
# kha-fuzz-pipelines (KHA_FUZZ_PIPELINES) gets feedback from kha's passes.
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The shared runtimes, so that the project's shared libraries (linked with
# -z defs) resolve the sanitizers' symbols.
link="-fsanitize=address,undefined -shared-libsan"
runtime_dir=$(clang-22 -print-runtime-dir)
cmake -G Ninja -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DLLVM_USE_LINKER=lld \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link" -DKHA_FUZZ_PIPELINES=ON >/dev/null
echo "sanitize: building into $build (-j$jobs)"
ninja -C "$build" -j"$jobs"
# MLIR keeps some allocations for the process's lifetime: leaks are not
# reported; every other ASan or UBSan report fails the run.
# use_sigaltstack=0: on the thread the tools parse on (one with a large
# stack), LLVM's signal handling replaces ASan's alternate signal stack with
# a larger one of its own from malloc (64 KiB + MINSIGSTKSZ); at the thread's
# exit ASan unmaps whatever alternate stack is installed, and that one is not
# page-aligned ("failed to deallocate 0x134c0 bytes", "unable to unmmap"),
# which aborts every run. Without ASan's stacks, LLVM's serves both
# handlers.
export LD_LIBRARY_PATH="$runtime_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# allow_user_poisoning=0: kha's instrumented inline copies of LLVM's
# BumpPtrAllocator poison a new slab's free space, and the uninstrumented
# libMLIR.so hands out parts of it without unpoisoning (a false
# use-after-poison in MLIR's uniquers, found by kha-fuzz-pipelines).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:use_sigaltstack=0:allow_user_poisoning=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build"
ctest -j"$jobs" --output-on-failure -R '^(Conversion|Dialect|Examples|Pipelines|Robustness|Target|Tools|Transforms)/|^numerics/cpu/|^runtime/|^fuzz/pipelines$'
