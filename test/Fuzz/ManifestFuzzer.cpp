//===- ManifestFuzzer.cpp - libFuzzer target: library manifests -----------===//
//
// Any text: parseManifest either refuses it with a message or returns
// functions whose `same` groups name existing dynamic dimensions, so that
// checkSizeRelations accepts equal sizes and refuses a disagreeing one (and a
// cache length that does not fit), and
// whose `prepare` lines name functions that fit: weights in range, the
// prepare function taking them, the prepared one taking all arguments and
// the prepared values (of static shapes) and returning the results.
//
//===----------------------------------------------------------------------===//

#include "kha/Runtime/Runtime.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace kha::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  Manifest manifest;
  std::string error;
  if (!parseManifest(text, manifest, error)) {
    if (error.empty())
      std::abort();
    return 0;
  }
  for (const FunctionSpec &fn : manifest.functions) {
    std::vector<std::vector<int64_t>> shapes;
    for (const TensorSpec &arg : fn.args) {
      if (elementSize(arg.elementType) == 0)
        std::abort();
      std::vector<int64_t> shape = arg.shape;
      for (int64_t &dim : shape) {
        if (dim < -1)
          std::abort();
        if (dim < 0)
          dim = 3;
      }
      shapes.push_back(shape);
      (void)formatShape(arg.shape);
    }
    for (const auto &group : fn.equalSizes)
      for (auto [arg, dim] : group)
        if (arg >= fn.args.size() || dim >= fn.args[arg].shape.size() ||
            fn.args[arg].shape[dim] >= 0)
          std::abort();
    // Cache lengths of 0 fit wherever a capacity is at least the new tokens.
    std::vector<int64_t> scalars(fn.args.size(), 0);
    bool fits = true;
    for (const CacheBound &bound : fn.cacheBounds) {
      if (bound.length >= fn.args.size() ||
          fn.args[bound.length].kind != ArgumentKind::Scalar ||
          bound.tokens.first >= fn.args.size() ||
          bound.tokens.second >= shapes[bound.tokens.first].size() ||
          bound.capacity.first >= fn.args.size() ||
          bound.capacity.second >= shapes[bound.capacity.first].size())
        std::abort();
      fits &= shapes[bound.capacity.first][bound.capacity.second] >=
              shapes[bound.tokens.first][bound.tokens.second];
    }
    if (checkSizeRelations(fn, shapes, scalars, error) != fits)
      std::abort(); // all dynamic sizes are 3: they agree
    if (fits && !fn.cacheBounds.empty()) {
      scalars[fn.cacheBounds.front().length] = -1;
      if (checkSizeRelations(fn, shapes, scalars, error) || error.empty())
        std::abort(); // a negative length
      scalars[fn.cacheBounds.front().length] = 0;
    }
    if (fits && !fn.equalSizes.empty()) {
      auto [arg, dim] = fn.equalSizes.front().back();
      shapes[arg][dim] = 4;
      if (checkSizeRelations(fn, shapes, scalars, error) || error.empty())
        std::abort(); // one disagrees
    }
    if (fn.prepare.empty())
      continue;
    const FunctionSpec *prepare = findFunction(manifest, fn.prepare);
    const FunctionSpec *prepared = findFunction(manifest, fn.prepared);
    if (!prepare || !prepared || fn.weightArgs.empty() ||
        prepare->args.size() != fn.weightArgs.size() ||
        prepared->args.size() != fn.args.size() + prepare->results.size() ||
        prepared->results.size() != fn.results.size())
      std::abort();
    for (size_t i = 0; i < fn.weightArgs.size(); ++i)
      if (fn.weightArgs[i] >= fn.args.size() ||
          (i && fn.weightArgs[i] <= fn.weightArgs[i - 1]) ||
          prepare->args[i].shape != fn.args[fn.weightArgs[i]].shape)
        std::abort();
    for (const TensorSpec &value : prepare->results)
      for (int64_t dim : value.shape)
        if (dim < 0)
          std::abort();
  }
  return 0;
}
