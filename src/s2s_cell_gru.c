/* PyTorch's nn.GRU cell as an s2s_cell (gate rows r, z, n):
 *   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h = (1-z) ⊙ n + z ⊙ h_prev
 * with gi = W_ih x + b_ih (the caller's) and gh = W_hh h_prev + b_hh (here). Cache planes: r, z,
 * n, gh_n. The kernels keep their own names (declared in s2s_nn.h) for the tests. */

#include "s2s_cell.h"
#include "s2s_linalg.h"
#include "s2s_math.h"
#include "s2s_nn.h"

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

void s2s_gru_cell_forward(s2s_gemm_kind g, int B, int H, const float *gi, const float *h_prev, const float *W_hh,
                          const float *b_hh, const float *W_hhT, float *gh, float *h, float *r, float *z,
                          float *n, float *ghn) {
    const s2s_cell_fwd a = {.B = B, .H = H, .h_prev = h_prev, .W_hh = W_hh, .W_hhT = W_hhT, .b_hh = b_hh,
                            .zero_prev = !W_hh && !W_hhT, .gh = gh, .gemm = g};
    s2s_cell_gh(&a, 3, 0);
    s2s_gru_gates(B, H, gi, gh, h_prev, h, r, z, n, ghn);
}

void s2s_gru_cell_backward(s2s_gemm_kind g, int B, int H, const float *dh, const float *h_prev, const float *r,
                           const float *z, const float *n, const float *ghn, const float *W_hh,
                           float *dgi, float *dgh, float *dh_prev) {
    for (int b = 0; b < B; b++) {
        long o = (long)b * H, o3 = (long)b * 3 * H;
        gru_grads_row(H, dh + o, h_prev + o, r + o, z + o, n + o, ghn + o, dgi + o3, dgh + o3);
    }
    if (!W_hh) return;
    for (long i = 0; i < (long)B * H; i++) dh_prev[i] = dh[i] * z[i];  /* may be in place */
    s2s_gemm(g, 0, 0, B, H, 3 * H, 1.0f, dgh, 3 * H, W_hh, H, 1.0f, dh_prev, H);
}


/* ---- the cell interface ------------------------------------------------------------------ */

/* gh (s2s_cell_gh), then the gates. */
static void gru_step(const s2s_cell_fwd *a, int ref) {
    float *r = a->cache, *z = r + a->plane, *n = z + a->plane, *ghn = n + a->plane;
    s2s_cell_gh(a, 3, ref);
    (ref ? s2s_gru_gates_ref : s2s_gru_gates)(a->B, a->H, a->gi, a->gh, a->h_prev, a->h, r, z, n, ghn);
}
static void gru_forward(const s2s_cell_fwd *a) { gru_step(a, 0); }
static void gru_forward_ref(const s2s_cell_fwd *a) { gru_step(a, 1); }

static void gru_backward(const s2s_cell_bwd *a) {
    const float *r = a->cache, *z = r + a->plane, *n = z + a->plane, *ghn = n + a->plane;
    s2s_gru_cell_backward(a->gemm, a->B, a->H, a->dh, a->h_prev, r, z, n, ghn, a->W_hh, a->dgi, a->dgh, a->dh_prev);
}

const s2s_cell_ops s2s_cell_gru = {"gru", 3, 1, 4, 1, gru_forward, gru_forward_ref, gru_backward, gru_backward};
