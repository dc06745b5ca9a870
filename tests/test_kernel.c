/* The fast matrix products (our AVX-512 kernel and BLAS) against the reference loop: every
 * transpose, shapes around the kernel's tile and chunk edges, padded leading dimensions,
 * alpha and beta (beta 0 must not read C), and row results that do not depend on batching. */
#include "harness.h"
#include "s2s_kernel.h"
#include "s2s_ws.h"
#include "s2s_linalg.h"
#include "s2s_math.h"
#include "s2s_rng.h"

#include <stdlib.h>
#include <string.h>

static float uni(s2s_rng *r) { return (float)(s2s_rng_uniform(r) * 2.0 - 1.0); }

/* One product through the code g says and through the reference; 0 when they agree. */
static int one_case(s2s_gemm_kind g, s2s_rng *r, int ta, int tb, int M, int N, int K, float alpha, float beta) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    const long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc);
    for (long i = 0; i < na; i++) A[i] = uni(r);
    for (long i = 0; i < nb; i++) B[i] = uni(r);
    for (long i = 0; i < nc; i++) C[i] = R[i] = beta == 0.0f ? NAN : uni(r);
    s2s_gemm(g, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    s2s_gemm(S2S_GEMM_REF, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    int bad = 0;
    for (int i = 0; i < M && !bad; i++)
        for (int j = 0; j < ldc && !bad; j++) {
            float c = C[(long)i * ldc + j], ref = R[(long)i * ldc + j];
            if (j >= N) {  /* padding between rows: untouched */
                bad = !(c == ref || (isnan(c) && isnan(ref)));
                if (bad) fprintf(stderr, "  ta%d tb%d %dx%dx%d: wrote padding at (%d,%d)\n", ta, tb, M, N, K, i, j);
                continue;
            }
            double tol = 2e-6 * K + 1e-6 + 1e-6 * fabs(ref);
            if (!(fabs((double)c - ref) <= tol)) {
                fprintf(stderr, "  ta%d tb%d %dx%dx%d alpha %g beta %g: (%d,%d) = %.9g, reference %.9g\n", ta, tb,
                        M, N, K, alpha, beta, i, j, c, ref);
                bad = 1;
            }
        }
    free(A), free(B), free(C), free(R);
    return bad;
}

static int check_backend(s2s_gemm_kind which) {
    if (s2s_gemm_resolve(which) < 0) SKIP("this build has no AVX-512 kernel");
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64, 70};
    static const int Ns[] = {1, 5, 15, 16, 17, 31, 32, 33, 96, 201, 300};  /* 300: B rows >= 1 KB apart */
    static const int Ks[] = {1, 2, 7, 32, 96, 255, 256, 257, 600};
    static const float alphas[] = {1.0f, -0.5f}, betas[] = {0.0f, 1.0f, 0.3f};
    s2s_rng r;
    s2s_rng_seed(&r, 7);
    int fails = 0, cases = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int n = 0; n < 60; n++) {  /* a sample of the shape grid, the same every run */
                int M = Ms[s2s_rng_next(&r) % 12], N = Ns[s2s_rng_next(&r) % 11], K = Ks[s2s_rng_next(&r) % 9];
                float al = alphas[s2s_rng_next(&r) % 2], be = betas[s2s_rng_next(&r) % 3];
                fails += one_case(which, &r, ta, tb, M, N, K, al, be);
                cases++;
            }
    /* the copied K x N panels: many rows, B rows far apart, every tail width */
    for (int N = 257; N <= 288; N += 3) fails += one_case(which, &r, N & 1, 0, 40, N, 300, 1.0f, 0.5f), cases++;
    /* every tile height and tail width once, with a K that spans two chunks */
    for (int M = 1; M <= 9; M++)
        for (int N = 1; N <= 33; N += 4) fails += one_case(which, &r, M & 1, N & 1, M, N, 300, 1.0f, 0.0f), cases++;
    CHECK_MSG(fails == 0, "%d of %d products differ from the reference", fails, cases);
    return 0;
}

static int test_own_kernel_matches_reference(void) { return check_backend(S2S_GEMM_OWN); }
static int test_blas_matches_reference(void) { return check_backend(S2S_GEMM_BLAS); }

/* A row's result is the same bits whether it is computed alone or among 70 rows (the kernel
 * sums each element in one order), so batched and one-at-a-time translation agree. */
