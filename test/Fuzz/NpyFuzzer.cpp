//===- NpyFuzzer.cpp - libFuzzer target: the .npy reader ------------------===//
//
// Any bytes: parseNpy either refuses them with a message or returns an array
// whose data is exactly its element count times the element size.
//
//===----------------------------------------------------------------------===//

#include "kha/Runtime/Runtime.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  kha::runtime::NpyArray array;
  std::string error;
  if (!kha::runtime::parseNpy(bytes, "fuzz.npy", array, error)) {
    if (error.empty())
      std::abort(); // refused without saying why
    return 0;
  }
  size_t count = 1;
  for (int64_t dim : array.shape) {
    if (dim < 0)
      std::abort();
    count *= size_t(dim);
  }
  size_t itemSize = std::strtoul(array.descr.c_str() + 2, nullptr, 10);
  if (array.data.size() != count * itemSize)
    std::abort();
  return 0;
}
