/* The transposed copies of the weights the per-step products read (s2s_wt in s2s_ws.h): which
 * copies a model's configuration has, their buffers, making them, and lending one set to a
 * workspace. And the bfloat16 or 8-bit copies a translating workspace keeps under
 * S2S_GEMM_BF16 or INT8 (s2s_pk). */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_kernel.h"
#include "s2s_nn.h"

int s2s_wt_jobs(const s2s_config *c, const s2s_params *p, s2s_wt *wt, s2s_wt_job *jobs) {
    const int H = c->hidden, L = c->layers, dirs = s2s_encoder_of(c->encoder)->dirs, Hd = H / dirs;
    const int G = s2s_cell_of(c->cell)->gates;
    const s2s_decoder_ops *dec = s2s_decoder_of(c->attention);
    int n = 0;
    for (int l = 0; l < L; l++)
        for (int d = 0; d < dirs; d++)
            jobs[n++] = (s2s_wt_job){&wt->enc_hh[l][d], p ? p->enc[l][d].w_hh : NULL, G * Hd, Hd, Hd};
    for (int l = 0; l < L; l++) {
        jobs[n++] = (s2s_wt_job){&wt->dec_hh[l], p ? p->dec[l].w_hh : NULL, G * H, H, H};
        if (l > 0) jobs[n++] = (s2s_wt_job){&wt->dec_ih[l], p ? p->dec[l].w_ih : NULL, G * H, H, H};
    }
    if (dec->transposed) n += dec->transposed(c, p, wt->fam, jobs + n);
    return n;
}

void s2s_wt_carve(const s2s_config *c, s2s_wt *wt, s2s_carve *cv) {
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(c, NULL, wt, jobs);
    for (int i = 0; i < n; i++) *jobs[i].dst = s2s_take(cv, (size_t)jobs[i].rows * jobs[i].cols);
}

size_t s2s_wt_floats(const s2s_config *c) {
    s2s_wt wt;
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(c, NULL, &wt, jobs);
    size_t f = 0;
    for (int i = 0; i < n; i++) f += (size_t)jobs[i].rows * jobs[i].cols;
    return f;
}

void s2s_wt_make(const s2s_model *m, s2s_wt *wt, int part, int parts) {
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(&m->cfg, &m->p, wt, jobs);
    for (int i = 0; i < n; i++) {  /* columns [k0, k1) of W are rows [k0, k1) of the copy */
        const s2s_wt_job *j = &jobs[i];
        const int k0 = (int)((long)j->cols * part / parts), k1 = (int)((long)j->cols * (part + 1) / parts);
        if (k1 > k0) s2s_transpose(*j->dst + (size_t)k0 * j->rows, j->W + k0, j->rows, k1 - k0, j->ldw);
    }
}

void s2s_ws_lend_wt(s2s_ws *ws, const s2s_wt *wt) { ws->wt = wt ? wt : &ws->own_wt; }

/* ---- bfloat16 or 8-bit copies (s2s_pk) ---------------------------------------------------- */

static size_t pk_words(int int8, int N, int K) { return int8 ? s2s_i8_packed_words(N, K) : s2s_bf16_packed_words(N, K); }

s2s_pk *s2s_pk_carve(const s2s_config *c, int Vt, int max_B, int int8, s2s_carve *cv) {
    const int H = c->hidden, E = c->embed, G = s2s_cell_of(c->cell)->gates;
    s2s_wt wt;
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(c, NULL, &wt, jobs);
    /* the output layer, the embedding columns, and each step copy (with a spare: a family may
     * use a copy's columns as two products, as Luong's W_c) */
    size_t cap = pk_words(int8, Vt, H) + pk_words(int8, G * H, E);
    for (int i = 0; i < n; i++) cap += pk_words(int8, jobs[i].rows, jobs[i].cols) + pk_words(int8, jobs[i].rows, 4);
    const int rows = (max_B + 7) / 8 * 8, kmax = H > E ? H : E;
    const size_t sc = (int8 ? s2s_i8_scratch_words : s2s_bf16_scratch_words)(rows, kmax);
    s2s_pk *pk = s2s_take_bytes(cv, sizeof *pk);
    uint32_t *store = s2s_take_bytes(cv, sizeof(uint32_t) * cap);
    uint32_t *scratch = s2s_take_bytes(cv, sizeof(uint32_t) * sc);
    if (pk) {
        memset(pk, 0, sizeof *pk);
        pk->int8 = int8, pk->store = store, pk->cap = cap, pk->scratch = scratch, pk->rows = rows, pk->kmax = kmax;
    }
    return pk;
}

int s2s_pk_linear(s2s_pk *pk, const float *W, int ldw, int N, int K, int M, const float *x, int ldx, const float *b,
                  float beta, float *y, int ldy) {
    if (!pk || K > pk->kmax) return 0;
    int i = 0;
    while (i < pk->n && !(pk->w[i].W == W && pk->w[i].N == N && pk->w[i].K == K)) i++;
    if (i == pk->n) {  /* its first product: pack it */
        const size_t words = pk_words(pk->int8, N, K);
        if (pk->n == S2S_PK_MAX || words > pk->cap - pk->used) {
            pk->misses++;
            return 0;
        }
        pk->w[i].W = W, pk->w[i].N = N, pk->w[i].K = K, pk->w[i].pk = pk->store + pk->used;
        (pk->int8 ? s2s_i8_pack : s2s_bf16_pack)(W, ldw, N, K, pk->w[i].pk);
        pk->used += words;
        pk->n++;
    }
    for (int i0 = 0; i0 < M; i0 += pk->rows)
        (pk->int8 ? s2s_i8_gemm_packed : s2s_bf16_gemm_packed)(M - i0 < pk->rows ? M - i0 : pk->rows, N, K,
                                                               x + (size_t)i0 * ldx, ldx, pk->w[i].pk, b, beta,
                                                               y + (size_t)i0 * ldy, ldy, pk->scratch);
    return 1;
}

void s2s_ws_linear(const s2s_ws *ws, int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
                   const float *b, float beta, float *y, int ldy) {
    if (!s2s_pk_linear(ws->pk, W, ldw, N, K, M, x, ldx, b, beta, y, ldy))
        s2s_linear_forward(ws->gemm, M, N, K, x, ldx, W, ldw, b, beta, y, ldy);
}
