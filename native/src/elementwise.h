/* Elementwise and reduction kernels on float32 buffers (portable C, auto-vectorised). */
#ifndef RLHF_ELEMENTWISE_H
#define RLHF_ELEMENTWISE_H

#include <stddef.h>

/* y[i] = tanh(x[i]) for i < n; x and y may be the same buffer. */
void tanh_f32(const float *x, float *y, size_t n);

/* out[p, q] = sum over r of x[p, r, q], x viewed as [outer, reduced, inner]. */
void sum_f32(const float *x, float *out, size_t outer, size_t reduced, size_t inner);

/* GPT-2's tanh-approximate GELU: y = 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))). */
void gelu_f32(const float *x, float *y, size_t n);

/* dx = dy * d gelu(x) / dx. */
void gelu_grad_f32(const float *x, const float *dy, float *dx, size_t n);

/* One AdamW step (decoupled weight decay, bias corrections folded into step_size and eps_hat by the caller):
 * m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; p' = decay p - step_size m' / (sqrt(v') + eps_hat). */
typedef struct {
  float beta1, beta2, step_size, eps_hat, decay;
} adamw_params;
void adamw_f32(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
               float *v_out, size_t n, adamw_params h);

#endif
