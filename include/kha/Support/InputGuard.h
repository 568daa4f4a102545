//===- InputGuard.h - keep pathological input from crashing -----*- C++ -*-===//
//
// MLIR's parser and llvm::json recurse once per nesting level, so input nested
// deeply enough overflows the stack. The tools reject such input with a
// diagnostic before parsing, and run on a large stack so that any input below
// the limit parses.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_SUPPORT_INPUTGUARD_H
#define KHA_SUPPORT_INPUTGUARD_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace mlir {
namespace kha {

/// The byte offset at which brackets of `text` (`(`, `[`, `{` and `<`, outside
/// strings and `//` comments) first nest deeper than `maxDepth`, if they do.
std::optional<size_t> findExcessiveNesting(llvm::StringRef text,
                                           unsigned maxDepth);

/// The 1-based line and column of byte `offset` of `text`.
std::pair<unsigned, unsigned> getLineAndColumn(llvm::StringRef text,
                                               size_t offset);

/// When the file `filename` ("-": standard input, which is read and then put
/// back) nests deeper than `maxDepth`, prints `filename:line:col: error: ...`
/// and returns false.
bool checkInputNesting(llvm::StringRef filename, unsigned maxDepth);

/// Runs `body` on a thread with a stack of `stackBytes` and returns its result.
int runWithLargeStack(llvm::function_ref<int()> body,
                      unsigned stackBytes = 512u << 20);

} // namespace kha
} // namespace mlir

#endif // KHA_SUPPORT_INPUTGUARD_H
