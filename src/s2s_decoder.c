/* What every decoder shares: its recurrent layers for one step, forward and backward, the
 * products over all steps, and the attention keys. */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

void s2s_step_linear(const s2s_ws *ws, int M, int N, int K, const float *x, const float *W, int ldw,
                     const float *WT, const float *b, float beta, float *y) {
    if (ws->wt_on) s2s_linear_forward_t(ws->gemm, M, N, K, x, K, WT, N, b, beta, y, N);
    else s2s_ws_linear(ws, M, N, K, x, K, W, ldw, b, beta, y, N);  /* a pass with packed copies has no wt */
}

/* The leading steps where every row runs as one product, then one product per step over its
 * prefix of rows (the finished rows' D is zero). */
void s2s_dec_wgrad(const s2s_ws *ws, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                   float *dW, int ldw, float *db) {
    const int B = ws->B;
    int t = 0;
    while (t < ws->Tdec && ws->active[t] == B) t++;
    s2s_linear_wgrad(ws->gemm, t * B, rows, cols, D, ldd, X, ldx, dW, ldw, db);
    for (; t < ws->Tdec; t++)
        s2s_linear_wgrad(ws->gemm, ws->active[t], rows, cols, D + (size_t)t * B * ldd, ldd, X + (size_t)t * B * ldx, ldx,
                         dW, ldw, db);
}

const float *s2s_dec_ih0(const s2s_model *m, int col) { return m->p.dec[0].w_ih + col; }

void s2s_dec_layers(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s) {
    const int H = ws->H, L = ws->L, G = ws->G, B = s->B;
    const size_t o = (size_t)s->t * ws->B * H, plane = ws->TBd * H;
    for (int l = 0; l < L; l++) {
        s2s_rnn_cache *r = &ws->dec[l];
        const s2s_rnn_params *w = &m->p.dec[l];
        float *gi = r->gi + (size_t)G * o;
        if (l > 0) {
            const float *x = s->next[l - 1][0];
            const s2s_layer_drop *dr = &ws->dec_drop[l];
            if (!s->infer && ws->dec_dropped && dr->mask) {
                s2s_mul((size_t)B * H, x, dr->mask + o, dr->xd + o);
                x = dr->xd + o;
            }
            s2s_step_linear(ws, B, G * H, H, x, w->w_ih, H, ws->wt->dec_ih[l], w->b_ih, 0.0f, gi);
        }
        const s2s_cell_fwd a = {B, H, gi, s->prev[l][0], s->prev[l][1], w->w_hh, ws->wt_on ? ws->wt->dec_hh[l] : NULL,
                                w->b_hh, 0, ws->gh, s->next[l][0], s->next[l][1], r->cache + o, plane, ws->gemm,
                                ws->pk};
        ws->cell->forward(&a);
    }
}

void s2s_dec_layers_backward(s2s_model *m, s2s_ws *ws, int t, int Bt) {
    const int B = ws->B, H = ws->H, L = ws->L, G = ws->G;
    const size_t BH = (size_t)B * H, o = (size_t)t * BH, BHt = (size_t)Bt * H, plane = ws->TBd * H;
    for (int l = L - 1; l >= 0; l--) {
        s2s_rnn_cache *r = &ws->dec[l];
        const s2s_cell_bwd a = {Bt, H, ws->dh[l], ws->dc[l], r->hs + o, r->cs ? r->cs + o : NULL, r->cache + o, plane,
                                m->p.dec[l].w_hh, r->dgi + G * o, r->dgh + G * o, ws->dh[l], ws->dc[l], ws->gemm};
        ws->cell->backward(&a);
        /* the finished rows take no part in the products over all steps */
        s2s_zero(r->dgi + G * (o + BHt), G * (BH - BHt));
        if (r->dgh != r->dgi) s2s_zero(r->dgh + G * (o + BHt), G * (BH - BHt));
        if (l > 0) {  /* into the layer below's output at this step */
            s2s_gemm(ws->gemm, 0, 0, Bt, H, G * H, 1.0f, r->dgi + G * o, G * H, m->p.dec[l].w_ih, H, 0.0f, ws->dlow, H);
            const float *mask = ws->dec_dropped && ws->dec_drop[l].mask ? ws->dec_drop[l].mask + o : NULL;
            s2s_add_masked(BHt, ws->dlow, mask, ws->dh[l - 1]);
        }
    }
}

/* ---- attention keys ------------------------------------------------------------------------ */

void s2s_keys_carve(s2s_keys *k, s2s_carve *c, const s2s_ws *w) {
    const size_t BTH = (size_t)w->TB * w->H;
    k->K = s2s_take(c, BTH); k->KP = s2s_take(c, BTH);
    k->dK = s2s_take(c, BTH); k->dKP = s2s_take(c, BTH);
    k->valid = (int32_t *)s2s_take(c, (size_t)w->max_B);
    k->kv_row = (int32_t *)s2s_take(c, (size_t)w->max_B);
}

void s2s_keys_prepare(const s2s_ws *ws, s2s_keys *k, const int32_t *src_len) {
    const int B = ws->B, T = ws->T;
    for (int b = 0; b < B; b++) {
        k->valid[b] = src_len[b] < T ? src_len[b] : T;
        k->kv_row[b] = b;
    }
    s2s_time_to_batch(k->K, ws->enc_out[ws->L - 1], T, B, ws->H);
}

void s2s_keys_backward(s2s_ws *ws, const s2s_keys *k) {
    s2s_batch_to_time(ws->enc_dy, k->dK, ws->T, ws->B, ws->H);
}

void s2s_keys_reorder(s2s_keys *k, int B, const int *from) {
    s2s_ids_permute(k->valid, B, from);
    s2s_ids_permute(k->kv_row, B, from);
}
