//===- PipelineFuzzer.cpp - libFuzzer target: kha IR through the pipelines ===//
//
// A structure-aware generator driven by libFuzzer's bytes: they choose a
// module of one kha op (an attention block with any knock, norm, RoPE and
// mask combination, positions and padding masks, weights marked for the
// weight preparation or not, a key/value cache (memref arguments updated in
// place, an i64 length); an SDPA with or without a mask, shared along
// size-1 dimensions or not; a per-head op), its
// sizes (0, 1, primes, dynamic, 2^33, 2^62), element types, attributes and,
// sometimes, one thing made wrong on purpose (a size or an element type).
// The module is printed and parsed as kha-opt would read it; a module that
// verifies then runs, in-process and with the verifier after every pass,
// through one of the pipelines the bytes choose: --kha-cpu-pipeline,
// --kha-gpu-pipeline (sm_80 or sm_90a, PTX) or the GPU pipeline with host
// emulation.
//
// The property: a pipeline either succeeds or fails with an error
// diagnostic; no crash, sanitizer report or run past libFuzzer's timeout.
// The target is built only where the whole project is compiled with
// coverage instrumentation (-fsanitize=fuzzer-no-link, scripts/sanitize.sh
// with KHA_FUZZ_PIPELINES=ON), so that libFuzzer's feedback covers kha's
// passes and not only this file.
//
//===----------------------------------------------------------------------===//

#include "kha/InitAll.h"
#include "kha/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace mlir;

namespace {

/// One argument of the generated function: a name, a shape (-1 dynamic)
/// and an element type ("" for the module's).
struct Argument {
  std::string name;
  std::vector<int64_t> shape;
  std::string elementType;
  bool weight = false; // marked kha.weight (kha-outline-weight-preparation)
  /// A buffer the function updates in place (a cache: a memref argument,
  /// read through bufferization.to_tensor), or an i64 scalar (its length).
  bool buffer = false, scalar = false;
};

/// The generated op: its arguments, result shape and the text between the
/// operands and the type signature.
struct GeneratedOp {
  std::string name;
  std::string elementType;
  std::vector<Argument> arguments;
  std::vector<int64_t> result;
  unsigned operandCount = 0; // leading arguments that are plain operands
  std::string clauses;       // knock_q(...) mask(...) ...
  std::vector<std::string> attributes;
  bool perHead = false; // `op operands attrs : types` form
  bool cache = false;   // the block returns the updated caches too
};

/// Chooses sizes and features from the fuzzer's bytes.
class Generator {
public:
  explicit Generator(FuzzedDataProvider &bytes) : bytes(bytes) {}

  GeneratedOp generate() {
    GeneratedOp op;
    switch (bytes.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      op = attentionBlock();
      break;
    case 1:
    case 2:
      op = sdpa();
      break;
    default:
      op = perHeadOp();
      break;
    }
    if (bytes.ConsumeIntegralInRange<int>(0, 2) == 0)
      breakOneThing(op);
    return op;
  }

private:
  template <typename T> T pick(std::initializer_list<T> choices) {
    return choices
        .begin()[bytes.ConsumeIntegralInRange<size_t>(0, choices.size() - 1)];
  }

  /// An awkward size: 0, 1, small primes, tile-sized, huge or dynamic.
  int64_t size(bool small = false) {
    if (small)
      return pick<int64_t>({0, 1, 2, 3, 5, 7, 13, 16, 31, 64, 97});
    return pick<int64_t>({0, 1, 2, 3, 5, 7, 13, 16, 31, 64, 97, 128, 1LL << 33,
                          1LL << 62, -1, -1, -1});
  }

  std::string elementType() {
    return pick<const char *>({"f32", "f16", "bf16"});
  }

