//===- Runtime.h - host runtime of compiled kha libraries -------*- C++ -*-===//
//
// What kha-run needs to call a compiled library, with no MLIR or LLVM inside:
// .npy files, the manifest a library carries, f16/bf16 conversion, and MLIR's
// memref descriptors. Functions return false and set `error` on bad input.
//
//===----------------------------------------------------------------------===//

#ifndef KHA_RUNTIME_RUNTIME_H
#define KHA_RUNTIME_RUNTIME_H

#include <cstdint>
#include <string>
#include <vector>

namespace kha {
namespace runtime {

//===----------------------------------------------------------------------===//
// .npy files
//===----------------------------------------------------------------------===//

/// An array read from or written to an .npy file: C order, little endian.
struct NpyArray {
  std::string descr; // numpy's dtype string, e.g. "<f4"
  std::vector<int64_t> shape;
  std::vector<char> data;
};

/// Reads an .npy file (format 1.0, 2.0 or 3.0). Rejects bad magic, truncated
/// headers or data, Fortran order, big-endian and malformed headers.
bool readNpy(const std::string &path, NpyArray &array, std::string &error);

/// Parses the bytes of an .npy file as readNpy does; `path` names it in
/// errors.
bool parseNpy(const std::string &bytes, const std::string &path,
              NpyArray &array, std::string &error);

/// Writes `array` as an .npy file (format 1.0).
bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);

/// The numpy name of an .npy dtype descriptor ("<f4" -> "float32").
std::string numpyTypeName(const std::string &descr);

//===----------------------------------------------------------------------===//
// Manifests
//===----------------------------------------------------------------------===//

/// How an argument is passed: an array the function reads (`arg`), an array
/// it updates in place (`inout`: a key/value cache), or an i64 by value
/// (`scalar`: a cache length; no shape).
enum class ArgumentKind { Tensor, InOut, Scalar };

/// One argument or result: element type "f32", "f16", "bf16" or "i64"
/// (positions, attention masks, cache lengths), and sizes with -1 for
/// dynamic ones.
struct TensorSpec {
  std::string name;
  std::string elementType;
  std::vector<int64_t> shape;
  ArgumentKind kind = ArgumentKind::Tensor;
};

/// The manifest's `fits LENGTH ARG.DIM ARG.DIM` line: scalar argument
/// `length` must be at least 0 and at most the size `capacity` minus the
/// size `tokens` (the new tokens fit in the cache).
struct CacheBound {
  size_t length;
  std::pair<size_t, size_t> tokens, capacity;
};

struct FunctionSpec {
  std::string name;
  std::vector<TensorSpec> args;
  std::vector<TensorSpec> results;
  /// Groups of (argument, dimension) whose dynamic sizes must be equal (the
  /// manifest's `same` lines).
  std::vector<std::vector<std::pair<size_t, size_t>>> equalSizes;
  std::vector<CacheBound> cacheBounds;
  /// The weight-only work, outlined (the manifest's `prepare` line): call
  /// `prepare` once with the arguments `weightArgs`, then `prepared` with all
  /// arguments followed by `prepare`'s results. Empty when there is none.
  std::string prepare, prepared;
  std::vector<size_t> weightArgs;
};

/// Checks the argument shapes `shapes` and scalar values `scalars` (one of
/// each per argument of `fn`; empty shapes for scalars) against
/// `fn.equalSizes` and `fn.cacheBounds`; false with a message naming the
/// disagreeing sizes or the length that does not fit.
bool checkSizeRelations(const FunctionSpec &fn,
                        const std::vector<std::vector<int64_t>> &shapes,
                        const std::vector<int64_t> &scalars,
                        std::string &error);

struct Manifest {
  std::string device;
  std::vector<FunctionSpec> functions;
};

/// The function named `name` in `manifest`, or null.
const FunctionSpec *findFunction(const Manifest &manifest,
                                 const std::string &name);

/// Parses the manifest text a compiled library exports (docs/runtime.md).
/// A `prepare` line is checked against the functions it names: the prepare
/// function takes the weights as the function does, the prepared function
/// the function's arguments followed by the prepare function's results, and
/// returns what the function returns.
bool parseManifest(const std::string &text, Manifest &manifest,
                   std::string &error);

/// Bytes per element of a manifest element type (0 if unknown).
int64_t elementSize(const std::string &elementType);

/// "[2, ?, 512]".
std::string formatShape(const std::vector<int64_t> &shape);

//===----------------------------------------------------------------------===//
// Floating-point conversions (round to nearest even)
//===----------------------------------------------------------------------===//

uint16_t floatToHalf(float value);
float halfToFloat(uint16_t bits);
uint16_t floatToBFloat16(float value);
float bfloat16ToFloat(uint16_t bits);

//===----------------------------------------------------------------------===//
// MLIR memref descriptors
//===----------------------------------------------------------------------===//

/// A ranked memref descriptor as MLIR lays it out: allocated and aligned
/// pointers, offset, sizes, strides; every field 8 bytes.
struct MemRefDescriptor {
  std::vector<int64_t> words;

  /// A descriptor of a contiguous row-major buffer.
  static MemRefDescriptor contiguous(void *data,
                                     const std::vector<int64_t> &shape);
  /// An empty descriptor of `rank` for a function to fill in.
  static MemRefDescriptor ofRank(size_t rank);

  size_t rank() const { return (words.size() - 3) / 2; }
  void *allocated() const;
  char *data(int64_t elementBytes) const;
  std::vector<int64_t> sizes() const;
  std::vector<int64_t> strides() const;
};

/// Copies a strided memref's elements into a contiguous row-major buffer.
void copyToContiguous(const MemRefDescriptor &memref, int64_t elementBytes,
                      char *out);

/// The largest rank a manifest may declare (kha's tensors have rank <= 4).
constexpr int64_t kMaxRank = 16;

/// The byte size of a `shape` array of `elementBytes`-byte elements; false
/// with a message when a size is negative, the count overflows 64 bits or it
/// exceeds the machine's physical memory (checked before allocating).
bool checkedBytes(const std::vector<int64_t> &shape, int64_t elementBytes,
                  int64_t &bytes, std::string &error);

/// Deterministic generated input: U(-1, 1) from `seed`, divided by
/// sqrt(rows) for matrices so that projections keep activations O(1).
std::vector<float> generateRandom(const std::vector<int64_t> &shape,
                                  uint64_t seed);

} // namespace runtime
} // namespace kha

#endif // KHA_RUNTIME_RUNTIME_H