static int test_own_kernel_rows_independent(void) {
    if (!s2s_kernel_available()) SKIP("this build has no AVX-512 kernel");
    enum { M = 70, N = 201, K = 300 };
    s2s_rng r;
    s2s_rng_seed(&r, 3);
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K);
    float *C = malloc(sizeof(float) * M * N), *c = malloc(sizeof(float) * N);
    for (int i = 0; i < M * K; i++) A[i] = uni(&r);
    for (int i = 0; i < N * K; i++) W[i] = uni(&r);
    for (int tb = 0; tb < 2; tb++) {
        s2s_kernel_gemm(0, tb, M, N, K, 1.0f, A, K, W, tb ? K : N, 0.0f, C, N);
        int differ = 0;
        for (int i = 0; i < M; i++) {
            s2s_kernel_gemm(0, tb, 1, N, K, 1.0f, A + i * K, K, W, tb ? K : N, 0.0f, c, N);
            differ += memcmp(c, C + i * N, sizeof(float) * N) != 0;
        }
        CHECK_MSG(differ == 0, "tb %d: %d rows differ between M=1 and M=%d", tb, differ, M);
    }
    free(A), free(W), free(C), free(c);
    return 0;
}

/* lanes_max / lanes_argmax (the greedy choice) against plain loops: every length up to 70
 * (vector blocks and tails), the maximum repeated (the first one wins), NaNs ignored. */
static int test_lanes_argmax(void) {
    s2s_rng r;
    s2s_rng_seed(&r, 9);
    float x[70];
    for (int n = 1; n <= 70; n++)
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < n; i++) x[i] = (float)s2s_rng_below(&r, 7) - 3.0f;  /* many ties */
            if (rep % 4 == 1) x[s2s_rng_below(&r, n)] = NAN;
            if (rep % 4 == 2) for (int i = 0; i < n; i++) x[i] = -1e30f;
            float m = -INFINITY;
            int at = 0;
            for (int i = 0; i < n; i++)
                if (x[i] > m) { m = x[i]; at = i; }
            CHECK_MSG(lanes_max(x, n) == m, "n %d: max %g, want %g", n, (double)lanes_max(x, n), (double)m);
            CHECK_MSG(lanes_argmax(x, n) == at, "n %d: argmax %d, want %d", n, lanes_argmax(x, n), at);
        }
    return 0;
}

/* A packed format's functions, so one test checks both (the bfloat16 and the 8-bit products). */
typedef struct packed_fmt {
    const char *name;
    int (*available)(void);
    size_t (*words)(int N, int K);
    size_t (*scratch)(int M, int K);
    void (*pack)(const float *W, int ldw, int N, int K, uint32_t *pk);
    void (*gemm)(int M, int N, int K, const float *x, int ldx, const uint32_t *pk, const float *bias, float beta,
                 float *C, int ldc, uint32_t *scratch);
} packed_fmt;
static const packed_fmt fmt_bf16 = {"bfloat16", s2s_kernel_bf16_available, s2s_bf16_packed_words, s2s_bf16_scratch_words,
                                    s2s_bf16_pack, s2s_bf16_gemm_packed};
static const packed_fmt fmt_int8 = {"int8", s2s_kernel_int8_available, s2s_i8_packed_words, s2s_i8_scratch_words,
                                    s2s_i8_pack, s2s_i8_gemm_packed};

/* The bound of one element's error: bfloat16 rounds both operands to 8 bits of mantissa (2^-8
 * of each, so 2^-7 of the sum of |x_k w_k|); 8-bit integers round x_k to half its row's step
 * s = max|x| / 127 and w_k to half its column's step t, so |x_k| t / 2 + |w_k| s / 2 + s t / 4
 * (bounded here by twice that, for the float sums). */
static double packed_bound(const packed_fmt *f, const float *x, const float *w, int K) {
    double mag = 0.0, bx = 0.0, bw = 0.0, sx = 0.0, sw = 0.0;
    for (int k = 0; k < K; k++) {
        mag += fabs((double)x[k] * w[k]);
        bx = fmax(bx, fabs((double)x[k])), bw = fmax(bw, fabs((double)w[k]));
    }
    if (f->gemm == s2s_bf16_gemm_packed) return mag / 128.0;
    sx = bx / 127.0, sw = bw / 127.0;
    double e = 0.0;
    for (int k = 0; k < K; k++) e += fabs((double)x[k]) * sw / 2 + fabs((double)w[k]) * sx / 2 + sx * sw / 4;
    return 2.0 * e;
}

