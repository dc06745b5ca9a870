/* The training pass: encoder over all T steps (padding included, as d2l), decoder under
 * teacher forcing, dense layer and masked cross-entropy; then the backward pass in reverse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_linalg.h"
#include "s2s_nn.h"
#include "s2s_ws.h"

/* ---- workspace ----------------------------------------------------------------------- */

/* Two passes over the same list: the first counts, the second hands out slices. */
typedef struct { char *base; size_t used; } carve;
static float *take(carve *c, size_t n) {
    size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
    float *p = c->base ? (float *)(c->base + c->used) : NULL;
    c->used += bytes;
    return p;
}

static void ws_layout(s2s_ws *w, carve *c, s2s_kind kind, float dropout) {
    const size_t B = w->max_B, T = w->T, E = w->E, H = w->H, V = w->Vt, L = w->L;
    const size_t EH = E > H ? E : H;
    w->enc_x = take(c, T * B * E);
    for (size_t side = 0; side < 2; side++)
        for (size_t l = 0; l < L; l++) {
            s2s_gru_cache *g = side ? &w->dec[l] : &w->enc[l];
            g->gi = take(c, T * B * 3 * H);
            g->hs = take(c, (T + 1) * B * H);
            g->r = take(c, T * B * H); g->z = take(c, T * B * H);
            g->n = take(c, T * B * H); g->ghn = take(c, T * B * H);
            if (l > 0 && dropout > 0) { g->mask = take(c, T * B * H); g->xd = take(c, T * B * H); }
            if (side || l == 0) { g->dgi = take(c, T * B * 3 * H); g->dgh = take(c, T * B * 3 * H); }
            else { g->dgi = w->enc[0].dgi; g->dgh = w->enc[0].dgh; }
            if (side) { w->dh[l] = take(c, B * H); w->inf_h[l] = take(c, B * H); w->inf_h2[l] = take(c, B * H); }
        }
    w->enc_dy = take(c, T * B * EH); w->enc_dx = take(c, T * B * EH);
    w->enc_dstate = take(c, L * B * H);
    w->K = take(c, B * T * H); w->KP = take(c, B * T * H);
    w->dK = take(c, B * T * H); w->dKP = take(c, B * T * H);
    w->valid = (int32_t *)take(c, B); w->kv_row = (int32_t *)take(c, B);
    if (kind == S2S_ATTN) {
        w->F = take(c, T * B * T * H);
        w->A = take(c, T * B * T); w->adrop = take(c, T * B * T);
    }
    w->ctx = take(c, T * B * H); w->dqp = take(c, T * B * H);
    w->dec_x = take(c, T * B * E); w->gi0e = take(c, T * B * 3 * H);
    w->ctxp = take(c, B * 3 * H); w->ctx_sum = take(c, B * 3 * H);
    w->logits = take(c, T * B * V); w->dlogits = take(c, T * B * V);
    w->dhtop = take(c, T * B * H);
    w->gh = take(c, B * 3 * H); w->tmp = take(c, B * EH);
    w->loss = take(c, B);
    w->hc = take(c, T * B * (H > 1 ? H : 1)); w->crow = (int32_t *)take(c, T * B);
    w->clab = (int32_t *)take(c, T * B); w->closs = take(c, T * B);
    w->inf_ctx = take(c, B * H); w->inf_perm = take(c, B * 3 * H); /* rows of H or 3H */
    for (size_t l = 0; l < L; l++) {
        w->wt.enc_hh[l] = take(c, 3 * H * H); w->wt.dec_hh[l] = take(c, 3 * H * H);
        w->wt.dec_ih[l] = take(c, 3 * H * H);
    }
    w->wt.att_q = take(c, H * H);
    const size_t Vs = w->Vs, TB = T * B;
    for (int side = 0; side < 2; side++) {
        s2s_tok_table *tb = side ? &w->dec_tab : &w->enc_tab;
        const size_t cap = side ? (V < TB ? V : TB) : (Vs < TB ? Vs : TB);
        tb->uniq = (int32_t *)take(c, cap); tb->slot = (int32_t *)take(c, TB);
        tb->X = take(c, cap * E); tb->dX = take(c, cap * E);
        tb->P = take(c, cap * 3 * H); tb->dP = take(c, cap * 3 * H);
    }
    w->seen = (int32_t *)take(c, Vs > V ? Vs : V);
}

