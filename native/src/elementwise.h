/* Elementwise and reduction kernels on float32 buffers (portable C, auto-vectorised). */
#ifndef RLHF_ELEMENTWISE_H
#define RLHF_ELEMENTWISE_H

#include <stddef.h>

/* y[i] = tanh(x[i]) for i < n; x and y may be the same buffer. */
void tanh_f32(const float *x, float *y, size_t n);

/* out[p, q] = sum over r of x[p, r, q], x viewed as [outer, reduced, inner]. */
void sum_f32(const float *x, float *out, size_t outer, size_t reduced, size_t inner);

#endif
