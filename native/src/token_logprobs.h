/* Log-probabilities of target tokens under next-token logits (log softmax, then pick), and their gradient. */
#ifndef RLHF_TOKEN_LOGPROBS_H
#define RLHF_TOKEN_LOGPROBS_H

#include <stddef.h>
#include <stdint.h>

/* For each row i of x [n, v]: lse[i] = log sum_j e^x[i, j] and logp[i] = x[i, targets[i]] - lse[i]. Returns -1, or the
 * first row whose target is outside [0, v) (nothing is written from that row on). */
int64_t token_logprobs_f32(const float *x, const int32_t *targets, float *logp, float *lse, size_t n, size_t v);

/* dx[i, j] = dy[i] * ([j == targets[i]] - e^(x[i, j] - lse[i])): the gradient of logp with respect to x. Returns -1,
 * or the first row whose target is outside [0, v). */
int64_t token_logprobs_grad_f32(const float *x, const int32_t *targets, const float *lse, const float *dy, float *dx,
                                size_t n, size_t v);

#endif
