/* The AVX-512 versions of the element-wise math against the portable scalar code they replace:
 * v_expf, v_sigmoidf, v_tanhf over a dense sweep of floats and the edge cases, lanes_exp_sum,
 * the GRU gates and attention's features for row lengths around the vector width. Both sides
 * are compiled here with the same flags (-ffp-contract=fast: the scalar polynomials are FMA
 * chains, which the vector code writes out), so they must agree bit for bit. Without AVX-512
 * at compile time the portable code is all there is and the vector checks are skipped. */
#include "harness.h"
#include "s2s_math.h"
#include "s2s_nn.h"
#include "s2s_rng.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
/* Distance in units in the last place (consecutive floats differ by 1, across 0 too). */
static long ulps(float a, float b) {
    int64_t ia = (int32_t)bits(a), ib = (int32_t)bits(b);
    ia = ia < 0 ? INT32_MIN - ia : ia;
    ib = ib < 0 ? INT32_MIN - ib : ib;
    return (long)(ia > ib ? ia - ib : ib - ia);
}
/* GCC contracts the scalar code's a*b+c into exactly the FMAs the vector code writes, so
 * there the two agree bit for bit. Other compilers may not: clang's SLP vectoriser pairs the
 * last steps of tanh's two polynomials into one vector multiply and a separate add, which
 * rounds once more (1 ulp in q, up to 2 in p/q). */
#if defined(__GNUC__) && !defined(__clang__)
enum { MAX_ULP = 0 };
#else
enum { MAX_ULP = 2 };
#endif
/* Within MAX_ULP, or both NaN (a NaN's payload and sign are not part of the contract). */
static int same(float a, float b) {
    return bits(a) == bits(b) || (isnan(a) && isnan(b)) || (!isnan(a) && !isnan(b) && ulps(a, b) <= MAX_ULP);
}

#ifdef __AVX512F__
static float from_bits(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }
typedef __m512 (*vec_fn)(__m512);
typedef float (*scal_fn)(float);
static __m512 call_exp(__m512 x) { return v_expf(x); }
static __m512 call_sigmoid(__m512 x) { return v_sigmoidf(x); }
static __m512 call_tanh(__m512 x) { return v_tanhf(x); }
static float ref_exp(float x) { return fast_expf(x); }
static float ref_sigmoid(float x) { return fast_sigmoidf(x); }
static float ref_tanh(float x) { return fast_tanhf(x); }

/* Runs n inputs through both in vectors of 16 (the last one padded); counts mismatches and
 * reports the first few. */
static long compare(const char *name, vec_fn vf, scal_fn sf, const float *x, long n) {
    long bad = 0;
    for (long i = 0; i < n; i += 16) {
        float in[16] = {0}, out[16];
        long m = n - i < 16 ? n - i : 16;
        memcpy(in, x + i, sizeof(float) * m);
        _mm512_storeu_ps(out, vf(_mm512_loadu_ps(in)));
        for (long l = 0; l < m; l++) {
            float want = sf(in[l]);
            if (!same(out[l], want) && bad++ < 5)
                fprintf(stderr, "  %s(%.9g = 0x%08x) = %.9g (0x%08x), scalar %.9g (0x%08x)\n", name, in[l],
                        bits(in[l]), out[l], bits(out[l]), want, bits(want));
        }
    }
    return bad;
}

/* Every float in [-100, 100] with a stride of 61 bit patterns (odd, so the low mantissa bits
 * all occur; 37M inputs), the floats next to each clamp, and the special values. */
static float *sweep(long *n) {
    const uint32_t top = bits(100.0f), stride = 61;
    const float marks[] = {-87.3365478515625f, 88.0f, 87.3365478515625f, -88.0f, 7.90531110763549805f,
                           -7.90531110763549805f, 0.0f, 1.0f, -1.0f};
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                             FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e30f, -1e30f, 200.0f, -200.0f};
    const int near = 4096;  /* each side of a mark */
    long cap = 2 * ((long)top / stride + 1) + (long)(sizeof marks / sizeof *marks) * (2 * near + 1) + 16;
    float *x = malloc(sizeof(float) * cap);
    long k = 0;
    for (uint32_t u = 0; u <= top; u += stride) x[k++] = from_bits(u), x[k++] = from_bits(u | 0x80000000u);
    for (size_t m = 0; m < sizeof marks / sizeof *marks; m++) {
        float v = marks[m];
        for (int s = 0; s < near; s++) v = nextafterf(v, -INFINITY);
        for (int s = 0; s <= 2 * near; s++, v = nextafterf(v, INFINITY)) x[k++] = v;
    }
    for (size_t s = 0; s < sizeof special / sizeof *special; s++) x[k++] = special[s];
    *n = k;
    return x;
}

