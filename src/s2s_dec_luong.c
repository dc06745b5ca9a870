/* Luong et al. 2015's global attention decoder (two table entries: dot and general scores).
 * Per step the layers run first (layer 0's input is the embedding, or with input feeding
 * [embedding; h~_{t-1}], h~_0 = 0); the top layer's new h_t then queries the encoder's top
 * outputs h_s:
 *   s_j = h_t . h_s_j (dot) or h_t . W_a h_s_j (general; W_a h_s computed once per batch),
 *   padding masked (s_j = -1e6), a = softmax(s), c_t = Σ_j dropout(a)_j h_s_j,
 *   h~_t = tanh(W_c [c_t; h_t]),
 * and h~_t feeds the dense layer. Tensors: decoder.attention.W_a.weight [H,H] (general only),
 * decoder.attention.W_c.weight [H,2H] (its first H columns take c_t), no biases. */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

typedef struct luong_ws {
    s2s_keys k;          /* values K = the encoder's top outputs; keys KP = K W_a^T (general) or K */
    float *A, *drop;     /* [T,B,T] each step's weights (before dropout), dropout keep-scale */
    int dropped;         /* the last pass applied attention dropout */
    int fed;             /* inference: ht's first rows hold the previous step's h~ (else h~ = 0) */
    float *ctx, *ht;     /* [T,B,H] each step's context c_t, attentional state h~_t (the output) */
    float *dz;           /* [T,B,H] gradient of W_c [c_t; h_t] (before the tanh) */
    float *z;            /* [B,H] a step's W_c [c_t; h_t] */
    float *dctx, *dq;    /* [B,H] a step's gradients of c_t, of h_t through W_c and the scores */
    float *dA;           /* [B,T] a step's gradient of the weights, then of the scores (in place) */
    float *dfeed;        /* [B,H] gradient of h~_{t-1} from step t's input (input feeding) */
} luong_ws;

enum { WC_T, FEED_T };  /* its transposed copies (ws->wt->fam) */

static int general(const s2s_config *c) { return c->attention == S2S_LUONG_GENERAL; }
static const float *W_a(const s2s_params *p) { return p->att[0]; }
static const float *W_c(const s2s_config *c, const s2s_params *p) { return p->att[general(c)]; }

static int tensors(const s2s_config *c, s2s_tensor_decl *out) {
    const int H = c->hidden;
    int n = 0;
    if (general(c)) out[n++] = (s2s_tensor_decl){"W_a.weight", H, H, 2};
    out[n++] = (s2s_tensor_decl){"W_c.weight", H, 2 * H, 2};
    return n;
}
static int in0(const s2s_config *c) { return c->embed + (c->input_feed ? c->hidden : 0); }
static int emb_col(const s2s_config *c) { (void)c; return 0; }  /* h~_{t-1} after it */

static void *carve(const s2s_ws *w, s2s_carve *c) {
    luong_ws local, *out = s2s_take_bytes(c, sizeof local), *d = out ? out : &local;  /* NULL while counting */
    const size_t B = w->max_B, TB = w->TBd, T = w->Tcap, H = w->H;
    s2s_keys_carve(&d->k, c, w);
    d->A = s2s_take(c, TB * T); d->drop = s2s_take(c, TB * T);
    d->ctx = s2s_take(c, TB * H); d->ht = s2s_take(c, TB * H); d->dz = s2s_take(c, TB * H);
    d->z = s2s_take(c, B * H); d->dctx = s2s_take(c, B * H); d->dq = s2s_take(c, B * H); d->dfeed = s2s_take(c, B * H);
    d->dA = s2s_take(c, B * T);
    return out;
}

static const float *keys_of(const s2s_model *m, const luong_ws *d) { return general(&m->cfg) ? d->k.KP : d->k.K; }

static void prepare(const s2s_model *m, s2s_ws *ws, const int32_t *src_len, int train, s2s_rng *rng) {
    luong_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H;
    const float p = m->cfg.dropout;
    s2s_keys_prepare(ws, &d->k, src_len);
    if (general(&m->cfg)) s2s_linear_forward(ws->gemm, B * T, H, H, d->k.K, H, W_a(&m->p), H, NULL, 0.0f, d->k.KP, H);
    d->dropped = train && p > 0;
    if (d->dropped) s2s_dropout_fill(d->drop, (size_t)ws->Tdec * B * T, p, s2s_rng_next(rng));
    d->fed = 0;
}

