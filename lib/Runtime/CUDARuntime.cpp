//===- CUDARuntime.cpp - the host-side GPU ABI over the CUDA driver API ---===//
//
// The functions MLIR's gpu-to-llvm host code calls (mgpuModuleLoad,
// mgpuLaunchKernel, mgpuMemAlloc, ...), implemented over the CUDA driver API
// loaded with dlopen("libcuda.so.1") on first use: a library compiled for
// --target=cuda links this archive, builds and loads anywhere, and touches
// the driver only when it is called.
//
// Modules are loaded lazily (the generated constructors only register their
// image), so that loading a library on a machine without a GPU succeeds. A
// failing CUDA call is reported once on stderr and in kha_cuda_last_error(),
// naming the call and the driver's error; after it, every entry point is a
// no-op, so that nothing runs on a broken context.
//
//===----------------------------------------------------------------------===//

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <vector>

#define KHA_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
using CUresult = int;
using CUdevice = int;
using Handle = void *;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(Handle *, CUdevice);
  CUresult (*cuCtxSetCurrent)(Handle);
  CUresult (*cuModuleLoadData)(Handle *, const void *);
  CUresult (*cuModuleUnload)(Handle);
  CUresult (*cuModuleGetFunction)(Handle *, Handle, const char *);
  CUresult (*cuFuncSetAttribute)(Handle, int, int);
  CUresult (*cuLaunchKernel)(Handle, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, Handle, void **,
                             void **);
  CUresult (*cuStreamCreate)(Handle *, unsigned);
  CUresult (*cuStreamDestroy)(Handle);
  CUresult (*cuStreamSynchronize)(Handle);
  CUresult (*cuStreamWaitEvent)(Handle, Handle, unsigned);
  CUresult (*cuEventCreate)(Handle *, unsigned);
  CUresult (*cuEventDestroy)(Handle);
  CUresult (*cuEventRecord)(Handle, Handle);
  CUresult (*cuEventSynchronize)(Handle);
  CUresult (*cuMemAlloc)(uint64_t *, size_t);
  CUresult (*cuMemFree)(uint64_t);
  CUresult (*cuMemcpyAsync)(uint64_t, uint64_t, size_t, Handle);
  CUresult (*cuMemsetD32Async)(uint64_t, unsigned, size_t, Handle);
  CUresult (*cuMemsetD16Async)(uint64_t, unsigned short, size_t, Handle);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuMemcpyHtoD)(uint64_t, const void *, size_t);
  CUresult (*cuTensorMapEncodeTiled)(void *, int, unsigned, void *,
                                     const uint64_t *, const uint64_t *,
                                     const unsigned *, const unsigned *, int,
                                     int, int, int);
};

std::mutex mutex;
Driver driver;
bool initialised = false;
std::string lastError;

