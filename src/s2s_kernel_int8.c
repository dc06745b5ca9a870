/* 8-bit integer products for translation (s2s_kernel.h: S2S_GEMM_INT8): y = x W^T with W
 * quantized and packed once, as CTranslate2's int8 and fbgemm's u8s8 products do.
 *
 * W: each column j of y (row j of W) to signed 8 bits with its own scale, w_j = max|W_j| / 127,
 * q_jk = round(W_jk / w_j). x: each row i to 8 bits with its own scale, s_i = max|x_i| / 127,
 * u_ik = round(x_ik / s_i) + 128 (unsigned: VPDPBUSD multiplies unsigned by signed bytes). So
 *     y_ij = s_i w_j (Σ_k u_ik q_jk - 128 Σ_k q_jk) + b_j,
 * the sum exact in 32-bit integers (|u q| <= 255 * 127, 2^31 allows K up to 66,000), the
 * correction 128 Σ_k q_jk kept per column beside the panels. Each scale depends on its own row
 * or column only, so a row's result does not depend on the rows computed with it.
 *
 * The tile is the bfloat16 kernel's (s2s_kernel_bf16.c): 8 rows of C by 32 columns in 16
 * accumulators; a k step is a quad of k (one 32-bit value holds four bytes), and VPDPBUSD adds
 * the four products of each lane's quad (64 multiply-adds an instruction, VDPBF16PS does 32).
 * Packed: W's panels pk[panel][q][32] (four bytes a word), then the columns' scales (float) and
 * corrections (int32), 32 per panel. A K that is not a multiple of 4 pads its last quad with
 * zero weights. */
#include "s2s_kernel.h"

#include <math.h>
#include <string.h>

enum { MR = 8, NR = 32 };

static size_t panels(int N) { return (size_t)((N + NR - 1) / NR); }

size_t s2s_i8_packed_words(int N, int K) { return panels(N) * ((size_t)((K + 3) / 4) * NR + 2 * NR); }

size_t s2s_i8_scratch_words(int M, int K) {
    const size_t Mr = (size_t)(M + MR - 1) / MR * MR;
    return Mr * (size_t)((K + 3) / 4) + Mr;
}

void s2s_i8_pack(const float *W, int ldw, int N, int K, uint32_t *pk) {
    const int Kq = (K + 3) / 4;
    const size_t P = panels(N);
    memset(pk, 0, sizeof(uint32_t) * s2s_i8_packed_words(N, K));  /* columns beyond N, the last quad: zeros */
    float *scale = (float *)(pk + P * Kq * NR);
    int32_t *corr = (int32_t *)(scale + P * NR);
    for (int j = 0; j < N; j++) {
        const float *w = W + (long)j * ldw;
        float mx = 0.0f;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, fabsf(w[k]));
        const float s = mx > 0.0f ? mx / 127.0f : 1.0f, inv = 1.0f / s;
        int8_t *col = (int8_t *)(pk + (size_t)(j / NR) * Kq * NR + j % NR);
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(w[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            col[(size_t)(k / 4) * NR * 4 + k % 4] = (int8_t)v;
            sum += (int32_t)v;
        }
        scale[j] = s;
        corr[j] = 128 * sum;
    }
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>

static __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u); }

/* A row of K floats as ceil(K/4) quads of unsigned bytes (x[4q] in the low byte); returns its
 * scale. The padding of the last quad is 128 (zero): its weights are zero anyway. */
static float row_quads(const float *x, int K, uint8_t *out) {
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(K - k), x + k)));
    const float m = _mm512_reduce_max_ps(mx), s = m > 0.0f ? m / 127.0f : 1.0f;
    const __m512 inv = _mm512_set1_ps(1.0f / s);
    const __m512i off = _mm512_set1_epi32(128);
    const int bytes = (K + 3) / 4 * 4;
    for (int k = 0; k < bytes; k += 16) {
        const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(K - k), x + k), inv)), off);
        _mm_mask_storeu_epi8(out + k, lanes(bytes - k), _mm512_cvtepi32_epi8(q));
    }
    return s;
}

