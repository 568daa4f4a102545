//===- KHADialect.cpp - the kha dialect -----------------------------------===//

#include "kha/Dialect/KHA/IR/KHADialect.h"
#include "kha/Dialect/KHA/IR/KHAOps.h"

using namespace mlir;
using namespace mlir::kha;

#include "mlir/IR/DialectImplementation.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include "kha/Dialect/KHA/IR/KHAEnums.cpp.inc"
#include "kha/Dialect/KHA/IR/KHAOpsDialect.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "kha/Dialect/KHA/IR/KHAAttrs.cpp.inc"

void KHADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kha/Dialect/KHA/IR/KHAOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "kha/Dialect/KHA/IR/KHAAttrs.cpp.inc"
      >();
}

LogicalResult KHADialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attribute) {
  // R28
  if (attribute.getName() != kWeightAttrName)
    return op->emitError() << "unknown kha argument attribute '"
                           << attribute.getName().getValue() << "'";
  if (!isa<UnitAttr>(attribute.getValue()))
    return op->emitError() << "'kha.weight' is a unit attribute";
  return success();
}

LogicalResult KHADialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  // R34
  if (attribute.getName() == GPUKernelAttr::name) {
    if (!isa<GPUKernelAttr>(attribute.getValue()) ||
        (!isa<SDPAOp>(op) && op->getName().getStringRef() != "linalg.matmul"))
      return op->emitError() << "'kha.gpu_kernel' is a #kha.gpu_kernel on a "
                                "kha.sdpa or a linalg.matmul";
    return success();
  }
  // Other kha attributes are a pass's markers within the pass.
  if (attribute.getName() != kPrepareAttrName)
    return success();
  // R29
  auto pair = dyn_cast<ArrayAttr>(attribute.getValue());
  if (!isa<FunctionOpInterface>(op) || !pair || pair.size() != 2 ||
      !llvm::all_of(pair,
                    [](Attribute a) { return isa<FlatSymbolRefAttr>(a); }))
    return op->emitError() << "'kha.prepare' is an array of two function "
                              "names on a function: [@prepare, @prepared]";
  return success();
}

LogicalResult
GPUKernelAttr::verify(function_ref<InFlightDiagnostic()> emitError, MmaKind mma,
                      int64_t tileM, int64_t tileN, int64_t tileK,
                      int64_t warps, int64_t stages, int64_t padding) {
  if (mma == MmaKind::simt) {
    if (tileM || tileN || tileK || warps || stages || padding)
      return emitError() << "a simt kernel configuration has no tiles, warps, "
                            "stages or padding (all 0)";
    return success();
  }
  // wgmma m64nNk16: a warpgroup (four warps) per 64 rows, operands in
  // boxes of 128-byte swizzle rows (64 f16/bf16 elements), no padding;
  // tile_k is a matmul's step along K or an attention's head dim. One more
  // warpgroup is a producer (warp specialisation): it issues the TMA loads
  // while the others compute.
  if (mma == MmaKind::wgmma) {
    if (tileM <= 0 || tileM % 64 || tileN <= 0 || tileN % 64 || tileK <= 0 ||
        tileK % 64)
      return emitError() << "wgmma tiles must be positive multiples of 64, "
                            "got "
                         << tileM << "x" << tileN << "x" << tileK;
    if (warps != 4 * (tileM / 64) && warps != 4 * (tileM / 64) + 4)
      return emitError() << "a wgmma kernel has a warpgroup (4 warps) per 64 "
                            "rows of its tile, and at most one producer "
                            "warpgroup, got "
                         << warps << " warps";
    if (stages < 1 || stages > 8)
      return emitError() << "stages must be in 1..8, got " << stages;
    if (padding)
      return emitError() << "a wgmma kernel's shared tiles are swizzled, not "
                            "padded (padding 0), got "
                         << padding;
    return success();
  }
  // mma.sync m16n8k16: tiles in whole fragments, a warp per 16 rows or more.
  if (tileM <= 0 || tileN <= 0 || tileK <= 0 || tileM % 16 || tileN % 16 ||
      tileK % 16)
    return emitError()
           << "mma_sync tiles must be positive multiples of 16, got " << tileM
           << "x" << tileN << "x" << tileK;
  if (warps <= 0 || warps > 32)
    return emitError() << "warps must be in 1..32, got " << warps;
  if (stages < 1 || stages > 8)
    return emitError() << "stages must be in 1..8, got " << stages;
  if (padding < 0 || padding % 8)
    return emitError() << "padding must be a non-negative multiple of 8 "
                          "elements (16 bytes), got "
                       << padding;
  return success();
}
