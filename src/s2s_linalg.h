/* Matrix products for the network, row-major: C = alpha * op(A) op(B) + beta * C.
 * The fast path is OpenBLAS's cblas_sgemm; a plain triple loop in double is kept beside it
 * as the reference the tests compare against (s2s_linalg_use_reference). */
#ifndef S2S_LINALG_H
#define S2S_LINALG_H

/* transA/transB: 0 = as stored, 1 = transposed. A is M x K after op, B is K x N after op. */
void s2s_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* Which fast path products take: our AVX-512 kernel (the default where the build has it)
 * or BLAS. s2s_gemm_backend(S2S_GEMM_OWN or S2S_GEMM_BLAS) switches and returns the previous
 * choice (-1 if the kernel is not in this build); any other argument only asks. Not
 * thread-safe: set it before starting threads. */
enum { S2S_GEMM_OWN = 0, S2S_GEMM_BLAS = 1 };
int s2s_gemm_backend(int which);
/* 1 routes every product through the reference loop (tests); returns the previous setting. */
int s2s_linalg_use_reference(int on);
/* Threads for our parallel parts (OpenMP: shards, batches side by side); <= 0 leaves the
 * default. BLAS is set to one thread: each of our threads runs its own products, and a BLAS
 * pool would only compete with them (and, under an address-space limit, hang at exit). */
void s2s_set_threads(int n);
/* Threads for BLAS alone (1 when the caller runs its own threads around the products). */
void s2s_set_blas_threads(int n);

#endif
