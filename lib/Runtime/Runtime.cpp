//===- Runtime.cpp - manifests, float conversions, memref descriptors -----===//

#include "kha/Runtime/Runtime.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

using namespace kha::runtime;

//===----------------------------------------------------------------------===//
// Manifests
//===----------------------------------------------------------------------===//

int64_t kha::runtime::elementSize(const std::string &elementType) {
  if (elementType == "f32")
    return 4;
  if (elementType == "f16" || elementType == "bf16")
    return 2;
  if (elementType == "i64")
    return 8;
  return 0;
}

std::string kha::runtime::formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") +
            (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return text + "]";
}

static bool sameSpec(const TensorSpec &a, const TensorSpec &b) {
  return a.elementType == b.elementType && a.shape == b.shape &&
         a.kind == b.kind;
}

/// Each `prepare` line names functions whose signatures fit together.
static bool checkPrepareRelations(const Manifest &manifest,
                                  std::string &error) {
  for (const FunctionSpec &fn : manifest.functions) {
    if (fn.prepare.empty())
      continue;
    const FunctionSpec *prepare = findFunction(manifest, fn.prepare);
    const FunctionSpec *prepared = findFunction(manifest, fn.prepared);
    auto fail = [&](const std::string &why) {
      error = "the manifest's prepare line of " + fn.name + " " + why;
      return false;
    };
    if (!prepare || !prepared || prepare == &fn || prepared == &fn ||
        prepare == prepared)
      return fail("names functions the library does not have");
    if (prepare->args.size() != fn.weightArgs.size())
      return fail("does not match " + prepare->name + "'s arguments");
    for (size_t i = 0; i < fn.weightArgs.size(); ++i)
      if (!sameSpec(prepare->args[i], fn.args[fn.weightArgs[i]]))
        return fail("does not match " + prepare->name + "'s arguments");
    if (prepared->args.size() != fn.args.size() + prepare->results.size())
      return fail("does not match " + prepared->name + "'s arguments");
    for (size_t i = 0; i < prepared->args.size(); ++i) {
      const TensorSpec &want = i < fn.args.size()
                                   ? fn.args[i]
                                   : prepare->results[i - fn.args.size()];
      if (!sameSpec(prepared->args[i], want))
        return fail("does not match " + prepared->name + "'s arguments");
    }
    if (prepared->results.size() != fn.results.size())
      return fail("does not match " + prepared->name + "'s results");
    for (size_t i = 0; i < fn.results.size(); ++i)
      if (!sameSpec(prepared->results[i], fn.results[i]))
        return fail("does not match " + prepared->name + "'s results");
    // Results of the prepare function are arguments of the prepared one:
    // no dynamic size to agree on, so none is left unchecked.
    for (const TensorSpec &result : prepare->results)
      for (int64_t size : result.shape)
        if (size < 0)
          return fail("has a prepared value of dynamic shape");
  }
  return true;
}

