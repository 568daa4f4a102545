/*===- MockCUDADriver.c - a libcuda.so.1 that checks how it is called ------===*
 *
 * For testing kha's CUDA runtime and the host code of CUDA libraries on
 * machines without a GPU: the driver API functions the runtime binds, with
 * host memory standing in for device memory and kernels that are checked but
 * not run (their outputs are whatever the buffers held). It checks what a
 * real driver would reject, or what would corrupt memory on one:
 *
 *   - modules are PTX text for an sm_* target, and functions exist in them;
 *   - launches have 1..1024 threads per block (z at most 64), a grid within
 *     the limits (y and z at most 65535), at most 48 KiB of dynamic shared
 *     memory unless raised with cuFuncSetAttribute, and a readable
 *     kernelParams entry of the right size for every .param of the
 *     kernel's PTX signature;
 *   - tensor maps (cuTensorMapEncodeTiled) follow the driver's rules: rank
 *     1..5, a 16-byte aligned global address inside an allocation, global
 *     strides multiples of 16 bytes, boxes of 1..256 elements whose inner
 *     row is a multiple of 16 bytes and, with a swizzle, at most the
 *     swizzle's row (32, 64 or 128 bytes), element strides 1..8, the whole
 *     tensor inside its allocation;
 *   - copies and memsets that touch an allocation stay inside it, none
 *     touches freed memory, memsets hit a live allocation, frees free live
 *     allocations.
 *
 * Every call is counted; the counts and any violation are appended to the
 * file $KHA_MOCK_CUDA_LOG at exit. $KHA_MOCK_CUDA_FAIL=NAME:CODE makes the
 * function NAME return CODE (to test error paths); with $KHA_MOCK_CUDA_TRACE
 * set, every launch appends its kernel, grid and block to the log.
 *
 *===----------------------------------------------------------------------===*/

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int CUresult;

enum {
  SUCCESS = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NO_DEVICE = 100,
  INVALID_PTX = 218,
  NOT_FOUND = 500,
};

static int loads, functions, launches, allocs, frees, copies, violations,
    tensorMaps;
static long live;
/* Device memory: bytes live now, the most live at once, the largest buffer. */
static size_t liveBytes, peakBytes, largest;

static void violation(const char *format, ...) {
  const char *path = getenv("KHA_MOCK_CUDA_LOG");
  ++violations;
  FILE *log = path ? fopen(path, "a") : stderr;
  if (!log)
    return;
  va_list args;
  va_start(args, format);
  fprintf(log, "violation: ");
  vfprintf(log, format, args);
  fprintf(log, "\n");
  va_end(args);
  if (log != stderr)
    fclose(log);
}

/* The injected failure for `name`, or 0. */
static CUresult injected(const char *name) {
  const char *spec = getenv("KHA_MOCK_CUDA_FAIL");
  size_t n = strlen(name);
  if (spec && strncmp(spec, name, n) == 0 && spec[n] == ':')
    return atoi(spec + n + 1);
  return SUCCESS;
}
#define INJECT(name)                                                           \
  do {                                                                         \
    CUresult r = injected(name);                                               \
    if (r)                                                                     \
      return r;                                                                \
  } while (0)

/* Allocations: "device" memory is host memory. */
typedef struct {
  char *base;
  size_t bytes;
} Allocation;
static Allocation table[4096];
/* Recently freed allocations (their host memory is kept, not reused, so a
 * use after free is seen rather than corrupting the heap). */
static Allocation freed[4096];
static int freedNext;

static Allocation *find(uint64_t address) {
  for (int i = 0; i < 4096; ++i)
    if (table[i].base && (char *)address >= table[i].base &&
        (char *)address < table[i].base + (table[i].bytes ? table[i].bytes : 1))
      return &table[i];
  return NULL;
}

static int inside(uint64_t address, size_t bytes, const char *call) {
  for (int i = 0; i < 4096; ++i)
    if (freed[i].base && (char *)address >= freed[i].base &&
        (char *)address <
            freed[i].base + (freed[i].bytes ? freed[i].bytes : 1)) {
      violation("%s touches freed device memory", call);
      return 0;
    }
  Allocation *a = find(address);
  if (a && (char *)address + bytes > a->base + a->bytes) {
    violation("%s runs past the end of an allocation (%zu bytes from offset "
              "%ld of %zu)",
              call, bytes, (long)((char *)address - a->base), a->bytes);
    return 0;
  }
  return 1;
}