void fail(const char *format, ...) {
  if (!lastError.empty())
    return;
  char buffer[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  lastError = buffer;
  fprintf(stderr, "kha cuda runtime: %s\n", buffer);
}

/// Checks a driver call: false (and the error recorded) when it failed.
bool check(CUresult result, const char *call) {
  if (result == 0)
    return true;
  const char *name = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  fail("%s failed: %s (%d)", call, name ? name : "unknown error", result);
  return false;
}

template <typename T> bool bind(void *library, T &slot, const char *name) {
  slot = reinterpret_cast<T>(dlsym(library, name));
  if (!slot)
    fail("libcuda.so.1 has no %s", name);
  return slot != nullptr;
}

/// Loads and initialises the driver, once; called with `mutex` held.
bool loadDriver() {
  if (initialised)
    return true;
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    fail("cannot load the CUDA driver (libcuda.so.1): %s", dlerror());
    return false;
  }
  bool ok =
      bind(library, driver.cuInit, "cuInit") &&
      bind(library, driver.cuDeviceGetCount, "cuDeviceGetCount") &&
      bind(library, driver.cuDeviceGet, "cuDeviceGet") &&
      bind(library, driver.cuDevicePrimaryCtxRetain,
           "cuDevicePrimaryCtxRetain") &&
      bind(library, driver.cuCtxSetCurrent, "cuCtxSetCurrent") &&
      bind(library, driver.cuModuleLoadData, "cuModuleLoadData") &&
      bind(library, driver.cuModuleUnload, "cuModuleUnload") &&
      bind(library, driver.cuModuleGetFunction, "cuModuleGetFunction") &&
      bind(library, driver.cuFuncSetAttribute, "cuFuncSetAttribute") &&
      bind(library, driver.cuLaunchKernel, "cuLaunchKernel") &&
      bind(library, driver.cuStreamCreate, "cuStreamCreate") &&
      bind(library, driver.cuStreamDestroy, "cuStreamDestroy_v2") &&
      bind(library, driver.cuStreamSynchronize, "cuStreamSynchronize") &&
      bind(library, driver.cuStreamWaitEvent, "cuStreamWaitEvent") &&
      bind(library, driver.cuEventCreate, "cuEventCreate") &&
      bind(library, driver.cuEventDestroy, "cuEventDestroy_v2") &&
      bind(library, driver.cuEventRecord, "cuEventRecord") &&
      bind(library, driver.cuEventSynchronize, "cuEventSynchronize") &&
      bind(library, driver.cuMemAlloc, "cuMemAlloc_v2") &&
      bind(library, driver.cuMemFree, "cuMemFree_v2") &&
      bind(library, driver.cuMemcpyAsync, "cuMemcpyAsync") &&
      bind(library, driver.cuMemsetD32Async, "cuMemsetD32Async") &&
      bind(library, driver.cuMemsetD16Async, "cuMemsetD16Async") &&
      bind(library, driver.cuGetErrorName, "cuGetErrorName") &&
      bind(library, driver.cuMemcpyHtoD, "cuMemcpyHtoD_v2") &&
      bind(library, driver.cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled");
  if (!ok)
    return false;
  int count = 0;
  if (!check(driver.cuInit(0), "cuInit") ||
      !check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount"))
    return false;
  if (count == 0) {
    fail("cuDeviceGetCount found no CUDA device");
    return false;
  }
  initialised = true;
  return true;
}

/// The driver loaded and device 0's primary context current on this
/// thread; false after any failure.
bool ready() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!lastError.empty() || !loadDriver())
      return false;
  }
  static thread_local bool current = false;
  if (current)
    return lastError.empty();
  CUdevice device;
  Handle context = nullptr;
  if (!check(driver.cuDeviceGet(&device, 0), "cuDeviceGet") ||
      !check(driver.cuDevicePrimaryCtxRetain(&context, device),
             "cuDevicePrimaryCtxRetain") ||
      !check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent"))
    return false;
  current = true;
  return true;
}

/// A module image registered by a generated constructor, loaded on first use.
struct LazyModule {
  const void *image;
  Handle module = nullptr;
};
} // namespace

//===----------------------------------------------------------------------===//
// kha's own entry points (kha-run, kha.Library)
//===----------------------------------------------------------------------===//

/// Loads and initialises the driver; null when ready, else the error.
KHA_EXPORT const char *kha_cuda_init() {
  return ready() ? nullptr : lastError.c_str();
}

/// The first CUDA failure since the library was loaded, or null.
KHA_EXPORT const char *kha_cuda_last_error() {
  return lastError.empty() ? nullptr : lastError.c_str();
}

//===----------------------------------------------------------------------===//
// The ABI of MLIR's generated host code
//===----------------------------------------------------------------------===//

KHA_EXPORT void *mgpuModuleLoad(void *data, size_t /*size*/) {
  return new LazyModule{data};
}

/// PTX text (format=isa), JIT-compiled by the driver when loaded.
KHA_EXPORT void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  return new LazyModule{data};
}

KHA_EXPORT void mgpuModuleUnload(void *module) {
  auto *lazy = static_cast<LazyModule *>(module);
  if (lazy && lazy->module && lastError.empty())
    check(driver.cuModuleUnload(lazy->module), "cuModuleUnload");
  delete lazy;
}

