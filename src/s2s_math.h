/* Internal: exp and tanh in float, branch-free so the loops around them vectorise.
 * fast_expf: Cephes' polynomial after range reduction, max relative error 8e-8 on
 * [-87.3, 88] (measured against double exp); 0 below -87.3, as exp underflows there.
 * fast_tanhf: the rational approximation Eigen uses, max relative error 4e-7.
 * glibc's tanhf (through expm1f) and expf were more than half of the training time. */
#ifndef S2S_MATH_H
#define S2S_MATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float fast_expf(float x) {
    const float hi = 88.0f, lo = -87.3365478515625f;
    float xc = x < lo ? lo : x;  /* two plain selects vectorise to fewer instructions than nested ones */
    xc = xc > hi ? hi : xc;
    float n = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;  /* ln 2 in two parts */
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    /* 2^n; a NaN x gives a NaN n, whose conversion to int would be undefined: 0 instead, and the
     * NaN of p carries through */
    const int32_t e = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
    float two_n;
    memcpy(&two_n, &e, sizeof two_n);
    return x < lo ? 0.0f : p * two_n;
}

static inline float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

static inline float fast_tanhf(float x0) {
    const float lim = 7.90531110763549805f;  /* beyond it tanh rounds to ±1 */
    float x = x0 > lim ? lim : (x0 < -lim ? -lim : x0);
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    /* ±1 beyond the clamp, said outright: left to the polynomial at ±lim it depended on the
     * compiler (GCC folded it at compile time, without FMA, to ±1; clang's FMAs give
     * ±(1 - 2^-22)). GCC's results are unchanged. */
    return x0 > lim ? 1.0f : (x0 < -lim ? -1.0f : p / q);
}
#ifdef __AVX512F__
#include <immintrin.h>
/* The same three on 16 lanes, for loops the compiler would vectorise with a scalar tail (the
 * callers use a masked last vector instead). Each is the scalar algorithm step for step: the
 * same constants, clamps and order, with the multiply-adds the scalar code gets from
 * -ffp-contract=fast written as FMAs, so results are bitwise those of the scalar functions
 * (tests/test_math.c checks it). max/min take the clamp bound first so a NaN passes through,
 * as in the scalar selects. */
static inline __m512 v_expf(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3365478515625f);
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(lo, x));
    __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 z = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, z, r), _mm512_set1_ps(1.0f));
    /* p * 2^n in one instruction (n is integral, in [-126, 127]): the one rounding of the exact
     * product, as the scalar multiply by 2^n; lanes with x < lo are zeroed by the mask. */
    return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), p, n);
}

static inline __m512 v_sigmoidf(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
    return _mm512_div_ps(one, _mm512_add_ps(one, v_expf(neg)));
}

static inline __m512 v_tanhf(__m512 x0) {
    const __m512 lim = _mm512_set1_ps(7.90531110763549805f), nlim = _mm512_set1_ps(-7.90531110763549805f);
    __m512 x = _mm512_min_ps(lim, _mm512_max_ps(nlim, x0));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-2.76076847742355e-16f);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.00018790482477e-13f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-8.60467152213735e-11f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(5.12229709037114e-08f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.48572235717979e-05f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(6.37261928875436e-04f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(4.89352455891786e-03f));
    p = _mm512_mul_ps(p, x);
    __m512 q = _mm512_set1_ps(1.19825839466702e-06f);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.18534705686654e-04f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(2.26843463243900e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(4.89352518554385e-03f));
    __m512 t = _mm512_div_ps(p, q);
    t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(x0, lim, _CMP_GT_OQ), _mm512_set1_ps(1.0f));
    return _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(x0, nlim, _CMP_LT_OQ), _mm512_set1_ps(-1.0f));
}

/* Lanes [0, n) of a vector, for the last partial vector of a row (n < 16). */
static inline __mmask16 v_tail(int n) { return (__mmask16)((1u << n) - 1u); }
#endif

/* Reductions in a fixed order of 16 lanes, so they vectorise without reassociation flags.
 * The maximum ignores NaNs (x > m ? x : m); with AVX-512 it is written with intrinsics, as
 * GCC leaves the portable loop scalar where it is inlined into the decoder. */
