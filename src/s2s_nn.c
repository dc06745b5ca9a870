/* Layer kernels: additive attention, masked cross-entropy, linear helpers, and the raw memory
 * work of the passes (gathers, scatters, copies, masked products). Products go through s2s_gemm;
 * the math is in the header's comments. The cells are in s2s_cell_*.c. */
#include "s2s_nn.h"

#include <math.h>
#include <string.h>

#include "s2s_cell.h"
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

void s2s_linear_forward(s2s_gemm_kind g, int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
                        const float *b, float beta, float *y, int ldy) {
    beta = add_bias(M, N, b, beta, y, ldy);
    s2s_gemm(g, 0, 1, M, N, K, 1.0f, x, ldx, W, ldw, beta, y, ldy);
}

void s2s_linear_forward_t(s2s_gemm_kind g, int M, int N, int K, const float *x, int ldx, const float *WT, int ldwt,
                          const float *b, float beta, float *y, int ldy) {
    beta = add_bias(M, N, b, beta, y, ldy);
    s2s_gemm(g, 0, 0, M, N, K, 1.0f, x, ldx, WT, ldwt, beta, y, ldy);
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

void s2s_linear_wgrad(s2s_gemm_kind g, int M, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                      float *dW, int ldw, float *db) {
    if (M <= 0) return;
    if (X) s2s_gemm(g, 1, 0, rows, cols, M, 1.0f, D, ldd, X, ldx, 1.0f, dW, ldw);
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
    for (int b = 0; b < B; b++) {  /* the scores; a masked key's features are never read */
        const float *q = qp + (long)b * H;
        const long kb = kv_row ? kv_row[b] : b;  /* the row's keys and values */
        float *a = A + (long)b * Tk;
        for (int j = 0; j < Tk && j < valid[b]; j++)
            a[j] = attn_score(H, q, KP + (kb * Tk + j) * H, w_v, F + ((long)b * Tk + j) * H);
    }
    s2s_masked_softmax(B, Tk, valid, A);
    s2s_attn_context(B, Tk, H, A, drop, K, kv_row, ctx);
}

void s2s_attn_backward(int B, int Tk, int H, const float *dctx, const float *K,
                       const int32_t *valid, const float *w_v, const float *drop, const float *F,
                       const float *A, float *dS, float *dK, float *dKP, float *dqp, float *dw_v) {
    s2s_attn_context_backward(B, Tk, H, dctx, A, drop, K, dK, dS);
    s2s_masked_softmax_backward(B, Tk, valid, A, dS, dS);
    for (int b = 0; b < B; b++) {  /* through the scores' features */
        float *dq = dqp + (long)b * H;
        memset(dq, 0, sizeof(float) * H);
        for (int j = 0; j < Tk && j < valid[b]; j++) {  /* masked scores are constants */
            const float ds = dS[(long)b * Tk + j];
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

/* ---- attention steps ------------------------------------------------------------------- */

void s2s_dot_scores(int B, int Tk, int H, const float *q, const float *KP, const int32_t *kv_row,
                    const int32_t *valid, float *S) {
    for (int b = 0; b < B; b++) {
        const float *qb = q + (long)b * H;
        const long kb = kv_row ? kv_row[b] : b;
        float *s = S + (long)b * Tk;
        for (int j = 0; j < Tk && j < valid[b]; j++) s[j] = lanes_dot(qb, KP + (kb * Tk + j) * H, H);
    }
}

void s2s_dot_scores_ref(int B, int Tk, int H, const float *q, const float *KP, const int32_t *kv_row,
                        const int32_t *valid, float *S) {
    for (int b = 0; b < B; b++) {
        const long kb = kv_row ? kv_row[b] : b;
        for (int j = 0; j < Tk && j < valid[b]; j++) {
            double acc = 0.0;
            for (int h = 0; h < H; h++) acc += (double)q[(long)b * H + h] * KP[(kb * Tk + j) * H + h];
            S[(long)b * Tk + j] = (float)acc;
        }
    }
}

void s2s_masked_softmax(int B, int Tk, const int32_t *valid, float *A) {
    for (int b = 0; b < B; b++) {
        float *a = A + (long)b * Tk, mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < Tk; j++) {
            if (j >= valid[b]) a[j] = -1e6f;
            if (a[j] > mx) mx = a[j];
        }
        for (int j = 0; j < Tk; j++) { a[j] = fast_expf(a[j] - mx); sum += a[j]; }
        for (int j = 0; j < Tk; j++) a[j] /= sum;
    }
}

void s2s_masked_softmax_ref(int B, int Tk, const int32_t *valid, float *A) {
    for (int b = 0; b < B; b++) {
        float *a = A + (long)b * Tk;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < Tk; j++) {
            if (j >= valid[b]) a[j] = -1e6f;
            if (a[j] > mx) mx = a[j];
        }
        for (int j = 0; j < Tk; j++) sum += exp((double)a[j] - mx);
        for (int j = 0; j < Tk; j++) a[j] = (float)(exp((double)a[j] - mx) / sum);
    }
}

void s2s_attn_context(int B, int Tk, int H, const float *A, const float *drop, const float *V,
                      const int32_t *kv_row, float *ctx) {
    for (int b = 0; b < B; b++) {
        const long kb = kv_row ? kv_row[b] : b;
        const float *a = A + (long)b * Tk;
        float *restrict c = ctx + (long)b * H;
        memset(c, 0, sizeof(float) * H);
        for (int j = 0; j < Tk; j++) {
            if (a[j] == 0.0f) continue;  /* masked keys (exp underflows to exactly 0) add nothing */
            const float w = drop ? a[j] * drop[(long)b * Tk + j] : a[j];
            const float *v = V + (kb * Tk + j) * H;
            for (int h = 0; h < H; h++) c[h] += w * v[h];
        }
    }
}

void s2s_attn_context_backward(int B, int Tk, int H, const float *dctx, const float *A, const float *drop,
                               const float *V, float *dV, float *dA) {
    for (int b = 0; b < B; b++) {
        const float *dc = dctx + (long)b * H, *a = A + (long)b * Tk;
        float *da = dA + (long)b * Tk;
        for (int j = 0; j < Tk; j++) {
            if (a[j] == 0.0f) { da[j] = 0.0f; continue; }  /* a masked key: no share in anything */
            const float mk = drop ? drop[(long)b * Tk + j] : 1.0f, w = a[j] * mk;
            const float *v = V + ((long)b * Tk + j) * H;
            float *dv = dV + ((long)b * Tk + j) * H;
            da[j] = lanes_dot(dc, v, H) * mk;
            for (int h = 0; h < H; h++) dv[h] += w * dc[h];
        }
    }
}

void s2s_masked_softmax_backward(int B, int Tk, const int32_t *valid, const float *A, const float *dA, float *dS) {
    for (int b = 0; b < B; b++) {
        const float *a = A + (long)b * Tk, *da = dA + (long)b * Tk;
        float *ds = dS + (long)b * Tk, dot = 0.0f;
        for (int j = 0; j < Tk; j++) {
            if (a[j] == 0.0f) continue;
            /* one rounding per term where the build has FMA, as -ffp-contract=fast makes of a loop
             * the compiler does not vectorise: the vectoriser's in-order sum would round twice */
#ifdef __FMA__
            dot = fmaf(a[j], da[j], dot);
#else
            dot += a[j] * da[j];
#endif
        }
        for (int j = 0; j < Tk && j < valid[b]; j++) ds[j] = a[j] * (da[j] - dot);
    }
}

void s2s_dot_scores_backward(int B, int Tk, int H, const float *dS, const float *q, const float *KP,
                             const int32_t *valid, float *dq, float *dKP) {
    for (int b = 0; b < B; b++) {
        const float *qb = q + (long)b * H, *ds = dS + (long)b * Tk;
        float *dqb = dq + (long)b * H;
        for (int j = 0; j < Tk && j < valid[b]; j++) {
            const float *kp = KP + ((long)b * Tk + j) * H;
            float *dkp = dKP + ((long)b * Tk + j) * H;
            for (int h = 0; h < H; h++) { dqb[h] += ds[j] * kp[h]; dkp[h] += ds[j] * qb[h]; }
        }
    }
}

void s2s_tanh(size_t n, const float *restrict x, float *restrict y) {
    for (size_t i = 0; i < n; i++) y[i] = fast_tanhf(x[i]);
}

void s2s_tanh_backward(size_t n, const float *restrict y, const float *restrict dy, const float *restrict dy2,
                       float *restrict dx) {
    for (size_t i = 0; i < n; i++) dx[i] = (dy2 ? dy[i] + dy2[i] : dy[i]) * (1.0f - y[i] * y[i]);
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

/* Σ x[i] in 16 lanes folded in a fixed order (as lanes_dot), then the tail in order. */
static float lanes_sum(const float *x, int n) {
    float s[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += x[i + l];
    for (int l = 0; l < 8; l++) s[l] += s[l + 8];
    for (int l = 0; l < 4; l++) s[l] += s[l + 4];
    for (int l = 0; l < 2; l++) s[l] += s[l + 2];
    float r = s[0] + s[1];
    for (; i < n; i++) r += x[i];
    return r;
}

double s2s_smoothed_ce(int n, int V, const float *logits, const int32_t *y, float eps, float w, float *loss,
                       float *dlogits) {
    double total = 0.0;
    const float off = eps / V, on = 1.0f - eps + off;  /* q_c: eps/V, and at the label 1 - eps + eps/V */
    for (int k = 0; k < n; k++) {
        const float *x = logits + (size_t)k * V;
        float *dx = dlogits ? dlogits + (size_t)k * V : NULL;
        const int lab = y[k];
        const float mx = lanes_max(x, V), xl = x[lab];
        const float xs = eps > 0.0f ? lanes_sum(x, V) : 0.0f;  /* read before dx (may alias x) */
        const double sum = lanes_exp_sum(dx, x, V, mx);
        const double lse = mx + log(sum);
        /* -Σ_c q_c log p_c = lse - (1 - eps) x_y - (eps/V) Σ_c x_c */
        loss[k] = (float)(w * (lse - (1.0 - eps) * xl - (double)off * xs));
        total += loss[k];
        if (dx) {
            const float kk = (float)(w / sum), wo = w * off;
            for (int v = 0; v < V; v++) dx[v] = dx[v] * kk - wo;
            dx[lab] -= w * (on - off);
        }
    }
    return total;
}

/* ---- raw memory work --------------------------------------------------------------------- */

void s2s_rows_gather(float *dst, const float *table, int D, const int32_t *ids, int B, int ld, int steps) {
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++)
            memcpy(dst + ((size_t)t * B + b) * D, table + (size_t)ids[(size_t)b * ld + t] * D, sizeof(float) * D);
}

void s2s_rows_take(float *dst, const float *src, int D, const int32_t *idx, int n) {
    for (int k = 0; k < n; k++) memcpy(dst + (size_t)k * D, src + (size_t)idx[k] * D, sizeof(float) * D);
}

void s2s_rows_put(float *dst, const float *src, int D, const int32_t *idx, int n) {
    for (int k = 0; k < n; k++) memcpy(dst + (size_t)idx[k] * D, src + (size_t)k * D, sizeof(float) * D);
}

void s2s_rows_put_add(float *dst, const float *src, int D, const int32_t *idx, int n) {
    for (int k = 0; k < n; k++) {
        float *restrict d = dst + (size_t)idx[k] * D;
        const float *restrict s = src + (size_t)k * D;
        for (int j = 0; j < D; j++) d[j] += s[j];
    }
}

void s2s_ids_permute(int32_t *a, int B, const int *from) {
    int32_t v[B > 0 ? B : 1];
    for (int i = 0; i < B; i++) v[i] = a[from[i]];
    memcpy(a, v, sizeof(int32_t) * B);
}

void s2s_rows_scatter_add(float *table, int D, const float *src, const int32_t *ids, int B, int ld, int steps) {
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++) {
            float *row = table + (size_t)ids[(size_t)b * ld + t] * D;
            const float *s = src + ((size_t)t * B + b) * D;
            for (int k = 0; k < D; k++) row[k] += s[k];
        }
}

void s2s_transpose(float *restrict dst, const float *restrict W, int rows, int cols, int ldw) {
    for (int j0 = 0; j0 < rows; j0 += 16)
        for (int k0 = 0; k0 < cols; k0 += 16)
            for (int k = k0; k < cols && k < k0 + 16; k++)  /* a run of dst's row k at a time */
                for (int j = j0; j < rows && j < j0 + 16; j++) dst[(long)k * rows + j] = W[(long)j * ldw + k];
}

void s2s_time_to_batch(float *dst, const float *src, int T, int B, int D) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(dst + ((size_t)b * T + t) * D, src + ((size_t)t * B + b) * D, sizeof(float) * D);
}

void s2s_batch_to_time(float *dst, const float *src, int T, int B, int D) {
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            memcpy(dst + ((size_t)t * B + b) * D, src + ((size_t)b * T + t) * D, sizeof(float) * D);
}

void s2s_mul(size_t n, const float *restrict a, const float *restrict b, float *restrict y) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void s2s_scale(size_t n, const float *restrict b, float *restrict y) {
    for (size_t i = 0; i < n; i++) y[i] *= b[i];
}

void s2s_add(size_t n, const float *restrict x, float *restrict y) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void s2s_add_masked(size_t n, const float *restrict x, const float *restrict mask, float *restrict y) {
    for (size_t i = 0; i < n; i++) y[i] += mask ? x[i] * mask[i] : x[i];
}

void s2s_fill(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void s2s_zero(float *x, size_t n) { memset(x, 0, sizeof(float) * n); }

void s2s_copy(float *dst, const float *src, size_t n) { memcpy(dst, src, sizeof(float) * n); }

void s2s_rows_broadcast(float *dst, const float *row, int B, size_t n) {
    for (int b = 0; b < B; b++) memcpy(dst + (size_t)b * n, row, sizeof(float) * n);
}

void s2s_log_softmax_rows(int B, int V, float *x) {
    for (int b = 0; b < B; b++) {
        float *r = x + (size_t)b * V, mx = lanes_max(r, V);
        double s = lanes_exp_sum(NULL, r, V, mx);
        float lse = mx + (float)log(s);
        for (int v = 0; v < V; v++) r[v] -= lse;
    }
}

void s2s_rows_permute(float *a, float *scratch, int B, size_t row, const int *from) {
    int rising = 1;  /* from[i] >= i and increasing (finished rows dropped): move up in place */
    for (int i = 0; i < B && rising; i++) rising = from[i] >= i && (i == 0 || from[i] > from[i - 1]);
    if (rising) {
        for (int i = 0; i < B; i++)
            if (from[i] != i) memcpy(a + i * row, a + (size_t)from[i] * row, sizeof(float) * row);
        return;
    }
    for (int i = 0; i < B; i++) memcpy(scratch + i * row, a + (size_t)from[i] * row, sizeof(float) * row);
    memcpy(a, scratch, sizeof(float) * B * row);
}

void s2s_copy_block(int M, int n, const float *src, int lds, float *dst, int ldd) {
    for (int i = 0; i < M; i++) memcpy(dst + (size_t)i * ldd, src + (size_t)i * lds, sizeof(float) * n);
}

void s2s_add_block(int M, int n, const float *restrict src, int lds, float *restrict dst, int ldd) {
    for (int i = 0; i < M; i++) s2s_add((size_t)n, src + (size_t)i * lds, dst + (size_t)i * ldd);
}

void s2s_rows_hold(int B, int D, const int32_t *len, int p, const float *src, float *dst) {
    for (int b = 0; b < B; b++)
        if (p >= len[b]) memcpy(dst + (size_t)b * D, src + (size_t)b * D, sizeof(float) * D);
}

void s2s_rows_zero_past(int B, int D, const int32_t *len, int p, float *x) {
    for (int b = 0; b < B; b++)
        if (p >= len[b]) memset(x + (size_t)b * D, 0, sizeof(float) * D);
}

void s2s_time_reverse(float *x, int T, size_t block) {
    for (int i = 0, j = T - 1; i < j; i++, j--) {
        float *a = x + (size_t)i * block, *b = x + (size_t)j * block;
        for (size_t k = 0; k < block; k++) { float t = a[k]; a[k] = b[k]; b[k] = t; }
    }
}

void s2s_cell_gh(const s2s_cell_fwd *a, int G, int ref) {
    const int B = a->B, H = a->H, N = G * H;
    if (a->zero_prev) {
        s2s_rows_broadcast(a->gh, a->b_hh, B, (size_t)N);
        return;
    }
    if (!ref && s2s_pk_linear(a->pk, a->W_hh, H, N, H, B, a->h_prev, H, a->b_hh, 0.0f, a->gh, N)) return;
    if (!ref && a->W_hhT) s2s_linear_forward_t(a->gemm, B, N, H, a->h_prev, H, a->W_hhT, N, a->b_hh, 0.0f, a->gh, N);
    else s2s_linear_forward(a->gemm, B, N, H, a->h_prev, H, a->W_hh, H, a->b_hh, 0.0f, a->gh, N);
}