size_t s2s_ws_estimate(const s2s_config *c, int max_B, int T) {
    s2s_ws w;
    memset(&w, 0, sizeof w);
    w.max_B = max_B; w.T = T; w.E = c->embed; w.H = c->hidden; w.L = c->layers; w.Vt = c->tgt_vocab;
    w.Vs = c->src_vocab;
    carve cv = {NULL, 0};
    ws_layout(&w, &cv, c->kind, c->dropout);
    return cv.used;
}

int s2s_ws_create(const s2s_model *m, int max_B, int T, s2s_ws **out, s2s_err *err) {
    if (max_B < 1 || T < 1 || T > S2S_MAX_STEPS)
        return s2s_errf(err, "workspace needs 1..%d steps and at least one row (got B=%d, T=%d)", S2S_MAX_STEPS, max_B, T);
    s2s_ws *w = s2s_calloc(1, sizeof *w, err, "the workspace");
    if (!w) return S2S_ERR;
    w->max_B = max_B; w->T = T;
    w->E = m->cfg.embed; w->H = m->cfg.hidden; w->L = m->cfg.layers; w->Vt = m->cfg.tgt_vocab;
    w->Vs = m->cfg.src_vocab;
    carve c = {NULL, 0};
    ws_layout(w, &c, m->cfg.kind, m->cfg.dropout);
    w->bytes = c.used;
    if (!(w->block = aligned_alloc(64, c.used))) {
        free(w);
        return s2s_errf(err, "out of memory: the workspace for batch %d x %d steps needs %.1f MiB",
                        max_B, T, c.used / 1048576.0);
    }
    memset(w->block, 0, c.used);
    c.base = (char *)w->block; c.used = 0;
    ws_layout(w, &c, m->cfg.kind, m->cfg.dropout);
    w->g = m->g;
    w->grads = m->grads;
    *out = w;
    return S2S_OK;
}

void s2s_ws_free(s2s_ws *ws) {
    if (!ws) return;
    free(ws->own_grads); free(ws->block); free(ws);
}

int s2s_ws_private_grads(const s2s_model *m, s2s_ws *ws, s2s_err *err) {
    if (!ws->own_grads && !(ws->own_grads = s2s_calloc(m->n_params, sizeof(float), err, "a shard's gradients")))
        return S2S_ERR;
    ws->grads = ws->own_grads;
    s2s_model_views(m, ws->grads, &ws->g);
    return S2S_OK;
}

float *s2s_ws_grads(s2s_ws *ws) { return ws->grads; }

size_t s2s_ws_bytes(const s2s_ws *ws) { return ws->bytes; }

double s2s_ws_forward_flops(const s2s_model *m, const s2s_ws *ws) {
    const s2s_config *c = &m->cfg;
    const double E = c->embed, H = c->hidden, V = c->tgt_vocab, L = c->layers, B = ws->B, T = ws->T;
    /* the first layers' input projections: per distinct token with the token tables */
    const double enc_in = ws->enc_tab.on ? ws->enc_tab.n : T * B, dec_in = ws->dec_tab.on ? ws->dec_tab.n : ws->Tdec * B;
    double f = L * 2.0 * (T - 1) * B * 3 * H * H + (L - 1) * 2.0 * T * B * 3 * H * H;   /* encoder (h0 = 0) */
    f += 2.0 * (enc_in + dec_in) * 3 * H * E;                                          /* embeddings' projection */
    double row = 2.0 * 3 * H * H + (L - 1) * 2.0 * 3 * H * (2 * H);                    /* per decoder row-step */
    if (c->kind == S2S_ATTN) {
        f += 2.0 * B * T * H * H;                                                      /* W_k K */
        row += 2.0 * 3 * H * H + 2.0 * H * H + 6.0 * T * H;                            /* context, W_q, attention */
    }
    double rows = 0;
    for (int t = 0; t < ws->Tdec; t++) rows += ws->active[t];
    f += rows * row;
    f += 2.0 * H * V * (ws->compact ? ws->nc : ws->Tdec * B);                          /* dense */
    return f;
}
const float *s2s_ws_logits(const s2s_ws *ws) { return ws->logits; }
const float *s2s_ws_attention(const s2s_ws *ws) { return ws->A; }
const float *s2s_ws_enc_outputs(const s2s_ws *ws) { return ws->enc[ws->L - 1].hs + (size_t)ws->B * ws->H; }
void s2s_ws_enc_state(const s2s_ws *ws, int l, const float **h) { *h = ws->enc[l].hs + (size_t)ws->T * ws->B * ws->H; }