static int test_vector_math_matches_scalar(void) {
    long n;
    float *x = sweep(&n);
    CHECK_MSG(compare("v_expf", call_exp, ref_exp, x, n) == 0, "v_expf differs from fast_expf");
    CHECK_MSG(compare("v_sigmoidf", call_sigmoid, ref_sigmoid, x, n) == 0, "v_sigmoidf differs from fast_sigmoidf");
    CHECK_MSG(compare("v_tanhf", call_tanh, ref_tanh, x, n) == 0, "v_tanhf differs from fast_tanhf");
    free(x);
    /* The sweep has to reach what it claims: denormal results (exp just above lo, where
     * n = -126 and p < 1; sigmoid of large negatives), exact 0, and the saturated values. */
    int denorm_exp = 0, denorm_sig = 0;
    for (float v = -87.3365478515625f; v < -87.33f; v = nextafterf(v, INFINITY))
        denorm_exp += fpclassify(fast_expf(v)) == FP_SUBNORMAL;
    for (float v = -100.0f; v < -80.0f; v += 0.5f) denorm_sig += fpclassify(fast_sigmoidf(v)) == FP_SUBNORMAL;
    CHECK(denorm_exp > 0);
    CHECK(denorm_sig > 0);
    CHECK(fast_expf(nextafterf(-87.3365478515625f, -INFINITY)) == 0.0f && fast_expf(-INFINITY) == 0.0f);
    CHECK(fast_tanhf(INFINITY) == 1.0f && fast_tanhf(-INFINITY) == -1.0f);
    return 0;
}
#else
static int test_vector_math_matches_scalar(void) { SKIP("built without AVX-512"); }
#endif

/* lanes_exp_sum (the AVX-512 one when built with it) against lanes_exp_sum_ref, the portable
 * loop: the same exponentials and the same sum, for lengths around the vector width; nothing
 * written past n, and dst NULL sums the same. */
static int test_exp_sum_matches_reference(void) {
    s2s_rng r;
    s2s_rng_seed(&r, 11);
    float x[300], d1[300], d2[300];
    for (int i = 0; i < 300; i++) x[i] = (float)(s2s_rng_uniform(&r) * 60.0 - 40.0);
    x[7] = -INFINITY;  /* d2l's masked logits and exp's lower clamp */
    x[40] = -1e6f;
    int bad = 0;
    for (int n = 0; n <= 300 && bad < 5; n += n < 40 ? 1 : 37) {
        float mx = lanes_max(x, n);
        memset(d1, 0xff, sizeof d1), memset(d2, 0xff, sizeof d2);
        double s1 = lanes_exp_sum(d1, x, n, mx), s2 = lanes_exp_sum_ref(d2, x, n, mx);
        double s3 = lanes_exp_sum(NULL, x, n, mx);
        int ok = fabs(s1 - s2) <= MAX_ULP * 6e-8 * s2 && s3 == s1;
        for (int i = 0; i < 300; i++) ok = ok && same(d1[i], d2[i]);
        if (!ok && bad++ < 5) fprintf(stderr, "  n %d: sum %.17g / %.17g (no dst), reference %.17g\n", n, s1, s3, s2);
    }
    CHECK(bad == 0);
    return 0;
}

static float uni(s2s_rng *r, float a) { return (float)((s2s_rng_uniform(r) * 2.0 - 1.0) * a); }

/* s2s_gru_gates (the AVX-512 one when built with it) against s2s_gru_gates_ref, bit for bit,
 * for hidden sizes around the vector width; every output is written and nothing past it. */
static int test_gru_gates_match_reference(void) {
    static const int Hs[] = {1, 5, 15, 16, 17, 32, 33, 256};
    static const int Bs[] = {1, 3, 64};
    s2s_rng r;
    s2s_rng_seed(&r, 5);
    int bad = 0;
    for (size_t hi = 0; hi < sizeof Hs / sizeof *Hs; hi++)
        for (size_t bi = 0; bi < sizeof Bs / sizeof *Bs; bi++) {
            const int H = Hs[hi], B = Bs[bi];
            const long n3 = (long)B * 3 * H, n1 = (long)B * H, pad = 16;
            float *gi = malloc(sizeof(float) * n3), *gh = malloc(sizeof(float) * n3);
            float *hp = malloc(sizeof(float) * n1), *out[2];
            for (int k = 0; k < 2; k++) {
                out[k] = malloc(sizeof(float) * (5 * n1 + pad));
                memset(out[k], 0x7f, sizeof(float) * (5 * n1 + pad));  /* padding a canary */
            }
            /* wide enough to reach both clamps of exp and tanh, and the saturated gates */
            for (long i = 0; i < n3; i++) gi[i] = uni(&r, 12.0f), gh[i] = uni(&r, i % 7 ? 3.0f : 100.0f);
            for (long i = 0; i < n1; i++) hp[i] = uni(&r, 1.0f);
            for (int k = 0; k < 2; k++) {
                float *o = out[k];
                (k ? s2s_gru_gates_ref : s2s_gru_gates)(B, H, gi, gh, hp, o, o + n1, o + 2 * n1, o + 3 * n1, o + 4 * n1);
            }
            for (long i = 0; i < 5 * n1 + pad; i++)
                if (!same(out[0][i], out[1][i]) && bad++ < 5)
                    fprintf(stderr, "  B %d H %d: %s[%ld] = %.9g, reference %.9g\n", B, H,
                            i < 5 * n1 ? (const char *[]){"h", "r", "z", "n", "ghn"}[i / n1] : "padding",
                            i % n1, out[0][i], out[1][i]);
            free(gi), free(gh), free(hp), free(out[0]), free(out[1]);
        }
    CHECK(bad == 0);
    return 0;
}

