/* Our own matrix product kernel (AVX-512), used by s2s_gemm in place of BLAS where it is
 * available. Same contract as s2s_gemm (row-major, op(A) M x K, op(B) K x N); returns 1 when
 * it did the product, 0 when this build has no such kernel. */
#ifndef S2S_KERNEL_H
#define S2S_KERNEL_H

int s2s_kernel_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);
/* 1 when this build has the kernel (compiled with AVX-512). */
int s2s_kernel_available(void);

#endif