/* ---- forward ---------------------------------------------------------------------------- */

/* Inverted dropout with a mask drawn from one generator step (see s2s_dropout_fill). */
static void fill_dropout(float *mask, size_t n, float p, s2s_rng *rng) {
    s2s_dropout_fill(mask, n, p, s2s_rng_next(rng));
}

/* dst [cols, rows] = W^T for W [rows, cols] with row stride ldw, in 16 x 16 blocks. */
static void transpose(float *restrict dst, const float *restrict W, int rows, int cols, int ldw) {
    for (int j0 = 0; j0 < rows; j0 += 16)
        for (int k0 = 0; k0 < cols; k0 += 16)
            for (int j = j0; j < rows && j < j0 + 16; j++)
                for (int k = k0; k < cols && k < k0 + 16; k++) dst[(long)k * rows + j] = W[(long)j * ldw + k];
}

/* Column offsets of the embedding and the context inside decoder.rnn.weight_ih_l0:
 * the attention decoder feeds [context, embedding], the plain one [embedding, context]. */
static int emb_col(const s2s_model *m) { return m->cfg.kind == S2S_ATTN ? m->cfg.hidden : 0; }
static int ctx_col(const s2s_model *m) { return m->cfg.kind == S2S_ATTN ? 0 : m->cfg.embed; }

static void transpose_weights(const s2s_model *m, s2s_ws *ws, int B) {
    const int H = ws->H, In0 = ws->E + H;
    ws->wt.on = B > 4;
    if (!ws->wt.on) return;
    for (int l = 0; l < ws->L; l++) {
        transpose(ws->wt.enc_hh[l], m->p.enc[l].w_hh, 3 * H, H, H);
        transpose(ws->wt.dec_hh[l], m->p.dec[l].w_hh, 3 * H, H, H);
        if (l > 0) transpose(ws->wt.dec_ih[l], m->p.dec[l].w_ih, 3 * H, H, H);
    }
    if (m->cfg.kind == S2S_ATTN) {
        transpose(ws->wt.dec_ih[0], m->p.dec[0].w_ih + ctx_col(m), 3 * H, H, In0);
        transpose(ws->wt.att_q, m->p.att_Wq, H, H, H);
    }
}

static void gather_rows(float *dst, const float *table, int D, const int32_t *ids, int B, int T, int steps) {
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++)
            memcpy(dst + ((size_t)t * B + b) * D, table + (size_t)ids[(size_t)b * T + t] * D, sizeof(float) * D);
}

void s2s_enc_forward(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, int train, s2s_rng *rng) {
    const int T = ws->T, E = ws->E, H = ws->H, L = ws->L;
    const float p = m->cfg.dropout;
    const size_t BH = (size_t)B * H;
    ws->B = B;
    transpose_weights(m, ws, B);
    if ((ws->enc_tab.on = s2s_token_tables(-1))) {
        s2s_tab_build(ws, &ws->enc_tab, src, B, T, T, NULL);
        s2s_tab_project(&ws->enc_tab, m->p.enc_emb, E, 3 * H, m->p.enc[0].w_ih, E, m->p.enc[0].b_ih);
        s2s_tab_gather(&ws->enc_tab, 3 * H, ws->enc[0].gi, B, T, NULL);
    } else {
        gather_rows(ws->enc_x, m->p.enc_emb, E, src, B, T, T);
    }
    for (int l = 0; l < L; l++) {
        s2s_gru_cache *g = &ws->enc[l];
        const s2s_gru_params *w = &m->p.enc[l];
        const float *x = ws->enc_x;
        int in = E;
        if (l > 0) {
            x = ws->enc[l - 1].hs + BH; in = H;
            if (g->mask) {
                if (train && p > 0) fill_dropout(g->mask, T * BH, p, rng);
                else for (size_t i = 0; i < T * BH; i++) g->mask[i] = 1.0f;
                for (size_t i = 0; i < T * BH; i++) g->xd[i] = x[i] * g->mask[i];
                x = g->xd;
            }
        }
        if (l > 0 || !ws->enc_tab.on) s2s_linear_forward(T * B, 3 * H, in, x, in, w->w_ih, in, w->b_ih, 0.0f, g->gi, 3 * H);
        memset(g->hs, 0, sizeof(float) * BH);
        for (int t = 0; t < T; t++) {
            size_t o = t * BH;
            /* the initial state is zero: the first step has no W_hh product */
            s2s_gru_cell_forward(B, H, g->gi + 3 * o, g->hs + o, t ? w->w_hh : NULL, w->b_hh,
                                 t && ws->wt.on ? ws->wt.enc_hh[l] : NULL, ws->gh,
                                 g->hs + o + BH, g->r + o, g->z + o, g->n + o, g->ghn + o);
        }
    }
}

