//===- EntryChecks.cpp - compiled entry points check their arguments ------===//
//
// A compiled function trusts the memref descriptors it is given: the code
// reads its arguments as contiguous row-major arrays with the sizes of their
// types, and sizes its loops by the dynamic sizes of whichever argument it
// reads them from. A caller passing other static sizes, a strided or offset
// view, or dynamic sizes that disagree where the function's ops need them
// equal would make it read outside its buffers.
//
// So each exported `_mlir_ciface_<f>` first checks its arguments' descriptors
// against the manifest's description of f: static sizes as compiled,
// dynamic sizes not negative, and unless the array is empty, offset 0,
// strides those of a contiguous array (for dimensions of more than one
// element) and a data pointer; and the manifest's `same` groups equal. On the
// first failure it zeroes the result descriptors (null pointers, sizes 0), sets
// the message that `kha_last_error()` returns and returns without running
// the function; a call that passes the checks clears the message.
//
//===----------------------------------------------------------------------===//

#include "kha/Compiler/Compiler.h"
#include "kha/Runtime/Runtime.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

#include <string>

using namespace mlir;
namespace rt = ::kha::runtime;

namespace {
/// Builds the checks of one wrapper.
struct CheckBuilder {
  llvm::Module &module;
  llvm::Function *wrapper;
  llvm::GlobalVariable *lastError;
  llvm::BasicBlock *fail = nullptr; ///< zeroes the results and returns
  llvm::PHINode *message = nullptr;
  llvm::IRBuilder<> b;

  CheckBuilder(llvm::Module &module, llvm::Function *wrapper,
               llvm::GlobalVariable *lastError)
      : module(module), wrapper(wrapper), lastError(lastError),
        b(module.getContext()) {}

  llvm::Type *i64() { return b.getInt64Ty(); }

  /// Field `index` (0 allocated, 1 aligned, 2 offset, then sizes and
  /// strides) of the rank-`rank` descriptor at `pointer`.
  llvm::Value *field(llvm::Value *pointer, int64_t index) {
    llvm::Value *at = b.CreateConstInBoundsGEP1_64(i64(), pointer, index);
    return b.CreateLoad(
        index < 2 ? static_cast<llvm::Type *>(b.getPtrTy()) : i64(), at);
  }

  /// Continues in a new block when `ok`, else fails with `text`.
  void require(llvm::Value *ok, const std::string &text) {
    llvm::Constant *string = b.CreateGlobalString(text, "kha.entry.error");
    llvm::BasicBlock *next =
        llvm::BasicBlock::Create(module.getContext(), "check", wrapper, fail);
    message->addIncoming(string, b.GetInsertBlock());
    b.CreateCondBr(ok, next, fail);
    b.SetInsertPoint(next);
  }
};
} // namespace

/// Bytes of the descriptors of `results` (each {ptr, ptr, i64, [r x i64],
/// [r x i64]}: 8-byte fields, no padding).
static int64_t resultBytes(const std::vector<rt::TensorSpec> &results) {
  int64_t bytes = 0;
  for (const auto &result : results)
    bytes += 8 * (3 + 2 * int64_t(result.shape.size()));
  return bytes;
}

