//===- InitAll.h - register everything kha provides -------------*- C++ -*-===//
//
// Defined in lib/Registration (the KHARegistration library), the one target
// every tool and library that registers kha links: it brings the dialect,
// every pass library and the pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_INITALL_H
#define KHA_INITALL_H

namespace mlir {
class DialectRegistry;
namespace kha {

/// Adds the kha dialect to `registry`.
void registerAllKHADialects(DialectRegistry &registry);

/// Registers every kha pass and named pipeline.
void registerAllKHAPasses();

/// Everything a context needs to run kha's pipelines: MLIR's dialects and
/// their extensions (among them the transform dialect's, which the CPU
/// schedule uses) and the kha dialect. The tools, the C API and Python use
/// it; an embedder that registers less may find `--kha-cpu-pipeline`
/// refusing an unknown transform op.
void registerKHAPipelineDependencies(DialectRegistry &registry);

/// kha's passes and pipelines and MLIR's own (canonicalize, cse, ...), so
/// that textual pipelines may mix them.
void registerKHAAndUpstreamPasses();

} // namespace kha
} // namespace mlir

#endif // KHA_INITALL_H