/* Keys/values batch-major (K[b,j] = top output at step j) and their projection W_k K. */
void s2s_attn_prepare(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src_len) {
    const int T = ws->T, H = ws->H;
    const float *top = ws->enc[ws->L - 1].hs + (size_t)B * H;
    for (int b = 0; b < B; b++) {
        ws->valid[b] = src_len[b] < T ? src_len[b] : T;
        for (int j = 0; j < T; j++)
            memcpy(ws->K + ((size_t)b * T + j) * H, top + ((size_t)j * B + b) * H, sizeof(float) * H);
    }
    if (m->cfg.kind == S2S_ATTN)
        s2s_linear_forward(B * T, H, H, ws->K, H, m->p.att_Wk, H, NULL, 0.0f, ws->KP, H);
}

/* A step's y = x W^T + b (x [M,K], y [M,N]): through the pass's transposed copy WT when it has
 * one. */
static void step_linear(const s2s_ws *ws, int M, int N, int K, const float *x, const float *W, int ldw,
                        const float *WT, const float *b, float beta, float *y) {
    if (ws->wt.on) s2s_linear_forward_t(M, N, K, x, K, WT, N, b, beta, y, N);
    else s2s_linear_forward(M, N, K, x, K, W, ldw, b, beta, y, N);
}

void s2s_dec_step(const s2s_model *m, s2s_ws *ws, int B, const s2s_step_io *io) {
    const int E = ws->E, H = ws->H, L = ws->L, In0 = E + H;
    const size_t B3H = (size_t)B * 3 * H;
    if (io->gi[0] != io->gi0e) memcpy(io->gi[0], io->gi0e, sizeof(float) * B3H);
    if (m->cfg.kind == S2S_ATTN) {  /* query = previous top hidden state; context first */
        step_linear(ws, B, H, H, io->h_prev[L - 1], m->p.att_Wq, H, ws->wt.att_q, NULL, 0.0f, ws->tmp);
        s2s_attn_forward(B, ws->T, H, ws->tmp, ws->KP, ws->K, io->kv_row, ws->valid, m->p.att_wv, io->adrop,
                         io->F, io->A, io->ctx);
        step_linear(ws, B, 3 * H, H, io->ctx, m->p.dec[0].w_ih, In0, ws->wt.dec_ih[0], NULL, 1.0f, io->gi[0]);
    } else {
        for (size_t i = 0; i < B3H; i++) io->gi[0][i] += ws->ctxp[i];
    }
    for (int l = 0; l < L; l++) {
        const s2s_gru_params *w = &m->p.dec[l];
        if (l > 0) {
            const float *x = io->h[l - 1];
            if (io->mask[l]) {
                for (size_t i = 0; i < (size_t)B * H; i++) io->xd[l][i] = x[i] * io->mask[l][i];
                x = io->xd[l];
            }
            step_linear(ws, B, 3 * H, H, x, w->w_ih, H, ws->wt.dec_ih[l], w->b_ih, 0.0f, io->gi[l]);
        }
        s2s_gru_cell_forward(B, H, io->gi[l], io->h_prev[l], w->w_hh, w->b_hh, ws->wt.on ? ws->wt.dec_hh[l] : NULL, ws->gh, io->h[l],
                             io->r[l], io->z[l], io->n[l], io->ghn[l]);
    }
}