__attribute__((destructor)) static void summary(void) {
  const char *path = getenv("KHA_MOCK_CUDA_LOG");
  FILE *log = path ? fopen(path, "a") : NULL;
  if (!log)
    return;
  fprintf(log,
          "summary: loads=%d functions=%d launches=%d allocs=%d frees=%d "
          "live=%ld copies=%d violations=%d peak_bytes=%zu largest=%zu "
          "tensor_maps=%d\n",
          loads, functions, launches, allocs, frees, live, copies, violations,
          peakBytes, largest, tensorMaps);
  fclose(log);
}

EXPORT CUresult cuInit(unsigned flags) {
  INJECT("cuInit");
  return flags == 0 ? SUCCESS : INVALID_VALUE;
}
EXPORT CUresult cuDeviceGetCount(int *count) {
  INJECT("cuDeviceGetCount");
  *count = 1;
  return SUCCESS;
}
EXPORT CUresult cuDeviceGet(int *device, int ordinal) {
  INJECT("cuDeviceGet");
  *device = ordinal;
  return ordinal == 0 ? SUCCESS : INVALID_VALUE;
}
static int context;
EXPORT CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
  INJECT("cuDevicePrimaryCtxRetain");
  *ctx = &context;
  return device == 0 ? SUCCESS : INVALID_VALUE;
}
EXPORT CUresult cuCtxSetCurrent(void *ctx) {
  INJECT("cuCtxSetCurrent");
  return ctx == &context ? SUCCESS : INVALID_VALUE;
}

/* Modules keep their PTX; functions their parameter sizes. */
typedef struct {
  char *ptx;
} Module;
typedef struct {
  char name[256];
  int params;
  int sizes[512];
  int maxDynamicShared;
} Function;

EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
  INJECT("cuModuleLoadData");
  const char *text = (const char *)image;
  if (!strstr(text, ".version") || !strstr(text, ".target sm_")) {
    violation("cuModuleLoadData: the image is not PTX for an sm_ target");
    return INVALID_PTX;
  }
  Module *m = malloc(sizeof(Module));
  m->ptx = strdup(text);
  *module = m;
  ++loads;
  return SUCCESS;
}
EXPORT CUresult cuModuleUnload(void *module) {
  INJECT("cuModuleUnload");
  free(((Module *)module)->ptx);
  free(module);
  return SUCCESS;
}
EXPORT CUresult cuModuleGetFunction(void **function, void *module,
                                    const char *name) {
  INJECT("cuModuleGetFunction");
  const char *ptx = ((Module *)module)->ptx;
  char pattern[300];
  snprintf(pattern, sizeof(pattern), ".entry %s(", name);
  const char *at = strstr(ptx, pattern);
  if (!at || strlen(name) >= 256)
    return NOT_FOUND;
  Function *f = calloc(1, sizeof(Function));
  strcpy(f->name, name);
  const char *end = strchr(at, ')');
  /* ".param .u64 name", ".param .align 8 .b8 name[16]": bits / 8 bytes,
   * times the array length. */
  for (const char *p = strstr(at, ".param"); p && p < end && f->params < 512;
       p = strstr(p + 1, ".param")) {
    const char *type = p + 6;
    while (*type == ' ')
      ++type;
    if (strncmp(type, ".align", 6) == 0) {
      type += 6;
      while (*type == ' ' || (*type >= '0' && *type <= '9'))
        ++type;
    }
    int bits = type[0] == '.' ? atoi(type + 2) : 0;
    if (bits <= 0 || bits % 8) {
      violation("cuModuleGetFunction %s: cannot read the type of parameter %d",
                name, f->params);
      free(f);
      return INVALID_PTX;
    }
    int count = 1;
    const char *line = strpbrk(type, ",\n)");
    const char *bracket = strchr(type, '[');
    if (bracket && (!line || bracket < line))
      count = atoi(bracket + 1);
    f->sizes[f->params++] = bits / 8 * count;
  }
  *function = f;
  ++functions;
  return SUCCESS;
}
/* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
#define MAX_DYNAMIC_SHARED 8
EXPORT CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  INJECT("cuFuncSetAttribute");
  if (!function)
    return INVALID_VALUE;
  if (attribute == MAX_DYNAMIC_SHARED) {
    if (value < 0 || value > 227 * 1024)
      return INVALID_VALUE;
    ((Function *)function)->maxDynamicShared = value;
  }
  return SUCCESS;
}
EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, void *stream,
                               void **params, void **extra) {
  INJECT("cuLaunchKernel");
  Function *f = (Function *)function;
  unsigned long threads = (unsigned long)bx * by * bz;
  unsigned maxShared =
      f->maxDynamicShared > 48 * 1024 ? f->maxDynamicShared : 48 * 1024;
  if (!gx || !gy || !gz || gx > 2147483647u || gy > 65535 || gz > 65535 ||
      threads == 0 || threads > 1024 || bz > 64 || shared > maxShared) {
    violation("cuLaunchKernel %s: grid %ux%ux%u or block of %lu threads or "
              "%u bytes of shared memory out of range",
              f->name, gx, gy, gz, threads, shared);
    return INVALID_VALUE;
  }
  if (f->params && !params && !extra) {
    violation("cuLaunchKernel %s: no parameters for %d .params", f->name,
              f->params);
    return INVALID_VALUE;
  }
  /* Every parameter's bytes must be readable (a short array faults here). */
  volatile unsigned char sink = 0;
  for (int i = 0; params && i < f->params; ++i) {
    if (!params[i]) {
      violation("cuLaunchKernel %s: parameter %d of %d is null", f->name, i,
                f->params);
      return INVALID_VALUE;
    }
    for (int byte = 0; byte < f->sizes[i]; ++byte)
      sink ^= ((const unsigned char *)params[i])[byte];
  }
  (void)sink;
  ++launches;
  /* $KHA_MOCK_CUDA_TRACE: one line per launch, its grid and block. */
  const char *path = getenv("KHA_MOCK_CUDA_LOG");
  if (path && getenv("KHA_MOCK_CUDA_TRACE")) {
    FILE *log = fopen(path, "a");
    if (log) {
      fprintf(log, "launch %s grid %u %u %u block %u %u %u\n", f->name, gx, gy,
              gz, bx, by, bz);
      fclose(log);
    }
  }
  return SUCCESS;
}