static const float *step(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s) {
    luong_ws *d = ws->dec_priv;
    const int B = s->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L;
    const size_t o = (size_t)s->t * ws->B;  /* step t's first row */
    const float *Wc = W_c(&m->cfg, &m->p), *WcT = ws->wt->fam[WC_T];
    if (m->cfg.input_feed) {  /* h~_{t-1} through its columns of W_ih_l0 (h~_0 = 0: nothing) */
        const float *prev = s->infer ? (d->fed ? d->ht : NULL) : s->t > 0 ? d->ht + (o - ws->B) * H : NULL;
        if (prev)
            s2s_step_linear(ws, B, G * H, H, prev, s2s_dec_ih0(m, ws->E), in0(&m->cfg), ws->wt->fam[FEED_T], NULL, 1.0f,
                            ws->dec[0].gi + o * G * H);
    }
    s2s_dec_layers(m, ws, s);
    const float *h = s->next[L - 1][0];
    float *ctx = d->ctx + o * H, *ht = d->ht + o * H;
    const int32_t *kv_row = s->infer ? d->k.kv_row : NULL;
    float *A = d->A + o * T;
    s2s_dot_scores(B, T, H, h, keys_of(m, d), kv_row, d->k.valid, A);
    s2s_masked_softmax(B, T, d->k.valid, A);
    s2s_attn_context(B, T, H, A, !s->infer && d->dropped ? d->drop + o * T : NULL, d->k.K, kv_row, ctx);
    s2s_step_linear(ws, B, H, H, ctx, Wc, 2 * H, WcT, NULL, 0.0f, d->z);
    s2s_step_linear(ws, B, H, H, h, Wc + H, 2 * H, WcT + (size_t)H * H, NULL, 1.0f, d->z);
    s2s_tanh((size_t)B * H, d->z, ht);
    if (s->infer) d->fed = 1;
    return ht;
}

static const float *outputs(const s2s_ws *ws) { return ((const luong_ws *)ws->dec_priv)->ht; }

static void step_backward(s2s_model *m, s2s_ws *ws, int t, int Bt) {
    luong_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L, feed = m->cfg.input_feed;
    const size_t BH = (size_t)B * H, o = (size_t)t * B, BHt = (size_t)Bt * H;
    const float *Wc = W_c(&m->cfg, &m->p), *ht = d->ht + o * H, *h = ws->dec[L - 1].hs + (o + B) * H;
    float *dz = d->dz + o * H;
    if (t == ws->Tdec - 1) {  /* the first step backward: the carried gradients start at zero */
        s2s_zero(d->k.dK, (size_t)B * T * H);
        s2s_zero(d->k.dKP, (size_t)B * T * H);
        s2s_zero(d->dfeed, BH);
    }
    s2s_tanh_backward(BHt, ht, ws->d_out + o * H, feed ? d->dfeed : NULL, dz);
    s2s_gemm(ws->gemm, 0, 0, Bt, H, H, 1.0f, dz, H, Wc, 2 * H, 0.0f, d->dctx, H);
    s2s_gemm(ws->gemm, 0, 0, Bt, H, H, 1.0f, dz, H, Wc + H, 2 * H, 0.0f, d->dq, H);
    const float *A = d->A + o * T;
    /* the values' share, the weights' gradient dA, then the scores' (in place) and the keys' */
    s2s_attn_context_backward(Bt, T, H, d->dctx, A, d->dropped ? d->drop + o * T : NULL, d->k.K, d->k.dK, d->dA);
    s2s_masked_softmax_backward(Bt, T, d->k.valid, A, d->dA, d->dA);
    s2s_dot_scores_backward(Bt, T, H, d->dA, h, keys_of(m, d), d->k.valid, d->dq,
                            general(&m->cfg) ? d->k.dKP : d->k.dK);
    s2s_add(BHt, d->dq, ws->dh[L - 1]);
    s2s_dec_layers_backward(m, ws, t, Bt);
    if (feed && t > 0) {  /* into h~_{t-1}; the finished rows' is zero */
        s2s_gemm(ws->gemm, 0, 0, Bt, H, G * H, 1.0f, ws->dec[0].dgi + o * G * H, G * H, s2s_dec_ih0(m, ws->E),
                 in0(&m->cfg), 0.0f, d->dfeed, H);
        s2s_zero(d->dfeed + BHt, BH - BHt);
    }
}