/* The products from a packed weight (S2S_GEMM_BF16's and INT8's step products) against the
 * reference in double: each element within its format's bound (packed_bound) of x W^T plus the
 * bias and (beta 1) C's value; every tile height and tail width, K not a multiple of 2 or 4,
 * padded leading dimensions (the padding untouched); and a row's result the same bits alone or
 * among 70 rows. */
static void packed_products(const packed_fmt *f) {
    static const int Ms[] = {1, 2, 7, 8, 9, 17, 70}, Ns[] = {1, 15, 16, 17, 31, 32, 33, 100}, Ks[] = {1, 2, 3, 31, 32, 33, 256, 301};
    s2s_rng r;
    s2s_rng_seed(&r, 11);
    int fails = 0, cases = 0;
    for (int mi = 0; mi < 7; mi++)
        for (int ni = 0; ni < 8; ni++)
            for (int ki = 0; ki < 8; ki++) {
                const int M = Ms[mi], N = Ns[ni], K = Ks[ki], ldx = K + 3, ldw = K + 1, ldc = N + 2, with_bias = (mi + ni) & 1;
                const float beta = (float)((ni + ki) & 1);
                float *x = malloc(sizeof(float) * M * ldx), *W = malloc(sizeof(float) * N * ldw), *b = malloc(sizeof(float) * N);
                float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
                uint32_t *pk = malloc(sizeof(uint32_t) * f->words(N, K));
                uint32_t *sc = malloc(sizeof(uint32_t) * f->scratch(M, K));
                for (int i = 0; i < M * ldx; i++) x[i] = uni(&r) * (1 + i % 3);  /* rows and columns of unequal range */
                for (int i = 0; i < N * ldw; i++) W[i] = uni(&r) * (1 + i % 5);
                for (int j = 0; j < N; j++) b[j] = uni(&r);
                for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = i % ldc < N ? 4 * uni(&r) : NAN;
                f->pack(W, ldw, N, K, pk);
                f->gemm(M, N, K, x, ldx, pk, with_bias ? b : NULL, beta, C, ldc, sc);
                int bad = 0;
                for (int i = 0; i < M && !bad; i++)
                    for (int j = 0; j < ldc && !bad; j++) {
                        const float c = C[(long)i * ldc + j];
                        if (j >= N) { bad = !isnan(c); continue; }
                        double ref = (with_bias ? b[j] : 0.0) + beta * C0[(long)i * ldc + j];
                        for (int k = 0; k < K; k++) ref += (double)x[i * ldx + k] * W[j * ldw + k];
                        const double bound = packed_bound(f, x + i * ldx, W + j * ldw, K);
                        bad = !(fabs(c - ref) <= bound + 1e-6 * (1 + fabs(ref)));
                        if (bad) fprintf(stderr, "  %s %dx%dx%d: (%d,%d) = %.9g, reference %.9g (bound %.3g)\n", f->name, M, N, K, i, j, c, ref, bound);
                    }
                if (!bad && M == 70) {  /* the rows one at a time: the same bits */
                    float *c1 = malloc(sizeof(float) * N);
                    for (int i = 0; i < M && !bad; i++) {
                        memcpy(c1, C0 + (long)i * ldc, sizeof(float) * N);
                        f->gemm(1, N, K, x + i * ldx, ldx, pk, with_bias ? b : NULL, beta, c1, N, sc);
                        bad = memcmp(c1, C + (long)i * ldc, sizeof(float) * N) != 0;
                        if (bad) fprintf(stderr, "  %s %dx%dx%d: row %d alone differs\n", f->name, M, N, K, i);
                    }
                    free(c1);
                }
                fails += bad, cases++;
                free(x), free(W), free(b), free(C), free(C0), free(pk), free(sc);
            }
    CHECK_MSG(fails == 0, "%s: %d of %d products out of bound", f->name, fails, cases);
}
static int test_bf16_packed(void) {
    if (!s2s_kernel_bf16_available()) SKIP("this build has no AVX512-BF16 kernel");
    packed_products(&fmt_bf16);
    return 0;
}
static int test_int8_packed(void) {
    if (!s2s_kernel_int8_available()) SKIP("this build has no AVX512-VNNI kernel");
    packed_products(&fmt_int8);
    return 0;
}

/* 8-bit quantization's own cases: a zero row of x or of W (scale 1, exact zeros), and rows whose
 * values are whole numbers of their steps (maximum 127: step 1), computed exactly, the
 * unsigned offset's correction included. */
