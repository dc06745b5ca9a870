/* The encoder: embedding, then L recurrent layers (any cell) over all T steps.
 *
 * One direction is d2l's encoder: it runs over the padding too, and its final state, after all
 * T steps, starts the decoder. Two directions are PyTorch's bidirectional RNN over packed
 * sequences, H/2 units each: row b's forward direction stops at its last real token (its
 * state is then held to the end, so the final state is the one at that token), its backward
 * direction starts there from a zero state; outputs at padding are zero; a layer's outputs,
 * and its final state, are the two directions side by side (forward first).
 *
 * Each direction keeps its caches in step order (the backward direction's step s is position
 * T-1-s): its input projections are computed in position order, one product over all steps,
 * then reversed in place, and their gradients reversed back before the products over all
 * steps. Rows at padding take the step like the others and then keep their state (forward)
 * and their carried gradient (backward), with no share in the weights' gradients. Steps where
 * every row is at padding (past the batch's longest source: the forward direction's last
 * steps, the backward direction's first) are not computed, as PyTorch's packed batches skip
 * them: their states are the held (forward) or zero (backward) ones, their gradients zero,
 * and the products over all steps keep their rows in place (the same sums, in the same order). */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

void s2s_enc_carve(s2s_ws *w, s2s_carve *c, float dropout) {
    const size_t B = w->max_B, TB = w->TB, E = w->E, H = w->H, L = w->L, Hd = w->Hd, G = w->G;
    const size_t EH = E > H ? E : H, S = w->S;
    w->src_len = (int32_t *)s2s_take(c, B);
    w->enc_x = s2s_take(c, TB * E);
    for (size_t l = 0; l < L; l++) {
        for (int d = 0; d < w->dirs; d++) {
            s2s_rnn_cache *r = &w->enc[l][d];
            r->gi = s2s_take(c, TB * G * Hd);
            r->hs = s2s_take(c, (TB + B) * Hd);
            r->cs = S > 1 ? s2s_take(c, (TB + B) * Hd) : NULL;
            r->cache = s2s_take(c, (size_t)w->P * TB * Hd);
            if (l == 0) {
                r->dgi = s2s_take(c, TB * G * Hd);
                r->dgh = w->cell->own_dgh ? s2s_take(c, TB * G * Hd) : r->dgi;
            } else {  /* a layer's are free once it has passed its gradient down */
                r->dgi = w->enc[0][d].dgi; r->dgh = w->enc[0][d].dgh;
            }
        }
        if (l > 0 && dropout > 0) { w->enc_drop[l].mask = s2s_take(c, TB * H); w->enc_drop[l].xd = s2s_take(c, TB * H); }
        if (w->dirs == 2) w->enc_cat[l] = s2s_take(c, TB * H);
    }
    if (w->dirs == 2) w->enc_fin = s2s_take(c, S * L * B * H);
    w->enc_dy = s2s_take(c, TB * EH); w->enc_dx = s2s_take(c, TB * EH);
    w->enc_dstate = s2s_take(c, S * L * B * H);
    w->enc_dh = s2s_take(c, B * Hd); w->enc_hold = s2s_take(c, B * Hd);
    if (S > 1) { w->enc_dc = s2s_take(c, B * Hd); w->enc_hold_c = s2s_take(c, B * Hd); }
}

/* Positions holding a real token in some row: the batch's longest source (packed), else T.
 * Counted once per pass, by s2s_enc_forward, into ws->Te. */
static int real_positions(const s2s_ws *ws) {
    if (ws->dirs != 2) return ws->T;
    int n = 0;
    for (int b = 0; b < ws->B; b++) n = ws->src_len[b] > n ? ws->src_len[b] : n;
    return n;
}

double s2s_enc_flops(const s2s_ws *ws) {
    const double E = ws->E, H = ws->H, Hd = ws->Hd, G = ws->G, L = ws->L, B = ws->B, dirs = ws->dirs;
    const double T = ws->Te;  /* the steps computed */
    const double in0 = ws->enc_tab.on ? ws->enc_tab.n : T * B;  /* per distinct token with the tables */
    /* the first step starts from zero: no W_hh product */
    return dirs * (L * 2.0 * (T > 1 ? T - 1 : 0) * B * G * Hd * Hd + (L - 1) * 2.0 * T * B * G * Hd * H + 2.0 * in0 * G * Hd * E);
}

/* ---- forward ---------------------------------------------------------------------------- */