/* Attention against the portable code: features F = tanh(qp + KP) for valid keys only (masked
 * keys' rows are not written), scores summed as lanes_dot sums them, and from them the softmax
 * and the context as s2s_attn_forward computes them; bitwise, for H around the vector width. */
static int test_attn_features_match_scalar(void) {
    static const int Hs[] = {1, 5, 16, 17, 32, 33, 48};
    enum { B = 3, Tk = 4 };
    const int32_t valid[B] = {4, 1, 2};
    s2s_rng r;
    s2s_rng_seed(&r, 9);
    int bad = 0;
    for (size_t hi = 0; hi < sizeof Hs / sizeof *Hs; hi++) {
        const int H = Hs[hi];
        const long nk = (long)B * Tk * H;
        float *qp = malloc(sizeof(float) * B * H), *KP = malloc(sizeof(float) * nk), *K = malloc(sizeof(float) * nk);
        float *wv = malloc(sizeof(float) * H), *F = malloc(sizeof(float) * nk), A[B * Tk];
        float *ctx = malloc(sizeof(float) * B * H);
        for (long i = 0; i < (long)B * H; i++) qp[i] = uni(&r, 3.0f);
        for (long i = 0; i < nk; i++) KP[i] = uni(&r, i % 5 ? 3.0f : 20.0f), K[i] = uni(&r, 1.0f);
        for (int h = 0; h < H; h++) wv[h] = uni(&r, 1.0f);
        for (long i = 0; i < nk; i++) F[i] = 42.0f;
        s2s_attn_forward(B, Tk, H, qp, KP, K, NULL, valid, wv, NULL, F, A, ctx);
        for (int b = 0; b < B; b++) {
            float a[Tk], mx = -INFINITY, sum = 0.0f, c[48] = {0}, f[48];
            for (int j = 0; j < Tk; j++) {
                const long o = ((long)b * Tk + j) * H;
                for (int h = 0; h < H; h++) {
                    float want = j < valid[b] ? fast_tanhf(qp[(long)b * H + h] + KP[o + h]) : 42.0f;
                    if (!same(F[o + h], want) && bad++ < 5)
                        fprintf(stderr, "  H %d: F[%d,%d,%d] = %.9g, want %.9g\n", H, b, j, h, F[o + h], want);
                    f[h] = want;
                }
                a[j] = j < valid[b] ? lanes_dot(wv, f, H) : -1e6f;
                mx = a[j] > mx ? a[j] : mx;
            }
            for (int j = 0; j < Tk; j++) { a[j] = fast_expf(a[j] - mx); sum += a[j]; }
            for (int j = 0; j < Tk; j++) a[j] /= sum;
            for (int j = 0; j < Tk; j++)
                for (int h = 0; h < H; h++) c[h] += a[j] * K[((long)b * Tk + j) * H + h];
            for (int j = 0; j < Tk; j++)
                if (!same(A[b * Tk + j], a[j]) && bad++ < 5)
                    fprintf(stderr, "  H %d: A[%d,%d] = %.9g, want %.9g\n", H, b, j, A[b * Tk + j], a[j]);
            for (int h = 0; h < H; h++)
                if (!same(ctx[(long)b * H + h], c[h]) && bad++ < 5)
                    fprintf(stderr, "  H %d: ctx[%d,%d] = %.9g, want %.9g\n", H, b, h, ctx[(long)b * H + h], c[h]);
        }
        free(qp), free(KP), free(K), free(wv), free(F), free(ctx);
    }
    CHECK(bad == 0);
    return 0;
}

int main(void) {
    RUN(test_vector_math_matches_scalar);
    RUN(test_exp_sum_matches_reference);
    RUN(test_gru_gates_match_reference);
    RUN(test_attn_features_match_scalar);
    TEST_END();
}