LogicalResult mlir::kha::addEntryChecks(llvm::Module &module,
                                        const std::string &manifestText,
                                        std::string &error) {
  rt::Manifest manifest;
  if (!rt::parseManifest(manifestText, manifest, error))
    return failure();
  llvm::LLVMContext &context = module.getContext();
  auto *pointerType = llvm::PointerType::getUnqual(context);

  // const char *kha_last_error(void): the message of the last failed check
  // of this thread's last call, or null.
  auto *lastError = new llvm::GlobalVariable(
      module, pointerType, /*isConstant=*/false,
      llvm::GlobalValue::InternalLinkage,
      llvm::ConstantPointerNull::get(pointerType), "kha.last_error", nullptr,
      llvm::GlobalValue::GeneralDynamicTLSModel);
  {
    auto *getter = llvm::Function::Create(
        llvm::FunctionType::get(pointerType, false),
        llvm::GlobalValue::ExternalLinkage, "kha_last_error", module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", getter));
    b.CreateRet(b.CreateLoad(pointerType, lastError));
  }

  for (const rt::FunctionSpec &fn : manifest.functions) {
    llvm::Function *wrapper = module.getFunction("_mlir_ciface_" + fn.name);
    if (!wrapper || wrapper->isDeclaration()) {
      error = "no C interface for '" + fn.name + "'";
      return failure();
    }
    bool hasResults = !fn.results.empty();
    if (wrapper->arg_size() != fn.args.size() + (hasResults ? 1 : 0)) {
      error = "the C interface of '" + fn.name +
              "' does not take one descriptor per argument";
      return failure();
    }
    CheckBuilder c(module, wrapper, lastError);
    llvm::BasicBlock *body = &wrapper->getEntryBlock();
    llvm::BasicBlock *entry =
        llvm::BasicBlock::Create(context, "checks", wrapper, body);
    c.fail = llvm::BasicBlock::Create(context, "checks.fail", wrapper, body);

    // Failure: zero the results, record the message, return.
    c.b.SetInsertPoint(c.fail);
    c.message = c.b.CreatePHI(pointerType, 0, "message");
    if (hasResults)
      c.b.CreateMemSet(wrapper->getArg(0), c.b.getInt8(0),
                       resultBytes(fn.results), llvm::MaybeAlign(8));
    c.b.CreateStore(c.message, lastError);
    c.b.CreateRetVoid();

    c.b.SetInsertPoint(entry);
    unsigned first = hasResults ? 1 : 0;
    std::vector<std::vector<llvm::Value *>> sizes(fn.args.size());
    for (size_t i = 0; i < fn.args.size(); ++i) {
      const rt::TensorSpec &arg = fn.args[i];
      std::string what =
          fn.name + ": argument " + std::to_string(i) + " (" + arg.name + ")";
      llvm::Value *descriptor = wrapper->getArg(first + i);
      if (arg.kind == rt::ArgumentKind::Scalar) {
        if (!descriptor->getType()->isIntegerTy(64)) {
          error = "the C interface of '" + fn.name + "' does not take " +
                  arg.name + " as an i64";
          return failure();
        }
        continue;
      }
      c.require(c.b.CreateIsNotNull(descriptor),
                what + " is a null descriptor");
      int64_t rank = arg.shape.size();
      llvm::Value *elements = c.b.getInt64(1);
      for (int64_t d = 0; d < rank; ++d) {
        llvm::Value *size = c.field(descriptor, 3 + d);
        sizes[i].push_back(size);
        std::string dim = what + " dimension " + std::to_string(d);
        if (arg.shape[d] >= 0)
          c.require(c.b.CreateICmpEQ(size, c.b.getInt64(arg.shape[d])),
                    dim + " is not " + std::to_string(arg.shape[d]) +
                        ", the size it was compiled for");
        else
          c.require(c.b.CreateICmpSGE(size, c.b.getInt64(0)),
                    dim + " is negative");
        elements = c.b.CreateMul(elements, size);
      }
      // An empty array is never read: its offset and strides do not
      // matter (numpy gives empty arrays zero strides).
      llvm::Value *empty = c.b.CreateICmpEQ(elements, c.b.getInt64(0));
      c.require(c.b.CreateOr(empty, c.b.CreateICmpEQ(c.field(descriptor, 2),
                                                     c.b.getInt64(0))),
                what + " has a nonzero offset; pass a contiguous array");
      // Contiguous row-major strides where a dimension has more than one
      // element.
      llvm::Value *expected = c.b.getInt64(1);
      for (int64_t d = rank - 1; d >= 0; --d) {
        llvm::Value *stride = c.field(descriptor, 3 + rank + d);
        llvm::Value *ok = c.b.CreateOr(
            c.b.CreateOr(empty,
                         c.b.CreateICmpSLE(sizes[i][d], c.b.getInt64(1))),
            c.b.CreateICmpEQ(stride, expected));
        c.require(ok, what + " is not contiguous (stride of dimension " +
                          std::to_string(d) + "); pass a C-ordered array");
        expected = c.b.CreateMul(expected, sizes[i][d]);
      }
      c.require(
          c.b.CreateOr(empty, c.b.CreateIsNotNull(c.field(descriptor, 1))),
          what + " has no data");
    }
    for (const auto &group : fn.equalSizes) {
      auto [a0, d0] = group.front();
      for (auto [a, d] : group)
        c.require(c.b.CreateICmpEQ(sizes[a][d], sizes[a0][d0]),
                  fn.name + ": inputs disagree: dimension " +
                      std::to_string(d) + " of argument " + std::to_string(a) +
                      " (" + fn.args[a].name + ") and dimension " +
                      std::to_string(d0) + " of argument " +
                      std::to_string(a0) + " (" + fn.args[a0].name +
                      ") must be equal");
    }
    // A cache length: the new tokens fit in the cache.
    for (const rt::CacheBound &bound : fn.cacheBounds) {
      llvm::Value *length = wrapper->getArg(first + bound.length);
      llvm::Value *room =
          c.b.CreateSub(sizes[bound.capacity.first][bound.capacity.second],
                        sizes[bound.tokens.first][bound.tokens.second]);
      const std::string &name = fn.args[bound.length].name;
      c.require(c.b.CreateICmpSGE(length, c.b.getInt64(0)),
                fn.name + ": " + name + " is negative");
      c.require(c.b.CreateICmpSLE(length, room),
                fn.name + ": " + name + " + the new tokens (" +
                    fn.args[bound.tokens.first].name + " dimension " +
                    std::to_string(bound.tokens.second) +
                    ") exceed the cache's capacity (" +
                    fn.args[bound.capacity.first].name + " dimension " +
                    std::to_string(bound.capacity.second) + ")");
    }
    // Every check passed: clear the message and run the function.
    c.b.CreateStore(llvm::ConstantPointerNull::get(pointerType), lastError);
    c.b.CreateBr(body);
  }
  return success();
}
