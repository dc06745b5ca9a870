/* Our own single-threaded matrix product for the network's shapes, with AVX-512.
 *
 * C (M x N) = alpha * op(A) op(B) + beta * C, row-major. The work is cut into tiles of 8 rows
 * by 32 columns held in 16 zmm accumulators; each step of k loads two vectors of B and
 * broadcasts eight elements of A (a panel of at most 16 columns: one vector, 8 accumulators). op(A) is read in place through a row and a k stride (so
 * transposed A costs nothing); B is copied into 32-column panels when it is transposed (a
 * weight W stored N x K), and when it is K x N read in place, unless its rows are 1 KB or more
 * apart and several row tiles reuse the panel (such rows share a few L1 sets and evict each
 * other), when it is copied too. K is cut into chunks of KC so that a panel stays in L1.
 *
 * Why not BLAS for these: the recurrent products are small (batch x 3H x H, H = 32 in d2l's
 * configuration), where OpenBLAS spends as long packing, allocating its buffers under a lock
 * and dispatching as multiplying; and the OpenBLAS of this platform may be held to AVX2
 * kernels (OPENBLAS_CORETYPE). Each output element is summed over k in one fixed order,
 * whatever M, the tile it falls in or the thread, so a row's result does not depend on the
 * rows computed with it.
 * Without AVX-512 at compile time s2s_kernel_gemm returns 0 and the caller uses BLAS. */
#include "s2s_kernel.h"

#ifdef __AVX512F__
#include <immintrin.h>

enum { MR = 8, NR = 32, KC = 256 };

typedef struct {
    const float *a;   /* A(i, k) = a[i * ars + k * aks] */
    long ars, aks;
    const float *b;   /* B(k, j): packed panel (ldb = NR) or in place */
    long ldb;
    float *c;
    long ldc;
    int kc;
    __mmask16 m0, m1; /* columns of the tile that exist */
    float alpha, beta;
    int first;        /* first k chunk: apply beta; later chunks add */
} tile_args;

/* c[0..15 where m] = alpha * v (+ beta * c on the first chunk, + c on later ones). */
static inline __attribute__((always_inline)) void put(float *c, __mmask16 m, __m512 v, const tile_args *t) {
    if (!m) return;
    v = _mm512_mul_ps(_mm512_set1_ps(t->alpha), v);
    if (!t->first || t->beta == 1.0f) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    else if (t->beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(t->beta), _mm512_maskz_loadu_ps(m, c), v);
    _mm512_mask_storeu_ps(c, m, v);
}

/* R rows by 32 columns (W = 2 vectors), or by 16 when the tile's second vector has no columns
 * (W = 1: a panel of at most 16, e.g. a direction's H/2 units: half the multiply-adds, the same
 * ones for the columns that exist). */
static inline __attribute__((always_inline)) void tile(const int R, const int W, const tile_args *t) {
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    const float *a = t->a, *b = t->b;
    const long ars = t->ars, aks = t->aks, ldb = t->ldb;
    const __mmask16 m0 = t->m0, m1 = t->m1;
    /* C is read at the end (later chunks, beta != 0): fetch its rows while a long k runs. A C
     * larger than the caches (read back once per chunk) otherwise stalls the tile's end: in the
     * recipe's training a fifth of the kernel's samples sat on that read. Only where the load is
     * (no bits change); d2l's short products (kc <= 64) skip it. */
    if (t->kc > 64 && (!t->first || t->beta != 0.0f))
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            const char *c = (const char *)(t->c + r * t->ldc);  /* its first and last byte's lines */
            _mm_prefetch(c, _MM_HINT_T0);
            _mm_prefetch(c + 63, _MM_HINT_T0);
            if (W > 1) _mm_prefetch(c + 64, _MM_HINT_T0), _mm_prefetch(c + 127, _MM_HINT_T0);
        }
    for (int k = t->kc; k > 0; k--, a += aks, b += ldb) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = W > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            const __m512 ar = _mm512_set1_ps(a[r * ars]);
            c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
            if (W > 1) c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        put(t->c + r * t->ldc, m0, c0[r], t);
        if (W > 1) put(t->c + r * t->ldc + 16, m1, c1[r], t);
    }
}

/* The tile for R rows (1..MR) with the row count a constant, so that its loops unroll. */
static inline __attribute__((always_inline)) void tile_r(int R, const int W, const tile_args *t) {
    switch (R) {
    case 8: tile(8, W, t); break;
    case 7: tile(7, W, t); break;
    case 6: tile(6, W, t); break;
    case 5: tile(5, W, t); break;
    case 4: tile(4, W, t); break;
    case 3: tile(3, W, t); break;
    case 2: tile(2, W, t); break;
    default: tile(1, W, t); break;
    }
}

static void tile_rows(int R, const tile_args *t) {
    if (t->m1) tile_r(R, 2, t);
    else tile_r(R, 1, t);
}

static __mmask16 cols_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

int s2s_kernel_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    _Alignas(64) float panel[KC * NR];
    tile_args t = {.ars = ta ? 1 : lda, .aks = ta ? lda : 1, .ldc = ldc, .alpha = alpha, .beta = beta};
    for (int k0 = 0; k0 < K; k0 += KC) {
        t.kc = K - k0 < KC ? K - k0 : KC;
        t.first = k0 == 0;
        for (int j0 = 0; j0 < N; j0 += NR) {
            const int nc = N - j0 < NR ? N - j0 : NR;
            t.m0 = cols_mask(nc);
            t.m1 = cols_mask(nc - 16);
            if (tb) {  /* B(k, j) = B[j * ldb + k]: copy the panel k-major, zero beyond nc */
                for (int j = 0; j < nc; j++) {
                    const float *src = B + (long)(j0 + j) * ldb + k0;
                    for (int k = 0; k < t.kc; k++) panel[k * NR + j] = src[k];
                }
                if (nc < NR)
                    for (int k = 0; k < t.kc; k++)
                        for (int j = nc; j < NR; j++) panel[k * NR + j] = 0.0f;
                t.b = panel;
                t.ldb = NR;
            } else if (M > 2 * MR && ldb >= 256) {  /* see the top: copy far-apart rows */
                for (int k = 0; k < t.kc; k++) {
                    const float *src = B + (long)(k0 + k) * ldb + j0;
                    _mm512_store_ps(panel + k * NR, _mm512_maskz_loadu_ps(t.m0, src));
                    _mm512_store_ps(panel + k * NR + 16, _mm512_maskz_loadu_ps(t.m1, src + 16));
                }
                t.b = panel;
                t.ldb = NR;
            } else {
                t.b = B + (long)k0 * ldb + j0;
                t.ldb = ldb;
            }
            for (int i0 = 0; i0 < M; i0 += MR) {
                t.a = A + (long)i0 * t.ars + (long)k0 * t.aks;
                t.c = C + (long)i0 * ldc + j0;
                tile_rows(M - i0 < MR ? M - i0 : MR, &t);
            }
        }
    }
    return 1;
}

int s2s_kernel_available(void) { return 1; }

#else

int s2s_kernel_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    return 0;
}

int s2s_kernel_available(void) { return 0; }

#endif
