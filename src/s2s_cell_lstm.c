/* PyTorch's nn.LSTM cell as an s2s_cell (gate rows i, f, g, o):
 *   z = gi + h_prev W_hh^T + b_hh,  i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
 *   c = f ⊙ c_prev + i ⊙ g,  h = o ⊙ tanh(c)
 * States h and c; cache planes i, f, g, o, tanh(c). Backward, from dh and the carried dc:
 *   dc' = dc + dh ⊙ o ⊙ (1 - tanh²c);  dz_o = dh ⊙ tanh c ⊙ o(1-o),  dz_i = dc' ⊙ g ⊙ i(1-i),
 *   dz_f = dc' ⊙ c_prev ⊙ f(1-f),  dz_g = dc' ⊙ i ⊙ (1-g²);  dc_prev = dc' ⊙ f,  dh_prev = dz W_hh
 * The gradient of the input projection equals the recurrent one's (dgh = dgi). */

#include "s2s_cell.h"
#include "s2s_linalg.h"
#include "s2s_math.h"
#include "s2s_nn.h"

/* The element-wise forward over all rows in portable loops: gates from gi + gh, the new c, h
 * and the cache. c = fma(f, c_prev, i*g) written out, so the vector version below can match it
 * bit for bit whatever the compiler contracts. */
static void lstm_gates_ref(int B, int H, const float *restrict gi, const float *restrict gh, const float *restrict cp,
                           float *restrict h, float *restrict c, float *restrict I, float *restrict F,
                           float *restrict G, float *restrict O, float *restrict TC) {
    for (int b = 0; b < B; b++, gi += 4 * H, gh += 4 * H, cp += H, h += H, c += H, I += H, F += H, G += H, O += H, TC += H)
        for (int j = 0; j < H; j++) {
            const float ij = fast_sigmoidf(gi[j] + gh[j]);
            const float fj = fast_sigmoidf(gi[H + j] + gh[H + j]);
            const float gj = fast_tanhf(gi[2 * H + j] + gh[2 * H + j]);
            const float oj = fast_sigmoidf(gi[3 * H + j] + gh[3 * H + j]);
            const float ig = ij * gj;
            const float cj = __builtin_fmaf(fj, cp[j], ig);
            const float tj = fast_tanhf(cj);
            I[j] = ij; F[j] = fj; G[j] = gj; O[j] = oj; TC[j] = tj;
            c[j] = cj;
            h[j] = oj * tj;
        }
}

#ifdef __AVX512F__
/* Columns [j, j+16) of one row, lanes m only (a row's last H mod 16 columns are one masked
 * vector); the same operations as the loop above. */
static inline void gates16(int H, int j, __mmask16 m, const float *gi, const float *gh, const float *cp, float *h,
                           float *c, float *I, float *F, float *G, float *O, float *TC) {
#define Z(k) _mm512_add_ps(_mm512_maskz_loadu_ps(m, gi + (k) * H + j), _mm512_maskz_loadu_ps(m, gh + (k) * H + j))
    const __m512 ij = v_sigmoidf(Z(0)), fj = v_sigmoidf(Z(1)), gj = v_tanhf(Z(2)), oj = v_sigmoidf(Z(3));
#undef Z
    const __m512 cj = _mm512_fmadd_ps(fj, _mm512_maskz_loadu_ps(m, cp + j), _mm512_mul_ps(ij, gj));
    const __m512 tj = v_tanhf(cj);
    _mm512_mask_storeu_ps(I + j, m, ij);
    _mm512_mask_storeu_ps(F + j, m, fj);
    _mm512_mask_storeu_ps(G + j, m, gj);
    _mm512_mask_storeu_ps(O + j, m, oj);
    _mm512_mask_storeu_ps(TC + j, m, tj);
    _mm512_mask_storeu_ps(c + j, m, cj);
    _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(oj, tj));
}

static void lstm_gates(int B, int H, const float *gi, const float *gh, const float *cp, float *h, float *c, float *I,
                       float *F, float *G, float *O, float *TC) {
    for (int b = 0; b < B; b++, gi += 4 * H, gh += 4 * H, cp += H, h += H, c += H, I += H, F += H, G += H, O += H, TC += H) {
        int j = 0;
        for (; j + 16 <= H; j += 16) gates16(H, j, 0xffff, gi, gh, cp, h, c, I, F, G, O, TC);
        if (j < H) gates16(H, j, v_tail(H - j), gi, gh, cp, h, c, I, F, G, O, TC);
    }
}
#else
static void lstm_gates(int B, int H, const float *gi, const float *gh, const float *cp, float *h, float *c, float *I,
                       float *F, float *G, float *O, float *TC) {
    lstm_gates_ref(B, H, gi, gh, cp, h, c, I, F, G, O, TC);
}
#endif

/* gh (s2s_cell_gh), then the gates. */
static void lstm_step(const s2s_cell_fwd *a, int ref) {
    const int B = a->B, H = a->H;
    const size_t pl = a->plane;
    float *I = a->cache, *F = I + pl, *G = F + pl, *O = G + pl, *TC = O + pl;
    s2s_cell_gh(a, 4, ref);
    (ref ? lstm_gates_ref : lstm_gates)(B, H, a->gi, a->gh, a->c_prev, a->h, a->c, I, F, G, O, TC);
}
static void lstm_forward(const s2s_cell_fwd *a) { lstm_step(a, 0); }
static void lstm_forward_ref(const s2s_cell_fwd *a) { lstm_step(a, 1); }

