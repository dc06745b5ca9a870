/* Layer kernels: GRU cell, additive attention, masked cross-entropy, linear helpers.
 * Products go through s2s_gemm (BLAS or the reference loop); the element-wise parts are
 * written once, plainly, in float with the math in the header's comments. */
#include "s2s_nn.h"

#include <math.h>
#include <string.h>

#include "s2s_linalg.h"
#include "s2s_math.h"

/* y = beta * y + b row by row; returns the beta for the product that follows. */
static float add_bias(int M, int N, const float *b, float beta, float *y, int ldy) {
    if (!b) return beta;
    for (int i = 0; i < M; i++) {
        float *yi = y + (long)i * ldy;
        for (int j = 0; j < N; j++) yi[j] = (beta == 0.0f ? 0.0f : yi[j]) + b[j];
    }
    return 1.0f;
}

void s2s_linear_forward(int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
                        const float *b, float beta, float *y, int ldy) {
    beta = add_bias(M, N, b, beta, y, ldy);
    s2s_gemm(0, 1, M, N, K, 1.0f, x, ldx, W, ldw, beta, y, ldy);
}

void s2s_linear_forward_t(int M, int N, int K, const float *x, int ldx, const float *WT, int ldwt,
                          const float *b, float beta, float *y, int ldy) {
    beta = add_bias(M, N, b, beta, y, ldy);
    s2s_gemm(0, 0, M, N, K, 1.0f, x, ldx, WT, ldwt, beta, y, ldy);
}

/* db[j] += Σ_i D[i][j], 64 columns at a time in registers (four independent chains) instead of
 * loading and storing db for every row; then 16 at a time, then one. */
static void col_sums(int M, int N, const float *restrict D, int ldd, float *restrict db) {
    int j = 0;
    for (; j + 64 <= N; j += 64) {
        float s[64] = {0};
        for (int i = 0; i < M; i++)
            for (int l = 0; l < 64; l++) s[l] += D[(long)i * ldd + j + l];
        for (int l = 0; l < 64; l++) db[j + l] += s[l];
    }
    for (; j + 16 <= N; j += 16) {
        float s[16] = {0};
        for (int i = 0; i < M; i++)
            for (int l = 0; l < 16; l++) s[l] += D[(long)i * ldd + j + l];
        for (int l = 0; l < 16; l++) db[j + l] += s[l];
    }
    for (; j < N; j++) {
        float s = 0.0f;
        for (int i = 0; i < M; i++) s += D[(long)i * ldd + j];
        db[j] += s;
    }
}

void s2s_linear_wgrad(int M, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                      float *dW, int ldw, float *db) {
    if (M <= 0) return;
    if (X) s2s_gemm(1, 0, rows, cols, M, 1.0f, D, ldd, X, ldx, 1.0f, dW, ldw);
    if (db) col_sums(M, rows, D, ldd, db);
}

/* Wellons' lowbias32: a bijection on 32-bit words with good avalanche; vectorises. */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352du;
    x ^= x >> 15; x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

void s2s_dropout_fill(float *restrict mask, size_t n, float p, uint64_t key) {
    const float keep = 1.0f / (1.0f - p);
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;  /* spread the key over both halves */
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
    key ^= key >> 31;
    const uint32_t cut = (uint32_t)((double)p * 4294967296.0), k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (size_t i = 0; i < n; i++) mask[i] = mix32(mix32((uint32_t)i ^ k0) ^ k1) < cut ? 0.0f : keep;
}

/* The cell's element-wise part over all rows; restrict lets the compiler vectorise it. The
 * portable loop, and the reference for the AVX-512 version below. */
