//===- kha-run.cpp - run a function of a compiled kha library -------------===//
//
//   kha-run LIB.so --function=kha_layer --input=@x.npy ... --output=@y.npy
//   kha-run LIB.so --input=2x128x512xf32=random:7 ... --benchmark=20
//
// Links no MLIR or LLVM library (docs/runtime.md).
//
//===----------------------------------------------------------------------===//

#include "kha/Runtime/Runtime.h"
#include "kha/Version.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace kha::runtime;

namespace {

constexpr const char *kUsage =
    "usage: kha-run LIB.so [--function=NAME] --input=@FILE.npy|SHAPExTYPE="
    "random:SEED ...\n"
    "               [--output=@FILE.npy ...] [--device=cpu|cuda] "
    "[--benchmark=N] [--threads=N] [--no-prepare] [--update] [--list] "
    "[--version]\n"
    "               [--random=SEED [--sizes=N,...]]  (the inputs not given, "
    "random)\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "kha-run: error: %s\n", message.c_str());
  return 1;
}

struct Options {
  std::string library;
  std::string function;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string device;
  int benchmark = 0;
  /// --threads=N: the threads a CPU library compiled with threads uses
  /// (0: OMP_NUM_THREADS, or every core).
  int threads = 0;
  bool list = false;
  /// --no-prepare: call the function itself every time, its weight-only
  /// work included, even where the library outlined that work.
  bool noPrepare = false;
  /// --update: write the arguments the function updates in place (a
  /// key/value cache) back to the .npy files they came from.
  bool update = false;
  /// --random=SEED: inputs not given by --input are random, input i from
  /// seed SEED + i; --sizes: the function's dynamic sizes for them.
  bool random = false;
  uint64_t randomSeed = 0;
  std::vector<int64_t> sizes;
  bool sizesGiven = false;
};

/// Parses a decimal number of at most `digits` digits.
bool parseNumber(const std::string &text, size_t digits, uint64_t &value) {
  if (text.empty() || text.size() > digits ||
      !std::all_of(text.begin(), text.end(), ::isdigit))
    return false;
  value = std::strtoull(text.c_str(), nullptr, 10);
  return true;
}

bool parsePositiveInt(const std::string &text, int &value) {
  uint64_t number;
  if (!parseNumber(text, 9, number))
    return false;
  value = int(number);
  return value > 0;
}

/// Parses sizes (numbers of at most 9 digits) separated by `separator`.
bool parseSizes(const std::string &text, char separator,
                std::vector<int64_t> &sizes) {
  sizes.clear();
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    uint64_t size;
    if (!parseNumber(text.substr(start, end - start), 9, size))
      return false;
    sizes.push_back(int64_t(size));
    if (end == std::string::npos)
      return true;
    start = end + 1;
  }
}

bool parseOptions(int argc, char **argv, Options &options, std::string &error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag, std::string &out) {
      std::string prefix = std::string(flag) + "=";
      if (arg.compare(0, prefix.size(), prefix) != 0)
        return false;
      out = arg.substr(prefix.size());
      return true;
    };
    std::string text;
    if (value("--function", options.function) ||
        value("--device", options.device))
      continue;
    if (value("--input", text)) {
      options.inputs.push_back(text);
    } else if (value("--output", text)) {
      options.outputs.push_back(text);
    } else if (value("--benchmark", text)) {
      if (!parsePositiveInt(text, options.benchmark)) {
        error =
            "--benchmark needs a positive number of runs, got '" + text + "'";
        return false;
      }
    } else if (value("--threads", text)) {
      if (!parsePositiveInt(text, options.threads)) {
        error =
            "--threads needs a positive number of threads, got '" + text + "'";
        return false;
      }
    } else if (value("--random", text)) {
      if (!parseNumber(text, 18, options.randomSeed)) {
        error = "--random needs a seed (a number), got '" + text + "'";
        return false;
      }
      options.random = true;
    } else if (value("--sizes", text)) {
      options.sizesGiven = true;
      if (!parseSizes(text, ',', options.sizes)) {
        error = "--sizes needs sizes separated by commas, e.g. 2,128, got '" +
                text + "'";
        return false;
      }
    } else if (arg == "--list") {
      options.list = true;
    } else if (arg == "--no-prepare") {
      options.noPrepare = true;
    } else if (arg == "--update") {
      options.update = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--version") {
      std::puts("kha-run (kha version " KHA_VERSION ")");
      std::exit(0);
    } else if (!arg.empty() && arg[0] == '-') {
      error = "unknown option '" + arg + "'\n" + kUsage;
      return false;
    } else if (options.library.empty()) {
      options.library = arg;
    } else {
      error = "unexpected argument '" + arg + "' (one library only)";
      return false;
    }
  }
  if (options.library.empty()) {
    error = std::string("no library given\n") + kUsage;
    return false;
  }
  if (!options.device.empty() && options.device != "cpu" &&
      options.device != "cuda") {
    error = "--device must be cpu or cuda, got '" + options.device + "'";
    return false;
  }
  return true;
}

