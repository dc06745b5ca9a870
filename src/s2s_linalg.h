/* Matrix products for the network, row-major: C = alpha * op(A) op(B) + beta * C.
 * The fast path is OpenBLAS's cblas_sgemm; a plain triple loop in double is kept beside it
 * as the reference the tests compare against (s2s_linalg_use_reference). */
#ifndef S2S_LINALG_H
#define S2S_LINALG_H

/* transA/transB: 0 = as stored, 1 = transposed. A is M x K after op, B is K x N after op. */
void s2s_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* 1 routes every product through the reference loop (tests); returns the previous setting. */
int s2s_linalg_use_reference(int on);
/* Threads for BLAS (and OpenMP parts); <= 0 leaves the library default. */
void s2s_set_threads(int n);
/* Threads for BLAS alone (1 when the caller runs its own threads around the products). */
void s2s_set_blas_threads(int n);

#endif
