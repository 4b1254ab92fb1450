/* Axis permutation: size-1 dims are dropped and input dims that stay adjacent are merged first, so [B,T,H,D] ->
 * [B,H,T,D] becomes a copy of contiguous D-runs and a 2-D transpose becomes a cache-blocked tile copy. */
#include "transpose.h"

#include <string.h>

#define TILE 32

void transpose_u32(const uint32_t *x, uint32_t *y, int rank, const int64_t *shape, const int32_t *perm) {
  /* Drop size-1 dims: keep[] maps old dims to new dims. */
  int64_t dims[TRANSPOSE_MAX_RANK];
  int newdim[TRANSPOSE_MAX_RANK];
  int r = 0;
  int64_t total = 1;
  for (int d = 0; d < rank; d++) {
    total *= shape[d];
    newdim[d] = shape[d] == 1 ? -1 : r;
    if (shape[d] != 1) dims[r++] = shape[d];
  }
  if (total == 0) return;
  int p[TRANSPOSE_MAX_RANK];
  int pr = 0;
  for (int k = 0; k < rank; k++)
    if (newdim[perm[k]] >= 0) p[pr++] = newdim[perm[k]];
  /* Merge runs: out dims k, k+1 with p[k+1] == p[k] + 1 are one input dim. */
  int64_t mdims[TRANSPOSE_MAX_RANK]; /* merged input dims, indexed by merged input axis */
  int mp[TRANSPOSE_MAX_RANK];        /* merged perm */
  int groups = 0;
  int group_of_in[TRANSPOSE_MAX_RANK]; /* merged axis that starts at input dim d, or -1 */
  for (int d = 0; d < r; d++) group_of_in[d] = -1;
  int starts[TRANSPOSE_MAX_RANK];
  for (int k = 0; k < r; k++) {
    if (k > 0 && p[k] == p[k - 1] + 1) continue;
    starts[groups++] = p[k];
  }
  /* Number the groups in input order. */
  int order = 0;
  for (int d = 0; d < r; d++) {
    for (int g = 0; g < groups; g++)
      if (starts[g] == d) group_of_in[d] = order++;
  }
  for (int d = 0, g = -1; d < r; d++) {
    if (group_of_in[d] >= 0) {
      g = group_of_in[d];
      mdims[g] = 1;
    }
    mdims[g] *= dims[d];
  }
  for (int g = 0; g < groups; g++) mp[g] = group_of_in[starts[g]];
  int m = groups;

  if (m <= 1) { /* the identity permutation */
    memcpy(y, x, (size_t)total * 4);
    return;
  }
  int64_t istride[TRANSPOSE_MAX_RANK];
  istride[m - 1] = 1;
  for (int g = m - 2; g >= 0; g--) istride[g] = istride[g + 1] * mdims[g + 1];
  int64_t odims[TRANSPOSE_MAX_RANK], ostride_in[TRANSPOSE_MAX_RANK];
  for (int k = 0; k < m; k++) {
    odims[k] = mdims[mp[k]];
    ostride_in[k] = istride[mp[k]];
  }

  /* The last two output dims as a blocked 2-D transpose when the innermost output dim is strided in x. */
  int64_t rows = odims[m - 2], cols = odims[m - 1];
  int64_t rs = ostride_in[m - 2], cs = ostride_in[m - 1];
  int64_t outer = total / (rows * cols);
  int64_t idx[TRANSPOSE_MAX_RANK] = {0};
  const uint32_t *src_base = x;
  uint32_t *dst = y;
  for (int64_t o = 0; o < outer; o++) {
    if (cs == 1) {
      for (int64_t i = 0; i < rows; i++) memcpy(dst + i * cols, src_base + i * rs, (size_t)cols * 4);
    } else {
      for (int64_t i0 = 0; i0 < rows; i0 += TILE) {
        int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;
        for (int64_t j0 = 0; j0 < cols; j0 += TILE) {
          int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;
          for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) dst[i * cols + j] = src_base[i * rs + j * cs];
        }
      }
    }
    dst += rows * cols;
    /* Advance the odometer over output dims 0..m-3 and move the source base accordingly. */
    for (int k = m - 3; k >= 0; k--) {
      idx[k]++;
      src_base += ostride_in[k];
      if (idx[k] < odims[k]) break;
      src_base -= ostride_in[k] * odims[k];
      idx[k] = 0;
    }
  }
}

void concat_rows_u32(const uint32_t *const *xs, const int64_t *inner, int count, int64_t outer, uint32_t *y) {
  for (int64_t b = 0; b < outer; b++) {
    for (int i = 0; i < count; i++) {
      memcpy(y, xs[i] + b * inner[i], (size_t)inner[i] * 4);
      y += inner[i];
    }
  }
}
