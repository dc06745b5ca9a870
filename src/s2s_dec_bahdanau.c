/* d2l's Seq2SeqAttentionDecoder: at each step the query is the previous top-layer state h,
 * additive (Bahdanau) attention over the encoder's top outputs (padding masked) gives the
 * context c, and layer 0's input is [c, embedding]; the top layer's h feeds the dense layer.
 *   f_j = tanh(W_q q + W_k k_j), s_j = w_v . f_j, a = softmax(s), c = Σ_j dropout(a)_j k_j
 * W_k k_j is computed once per batch. Tensors: decoder.attention.W_k.weight [H,H],
 * W_q.weight [H,H], w_v.weight [1,H]. */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

enum { WK, WQ, WV };

typedef struct bahdanau_ws {
    s2s_keys k;          /* keys and values K, their projection KP = K W_k^T */
    float *F;            /* [T,B,T,H] each step's features */
    float *A, *drop;     /* [T,B,T] each step's weights (before dropout), dropout keep-scale */
    int dropped;         /* the last pass applied attention dropout */
    float *ctx, *dqp;    /* [T,B,H] each step's context, gradient of its W_q q */
    float *q;            /* [B,H] a step's W_q q */
    float *dctx, *dq;    /* [B,H] a step's gradient of the context, of the query */
    float *dS;           /* [B,T] a step's gradient of the weights, then of the scores */
} bahdanau_ws;

enum { CTX_T, WQ_T };  /* its transposed copies (ws->wt->fam) */

static int tensors(const s2s_config *c, s2s_tensor_decl *out) {
    const int H = c->hidden;
    out[WK] = (s2s_tensor_decl){"W_k.weight", H, H, 2};
    out[WQ] = (s2s_tensor_decl){"W_q.weight", H, H, 2};
    out[WV] = (s2s_tensor_decl){"w_v.weight", 1, H, 2};
    return 3;
}
static int in0(const s2s_config *c) { return c->embed + c->hidden; }
static int emb_col(const s2s_config *c) { return c->hidden; }  /* the context first */

static void *carve(const s2s_ws *w, s2s_carve *c) {
    bahdanau_ws local, *out = s2s_take_bytes(c, sizeof local), *d = out ? out : &local;  /* NULL while counting */
    const size_t B = w->max_B, TB = w->TBd, T = w->Tcap, H = w->H;
    s2s_keys_carve(&d->k, c, w);
    d->F = s2s_take(c, TB * T * H);
    d->A = s2s_take(c, TB * T); d->drop = s2s_take(c, TB * T);
    d->ctx = s2s_take(c, TB * H); d->dqp = s2s_take(c, TB * H);
    d->q = s2s_take(c, B * H); d->dctx = s2s_take(c, B * H); d->dq = s2s_take(c, B * H);
    d->dS = s2s_take(c, B * T);
    return out;
}

static void prepare(const s2s_model *m, s2s_ws *ws, const int32_t *src_len, int train, s2s_rng *rng) {
    bahdanau_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H;
    const float p = m->cfg.dropout;
    s2s_keys_prepare(ws, &d->k, src_len);
    s2s_linear_forward(ws->gemm, B * T, H, H, d->k.K, H, m->p.att[WK], H, NULL, 0.0f, d->k.KP, H);
    d->dropped = train && p > 0;
    if (d->dropped) s2s_dropout_fill(d->drop, (size_t)ws->Tdec * B * T, p, s2s_rng_next(rng));
}

static const float *step(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s) {
    bahdanau_ws *d = ws->dec_priv;
    const int B = s->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L;
    const size_t o = (size_t)s->t * ws->B, BT = o * T;  /* step t's first row, first weight */
    s2s_step_linear(ws, B, H, H, s->prev[L - 1][0], m->p.att[WQ], H, ws->wt->fam[WQ_T], NULL, 0.0f, d->q);
    s2s_attn_forward(B, T, H, d->q, d->k.KP, d->k.K, s->infer ? d->k.kv_row : NULL, d->k.valid, m->p.att[WV],
                     !s->infer && d->dropped ? d->drop + BT : NULL, d->F + BT * H, d->A + BT, d->ctx + o * H);
    s2s_step_linear(ws, B, G * H, H, d->ctx + o * H, s2s_dec_ih0(m, 0), in0(&m->cfg), ws->wt->fam[CTX_T], NULL, 1.0f,
                    ws->dec[0].gi + o * G * H);
    s2s_dec_layers(m, ws, s);
    return s->next[L - 1][0];
}

