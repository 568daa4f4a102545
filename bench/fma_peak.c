/* One core's FMA peak: independent chains of vector FMAs, enough of them to
 * cover the FMA units' latency, timed over a fixed number of steps. Built
 * with -march=native by bench/peak.py: 512-bit vectors where the CPU has
 * AVX-512, 256-bit ones where it has AVX2 and FMA.
 *
 *   fma_peak STEPS  ->  prints "GFLOP/s VECTOR_BITS"
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12 /* a0 ... a11 below */

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define SUM _mm512_reduce_add_ps
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float SUM(__m256 v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  float s = 0;
  for (int i = 0; i < 8; ++i)
    s += lanes[i];
  return s;
}
#else
#error "fma_peak needs AVX2 with FMA, or AVX-512"
#endif

int main(int argc, char **argv) {
  long steps = argc > 1 ? atol(argv[1]) : 100000000L;
  /* Twelve named accumulators: the compiler keeps them in registers. */
  vec a0 = SET1(0.000f), a1 = SET1(0.001f), a2 = SET1(0.002f),
      a3 = SET1(0.003f), a4 = SET1(0.004f), a5 = SET1(0.005f),
      a6 = SET1(0.006f), a7 = SET1(0.007f), a8 = SET1(0.008f),
      a9 = SET1(0.009f), a10 = SET1(0.010f), a11 = SET1(0.011f);
  /* From the command line, so that the compiler cannot fold the loop. */
  vec b = SET1(argc > 2 ? (float)atof(argv[2]) : 0.9999f);
  vec c = SET1(argc > 3 ? (float)atof(argv[3]) : 0.0001f);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = 0; n < steps; ++n) {
    a0 = FMA(a0, b, c);
    a1 = FMA(a1, b, c);
    a2 = FMA(a2, b, c);
    a3 = FMA(a3, b, c);
    a4 = FMA(a4, b, c);
    a5 = FMA(a5, b, c);
    a6 = FMA(a6, b, c);
    a7 = FMA(a7, b, c);
    a8 = FMA(a8, b, c);
    a9 = FMA(a9, b, c);
    a10 = FMA(a10, b, c);
    a11 = FMA(a11, b, c);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  vec total = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
  total = ADD(total, ADD(ADD(a8, a9), ADD(a10, a11)));
  double seconds = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  double flops = 2.0 * LANES * CHAINS * (double)steps;
  /* The sum keeps the chains alive; it is printed on stderr. */
  fprintf(stderr, "checksum %g\n", (double)SUM(total));
  printf("%.1f %d\n", flops / seconds / 1e9, LANES * 32);
  return 0;
}
