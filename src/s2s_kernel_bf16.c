/* bfloat16 products for translation (s2s_kernel.h: S2S_GEMM_BF16): y = x W^T with W packed once.
 *
 * The tile is the float kernel's (s2s_kernel.c): 8 rows of C by 32 columns in 16 accumulators,
 * a k step loading two vectors of W's panel and broadcasting one value of each of the 8 rows of
 * x; here a "k step" is a pair of k (one 32-bit value holds two bfloat16), and VDPBF16PS adds
 * both products of the pair into each float lane. W's panel is 32 columns by K/2 pairs,
 * pk[panel][p][32], packed when the workspace is made (the weight does not change while it
 * translates); x's rows are converted into pairs each call (M x K/2 words, a few per cent of the
 * work). Packing at every call instead (tried: streaming the 8 MB output layer of the recipe into
 * bfloat16 each decoder step) was no faster than float.
 *
 * Rounding: VCVTNE2PS2BF16, to nearest even (denormal inputs count as zero). A K that is odd
 * pads its last pair with a zero. */
#include "s2s_kernel.h"

#include <string.h>

enum { MR = 8, NR = 32 };

size_t s2s_bf16_packed_words(int N, int K) {
    return (size_t)((N + NR - 1) / NR) * (size_t)((K + 1) / 2) * NR;
}

size_t s2s_bf16_scratch_words(int M, int K) { return (size_t)((M + MR - 1) / MR * MR) * (size_t)((K + 1) / 2); }

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

/* A row of K floats as ceil(K/2) pairs of bfloat16 (x[2p] in the low half). */
static void row_pairs(const float *x, int K, uint32_t *out) {
    for (int k = 0; k < K; k += 32) {
        const int n = K - k < 32 ? K - k : 32;
        const __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        const __mmask16 k1 = n >= 32 ? (__mmask16)0xFFFF : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1u);
        const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(k1, x + k + 16), _mm512_maskz_loadu_ps(k0, x + k));
        const int np = (n + 1) / 2;
        _mm512_mask_storeu_epi32(out + k / 2, np >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << np) - 1u), v);
    }
}

void s2s_bf16_pack(const float *W, int ldw, int N, int K, uint32_t *pk) {
    const int Kp = (K + 1) / 2;
    uint32_t row[Kp];
    memset(pk, 0, sizeof(uint32_t) * s2s_bf16_packed_words(N, K));  /* columns beyond N: zeros */
    for (int j = 0; j < N; j++) {
        row_pairs(W + (long)j * ldw, K, row);
        uint32_t *col = pk + (size_t)(j / NR) * Kp * NR + j % NR;
        for (int p = 0; p < Kp; p++) col[(size_t)p * NR] = row[p];
    }
}

/* c[0..15 where m] = v + bias, + c when acc (C is read only then: reading it back, as a bias
 * copied in first would need, cost as much as the products at the output layer's size). */
static inline __attribute__((always_inline)) void put(float *c, __mmask16 m, __m512 v, __m512 bias, int acc) {
    if (!m) return;
    v = _mm512_add_ps(v, bias);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    _mm512_mask_storeu_ps(c, m, v);
}

/* The 8 rows of a (pairs, Kp apart) by one panel; the first R (1..8) go to C. */
static void tile(const uint32_t *a, int Kp, const uint32_t *b, float *c, int ldc, int R, __mmask16 m0, __mmask16 m1,
                 __m512 bias0, __m512 bias1, int acc) {
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int p = 0; p < Kp; p++, b += NR) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
            const __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[(size_t)r * Kp + p]);
            c0[r] = _mm512_dpbf16_ps(c0[r], ar, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], ar, b1);
        }
    }
    for (int r = 0; r < R; r++) {
        put(c + (long)r * ldc, m0, c0[r], bias0, acc);
        put(c + (long)r * ldc + 16, m1, c1[r], bias1, acc);
    }
}

void s2s_bf16_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                          float beta, float *C, int ldc, uint32_t *scratch) {
    const int Kp = (K + 1) / 2, Mr = (M + MR - 1) / MR * MR;
    for (int i = 0; i < M; i++) row_pairs(x + (long)i * ldx, K, scratch + (size_t)i * Kp);
    memset(scratch + (size_t)M * Kp, 0, sizeof(uint32_t) * (size_t)(Mr - M) * Kp);  /* the last tile's spare rows */
    for (int j0 = 0; j0 < N; j0 += NR) {
        const uint32_t *b = pk + (size_t)(j0 / NR) * Kp * NR;
        const int nc = N - j0;
        const __mmask16 m0 = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1u);
        const __mmask16 m1 = nc >= 32 ? (__mmask16)0xFFFF : nc <= 16 ? 0 : (__mmask16)((1u << (nc - 16)) - 1u);
        const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias + j0) : _mm512_setzero_ps();
        const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + j0 + 16) : _mm512_setzero_ps();
        for (int i0 = 0; i0 < M; i0 += MR)
            tile(scratch + (size_t)i0 * Kp, Kp, b, C + (long)i0 * ldc + j0, ldc, M - i0 < MR ? M - i0 : MR, m0, m1, bias0,
                 bias1, beta != 0.0f);
    }
}

int s2s_kernel_bf16_available(void) { return 1; }

#else

void s2s_bf16_pack(const float *W, int ldw, int N, int K, uint32_t *pk) {
    (void)W, (void)ldw, (void)N, (void)K, (void)pk;
}

void s2s_bf16_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                          float beta, float *C, int ldc, uint32_t *scratch) {
    (void)M, (void)N, (void)K, (void)x, (void)ldx, (void)pk, (void)bias, (void)beta, (void)C, (void)ldc, (void)scratch;
}

int s2s_kernel_bf16_available(void) { return 0; }

#endif
