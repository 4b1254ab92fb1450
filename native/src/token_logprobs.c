/* Target-token log-probabilities in two passes over each row of logits (max, then the sum of exponentials), and their
 * gradient in one, recomputing the softmax from the saved log-sum-exp instead of keeping [n, v] probabilities. */
#include "cpu_features.h"
#include "token_logprobs.h"

#include <math.h>

#include "softmax_math.h"

/* Logits exponentiated per chunk into a stack buffer, so the sum runs on vectors. */
#define LSE_CHUNK 512

#define DEFINE_ROW_LSE(name, exp_fn, max_fn, dot_fn)                          \
  static float name(const float *x, size_t v) {                                \
    float max = max_fn(x, v), sum = 0.0f, e[LSE_CHUNK];                        \
    for (size_t j0 = 0; j0 < v; j0 += LSE_CHUNK) {                             \
      size_t len = v - j0 < LSE_CHUNK ? v - j0 : LSE_CHUNK;                    \
      for (size_t j = 0; j < len; j++) e[j] = exp_fn(x[j0 + j] - max);         \
      sum += dot_fn(e, NULL, len);                                             \
    }                                                                          \
    return max + logf(sum);                                                    \
  }

#define DEFINE_ROW_GRAD(name, exp_fn)                                                   \
  static void name(const float *x, float lse, float dy, float *dx, size_t v) {          \
    for (size_t j = 0; j < v; j++) dx[j] = -dy * exp_fn(x[j] - lse);                    \
  }

DEFINE_EXP(exp_generic)
DEFINE_ROW_MAX(row_max_generic)
DEFINE_ROW_DOT(row_dot_generic)
DEFINE_ROW_LSE(row_lse_generic, exp_generic, row_max_generic, row_dot_generic)
DEFINE_ROW_GRAD(row_grad_generic, exp_generic)

typedef float (*row_lse_fn)(const float *, size_t);
typedef void (*row_grad_fn)(const float *, float, float, float *, size_t);

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
DEFINE_EXP(exp_avx2)
DEFINE_ROW_MAX(row_max_avx2)
DEFINE_ROW_DOT(row_dot_avx2)
DEFINE_ROW_LSE(row_lse_avx2, exp_avx2, row_max_avx2, row_dot_avx2)
DEFINE_ROW_GRAD(row_grad_avx2, exp_avx2)
#pragma GCC pop_options

#else
#define row_lse_avx2 row_lse_generic
#define row_grad_avx2 row_grad_generic
#endif

int64_t token_logprobs_f32(const float *x, const int32_t *targets, float *logp, float *lse, size_t n, size_t v) {
  row_lse_fn row_lse = has_avx2() ? row_lse_avx2 : row_lse_generic;
  for (size_t i = 0; i < n; i++) {
    int32_t t = targets[i];
    if (t < 0 || (size_t)t >= v) return (int64_t)i;
    const float *row = x + i * v;
    lse[i] = row_lse(row, v);
    logp[i] = row[t] - lse[i];
  }
  return -1;
}

int64_t token_logprobs_grad_f32(const float *x, const int32_t *targets, const float *lse, const float *dy, float *dx,
                                size_t n, size_t v) {
  row_grad_fn row_grad = has_avx2() ? row_grad_avx2 : row_grad_generic;
  for (size_t i = 0; i < n; i++) {
    int32_t t = targets[i];
    if (t < 0 || (size_t)t >= v) return (int64_t)i;
    row_grad(x + i * v, lse[i], dy[i], dx + i * v, v);
    dx[i * v + (size_t)t] += dy[i];
  }
  return -1;
}
