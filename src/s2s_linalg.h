/* Matrix products for the network, row-major: C = alpha * op(A) op(B) + beta * C.
 * Which code computes them is a choice carried by the object that runs the products (a
 * workspace, through s2s_ws_opts.gemm; the trainer's and the translator handle's options say
 * it at creation): our AVX-512 kernel, OpenBLAS, or the plain triple loop in double that the
 * tests compare the fast ones against. Nothing here is process-wide but BLAS's own thread pool
 * (s2s_set_blas_threads). */
#ifndef S2S_LINALG_H
#define S2S_LINALG_H

/* S2S_GEMM_DEFAULT (what zeroed options say) is our kernel where the build has it, else BLAS
 * (s2s_gemm_resolve). */
typedef enum s2s_gemm_kind {
    S2S_GEMM_DEFAULT = 0,
    S2S_GEMM_OWN = 1,   /* our AVX-512 kernel (s2s_kernel.c); up to 4 rows of x W^T: BLAS's gemv */
    S2S_GEMM_BLAS = 2,  /* OpenBLAS (sgemm; sgemv for up to 4 rows of x W^T) */
    S2S_GEMM_REF = 3,   /* the reference loop (tests) */
    S2S_GEMM_BF16 = 4,  /* bfloat16 with float sums (not float's numbers). A translating
                         * workspace's choice: the products of its steps from weights it packs
                         * once (s2s_pk, s2s_kernel.h), the rest as OWN. A trainer's: every
                         * s2s_gemm with alpha 1 and beta 0 or 1, both operands rounded at each
                         * call (s2s_bf16_gemm), the others as OWN */
    S2S_GEMM_INT8 = 5,  /* translation's steps in 8-bit integers (s2s_kernel.h), the rest as
                         * OWN; a trainer refuses it */
} s2s_gemm_kind;

/* transA/transB: 0 = as stored, 1 = transposed. A is M x K after op, B is K x N after op;
 * `g` says which code computes it (DEFAULT is resolved on every call: pass a resolved kind). */
void s2s_gemm(s2s_gemm_kind g, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* The kind a choice means in this build: DEFAULT becomes OWN or BLAS; OWN where the build has no
 * AVX-512 kernel, BF16 where it has no AVX512-BF16, INT8 where it has no AVX512-VNNI, are -1
 * (refuse them); anything else is itself. */
int s2s_gemm_resolve(s2s_gemm_kind g);
/* What the build lacks when a kind resolves to -1: "AVX-512", "AVX512-BF16", "AVX512-VNNI". */
const char *s2s_gemm_needs(s2s_gemm_kind g);
/* "own", "blas", "reference", "bf16", "int8" for a resolved kind ("default" for DEFAULT); NULL
 * for others. */
const char *s2s_gemm_name(s2s_gemm_kind g);
/* "own", "blas", "bf16" or "int8" (the program's S2S_GEMM values, the API's gemm options): 0 and
 * *out, or -1. */
int s2s_gemm_parse(const char *s, s2s_gemm_kind *out);
/* BF16 and INT8: the products of translation's steps from packed copies (s2s_pk). */
int s2s_gemm_packed(s2s_gemm_kind g);

/* y [M,N] = x W^T + b (+ y when beta is 1; b may be NULL) through pk's bfloat16 or 8-bit copy
 * of W [N,K] (leading dimension ldw), packed at its first call: 1. 0, with nothing done, when pk is
 * NULL or the copy cannot be made (then compute it in float). The set, struct s2s_pk, is a
 * workspace's (s2s_ws.h). */
struct s2s_pk;
int s2s_pk_linear(struct s2s_pk *pk, const float *W, int ldw, int N, int K, int M, const float *x, int ldx,
                  const float *b, float beta, float *y, int ldy);

/* Threads for BLAS alone, a process-wide setting of the BLAS library (its own pool): 1, as our
 * threads run their own products and a BLAS pool would only compete with them (and, under an
 * address-space limit, hang at exit). */
void s2s_set_blas_threads(int n);

#endif
