/* bfloat16 products (s2s_kernel.h: S2S_GEMM_BF16): for translation, y = x W^T with W packed
 * once; for training, any C = op(A) op(B) with both operands converted at each call
 * (s2s_bf16_gemm, at the end).
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

enum { MR = 8, NR = 32, KC = 512, MB = 256 };

size_t s2s_bf16_packed_words(int N, int K) {
    return (size_t)((N + NR - 1) / NR) * (size_t)((K + 1) / 2) * NR;
}

size_t s2s_bf16_scratch_words(int M, int K) { return (size_t)((M + MR - 1) / MR * MR) * (size_t)((K + 1) / 2); }

size_t s2s_bf16_gemm_scratch_words(int N) { return ((size_t)(N + NR - 1) / NR * NR + MB) * (KC / 2); }

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

/* The first n (clamped to 0..16) lanes. */
static __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u); }

/* A row of K floats as ceil(K/2) pairs of bfloat16 (x[2p] in the low half). */
static void row_pairs(const float *x, int K, uint32_t *out) {
    for (int k = 0; k < K; k += 32) {
        const int n = K - k < 32 ? K - k : 32;
        const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mask16(n - 16), x + k + 16),
                                                       _mm512_maskz_loadu_ps(mask16(n), x + k));
        _mm512_mask_storeu_epi32(out + k / 2, mask16((n + 1) / 2), v);
    }
}

/* M rows of x (ldx apart) as rows of ceil(K/2) pairs, then zero rows up to `rows` (a tile's
 * spare rows). */
static void rows_pairs(const float *x, long ldx, int M, int rows, int K, uint32_t *out) {
    const int Kp = (K + 1) / 2;
    for (int i = 0; i < M; i++) row_pairs(x + i * ldx, K, out + (size_t)i * Kp);
    if (rows > M) memset(out + (size_t)M * Kp, 0, sizeof(uint32_t) * (size_t)(rows - M) * Kp);
}

void s2s_bf16_pack(const float *W, int ldw, int N, int K, uint32_t *pk) {
    const int Kp = (K + 1) / 2;
    uint32_t row[Kp];
    for (int j = 0; j < N; j++) {
        row_pairs(W + (long)j * ldw, K, row);
        uint32_t *col = pk + (size_t)(j / NR) * Kp * NR + j % NR;
        for (int p = 0; p < Kp; p++) col[(size_t)p * NR] = row[p];
    }
    if (N % NR)  /* the last panel's columns beyond N: zeros */
        for (int p = 0; p < Kp; p++)
            memset(pk + (size_t)(N / NR) * Kp * NR + (size_t)p * NR + N % NR, 0, sizeof(uint32_t) * (NR - N % NR));
}

/* c[0..15 where m] = v + bias, + c when acc (C is read only then: reading it back, as a bias
 * copied in first would need, cost as much as the products at the output layer's size). */
static inline __attribute__((always_inline)) void put(float *c, __mmask16 m, __m512 v, __m512 bias, int acc) {
    if (!m) return;
    v = _mm512_add_ps(v, bias);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    _mm512_mask_storeu_ps(c, m, v);
}

/* The 8 rows of a by one panel of Kp pairs; the first R (1..8) go to C. Row r's pair p is
 * a[r * rs + p * ps]: rows of pairs (rs = the row's pairs, ps = 1), or a tile's 8 rows side by
 * side (rs = 1, ps = 8: s2s_bf16_gemm's transposed A). */
static inline __attribute__((always_inline)) void tile_s(const uint32_t *a, const long rs, const long ps, int Kp,
                                                         const uint32_t *b, float *c, int ldc, int R, __mmask16 m0,
                                                         __mmask16 m1, __m512 bias0, __m512 bias1, int acc) {
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    if (acc && Kp > 32)  /* C is read at the end: fetch it while k runs (as s2s_kernel.c's tile) */
        for (int r = 0; r < R; r++) {
            const char *cr = (const char *)(c + (long)r * ldc);
            _mm_prefetch(cr, _MM_HINT_T0), _mm_prefetch(cr + 63, _MM_HINT_T0);
            _mm_prefetch(cr + 64, _MM_HINT_T0), _mm_prefetch(cr + 127, _MM_HINT_T0);
        }
    for (int p = 0; p < Kp; p++, b += NR) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
            const __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[r * rs + p * ps]);
            c0[r] = _mm512_dpbf16_ps(c0[r], ar, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], ar, b1);
        }
    }
    for (int r = 0; r < R; r++) {
        put(c + (long)r * ldc, m0, c0[r], bias0, acc);
        put(c + (long)r * ldc + 16, m1, c1[r], bias1, acc);
    }
}

static void tile(const uint32_t *a, int Kp, const uint32_t *b, float *c, int ldc, int R, __mmask16 m0, __mmask16 m1,
                 __m512 bias0, __m512 bias1, int acc) {
    tile_s(a, Kp, 1, Kp, b, c, ldc, R, m0, m1, bias0, bias1, acc);
}

void s2s_bf16_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                          float beta, float *C, int ldc, uint32_t *scratch) {
    const int Kp = (K + 1) / 2;
    rows_pairs(x, ldx, M, (M + MR - 1) / MR * MR, K, scratch);
    for (int j0 = 0; j0 < N; j0 += NR) {
        const uint32_t *b = pk + (size_t)(j0 / NR) * Kp * NR;
        const __mmask16 m0 = mask16(N - j0), m1 = mask16(N - j0 - 16);
        const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias + j0) : _mm512_setzero_ps();
        const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + j0 + 16) : _mm512_setzero_ps();
        for (int i0 = 0; i0 < M; i0 += MR)
            tile(scratch + (size_t)i0 * Kp, Kp, b, C + (long)i0 * ldc + j0, ldc, M - i0 < MR ? M - i0 : MR, m0, m1, bias0,
                 bias1, beta != 0.0f);
    }
}