/// An argument's storage in the element type the function takes.
struct Buffer {
  std::vector<int64_t> shape;
  std::vector<char> bytes;
  int64_t scalar = 0; ///< the value of a scalar argument
};

/// Converts f32 values to the element type `type`.
std::vector<char> fromFloats(const std::vector<float> &values,
                             const std::string &type) {
  std::vector<char> bytes(values.size() * elementSize(type));
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == "f32") {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      uint16_t bits =
          type == "f16" ? floatToHalf(values[i]) : floatToBFloat16(values[i]);
      std::memcpy(bytes.data() + 2 * i, &bits, 2);
    }
  }
  return bytes;
}

/// Parses "2x128x512xf32=random:7".
bool parseGenerated(const std::string &spec, std::vector<int64_t> &shape,
                    std::string &type, uint64_t &seed) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || spec.compare(eq + 1, 7, "random:") != 0)
    return false;
  if (!parseNumber(spec.substr(eq + 8), 18, seed))
    return false;
  std::string typed = spec.substr(0, eq);
  size_t x = typed.rfind('x');
  type = x == std::string::npos ? typed : typed.substr(x + 1);
  if (elementSize(type) == 0)
    return false;
  shape.clear();
  if (x == std::string::npos)
    return true; // a rank-0 value
  return parseSizes(typed.substr(0, x), 'x', shape);
}

/// Loads or generates input `index` for `spec`.
bool loadInput(const std::string &text, size_t index, const TensorSpec &spec,
               Buffer &buffer, std::string &error) {
  if (spec.kind == ArgumentKind::Scalar) {
    // A decimal integer, e.g. --input=17 for a cache length.
    char *end = nullptr;
    errno = 0;
    long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE ||
        !(std::isdigit(static_cast<unsigned char>(text[0])) ||
          text[0] == '-')) {
      error = "input " + std::to_string(index + 1) + " (" + spec.name +
              ", i64) is a number passed by value: expected an integer such "
              "as --input=0, got '" +
              text + "'";
      return false;
    }
    buffer.scalar = value;
    return true;
  }
  std::string what = "input " + std::to_string(index + 1) + " (" + spec.name +
                     ", " + spec.elementType + " " + formatShape(spec.shape) +
                     ")";
  if (!text.empty() && text[0] == '@') {
    NpyArray array;
    if (!readNpy(text.substr(1), array, error))
      return false;
    // bf16 travels as float32 .npy files (numpy has no bf16).
    std::string expected = spec.elementType == "f16"   ? "<f2"
                           : spec.elementType == "i64" ? "<i8"
                                                       : "<f4";
    if (array.descr != expected) {
      error = what + ": " + text.substr(1) + " holds " +
              numpyTypeName(array.descr) + ", expected " +
              numpyTypeName(expected);
      return false;
    }
    buffer.shape = array.shape;
    if (spec.elementType == "bf16") {
      std::vector<float> values(array.data.size() / 4);
      std::memcpy(values.data(), array.data.data(), array.data.size());
      buffer.bytes = fromFloats(values, "bf16");
    } else {
      buffer.bytes = std::move(array.data);
    }
  } else {
    std::string type;
    uint64_t seed;
    if (!parseGenerated(text, buffer.shape, type, seed)) {
      error = "bad --input '" + text +
              "': expected @FILE.npy or SHAPExTYPE=random:SEED, e.g. "
              "2x128x512xf32=random:7";
      return false;
    }
    if (type != spec.elementType) {
      error = what + ": generated input has element type " + type;
      return false;
    }
    if (type == "i64") {
      error = what + ": integer inputs (positions, attention masks) are not "
                     "generated; give them as an int64 .npy file";
      return false;
    }
    int64_t bytes;
    if (!checkedBytes(buffer.shape, elementSize(type), bytes, error)) {
      error = what + ": bad --input '" + text + "': " + error;
      return false;
    }
    buffer.bytes =
        fromFloats(generateRandom(buffer.shape, seed), spec.elementType);
  }
  bool match = buffer.shape.size() == spec.shape.size();
  for (size_t i = 0; match && i < spec.shape.size(); ++i)
    match = spec.shape[i] < 0 || spec.shape[i] == buffer.shape[i];
  if (!match) {
    error = what + ": got shape " + formatShape(buffer.shape);
    return false;
  }
  return true;
}