static int streams;
EXPORT CUresult cuStreamCreate(void **stream, unsigned flags) {
  INJECT("cuStreamCreate");
  *stream = malloc(1);
  ++streams;
  return SUCCESS;
}
EXPORT CUresult cuStreamDestroy_v2(void *stream) {
  INJECT("cuStreamDestroy");
  free(stream);
  --streams;
  return SUCCESS;
}
EXPORT CUresult cuStreamSynchronize(void *stream) {
  INJECT("cuStreamSynchronize");
  return SUCCESS;
}
EXPORT CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags) {
  INJECT("cuStreamWaitEvent");
  return SUCCESS;
}
EXPORT CUresult cuEventCreate(void **event, unsigned flags) {
  INJECT("cuEventCreate");
  *event = malloc(1);
  return SUCCESS;
}
EXPORT CUresult cuEventDestroy_v2(void *event) {
  INJECT("cuEventDestroy");
  free(event);
  return SUCCESS;
}
EXPORT CUresult cuEventRecord(void *event, void *stream) {
  INJECT("cuEventRecord");
  return SUCCESS;
}
EXPORT CUresult cuEventSynchronize(void *event) {
  INJECT("cuEventSynchronize");
  return SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  INJECT("cuMemAlloc");
  for (int i = 0; i < 4096; ++i)
    if (!table[i].base) {
      table[i].base = malloc(bytes ? bytes : 1);
      table[i].bytes = bytes;
      *pointer = (uint64_t)table[i].base;
      ++allocs;
      ++live;
      liveBytes += bytes;
      peakBytes = liveBytes > peakBytes ? liveBytes : peakBytes;
      largest = bytes > largest ? bytes : largest;
      return SUCCESS;
    }
  return OUT_OF_MEMORY;
}
EXPORT CUresult cuMemFree_v2(uint64_t pointer) {
  INJECT("cuMemFree");
  for (int i = 0; i < 4096; ++i)
    if (table[i].base == (char *)pointer) {
      free(freed[freedNext].base);
      freed[freedNext] = table[i];
      freedNext = (freedNext + 1) % 4096;
      table[i].base = NULL;
      ++frees;
      --live;
      liveBytes -= table[i].bytes;
      return SUCCESS;
    }
  violation("cuMemFree of an address that is not a live allocation");
  return INVALID_VALUE;
}
EXPORT CUresult cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes) {
  INJECT("cuMemcpyHtoD");
  if (!inside(dst, bytes, "cuMemcpyHtoD (destination)"))
    return INVALID_VALUE;
  memmove((void *)dst, src, bytes);
  ++copies;
  return SUCCESS;
}

