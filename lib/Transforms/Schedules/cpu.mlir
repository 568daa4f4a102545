// kha's CPU schedule: transform-dialect sequences that kha-cpu-schedule
// applies (docs/pipeline.md explains the choices and how they were measured).
// The file is embedded into the compiler at build time; it also runs on its
// own with the transform interpreter:
//
//   kha-opt in.mlir --transform-preload-library=transform-library-paths=cpu.mlir \
//     --transform-interpreter=entry-point=kha_tile_attention
//
// Entry points:
//   @kha_tile_attention  tiles each kha.sdpa into blocks of query rows
//                        (before kha-decompose-sdpa);
//   @__transform_main    tiles and vectorises the linalg that the pipeline
//                        has made of everything (after the decomposition),
//                        for 512-bit vectors (AVX-512);
//   @kha_codegen_256     the same for 256-bit vectors (AVX2);
//   @kha_codegen_128     the same for 128-bit vectors (SSE, NEON).
//
// The entry points differ only in the matmuls' register tile, which must fit
// the target's 16 (or 32) vector registers with room for the operands:
// 8 x 32 f32 accumulators are 16 zmm registers, 6 x 16 are 12 ymm, 4 x 8 are
// 8 xmm. kha-cpu-schedule's caller chooses the entry point from the target's
// features (kha-compile: the host's, or --mcpu's).
module attributes {transform.with_named_sequence} {

  //===--------------------------------------------------------------------===//
  // Attention
  //===--------------------------------------------------------------------===//