/// The data-moving part of the CUDA runtime linked into a library compiled
/// for --target=cuda (lib/Runtime/CUDARuntime.cpp): kha-run itself loads no
/// CUDA library.
struct CudaApi {
  const char *(*init)() = nullptr;
  const char *(*lastError)() = nullptr;
  void *(*alloc)(uint64_t, void *, bool) = nullptr;
  void (*free)(void *, void *) = nullptr;
  void (*copy)(void *, void *, size_t, void *) = nullptr;
  void (*synchronize)(void *) = nullptr;

  bool bind(void *library, std::string &error) {
    auto get = [&](auto &slot, const char *name) {
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(
          dlsym(library, name));
      if (!slot && error.empty())
        error = std::string("no ") + name +
                " (not a library kha-compile built for --target=cuda)";
      return slot != nullptr;
    };
    return get(init, "kha_cuda_init") &&
           get(lastError, "kha_cuda_last_error") &&
           get(alloc, "mgpuMemAlloc") && get(free, "mgpuMemFree") &&
           get(copy, "mgpuMemcpy") && get(synchronize, "mgpuStreamSynchronize");
  }
};

/// Calls a `_mlir_ciface_` function with `count` pointer arguments.
using Entry = void (*)();
template <size_t... I>
void callWith(Entry entry, void **args, std::index_sequence<I...>) {
  using Fn = void (*)(decltype((void)I, static_cast<void *>(nullptr))...);
  reinterpret_cast<Fn>(entry)(args[I]...);
}
template <size_t... N> constexpr auto makeCallTable(std::index_sequence<N...>) {
  return std::array<void (*)(Entry, void **), sizeof...(N)>{
      [](Entry entry, void **args) {
        callWith(entry, args, std::make_index_sequence<N>());
      }...};
}
constexpr size_t kMaxPointers = 40;
const auto kCallTable = makeCallTable(std::make_index_sequence<kMaxPointers>());

/// Writes a result, converting f16 bits to float16 and bf16 to float32.
bool writeResult(const std::string &path, const TensorSpec &spec,
                 const MemRefDescriptor &memref, std::string &error) {
  int64_t bytes = elementSize(spec.elementType);
  std::vector<int64_t> shape = memref.sizes();
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  std::vector<char> raw(count * bytes);
  copyToContiguous(memref, bytes, raw.data());
  NpyArray array;
  array.shape = shape;
  if (spec.elementType == "bf16") {
    array.descr = "<f4";
    array.data.resize(count * 4);
    for (int64_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, raw.data() + 2 * i, 2);
      float value = bfloat16ToFloat(bits);
      std::memcpy(array.data.data() + 4 * i, &value, 4);
    }
  } else {
    array.descr = spec.elementType == "f16"   ? "<f2"
                  : spec.elementType == "i64" ? "<i8"
                                              : "<f4";
    array.data = std::move(raw);
  }
  return writeNpy(path, array, error);
}