/* The steps [*s0, *s1) of direction d where some row is at a real token (all T steps in one
 * direction): with Te real positions, the forward direction's first Te, the backward's last Te. */
static void real_steps(const s2s_ws *ws, int d, int *s0, int *s1) {
    const int T = ws->T, Te = ws->Te;
    *s0 = d ? T - Te : 0;
    *s1 = d ? T : Te;
}

/* One direction of layer l over the steps, from its projections r->gi (in step order). */
static void run_direction(const s2s_model *m, s2s_ws *ws, int l, int d, int B) {
    const int T = ws->T, Hd = ws->Hd, G = ws->G;
    s2s_rnn_cache *r = &ws->enc[l][d];
    const s2s_rnn_params *w = &m->p.enc[l][d];
    const size_t BHd = (size_t)B * Hd, plane = (size_t)T * BHd;
    int s0, s1;
    real_steps(ws, d, &s0, &s1);
    s2s_zero(r->hs, BHd * (s0 + 1));  /* the backward direction's states before s0 */
    if (r->cs) s2s_zero(r->cs, BHd * (s0 + 1));
    for (int s = s0; s < s1; s++) {
        const size_t o = s * BHd;
        float *c_prev = r->cs ? r->cs + o : NULL, *c = r->cs ? r->cs + o + BHd : NULL;
        const s2s_cell_fwd a = {B, Hd, r->gi + G * o, r->hs + o, c_prev, w->w_hh, ws->wt_on ? ws->wt->enc_hh[l][d] : NULL,
                                w->b_hh, s == s0, ws->gh, r->hs + o + BHd, c, r->cache + o, plane, ws->gemm,
                                ws->pk};
        ws->cell->forward(&a);
        if (ws->dirs == 2) {  /* rows at padding keep their state */
            const int p = d ? T - 1 - s : s;
            s2s_rows_hold(B, Hd, ws->src_len, p, r->hs + o, r->hs + o + BHd);
            if (c) s2s_rows_hold(B, Hd, ws->src_len, p, c_prev, c);
        }
    }
    for (int s = s1; s < T; s++) {  /* the forward direction's state held to the end */
        s2s_copy(r->hs + (s + 1) * BHd, r->hs + s * BHd, BHd);
        if (r->cs) s2s_copy(r->cs + (s + 1) * BHd, r->cs + s * BHd, BHd);
    }
}

/* Bidirectional: layer l's outputs [T,B,H] and final states [B,H] as the two directions side
 * by side. Position p's backward output is the state after its step T-1-p. */
static void join_directions(s2s_ws *ws, int l, int B) {
    const int T = ws->T, H = ws->H, Hd = ws->Hd, L = ws->L;
    const size_t BH = (size_t)B * H, BHd = (size_t)B * Hd;
    const s2s_rnn_cache *f = &ws->enc[l][0], *bw = &ws->enc[l][1];
    float *out = ws->enc_cat[l];
    const int Te = ws->Te;
    for (int p = 0; p < Te; p++) {
        s2s_copy_block(B, Hd, f->hs + (p + 1) * BHd, Hd, out + p * BH, H);
        s2s_copy_block(B, Hd, bw->hs + (T - p) * BHd, Hd, out + p * BH + Hd, H);
        s2s_rows_zero_past(B, H, ws->src_len, p, out + p * BH);
    }
    s2s_zero(out + Te * BH, (T - Te) * BH);  /* padding in every row */
    ws->enc_out[l] = out;
    for (int st = 0; st < ws->S; st++) {
        float *fin = ws->enc_fin + ((size_t)st * L + l) * BH;
        s2s_copy_block(B, Hd, (st ? f->cs : f->hs) + T * BHd, Hd, fin, H);
        s2s_copy_block(B, Hd, (st ? bw->cs : bw->hs) + T * BHd, Hd, fin + Hd, H);
        ws->enc_final[st][l] = fin;
    }
}

/* Whether the pass (encoder and decoder) reads transposed copies, and its own set made for it
 * when none is lent (s2s_wt). Not with packed copies (ws->pk): its step products read those. */
static void transpose_weights(const s2s_model *m, s2s_ws *ws, int B) {
    ws->wt_on = B >= S2S_WT_MIN_ROWS && !ws->pk;
    if (ws->wt_on && ws->wt == &ws->own_wt) s2s_wt_make(m, &ws->own_wt, 0, 1);
}