void s2s_gru_gates_ref(int B, int H, const float *restrict gi, const float *restrict gh, const float *restrict hp,
                       float *restrict h, float *restrict r, float *restrict z, float *restrict n,
                       float *restrict ghn) {
    for (int b = 0; b < B; b++, gi += 3 * H, gh += 3 * H, hp += H, h += H, r += H, z += H, n += H, ghn += H)
        for (int j = 0; j < H; j++) {
            float rj = fast_sigmoidf(gi[j] + gh[j]);
            float zj = fast_sigmoidf(gi[H + j] + gh[H + j]);
            float gn = gh[2 * H + j];
            float nj = fast_tanhf(gi[2 * H + j] + rj * gn);
            r[j] = rj; z[j] = zj; n[j] = nj; ghn[j] = gn;
            h[j] = (1.0f - zj) * nj + zj * hp[j];
        }
}

#ifdef __AVX512F__
/* Columns [j, j+16) of one row, lanes m only: a row's last H mod 16 columns are one masked
 * vector (the compiler's loop did them one at a time, each as slow as a whole vector: 3.3x
 * faster at H = 5, 1.1x at H = 32). The same operations as the loop above, its contracted
 * multiply-adds written as FMAs: bitwise the same results (tests/test_math.c). True division:
 * rcp14 and a Newton step was slower here (0.72 against 0.66 ns an element) and 5 ulp off. */
static inline void gates16(int H, int j, __mmask16 m, const float *gi, const float *gh, const float *hp,
                           float *h, float *r, float *z, float *n, float *ghn) {
    __m512 rj = v_sigmoidf(_mm512_add_ps(_mm512_maskz_loadu_ps(m, gi + j), _mm512_maskz_loadu_ps(m, gh + j)));
    __m512 zj = v_sigmoidf(_mm512_add_ps(_mm512_maskz_loadu_ps(m, gi + H + j), _mm512_maskz_loadu_ps(m, gh + H + j)));
    __m512 gn = _mm512_maskz_loadu_ps(m, gh + 2 * H + j);
    __m512 nj = v_tanhf(_mm512_fmadd_ps(rj, gn, _mm512_maskz_loadu_ps(m, gi + 2 * H + j)));
    __m512 hj = _mm512_fmadd_ps(zj, _mm512_maskz_loadu_ps(m, hp + j),  /* the product GCC fuses */
                                _mm512_mul_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), zj), nj));
    _mm512_mask_storeu_ps(r + j, m, rj);
    _mm512_mask_storeu_ps(z + j, m, zj);
    _mm512_mask_storeu_ps(n + j, m, nj);
    _mm512_mask_storeu_ps(ghn + j, m, gn);
    _mm512_mask_storeu_ps(h + j, m, hj);
}

void s2s_gru_gates(int B, int H, const float *gi, const float *gh, const float *hp, float *h, float *r, float *z,
                   float *n, float *ghn) {
    for (int b = 0; b < B; b++, gi += 3 * H, gh += 3 * H, hp += H, h += H, r += H, z += H, n += H, ghn += H) {
        int j = 0;
        for (; j + 16 <= H; j += 16) gates16(H, j, 0xffff, gi, gh, hp, h, r, z, n, ghn);
        if (j < H) gates16(H, j, v_tail(H - j), gi, gh, hp, h, r, z, n, ghn);
    }
}
#else
void s2s_gru_gates(int B, int H, const float *gi, const float *gh, const float *hp, float *h, float *r, float *z,
                   float *n, float *ghn) {
    s2s_gru_gates_ref(B, H, gi, gh, hp, h, r, z, n, ghn);
}
#endif

static void gru_grads_row(int H, const float *restrict dh, const float *restrict hp, const float *restrict r,
                          const float *restrict z, const float *restrict n, const float *restrict ghn,
                          float *restrict dgi, float *restrict dgh) {
    for (int j = 0; j < H; j++) {
        float d = dh[j], rj = r[j], zj = z[j], nj = n[j];
        float dn = d * (1.0f - zj);
        float dz = d * (hp[j] - nj);
        float dan = dn * (1.0f - nj * nj);
        float dar = dan * ghn[j] * rj * (1.0f - rj);
        float daz = dz * zj * (1.0f - zj);
        dgi[j] = dar; dgi[H + j] = daz; dgi[2 * H + j] = dan;
        dgh[j] = dar; dgh[H + j] = daz; dgh[2 * H + j] = dan * rj;
    }
}

