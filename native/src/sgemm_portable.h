/* Row-major single-precision GEMM in portable C, used when OpenBLAS is not available (and by tests to check it). */
#ifndef RLHF_SGEMM_PORTABLE_H
#define RLHF_SGEMM_PORTABLE_H

/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major; op(X) is X or its transpose. */
void sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);

/* Threads the portable GEMM may use (clamped to [1, 64]); returns the count in force. Process-wide. */
int sgemm_portable_set_threads(int n);
int sgemm_portable_get_threads(void);

#endif
