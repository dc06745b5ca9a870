/* Inference: encode once, then one decoder step per call for every row; greedy decoding on
 * top. The decoder state lives in ws->inf_h (one [B,H] per layer). */
#include <math.h>
#include <string.h>

#include "s2s_math.h"
#include "s2s_nn.h"
#include "s2s_text.h"
#include "s2s_ws.h"

void s2s_encode(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len) {
    const int T = ws->T, H = ws->H, L = ws->L;
    const size_t BH = (size_t)B * H;
    s2s_enc_forward(m, ws, B, src, 0, NULL);
    ws->dec_full = 0;
    for (int b = 0; b < B; b++) ws->kv_row[b] = b;
    s2s_attn_prepare(m, ws, B, src_len);
    for (int l = 0; l < L; l++) memcpy(ws->inf_h[l], ws->enc[l].hs + (size_t)T * BH, sizeof(float) * BH);
    if (m->cfg.kind == S2S_PLAIN) {  /* the encoder's context at every step, also here */
        memcpy(ws->inf_ctx, ws->inf_h[L - 1], sizeof(float) * BH);
        s2s_linear_forward(B, 3 * H, H, ws->inf_ctx, H, m->p.dec[0].w_ih + ws->E, ws->E + H, NULL, 0.0f,
                           ws->ctxp, 3 * H);
    }
}

static void permute_rows(float *a, float *scratch, int B, size_t row, const int *from) {
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

void s2s_decoder_reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from) {
    const int H = ws->H;
    for (int l = 0; l < ws->L; l++) permute_rows(ws->inf_h[l], ws->inf_perm, B, H, from);
    if (m->cfg.kind == S2S_ATTN) {  /* the keys stay where they are: rows point at them */
        int32_t v[B], k[B];
        for (int i = 0; i < B; i++) { v[i] = ws->valid[from[i]]; k[i] = ws->kv_row[from[i]]; }
        memcpy(ws->valid, v, sizeof v);
        memcpy(ws->kv_row, k, sizeof k);
    } else {
        permute_rows(ws->ctxp, ws->inf_perm, B, 3 * (size_t)H, from);
    }
}

/* One decoder step for B rows: the raw output scores [B,Vt] (greedy needs no more: the argmax
 * of the scores is d2l's choice) and the attention weights. */
static void decode_step_logits(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens, float *logprobs,
                               float *attn) {
    const int E = ws->E, H = ws->H, L = ws->L, V = ws->Vt, T = ws->T;
    const int ecol = m->cfg.kind == S2S_ATTN ? H : 0;
    /* The embedding columns' projection: through a table of the whole target vocabulary when
     * the batch has at least as many sentences as the vocabulary has words (the table then
     * costs less than the first step), else per row. The step's scratch comes from the
     * training caches' first step. */
    if (!ws->dec_full) {
        ws->dec_full = s2s_token_tables(-1) && V <= ws->B ? 1 : -1;
        if (ws->dec_full > 0) {
            s2s_tab_full(&ws->dec_tab, V);
            s2s_tab_project(&ws->dec_tab, m->p.dec_emb, E, 3 * H, m->p.dec[0].w_ih + ecol, E + H, m->p.dec[0].b_ih);
        }
    }
    float *gi0e = ws->gi0e;
    if (ws->dec_full > 0) {  /* straight into layer 0's projection, which the step adds to */
        gi0e = ws->dec[0].gi;
        for (int b = 0; b < B; b++)
            memcpy(gi0e + (size_t)b * 3 * H, ws->dec_tab.P + (size_t)tokens[b] * 3 * H, sizeof(float) * 3 * H);
    } else {
        for (int b = 0; b < B; b++)
            memcpy(ws->dec_x + (size_t)b * E, m->p.dec_emb + (size_t)tokens[b] * E, sizeof(float) * E);
        s2s_linear_forward(B, 3 * H, E, ws->dec_x, E, m->p.dec[0].w_ih + ecol, E + H, m->p.dec[0].b_ih, 0.0f,
                           ws->gi0e, 3 * H);
    }
    s2s_step_io io;
    memset(&io, 0, sizeof io);
    for (int l = 0; l < L; l++) {
        s2s_gru_cache *g = &ws->dec[l];
        io.h_prev[l] = ws->inf_h[l]; io.h[l] = ws->inf_h2[l];
        io.r[l] = g->r; io.z[l] = g->z; io.n[l] = g->n; io.ghn[l] = g->ghn; io.gi[l] = g->gi;
    }
    io.gi0e = gi0e;
    io.F = ws->F; io.A = ws->A; io.ctx = ws->ctx; io.kv_row = ws->kv_row;
    s2s_dec_step(m, ws, B, &io);
    for (int l = 0; l < L; l++) { float *t = ws->inf_h[l]; ws->inf_h[l] = ws->inf_h2[l]; ws->inf_h2[l] = t; }
    s2s_linear_forward(B, V, H, ws->inf_h[L - 1], H, m->p.dense_w, H, m->p.dense_b, 0.0f, logprobs, V);
    if (attn) {
        if (m->cfg.kind == S2S_ATTN) memcpy(attn, ws->A, sizeof(float) * B * T);
        else memset(attn, 0, sizeof(float) * B * T);
    }
}

void s2s_decode_step(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens, float *logprobs,
                     float *attn) {
    const int V = ws->Vt;
    decode_step_logits(m, ws, B, tokens, logprobs, attn);
    for (int b = 0; b < B; b++) {  /* log-softmax in place */
        float *x = logprobs + (size_t)b * V, mx = lanes_max(x, V);
        double s = lanes_exp_sum(NULL, x, V, mx);
        float lse = mx + (float)log(s);
        for (int v = 0; v < V; v++) x[v] -= lse;
    }
}

int s2s_greedy(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
               int max_len, int32_t *out, int *out_len, float *attn, s2s_err *err) {
    if (B > ws->max_B) return s2s_errf(err, "greedy: %d rows but the workspace holds %d", B, ws->max_B);
    const int V = ws->Vt, T = ws->T;
    int32_t tok[B];
    int row_of[B], from[B], nb = B;  /* live rows: row i decodes sentence row_of[i] */
    float *lp = ws->logits;  /* [B,V] scratch */
    float *step_attn = ws->dlogits;
    s2s_encode(m, ws, B, src, src_len);
    for (int b = 0; b < B; b++) { tok[b] = S2S_BOS; row_of[b] = b; out_len[b] = 0; }
    if (attn) memset(attn, 0, sizeof(float) * B * max_len * T);
    for (int step = 0; step < max_len && nb > 0; step++) {
        decode_step_logits(m, ws, nb, tok, lp, attn ? step_attn : NULL);
        int live = 0;
        for (int i = 0; i < nb; i++) {
            const float *x = lp + (size_t)i * V;
            int best = lanes_argmax(x, V), b = row_of[i];
            if (attn) memcpy(attn + ((size_t)b * max_len + step) * T, step_attn + (size_t)i * T, sizeof(float) * T);
            if (best == S2S_EOS) continue;
            out[(size_t)b * max_len + out_len[b]++] = best;
            from[live] = i; row_of[live] = b; tok[live] = best;  /* i >= live: safe in place */
            live++;
        }
        /* finished sentences leave the batch: the rest move up (rows are independent) */
        if (live < nb && live > 0) s2s_decoder_reorder(m, ws, live, from);
        nb = live;
    }
    return S2S_OK;
}
