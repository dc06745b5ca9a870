/* Matrix products: our AVX-512 kernel, cblas_sgemm, or the reference loop, as the caller says. */
#include "s2s_linalg.h"

#include "s2s_kernel.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

int s2s_gemm_resolve(s2s_gemm_kind g) {
    switch (g) {
    case S2S_GEMM_DEFAULT: return s2s_kernel_available() ? S2S_GEMM_OWN : S2S_GEMM_BLAS;
    case S2S_GEMM_OWN: return s2s_kernel_available() ? S2S_GEMM_OWN : -1;
    case S2S_GEMM_BF16: return s2s_kernel_available() && s2s_kernel_bf16_available() ? S2S_GEMM_BF16 : -1;
    case S2S_GEMM_INT8: return s2s_kernel_available() && s2s_kernel_int8_available() ? S2S_GEMM_INT8 : -1;
    case S2S_GEMM_BLAS: case S2S_GEMM_REF: return g;
    }
    return -1;
}

const char *s2s_gemm_needs(s2s_gemm_kind g) {
    return g == S2S_GEMM_BF16 ? "AVX512-BF16" : g == S2S_GEMM_INT8 ? "AVX512-VNNI" : "AVX-512";
}

int s2s_gemm_packed(s2s_gemm_kind g) { return g == S2S_GEMM_BF16 || g == S2S_GEMM_INT8; }

static const char *const kind_names[] = {"default", "own", "blas", "reference", "bf16", "int8"};
const char *s2s_gemm_name(s2s_gemm_kind g) {
    return g >= S2S_GEMM_DEFAULT && g <= S2S_GEMM_INT8 ? kind_names[g] : NULL;
}
int s2s_gemm_parse(const char *s, s2s_gemm_kind *out) {
    static const s2s_gemm_kind chosen[] = {S2S_GEMM_OWN, S2S_GEMM_BLAS, S2S_GEMM_BF16, S2S_GEMM_INT8};
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, kind_names[chosen[i]])) { *out = chosen[i]; return 0; }
    return -1;
}

/* OpenBLAS's threaded build starts its worker threads when it loads, and they spin on the
 * cores for ~0.1 s before they sleep: the whole of a short translation, against our own
 * threads. When BLAS is to run on one thread we stop them (they come back by themselves if a
 * later call asks for more threads). Weak: other BLAS builds do not have the function. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

void s2s_set_blas_threads(int n) {
    if (n <= 0) return;
    openblas_set_num_threads(n);
    if (n == 1 && blas_thread_shutdown_) blas_thread_shutdown_();
}

static void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                double b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

/* Products with a handful of rows (one sentence at a time, finished batches, beam rows) are
 * matrix-vector work, where sgemm's packing costs more than the arithmetic: a row at a time
 * with sgemv (measured on one sentence at a time: 49k -> 63k sentences/s against a plain loop
 * kernel, and BLAS's sgemm wins from about 8 rows). */
static int few_rows(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    if (ta || M > 4) return 0;
    for (int i = 0; i < M; i++) {
        if (tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A + (long)i * lda, 1, beta, C + (long)i * ldc, 1);
        else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A + (long)i * lda, 1, beta, C + (long)i * ldc, 1);
    }
    return 1;
}

/* BF16 reaching s2s_gemm is a trainer's (a translating workspace's products go through its
 * packed copies, s2s_pk): the product in bfloat16 (s2s_bf16_gemm) with scratch for op(B)'s
 * panels and a block of op(A)'s rows, taken and given back here (a few MB at most: the output
 * layer's 8,000 columns of 256 pairs); 0, for float, when the build has no such kernel, the call
 * is not alpha 1 with beta 0 or 1, or there is no memory for the scratch. */
static int bf16_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc) {
    if (!s2s_kernel_bf16_available() || alpha != 1.0f || (beta != 0.0f && beta != 1.0f)) return 0;
    uint32_t *scratch = malloc(sizeof(uint32_t) * s2s_bf16_gemm_scratch_words(N));
    if (!scratch) return 0;
    s2s_bf16_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, scratch);
    free(scratch);
    return 1;
}

void s2s_gemm(s2s_gemm_kind g, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  /* nothing to add: C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
        return;
    }
    if (g == S2S_GEMM_REF) { gemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    if (g == S2S_GEMM_DEFAULT) g = (s2s_gemm_kind)s2s_gemm_resolve(g);
    if (g == S2S_GEMM_BF16 && bf16_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
    if (s2s_gemm_packed(g)) g = S2S_GEMM_OWN;  /* the rest of a bf16 pass; int8 is never a trainer's */
    if (g == S2S_GEMM_OWN && (transB == 0 || M > 4) &&
        s2s_kernel_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    if (few_rows(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