KHA_EXPORT void *mgpuModuleGetFunction(void *module, const char *name) {
  auto *lazy = static_cast<LazyModule *>(module);
  if (!lazy || !ready())
    return nullptr;
  if (!lazy->module &&
      !check(driver.cuModuleLoadData(&lazy->module, lazy->image),
             "cuModuleLoadData"))
    return nullptr;
  Handle function = nullptr;
  if (!check(driver.cuModuleGetFunction(&function, lazy->module, name),
             "cuModuleGetFunction"))
    return nullptr;
  return function;
}

KHA_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                                 intptr_t gridZ, intptr_t blockX,
                                 intptr_t blockY, intptr_t blockZ, int32_t smem,
                                 void *stream, void **params, void ** /*extra*/,
                                 size_t /*paramsCount*/) {
  if (!function || !ready())
    return;
  // Zero-sized grids (an empty batch or sequence) launch nothing.
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return;
  constexpr int kMaxDynamicSharedMemory =
      8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
  if (smem > 48 * 1024 &&
      !check(driver.cuFuncSetAttribute(function, kMaxDynamicSharedMemory, smem),
             "cuFuncSetAttribute"))
    return;
  check(driver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY,
                              blockZ, smem, stream, params, nullptr),
        "cuLaunchKernel");
}

KHA_EXPORT void *mgpuStreamCreate() {
  Handle stream = nullptr;
  if (ready())
    check(driver.cuStreamCreate(&stream, /*CU_STREAM_NON_BLOCKING=*/1),
          "cuStreamCreate");
  return stream;
}

namespace {
/// Tensor maps encoded on this thread since its last stream was destroyed:
/// the kernels of one call read them, so they live until the call's stream
/// is destroyed (after its synchronisation).
thread_local std::vector<uint64_t> pendingTensorMaps;

void freeTensorMaps() {
  for (uint64_t map : pendingTensorMaps)
    if (lastError.empty())
      check(driver.cuMemFree(map), "cuMemFree");
  pendingTensorMaps.clear();
}

/// Bytes of a CUtensorMapDataType.
size_t tensorMapElementBytes(int64_t type) {
  switch (type) {
  case 0: // UINT8
    return 1;
  case 1: // UINT16
  case 6: // FLOAT16
  case 9: // BFLOAT16
    return 2;
  case 2:  // UINT32
  case 3:  // INT32
  case 7:  // FLOAT32
  case 10: // FLOAT32_FTZ
  case 11: // TFLOAT32
  case 12: // TFLOAT32_FTZ
    return 4;
  case 4: // UINT64
  case 5: // INT64
  case 8: // FLOAT64
    return 8;
  default:
    return 0;
  }
}
} // namespace

/// nvgpu.tma.create.descriptor: a tiled tensor map of a ranked memref
/// (`descriptor` points to MLIR's {allocated, aligned, offset, sizes[rank],
/// strides[rank]}), box sizes outermost first, encoded by the driver and
/// copied to device memory, where kernels read it.
KHA_EXPORT void *mgpuTensorMapEncodeTiledMemref(
    int64_t rank, void *descriptor, int64_t dataType, int64_t interleave,
    int64_t swizzle, int64_t l2Promotion, int64_t oobFill, int64_t *boxSizes) {
  if (!ready())
    return nullptr;
  size_t bytes = tensorMapElementBytes(dataType);
  if (rank < 1 || rank > 5 || !bytes) {
    fail("mgpuTensorMapEncodeTiledMemref: rank %lld or data type %lld not "
         "supported",
         (long long)rank, (long long)dataType);
    return nullptr;
  }
  struct Ranked {
    char *allocated;
    char *aligned;
    int64_t offset;
    int64_t sizesAndStrides[10];
  };
  auto *memref = static_cast<Ranked *>(descriptor);
  const int64_t *sizes = memref->sizesAndStrides;
  const int64_t *strides = memref->sizesAndStrides + rank;
  // Innermost dimension first, strides in bytes for all but it.
  uint64_t dims[5], byteStrides[4];
  unsigned box[5], elementStrides[5];
  for (int64_t r = 0; r < rank; ++r) {
    dims[r] = uint64_t(sizes[rank - 1 - r]);
    box[r] = unsigned(boxSizes[rank - 1 - r]);
    elementStrides[r] = 1;
    if (r > 0)
      byteStrides[r - 1] = uint64_t(strides[rank - 1 - r]) * bytes;
  }
  if (strides[rank - 1] != 1) {
    fail("mgpuTensorMapEncodeTiledMemref: the innermost dimension is not "
         "contiguous");
    return nullptr;
  }
  alignas(64) unsigned char map[128];
  void *address = memref->aligned + memref->offset * int64_t(bytes);
  if (!check(driver.cuTensorMapEncodeTiled(
                 map, int(dataType), unsigned(rank), address, dims, byteStrides,
                 box, elementStrides, int(interleave), int(swizzle),
                 int(l2Promotion), int(oobFill)),
             "cuTensorMapEncodeTiled"))
    return nullptr;
  uint64_t device = 0;
  if (!check(driver.cuMemAlloc(&device, sizeof(map)), "cuMemAlloc"))
    return nullptr;
  // (A copy from pageable memory may still be in flight when cuMemcpyHtoD
  // returns; the call's kernels run on another stream.)
  if (!check(driver.cuMemcpyHtoD(device, map, sizeof(map)), "cuMemcpyHtoD") ||
      !check(driver.cuStreamSynchronize(nullptr), "cuStreamSynchronize")) {
    driver.cuMemFree(device);
    return nullptr;
  }
  pendingTensorMaps.push_back(device);
  return reinterpret_cast<void *>(device);
}

