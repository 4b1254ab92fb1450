/* Layer normalisation over the last axis (Ba et al. 2016), forward and backward, on float32 rows. */
#ifndef RLHF_LAYER_NORM_H
#define RLHF_LAYER_NORM_H

#include <stddef.h>

/* y = (x - mean) * rstd * w + b per row of x [n, d]; also writes each row's mean and rstd = 1 / sqrt(var + eps). */
void layer_norm_f32(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, size_t n,
                    size_t d, float eps);

/* With xhat = (x - mean) * rstd and g = dy * w: dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat)),
 * dw = sum over rows of dy * xhat, db = sum over rows of dy. */
void layer_norm_grad_f32(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                         float *dx, float *dw, float *db, size_t n, size_t d);

#endif
