/* Axis permutation of a dense row-major tensor of 4-byte elements. */
#ifndef RLHF_TRANSPOSE_H
#define RLHF_TRANSPOSE_H

#include <stdint.h>

#define TRANSPOSE_MAX_RANK 8

/* y = transpose(x, perm): y's dim k is x's dim perm[k]. rank <= TRANSPOSE_MAX_RANK; x and y must not overlap. */
void transpose_u32(const uint32_t *x, uint32_t *y, int rank, const int64_t *shape, const int32_t *perm);

#endif
