/* Elementwise and reduction kernels on float32 buffers. Written as straight-line arithmetic on arrays so the compiler
 * vectorises them; an AVX2+FMA copy is picked at run time where the CPU has it. */
#include "elementwise.h"

#include <string.h>

/* tanh as a rational function of x on [-c, c] (the minimax fit Eigen uses for float), saturating beyond: about
 * 1 ulp from the true value over the whole range, with no branch inside the loop. */
static inline float tanh_rational(float x) {
  const float c = 7.90531110763549805f;
  float xc = x < -c ? -c : (x > c ? c : x);
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float r = p / q;
  /* Below 4e-4 the fit loses relative accuracy while tanh(x) == x to float precision. */
  return (xc < 0.0004f && xc > -0.0004f) ? xc : r;
}

#define DEFINE_TANH(name, attrs)                                  \
  attrs static void name(const float *x, float *y, size_t n) {     \
    for (size_t i = 0; i < n; i++) y[i] = tanh_rational(x[i]);     \
  }

typedef float v8 __attribute__((vector_size(32)));

/* out[q] = sum_r x[r, q] (a column sum: adds whole rows, vectorised along q). */
#define DEFINE_COLSUM(name, attrs)                                                     \
  attrs static void name(const float *x, float *out, size_t reduced, size_t inner) {    \
    memset(out, 0, inner * sizeof(float));                                              \
    for (size_t r = 0; r < reduced; r++) {                                               \
      const float *row = x + r * inner;                                                  \
      for (size_t q = 0; q < inner; q++) out[q] += row[q];                               \
    }                                                                                    \
  }

/* The sum of a contiguous row, with 32 partial sums in 4 vector registers (also more accurate than one running sum). */
#define DEFINE_ROWSUM(name, attrs)                                   \
  attrs static float name(const float *x, size_t n) {                \
    v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                       \
    size_t i = 0;                                                    \
    for (; i + 32 <= n; i += 32) {                                   \
      v8 b0, b1, b2, b3;                                             \
      memcpy(&b0, x + i, 32);                                        \
      memcpy(&b1, x + i + 8, 32);                                    \
      memcpy(&b2, x + i + 16, 32);                                   \
      memcpy(&b3, x + i + 24, 32);                                   \
      a0 += b0;                                                      \
      a1 += b1;                                                      \
      a2 += b2;                                                      \
      a3 += b3;                                                      \
    }                                                                \
    v8 acc = (a0 + a1) + (a2 + a3);                                  \
    float s = 0.0f;                                                  \
    for (; i < n; i++) s += x[i];                                    \
    float lanes[8];                                                  \
    memcpy(lanes, &acc, sizeof lanes);                               \
    return s + ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +     \
           ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));          \
  }

DEFINE_TANH(tanh_generic, )
DEFINE_COLSUM(colsum_generic, )
DEFINE_ROWSUM(rowsum_generic, )

typedef void (*tanh_fn)(const float *, float *, size_t);
typedef void (*colsum_fn)(const float *, float *, size_t, size_t);
typedef float (*rowsum_fn)(const float *, size_t);

#if defined(__x86_64__) || defined(__i386__)
#define AVX2 __attribute__((target("avx2,fma")))
DEFINE_TANH(tanh_avx2, AVX2)
DEFINE_COLSUM(colsum_avx2, AVX2)
DEFINE_ROWSUM(rowsum_avx2, AVX2)

static int has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define tanh_avx2 tanh_generic
#define colsum_avx2 colsum_generic
#define rowsum_avx2 rowsum_generic
static int has_avx2(void) { return 0; }
#endif

void tanh_f32(const float *x, float *y, size_t n) { (has_avx2() ? tanh_avx2 : tanh_generic)(x, y, n); }

void sum_f32(const float *x, float *out, size_t outer, size_t reduced, size_t inner) {
  int avx2 = has_avx2();
  if (inner == 1) {
    rowsum_fn rowsum = avx2 ? rowsum_avx2 : rowsum_generic;
    for (size_t p = 0; p < outer; p++) out[p] = rowsum(x + p * reduced, reduced);
    return;
  }
  colsum_fn colsum = avx2 ? colsum_avx2 : colsum_generic;
  for (size_t p = 0; p < outer; p++) colsum(x + p * reduced * inner, out + p * inner, reduced, inner);
}
