/* Inference: encode once, then one decoder step per call for every row; greedy decoding on
 * top. The decoder state lives in ws->inf_now (each layer's h, and c); the decoder family
 * keeps its own per-row state (keys' rows, context, fed-back output) and reorders it. */
#include <math.h>
#include <string.h>

#include "s2s_math.h"
#include "s2s_nn.h"
#include "s2s_text.h"
#include "s2s_decoder.h"

void s2s_encode(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len) {
    const size_t BH = (size_t)B * ws->H;
    s2s_enc_forward(m, ws, B, src, src_len, 0, NULL);
    ws->dec_full = 0;
    ws->Tdec = 1;
    ws->dec_dropped = 0;
    for (int l = 0; l < ws->L; l++)
        for (int s = 0; s < ws->S; s++) s2s_copy(ws->inf_now[l][s], ws->enc_final[s][l], BH);
    ws->dec_ops->prepare(m, ws, src_len, 0, NULL);
}

void s2s_decoder_reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from) {
    for (int l = 0; l < ws->L; l++)
        for (int s = 0; s < ws->S; s++) s2s_rows_permute(ws->inf_now[l][s], ws->inf_perm, B, (size_t)ws->H, from);
    ws->dec_ops->reorder(m, ws, B, from);
}

/* One decoder step for B rows: the raw output scores [B,Vt] (greedy needs no more: the argmax
 * of the scores is d2l's choice) and the attention weights. */
static void decode_step_logits(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens, float *logits,
                               float *attn) {
    const int E = ws->E, H = ws->H, L = ws->L, V = ws->Vt, T = ws->T, N = ws->G * H;
    const int in0 = ws->dec_ops->in0(&m->cfg);
    const float *W = s2s_dec_ih0(m, ws->dec_ops->emb_col(&m->cfg));
    /* The embedding columns' projection, into layer 0's: through a table of the whole target
     * vocabulary when the batch has at least as many sentences as the vocabulary has words (the
     * table then costs less than the first step), else per row. */
    if (!ws->dec_full) {
        ws->dec_full = ws->opt.token_tables && V <= ws->B ? 1 : -1;
        if (ws->dec_full > 0) {
            s2s_tab_full(&ws->dec_tab, V);
            s2s_tab_project(&ws->dec_tab, m->p.dec_emb, E, N, W, in0, m->p.dec[0].b_ih);
        }
    }
    float *gi0 = ws->dec[0].gi;
    if (ws->dec_full > 0) {
        s2s_rows_take(gi0, ws->dec_tab.P, N, tokens, B);
    } else {
        s2s_rows_take(ws->dec_x, m->p.dec_emb, E, tokens, B);
        s2s_ws_linear(ws, B, N, E, ws->dec_x, E, W, in0, m->p.dec[0].b_ih, 0.0f, gi0, N);
    }
    s2s_dec_step s;
    memset(&s, 0, sizeof s);
    s.B = B; s.infer = 1;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < ws->S; k++) { s.prev[l][k] = ws->inf_now[l][k]; s.next[l][k] = ws->inf_next[l][k]; }
    const float *out = ws->dec_ops->step(m, ws, &s);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < ws->S; k++) { float *t = ws->inf_now[l][k]; ws->inf_now[l][k] = ws->inf_next[l][k]; ws->inf_next[l][k] = t; }
    s2s_ws_linear(ws, B, V, H, out, H, m->p.dense_w, H, m->p.dense_b, 0.0f, logits, V);  /* the output layer */
    if (attn) {
        const float *A = s2s_ws_attention(ws);
        if (A) s2s_copy(attn, A, (size_t)B * T);
        else s2s_zero(attn, (size_t)B * T);
    }
}

void s2s_decode_step(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens, float *logprobs,
                     float *attn) {
    decode_step_logits(m, ws, B, tokens, logprobs, attn);
    s2s_log_softmax_rows(B, ws->Vt, logprobs);  /* in place */
}

int s2s_greedy(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
               int max_len, int32_t *out, int *out_len, float *attn, s2s_err *err) {
    return s2s_greedy_scored(m, ws, B, src, src_len, max_len, out, out_len, attn, NULL, err);
}

int s2s_greedy_scored(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
                      int max_len, int32_t *out, int *out_len, float *attn, double *logprob, s2s_err *err) {
    if (B > ws->max_B) return s2s_errf(err, "greedy: %d rows but the workspace holds %d", B, ws->max_B);
    const int V = ws->Vt, T = ws->T;
    int32_t tok[B];
    int row_of[B], from[B], nb = B;  /* live rows: row i decodes sentence row_of[i] */
    float *lp = ws->logits;  /* [B,V] scratch */
    float *step_attn = ws->dlogits;
    s2s_encode(m, ws, B, src, src_len);
    for (int b = 0; b < B; b++) { tok[b] = S2S_BOS; row_of[b] = b; out_len[b] = 0; }
    if (logprob) memset(logprob, 0, sizeof(double) * B);
    if (attn) s2s_zero(attn, (size_t)B * max_len * T);
    for (int step = 0; step < max_len && nb > 0; step++) {
        decode_step_logits(m, ws, nb, tok, lp, attn ? step_attn : NULL);
        int live = 0;
        for (int i = 0; i < nb; i++) {
            const float *x = lp + (size_t)i * V;
            int best = lanes_argmax(x, V), b = row_of[i];
            if (logprob) {  /* log p of the token chosen, as s2s_decode_step's log-softmax computes it */
                const float mx = x[best], lse = mx + (float)log(lanes_exp_sum(NULL, x, V, mx));
                logprob[b] += (double)(x[best] - lse);
            }
            if (attn) s2s_copy(attn + ((size_t)b * max_len + step) * T, step_attn + (size_t)i * T, T);
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