/* The element-wise backward over all rows in portable loops (the reference for the vector
 * version below): dz [B,4H] from dh, the carried dc, c_prev and the cache planes; dc_prev =
 * dc' ⊙ f unless dcp is NULL (dcp may be dc itself: each element is read before it is written). */
static void lstm_grads_ref(int B, int H, const float *dh, const float *dc, const float *cp, const float *I,
                           const float *F, const float *G, const float *O, const float *TC, float *dz, float *dcp) {
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            const size_t k = (size_t)b * H + j;
            const float i = I[k], f = F[k], g = G[k], og = O[k], tc = TC[k];
            const float dct = dc[k] + dh[k] * og * (1.0f - tc * tc);
            float *z = dz + (size_t)b * 4 * H + j;
            z[0] = dct * g * i * (1.0f - i);
            z[H] = dct * cp[k] * f * (1.0f - f);
            z[2 * H] = dct * i * (1.0f - g * g);
            z[3 * H] = dh[k] * tc * og * (1.0f - og);
            if (dcp) dcp[k] = dct * f;
        }
}

#ifdef __AVX512F__
/* Elements [k, k+16) of the [B,H] planes, row z of dz (their row's columns from j), lanes m
 * only; the loop above's operations, the multiply-adds it contracts (1 - x*x and dc + (dh*o) *
 * (1 - tanh²c)) written as FMAs: bitwise the same (tests/test_families.c). */
static inline void grads16(int H, size_t k, __mmask16 m, const float *dh, const float *dc, const float *cp,
                           const float *I, const float *F, const float *G, const float *O, const float *TC, float *z,
                           float *dcp) {
#define L(p) _mm512_maskz_loadu_ps(m, (p) + k)
    const __m512 one = _mm512_set1_ps(1.0f), i = L(I), f = L(F), g = L(G), og = L(O), tc = L(TC), d = L(dh);
    const __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(d, og), _mm512_fnmadd_ps(tc, tc, one), L(dc));
    const __m512 zi = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dct, g), i), _mm512_sub_ps(one, i));
    const __m512 zf = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dct, L(cp)), f), _mm512_sub_ps(one, f));
    const __m512 zg = _mm512_mul_ps(_mm512_mul_ps(dct, i), _mm512_fnmadd_ps(g, g, one));
    const __m512 zo = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, tc), og), _mm512_sub_ps(one, og));
#undef L
    _mm512_mask_storeu_ps(z, m, zi);
    _mm512_mask_storeu_ps(z + H, m, zf);
    _mm512_mask_storeu_ps(z + 2 * H, m, zg);
    _mm512_mask_storeu_ps(z + 3 * H, m, zo);
    if (dcp) _mm512_mask_storeu_ps(dcp + k, m, _mm512_mul_ps(dct, f));
}

static void lstm_grads(int B, int H, const float *dh, const float *dc, const float *cp, const float *I,
                       const float *F, const float *G, const float *O, const float *TC, float *dz, float *dcp) {
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * H;
        float *z = dz + 4 * o;
        int j = 0;
        for (; j + 16 <= H; j += 16) grads16(H, o + j, 0xffff, dh, dc, cp, I, F, G, O, TC, z + j, dcp);
        if (j < H) grads16(H, o + j, v_tail(H - j), dh, dc, cp, I, F, G, O, TC, z + j, dcp);
    }
}
#else
static void lstm_grads(int B, int H, const float *dh, const float *dc, const float *cp, const float *I,
                       const float *F, const float *G, const float *O, const float *TC, float *dz, float *dcp) {
    lstm_grads_ref(B, H, dh, dc, cp, I, F, G, O, TC, dz, dcp);
}
#endif

/* dz, dc_prev (unless the previous state is zero), then dh_prev = dz W_hh. */
static void lstm_back(const s2s_cell_bwd *a, int ref) {
    const int B = a->B, H = a->H;
    const size_t pl = a->plane;
    const float *I = a->cache, *F = I + pl, *G = F + pl, *O = G + pl, *TC = O + pl;
    (ref ? lstm_grads_ref : lstm_grads)(B, H, a->dh, a->dc, a->c_prev, I, F, G, O, TC, a->dgi,
                                        a->W_hh ? a->dc_prev : NULL);
    if (a->dgh != a->dgi) s2s_copy(a->dgh, a->dgi, (size_t)B * 4 * H);
    if (a->W_hh) s2s_gemm(a->gemm, 0, 0, B, H, 4 * H, 1.0f, a->dgi, 4 * H, a->W_hh, H, 0.0f, a->dh_prev, H);
}
static void lstm_backward(const s2s_cell_bwd *a) { lstm_back(a, 0); }
static void lstm_backward_ref(const s2s_cell_bwd *a) { lstm_back(a, 1); }

const s2s_cell_ops s2s_cell_lstm = {"lstm", 4, 2, 5, 0, lstm_forward, lstm_forward_ref, lstm_backward, lstm_backward_ref};