/* acc += the four products of each lane's quad, u (unsigned bytes) by s (signed). In asm: GCC's
 * intrinsic (_mm512_dpbusd_epi32) copied all 16 accumulators between registers at every k step
 * (1.3x slower than the same loop in bfloat16); the asm keeps each in place. */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

/* c[0..15 where m] = v + c when acc */
static inline __attribute__((always_inline)) void put(float *c, __mmask16 m, __m512 v, int acc) {
    if (!m) return;
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    _mm512_mask_storeu_ps(c, m, v);
}

typedef struct cols {  /* one panel's columns: which are real, their scales, corrections, bias */
    __mmask16 m0, m1;
    __m512 w0, w1, b0, b1;
    __m512i k0, k1;
} cols;

/* The 8 rows of a (quads, Kq apart; scales xs) by one panel; the first R (1..8) go to C. */
static void tile(const uint32_t *a, const float *xs, int Kq, const uint32_t *b, float *c, int ldc, int R,
                 const cols *q, int acc) {
    __m512i c0[MR], c1[MR];
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_si512();
    for (int p = 0; p < Kq; p++, b += NR) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 16);
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
            const __m512i ar = _mm512_set1_epi32((int)a[(size_t)r * Kq + p]);
            c0[r] = dpbusd(c0[r], ar, b0);
            c1[r] = dpbusd(c1[r], ar, b1);
        }
    }
    for (int r = 0; r < R; r++) {
        const __m512 s = _mm512_set1_ps(xs[r]);
        put(c + (long)r * ldc, q->m0,
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c0[r], q->k0)), _mm512_mul_ps(s, q->w0), q->b0), acc);
        put(c + (long)r * ldc + 16, q->m1,
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c1[r], q->k1)), _mm512_mul_ps(s, q->w1), q->b1), acc);
    }
}

void s2s_i8_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                        float beta, float *C, int ldc, uint32_t *scratch) {
    const int Kq = (K + 3) / 4, Mr = (M + MR - 1) / MR * MR;
    const size_t P = panels(N);
    const float *scale = (const float *)(pk + P * Kq * NR);
    const int32_t *corr = (const int32_t *)(scale + P * NR);
    float *xs = (float *)(scratch + (size_t)Mr * Kq);
    for (int i = 0; i < M; i++) xs[i] = row_quads(x + (long)i * ldx, K, (uint8_t *)(scratch + (size_t)i * Kq));
    memset(scratch + (size_t)M * Kq, 0, sizeof(uint32_t) * (size_t)(Mr - M) * Kq);  /* the last tile's spare rows */
    for (int i = M; i < Mr; i++) xs[i] = 0.0f;
    for (int j0 = 0; j0 < N; j0 += NR) {
        const uint32_t *b = pk + (size_t)(j0 / NR) * Kq * NR;
        cols q;
        q.m0 = lanes(N - j0), q.m1 = lanes(N - j0 - 16);
        q.w0 = _mm512_loadu_ps(scale + j0), q.w1 = _mm512_loadu_ps(scale + j0 + 16);
        q.k0 = _mm512_loadu_si512(corr + j0), q.k1 = _mm512_loadu_si512(corr + j0 + 16);
        q.b0 = bias ? _mm512_maskz_loadu_ps(q.m0, bias + j0) : _mm512_setzero_ps();
        q.b1 = bias ? _mm512_maskz_loadu_ps(q.m1, bias + j0 + 16) : _mm512_setzero_ps();
        for (int i0 = 0; i0 < M; i0 += MR)
            tile(scratch + (size_t)i0 * Kq, xs + i0, Kq, b, C + (long)i0 * ldc + j0, ldc, M - i0 < MR ? M - i0 : MR, &q,
                 beta != 0.0f);
    }
}

int s2s_kernel_int8_available(void) { return 1; }

#else

void s2s_i8_gemm_packed(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias,
                        float beta, float *C, int ldc, uint32_t *scratch) {
    (void)M, (void)N, (void)K, (void)x, (void)ldx, (void)pk, (void)bias, (void)beta, (void)C, (void)ldc, (void)scratch;
}

int s2s_kernel_int8_available(void) { return 0; }

#endif