/* ---- C = op(A) op(B) (+ C) for training (s2s_bf16_gemm) ------------------------------------
 *
 * The weights change at every update, so nothing is packed ahead: for each chunk of KC k a call
 * converts all of op(B)'s 32-column panels (scratch: N x 256 words, a few MB for the output
 * layer), then op(A)'s rows MB at a time (a block in L2), each block against every panel with the
 * tiles above. Training's products have thousands of rows (the batch's positions) or, per step,
 * the batch's sentences, so the conversions are a small part of each call, unlike translation's
 * steps above. KC = 512 (256 pairs: a 32 KB panel, in L1): the recipe's K = 384 is one chunk, so
 * C is written once; with 256 its read-back took a sixth of the time. Blocking A (rather than
 * converting all its rows and streaming them past each panel) took the output layer's weight
 * gradient (8,000 x 384 x 4,000 positions) from no faster than float to 1.8x.
 * Recipe's hidden-384 training (2 threads, 60 updates): 14,023 target tokens/s against 9,166 in
 * float (1.53x) before the blocking. */

/* 16 words from two rows of 16 floats (masked): word i = (bf16(r1[i]) << 16) | bf16(r0[i]). */
static inline __m512i pair16(const float *r0, const float *r1, __mmask16 m) {
    const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r0)));
    const __m512i hi = r1 ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r1)))
                          : _mm512_setzero_si512();
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

/* op(B) for k0 + [0, kc) as s2s_bf16_pack's panels of kp pairs (columns beyond N: zero). A
 * transposed B is a weight as stored (N x K): s2s_bf16_pack itself. */
static void b_panels(int tb, const float *B, int ldb, int N, int k0, int kc, uint32_t *bp) {
    if (tb) { s2s_bf16_pack(B + k0, ldb, N, kc, bp); return; }
    const int kp = (kc + 1) / 2;
    for (int j0 = 0; j0 < N; j0 += NR) {  /* B(k, j) = B[k * ldb + j]: two rows of k give a line */
        uint32_t *panel = bp + (size_t)(j0 / NR) * NR * kp;
        for (int p = 0; p < kp; p++) {
            const float *r0 = B + (long)(k0 + 2 * p) * ldb + j0, *r1 = 2 * p + 1 < kc ? r0 + ldb : NULL;
            _mm512_storeu_si512(panel + p * NR, pair16(r0, r1, mask16(N - j0)));
            _mm512_storeu_si512(panel + p * NR + 16, pair16(r0 + 16, r1 ? r1 + 16 : NULL, mask16(N - j0 - 16)));
        }
    }
}

/* op(A)'s rows [i0, i0 + rows) for k0 + [0, kc) into a (rows a multiple of 8; rows beyond M:
 * zero): rows of kp pairs, or (transposed: A's rows are k) 16 rows at a time into two tiles'
 * side-by-side layout (tile t's pair p of row r at a[(t * kp + p) * 8 + r]). */
static void a_block(int ta, const float *A, int lda, int M, int i0, int rows, int k0, int kc, uint32_t *a) {
    const int kp = (kc + 1) / 2;
    if (!ta) {
        rows_pairs(A + (long)i0 * lda + k0, lda, M - i0 < rows ? M - i0 : rows, rows, kc, a);
        return;
    }
    for (int p = 0; p < kp; p++) {
        const float *r0 = A + (long)(k0 + 2 * p) * lda + i0, *r1 = 2 * p + 1 < kc ? r0 + lda : NULL;
        for (int i = 0; i < rows; i += 16) {
            const __m512i w = pair16(r0 + i, r1 ? r1 + i : NULL, mask16(M - i0 - i));
            uint32_t *t0 = a + (size_t)i * kp + (size_t)p * MR;
            _mm256_storeu_si256((__m256i *)t0, _mm512_castsi512_si256(w));
            if (i + MR < rows) _mm256_storeu_si256((__m256i *)(t0 + (size_t)MR * kp), _mm512_extracti64x4_epi64(w, 1));
        }
    }
}

void s2s_bf16_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc, uint32_t *scratch) {
    const int panels = (N + NR - 1) / NR;
    uint32_t *bp = scratch, *a = scratch + (size_t)panels * NR * (KC / 2);
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2;
        const int acc = k0 > 0 || beta != 0.0f;
        b_panels(tb, B, ldb, N, k0, kc, bp);
        for (int i0 = 0; i0 < M; i0 += MB) {
            const int rows = M - i0 < MB ? (M - i0 + MR - 1) / MR * MR : MB;
            a_block(ta, A, lda, M, i0, rows, k0, kc, a);
            for (int j = 0; j < panels; j++) {
                const int j0 = j * NR;
                const __mmask16 m0 = mask16(N - j0), m1 = mask16(N - j0 - 16);
                const uint32_t *panel = bp + (size_t)j * NR * kp;
                for (int i = 0; i < rows && i0 + i < M; i += MR) {
                    const int R = M - i0 - i < MR ? M - i0 - i : MR;
                    float *c = C + (long)(i0 + i) * ldc + j0;
                    if (ta) tile_s(a + (size_t)i * kp, 1, MR, kp, panel, c, ldc, R, m0, m1, _mm512_setzero_ps(),
                                   _mm512_setzero_ps(), acc);
                    else tile_s(a + (size_t)i * kp, kp, 1, kp, panel, c, ldc, R, m0, m1, _mm512_setzero_ps(),
                                _mm512_setzero_ps(), acc);
                }
            }
        }
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

void s2s_bf16_gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc, uint32_t *scratch) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    (void)scratch;
}

int s2s_kernel_bf16_available(void) { return 0; }

#endif