double s2s_forward(const s2s_model *m, s2s_ws *ws, const s2s_batch *bt, int train, int all_steps,
                   s2s_rng *rng, float *loss) {
    const int B = bt->B, T = ws->T, E = ws->E, H = ws->H, L = ws->L, V = ws->Vt, In0 = E + H;
    const size_t BH = (size_t)B * H;
    const float p = m->cfg.dropout;
    s2s_enc_forward(m, ws, B, bt->src, train, rng);
    s2s_attn_prepare(m, ws, B, bt->src_len);

    int Tdec = T;
    if (!all_steps) {
        Tdec = 1;
        for (int b = 0; b < B; b++) if (bt->tgt_len[b] > Tdec) Tdec = bt->tgt_len[b];
        if (Tdec > T) Tdec = T;
    }
    ws->Tdec = Tdec;
    /* Rows whose target has ended have no loss from then on and feed nothing that has: when the
     * batch is sorted by target length (longest first, as the trainer orders it), step t only
     * runs the rows still going, a prefix of the batch. */
    int sorted = !all_steps;
    for (int b = 1; b < B && sorted; b++) sorted = bt->tgt_len[b] <= bt->tgt_len[b - 1];
    for (int t = 0; t < Tdec; t++) {
        int n = B;
        if (sorted) for (n = 0; n < B && bt->tgt_len[n] > t; n++) {}
        ws->active[t] = n;
    }
    if ((ws->dec_tab.on = s2s_token_tables(-1))) {  /* only the positions still going */
        s2s_tab_build(ws, &ws->dec_tab, bt->dec_in, B, T, Tdec, ws->active);
        s2s_tab_project(&ws->dec_tab, m->p.dec_emb, E, 3 * H, m->p.dec[0].w_ih + emb_col(m), In0, m->p.dec[0].b_ih);
        s2s_tab_gather(&ws->dec_tab, 3 * H, ws->gi0e, B, Tdec, ws->active);
    } else {
        gather_rows(ws->dec_x, m->p.dec_emb, E, bt->dec_in, B, T, Tdec);
        s2s_linear_forward(Tdec * B, 3 * H, E, ws->dec_x, E, m->p.dec[0].w_ih + emb_col(m), In0,
                           m->p.dec[0].b_ih, 0.0f, ws->gi0e, 3 * H);
    }
    const float *enc_top = ws->enc[L - 1].hs + (size_t)T * BH;
    if (m->cfg.kind == S2S_PLAIN)
        s2s_linear_forward(B, 3 * H, H, enc_top, H, m->p.dec[0].w_ih + ctx_col(m), In0, NULL, 0.0f, ws->ctxp, 3 * H);
    for (int l = 0; l < L; l++) {
        s2s_gru_cache *g = &ws->dec[l];
        memcpy(g->hs, ws->enc[l].hs + (size_t)T * BH, sizeof(float) * BH);
        if (g->mask) {
            if (train && p > 0) fill_dropout(g->mask, Tdec * BH, p, rng);
            else for (size_t i = 0; i < Tdec * BH; i++) g->mask[i] = 1.0f;
        }
    }
    const int use_adrop = m->cfg.kind == S2S_ATTN && train && p > 0;
    if (use_adrop) fill_dropout(ws->adrop, (size_t)Tdec * B * T, p, rng);
    for (int t = 0; t < Tdec; t++) {
        s2s_step_io io;
        memset(&io, 0, sizeof io);
        size_t o = t * BH;
        for (int l = 0; l < L; l++) {
            s2s_gru_cache *g = &ws->dec[l];
            io.h_prev[l] = g->hs + o; io.h[l] = g->hs + o + BH;
            io.r[l] = g->r + o; io.z[l] = g->z + o; io.n[l] = g->n + o; io.ghn[l] = g->ghn + o;
            io.gi[l] = g->gi + 3 * o;
            io.mask[l] = g->mask ? g->mask + o : NULL;
            io.xd[l] = g->xd ? g->xd + o : NULL;
        }
        io.gi0e = ws->gi0e + 3 * o;
        if (m->cfg.kind == S2S_ATTN) {
            io.F = ws->F + (size_t)t * B * T * H;
            io.A = ws->A + (size_t)t * B * T;
            io.adrop = use_adrop ? ws->adrop + (size_t)t * B * T : NULL;
        }
        io.ctx = ws->ctx + o;
        s2s_dec_step(m, ws, ws->active[t], &io);
    }
    const float *top = ws->dec[L - 1].hs + BH;
    double total;
    ws->compact = !all_steps;
    if (!ws->compact) {  /* every step of every row (for comparing logits) */
        s2s_linear_forward(Tdec * B, V, H, top, H, m->p.dense_w, H, m->p.dense_b, 0.0f, ws->logits, V);
        total = s2s_masked_ce(Tdec, T, B, V, ws->logits, bt->tgt, T, bt->tgt_len, ws->loss, ws->dlogits);
    } else {  /* the dense layer and the loss only where the target is not padding */
        int nc = 0;
        for (int t = 0; t < Tdec; t++)
            for (int b = 0; b < B; b++)
                if (t < bt->tgt_len[b]) {
                    ws->crow[nc] = t * B + b;
                    ws->clab[nc] = bt->tgt[(size_t)b * T + t];
                    memcpy(ws->hc + (size_t)nc * H, top + ((size_t)t * B + b) * H, sizeof(float) * H);
                    nc++;
                }
        ws->nc = nc;
        s2s_linear_forward(nc, V, H, ws->hc, H, m->p.dense_w, H, m->p.dense_b, 0.0f, ws->logits, V);
        /* each compact row is one step of length 1, weighted 1/T as in the full loss */
        int32_t one = 1;
        total = 0.0;
        for (int b = 0; b < B; b++) ws->loss[b] = 0.0f;
        for (int k = 0; k < nc; k++) {
            s2s_masked_ce(1, T, 1, V, ws->logits + (size_t)k * V, ws->clab + k, 1, &one, ws->closs + k,
                          ws->dlogits + (size_t)k * V);
            ws->loss[ws->crow[k] % B] += ws->closs[k];
        }
        for (int b = 0; b < B; b++) total += ws->loss[b];
    }
    if (loss) memcpy(loss, ws->loss, sizeof(float) * B);
    ws->adrop_on = use_adrop;
    return total;
}

