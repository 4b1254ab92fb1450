/* Elementwise and reduction kernels on float32 buffers. Written as straight-line arithmetic on arrays so the compiler
 * vectorises them; an AVX2+FMA copy is picked at run time where the CPU has it. */
#include "cpu_features.h"
#include "elementwise.h"

#include <math.h>
#include <string.h>

/* tanh as a rational function of x on [-c, c] (the minimax fit Eigen uses for float), saturating beyond: within
 * 3e-7 of the true value over the whole range, with no branch the vectoriser cannot turn into a select. Defined by a
 * macro so that the AVX2 copy is compiled for AVX2 too (an inlined helper keeps its own target otherwise). */
#define DEFINE_TANH_RATIONAL(name)                                    \
  static inline float name(float x) {                                  \
    const float c = 7.90531110763549805f;                              \
    float xc = x < -c ? -c : (x > c ? c : x);                          \
    float x2 = xc * xc;                                                \
    float p = -2.76076847742355e-16f;                                  \
    p = p * x2 + 2.00018790482477e-13f;                                \
    p = p * x2 + -8.60467152213735e-11f;                               \
    p = p * x2 + 5.12229709037114e-08f;                                \
    p = p * x2 + 1.48572235717979e-05f;                                \
    p = p * x2 + 6.37261928875436e-04f;                                \
    p = p * x2 + 4.89352455891786e-03f;                                \
    p = p * xc;                                                        \
    float q = 1.19825839466702e-06f;                                  \
    q = q * x2 + 1.18534705686654e-04f;                                \
    q = q * x2 + 2.26843463243900e-03f;                                \
    q = q * x2 + 4.89352518554385e-03f;                                \
    /* Below 4e-4 the fit loses relative accuracy while tanh(x) == x to float precision. */ \
    return __builtin_fabsf(xc) < 0.0004f ? xc : p / q;                    \
  }

#define DEFINE_TANH(name, tanh_rational)                          \
  static void name(const float *x, float *y, size_t n) {           \
    for (size_t i = 0; i < n; i++) y[i] = tanh_rational(x[i]);     \
  }

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

#define DEFINE_GELU(name, tanh_rational)                                           \
  static void name(const float *x, float *y, size_t n) {                     \
    for (size_t i = 0; i < n; i++) {                                               \
      float xi = x[i];                                                             \
      float th = tanh_rational(GELU_C * xi * (1.0f + GELU_A * xi * xi));           \
      y[i] = 0.5f * xi * (1.0f + th);                                              \
    }                                                                              \
  }

/* d/dx = 0.5 (1 + th) + 0.5 x (1 - th^2) c (1 + 3 a x^2). */
#define DEFINE_GELU_GRAD(name, tanh_rational)                                                       \
  static void name(const float *x, const float *dy, float *dx, size_t n) {                   \
    for (size_t i = 0; i < n; i++) {                                                                \
      float xi = x[i], x2 = xi * xi;                                                                \
      float th = tanh_rational(GELU_C * xi * (1.0f + GELU_A * x2));                                 \
      float d = 0.5f * (1.0f + th) + 0.5f * xi * (1.0f - th * th) * GELU_C * (1.0f + 3.0f * GELU_A * x2); \
      dx[i] = dy[i] * d;                                                                            \
    }                                                                                               \
  }

/* restrict: the outputs are fresh buffers, and without it the 12 alias checks exceed what GCC will version for. */
#define DEFINE_ADAMW(name)                                                                                   \
  static void name(const float *restrict p, const float *restrict g, const float *restrict m,             \
                   const float *restrict v, float *restrict p_out, float *restrict m_out,                     \
                   float *restrict v_out, size_t n, adamw_params h) {                                         \
    const float c1 = 1.0f - h.beta1, c2 = 1.0f - h.beta2;                                                    \
    for (size_t i = 0; i < n; i++) {                                                                         \
      float gi = g[i];                                                                                       \
      float mi = h.beta1 * m[i] + c1 * gi;                                                                   \
      float vi = h.beta2 * v[i] + c2 * (gi * gi);                                                            \
      p_out[i] = h.decay * p[i] - h.step_size * (mi / (sqrtf(vi) + h.eps_hat));                              \
      m_out[i] = mi;                                                                                         \
      v_out[i] = vi;                                                                                         \
    }                                                                                                        \
  }

typedef float v8 __attribute__((vector_size(32)));

/* out[q] = sum_r x[r, q] (a column sum: adds whole rows, vectorised along q). */
#define DEFINE_COLSUM(name)                                                            \
  static void name(const float *x, float *out, size_t reduced, size_t inner) {    \
    memset(out, 0, inner * sizeof(float));                                              \
    for (size_t r = 0; r < reduced; r++) {                                               \
      const float *row = x + r * inner;                                                  \
      for (size_t q = 0; q < inner; q++) out[q] += row[q];                               \
    }                                                                                    \
  }

/* The sum of a contiguous row, with 32 partial sums in 4 vector registers (also more accurate than one running sum). */
#define DEFINE_ROWSUM(name)                                          \
  static float name(const float *x, size_t n) {                \
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

DEFINE_TANH_RATIONAL(tanh_rational_generic)
DEFINE_TANH(tanh_generic, tanh_rational_generic)
DEFINE_GELU(gelu_generic, tanh_rational_generic)
DEFINE_GELU_GRAD(gelu_grad_generic, tanh_rational_generic)
DEFINE_ADAMW(adamw_generic)
DEFINE_COLSUM(colsum_generic)
DEFINE_ROWSUM(rowsum_generic)

typedef void (*tanh_fn)(const float *, float *, size_t);
typedef void (*gelu_grad_fn)(const float *, const float *, float *, size_t);
typedef void (*adamw_fn)(const float *, const float *, const float *, const float *, float *, float *, float *, size_t,
                         adamw_params);
typedef void (*colsum_fn)(const float *, float *, size_t, size_t);
typedef float (*rowsum_fn)(const float *, size_t);

#if defined(__x86_64__) || defined(__i386__)
/* Every function up to pop_options, helpers included, is compiled for AVX2+FMA. */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
DEFINE_TANH_RATIONAL(tanh_rational_avx2)
DEFINE_TANH(tanh_avx2, tanh_rational_avx2)
DEFINE_GELU(gelu_avx2, tanh_rational_avx2)
DEFINE_GELU_GRAD(gelu_grad_avx2, tanh_rational_avx2)
DEFINE_ADAMW(adamw_avx2)
DEFINE_COLSUM(colsum_avx2)
DEFINE_ROWSUM(rowsum_avx2)
#pragma GCC pop_options

#else
#define tanh_avx2 tanh_generic
#define gelu_avx2 gelu_generic
#define gelu_grad_avx2 gelu_grad_generic
#define adamw_avx2 adamw_generic
#define colsum_avx2 colsum_generic
#define rowsum_avx2 rowsum_generic
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

void gelu_f32(const float *x, float *y, size_t n) { (has_avx2() ? gelu_avx2 : gelu_generic)(x, y, n); }

void gelu_grad_f32(const float *x, const float *dy, float *dx, size_t n) {
  gelu_grad_fn f = has_avx2() ? gelu_grad_avx2 : gelu_grad_generic;
  f(x, dy, dx, n);
}

void adamw_f32(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
               float *v_out, size_t n, adamw_params h) {
  adamw_fn f = has_avx2() ? adamw_avx2 : adamw_generic;
  f(p, g, m, v, p_out, m_out, v_out, n, h);
}
