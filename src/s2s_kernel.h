/* Our own matrix product kernel (AVX-512), used by s2s_gemm in place of BLAS where it is
 * available. Same contract as s2s_gemm (row-major, op(A) M x K, op(B) K x N); returns 1 when
 * it did the product, 0 when this build has no such kernel. */
#ifndef S2S_KERNEL_H
#define S2S_KERNEL_H
#include <stddef.h>
#include <stdint.h>

int s2s_kernel_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);
/* 1 when this build has the kernel (compiled with AVX-512). */
int s2s_kernel_available(void);

/* Products in bfloat16 with float sums (s2s_kernel_bf16.c), for a weight W (N x K, as stored: y =
 * x W^T) used by many calls: W is packed once (s2s_bf16_pack), then each call converts only its
 * rows of x. Each operand is rounded to bfloat16 (to nearest even: 8 bits of mantissa), the
 * products of a pair of k are summed into float by VDPBF16PS (32 multiply-adds an instruction,
 * VFMADD231PS does 16), each element over k in one order whatever M, so a row's result does not
 * depend on the rows computed with it. Not float's numbers: for translation (S2S_GEMM_BF16). */
int s2s_kernel_bf16_available(void);  /* 1 when the build has AVX512-BF16 */
/* Words (uint32) of W packed: 32-column panels of K/2 pairs (rounded up). */
size_t s2s_bf16_packed_words(int N, int K);
void s2s_bf16_pack(const float *W, int ldw, int N, int K, uint32_t *pk);
/* Words of a call's scratch: x's rows as pairs, ceil(M/8)*8 x ceil(K/2). */
size_t s2s_bf16_scratch_words(int M, int K);
/* C (M x N) = x W^T + bias (bias [N], or NULL), + C when beta is 1 (beta: 0 or 1), from pk =
 * s2s_bf16_pack(W); scratch: s2s_bf16_scratch_words(M, K). Needs s2s_kernel_bf16_available(). */
void s2s_bf16_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                          float beta, float *C, int ldc, uint32_t *scratch);

/* Training's products in bfloat16 (S2S_GEMM_BF16 in a trainer's workspace): C (M x N) = op(A)
 * op(B) (+ C when beta is 1; beta 0 or 1), s2s_gemm's row-major contract with alpha 1. Both
 * operands are rounded as above at each call (op(B)'s panels for a chunk of 512 k at once, then
 * op(A)'s rows 256 at a time), so nothing is kept between calls: the weights change at every
 * update. Sums in float, over k in one order whatever M. scratch:
 * s2s_bf16_gemm_scratch_words(N) words. Needs s2s_kernel_bf16_available(). */
size_t s2s_bf16_gemm_scratch_words(int N);
void s2s_bf16_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc, uint32_t *scratch);

/* The same in 8-bit integers (s2s_kernel_int8.c: u8 x s8 products summed in int32 by VPDPBUSD,
 * 64 multiply-adds an instruction), each row of x and each row of W with its own scale (its
 * max |value| / 127): for translation (S2S_GEMM_INT8), further from float's numbers than
 * bfloat16. s2s_i8_pack quantizes W (N x K) once; the calls as s2s_bf16_gemm_packed's, scratch
 * s2s_i8_scratch_words(M, K) words. Needs s2s_kernel_int8_available() for the products (the
 * packing is plain C). */
int s2s_kernel_int8_available(void);  /* 1 when the build has AVX512-VNNI */
size_t s2s_i8_packed_words(int N, int K);
size_t s2s_i8_scratch_words(int M, int K);
void s2s_i8_pack(const float *W, int ldw, int N, int K, uint32_t *pk);
void s2s_i8_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                        float beta, float *C, int ldc, uint32_t *scratch);

#endif