KHA_EXPORT void mgpuStreamDestroy(void *stream) {
  if (stream && lastError.empty())
    check(driver.cuStreamDestroy(stream), "cuStreamDestroy");
  freeTensorMaps();
}

KHA_EXPORT void mgpuStreamSynchronize(void *stream) {
  if (lastError.empty())
    check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
}

KHA_EXPORT void mgpuStreamWaitEvent(void *stream, void *event) {
  if (lastError.empty())
    check(driver.cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

KHA_EXPORT void *mgpuEventCreate() {
  Handle event = nullptr;
  if (ready())
    check(driver.cuEventCreate(&event, /*CU_EVENT_DISABLE_TIMING=*/2),
          "cuEventCreate");
  return event;
}

KHA_EXPORT void mgpuEventDestroy(void *event) {
  if (event && lastError.empty())
    check(driver.cuEventDestroy(event), "cuEventDestroy");
}

KHA_EXPORT void mgpuEventSynchronize(void *event) {
  if (lastError.empty())
    check(driver.cuEventSynchronize(event), "cuEventSynchronize");
}

KHA_EXPORT void mgpuEventRecord(void *event, void *stream) {
  if (lastError.empty())
    check(driver.cuEventRecord(event, stream), "cuEventRecord");
}

KHA_EXPORT void *mgpuMemAlloc(uint64_t bytes, void * /*stream*/,
                              bool hostShared) {
  if (!ready())
    return nullptr;
  if (hostShared) {
    fail("mgpuMemAlloc: host-shared allocations are not supported");
    return nullptr;
  }
  uint64_t pointer = 0;
  // A zero-byte buffer still needs a distinct address.
  if (!check(driver.cuMemAlloc(&pointer, bytes ? bytes : 1), "cuMemAlloc"))
    return nullptr;
  return reinterpret_cast<void *>(pointer);
}

KHA_EXPORT void mgpuMemFree(void *pointer, void * /*stream*/) {
  if (pointer && lastError.empty())
    check(driver.cuMemFree(reinterpret_cast<uint64_t>(pointer)), "cuMemFree");
}

KHA_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  if (bytes && lastError.empty())
    check(driver.cuMemcpyAsync(reinterpret_cast<uint64_t>(dst),
                               reinterpret_cast<uint64_t>(src), bytes, stream),
          "cuMemcpyAsync");
}

KHA_EXPORT void mgpuMemset32(void *dst, unsigned value, size_t count,
                             void *stream) {
  if (count && lastError.empty())
    check(driver.cuMemsetD32Async(reinterpret_cast<uint64_t>(dst), value, count,
                                  stream),
          "cuMemsetD32Async");
}

KHA_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                             void *stream) {
  if (count && lastError.empty())
    check(driver.cuMemsetD16Async(reinterpret_cast<uint64_t>(dst), value, count,
                                  stream),
          "cuMemsetD16Async");
}
