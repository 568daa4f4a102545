// Debian's stock mlir-opt-22 runs kha's CPU schedule library with kha's
// dialect plugin loaded (the checks are those of the kha-opt run in
// test/Transforms/cpu-schedule-library.mlir).
// RUN: %mlir_opt --load-dialect-plugin=%kha_plugin %S/../Transforms/cpu-schedule-library.mlir \
// RUN:   --transform-preload-library=transform-library-paths=%kha_src/lib/Transforms/Schedules/cpu.mlir \
// RUN:   --transform-interpreter=entry-point=kha_tile_attention \
// RUN:   | FileCheck %S/../Transforms/cpu-schedule-library.mlir --check-prefix=TILE