double elementAsDouble(const std::string &type, const char *p) {
  if (type == "i64") {
    int64_t v;
    std::memcpy(&v, p, 8);
    return double(v);
  }
  if (type == "f32") {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return type == "f16" ? halfToFloat(bits) : bfloat16ToFloat(bits);
}

/// --list: each function's arguments and results.
void printFunctions(const Manifest &manifest) {
  for (const FunctionSpec &fn : manifest.functions) {
    std::printf("%s (%s):", fn.name.c_str(), manifest.device.c_str());
    for (const TensorSpec &arg : fn.args)
      std::printf(" %s:%s%s%s", arg.name.c_str(), arg.elementType.c_str(),
                  arg.kind == ArgumentKind::Scalar
                      ? ""
                      : formatShape(arg.shape).c_str(),
                  arg.kind == ArgumentKind::InOut ? "(updated)" : "");
    std::printf(" ->");
    for (const TensorSpec &res : fn.results)
      std::printf(" %s%s", res.elementType.c_str(),
                  formatShape(res.shape).c_str());
    std::printf("\n");
  }
}

/// The function to call: --function, else the library's one function (its
/// outlined weight preparations aside).
const FunctionSpec *chooseFunction(const Manifest &manifest,
                                   const Options &options, std::string &error) {
  const FunctionSpec *fn = nullptr;
  std::string names;
  std::vector<const FunctionSpec *> callable;
  for (const FunctionSpec &candidate : manifest.functions) {
    names += (names.empty() ? "" : ", ") + candidate.name;
    bool part = false;
    for (const FunctionSpec &other : manifest.functions)
      part |=
          other.prepare == candidate.name || other.prepared == candidate.name;
    if (!part)
      callable.push_back(&candidate);
    if (candidate.name == options.function)
      fn = &candidate;
  }
  if (options.function.empty() && callable.size() == 1)
    fn = callable.front();
  if (!fn)
    error = options.function.empty()
                ? "the library has several functions; choose one with "
                  "--function (" +
                      names + ")"
                : "no function '" + options.function + "' in " +
                      options.library + " (it has: " + names + ")";
  return fn;
}

/// --random: the inputs not given, as generated-input specs (a scalar, a
/// cache length, is 0: an empty cache). Dynamic sizes come from --sizes, one
/// per class of sizes the manifest says are equal, numbered in the order
/// they first appear (argument by argument, dimension by dimension).
bool addRandomInputs(const FunctionSpec &fn, Options &options,
                     std::string &error) {
  std::vector<std::vector<int64_t>> classOf(fn.args.size());
  for (size_t i = 0; i < fn.args.size(); ++i)
    classOf[i].assign(fn.args[i].shape.size(), -1);
  int64_t classes = 0;
  for (size_t i = 0; i < fn.args.size(); ++i)
    for (size_t d = 0; d < fn.args[i].shape.size(); ++d) {
      if (fn.args[i].shape[d] >= 0 || classOf[i][d] >= 0)
        continue;
      int64_t c = classes++;
      classOf[i][d] = c;
      for (const auto &group : fn.equalSizes) {
        bool member = false;
        for (const auto &[arg, dim] : group)
          member |= arg == i && dim == d;
        if (member)
          for (const auto &[arg, dim] : group)
            if (arg < classOf.size() && dim < classOf[arg].size())
              classOf[arg][dim] = c;
      }
    }
  if (options.sizesGiven && int64_t(options.sizes.size()) != classes) {
    error = fn.name + " has " + std::to_string(classes) +
            " dynamic sizes (equal sizes counted once, in order of "
            "appearance), got " +
            std::to_string(options.sizes.size()) + " in --sizes";
    return false;
  }
  for (size_t i = options.inputs.size(); i < fn.args.size(); ++i) {
    const TensorSpec &arg = fn.args[i];
    if (arg.kind == ArgumentKind::Scalar) {
      options.inputs.push_back("0");
      continue;
    }
    std::string spec;
    for (size_t d = 0; d < arg.shape.size(); ++d) {
      int64_t size = arg.shape[d];
      if (size < 0) {
        if (!options.sizesGiven) {
          error = "input " + std::to_string(i + 1) + " (" + arg.name +
                  ") has dynamic sizes: give them with --sizes (" +
                  std::to_string(classes) +
                  " of them, equal sizes counted once, in order of "
                  "appearance)";
          return false;
        }
        size = options.sizes[classOf[i][d]];
      }
      spec += std::to_string(size) + "x";
    }
    options.inputs.push_back(spec + arg.elementType + "=random:" +
                             std::to_string(options.randomSeed + i));
  }
  return true;
}

/// The inputs of `fn` (files or generated), after checking that the options
/// fit it: as many inputs as arguments, no more outputs than results,
/// outputs as @FILE.npy, and with --update an updated input from a file.
/// The sizes must relate as the manifest says (equal dynamic sizes, a cache
/// length leaving room for the new tokens): a mismatch would make the
/// function read outside the smaller buffer.
bool loadArguments(const FunctionSpec &fn, const Options &options,
                   std::vector<Buffer> &buffers, std::string &error) {
  if (options.inputs.size() != fn.args.size()) {
    error = fn.name + " takes " + std::to_string(fn.args.size()) +
            " inputs, got " + std::to_string(options.inputs.size());
    return false;
  }
  if (options.outputs.size() > fn.results.size()) {
    error = fn.name + " has " + std::to_string(fn.results.size()) +
            " results, got " + std::to_string(options.outputs.size()) +
            " --output options";
    return false;
  }
  for (const std::string &output : options.outputs)
    if (output.size() < 2 || output[0] != '@') {
      error = "bad --output '" + output + "': expected @FILE.npy";
      return false;
    }

  buffers.assign(fn.args.size(), Buffer());
  for (size_t i = 0; i < fn.args.size(); ++i)
    if (!loadInput(options.inputs[i], i, fn.args[i], buffers[i], error))
      return false;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> scalars;
  for (const Buffer &buffer : buffers) {
    shapes.push_back(buffer.shape);
    scalars.push_back(buffer.scalar);
  }
  if (!checkSizeRelations(fn, shapes, scalars, error))
    return false;
  if (options.update) {
    bool any = false;
    for (size_t i = 0; i < fn.args.size(); ++i)
      any |=
          fn.args[i].kind == ArgumentKind::InOut && options.inputs[i][0] == '@';
    if (!any) {
      error = "--update writes back the inputs " + fn.name +
              " updates in place, given as @FILE.npy; there are none";
      return false;
    }
  }
  return true;
}

/// Words of the struct of descriptors `f`'s results come back in (all
/// fields 8 bytes).
size_t resultWordsOf(const FunctionSpec &f) {
  size_t words = 0;
  for (const TensorSpec &res : f.results)
    words += 3 + 2 * res.shape.size();
  return words;
}

/// `f`'s result descriptors, from their struct.
std::vector<MemRefDescriptor> unpackResults(const FunctionSpec &f,
                                            const std::vector<int64_t> &words) {
  std::vector<MemRefDescriptor> results;
  size_t word = 0;
  for (const TensorSpec &res : f.results) {
    MemRefDescriptor desc = MemRefDescriptor::ofRank(res.shape.size());
    std::copy_n(words.begin() + word, desc.words.size(), desc.words.begin());
    word += desc.words.size();
    results.push_back(desc);
  }
  return results;
}

/// The median of `times` (sorted here).
double median(std::vector<double> &times) {
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

/// Milliseconds since `start`.
double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

/// One function of a loaded library, called on loaded arguments: where
/// they live (for cuda, the library's own runtime, linked into it, moves
/// them to device buffers, and results come back as device buffers), the
/// weights prepared once, the call, and its results.
class Call {
public:
  Call(void *handle, const std::string &library, bool cuda,
       std::vector<Buffer> buffers)
      : handle(handle), library(library), cuda(cuda),
        buffers(std::move(buffers)) {}

  /// The arguments where the function reads them (for cuda, copied to the
  /// GPU), as descriptors; a scalar travels as its value.
  bool placeArguments(const FunctionSpec &fn, std::string &error) {
    if (cuda) {
      if (!gpu.bind(handle, error)) {
        error = library + ": " + error;
        return false;
      }
      if (const char *problem = gpu.init()) {
        error = std::string("cannot use the GPU: ") + problem;
        return false;
      }
      for (size_t i = 0; i < buffers.size(); ++i) {
        Buffer &buffer = buffers[i];
        if (fn.args[i].kind == ArgumentKind::Scalar) {
          deviceInputs.push_back(nullptr);
          continue;
        }
        void *device = gpu.alloc(buffer.bytes.size(), nullptr, false);
        gpu.copy(device, buffer.bytes.data(), buffer.bytes.size(), nullptr);
        deviceInputs.push_back(device);
      }
      gpu.synchronize(nullptr);
      if (const char *problem = gpu.lastError()) {
        error = std::string("copying the inputs to the GPU failed: ") + problem;
        return false;
      }
    }
    for (size_t i = 0; i < buffers.size(); ++i)
      argDescs.push_back(
          fn.args[i].kind == ArgumentKind::Scalar
              ? MemRefDescriptor{{buffers[i].scalar}}
              : MemRefDescriptor::contiguous(cuda ? deviceInputs[i]
                                                  : buffers[i].bytes.data(),
                                             buffers[i].shape));
    // The entry point's own argument checks (libraries older than them
    // have no kha_last_error).
    entryError =
        reinterpret_cast<const char *(*)()>(dlsym(handle, "kha_last_error"));
    return true;
  }

  /// Work on the weights alone that the compiler outlined (`fn`'s prepare
  /// line) is done once, here; the function called is then the prepared
  /// one, on all inputs and the prepared values.
  bool prepareWeights(const Manifest &manifest, const FunctionSpec &fn,
                      bool report, std::string &error) {
    const FunctionSpec *prepare = findFunction(manifest, fn.prepare);
    const FunctionSpec *rest = findFunction(manifest, fn.prepared);
    Entry prepareEntry = entryOf(prepare->name);
    Entry restEntry = entryOf(rest->name);
    if (!prepareEntry || !restEntry) {
      error = library + " has no entry point for " + prepare->name + " or " +
              rest->name;
      return false;
    }
    std::vector<int64_t> words(resultWordsOf(*prepare));
    std::vector<void *> pointers;
    if (!prepare->results.empty())
      pointers.push_back(words.data());
    for (size_t index : fn.weightArgs)
      pointers.push_back(argDescs[index].words.data());
    if (pointers.size() >= kMaxPointers) {
      error = "too many arguments";
      return false;
    }
    auto start = std::chrono::steady_clock::now();
    invoke(prepareEntry, pointers);
    double ms = millisecondsSince(start);
    if (std::string problem = callProblem(prepare->name); !problem.empty()) {
      error = problem;
      return false;
    }
    if (report)
      std::printf("prepare: %s once, %.3f ms\n", prepare->name.c_str(), ms);
    preparedValues = unpackResults(*prepare, words);
    argDescs.insert(argDescs.end(), preparedValues.begin(),
                    preparedValues.end());
    prepared = rest;
    return true;
  }

  /// Calls `fn` (or, after prepareWeights, the prepared function) once;
  /// `results` are then its results, on the host.
  bool callOnce(const FunctionSpec &fn, std::string &error) {
    called = prepared ? prepared : &fn;
    entry = entryOf(called->name);
    if (!entry) {
      error = library + " has no entry point _mlir_ciface_" + called->name;
      return false;
    }
    resultStruct.assign(resultWordsOf(*called), 0);
    pointers.clear();
    if (!called->results.empty())
      pointers.push_back(resultStruct.data());
    // An i64 passed by value goes where a pointer would: both are one
    // integer register or stack slot in the x86-64 and AArch64 calling
    // conventions, so the pointer-typed call table calls it correctly.
    for (size_t i = 0; i < argDescs.size(); ++i)
      pointers.push_back(i < called->args.size() &&
                                 called->args[i].kind == ArgumentKind::Scalar
                             ? reinterpret_cast<void *>(
                                   static_cast<intptr_t>(argDescs[i].words[0]))
                             : static_cast<void *>(argDescs[i].words.data()));
    if (pointers.size() >= kMaxPointers) {
      error = "too many arguments";
      return false;
    }
    invoke(entry, pointers);
    if (std::string problem = callProblem(called->name); !problem.empty()) {
      error = problem;
      return false;
    }
    deviceResults = unpackResults(*called, resultStruct);
    return copyResultsToHost(error);
  }

  /// Writes results to the --output files and updated arguments back to
  /// their files (--update), and prints each result's sum and largest
  /// magnitude.
  bool writeResults(const Options &options, std::string &error) {
    for (size_t i = 0; i < options.outputs.size(); ++i)
      if (!writeResult(options.outputs[i].substr(1), called->results[i],
                       results[i], error))
        return false;
    if (options.update && !writeUpdatedArguments(options, error))
      return false;
    for (size_t i = 0; i < results.size(); ++i)
      printSummary(i, called->results[i], results[i]);
    release(deviceResults);
    return true;
  }

  /// --benchmark=N: N more calls after the first (the warm-up), timed.
  void benchmark(int runs, const std::string &calledName) {
    std::vector<double> times;
    for (int run = 0; run < runs; ++run) {
      auto start = std::chrono::steady_clock::now();
      invoke(entry, pointers);
      times.push_back(millisecondsSince(start));
      release(unpackResults(*called, resultStruct));
    }
    double middle = median(times);
    std::printf("benchmark: %s median %.3f ms over %d runs (min %.3f, max "
                "%.3f) after 1 warm-up%s\n",
                calledName.c_str(), middle, runs, times.front(), times.back(),
                preparedValues.empty()
                    ? ""
                    : (" (as " + called->name + ", the weights prepared once)")
                          .c_str());
  }

  /// Frees the prepared values and the device copies of the inputs.
  bool finish(std::string &error) {
    release(preparedValues, /*fromPrepare=*/true);
    if (!cuda)
      return true;
    for (void *device : deviceInputs)
      gpu.free(device, nullptr);
    if (const char *problem = gpu.lastError()) {
      error = std::string("the GPU failed: ") + problem;
      return false;
    }
    return true;
  }

private:
  Entry entryOf(const std::string &name) const {
    return reinterpret_cast<Entry>(
        dlsym(handle, ("_mlir_ciface_" + name).c_str()));
  }

  void invoke(Entry function, std::vector<void *> &arguments) {
    kCallTable[arguments.size()](function, arguments.data());
    if (cuda)
      gpu.synchronize(nullptr);
  }

  /// What went wrong in the call of `name` just made (the entry point's
  /// refusal, a failing CUDA call), or "".
  std::string callProblem(const std::string &name) {
    if (entryError)
      if (const char *problem = entryError())
        return std::string("the library refused the call: ") + problem;
    if (cuda)
      if (const char *problem = gpu.lastError())
        return name + " failed on the GPU: " + problem;
    return "";
  }

  /// Host copies of the results (for cuda: each result's extent, copied
  /// back, with the same strides).
  bool copyResultsToHost(std::string &error) {
    results = deviceResults;
    if (!cuda)
      return true;
    hostCopies.assign(results.size(), {});
    for (size_t i = 0; i < results.size(); ++i) {
      int64_t bytes = elementSize(called->results[i].elementType);
      std::vector<int64_t> sizes = results[i].sizes(),
                           strides = results[i].strides();
      int64_t extent = 1;
      bool empty = false;
      for (size_t d = 0; d < sizes.size(); ++d) {
        empty |= sizes[d] == 0;
        extent += (sizes[d] - 1) * strides[d];
      }
      if (empty)
        extent = 0;
      hostCopies[i].resize(std::max<int64_t>(extent, 1) * bytes);
      gpu.copy(hostCopies[i].data(), results[i].data(bytes), extent * bytes,
               nullptr);
      results[i].words[0] = results[i].words[1] =
          reinterpret_cast<int64_t>(hostCopies[i].data());
      results[i].words[2] = 0;
    }
    gpu.synchronize(nullptr);
    if (const char *problem = gpu.lastError()) {
      error =
          std::string("copying the results from the GPU failed: ") + problem;
      return false;
    }
    return true;
  }

  /// Arguments updated in place (a cache), back to their files.
  bool writeUpdatedArguments(const Options &options, std::string &error) {
    for (size_t i = 0; i < buffers.size(); ++i) {
      const TensorSpec &spec = called->args[i];
      if (spec.kind != ArgumentKind::InOut || options.inputs[i][0] != '@')
        continue;
      if (cuda) {
        gpu.copy(buffers[i].bytes.data(), deviceInputs[i],
                 buffers[i].bytes.size(), nullptr);
        gpu.synchronize(nullptr);
        if (const char *problem = gpu.lastError()) {
          error = std::string("copying ") + spec.name +
                  " from the GPU failed: " + problem;
          return false;
        }
      }
      if (!writeResult(options.inputs[i].substr(1), spec,
                       MemRefDescriptor::contiguous(buffers[i].bytes.data(),
                                                    buffers[i].shape),
                       error))
        return false;
      std::printf("updated %s: %s\n", spec.name.c_str(),
                  options.inputs[i].substr(1).c_str());
    }
    return true;
  }

  static void printSummary(size_t index, const TensorSpec &spec,
                           const MemRefDescriptor &result) {
    int64_t bytes = elementSize(spec.elementType);
    std::vector<int64_t> shape = result.sizes();
    int64_t count = 1;
    for (int64_t size : shape)
      count *= size;
    std::vector<char> raw(count * bytes);
    copyToContiguous(result, bytes, raw.data());
    double maxAbs = 0, sum = 0;
    bool finite = true;
    for (int64_t n = 0; n < count; ++n) {
      double v = elementAsDouble(spec.elementType, raw.data() + n * bytes);
      finite &= std::isfinite(v);
      maxAbs = std::max(maxAbs, std::fabs(v));
      sum += v;
    }
    std::printf("result %zu: %s %s, sum %.6g, max|y| %.6g%s\n", index,
                spec.elementType.c_str(), formatShape(shape).c_str(), sum,
                maxAbs, finite ? "" : ", NOT FINITE");
  }

  /// Results are buffers the library allocated, unless they alias an
  /// input (or, for the prepared function's, a prepared value).
  void release(const std::vector<MemRefDescriptor> &descs,
               bool fromPrepare = false) {
    for (const MemRefDescriptor &desc : descs) {
      bool isInput = false;
      for (size_t i = 0; i < buffers.size(); ++i)
        isInput |= desc.allocated() ==
                   (cuda ? deviceInputs[i] : buffers[i].bytes.data());
      for (const MemRefDescriptor &value : preparedValues)
        isInput |= !fromPrepare && desc.allocated() == value.allocated();
      if (isInput)
        continue;
      if (cuda)
        gpu.free(desc.allocated(), nullptr);
      else
        std::free(desc.allocated());
    }
  }

  void *handle;
  std::string library;
  bool cuda;
  std::vector<Buffer> buffers;
  CudaApi gpu;
  std::vector<void *> deviceInputs;
  std::vector<MemRefDescriptor> argDescs;
  const char *(*entryError)() = nullptr;
  std::vector<MemRefDescriptor> preparedValues;
  const FunctionSpec *prepared = nullptr;
  const FunctionSpec *called = nullptr;
  Entry entry = nullptr;
  std::vector<int64_t> resultStruct;
  std::vector<void *> pointers;
  std::vector<MemRefDescriptor> deviceResults, results;
  std::vector<std::vector<char>> hostCopies;
};

} // namespace

int main(int argc, char **argv) {
  Options options;
  std::string error;
  if (!parseOptions(argc, argv, options, error))
    return fail(error);
#ifdef __GLIBC__
  // Each call allocates its results and kha-run frees them: with glibc's
  // defaults, large buffers are mapped and unmapped every time and the heap
  // is trimmed, so a benchmark would time the kernel's page faults. Keep
  // freed memory for the next call instead (no mmap, no trimming).
  if (options.benchmark > 0) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
  }
#endif

  // A library that runs on threads uses LLVM's OpenMP runtime, which reads
  // its thread count from the environment when it starts (on the first
  // parallel loop, after loading).
  if (options.threads > 0)
    setenv("OMP_NUM_THREADS", std::to_string(options.threads).c_str(),
           /*overwrite=*/1);

  // A bare file name would make dlopen search the library path.
  std::string path = options.library.find('/') == std::string::npos
                         ? "./" + options.library
                         : options.library;
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return fail("cannot load " + options.library + ": " + dlerror());
  auto *manifestText = static_cast<const char *>(dlsym(handle, "kha_manifest"));
  if (!manifestText)
    return fail(options.library +
                " is not a kha library (it has no kha_manifest)");
  Manifest manifest;
  if (!parseManifest(manifestText, manifest, error))
    return fail(options.library + ": " + error);
  if (options.list) {
    printFunctions(manifest);
    return 0;
  }

  std::string device =
      options.device.empty() ? manifest.device : options.device;
  if (device != manifest.device)
    return fail(options.library + " was compiled for " + manifest.device +
                ", not for --device=" + device);
  bool cuda = device == "cuda";
  if (device != "cpu" && !cuda)
    return fail(options.library + " is for an unknown device '" + device + "'");

  const FunctionSpec *fn = chooseFunction(manifest, options, error);
  if (!fn)
    return fail(error);
  if (!dlsym(handle, ("_mlir_ciface_" + fn->name).c_str()))
    return fail(options.library + " has no entry point _mlir_ciface_" +
                fn->name);
  if (options.random && options.inputs.size() < fn->args.size() &&
      !addRandomInputs(*fn, options, error))
    return fail(error);
  std::vector<Buffer> buffers;
  if (!loadArguments(*fn, options, buffers, error))
    return fail(error);

  Call call(handle, options.library, cuda, std::move(buffers));
  if (!call.placeArguments(*fn, error))
    return fail(error);
  if (!fn->prepare.empty() && !options.noPrepare &&
      !call.prepareWeights(manifest, *fn, options.benchmark > 0, error))
    return fail(error);
  if (!call.callOnce(*fn, error) || !call.writeResults(options, error))
    return fail(error);
  if (options.benchmark > 0)
    call.benchmark(options.benchmark, fn->name);
  if (!call.finish(error))
    return fail(error);
  return 0;
}
