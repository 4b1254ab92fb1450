/* Causal multi-head self-attention (scores, causal mask, softmax, weighted sum) and its backward, as one kernel per
 * direction, reading q, k and v straight out of the packed qkv projection (no split, no transposes). */
#ifndef RLHF_ATTENTION_H
#define RLHF_ATTENTION_H

#include <stddef.h>

/* The single-precision GEMM the attention products run on (row-major; OpenBLAS or the portable one). */
typedef void (*attention_gemm_fn)(int portable, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* qkv [B*T, 3*D] (row t of batch b: q of every head, then k, then v; head h at columns h*hd within each third),
 * D = heads * hd. Writes y [B*T, D] (heads merged, head h at columns h*hd) and probs [B, heads, T, T], the softmax of
 * scale * q k^T over keys <= the query, zero above the diagonal (kept for the backward). */
void attention_forward_f32(attention_gemm_fn gemm, int portable, const float *qkv, float *y, float *probs, size_t b,
                           size_t t, size_t heads, size_t hd, float scale);

/* From dy [B*T, D], qkv and the forward's probs: dqkv [B*T, 3*D] (dq, dk, dv in the layout of qkv). */
void attention_backward_f32(attention_gemm_fn gemm, int portable, const float *dy, const float *qkv,
                            const float *probs, float *dqkv, size_t b, size_t t, size_t heads, size_t hd, float scale);

#endif