/* ---- backward --------------------------------------------------------------------------- */

static void scatter_rows(float *table, int D, const float *src, const int32_t *ids, int B, int T, int steps) {
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < B; b++) {
            float *row = table + (size_t)ids[(size_t)b * T + t] * D;
            const float *s = src + ((size_t)t * B + b) * D;
            for (int k = 0; k < D; k++) row[k] += s[k];
        }
}

/* Encoder backward, layer by layer over the whole sequence: dY [T,B,H] on the top layer's
 * outputs (from attention) and enc_dstate [L,B,H] on the final states (from the decoder). */
static void enc_backward(s2s_model *m, s2s_ws *ws, const s2s_batch *bt) {
    const int B = ws->B, T = ws->T, E = ws->E, H = ws->H, L = ws->L;
    const size_t BH = (size_t)B * H;
    float *dy = ws->enc_dy, *dx = ws->enc_dx, *dh = ws->tmp;
    for (int l = L - 1; l >= 0; l--) {
        s2s_gru_cache *g = &ws->enc[l];
        const s2s_gru_params *w = &m->p.enc[l];
        s2s_gru_params *gw = &ws->g.enc[l];
        memcpy(dh, ws->enc_dstate + l * BH, sizeof(float) * BH);
        for (int t = T - 1; t >= 0; t--) {
            size_t o = t * BH;
            for (size_t i = 0; i < BH; i++) dh[i] += dy[o + i];
            s2s_gru_cell_backward(B, H, dh, g->hs + o, g->r + o, g->z + o, g->n + o, g->ghn + o,
                                  t ? w->w_hh : NULL, g->dgi + 3 * o, g->dgh + 3 * o, dh);
        }
        /* the first step's h_prev is zero: it adds to b_hh only */
        s2s_linear_wgrad(B, 3 * H, H, g->dgh, 3 * H, NULL, H, gw->w_hh, H, gw->b_hh);
        s2s_linear_wgrad((T - 1) * B, 3 * H, H, g->dgh + 3 * BH, 3 * H, g->hs + BH, H, gw->w_hh, H, gw->b_hh);
        if (l == 0 && ws->enc_tab.on) {
            s2s_tab_backward(&ws->enc_tab, E, 3 * H, g->dgi, B, T, NULL, w->w_ih, E, gw->w_ih, gw->b_ih, ws->g.enc_emb);
            return;
        }
        int in = l ? H : E;
        const float *x = l ? (g->xd ? g->xd : ws->enc[l - 1].hs + BH) : ws->enc_x;
        s2s_linear_wgrad(T * B, 3 * H, in, g->dgi, 3 * H, x, in, gw->w_ih, in, gw->b_ih);
        s2s_gemm(0, 0, T * B, in, 3 * H, 1.0f, g->dgi, 3 * H, w->w_ih, in, 0.0f, dx, in);
        if (l > 0 && g->mask)
            for (size_t i = 0; i < T * BH; i++) dx[i] *= g->mask[i];
        float *sw = dy; dy = dx; dx = sw;
    }
    scatter_rows(ws->g.enc_emb, E, dy, bt->src, B, T, T);
}

/* dW += Σ_t D_t^T X_t (and db += Σ D rows) over the decoder rows still going at each step
 * (the finished rows' D is zero): the leading steps where every row runs as one product, then
 * one product per step over its prefix of rows. */