bool kha::runtime::parseManifest(const std::string &text, Manifest &manifest,
                                 std::string &error) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "kha-manifest 1") {
    error = "unknown manifest version";
    return false;
  }
  FunctionSpec *current = nullptr;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    // Nothing may follow a line's words.
    auto ends = [&] {
      std::string rest;
      return !(words >> rest);
    };
    if (kind == "device") {
      if (!(words >> manifest.device) || !ends()) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
    } else if (kind == "function") {
      manifest.functions.emplace_back();
      current = &manifest.functions.back();
      if (!(words >> current->name) || !ends()) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
    } else if (kind == "scalar" && current) {
      // `scalar NAME i64`: an argument passed by value.
      TensorSpec spec;
      spec.kind = ArgumentKind::Scalar;
      if (!(words >> spec.name >> spec.elementType) ||
          spec.elementType != "i64" || !ends()) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
      current->args.push_back(spec);
    } else if ((kind == "arg" || kind == "inout" || kind == "result") &&
               current) {
      TensorSpec spec;
      if (kind == "inout")
        spec.kind = ArgumentKind::InOut;
      int64_t rank = -1;
      words >> spec.name >> spec.elementType >> rank;
      // A rank kha could have compiled, sizes that are -1 (dynamic) or
      // non-negative, and nothing after them.
      bool ok = words && rank >= 0 && rank <= kMaxRank &&
                elementSize(spec.elementType) != 0;
      if (ok)
        spec.shape.resize(rank);
      for (int64_t &size : spec.shape) {
        words >> size;
        ok &= bool(words) && size >= -1;
      }
      std::string rest;
      if (!ok || (words >> rest)) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
      (kind == "result" ? current->results : current->args).push_back(spec);
    } else if (kind == "fits" && current) {
      // `fits LENGTH ARG.DIM ARG.DIM`: a scalar argument and two sizes.
      CacheBound bound;
      std::string items[3];
      bool ok = bool(words >> items[0] >> items[1] >> items[2]) && ends();
      char *end = nullptr;
      unsigned long long length =
          ok ? std::strtoull(items[0].c_str(), &end, 10) : 0;
      ok = ok && std::isdigit(static_cast<unsigned char>(items[0][0])) &&
           !*end && length < current->args.size() &&
           current->args[length].kind == ArgumentKind::Scalar;
      bound.length = length;
      for (int i = 1; ok && i < 3; ++i) {
        std::pair<size_t, size_t> &at = i == 1 ? bound.tokens : bound.capacity;
        size_t dot = items[i].find('.');
        unsigned long long arg = std::strtoull(items[i].c_str(), &end, 10);
        ok = dot != std::string::npos && dot > 0 &&
             end == items[i].c_str() + dot && arg < current->args.size() &&
             current->args[arg].kind != ArgumentKind::Scalar;
        if (!ok)
          break;
        const char *dimText = items[i].c_str() + dot + 1;
        unsigned long long dim = std::strtoull(dimText, &end, 10);
        ok = *dimText && !*end && dim < current->args[arg].shape.size();
        at = {size_t(arg), size_t(dim)};
      }
      if (!ok) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
      current->cacheBounds.push_back(bound);
    } else if (kind == "same" && current) {
      // `same ARG.DIM ...`: each names a dynamic size of an argument above.
      std::vector<std::pair<size_t, size_t>> group;
      std::string item;
      bool ok = true;
      while (ok && (words >> item)) {
        size_t dot = item.find('.');
        char *end = nullptr;
        unsigned long long arg = std::strtoull(item.c_str(), &end, 10);
        ok = dot != std::string::npos && end == item.c_str() + dot && dot > 0 &&
             arg < current->args.size() &&
             current->args[arg].kind != ArgumentKind::Scalar;
        if (!ok)
          break;
        const char *dimText = item.c_str() + dot + 1;
        unsigned long long dim = std::strtoull(dimText, &end, 10);
        ok = *dimText && !*end && dim < current->args[arg].shape.size() &&
             current->args[arg].shape[dim] < 0 &&
             std::find(group.begin(), group.end(),
                       std::make_pair(size_t(arg), size_t(dim))) == group.end();
        group.push_back({size_t(arg), size_t(dim)});
      }
      if (!ok || group.size() < 2) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
      current->equalSizes.push_back(std::move(group));
    } else if (kind == "prepare" && current && current->prepare.empty()) {
      // `prepare PREPARE PREPARED WEIGHT...`: weight indices increasing.
      bool ok = bool(words >> current->prepare >> current->prepared);
      std::string item;
      while (ok && (words >> item)) {
        char *end = nullptr;
        unsigned long long index = std::strtoull(item.c_str(), &end, 10);
        ok =
            !item.empty() &&
            std::isdigit(static_cast<unsigned char>(item[0])) && !*end &&
            index < current->args.size() &&
            (current->weightArgs.empty() || index > current->weightArgs.back());
        current->weightArgs.push_back(index);
      }
      if (!ok || current->weightArgs.empty()) {
        error = "malformed manifest line '" + line + "'";
        return false;
      }
    } else if (kind == "end") {
      current = nullptr;
    } else if (!kind.empty()) {
      error = "malformed manifest line '" + line + "'";
      return false;
    }
  }
  return checkPrepareRelations(manifest, error);
}

const FunctionSpec *kha::runtime::findFunction(const Manifest &manifest,
                                               const std::string &name) {
  for (const FunctionSpec &fn : manifest.functions)
    if (fn.name == name)
      return &fn;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Floating-point conversions
//===----------------------------------------------------------------------===//

static uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

static float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

uint16_t kha::runtime::floatToBFloat16(float value) {
  uint32_t bits = bitsOf(value);
  if (std::isnan(value))
    return static_cast<uint16_t>((bits >> 16) | 0x40); // quiet NaN
  uint32_t roundingBias = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

float kha::runtime::bfloat16ToFloat(uint16_t bits) {
  return floatOf(static_cast<uint32_t>(bits) << 16);
}

uint16_t kha::runtime::floatToHalf(float value) {
  uint32_t bits = bitsOf(value);
  uint32_t sign = (bits >> 16) & 0x8000;
  uint32_t exponent = (bits >> 23) & 0xff;
  uint32_t mantissa = bits & 0x7fffff;
  if (exponent == 0xff) // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  int32_t e = static_cast<int32_t>(exponent) - 127 + 15;
  if (e >= 31)
    return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa into place, rounding
    // to nearest even.
    if (e < -10)
      return static_cast<uint16_t>(sign);
    mantissa |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | static_cast<uint32_t>(e) << 10 | mantissa >> 13;
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, giving inf: correct
  return static_cast<uint16_t>(half);
}

float kha::runtime::halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f)
    return floatOf(sign | 0x7f800000 | mantissa << 13);
  if (exponent == 0) {
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return floatOf(sign | (exponent + 112) << 23 | mantissa << 13);
}

//===----------------------------------------------------------------------===//
// Memref descriptors
//===----------------------------------------------------------------------===//

MemRefDescriptor
MemRefDescriptor::contiguous(void *data, const std::vector<int64_t> &shape) {
  MemRefDescriptor d = ofRank(shape.size());
  int64_t pointer = static_cast<int64_t>(reinterpret_cast<intptr_t>(data));
  d.words[0] = d.words[1] = pointer;
  d.words[2] = 0;
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    d.words[3 + i] = shape[i];
    d.words[3 + shape.size() + i] = stride;
    stride *= shape[i];
  }
  return d;
}