  // kha.sdpa's iteration domain is (b, l, g, r, e): one batch, 64 query rows
  // and one key/value head with all the query heads that read it per tile.
  // A causal tile reads keys only up to its last row's place on the
  // diagonal, so blocks above the diagonal are never computed. The tiles
  // are independent (scf.forall): kha-forall-to-threads runs them on
  // threads, so that one batch entry of 512 rows is 8 x G tiles to share.
  transform.named_sequence @tile_attention_rows(
      %sdpa: !transform.any_op {transform.consumed}) {
    %tiled, %tiles = transform.structured.tile_using_forall %sdpa
        tile_sizes [1, 64, 1, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }

  transform.named_sequence @kha_tile_attention(
      %root: !transform.any_op {transform.readonly}) {
    %sdpa = transform.structured.match ops{["kha.sdpa"]} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %sdpa : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      // Head counts that are not static cannot be tiled; the op is then
      // decomposed whole.
      transform.include @tile_attention_rows failures(suppress) (%op)
          : (!transform.any_op) -> ()
    }
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // Matmuls: register tiles of %rows x %cols (8 x 32 for 512-bit vectors)
  //===--------------------------------------------------------------------===//

  // Loops whose trip count the tile does not divide are peeled, so full
  // tiles are static and vectorise without masks; the partial tiles at the
  // edges stay scalar.
  transform.named_sequence @peel(%loop: !transform.any_op {transform.readonly}) {
    %for = transform.cast %loop : !transform.any_op to !transform.op<"scf.for">
    %main, %rest = transform.loop.peel %for
        : (!transform.op<"scf.for">) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }

  // The op that makes a matmul's accumulator (operand 2); run with failures
  // suppressed, the handle is empty where it is a block argument.
  transform.named_sequence @init_producer(
      %mm: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %init = transform.get_producer_of_operand %mm[2]
        : (!transform.any_op) -> !transform.any_op
    transform.yield %init : !transform.any_op
  }
  // A producer tiled into a loop (each slice of it read there computed
  // there); one with no use in the loop is left where it is.
  transform.named_sequence @fuse_into(
      %producer: !transform.any_op {transform.consumed},
      %loop: !transform.any_op {transform.readonly}) {
    %fused, %new = transform.structured.fuse_into_containing_op %producer into %loop
        : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
  transform.named_sequence @fuse_fill(
      %init: !transform.any_op {transform.consumed},
      %blocks: !transform.any_op {transform.readonly}) {
    transform.match.operation_name %init ["linalg.fill"] : !transform.any_op
    transform.include @fuse_into failures(propagate) (%init, %blocks)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }
  // Where the accumulator is a fill (%init: its producer, or nothing), each
  // of the threads' blocks fills its own part: filled whole outside, it was
  // filled on one thread, and copied for every projection sharing it.
  transform.named_sequence @fill_each_block(
      %init: !transform.any_op {transform.consumed},
      %blocks: !transform.any_op {transform.readonly}) {
    transform.foreach %init : !transform.any_op {
    ^bb0(%producer: !transform.any_op):
      transform.include @fuse_fill failures(suppress) (%producer, %blocks)
          : (!transform.any_op, !transform.any_op) -> ()
    }
    transform.yield
  }

  transform.named_sequence @tile_matmul(
      %mm: !transform.any_op {transform.consumed},
      %rows: !transform.param<i64> {transform.readonly},
      %cols: !transform.param<i64> {transform.readonly}) {
    // Independent blocks of 128 rows x 256 columns for the threads
    // (scf.forall, run by kha-forall-to-threads): a decoding step's few
    // rows still split its columns.
    %init = transform.include @init_producer failures(suppress) (%mm)
        : (!transform.any_op) -> !transform.any_op
    %b, %blocks = transform.structured.tile_using_forall %mm
        tile_sizes [128, 256, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @fill_each_block failures(propagate) (%init, %blocks)
        : (!transform.any_op, !transform.any_op) -> ()
    // Cache tiles of 64 rows x 512 columns x 256 of K, visited n, k, m: a
    // 256 x 32 panel of B (32 KiB) stays in L1 while the rows stream past.
    %c, %cl0, %cl1, %cl2 = transform.structured.tile_using_for %b
        tile_sizes [64, 512, 256] interchange = [1, 2, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op)
    // Cache tiles are not peeled: a partial one is register-tiled below, and
    // peeling a loop shorter than one tile would move all its work into the
    // remainder, unregister-tiled.
    %t, %l0, %l1 = transform.structured.tile_using_for %c tile_sizes [%rows, %cols, 0]
        : (!transform.any_op, !transform.param<i64>, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(suppress) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }

  transform.named_sequence @tile_batch_matmul(
      %mm: !transform.any_op {transform.consumed},
      %rows: !transform.param<i64> {transform.readonly},
      %cols: !transform.param<i64> {transform.readonly}) {
    %t, %lb, %l0, %l1 = transform.structured.tile_using_for %mm
        tile_sizes [1, %rows, %cols, 0]
        : (!transform.any_op, !transform.param<i64>, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op, !transform.any_op,
              !transform.any_op)
    transform.include @peel failures(suppress) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(suppress) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }

  // Matmuls on weight panels (kha-pack-matmul-weights): a linalg.contract
  // over (m, j, c, k) reading A[m, k] and the panels P[j, k, c], writing
  // C[m, j, c] (C viewed as M x N/w x w, w the register tile's width).
  transform.named_sequence @match_panel_matmul(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.contract"] : !transform.any_op
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %rank = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      %four = transform.param.constant 4 : i64 -> !transform.param<i64>
      transform.match.param.cmpi eq %rank, %four : !transform.param<i64>
      transform.match.structured.dim %s[0, 1, 2] {parallel} : !transform.any_op
      transform.match.structured.dim %s[3] {reduction} : !transform.any_op
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }

  // The same blocks for the threads as a plain matmul's (128 rows x %panels
  // panels, 256 columns); cache tiles of 64 rows x 256 of K, visited k, m;
  // inside, one panel at a time (a 256 x w slice of it, 16 KiB for w = 16,
  // stays in L1) while the block's rows pass in register tiles of %rows.
  transform.named_sequence @tile_panel_matmul(
      %mm: !transform.any_op {transform.consumed},
      %rows: !transform.param<i64> {transform.readonly},
      %panels: !transform.param<i64> {transform.readonly}) {
    %init = transform.include @init_producer failures(suppress) (%mm)
        : (!transform.any_op) -> !transform.any_op
    %b, %blocks = transform.structured.tile_using_forall %mm
        tile_sizes [128, %panels, 0, 0]
        : (!transform.any_op, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op)
    transform.include @fill_each_block failures(propagate) (%init, %blocks)
        : (!transform.any_op, !transform.any_op) -> ()
    %c, %lk, %lm = transform.structured.tile_using_for %b
        tile_sizes [64, 0, 0, 256] interchange = [3, 0, 1, 2]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    %t, %lj, %lr = transform.structured.tile_using_for %c tile_sizes [%rows, 1, 0, 0]
        interchange = [1, 0, 2, 3]
        : (!transform.any_op, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%lr) : (!transform.any_op) -> ()
    transform.yield
  }

  // The same for weights packed in pairs along K for AVX512-BF16 dot
  // products (kha-pack-matmul-weights{bf16-pairs}): a linalg.contract over
  // (m, j, c, k, p) reading A[m, k, p] and P[j, k, c, p], p the pair.
  transform.named_sequence @match_pair_panel_matmul(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.contract"] : !transform.any_op
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %rank = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      %five = transform.param.constant 5 : i64 -> !transform.param<i64>
      transform.match.param.cmpi eq %rank, %five : !transform.param<i64>
      transform.match.structured.dim %s[0, 1, 2] {parallel} : !transform.any_op
      transform.match.structured.dim %s[3, 4] {reduction} : !transform.any_op
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }
  // @tile_panel_matmul's tiles, with 128 pairs (256 of K) per cache tile
  // and the pairs whole.
  transform.named_sequence @tile_pair_panel_matmul(
      %mm: !transform.any_op {transform.consumed},
      %rows: !transform.param<i64> {transform.readonly},
      %panels: !transform.param<i64> {transform.readonly}) {
    %init = transform.include @init_producer failures(suppress) (%mm)
        : (!transform.any_op) -> !transform.any_op
    %b, %blocks = transform.structured.tile_using_forall %mm
        tile_sizes [128, %panels, 0, 0, 0]
        : (!transform.any_op, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op)
    transform.include @fill_each_block failures(propagate) (%init, %blocks)
        : (!transform.any_op, !transform.any_op) -> ()
    %c, %lk, %lm = transform.structured.tile_using_for %b
        tile_sizes [64, 0, 0, 128, 0] interchange = [3, 0, 1, 2, 4]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    %t, %lj, %lr = transform.structured.tile_using_for %c tile_sizes [%rows, 1, 0, 0, 0]
        interchange = [1, 0, 2, 3, 4]
        : (!transform.any_op, !transform.param<i64>)
          -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%lr) : (!transform.any_op) -> ()
    transform.yield
  }

  // A full tile: K step 1, one vector.contract per step (outer-product FMAs
  // after lowering). The K loop is marked `kha.hoist_accumulator`: once every
  // tile is vectorised, @kha_codegen hoists the accumulator out of the marked
  // loops (kha-cpu-schedule then drops the mark).
  transform.named_sequence @vectorize_steps(
      %t: !transform.any_op {transform.consumed},
      %lk: !transform.any_op {transform.readonly}) {
    transform.annotate %lk "kha.hoist_accumulator" : !transform.any_op
    transform.structured.vectorize %t {create_named_contraction} : !transform.any_op
    transform.yield
  }

  transform.named_sequence @vectorize_matmul(%mm: !transform.any_op {transform.consumed}) {
    %t, %lk = transform.structured.tile_using_for %mm tile_sizes [0, 0, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize_steps failures(propagate) (%t, %lk)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }

  // A matmul or panel tile whose row count is known only at run time (the
  // last rows of a block whose size is not static, fewer than a register
  // tile) and whose column count is static. One row at a time, it
  // vectorises (without masks, which the vectoriser cannot yet apply to
  // these contractions).
  transform.named_sequence @match_dynamic_rows(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      // Dynamic sizes read as negative.
      %zero = transform.param.constant 0 : i64 -> !transform.param<i64>
      %m = transform.match.structured.dim %s[0]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi lt %m, %zero : !transform.param<i64>
      %n = transform.match.structured.dim %s[1]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi gt %n, %zero : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }
  transform.named_sequence @match_dynamic_panel_tile(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %panel = transform.include @match_panel_matmul failures(propagate) (%op)
        : (!transform.any_op) -> !transform.any_op
    %matched = transform.include @match_dynamic_rows failures(propagate) (%panel)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %matched : !transform.any_op
  }
  transform.named_sequence @match_dynamic_pair_panel_tile(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %panel = transform.include @match_pair_panel_matmul failures(propagate) (%op)
        : (!transform.any_op) -> !transform.any_op
    %matched = transform.include @match_dynamic_rows failures(propagate) (%panel)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %matched : !transform.any_op
  }
  transform.named_sequence @match_dynamic_matmul_tile(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.matmul"] : !transform.any_op
    %matched = transform.include @match_dynamic_rows failures(propagate) (%op)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %matched : !transform.any_op
  }
  // The remaining loops' tile sizes are 0: untiled.
  transform.named_sequence @rows_one_at_a_time(
      %t: !transform.any_op {transform.consumed}) {
    %row, %loop = transform.structured.tile_using_for %t tile_sizes [1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }

  // batch_matmul and the panel contraction: K is their fourth loop.
  transform.named_sequence @vectorize_k4(%mm: !transform.any_op {transform.consumed}) {
    %t, %lk = transform.structured.tile_using_for %mm tile_sizes [0, 0, 0, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize_steps failures(propagate) (%t, %lk)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }

  // The pair contraction: one pair of K per step (an AVX512-BF16 dot
  // product per row and 16 columns, by kha-contract-to-bf16-dot).
  transform.named_sequence @vectorize_pairs(%mm: !transform.any_op {transform.consumed}) {
    %t, %lk = transform.structured.tile_using_for %mm tile_sizes [0, 0, 0, 1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize_steps failures(propagate) (%t, %lk)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // Row-wise generics: one row per iteration, vectorised along the row
  //===--------------------------------------------------------------------===//

  // A linalg.generic of the given rank whose loops are all parallel but the
  // last (a row: parallel, or a reduction along it), which is static and at
  // most 2048 long: a longer row would become a vector of that many lanes,
  // which takes the code generator hours.
  transform.named_sequence @match_rows(
      %op: !transform.any_op {transform.readonly},
      %rank: !transform.param<i64> {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.generic"] : !transform.any_op
    %zero = transform.param.constant 0 : i64 -> !transform.param<i64>
    %longest = transform.param.constant 2048 : i64 -> !transform.param<i64>
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %r = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi eq %r, %rank : !transform.param<i64>
      transform.match.structured.dim %s[except(-1)] {parallel} : !transform.any_op
      // Dynamic sizes read as negative.
      %row = transform.match.structured.dim %s[-1]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi gt %row, %zero : !transform.param<i64>
      transform.match.param.cmpi le %row, %longest : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }

  transform.named_sequence @match_rows2(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 2 : i64 -> !transform.param<i64>
    %m = transform.include @match_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_rows3(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 3 : i64 -> !transform.param<i64>
    %m = transform.include @match_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_rows4(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 4 : i64 -> !transform.param<i64>
    %m = transform.include @match_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_rows5(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 5 : i64 -> !transform.param<i64>
    %m = transform.include @match_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }

  // A linalg.generic of the given rank whose loops are all parallel, the
  // last static and longer than 64: elementwise ops along long rows (the
  // roundings to bf16 or f16 after each op of a narrow layer, among them).
  transform.named_sequence @match_long_rows(
      %op: !transform.any_op {transform.readonly},
      %rank: !transform.param<i64> {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.generic"] : !transform.any_op
    %chunk = transform.param.constant 64 : i64 -> !transform.param<i64>
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %r = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi eq %r, %rank : !transform.param<i64>
      transform.match.structured.dim %s[all] {parallel} : !transform.any_op
      // Dynamic sizes read as negative.
      %row = transform.match.structured.dim %s[-1]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi gt %row, %chunk : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }
  transform.named_sequence @match_long_rows2(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 2 : i64 -> !transform.param<i64>
    %m = transform.include @match_long_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_long_rows3(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 3 : i64 -> !transform.param<i64>
    %m = transform.include @match_long_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_long_rows4(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 4 : i64 -> !transform.param<i64>
    %m = transform.include @match_long_rows failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }

  // Vectorising fails (and is skipped) where a body gathers, as a mask does.
  transform.named_sequence @vectorize(%t: !transform.any_op {transform.consumed}) {
    transform.structured.vectorize %t : !transform.any_op
    transform.yield
  }
  // Rows are independent: blocks of 64 along the first dimension that is not
  // the batch (the first for rank 2) are an scf.forall for the threads, one
  // row at a time inside. Inside an attention tile the block loop is nested
  // in the tile's and kha-forall-to-threads runs it in order.
  transform.named_sequence @vectorize_rows2(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [64, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0 = transform.structured.tile_using_for %b tile_sizes [1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_rows3(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1 = transform.structured.tile_using_for %b tile_sizes [1, 1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_rows4(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %b tile_sizes [1, 1, 1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_rows5(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %b
        tile_sizes [1, 1, 1, 1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }

  // Long elementwise rows: the same blocks and rows, each row in chunks of
  // 64 elements (a partial last chunk peeled, so that it is static too).
  // Vectorised whole, a row of 512 became one vector of 512 lanes: with the
  // integer arithmetic of a bf16 rounding, LLVM spilled most of it and stored
  // the results one element at a time.
  transform.named_sequence @vectorize_chunks(
      %blocks: !transform.any_op {transform.readonly},
      %chunks: !transform.any_op {transform.readonly}) {
    transform.include @peel failures(suppress) (%chunks) : (!transform.any_op) -> ()
    // The peeled tiles' sizes fold to constants.
    transform.apply_patterns to %blocks {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %tiles = transform.structured.match ops{["linalg.generic"]} in %blocks
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%tile: !transform.any_op):
      transform.include @vectorize failures(suppress) (%tile) : (!transform.any_op) -> ()
    }
    transform.yield
  }
  transform.named_sequence @vectorize_long_rows2(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [64, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1 = transform.structured.tile_using_for %b tile_sizes [1, 64]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @vectorize_chunks failures(propagate) (%blocks, %l1)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_long_rows3(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %b tile_sizes [1, 1, 64]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op)
    transform.include @vectorize_chunks failures(propagate) (%blocks, %l2)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_long_rows4(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %b tile_sizes [1, 1, 1, 64]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op)
    transform.include @vectorize_chunks failures(propagate) (%blocks, %l3)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // RoPE rows, with the RMSNorm before them computed in the same loop
  //===--------------------------------------------------------------------===//

  // RoPE as kha-lower-to-linalg writes it: a rank-5 all-parallel generic
  // over [B, L, H, 2, d/2] (the two rotated halves of each head's row).
  transform.named_sequence @match_rope(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.generic"] : !transform.any_op
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %r = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      %five = transform.param.constant 5 : i64 -> !transform.param<i64>
      transform.match.param.cmpi eq %r, %five : !transform.param<i64>
      transform.match.structured.dim %s[all] {parallel} : !transform.any_op
      %two = transform.param.constant 2 : i64 -> !transform.param<i64>
      %halves = transform.match.structured.dim %s[3]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi eq %halves, %two : !transform.param<i64>
      %zero = transform.param.constant 0 : i64 -> !transform.param<i64>
      %longest = transform.param.constant 1024 : i64 -> !transform.param<i64>
      %half = transform.match.structured.dim %s[4]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi gt %half, %zero : !transform.param<i64>
      transform.match.param.cmpi le %half, %longest : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }

  // @producer_of_operand0 / 1: the linalg op (a generic or a fill) that
  // computes that operand of %op; @producer_of_slice_operand0: the one that
  // computes the source of the tensor.extract_slice RoPE reads a half with.
  // Each is empty where there is none.
  transform.named_sequence @linalg_producer(
      %p: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %op = transform.foreach %p : !transform.any_op -> !transform.any_op {
    ^bb0(%x: !transform.any_op):
      transform.match.operation_name %x ["linalg.generic", "linalg.fill"] : !transform.any_op
      transform.yield %x : !transform.any_op
    }
    transform.yield %op : !transform.any_op
  }
  transform.named_sequence @producer_of_slice_operand0(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %slice = transform.get_producer_of_operand %op[0]
        : (!transform.any_op) -> !transform.any_op
    %p = transform.foreach %slice : !transform.any_op -> !transform.any_op {
    ^bb0(%x: !transform.any_op):
      transform.match.operation_name %x ["tensor.extract_slice"] : !transform.any_op
      %source = transform.get_producer_of_operand %x[0]
          : (!transform.any_op) -> !transform.any_op
      transform.yield %source : !transform.any_op
    }
    %producer = transform.include @linalg_producer failures(propagate) (%p)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %producer : !transform.any_op
  }
  transform.named_sequence @producer_of_operand0(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %p = transform.get_producer_of_operand %op[0]
        : (!transform.any_op) -> !transform.any_op
    %producer = transform.include @linalg_producer failures(propagate) (%p)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %producer : !transform.any_op
  }
  transform.named_sequence @producer_of_operand1(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %p = transform.get_producer_of_operand %op[1]
        : (!transform.any_op) -> !transform.any_op
    %producer = transform.include @linalg_producer failures(propagate) (%p)
        : (!transform.any_op) -> !transform.any_op
    transform.yield %producer : !transform.any_op
  }

  transform.named_sequence @fuse_sums(
      %sums: !transform.any_op {transform.consumed},
      %loop: !transform.any_op {transform.readonly}) {
    %fill = transform.include @producer_of_operand1 failures(suppress) (%sums)
        : (!transform.any_op) -> !transform.any_op
    transform.include @fuse_into failures(suppress) (%sums, %loop)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.foreach %fill : !transform.any_op {
    ^bb0(%p: !transform.any_op):
      transform.include @fuse_into failures(suppress) (%p, %loop)
          : (!transform.any_op, !transform.any_op) -> ()
    }
    transform.yield
  }
  // The row's scale 1 / sqrt(mean + eps), then what it reads.
  transform.named_sequence @fuse_scale(
      %scale: !transform.any_op {transform.consumed},
      %loop: !transform.any_op {transform.readonly}) {
    %sums = transform.include @producer_of_operand0 failures(suppress) (%scale)
        : (!transform.any_op) -> !transform.any_op
    transform.include @fuse_into failures(suppress) (%scale, %loop)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.foreach %sums : !transform.any_op {
    ^bb0(%p: !transform.any_op):
      transform.include @fuse_sums failures(suppress) (%p, %loop)
          : (!transform.any_op, !transform.any_op) -> ()
    }
    transform.yield
  }
  // The normalised row x * scale * w, then what it reads.
  transform.named_sequence @fuse_norm(
      %norm: !transform.any_op {transform.consumed},
      %loop: !transform.any_op {transform.readonly}) {
    %scale = transform.include @producer_of_operand1 failures(suppress) (%norm)
        : (!transform.any_op) -> !transform.any_op
    transform.include @fuse_into failures(suppress) (%norm, %loop)
        : (!transform.any_op, !transform.any_op) -> ()
    transform.foreach %scale : !transform.any_op {
    ^bb0(%p: !transform.any_op):
      transform.include @fuse_scale failures(suppress) (%p, %loop)
          : (!transform.any_op, !transform.any_op) -> ()
    }
    transform.yield
  }

  // Blocks of 64 positions for the threads, then one row (position, head)
  // at a time, with the RMSNorm's sum of squares, scale and normalised
  // halves computed for that row in the same loop. The row is read from
  // memory once instead of three times and written once instead of twice,
  // in one parallel region instead of four.
  // The norm is fused once per half of the row, and so is the sum of
  // squares both halves read; the CSE after the schedule merges the two.
  transform.named_sequence @rope_rows(%op: !transform.any_op {transform.consumed}) {
    %norm = transform.include @producer_of_slice_operand0 failures(suppress) (%op)
        : (!transform.any_op) -> !transform.any_op
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 64, 0, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %b tile_sizes [1, 1, 1, 0, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op)
    // Slices of the halves' slices become slices of the norm's result.
    transform.apply_patterns to %blocks {
      transform.apply_patterns.tensor.merge_consecutive_insert_extract_slice
    } : !transform.any_op
    transform.foreach %norm : !transform.any_op {
    ^bb0(%p: !transform.any_op):
      transform.include @fuse_norm failures(suppress) (%p, %l2)
          : (!transform.any_op, !transform.any_op) -> ()
    }
    %tiles = transform.structured.match ops{["linalg.generic", "linalg.fill"]} in %l2
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%tile: !transform.any_op):
      transform.include @vectorize failures(suppress) (%tile) : (!transform.any_op) -> ()
    }
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // Column reductions: the row maximum and sum of key-major attention scores
  //===--------------------------------------------------------------------===//

  // A rank-3 linalg.generic that reduces its middle loop (the keys of a
  // block) into its first and last (the query rows), the last static and at
  // most 2048 long.
  transform.named_sequence @match_columns3(
      %op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.generic"] : !transform.any_op
    %zero = transform.param.constant 0 : i64 -> !transform.param<i64>
    %three = transform.param.constant 3 : i64 -> !transform.param<i64>
    %longest = transform.param.constant 2048 : i64 -> !transform.param<i64>
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %r = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi eq %r, %three : !transform.param<i64>
      transform.match.structured.dim %s[0, 2] {parallel} : !transform.any_op
      transform.match.structured.dim %s[1] {reduction} : !transform.any_op
      %row = transform.match.structured.dim %s[-1]
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi gt %row, %zero : !transform.param<i64>
      transform.match.param.cmpi le %row, %longest : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }

  // Sixteen rows at a time, all keys of the block in one vector op; the
  // reduction across its rows becomes one elementwise maximum (or sum) per
  // key rather than a reduction within a vector. A partial last group of
  // rows is peeled, so that it is static too.
  transform.named_sequence @vectorize_columns3(%op: !transform.any_op {transform.consumed}) {
    %t, %l0, %l1 = transform.structured.tile_using_for %op tile_sizes [1, 0, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(suppress) (%l1) : (!transform.any_op) -> ()
    %tiles = transform.structured.match ops{["linalg.generic"]} in %l0
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%tile: !transform.any_op):
      transform.include @vectorize failures(suppress) (%tile) : (!transform.any_op) -> ()
    }
    transform.apply_patterns to %l0 {
      transform.apply_patterns.vector.lower_multi_reduction lowering_strategy = "innerparallel"
    } : !transform.any_op
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // Transposes (the attention's relayouts of K blocks and query rows): blocks
  // of 8 x 16 of the last two result dimensions, one vector.transpose each
  //===--------------------------------------------------------------------===//

  transform.named_sequence @match_transpose(
      %op: !transform.any_op {transform.readonly},
      %rank: !transform.param<i64> {transform.readonly}) -> !transform.any_op {
    transform.match.operation_name %op ["linalg.transpose"] : !transform.any_op
    %matched = transform.match.structured %op
        : (!transform.any_op) -> !transform.any_op {
    ^bb0(%s: !transform.any_op):
      %r = transform.match.structured.rank %s
          : (!transform.any_op) -> !transform.param<i64>
      transform.match.param.cmpi eq %r, %rank : !transform.param<i64>
      transform.match.structured.yield %s : !transform.any_op
    }
    transform.yield %matched : !transform.any_op
  }
  transform.named_sequence @match_transpose2(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 2 : i64 -> !transform.param<i64>
    %m = transform.include @match_transpose failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_transpose3(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 3 : i64 -> !transform.param<i64>
    %m = transform.include @match_transpose failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_transpose4(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 4 : i64 -> !transform.param<i64>
    %m = transform.include @match_transpose failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  transform.named_sequence @match_transpose5(%op: !transform.any_op {transform.readonly}) -> !transform.any_op {
    %rank = transform.param.constant 5 : i64 -> !transform.param<i64>
    %m = transform.include @match_transpose failures(propagate) (%op, %rank)
        : (!transform.any_op, !transform.param<i64>) -> !transform.any_op
    transform.yield %m : !transform.any_op
  }
  // Partial blocks (sizes the block does not divide) stay scalar.
  transform.named_sequence @vectorize_transpose2(%op: !transform.any_op {transform.consumed}) {
    %t, %l0, %l1 = transform.structured.tile_using_for %op tile_sizes [8, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_transpose3(%op: !transform.any_op {transform.consumed}) {
    %t, %l0, %l1, %l2 = transform.structured.tile_using_for %op tile_sizes [1, 8, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  // Rank 4: the head-major copies of a layer's keys and values
  // (kha-contiguous-attention-heads), made before the attention's tiles and
  // split over the threads in blocks of 64 rows of one head.
  transform.named_sequence @vectorize_transpose4(%op: !transform.any_op {transform.consumed}) {
    %b, %blocks = transform.structured.tile_using_forall %op tile_sizes [1, 1, 64, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %t, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %b tile_sizes [1, 1, 8, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_transpose5(%op: !transform.any_op {transform.consumed}) {
    %t, %l0, %l1, %l2, %l3, %l4 = transform.structured.tile_using_for %op
        tile_sizes [1, 1, 1, 8, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @vectorize failures(suppress) (%t) : (!transform.any_op) -> ()
    transform.yield
  }

  //===--------------------------------------------------------------------===//
  // Everything after the decomposition
  //===--------------------------------------------------------------------===//

  // The code generation, for a register tile of %rows x %cols, and blocks of
  // %panels weight panels (256 columns) for the threads.
  // %rows x %cols: the register tile of f32 products (and of f32 panels);
  // %pair_rows: its rows for panels of bf16 pairs, whose widened halves
  // need registers of their own where there are no dot products.
  transform.named_sequence @kha_codegen(
      %root: !transform.any_op {transform.readonly},
      %rows: !transform.param<i64> {transform.readonly},
      %cols: !transform.param<i64> {transform.readonly},
      %panels: !transform.param<i64> {transform.readonly},
      %pair_rows: !transform.param<i64> {transform.readonly}) {
    %funcs = transform.structured.match ops{["func.func"]} in %root
        : (!transform.any_op) -> !transform.any_op
    // Slices of full-size empty tensors become tile-size ones.
    transform.apply_patterns to %funcs {
      transform.apply_patterns.tensor.fold_tensor_empty
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    // Weights packed into panels where they were not packed ahead (in the
    // prepare function, or at compile time): a reshape and a transpose,
    // vectorised below with the other transposes.
    %packs = transform.structured.match ops{["linalg.pack"]} in %root
        : (!transform.any_op) -> !transform.op<"linalg.pack">
    transform.foreach %packs : !transform.op<"linalg.pack"> {
    ^bb0(%pack: !transform.op<"linalg.pack">):
      %pad, %expand, %transpose = transform.structured.lower_pack %pack
          : (!transform.op<"linalg.pack">)
          -> (!transform.op<"tensor.pad">, !transform.op<"tensor.expand_shape">,
              !transform.op<"linalg.transpose">)
    }
    %mm = transform.structured.match ops{["linalg.matmul"]} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %mm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_matmul failures(propagate) (%op, %rows, %cols)
          : (!transform.any_op, !transform.param<i64>, !transform.param<i64>) -> ()
    }
    %bmm = transform.structured.match ops{["linalg.batch_matmul"]} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %bmm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_batch_matmul failures(propagate) (%op, %rows, %cols)
          : (!transform.any_op, !transform.param<i64>, !transform.param<i64>) -> ()
    }
    %pmm = transform.collect_matching @match_panel_matmul in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %pmm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_panel_matmul failures(propagate) (%op, %rows, %panels)
          : (!transform.any_op, !transform.param<i64>, !transform.param<i64>) -> ()
    }
    %ppmm = transform.collect_matching @match_pair_panel_matmul in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %ppmm : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_pair_panel_matmul failures(propagate) (%op, %pair_rows, %panels)
          : (!transform.any_op, !transform.param<i64>, !transform.param<i64>) -> ()
    }
    // Peeled tiles' sizes fold to constants, so that they vectorise.
    transform.apply_patterns to %funcs {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %dynamic_panels = transform.collect_matching @match_dynamic_panel_tile in %root
        : (!transform.any_op) -> !transform.any_op
    %dynamic_matmuls = transform.collect_matching @match_dynamic_matmul_tile in %root
        : (!transform.any_op) -> !transform.any_op
    %dynamic_pairs = transform.collect_matching @match_dynamic_pair_panel_tile in %root
        : (!transform.any_op) -> !transform.any_op
    %dynamic = transform.merge_handles %dynamic_panels, %dynamic_matmuls, %dynamic_pairs
        : !transform.any_op
    transform.foreach %dynamic : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @rows_one_at_a_time failures(propagate) (%op)
          : (!transform.any_op) -> ()
    }
    %tiles = transform.structured.match ops{["linalg.matmul"]} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @vectorize_matmul failures(suppress) (%op) : (!transform.any_op) -> ()
    }
    %btiles = transform.structured.match ops{["linalg.batch_matmul"]} in %root
        : (!transform.any_op) -> !transform.any_op
    %ptiles = transform.collect_matching @match_panel_matmul in %root
        : (!transform.any_op) -> !transform.any_op
    %k4tiles = transform.merge_handles %btiles, %ptiles : !transform.any_op
    transform.foreach %k4tiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @vectorize_k4 failures(suppress) (%op) : (!transform.any_op) -> ()
    }
    %pptiles = transform.collect_matching @match_pair_panel_matmul in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %pptiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @vectorize_pairs failures(suppress) (%op) : (!transform.any_op) -> ()
    }
    // Hoisting needs the accumulator's read and write to address the K
    // loop's iteration argument directly, which canonicalisation makes
    // them do. It runs once, after every tile is vectorised: run per tile,
    // it would rewrite tiles that other handles still point to; and the
    // loops are found again by their mark, since it may erase some (a K
    // loop of one step).
    transform.apply_patterns to %funcs {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %kloops = transform.structured.match ops{["scf.for"]}
        attributes {kha.hoist_accumulator} in %root
        : (!transform.any_op) -> !transform.any_op
    // K steps four at a time: fewer loop branches between the FMAs
    // (measured on the AVX2 VM, 512^3 packed: 3.1-3.8 ms against 3.2-5.4 ms
    // in alternating runs).
    transform.foreach %kloops : !transform.any_op {
    ^bb0(%loop: !transform.any_op):
      transform.loop.hoist_loop_invariant_subsets %loop : !transform.any_op
      transform.loop.unroll %loop {factor = 4} : !transform.any_op
    }
    %ropes = transform.collect_matching @match_rope in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %ropes : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @rope_rows failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    // The producers fused into the rows are gone before the row-wise ops
    // below are matched.
    transform.apply_patterns to %funcs {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %updated = transform.foreach_match in %funcs
        @match_long_rows2 -> @vectorize_long_rows2,
        @match_long_rows3 -> @vectorize_long_rows3,
        @match_long_rows4 -> @vectorize_long_rows4,
        @match_rows2 -> @vectorize_rows2,
        @match_rows3 -> @vectorize_rows3,
        @match_rows4 -> @vectorize_rows4,
        @match_rows5 -> @vectorize_rows5,
        @match_columns3 -> @vectorize_columns3,
        @match_transpose2 -> @vectorize_transpose2,
        @match_transpose3 -> @vectorize_transpose3,
        @match_transpose4 -> @vectorize_transpose4,
        @match_transpose5 -> @vectorize_transpose5
        : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %updated {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }

  // The entry points per vector width. Pair panels take 8 rows with 512-bit
  // vectors (dot products: 16 accumulators, 2 panel vectors, a broadcast),
  // 4 with narrower ones, where widening them takes 6 more registers: AVX2's
  // 6 x 16 tile spilled (91 of 312 instructions of the K loop).
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %rows = transform.param.constant 8 : i64 -> !transform.param<i64>
    %cols = transform.param.constant 32 : i64 -> !transform.param<i64>
    %panels = transform.param.constant 8 : i64 -> !transform.param<i64>
    %pair_rows = transform.param.constant 8 : i64 -> !transform.param<i64>
    transform.include @kha_codegen failures(propagate) (%root, %rows, %cols, %panels, %pair_rows)
        : (!transform.any_op, !transform.param<i64>, !transform.param<i64>,
           !transform.param<i64>, !transform.param<i64>) -> ()
    transform.yield
  }
  transform.named_sequence @kha_codegen_256(%root: !transform.any_op {transform.readonly}) {
    %rows = transform.param.constant 6 : i64 -> !transform.param<i64>
    %cols = transform.param.constant 16 : i64 -> !transform.param<i64>
    %panels = transform.param.constant 16 : i64 -> !transform.param<i64>
    %pair_rows = transform.param.constant 4 : i64 -> !transform.param<i64>
    transform.include @kha_codegen failures(propagate) (%root, %rows, %cols, %panels, %pair_rows)
        : (!transform.any_op, !transform.param<i64>, !transform.param<i64>,
           !transform.param<i64>, !transform.param<i64>) -> ()
    transform.yield
  }
  transform.named_sequence @kha_codegen_128(%root: !transform.any_op {transform.readonly}) {
    %rows = transform.param.constant 4 : i64 -> !transform.param<i64>
    %cols = transform.param.constant 8 : i64 -> !transform.param<i64>
    %panels = transform.param.constant 32 : i64 -> !transform.param<i64>
    %pair_rows = transform.param.constant 4 : i64 -> !transform.param<i64>
    transform.include @kha_codegen failures(propagate) (%root, %rows, %cols, %panels, %pair_rows)
        : (!transform.any_op, !transform.param<i64>, !transform.param<i64>,
           !transform.param<i64>, !transform.param<i64>) -> ()
    transform.yield
  }
}