void s2s_enc_forward(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
                     int train, s2s_rng *rng) {
    const int T = ws->T, E = ws->E, H = ws->H, L = ws->L, G = ws->G, Hd = ws->Hd, dirs = ws->dirs;
    const float p = m->cfg.dropout;
    const size_t BH = (size_t)B * H;
    ws->B = B;
    transpose_weights(m, ws, B);
    if (dirs == 2)
        for (int b = 0; b < B; b++) ws->src_len[b] = src_len[b] < T ? src_len[b] : T;
    const int Te = ws->Te = real_positions(ws);
    ws->enc_dropped = train && p > 0;
    if ((ws->enc_tab.on = ws->opt.token_tables)) {
        s2s_tab_build(ws, &ws->enc_tab, src, B, T, T, NULL);
        for (int d = 0; d < dirs; d++) {
            const s2s_rnn_params *w = &m->p.enc[0][d];
            s2s_tab_project(&ws->enc_tab, m->p.enc_emb, E, G * Hd, w->w_ih, E, w->b_ih);
            s2s_tab_gather(&ws->enc_tab, G * Hd, ws->enc[0][d].gi, B, T, NULL);
        }
    } else {
        s2s_rows_gather(ws->enc_x, m->p.enc_emb, E, src, B, T, T);
    }
    for (int l = 0; l < L; l++) {
        const float *x = ws->enc_x;
        int in = E;
        if (l > 0) {
            const s2s_layer_drop *dr = &ws->enc_drop[l];
            x = ws->enc_out[l - 1]; in = H;
            if (dr->mask && ws->enc_dropped) {
                s2s_dropout_fill(dr->mask, T * BH, p, s2s_rng_next(rng));
                s2s_mul(T * BH, x, dr->mask, dr->xd);
                x = dr->xd;
            }
        }
        for (int d = 0; d < dirs; d++) {
            s2s_rnn_cache *r = &ws->enc[l][d];
            const s2s_rnn_params *w = &m->p.enc[l][d];
            if (l > 0 || !ws->enc_tab.on)  /* positions past the longest source are never read */
                s2s_linear_forward(ws->gemm, Te * B, G * Hd, in, x, in, w->w_ih, in, w->b_ih, 0.0f, r->gi, G * Hd);
            if (d) s2s_time_reverse(r->gi, T, (size_t)B * G * Hd);  /* into step order */
            run_direction(m, ws, l, d, B);
        }
        if (dirs == 2) {
            join_directions(ws, l, B);
        } else {
            const s2s_rnn_cache *r = &ws->enc[l][0];
            ws->enc_out[l] = r->hs + BH;
            ws->enc_final[0][l] = r->hs + T * BH;
            ws->enc_final[1][l] = r->cs ? r->cs + T * BH : NULL;
        }
    }
}

/* ---- backward --------------------------------------------------------------------------- */

/* Through the steps of layer l's direction d in reverse, from dy [T,B,H] on the layer's outputs
 * (its columns of them) and enc_dstate on its final state; fills dgi (step order), dgh and
 * W_hh's, b_hh's gradients. */