static void dec_wgrad(const s2s_ws *ws, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                      float *dW, int ldw, float *db) {
    const int B = ws->B;
    int t = 0;
    while (t < ws->Tdec && ws->active[t] == B) t++;
    s2s_linear_wgrad(t * B, rows, cols, D, ldd, X, ldx, dW, ldw, db);
    for (; t < ws->Tdec; t++)
        s2s_linear_wgrad(ws->active[t], rows, cols, D + (size_t)t * B * ldd, ldd, X + (size_t)t * B * ldx, ldx,
                         dW, ldw, db);
}

void s2s_backward(s2s_model *m, s2s_ws *ws, const s2s_batch *bt) {
    const int B = ws->B, T = ws->T, E = ws->E, H = ws->H, L = ws->L, V = ws->Vt, In0 = E + H;
    const int Tdec = ws->Tdec, attn = m->cfg.kind == S2S_ATTN;
    const size_t BH = (size_t)B * H, B3H = 3 * BH;
    const float *top = ws->dec[L - 1].hs + BH;

    /* dense */
    if (!ws->compact) {
        s2s_gemm(0, 0, Tdec * B, H, V, 1.0f, ws->dlogits, V, m->p.dense_w, H, 0.0f, ws->dhtop, H);
        s2s_linear_wgrad(Tdec * B, V, H, ws->dlogits, V, top, H, ws->g.dense_w, H, ws->g.dense_b);
    } else {
        const int nc = ws->nc;
        float *dhc = ws->enc_dx;  /* free until the encoder's backward: [T*B, max(E,H)] */
        s2s_gemm(0, 0, nc, H, V, 1.0f, ws->dlogits, V, m->p.dense_w, H, 0.0f, dhc, H);
        s2s_linear_wgrad(nc, V, H, ws->dlogits, V, ws->hc, H, ws->g.dense_w, H, ws->g.dense_b);
        memset(ws->dhtop, 0, sizeof(float) * Tdec * BH);
        for (int k = 0; k < nc; k++)
            memcpy(ws->dhtop + (size_t)ws->crow[k] * H, dhc + (size_t)k * H, sizeof(float) * H);
    }

    memset(ws->enc_dstate, 0, sizeof(float) * L * BH);
    for (int l = 0; l < L; l++) memset(ws->dh[l], 0, sizeof(float) * BH);
    if (attn) {
        memset(ws->dK, 0, sizeof(float) * B * T * H);
        memset(ws->dKP, 0, sizeof(float) * B * T * H);
    }
    float *dq = ws->tmp;
    for (int t = Tdec - 1; t >= 0; t--) {
        /* rows [0, Bt) are still going at step t; the rest had their carried gradient zero */
        const int Bt = ws->active[t];
        const size_t o = t * BH, BHt = (size_t)Bt * H;
        for (size_t i = 0; i < BHt; i++) ws->dh[L - 1][i] += ws->dhtop[o + i];
        for (int l = L - 1; l >= 0; l--) {
            s2s_gru_cache *g = &ws->dec[l];
            s2s_gru_cell_backward(Bt, H, ws->dh[l], g->hs + o, g->r + o, g->z + o, g->n + o, g->ghn + o,
                                  m->p.dec[l].w_hh, g->dgi + 3 * o, g->dgh + 3 * o, ws->dh[l]);
            /* the finished rows take no part in the products over all steps below */
            memset(g->dgi + 3 * (o + BHt), 0, sizeof(float) * 3 * (BH - BHt));
            memset(g->dgh + 3 * (o + BHt), 0, sizeof(float) * 3 * (BH - BHt));
            if (l > 0) {  /* into the layer below's output at this step */
                s2s_gemm(0, 0, Bt, H, 3 * H, 1.0f, g->dgi + 3 * o, 3 * H, m->p.dec[l].w_ih, H, 0.0f, dq, H);
                const float *mk = g->mask ? g->mask + o : NULL;
                for (size_t i = 0; i < BHt; i++) ws->dh[l - 1][i] += mk ? dq[i] * mk[i] : dq[i];
            }
        }
        if (attn) {
            float *dctx = ws->ctx_sum;  /* scratch [B,H] here */
            s2s_gemm(0, 0, Bt, H, 3 * H, 1.0f, ws->dec[0].dgi + 3 * o, 3 * H, m->p.dec[0].w_ih + ctx_col(m),
                     In0, 0.0f, dctx, H);
            s2s_attn_backward(Bt, T, H, dctx, ws->K, ws->valid, m->p.att_wv,
                              ws->adrop_on ? ws->adrop + (size_t)t * B * T : NULL,
                              ws->F + (size_t)t * B * T * H, ws->A + (size_t)t * B * T,
                              ws->dK, ws->dKP, ws->dqp + o, ws->g.att_wv);
            memset(ws->dqp + o + BHt, 0, sizeof(float) * (BH - BHt));
            s2s_gemm(0, 0, Bt, H, H, 1.0f, ws->dqp + o, H, m->p.att_Wq, H, 0.0f, dq, H);
            float *into = t > 0 ? ws->dh[L - 1] : ws->enc_dstate + (size_t)(L - 1) * BH;
            for (size_t i = 0; i < BHt; i++) into[i] += dq[i];
        }
    }
    for (int l = 0; l < L; l++)
        for (size_t i = 0; i < BH; i++) ws->enc_dstate[l * BH + i] += ws->dh[l][i];

    /* weight gradients of the decoder GRU, one product over all steps */
    for (int l = 0; l < L; l++) {
        s2s_gru_cache *g = &ws->dec[l];
        s2s_gru_params *gw = &ws->g.dec[l];
        dec_wgrad(ws, 3 * H, H, g->dgh, 3 * H, g->hs, H, gw->w_hh, H, gw->b_hh);
        if (l > 0) {
            const float *x = g->xd ? g->xd : ws->dec[l - 1].hs + BH;
            dec_wgrad(ws, 3 * H, H, g->dgi, 3 * H, x, H, gw->w_ih, H, gw->b_ih);
        }
    }
    const float *dgi0 = ws->dec[0].dgi;
    if (ws->dec_tab.on)
        s2s_tab_backward(&ws->dec_tab, E, 3 * H, dgi0, B, Tdec, ws->active, m->p.dec[0].w_ih + emb_col(m), In0,
                         ws->g.dec[0].w_ih + emb_col(m), ws->g.dec[0].b_ih, ws->g.dec_emb);
    else
        dec_wgrad(ws, 3 * H, E, dgi0, 3 * H, ws->dec_x, E, ws->g.dec[0].w_ih + emb_col(m), In0, ws->g.dec[0].b_ih);
    if (attn) {
        dec_wgrad(ws, 3 * H, H, dgi0, 3 * H, ws->ctx, H, ws->g.dec[0].w_ih + ctx_col(m), In0, NULL);
        dec_wgrad(ws, H, H, ws->dqp, H, ws->dec[L - 1].hs, H, ws->g.att_Wq, H, NULL);
        s2s_linear_wgrad(B * T, H, H, ws->dKP, H, ws->K, H, ws->g.att_Wk, H, NULL);
        s2s_gemm(0, 0, B * T, H, H, 1.0f, ws->dKP, H, m->p.att_Wk, H, 1.0f, ws->dK, H);
        for (int j = 0; j < T; j++)  /* back to time-major for the encoder */
            for (int b = 0; b < B; b++)
                memcpy(ws->enc_dy + ((size_t)j * B + b) * H, ws->dK + ((size_t)b * T + j) * H, sizeof(float) * H);
    } else {
        float *s = ws->ctx_sum;
        memset(s, 0, sizeof(float) * B3H);
        for (int t = 0; t < Tdec; t++)
            for (size_t i = 0; i < B3H; i++) s[i] += dgi0[t * B3H + i];
        const float *enc_top = ws->enc[L - 1].hs + (size_t)T * BH;
        s2s_linear_wgrad(B, 3 * H, H, s, 3 * H, enc_top, H, ws->g.dec[0].w_ih + ctx_col(m), In0, NULL);
        s2s_gemm(0, 0, B, H, 3 * H, 1.0f, s, 3 * H, m->p.dec[0].w_ih + ctx_col(m), In0, 1.0f,
                 ws->enc_dstate + (size_t)(L - 1) * BH, H);
        memset(ws->enc_dy, 0, sizeof(float) * T * BH);
    }
    if (!ws->dec_tab.on) {  /* decoder embedding */
        float *dx = ws->dhtop;  /* reuse: [Tdec,B,E] fits when E <= H; else use enc_dx */
        if (E > H) dx = ws->enc_dx;
        s2s_gemm(0, 0, Tdec * B, E, 3 * H, 1.0f, dgi0, 3 * H, m->p.dec[0].w_ih + emb_col(m), In0, 0.0f, dx, E);
        scatter_rows(ws->g.dec_emb, E, dx, bt->dec_in, B, T, Tdec);
    }

    enc_backward(m, ws, bt);
}
