/* Layer normalisation over the last axis of x [n, d], forward and backward, one pass per row (the tf-op form runs about
 * a dozen kernels, each a pass over memory plus a dispatch). */
#include "layer_norm.h"

#include <math.h>
#include <string.h>

void layer_norm_f32(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, size_t n,
                    size_t d, float eps) {
  for (size_t r = 0; r < n; r++) {
    const float *xr = x + r * d;
    float *yr = y + r * d;
    float s = 0.0f;
    for (size_t j = 0; j < d; j++) s += xr[j];
    const float mu = s / (float)d;
    float ss = 0.0f;
    for (size_t j = 0; j < d; j++) {
      const float c = xr[j] - mu;
      ss += c * c;
    }
    const float rs = 1.0f / sqrtf(ss / (float)d + eps);
    for (size_t j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

void layer_norm_grad_f32(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                         float *dx, float *dw, float *db, size_t n, size_t d) {
  memset(dw, 0, d * sizeof(float));
  memset(db, 0, d * sizeof(float));
  for (size_t r = 0; r < n; r++) {
    const float *dyr = dy + r * d;
    const float *xr = x + r * d;
    float *dxr = dx + r * d;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (size_t j = 0; j < d; j++) {
      const float xhat = (xr[j] - mu) * rs;
      const float g = dyr[j] * w[j];
      sg += g;
      sgx += g * xhat;
      dw[j] += dyr[j] * xhat;
      db[j] += dyr[j];
    }
    const float mg = sg / (float)d, mgx = sgx / (float)d;
    for (size_t j = 0; j < d; j++) {
      const float xhat = (xr[j] - mu) * rs;
      dxr[j] = rs * (dyr[j] * w[j] - mg - xhat * mgx);
    }
  }
}
