/* PyTorch's nn.LSTM cell as an s2s_cell (gate rows i, f, g, o):
 *   z = gi + h_prev W_hh^T + b_hh,  i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
 *   c = f ⊙ c_prev + i ⊙ g,  h = o ⊙ tanh(c)
 * States h and c; cache planes i, f, g, o, tanh(c). Backward, from dh and the carried dc:
 *   dc' = dc + dh ⊙ o ⊙ (1 - tanh²c);  dz_o = dh ⊙ tanh c ⊙ o(1-o),  dz_i = dc' ⊙ g ⊙ i(1-i),
 *   dz_f = dc' ⊙ c_prev ⊙ f(1-f),  dz_g = dc' ⊙ i ⊙ (1-g²);  dc_prev = dc' ⊙ f,  dh_prev = dz W_hh
 * The gradient of the input projection equals the recurrent one's (dgh = dgi). */
#include <string.h>

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

/* gh = h_prev W_hh^T + b_hh (b_hh alone after a zero state), then the gates. */
static void lstm_step(const s2s_cell_fwd *a, int ref) {
    const int B = a->B, H = a->H;
    const size_t pl = a->plane;
    float *I = a->cache, *F = I + pl, *G = F + pl, *O = G + pl, *TC = O + pl;
    if (a->zero_prev)
        for (int b = 0; b < B; b++) memcpy(a->gh + (size_t)b * 4 * H, a->b_hh, sizeof(float) * 4 * H);
    else if (a->W_hhT && !ref) s2s_linear_forward_t(B, 4 * H, H, a->h_prev, H, a->W_hhT, 4 * H, a->b_hh, 0.0f, a->gh, 4 * H);
    else s2s_linear_forward(B, 4 * H, H, a->h_prev, H, a->W_hh, H, a->b_hh, 0.0f, a->gh, 4 * H);
    (ref ? lstm_gates_ref : lstm_gates)(B, H, a->gi, a->gh, a->c_prev, a->h, a->c, I, F, G, O, TC);
}
static void lstm_forward(const s2s_cell_fwd *a) { lstm_step(a, 0); }
static void lstm_forward_ref(const s2s_cell_fwd *a) { lstm_step(a, 1); }

static void lstm_backward(const s2s_cell_bwd *a) {
    const int B = a->B, H = a->H;
    const size_t pl = a->plane;
    const float *I = a->cache, *F = I + pl, *G = F + pl, *O = G + pl, *TC = O + pl;
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * H;
        const float *restrict dh = a->dh + o, *restrict cp = a->c_prev + o;
        const float *dc = a->dc + o;  /* dc_prev may be dc itself */
        const float *restrict i = I + o, *restrict f = F + o, *restrict g = G + o, *restrict og = O + o, *restrict tc = TC + o;
        float *restrict dz = a->dgi + 4 * o, *dcp = a->dc_prev + o;
        for (int j = 0; j < H; j++) {
            const float dct = dc[j] + dh[j] * og[j] * (1.0f - tc[j] * tc[j]);
            dz[j] = dct * g[j] * i[j] * (1.0f - i[j]);
            dz[H + j] = dct * cp[j] * f[j] * (1.0f - f[j]);
            dz[2 * H + j] = dct * i[j] * (1.0f - g[j] * g[j]);
            dz[3 * H + j] = dh[j] * tc[j] * og[j] * (1.0f - og[j]);
            if (a->W_hh) dcp[j] = dct * f[j];  /* may be dc itself: read above */
        }
    }
    if (a->dgh != a->dgi) memcpy(a->dgh, a->dgi, sizeof(float) * B * 4 * H);
    if (a->W_hh) s2s_gemm(0, 0, B, H, 4 * H, 1.0f, a->dgi, 4 * H, a->W_hh, H, 0.0f, a->dh_prev, H);
}

const s2s_cell_ops s2s_cell_lstm = {"lstm", 4, 2, 5, 0, lstm_forward, lstm_forward_ref, lstm_backward};