static int test_int8_edges(void) {
    if (!s2s_kernel_int8_available()) SKIP("this build has no AVX512-VNNI kernel");
    enum { N = 3, K = 5 };
    const float W[N * K] = {0, 0, 0, 0, 0, 127, -2, 5, 127, 0, -3, 0, 0, 0, 127};
    const float x[2 * K] = {0, 0, 0, 0, 0, 127, 64, -127, 0, 5};
    float C[2 * N];
    uint32_t pk[256], sc[64];
    CHECK(s2s_i8_packed_words(N, K) <= 256 && s2s_i8_scratch_words(2, K) <= 64);
    s2s_i8_pack(W, K, N, K, pk);
    s2s_i8_gemm_packed(2, N, K, x, K, pk, NULL, 0.0f, C, N, sc);
    for (int j = 0; j < N; j++) CHECK(C[j] == 0.0f);  /* the zero row */
    CHECK(C[N] == 0.0f);                                /* the zero column */
    CHECK_MSG(C[N + 1] == 127 * 127 - 64 * 2 - 127 * 5 && C[N + 2] == -3 * 127 + 5 * 127, "%g %g", C[N + 1], C[N + 2]);
    return 0;
}

/* A workspace's packed copies (s2s_pk_linear), in each format: a weight is packed at its first
 * call and found again by (W, N, K); calls of more rows than the scratch holds go in chunks with
 * the same bits as one product; a store without room, or K beyond the scratch's, leaves the call
 * to float (returns 0, counted). */
static void pk_linear(const packed_fmt *f, int int8) {
    enum { M = 21, N = 40, K = 24, LDW = 30 };
    s2s_rng r;
    s2s_rng_seed(&r, 5);
    float W[N * LDW], x[M * K], b[N], y[M * N], want[M * N];
    for (int i = 0; i < N * LDW; i++) W[i] = uni(&r);
    for (int i = 0; i < M * K; i++) x[i] = uni(&r);
    for (int i = 0; i < N; i++) b[i] = uni(&r);
    const size_t words = f->words(N, K);
    uint32_t *store = malloc(sizeof(uint32_t) * 2 * words), *sc = malloc(sizeof(uint32_t) * f->scratch(24, K));
    uint32_t *pk1 = malloc(sizeof(uint32_t) * words);
    f->pack(W, LDW, N, K, pk1);
    f->gemm(M, N, K, x, K, pk1, b, 0.0f, want, N, sc);
    s2s_pk pk;
    memset(&pk, 0, sizeof pk);
    pk.int8 = int8, pk.store = store, pk.cap = 2 * words - 1, pk.scratch = sc, pk.rows = 8, pk.kmax = K;
    for (int i = 0; i < M * N; i++) y[i] = NAN;
    CHECK(s2s_pk_linear(&pk, W, LDW, N, K, M, x, K, b, 0.0f, y, N) == 1);
    CHECK_MSG(memcmp(y, want, sizeof y) == 0, "%s: chunks of 8 rows differ from one product", f->name);
    CHECK(pk.n == 1 && pk.used == words);
    CHECK(s2s_pk_linear(&pk, W, LDW, N, K, M, x, K, NULL, 1.0f, y, N) == 1);  /* y += x W^T */
    CHECK(pk.n == 1);
    int close = 1;
    for (int i = 0; i < M * N; i++) close &= fabsf(y[i] - (2 * want[i] - b[i % N])) <= 1e-4f * (1 + fabsf(y[i]));
    CHECK(close);
    CHECK(s2s_pk_linear(&pk, W + 1, LDW, N, K, M, x, K, b, 0.0f, y, N) == 0);  /* no room for a second */
    CHECK(pk.misses == 1 && pk.n == 1);
    CHECK(s2s_pk_linear(&pk, W, LDW, N, K + 2, 1, x, K + 2, b, 0.0f, y, N) == 0);  /* K beyond the scratch */
    CHECK(s2s_pk_linear(NULL, W, LDW, N, K, M, x, K, b, 0.0f, y, N) == 0);
    free(store), free(sc), free(pk1);
}
static int test_pk_linear(void) {
    if (!s2s_kernel_bf16_available() && !s2s_kernel_int8_available()) SKIP("this build has neither packed kernel");
    if (s2s_kernel_bf16_available()) pk_linear(&fmt_bf16, 0);
    if (s2s_kernel_int8_available()) pk_linear(&fmt_int8, 1);
    return 0;
}

