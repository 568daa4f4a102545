//===- Safetensors.cpp - read .safetensors files --------------------------===//

#include "kha/Target/LayerConfig/Safetensors.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::kha;

int64_t mlir::kha::getSafetensorsElementSize(StringRef dtype) {
  return llvm::StringSwitch<int64_t>(dtype)
      .Cases({"F64", "I64", "U64"}, 8)
      .Cases({"F32", "I32", "U32"}, 4)
      .Cases({"F16", "BF16", "I16", "U16"}, 2)
      .Cases({"BOOL", "I8", "U8", "F8_E4M3", "F8_E5M2"}, 1)
      .Default(0);
}

bool mlir::kha::parseSafetensors(StringRef bytes,
                                 llvm::StringMap<SafetensorsTensor> &out,
                                 std::string &error) {
  if (bytes.size() < 8) {
    error = "too short for a .safetensors file (" +
            std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  uint64_t headerSize = llvm::support::endian::read64le(bytes.data());
  if (headerSize > bytes.size() - 8) {
    error = "header length " + std::to_string(headerSize) +
            " runs past the end of the file";
    return false;
  }
  StringRef headerText = bytes.substr(8, headerSize);
  StringRef data = bytes.drop_front(8 + headerSize);
  llvm::Expected<llvm::json::Value> header = llvm::json::parse(headerText);
  if (!header) {
    error = "header is not JSON: " + llvm::toString(header.takeError());
    return false;
  }
  const llvm::json::Object *entries = header->getAsObject();
  if (!entries) {
    error = "header is not a JSON object";
    return false;
  }
  SmallVector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto &entry : *entries) {
    std::string name = entry.first.str();
    if (name == "__metadata__")
      continue;
    auto fail = [&](const Twine &message) {
      error = ("tensor '" + name + "': " + message).str();
      return false;
    };
    const llvm::json::Object *tensor = entry.second.getAsObject();
    if (!tensor)
      return fail("not an object");
    for (const auto &key : *tensor)
      if (key.first != "dtype" && key.first != "shape" &&
          key.first != "data_offsets")
        return fail("unknown key '" + key.first.str() + "'");
    std::optional<StringRef> dtype = tensor->getString("dtype");
    const llvm::json::Array *shape = tensor->getArray("shape");
    const llvm::json::Array *offsets = tensor->getArray("data_offsets");
    if (!dtype || !shape || !offsets)
      return fail("needs 'dtype' (a string), 'shape' and 'data_offsets' "
                  "(arrays)");
    int64_t elementSize = getSafetensorsElementSize(*dtype);
    if (!elementSize)
      return fail("unknown dtype '" + *dtype + "'");
    SafetensorsTensor result;
    result.dtype = dtype->str();
    // The element count, refusing overflow past int64.
    uint64_t count = 1;
    const uint64_t limit = std::numeric_limits<int64_t>::max();
    for (const llvm::json::Value &dim : *shape) {
      std::optional<int64_t> size = dim.getAsInteger();
      if (!size || *size < 0)
        return fail("shape holds something other than a non-negative "
                    "integer");
      if (*size && count > limit / static_cast<uint64_t>(*size))
        return fail("shape overflows");
      count *= *size;
      result.shape.push_back(*size);
    }
    if (count > limit / elementSize)
      return fail("shape overflows");
    std::optional<int64_t> begin, end;
    if (offsets->size() == 2) {
      begin = (*offsets)[0].getAsInteger();
      end = (*offsets)[1].getAsInteger();
    }
    if (!begin || !end || *begin < 0 || *end < *begin)
      return fail("'data_offsets' must be two integers 0 <= begin <= end");
    if (static_cast<uint64_t>(*end) > data.size())
      return fail("data_offsets [" + Twine(*begin) + ", " + Twine(*end) +
                  "] run past the " + Twine(data.size()) + " data bytes");
    if (static_cast<uint64_t>(*end - *begin) != count * elementSize)
      return fail("holds " + Twine(*end - *begin) + " bytes, its shape and " +
                  *dtype + " need " + Twine(count * elementSize));
    result.bytes = data.slice(*begin, *end);
    if (*end > *begin)
      ranges.emplace_back(*begin, *end);
    out[name] = std::move(result);
  }
  llvm::sort(ranges);
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) {
      error = "tensors' byte ranges overlap";
      return false;
    }
  return true;
}
