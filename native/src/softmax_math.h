/* What the softmax kernels share: a vectorisable single-precision e^x and row reductions (max, sum, dot) written on
 * 8-float vectors, because GCC does not vectorise a float reduction without -ffast-math. Defined by macros so that
 * each target-specific copy of a kernel (generic, AVX2) inlines helpers compiled for the same target. */
#ifndef RLHF_SOFTMAX_MATH_H
#define RLHF_SOFTMAX_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x for x <= 0 (softmax arguments after the row max is subtracted): Cody-Waite range reduction and a degree-6
 * polynomial, within 8e-8 relative error on [-87, 0]; straight-line so the row loop vectorises. Below -87 it returns 0. */
#define DEFINE_EXP(name)                                                              \
  static inline float name(float x) {                                                 \
    float xc = x < -87.0f ? -87.0f : x;                                               \
    float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);                      \
    float r = xc - n * 0.693359375f;                                                  \
    r = r - n * -2.12194440e-4f;                                                      \
    float p = 1.9875691500e-4f;                                                       \
    p = p * r + 1.3981999507e-3f;                                                     \
    p = p * r + 8.3334519073e-3f;                                                     \
    p = p * r + 4.1665795894e-2f;                                                     \
    p = p * r + 1.6666665459e-1f;                                                     \
    p = p * r + 5.0000001201e-1f;                                                     \
    p = p * r * r + r + 1.0f;                                                         \
    int32_t bits = ((int32_t)n + 127) << 23;                                          \
    float scale;                                                                      \
    memcpy(&scale, &bits, sizeof scale);                                              \
    return x < -87.0f ? 0.0f : p * scale;                                             \
  }

typedef float sm_v8 __attribute__((vector_size(32)));
typedef int32_t sm_v8i __attribute__((vector_size(32)));

/* Macros rather than functions: a vector passed by value to a helper compiled without AVX would change its ABI. */
#define SM_HSUM(a)                                                                   \
  ({                                                                                 \
    float l_[8];                                                                     \
    memcpy(l_, &(a), sizeof l_);                                                     \
    ((l_[0] + l_[1]) + (l_[2] + l_[3])) + ((l_[4] + l_[5]) + (l_[6] + l_[7]));       \
  })
#define SM_MAX8(a, b) ((sm_v8)((((sm_v8i)(a)) & ((a) > (b))) | (((sm_v8i)(b)) & ~((a) > (b)))))

/* max of x[0..n), n >= 1 */
#define DEFINE_ROW_MAX(name)                                      \
  static float name(const float *x, size_t n) {                   \
    float m = x[0];                                               \
    size_t i = 0;                                                 \
    if (n >= 8) {                                                 \
      sm_v8 acc;                                                  \
      memcpy(&acc, x, 32);                                        \
      for (i = 8; i + 8 <= n; i += 8) {                           \
        sm_v8 b;                                                  \
        memcpy(&b, x + i, 32);                                    \
        acc = SM_MAX8(acc, b);                                    \
      }                                                           \
      float l[8];                                                 \
      memcpy(l, &acc, sizeof l);                                  \
      for (int k = 0; k < 8; k++) m = l[k] > m ? l[k] : m;        \
    }                                                             \
    for (; i < n; i++) m = x[i] > m ? x[i] : m;                   \
    return m;                                                     \
  }

/* sum of x[i] * y[i] (y = NULL: of x[i]) over i < n, with 16 partial sums */
#define DEFINE_ROW_DOT(name)                                          \
  static float name(const float *x, const float *y, size_t n) {       \
    sm_v8 a0 = {0}, a1 = {0};                                         \
    size_t i = 0;                                                     \
    for (; i + 16 <= n; i += 16) {                                    \
      sm_v8 b0, b1;                                                   \
      memcpy(&b0, x + i, 32);                                         \
      memcpy(&b1, x + i + 8, 32);                                     \
      if (y) {                                                        \
        sm_v8 c0, c1;                                                 \
        memcpy(&c0, y + i, 32);                                       \
        memcpy(&c1, y + i + 8, 32);                                   \
        b0 *= c0;                                                     \
        b1 *= c1;                                                     \
      }                                                               \
      a0 += b0;                                                       \
      a1 += b1;                                                       \
    }                                                                 \
    float s = 0.0f;                                                   \
    for (; i < n; i++) s += y ? x[i] * y[i] : x[i];                   \
    sm_v8 t_ = a0 + a1;                                              \
    return s + SM_HSUM(t_);                                      \
  }

#endif