MemRefDescriptor MemRefDescriptor::ofRank(size_t rank) {
  MemRefDescriptor d;
  d.words.assign(3 + 2 * rank, 0);
  return d;
}

void *MemRefDescriptor::allocated() const {
  return reinterpret_cast<void *>(static_cast<intptr_t>(words[0]));
}

char *MemRefDescriptor::data(int64_t elementBytes) const {
  return reinterpret_cast<char *>(static_cast<intptr_t>(words[1])) +
         words[2] * elementBytes;
}

std::vector<int64_t> MemRefDescriptor::sizes() const {
  return {words.begin() + 3, words.begin() + 3 + rank()};
}

std::vector<int64_t> MemRefDescriptor::strides() const {
  return {words.begin() + 3 + rank(), words.end()};
}

void kha::runtime::copyToContiguous(const MemRefDescriptor &memref,
                                    int64_t elementBytes, char *out) {
  std::vector<int64_t> sizes = memref.sizes(), strides = memref.strides();
  int64_t count = 1;
  for (int64_t size : sizes)
    count *= size;
  const char *base = memref.data(elementBytes);
  std::vector<int64_t> index(sizes.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i)
      offset += index[i] * strides[i];
    std::memcpy(out + n * elementBytes, base + offset * elementBytes,
                elementBytes);
    for (size_t i = sizes.size(); i-- > 0;) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}

//===----------------------------------------------------------------------===//
// Generated inputs
//===----------------------------------------------------------------------===//

bool kha::runtime::checkSizeRelations(
    const FunctionSpec &fn, const std::vector<std::vector<int64_t>> &shapes,
    const std::vector<int64_t> &scalars, std::string &error) {
  for (const auto &group : fn.equalSizes) {
    auto [firstArg, firstDim] = group.front();
    int64_t expected = shapes[firstArg][firstDim];
    for (auto [arg, dim] : group) {
      if (shapes[arg][dim] == expected)
        continue;
      error = "inputs disagree: dimension " + std::to_string(dim) +
              " of input " + std::to_string(arg + 1) + " (" +
              fn.args[arg].name + ") is " + std::to_string(shapes[arg][dim]) +
              " but dimension " + std::to_string(firstDim) + " of input " +
              std::to_string(firstArg + 1) + " (" + fn.args[firstArg].name +
              ") is " + std::to_string(expected) + "; " + fn.name +
              " needs them equal";
      return false;
    }
  }
  for (const CacheBound &bound : fn.cacheBounds) {
    int64_t length = scalars[bound.length];
    int64_t tokens = shapes[bound.tokens.first][bound.tokens.second];
    int64_t capacity = shapes[bound.capacity.first][bound.capacity.second];
    if (length >= 0 && length <= capacity - tokens)
      continue;
    error = fn.args[bound.length].name + " is " + std::to_string(length) +
            (length < 0 ? "; it must not be negative"
                        : " and " + std::to_string(tokens) +
                              " new tokens do not fit in " +
                              fn.args[bound.capacity.first].name + " of " +
                              std::to_string(capacity) + " rows") +
            " (" + fn.name + " needs 0 <= " + fn.args[bound.length].name +
            " <= capacity - new tokens)";
    return false;
  }
  return true;
}

bool kha::runtime::checkedBytes(const std::vector<int64_t> &shape,
                                int64_t elementBytes, int64_t &bytes,
                                std::string &error) {
  // Overflow first, then the machine's memory: a size is refused before
  // anything is allocated for it.
  const int64_t limit = std::numeric_limits<int64_t>::max();
  bytes = elementBytes;
  for (int64_t size : shape) {
    if (size < 0) {
      error = "negative size in " + formatShape(shape);
      return false;
    }
    if (size != 0 && bytes > limit / size) {
      error = formatShape(shape) + " overflows a 64-bit byte count";
      return false;
    }
    bytes *= size;
  }
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0 && bytes / pageSize >= pages) {
    error = formatShape(shape) + " needs " + std::to_string(bytes) +
            " bytes, more than this machine's memory (" +
            std::to_string(int64_t(pages) * pageSize) + " bytes)";
    return false;
  }
  return true;
}

std::vector<float>
kha::runtime::generateRandom(const std::vector<int64_t> &shape, uint64_t seed) {
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  float scale = shape.size() == 2 && shape[0] > 0
                    ? 1.0f / std::sqrt(static_cast<float>(shape[0]))
                    : 1.0f;
  std::vector<float> values(count);
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  for (float &value : values) {
    // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double unit = static_cast<double>(z >> 11) * 0x1.0p-53; // [0, 1)
    value = static_cast<float>(2.0 * unit - 1.0) * scale;
  }
  return values;
}
