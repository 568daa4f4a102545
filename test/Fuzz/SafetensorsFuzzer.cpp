//===- SafetensorsFuzzer.cpp - libFuzzer target: the .safetensors reader --===//
//
// Any bytes: parseSafetensors either refuses them with a message or returns
// tensors whose bytes lie inside the input, are exactly their element count
// times the element size, and do not overlap.
//
//===----------------------------------------------------------------------===//

#include "kha/Target/LayerConfig/Safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

using namespace mlir::kha;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::StringMap<SafetensorsTensor> tensors;
  std::string error;
  if (!parseSafetensors(bytes, tensors, error)) {
    if (error.empty())
      std::abort(); // refused without saying why
    return 0;
  }
  std::vector<std::pair<const char *, const char *>> ranges;
  for (const auto &entry : tensors) {
    const SafetensorsTensor &tensor = entry.second;
    uint64_t count = 1;
    for (int64_t dim : tensor.shape) {
      if (dim < 0)
        std::abort();
      count *= uint64_t(dim);
    }
    if (tensor.bytes.size() !=
        count * uint64_t(getSafetensorsElementSize(tensor.dtype)))
      std::abort();
    const char *begin = tensor.bytes.data(), *end = begin + tensor.bytes.size();
    if (!tensor.bytes.empty() &&
        (begin < bytes.data() || end > bytes.data() + bytes.size()))
      std::abort();
    if (begin != end)
      ranges.emplace_back(begin, end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      std::abort();
  return 0;
}