void s2s_gru_cell_forward(int B, int H, const float *gi, const float *h_prev, const float *W_hh,
                          const float *b_hh, const float *W_hhT, float *gh, float *h, float *r, float *z,
                          float *n, float *ghn) {
    if (!W_hh && !W_hhT)
        for (int b = 0; b < B; b++) memcpy(gh + (long)b * 3 * H, b_hh, sizeof(float) * 3 * H);
    else if (W_hhT) s2s_linear_forward_t(B, 3 * H, H, h_prev, H, W_hhT, 3 * H, b_hh, 0.0f, gh, 3 * H);
    else s2s_linear_forward(B, 3 * H, H, h_prev, H, W_hh, H, b_hh, 0.0f, gh, 3 * H);
    s2s_gru_gates(B, H, gi, gh, h_prev, h, r, z, n, ghn);
}

void s2s_gru_cell_backward(int B, int H, const float *dh, const float *h_prev, const float *r,
                           const float *z, const float *n, const float *ghn, const float *W_hh,
                           float *dgi, float *dgh, float *dh_prev) {
    for (int b = 0; b < B; b++) {
        long o = (long)b * H, o3 = (long)b * 3 * H;
        gru_grads_row(H, dh + o, h_prev + o, r + o, z + o, n + o, ghn + o, dgi + o3, dgh + o3);
    }
    if (!W_hh) return;
    for (long i = 0; i < (long)B * H; i++) dh_prev[i] = dh[i] * z[i];  /* may be in place */
    s2s_gemm(0, 0, B, H, 3 * H, 1.0f, dgh, 3 * H, W_hh, H, 1.0f, dh_prev, H);
}

/* One key's features f = tanh(q + kp) (kept for the backward pass) and its score w · f, summed
 * in lanes_dot's order. With AVX-512 a row's last H mod 16 features are one masked vector and
 * the score is summed from the registers: reading f back was slower (1.3x at H = 32, more
 * after a masked store). Bitwise the loop's results (tests/test_math.c). */
static inline float attn_score(int H, const float *q, const float *kp, const float *w, float *f) {
#ifdef __AVX512F__
    __m512 acc = _mm512_setzero_ps();
    int h = 0;
    for (; h + 16 <= H; h += 16) {
        __m512 fv = v_tanhf(_mm512_add_ps(_mm512_loadu_ps(q + h), _mm512_loadu_ps(kp + h)));
        _mm512_storeu_ps(f + h, fv);
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + h), fv, acc);
    }
    /* lanes_dot's folds: lanes l += l+8, l += l+4, l += l+2, then 0 + 1 */
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    float r = _mm_cvtss_f32(s2) + _mm_cvtss_f32(_mm_shuffle_ps(s2, s2, 1));
    if (h < H) {  /* the tail, added in order as lanes_dot does */
        const __mmask16 m = v_tail(H - h);
        __m512 fv = v_tanhf(_mm512_add_ps(_mm512_maskz_loadu_ps(m, q + h), _mm512_maskz_loadu_ps(m, kp + h)));
        _mm512_mask_storeu_ps(f + h, m, fv);
        float t[16];
        _mm512_storeu_ps(t, fv);
        for (int i = 0; h + i < H; i++) r += w[h + i] * t[i];
    }
    return r;
#else
    for (int h = 0; h < H; h++) f[h] = fast_tanhf(q[h] + kp[h]);
    return lanes_dot(w, f, H);
#endif
}