#ifdef __AVX512F__
static inline float lanes_max(const float *x, int n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + i), m);  /* x > m ? x : m */
    if (i < n) {
        const __mmask16 k = v_tail(n - i);
        m = _mm512_mask_max_ps(m, k, _mm512_maskz_loadu_ps(k, x + i), m);
    }
    return _mm512_reduce_max_ps(m);
}

/* Index of the first maximum (as argmax). */
static inline int lanes_argmax(const float *x, int n) {
    const __m512 m = _mm512_set1_ps(lanes_max(x, n));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : v_tail(n - i);
        const __mmask16 eq = _mm512_mask_cmpeq_ps_mask(k, _mm512_maskz_loadu_ps(k, x + i), m);
        if (eq) return i + __builtin_ctz(eq);
    }
    return 0;  /* only NaNs */
}

/* The first i in [from, n) with x[i] >= lim (NaN never), or n. */
static inline int lanes_next_ge(const float *x, int n, int from, float lim) {
    const __m512 l = _mm512_set1_ps(lim);
    for (int i = from; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : v_tail(n - i);
        const __mmask16 ge = _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, x + i), l, _CMP_GE_OQ);
        if (ge) return i + __builtin_ctz(ge);
    }
    return n;
}
#else
static inline float lanes_max(const float *x, int n) {
    float m[16];
    int i = 0;
    for (int l = 0; l < 16; l++) m[l] = -INFINITY;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    float r = -INFINITY;
    for (int l = 0; l < 16; l++) r = m[l] > r ? m[l] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

/* Index of the first maximum (as argmax): the maximum at vector speed, then its first place. */
static inline int lanes_argmax(const float *x, int n) {
    const float m = lanes_max(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] == m) return i;
    return 0;  /* only NaNs */
}

/* The first i in [from, n) with x[i] >= lim (NaN never), or n. */
static inline int lanes_next_ge(const float *x, int n, int from, float lim) {
    int i = from;
    while (i < n && !(x[i] >= lim)) i++;
    return i;
}
#endif

/* Sum of a[i] * b[i] in 16 lanes, folded pairwise (8+8, 4+4, 2+2, 1+1), then the tail in
 * order: a fixed order that vectorises (a plain loop is a chain of dependent adds). */
static inline float lanes_dot(const float *restrict a, const float *restrict b, int n) {
    float s[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += a[i + l] * b[i + l];
    for (int l = 0; l < 8; l++) s[l] += s[l + 8];  /* constant bounds: each fold is one vector op */
    for (int l = 0; l < 4; l++) s[l] += s[l + 4];
    for (int l = 0; l < 2; l++) s[l] += s[l + 2];
    float r = s[0] + s[1];
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* dst[i] = exp(x[i] - shift) (dst may be x, or NULL to only sum); returns the sum. The
 * portable loop, and the reference for the AVX-512 version below. */
static inline double lanes_exp_sum_ref(float *dst, const float *x, int n, float shift) {
    float s[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float e = fast_expf(x[i + l] - shift);
            if (dst) dst[i + l] = e;
            s[l] += e;
        }
    double r = 0.0;
    for (int l = 0; l < 16; l++) r += s[l];
    for (; i < n; i++) {
        float e = fast_expf(x[i] - shift);
        if (dst) dst[i] = e;
        r += e;
    }
    return r;
}

/* The same sums in the same order; the tail is one masked vector, its lanes added in order. */
static inline double lanes_exp_sum(float *dst, const float *x, int n, float shift) {
#ifdef __AVX512F__
    const __m512 sh = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), sh));
        if (dst) _mm512_storeu_ps(dst + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    float s[16];
    _mm512_storeu_ps(s, acc);
    double r = 0.0;
    for (int l = 0; l < 16; l++) r += s[l];
    if (i < n) {
        const __mmask16 m = v_tail(n - i);
        __m512 e = v_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), sh));
        if (dst) _mm512_mask_storeu_ps(dst + i, m, e);
        _mm512_storeu_ps(s, e);
        for (int l = 0; i + l < n; l++) r += s[l];
    }
    return r;
#else
    return lanes_exp_sum_ref(dst, x, n, shift);
#endif
}
#endif
