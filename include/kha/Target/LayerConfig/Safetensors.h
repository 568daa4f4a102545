//===- Safetensors.h - read .safetensors files -----------------*- C++ -*-===//
//
// A reader for the .safetensors format: an 8-byte little-endian header length
// N, N bytes of JSON naming each tensor's dtype, shape and byte range, then
// the tensors' bytes. Every field is checked before any byte is used.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_TARGET_LAYERCONFIG_SAFETENSORS_H
#define KHA_TARGET_LAYERCONFIG_SAFETENSORS_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir {
namespace kha {

/// One tensor of a .safetensors file: its dtype as the format spells it
/// ("F32", "F16", "BF16", ...), its shape and its little-endian bytes (a view
/// into the file's bytes).
struct SafetensorsTensor {
  std::string dtype;
  SmallVector<int64_t> shape;
  StringRef bytes;
};

/// The size in bytes of one element of a .safetensors dtype; 0 if unknown.
int64_t getSafetensorsElementSize(StringRef dtype);

/// Parses the bytes of a .safetensors file. Refuses (with a message in
/// `error`) a header length past the file, a header that is not a JSON object
/// of tensors, an unknown dtype, a negative or overflowing shape, a byte range
/// outside the data or of the wrong size for the shape, and overlapping
/// ranges. The `__metadata__` entry is skipped.
bool parseSafetensors(StringRef bytes, llvm::StringMap<SafetensorsTensor> &out,
                      std::string &error);

} // namespace kha
} // namespace mlir

#endif // KHA_TARGET_LAYERCONFIG_SAFETENSORS_H