  GeneratedOp attentionBlock() {
    GeneratedOp op;
    op.name = "kha.attention_block";
    op.elementType = elementType();
    int64_t G = pick<int64_t>({1, 1, 2, 3, 4});
    int64_t H = G * pick<int64_t>({1, 2, 3, 4});
    int64_t d = pick<int64_t>({1, 2, 8, 12, 16, 64, 0});
    int64_t D = pick<int64_t>({H * d, 48, 64, 7, 0});
    if (D == 0)
      D = 1;
    int64_t B = size(), L = size();
    op.arguments = {{"x", {B, L, D}, ""},
                    {"wq", {D, H * d}, ""},
                    {"wk", {D, G * d}, ""},
                    {"wv", {D, G * d}, ""},
                    {"wo", {H * d, D}, ""}};
    op.operandCount = 5;
    op.result = {B, L, D};
    op.attributes = {llvm::formatv("num_heads = {0} : i64", H).str(),
                     llvm::formatv("num_kv_heads = {0} : i64", G).str()};
    int knock = bytes.ConsumeIntegralInRange<int>(0, 3); // none linear mlp both
    if (knock == 1 || knock == 3) {
      op.arguments.push_back({"tq", {d, d}, ""});
      op.arguments.push_back({"tk", {d, d}, ""});
      op.clauses += " knock_q(%tq) knock_k(%tk)";
    }
    if (knock == 1) {
      op.arguments.push_back({"tv", {d, d}, ""});
      op.clauses += " knock_v(%tv)";
    }
    if (knock >= 2) {
      int64_t hidden = pick<int64_t>({d, 2 * d, 3});
      op.arguments.push_back({"up", {d, hidden}, ""});
      op.arguments.push_back({"gate", {d, hidden}, ""});
      op.arguments.push_back({"down", {hidden, d}, ""});
      op.clauses += " knock_v_mlp(%up, %gate, %down)";
    }
    if (bytes.ConsumeBool()) {
      op.arguments.push_back({"qn", {d}, ""});
      op.arguments.push_back({"kn", {d}, ""});
      op.clauses += " qk_norm(%qn, %kn)";
    }
    if (bytes.ConsumeBool())
      op.attributes.push_back("causal");
    bool rope = bytes.ConsumeBool();
    if (rope)
      op.attributes.push_back(
          llvm::formatv(
              "rope_theta = {0} : f64",
              pick<const char *>({"1.0e+04", "0.0", "-1.0", "1.0e+300"}))
              .str());
    // Positions (needing RoPE) and a padding mask, [B, L] int64.
    if (rope && bytes.ConsumeBool()) {
      op.arguments.push_back({"pos", {B, L}, "i64"});
      op.clauses += " positions(%pos)";
    }
    // A key/value cache [B, S, G, d] (the mask then [B, S]) and its length.
    bool cache = bytes.ConsumeIntegralInRange<int>(0, 3) == 0;
    int64_t S = cache ? size() : L;
    if (bytes.ConsumeBool()) {
      op.arguments.push_back({"keep", {B, S}, "i64"});
      op.clauses += " attention_mask(%keep)";
    }
    if (cache) {
      op.cache = true;
      Argument k{"kc", {B, S, G, d}, ""}, v{"vc", {B, S, G, d}, ""},
          n{"n", {}, "i64"};
      k.buffer = v.buffer = n.scalar = true;
      op.arguments.insert(op.arguments.end(), {k, v, n});
      op.clauses += " kv_cache(%kc_t, %vc_t, %n)";
    }
    // Weights passed at run time: the work on them alone is outlined.
    if (bytes.ConsumeBool())
      for (Argument &arg : op.arguments)
        arg.weight = arg.name != "x" && arg.elementType != "i64" && !arg.buffer;
    return op;
  }

  GeneratedOp sdpa() {
    GeneratedOp op;
    op.name = "kha.sdpa";
    op.elementType = elementType();
    int64_t G = pick<int64_t>({1, 2, 3, 0});
    int64_t H = G ? G * pick<int64_t>({1, 2, 4}) : pick<int64_t>({1, 2});
    int64_t d = pick<int64_t>({1, 8, 16, 64, 0}),
            dv = pick<int64_t>({1, 8, 16, 64});
    int64_t B = size(), L = size(), S = size();
    op.arguments = {{"q", {B, L, H, d}, ""},
                    {"k", {B, S, G, d}, ""},
                    {"v", {B, S, G, dv}, ""}};
    op.operandCount = 3;
    op.result = {B, L, H, dv};
    if (bytes.ConsumeIntegralInRange<int>(0, 2) == 0) {
      switch (bytes.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        op.arguments.push_back({"m", {L, S}, ""});
        break;
      case 1:
        op.arguments.push_back({"m", {B, H, L, S}, ""});
        break;
      case 2: // padded keys, shared by heads and queries
        op.arguments.push_back({"m", {B, 1, 1, S}, ""});
        break;
      default:
        op.arguments.push_back({"m", {1, H, 1, S}, ""});
        break;
      }
      op.clauses = " mask(%m)";
    }
    // The destination (destination-passing style): only its shape is read.
    op.arguments.push_back({"o", op.result, ""});
    op.clauses += " outs(%o)";
    op.attributes = {llvm::formatv("scale = {0} : f64",
                                   pick<const char *>({"0.125", "1.0", "0.0",
                                                       "-2.0", "1.0e+30"}))
                         .str()};
    if (bytes.ConsumeBool())
      op.attributes.push_back("causal");
    return op;
  }

  GeneratedOp perHeadOp() {
    GeneratedOp op;
    op.perHead = true;
    op.elementType = elementType();
    int64_t B = size(), L = size(), H = size(/*small=*/true), d;
    if (H == 0)
      H = 1;
    d = pick<int64_t>({1, 2, 8, 16, 3});
    std::vector<int64_t> x = {B, L, H, d};
    op.arguments = {{"x", x, ""}};
    op.result = x;
    switch (bytes.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      op.name = "kha.rope";
      op.attributes = {"theta = 1.0e+04 : f64"};
      break;
    case 1:
      op.name = "kha.rms_norm";
      op.arguments.push_back({"w", {d}, ""});
      op.attributes = {"epsilon = 1.0e-06 : f64"};
      break;
    case 2:
      op.name = "kha.linear_knock";
      op.arguments.push_back({"t", {d, d}, ""});
      break;
    default:
      op.name = "kha.mlp_knock";
      for (const char *name : {"up", "gate", "down"})
        op.arguments.push_back({name, {d, d}, ""});
      break;
    }
    op.operandCount = op.arguments.size();
    return op;
  }