static const float *outputs(const s2s_ws *ws) { return ws->dec[ws->L - 1].hs + (size_t)ws->B * ws->H; }

static void step_backward(s2s_model *m, s2s_ws *ws, int t, int Bt) {
    bahdanau_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L;
    const size_t BH = (size_t)B * H, o = t * BH, BHt = (size_t)Bt * H, BT = (size_t)t * B * T;
    if (t == ws->Tdec - 1) {  /* the first step backward: the keys' gradients start at zero */
        s2s_zero(d->k.dK, (size_t)B * T * H);
        s2s_zero(d->k.dKP, (size_t)B * T * H);
    }
    s2s_add(BHt, ws->d_out + o, ws->dh[L - 1]);
    s2s_dec_layers_backward(m, ws, t, Bt);
    s2s_gemm(ws->gemm, 0, 0, Bt, H, G * H, 1.0f, ws->dec[0].dgi + G * o, G * H, s2s_dec_ih0(m, 0), in0(&m->cfg), 0.0f,
             d->dctx, H);
    s2s_attn_backward(Bt, T, H, d->dctx, d->k.K, d->k.valid, m->p.att[WV], d->dropped ? d->drop + BT : NULL,
                      d->F + BT * H, d->A + BT, d->dS, d->k.dK, d->k.dKP, d->dqp + o, ws->g.att[WV]);
    s2s_zero(d->dqp + o + BHt, BH - BHt);
    s2s_gemm(ws->gemm, 0, 0, Bt, H, H, 1.0f, d->dqp + o, H, m->p.att[WQ], H, 0.0f, d->dq, H);
    s2s_add(BHt, d->dq, ws->dh[L - 1]);  /* the query was the previous top state */
}

static void finish_backward(s2s_model *m, s2s_ws *ws) {
    bahdanau_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L;
    s2s_dec_wgrad(ws, G * H, H, ws->dec[0].dgi, G * H, d->ctx, H, ws->g.dec[0].w_ih, in0(&m->cfg), NULL);
    s2s_dec_wgrad(ws, H, H, d->dqp, H, ws->dec[L - 1].hs, H, ws->g.att[WQ], H, NULL);
    s2s_linear_wgrad(ws->gemm, B * T, H, H, d->k.dKP, H, d->k.K, H, ws->g.att[WK], H, NULL);
    s2s_gemm(ws->gemm, 0, 0, B * T, H, H, 1.0f, d->k.dKP, H, m->p.att[WK], H, 1.0f, d->k.dK, H);
    s2s_keys_backward(ws, &d->k);
}

static void reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from) {
    (void)m;
    s2s_keys_reorder(&((bahdanau_ws *)ws->dec_priv)->k, B, from);
}

static const float *attention(const s2s_ws *ws) { return ((const bahdanau_ws *)ws->dec_priv)->A; }

/* The context columns of W_ih_l0 [G*H,H] and W_q [H,H], read by every step. */
static int transposed(const s2s_config *c, const s2s_params *p, float **fam, s2s_wt_job *out) {
    const int H = c->hidden, G = s2s_cell_of(c->cell)->gates;
    out[0] = (s2s_wt_job){&fam[CTX_T], p ? p->dec[0].w_ih : NULL, G * H, H, in0(c)};
    out[1] = (s2s_wt_job){&fam[WQ_T], p ? p->att[WQ] : NULL, H, H, H};
    return 2;
}

static double flops(const s2s_model *m, const s2s_ws *ws, double rows) {
    (void)m;
    const double H = ws->H, G = ws->G, B = ws->B, T = ws->T;
    /* W_k K once; per row-step the context's columns, W_q, and the scores and context */
    return 2.0 * B * T * H * H + rows * (2.0 * G * H * H + 2.0 * H * H + 6.0 * T * H);
}

const s2s_decoder_ops s2s_dec_bahdanau = {
    "bahdanau", "attn", 1, tensors, in0, emb_col, carve, prepare, step, outputs,
    step_backward, finish_backward, reorder, attention, flops, "Bahdanau attention", 0, transposed,
};