/* Training's bfloat16 products (s2s_gemm with S2S_GEMM_BF16, s2s_bf16_gemm): every transpose,
 * every tile height and tail width, M over the 256-row blocks, K around the 512-k chunks and odd, padded leading
 * dimensions (padding untouched), beta 0 (C not read: NaN there) and 1, each element within
 * bfloat16's bound (|sum| of |a_k b_k| / 128) of the reference in double; a row's result the same
 * bits alone or among the others; alpha or beta it does not take (-0.5, 0.3) computed in float. */
static int test_bf16_training_products(void) {
    if (s2s_gemm_resolve(S2S_GEMM_BF16) < 0) SKIP("this build has no AVX512-BF16 kernel");
    static const int Ms[] = {1, 7, 8, 9, 16, 17, 40, 300}, Ns[] = {1, 16, 17, 31, 32, 33, 70}, Ks[] = {1, 2, 3, 300, 511, 512, 513, 1025};
    s2s_rng r;
    s2s_rng_seed(&r, 11);
    int fails = 0, cases = 0, split = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int n = 0; n < 40; n++, cases++) {
                const int M = Ms[s2s_rng_next(&r) % 8], N = Ns[s2s_rng_next(&r) % 7], K = Ks[s2s_rng_next(&r) % 8];
                const float beta = (float)(n % 2);
                const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                const long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
                float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
                float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc), *row = malloc(sizeof(float) * ldc);
                for (long i = 0; i < na; i++) A[i] = uni(&r);
                for (long i = 0; i < nb; i++) B[i] = uni(&r);
                for (long i = 0; i < nc; i++) C[i] = R[i] = beta == 0.0f ? NAN : uni(&r);
                s2s_gemm(S2S_GEMM_BF16, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
                s2s_gemm(S2S_GEMM_REF, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, R, ldc);
                int bad = 0;
                for (int i = 0; i < M && !bad; i++)
                    for (int j = 0; j < ldc && !bad; j++) {
                        const double c = C[(long)i * ldc + j], ref = R[(long)i * ldc + j];
                        if (j >= N) { bad = !isnan(c) && c != ref; continue; }
                        double mag = 0.0;
                        for (int k = 0; k < K; k++)
                            mag += fabs((double)(ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) *
                                        (tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j]));
                        bad = !(fabs(c - ref) <= mag / 128.0 + 1e-6 * (1 + fabs(ref)));
                        if (bad) fprintf(stderr, "  ta%d tb%d %dx%dx%d beta %g: (%d,%d) = %.9g, reference %.9g\n", ta, tb, M, N, K,
                                         (double)beta, i, j, c, ref);
                    }
                /* the last row alone: the same bits (beta 0 only: C was overwritten) */
                if (!bad && beta == 0.0f && M > 1) {
                    s2s_gemm(S2S_GEMM_BF16, ta, tb, 1, N, K, 1.0f, ta ? A + (M - 1) : A + (long)(M - 1) * lda, lda, B, ldb, 0.0f, row, ldc);
                    split += memcmp(row, C + (long)(M - 1) * ldc, sizeof(float) * N) != 0;
                }
                fails += bad;
                free(A), free(B), free(C), free(R), free(row);
            }
    CHECK_MSG(fails == 0, "%d of %d bfloat16 products out of bound", fails, cases);
    CHECK_MSG(split == 0, "%d rows differ alone and among others", split);
    /* what it does not take goes to float (the float kernel's tolerance) */
    fails = 0;
    for (int ta = 0; ta < 2; ta++) {
        fails += one_case(S2S_GEMM_BF16, &r, ta, 1 - ta, 17, 33, 300, -0.5f, 1.0f);
        fails += one_case(S2S_GEMM_BF16, &r, ta, ta, 9, 31, 257, 1.0f, 0.3f);
    }
    CHECK_MSG(fails == 0, "alpha or beta it does not take: not float's product");
    return 0;
}

int main(void) {
    RUN(test_lanes_argmax);
    RUN(test_own_kernel_matches_reference);
    RUN(test_blas_matches_reference);
    RUN(test_own_kernel_rows_independent);
    RUN(test_bf16_packed);
    RUN(test_int8_packed);
    RUN(test_int8_edges);
    RUN(test_pk_linear);
    RUN(test_bf16_training_products);
    TEST_END();
}