EXPORT CUresult cuTensorMapEncodeTiled(void *map, int type, unsigned rank,
                                       void *address, const uint64_t *dims,
                                       const uint64_t *strides,
                                       const unsigned *box,
                                       const unsigned *elementStrides,
                                       int interleave, int swizzle, int l2,
                                       int oob) {
  INJECT("cuTensorMapEncodeTiled");
  static const size_t bytes[13] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  if (!map || type < 0 || type > 12 || rank < 1 || rank > 5 || interleave < 0 ||
      interleave > 2 || swizzle < 0 || swizzle > 3 || l2 < 0 || l2 > 3 ||
      oob < 0 || oob > 1) {
    violation("cuTensorMapEncodeTiled: bad map, type, rank or mode");
    return INVALID_VALUE;
  }
  size_t element = bytes[type];
  if ((uint64_t)address % 16) {
    violation("cuTensorMapEncodeTiled: global address not 16-byte aligned");
    return INVALID_VALUE;
  }
  uint64_t extent = 0; /* bytes from the address to the last element */
  for (unsigned r = 0; r < rank; ++r) {
    if (!dims[r] || dims[r] > (1ull << 32) || !box[r] || box[r] > 256 ||
        !elementStrides[r] || elementStrides[r] > 8) {
      violation("cuTensorMapEncodeTiled: size, box or element stride out of "
                "range in dimension %u",
                r);
      return INVALID_VALUE;
    }
    uint64_t stride = r ? strides[r - 1] : element;
    if (r && (stride % 16 || stride >= (1ull << 40))) {
      violation("cuTensorMapEncodeTiled: global stride %llu of dimension %u "
                "not a multiple of 16 bytes below 2^40",
                (unsigned long long)stride, r);
      return INVALID_VALUE;
    }
    extent += (dims[r] - 1) * stride;
  }
  if (box[0] * element % 16) {
    violation("cuTensorMapEncodeTiled: inner box row of %zu bytes not a "
              "multiple of 16",
              box[0] * element);
    return INVALID_VALUE;
  }
  if (swizzle && box[0] * element > (size_t)(16u << swizzle)) {
    violation("cuTensorMapEncodeTiled: inner box row of %zu bytes wider than "
              "the %u-byte swizzle",
              box[0] * element, 16u << swizzle);
    return INVALID_VALUE;
  }
  if (!inside((uint64_t)address, extent + element, "cuTensorMapEncodeTiled"))
    return INVALID_VALUE;
  memset(map, 0, 128);
  memcpy(map, &address, sizeof(address));
  ++tensorMaps;
  return SUCCESS;
}
EXPORT CUresult cuMemcpyAsync(uint64_t dst, uint64_t src, size_t bytes,
                              void *stream) {
  INJECT("cuMemcpyAsync");
  if (!inside(dst, bytes, "cuMemcpyAsync (destination)") ||
      !inside(src, bytes, "cuMemcpyAsync (source)"))
    return INVALID_VALUE;
  memmove((void *)dst, (const void *)src, bytes);
  ++copies;
  return SUCCESS;
}
/* A memset must start in a live allocation and stay inside it. */
static int settable(uint64_t dst, size_t bytes, const char *call) {
  if (!find(dst)) {
    violation("%s of an address that is not a live allocation", call);
    return 0;
  }
  return inside(dst, bytes, call);
}

EXPORT CUresult cuMemsetD32Async(uint64_t dst, unsigned value, size_t count,
                                 void *stream) {
  INJECT("cuMemsetD32Async");
  if (!settable(dst, count * 4, "cuMemsetD32Async"))
    return INVALID_VALUE;
  for (size_t i = 0; i < count; ++i)
    ((uint32_t *)dst)[i] = value;
  return SUCCESS;
}
EXPORT CUresult cuMemsetD16Async(uint64_t dst, unsigned short value,
                                 size_t count, void *stream) {
  INJECT("cuMemsetD16Async");
  if (!settable(dst, count * 2, "cuMemsetD16Async"))
    return INVALID_VALUE;
  for (size_t i = 0; i < count; ++i)
    ((uint16_t *)dst)[i] = value;
  return SUCCESS;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case SUCCESS:
    *name = "CUDA_SUCCESS";
    return SUCCESS;
  case INVALID_VALUE:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return SUCCESS;
  case OUT_OF_MEMORY:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return SUCCESS;
  case INVALID_PTX:
    *name = "CUDA_ERROR_INVALID_PTX";
    return SUCCESS;
  case NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    return SUCCESS;
  case NO_DEVICE:
    *name = "CUDA_ERROR_NO_DEVICE";
    return SUCCESS;
  default:
    *name = NULL;
    return INVALID_VALUE;
  }
}
