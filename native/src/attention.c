/* Fused causal self-attention on the packed qkv projection. Each (batch row, head) runs its products as GEMMs on
 * strided views of qkv (leading dimension 3*D), so the q/k/v split and the head transposes of the unfused graph are
 * never materialised. The query rows are taken in blocks, and a block's products stop at its last visible key, which
 * skips most of the masked upper triangle. */
#include "cpu_features.h"
#include "attention.h"
#include "softmax_math.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per block: small enough to skip most of the masked triangle, large enough for the GEMM to run well. */
#define ATTENTION_BLOCK 64

/* Row i of the scores (columns 0..visible-1 seen by the query): softmax in place, zeros after it up to `width`. */
#define DEFINE_SOFTMAX_ROW(name, exp_fn, max_fn, dot_fn)                               \
  static void name(float *row, size_t visible, size_t width) {                        \
    float max = max_fn(row, visible);                                                 \
    for (size_t j = 0; j < visible; j++) row[j] = exp_fn(row[j] - max);               \
    float inv = 1.0f / dot_fn(row, NULL, visible);                                    \
    for (size_t j = 0; j < visible; j++) row[j] *= inv;                               \
    memset(row + visible, 0, (width - visible) * sizeof(float));                      \
  }

/* dS = P * (dP - sum_j P dP) * scale over the visible columns, zeros after them up to `width`. */
#define DEFINE_SOFTMAX_GRAD_ROW(name, dot_fn)                                          \
  static void name(const float *p, float *dp, size_t visible, size_t width, float scale) { \
    float dot = dot_fn(p, dp, visible);                                               \
    for (size_t j = 0; j < visible; j++) dp[j] = scale * p[j] * (dp[j] - dot);        \
    memset(dp + visible, 0, (width - visible) * sizeof(float));                       \
  }

DEFINE_EXP(exp_generic)
DEFINE_ROW_MAX(row_max_generic)
DEFINE_ROW_DOT(row_dot_generic)
DEFINE_SOFTMAX_ROW(softmax_row_generic, exp_generic, row_max_generic, row_dot_generic)
DEFINE_SOFTMAX_GRAD_ROW(softmax_grad_row_generic, row_dot_generic)

typedef void (*softmax_row_fn)(float *, size_t, size_t);
typedef void (*softmax_grad_row_fn)(const float *, float *, size_t, size_t, float);

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
DEFINE_EXP(exp_avx2)
DEFINE_ROW_MAX(row_max_avx2)
DEFINE_ROW_DOT(row_dot_avx2)
DEFINE_SOFTMAX_ROW(softmax_row_avx2, exp_avx2, row_max_avx2, row_dot_avx2)
DEFINE_SOFTMAX_GRAD_ROW(softmax_grad_row_avx2, row_dot_avx2)
#pragma GCC pop_options

#else
#define softmax_row_avx2 softmax_row_generic
#define softmax_grad_row_avx2 softmax_grad_row_generic
#endif

void attention_forward_f32(attention_gemm_fn gemm, int portable, const float *qkv, float *y, float *probs, size_t b,
                           size_t t, size_t heads, size_t hd, float scale) {
  softmax_row_fn softmax_row = has_avx2() ? softmax_row_avx2 : softmax_row_generic;
  const size_t d = heads * hd, ld = 3 * d;
  for (size_t r = 0; r < b; r++) {
    for (size_t h = 0; h < heads; h++) {
      const float *q = qkv + r * t * ld + h * hd, *k = q + d, *v = q + 2 * d;
      float *p = probs + (r * heads + h) * t * t;
      float *out = y + r * t * d + h * hd;
      for (size_t r0 = 0; r0 < t; r0 += ATTENTION_BLOCK) {
        size_t r1 = r0 + ATTENTION_BLOCK < t ? r0 + ATTENTION_BLOCK : t;
        size_t rows = r1 - r0;
        /* scores of queries r0..r1 over keys 0..r1 (the later keys are masked for every query of the block) */
        gemm(portable, 0, 1, (int)rows, (int)r1, (int)hd, scale, q + r0 * ld, (int)ld, k, (int)ld, 0.0f, p + r0 * t, (int)t);
        for (size_t i = r0; i < r1; i++) softmax_row(p + i * t, i + 1, t);
        gemm(portable, 0, 0, (int)rows, (int)hd, (int)r1, 1.0f, p + r0 * t, (int)t, v, (int)ld, 0.0f, out + r0 * d, (int)d);
      }
    }
  }
}

void attention_backward_f32(attention_gemm_fn gemm, int portable, const float *dy, const float *qkv,
                            const float *probs, float *dqkv, size_t b, size_t t, size_t heads, size_t hd, float scale) {
  softmax_grad_row_fn softmax_grad_row = has_avx2() ? softmax_grad_row_avx2 : softmax_grad_row_generic;
  const size_t d = heads * hd, ld = 3 * d;
  size_t block = ATTENTION_BLOCK < t ? ATTENTION_BLOCK : t;
  float *ds = malloc(block * t * sizeof(float));
  if (ds == NULL) abort(); /* a few hundred KiB at most for the contexts a process can hold */
  size_t blocks = (t + ATTENTION_BLOCK - 1) / ATTENTION_BLOCK;
  for (size_t r = 0; r < b; r++) {
    for (size_t h = 0; h < heads; h++) {
      const float *q = qkv + r * t * ld + h * hd, *k = q + d, *v = q + 2 * d;
      const float *p = probs + (r * heads + h) * t * t;
      const float *g = dy + r * t * d + h * hd;
      float *dq = dqkv + r * t * ld + h * hd, *dk = dq + d, *dv = dq + 2 * d;
      /* Last block first: it reaches every key, so its products initialise dk and dv (beta 0) and the earlier,
       * shorter blocks add to them. */
      for (size_t blk = blocks; blk-- > 0;) {
        size_t r0 = blk * ATTENTION_BLOCK;
        size_t r1 = r0 + ATTENTION_BLOCK < t ? r0 + ATTENTION_BLOCK : t;
        size_t rows = r1 - r0;
        float beta = blk + 1 == blocks ? 0.0f : 1.0f;
        /* dv[0..r1] += P[r0..r1, 0..r1]^T dy[r0..r1] */
        gemm(portable, 1, 0, (int)r1, (int)hd, (int)rows, 1.0f, p + r0 * t, (int)t, g + r0 * d, (int)d, beta, dv, (int)ld);
        /* dP = dy[r0..r1] v[0..r1]^T, then dS in place */
        gemm(portable, 0, 1, (int)rows, (int)r1, (int)hd, 1.0f, g + r0 * d, (int)d, v, (int)ld, 0.0f, ds, (int)t);
        for (size_t i = r0; i < r1; i++) softmax_grad_row(p + i * t, ds + (i - r0) * t, i + 1, r1, scale);
        /* dq[r0..r1] = dS k[0..r1]; dk[0..r1] += dS^T q[r0..r1] (scale folded into dS) */
        gemm(portable, 0, 0, (int)rows, (int)hd, (int)r1, 1.0f, ds, (int)t, k, (int)ld, 0.0f, dq + r0 * ld, (int)ld);
        gemm(portable, 1, 0, (int)r1, (int)hd, (int)rows, 1.0f, ds, (int)t, q + r0 * ld, (int)ld, beta, dk, (int)ld);
      }
    }
  }
  free(ds);
}
