/* Axis permutation of a dense row-major tensor of 4-byte elements. */
#ifndef RLHF_TRANSPOSE_H
#define RLHF_TRANSPOSE_H

#include <stdint.h>

#define TRANSPOSE_MAX_RANK 8

/* y = transpose(x, perm): y's dim k is x's dim perm[k]. rank <= TRANSPOSE_MAX_RANK; x and y must not overlap. */
void transpose_u32(const uint32_t *x, uint32_t *y, int rank, const int64_t *shape, const int32_t *perm);

/* Concatenation along one axis, every input viewed as [outer, inner[i]]: output row b is input 0's row b, then input 1's
 * row b, and so on. Inputs and the output must not overlap. */
void concat_rows_u32(const uint32_t *const *xs, const int64_t *inner, int count, int64_t outer, uint32_t *y);

#endif
