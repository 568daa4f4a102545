//===- ToolVersion.h - kha's version in the tools' --version ----*- C++ -*-===//
//
// The command-line tools built on LLVM's option parser print LLVM's version
// for --version; this adds kha's line to it.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_SUPPORT_TOOLVERSION_H
#define KHA_SUPPORT_TOOLVERSION_H

#include "kha/Version.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir {
namespace kha {

/// Makes --version print "kha version X.Y.Z" after LLVM's own lines.
inline void registerVersionPrinter() {
  llvm::cl::AddExtraVersionPrinter(
      [](llvm::raw_ostream &os) { os << "kha version " KHA_VERSION "\n"; });
}

} // namespace kha
} // namespace mlir

#endif // KHA_SUPPORT_TOOLVERSION_H