static void back_direction(s2s_model *m, s2s_ws *ws, int l, int d, const float *dy) {
    const int B = ws->B, T = ws->T, H = ws->H, L = ws->L, G = ws->G, Hd = ws->Hd, bi = ws->dirs == 2;
    const size_t BH = (size_t)B * H, BHd = (size_t)B * Hd, plane = (size_t)T * BHd;
    const s2s_rnn_cache *r = &ws->enc[l][d];
    const s2s_rnn_params *w = &m->p.enc[l][d];
    s2s_rnn_params *gw = &ws->g.enc[l][d];
    float *dh = ws->enc_dh, *dc = ws->enc_dc;
    int s0, s1;
    real_steps(ws, d, &s0, &s1);
    s2s_copy_block(B, Hd, ws->enc_dstate + l * BH + d * Hd, H, dh, Hd);
    if (dc) s2s_copy_block(B, Hd, ws->enc_dstate + (L + l) * BH + d * Hd, H, dc, Hd);
    /* steps at padding in every row: the carried gradient passes by (dy is zero there) */
    s2s_zero(r->dgi, G * BHd * s0);
    s2s_zero(r->dgi + G * s1 * BHd, G * BHd * (T - s1));
    if (r->dgh != r->dgi) {
        s2s_zero(r->dgh, G * BHd * s0);
        s2s_zero(r->dgh + G * s1 * BHd, G * BHd * (T - s1));
    }
    for (int s = s1 - 1; s >= s0; s--) {
        const size_t o = s * BHd;
        const int p = d ? T - 1 - s : s;
        s2s_add_block(B, Hd, dy + p * BH + d * Hd, H, dh, Hd);
        if (bi) {  /* rows at padding: no share in this step, the carried gradient passes by */
            s2s_rows_hold(B, Hd, ws->src_len, p, dh, ws->enc_hold);
            s2s_rows_zero_past(B, Hd, ws->src_len, p, dh);
            if (dc) { s2s_rows_hold(B, Hd, ws->src_len, p, dc, ws->enc_hold_c); s2s_rows_zero_past(B, Hd, ws->src_len, p, dc); }
        }
        const s2s_cell_bwd a = {B, Hd, dh, dc, r->hs + o, r->cs ? r->cs + o : NULL, r->cache + o, plane,
                                s > s0 ? w->w_hh : NULL, r->dgi + G * o, r->dgh + G * o, dh, dc, ws->gemm};
        ws->cell->backward(&a);
        if (bi) {
            s2s_rows_hold(B, Hd, ws->src_len, p, ws->enc_hold, dh);
            if (dc) s2s_rows_hold(B, Hd, ws->src_len, p, ws->enc_hold_c, dc);
        }
    }
    /* the first step's previous state is zero: it adds to b_hh only; the forward direction's
     * steps past the longest source add zeros: left out (the backward direction's zeros come
     * first and stay, so that the sums keep their order) */
    s2s_linear_wgrad(ws->gemm, B, G * Hd, Hd, r->dgh, G * Hd, NULL, Hd, gw->w_hh, Hd, gw->b_hh);
    s2s_linear_wgrad(ws->gemm, (s1 - 1) * B, G * Hd, Hd, r->dgh + G * BHd, G * Hd, r->hs + BHd, Hd, gw->w_hh, Hd,
                     gw->b_hh);
}

void s2s_enc_backward(s2s_model *m, s2s_ws *ws, const int32_t *src) {
    const int B = ws->B, T = ws->T, E = ws->E, H = ws->H, L = ws->L, G = ws->G, Hd = ws->Hd, dirs = ws->dirs;
    const int Te = ws->Te;
    const size_t BH = (size_t)B * H;
    float *dy = ws->enc_dy, *dx = ws->enc_dx;
    for (int l = L - 1; l >= 0; l--) {
        if (dirs == 2)  /* outputs at padding are constants */
            for (int p = 0; p < T; p++) s2s_rows_zero_past(B, H, ws->src_len, p, dy + p * BH);
        const int in = l ? H : E;
        const s2s_layer_drop *dr = &ws->enc_drop[l];
        const int dropped = l > 0 && ws->enc_dropped && dr->mask;
        const float *x = l ? (dropped ? dr->xd : ws->enc_out[l - 1]) : ws->enc_x;
        for (int d = 0; d < dirs; d++) {
            s2s_rnn_cache *r = &ws->enc[l][d];
            const s2s_rnn_params *w = &m->p.enc[l][d];
            s2s_rnn_params *gw = &ws->g.enc[l][d];
            back_direction(m, ws, l, d, dy);
            if (d) s2s_time_reverse(r->dgi, T, (size_t)B * G * Hd);  /* back to position order */
            if (l == 0 && ws->enc_tab.on) {
                s2s_tab_backward(&ws->enc_tab, E, G * Hd, r->dgi, B, T, NULL, w->w_ih, E, gw->w_ih, gw->b_ih, ws->g.enc_emb);
                continue;
            }
            /* the positions past the longest source add zeros: left out */
            s2s_linear_wgrad(ws->gemm, Te * B, G * Hd, in, r->dgi, G * Hd, x, in, gw->w_ih, in, gw->b_ih);
            s2s_gemm(ws->gemm, 0, 0, Te * B, in, G * Hd, 1.0f, r->dgi, G * Hd, w->w_ih, in, d ? 1.0f : 0.0f, dx, in);
            if (!d) s2s_zero(dx + (size_t)Te * B * in, (size_t)(T - Te) * B * in);
        }
        if (l == 0 && ws->enc_tab.on) return;
        if (dropped) s2s_scale(T * BH, dr->mask, dx);
        float *sw = dy; dy = dx; dx = sw;
    }
    s2s_rows_scatter_add(ws->g.enc_emb, E, dy, src, B, T, T);
}