  /// One size or one element type made wrong.
  void breakOneThing(GeneratedOp &op) {
    Argument &arg = op.arguments[bytes.ConsumeIntegralInRange<size_t>(
        0, op.arguments.size() - 1)];
    if (!arg.shape.empty() && bytes.ConsumeIntegralInRange<int>(0, 9) < 7) {
      arg.shape[bytes.ConsumeIntegralInRange<size_t>(0, arg.shape.size() - 1)] =
          pick<int64_t>({0, 1, 5, 1LL << 40, -1});
      return;
    }
    std::string other = pick<const char *>({"f32", "f16", "bf16", "i32"});
    if (other == op.elementType)
      other = "i32";
    arg.elementType = other;
  }

  FuzzedDataProvider &bytes;
};

std::string tensorType(ArrayRef<int64_t> shape, StringRef elementType) {
  std::string text = "tensor<";
  for (int64_t size : shape)
    text += (size < 0 ? std::string("?") : std::to_string(size)) + "x";
  return text + elementType.str() + ">";
}

/// The generated op as a function, in kha-opt's textual form.
std::string printModule(const GeneratedOp &op) {
  std::vector<std::string> params, types, names, cacheTypes;
  std::string prologue, epilogue;
  for (const Argument &arg : op.arguments) {
    std::string element =
        arg.elementType.empty() ? op.elementType : arg.elementType;
    std::string type = arg.scalar ? element : tensorType(arg.shape, element);
    std::string param = type;
    if (arg.buffer) {
      // memref<...> for tensor<...>: the caller's buffer, written in place.
      param = "memref" + type.substr(strlen("tensor"));
      prologue += "  %" + arg.name + "_t = bufferization.to_tensor %" +
                  arg.name + " restrict writable : " + param + " to " + type +
                  "\n";
      epilogue += "  bufferization.materialize_in_destination %" + arg.name +
                  "_new in restrict writable %" + arg.name + " : (" + type +
                  ", " + param + ") -> ()\n";
      cacheTypes.push_back(type);
    }
    params.push_back("%" + arg.name + ": " + param +
                     (arg.weight ? " {kha.weight}" : ""));
    types.push_back(type);
    names.push_back("%" + arg.name);
  }
  std::string result = tensorType(op.result, op.elementType);
  std::string attrs;
  if (!op.attributes.empty())
    attrs = " {" + llvm::join(op.attributes, ", ") + "}";
  std::string body;
  if (op.perHead) {
    body = "%y = " + op.name + " " + llvm::join(names, ", ") + attrs + " : " +
           llvm::join(types, ", ");
  } else {
    std::vector<std::string> operands(names.begin(),
                                      names.begin() + op.operandCount);
    std::string results = "%y", resultTypes = result;
    if (op.cache) {
      results += ", %kc_new, %vc_new";
      resultTypes = "(" + result + ", " + llvm::join(cacheTypes, ", ") + ")";
    }
    body = results + " = " + op.name + " " + llvm::join(operands, ", ") +
           op.clauses + attrs + " : (" + llvm::join(types, ", ") + ") -> " +
           resultTypes;
  }
  return "func.func @f(" + llvm::join(params, ", ") + ") -> " + result +
         " {\n" + prologue + "  " + body + "\n" + epilogue +
         "  return %y : " + result + "\n}\n";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    DialectRegistry registry;
    kha::registerKHAPipelineDependencies(registry);
    auto *ctx = new MLIRContext(registry, MLIRContext::Threading::DISABLED);
    ctx->loadAllAvailableDialects();
    return ctx;
  }();
  FuzzedDataProvider bytes(data, size);
  Generator generator(bytes);
  std::string text = printModule(generator.generate());
  if (getenv("KHA_FUZZ_PRINT"))
    llvm::errs() << text;

  bool reported = false;
  ScopedDiagnosticHandler quiet(context, [&](Diagnostic &diag) {
    reported |= diag.getSeverity() == DiagnosticSeverity::Error;
    return success();
  });
  ParserConfig config(context, /*verifyAfterParse=*/true);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, config);
  if (!module) {
    if (!reported)
      std::abort(); // refused without an error
    return 0;
  }

  PassManager pm(context);
  pm.enableVerifier(true); // after every pass, as -verify-each
  switch (bytes.ConsumeIntegralInRange<int>(0, 3)) {
  case 0: {
    kha::buildCPUPipeline(pm, kha::CPUPipelineSettings());
    break;
  }
  default: {
    kha::GPUPipelineSettings options;
    options.chip = bytes.ConsumeBool() ? "sm_90a" : "sm_80";
    options.format = "isa";
    options.hostEmulation = bytes.ConsumeBool();
    kha::buildGPUPipeline(pm, options);
    break;
  }
  }
  reported = false;
  if (failed(pm.run(*module)) && !reported)
    std::abort(); // a pipeline failed without saying why
  return 0;
}
