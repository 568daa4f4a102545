//===- Manifest.cpp - describe public functions for the runner ------------===//
//
// The manifest is line-based text so that kha-run, which links no MLIR or
// LLVM library, reads it with a few lines of C++:
//
//   kha-manifest 1
//   device cpu
//   function kha_layer
//   arg x f32 3 -1 -1 512        name, element type, rank, sizes (-1: dynamic)
//   result y f32 3 -1 -1 512
//   end
//
//===----------------------------------------------------------------------===//

#include "kha/Compiler/Compiler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"
#include <cctype>

using namespace mlir;

/// The runner's name for a supported element type, or "".
static StringRef elementTypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  return "";
}

/// Appends `arg|result name type rank sizes...` for one argument or result.
static LogicalResult describe(func::FuncOp func, bool isResult, unsigned index,
                              StringRef name, Type type,
                              llvm::raw_ostream &os) {
  auto shaped = dyn_cast<ShapedType>(type);
  StringRef element =
      shaped && shaped.hasRank() && isa<TensorType, MemRefType>(shaped)
          ? elementTypeName(shaped.getElementType())
          : "";
  if (element.empty())
    return func.emitError() << "public function '" << func.getName() << "' "
                            << (isResult ? "result" : "argument") << " #"
                            << index << " has type " << type
                            << "; compiled functions take and return ranked "
                               "tensors or memrefs of f32, f16 or bf16";
  os << (isResult ? "result " : "arg ") << name << " " << element << " " << shaped.getRank();
  for (int64_t size : shaped.getShape())
    os << " " << (ShapedType::isDynamic(size) ? -1 : size);
  os << "\n";
  return success();
}

/// True for a C identifier: the function is called through the C symbol
/// `_mlir_ciface_<name>` (by kha-run, dlsym, ctypes) and named on one
/// manifest line.
static bool isCIdentifier(StringRef name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())))
    return false;
  return llvm::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// An argument's name as one manifest word: anything but letters, digits,
/// `_`, `.` and `-` (spaces, newlines, ...) becomes `_`.
static std::string manifestWord(StringRef name) {
  std::string word;
  for (char c : name)
    word += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    c == '.' || c == '-'
                ? c
                : '_';
  return word.empty() ? "_" : word;
}

FailureOr<std::string> kha::buildManifest(ModuleOp module, StringRef device) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "kha-manifest 1\ndevice " << device << "\n";
  unsigned count = 0;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    ++count;
    if (!isCIdentifier(func.getName()))
      return func.emitError()
             << "public function '" << func.getName()
             << "' cannot be exported: its name must be a C identifier "
                "(letters, digits and '_', not starting with a digit)";
    os << "function " << func.getName() << "\n";
    for (auto [index, arg] : llvm::enumerate(func.getArguments())) {
      std::string name = "arg" + std::to_string(index);
      if (auto loc = dyn_cast<NameLoc>(arg.getLoc()))
        name = manifestWord(loc.getName().strref());
      if (failed(describe(func, false, index, name, arg.getType(), os)))
        return failure();
    }
    for (auto [index, type] : llvm::enumerate(func.getResultTypes())) {
      std::string name = "result" + std::to_string(index);
      if (failed(describe(func, true, index, name, type, os)))
        return failure();
    }
    os << "end\n";
  }
  if (count == 0)
    return module.emitError("the module has no public function to compile");
  return text;
}