void s2s_attn_forward(int B, int Tk, int H, const float *qp, const float *KP, const float *K,
                      const int32_t *kv_row, const int32_t *valid, const float *w_v, const float *drop,
                      float *F, float *A, float *ctx) {
    for (int b = 0; b < B; b++) {
        const float *q = qp + (long)b * H;
        const long kb = kv_row ? kv_row[b] : b;  /* the row's keys and values */
        float *a = A + (long)b * Tk, mx = -INFINITY;
        for (int j = 0; j < Tk; j++) {
            float s = -1e6f;  /* d2l's sequence_mask value; a masked key's features are never read */
            if (j < valid[b]) {
                const float *kp = KP + (kb * Tk + j) * H;
                float *f = F + ((long)b * Tk + j) * H;
                s = attn_score(H, q, kp, w_v, f);
            }
            a[j] = s;
            if (s > mx) mx = s;
        }
        float sum = 0.0f;
        for (int j = 0; j < Tk; j++) { a[j] = fast_expf(a[j] - mx); sum += a[j]; }
        for (int j = 0; j < Tk; j++) a[j] /= sum;
        float *restrict c = ctx + (long)b * H;
        memset(c, 0, sizeof(float) * H);
        for (int j = 0; j < Tk; j++) {
            if (a[j] == 0.0f) continue;  /* masked keys (exp underflows to exactly 0) add nothing */
            float w = drop ? a[j] * drop[(long)b * Tk + j] : a[j];
            const float *k = K + (kb * Tk + j) * H;
            for (int h = 0; h < H; h++) c[h] += w * k[h];
        }
    }
}

void s2s_attn_backward(int B, int Tk, int H, const float *dctx, const float *K,
                       const int32_t *valid, const float *w_v, const float *drop, const float *F,
                       const float *A, float *dK, float *dKP, float *dqp, float *dw_v) {
    float da[Tk > 0 ? Tk : 1];
    for (int b = 0; b < B; b++) {
        const float *dc = dctx + (long)b * H, *a = A + (long)b * Tk;
        float dot = 0.0f;
        for (int j = 0; j < Tk; j++) {
            const float *k = K + ((long)b * Tk + j) * H;
            float *dk = dK + ((long)b * Tk + j) * H;
            if (a[j] == 0.0f) { da[j] = 0.0f; continue; }  /* a masked key: no share in anything */
            float m = drop ? drop[(long)b * Tk + j] : 1.0f, g = lanes_dot(dc, k, H), w = a[j] * m;
            for (int h = 0; h < H; h++) dk[h] += w * dc[h];
            da[j] = g * m;
            dot += a[j] * da[j];
        }
        float *dq = dqp + (long)b * H;
        memset(dq, 0, sizeof(float) * H);
        for (int j = 0; j < Tk && j < valid[b]; j++) {  /* masked scores are constants */
            float ds = a[j] * (da[j] - dot);
            const float *f = F + ((long)b * Tk + j) * H;
            float *dkp = dKP + ((long)b * Tk + j) * H;
            for (int h = 0; h < H; h++) {
                dw_v[h] += ds * f[h];
                float du = ds * w_v[h] * (1.0f - f[h] * f[h]);
                dkp[h] += du;
                dq[h] += du;
            }
        }
    }
}

double s2s_masked_ce(int Tdec, int Tfull, int B, int V, const float *logits, const int32_t *y,
                     int ld_y, const int32_t *len, float *loss, float *dlogits) {
    double total = 0.0;
    const float scale = 1.0f / Tfull;
    for (int b = 0; b < B; b++) loss[b] = 0.0f;
    for (int t = 0; t < Tdec; t++)
        for (int b = 0; b < B; b++) {
            const float *x = logits + ((long)t * B + b) * V;
            float *dx = dlogits ? dlogits + ((long)t * B + b) * V : NULL;
            if (t >= len[b]) {  /* padding: weight 0, no gradient */
                if (dx) memset(dx, 0, sizeof(float) * V);
                continue;
            }
            float mx = lanes_max(x, V);
            int lab = y[(long)b * ld_y + t];
            float xl = x[lab];  /* read before dx (which may alias x) is written */
            double sum = lanes_exp_sum(dx, x, V, mx);
            loss[b] += (float)((mx + log(sum) - xl) / Tfull);
            if (dx) {
                float k = (float)(scale / sum);
                for (int v = 0; v < V; v++) dx[v] *= k;
                dx[lab] -= scale;
            }
        }
    for (int b = 0; b < B; b++) total += loss[b];
    return total;
}