/* dW += Σ_{t >= 1} D_t^T X_{t-1} over the rows still going at step t: step t's input read the
 * previous step's output. */
static void wgrad_prev(const s2s_ws *ws, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                       float *dW, int ldw) {
    const int B = ws->B;
    int t = 1;
    while (t < ws->Tdec && ws->active[t] == B) t++;
    s2s_linear_wgrad(ws->gemm, (t - 1) * B, rows, cols, D + (size_t)B * ldd, ldd, X, ldx, dW, ldw, NULL);
    for (; t < ws->Tdec; t++)
        s2s_linear_wgrad(ws->gemm, ws->active[t], rows, cols, D + (size_t)t * B * ldd, ldd, X + (size_t)(t - 1) * B * ldx, ldx,
                         dW, ldw, NULL);
}

static void finish_backward(s2s_model *m, s2s_ws *ws) {
    luong_ws *d = ws->dec_priv;
    const int B = ws->B, T = ws->T, H = ws->H, G = ws->G, L = ws->L;
    float *gWc = ws->g.att[general(&m->cfg)];
    s2s_dec_wgrad(ws, H, H, d->dz, H, d->ctx, H, gWc, 2 * H, NULL);
    s2s_dec_wgrad(ws, H, H, d->dz, H, ws->dec[L - 1].hs + (size_t)B * H, H, gWc + H, 2 * H, NULL);
    if (m->cfg.input_feed)
        wgrad_prev(ws, G * H, H, ws->dec[0].dgi, G * H, d->ht, H, ws->g.dec[0].w_ih + ws->E, in0(&m->cfg));
    if (general(&m->cfg)) {
        s2s_linear_wgrad(ws->gemm, B * T, H, H, d->k.dKP, H, d->k.K, H, ws->g.att[0], H, NULL);
        s2s_gemm(ws->gemm, 0, 0, B * T, H, H, 1.0f, d->k.dKP, H, W_a(&m->p), H, 1.0f, d->k.dK, H);
    }
    s2s_keys_backward(ws, &d->k);
}

static void reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from) {
    luong_ws *d = ws->dec_priv;
    s2s_keys_reorder(&d->k, B, from);
    if (m->cfg.input_feed && d->fed) s2s_rows_permute(d->ht, ws->inf_perm, B, (size_t)ws->H, from);
}

static const float *attention(const s2s_ws *ws) { return ((const luong_ws *)ws->dec_priv)->A; }

/* W_c [H,2H], and with input feeding the feed columns of W_ih_l0 [G*H,H], read by every step. */
static int transposed(const s2s_config *c, const s2s_params *p, float **fam, s2s_wt_job *out) {
    const int H = c->hidden, G = s2s_cell_of(c->cell)->gates;
    int n = 0;
    out[n++] = (s2s_wt_job){&fam[WC_T], p ? W_c(c, p) : NULL, H, 2 * H, 2 * H};
    if (c->input_feed) out[n++] = (s2s_wt_job){&fam[FEED_T], p ? p->dec[0].w_ih + c->embed : NULL, G * H, H, in0(c)};
    return n;
}

static double flops(const s2s_model *m, const s2s_ws *ws, double rows) {
    const double H = ws->H, G = ws->G, B = ws->B, T = ws->T;
    /* W_a K once (general); per row-step the scores and context, W_c, and the fed-back h~ */
    return (general(&m->cfg) ? 2.0 * B * T * H * H : 0.0) +
           rows * (4.0 * T * H + 2.0 * H * 2.0 * H + (m->cfg.input_feed ? 2.0 * G * H * H : 0.0));
}

const s2s_decoder_ops s2s_dec_luong_dot = {
    "luong-dot", "luong", 1, tensors, in0, emb_col, carve, prepare, step, outputs,
    step_backward, finish_backward, reorder, attention, flops, "Luong attention, dot score", 1, transposed,
};
const s2s_decoder_ops s2s_dec_luong_general = {
    "luong-general", "luong", 1, tensors, in0, emb_col, carve, prepare, step, outputs,
    step_backward, finish_backward, reorder, attention, flops, "Luong attention, general score", 1, transposed,
};
