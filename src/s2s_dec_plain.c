/* d2l's Seq2SeqDecoder: layer 0's input is [embedding, context] with the context the encoder's
 * final top-layer h at every step (in training, which is d2l's, and in prediction, where d2l
 * lets it drift to the decoder's own state); the top layer's h feeds the dense layer. The
 * context's projection is the same at every step: computed once per batch. No tensors of its
 * own. */
#include <string.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

typedef struct plain_ws {
    float *ctxp;     /* [B,G*H] the context's projection through its columns of W_ih_l0 */
    float *ctx_sum;  /* [B,G*H] its gradient: Σ_t dgi0 */
} plain_ws;

static int tensors(const s2s_config *c, s2s_tensor_decl *out) { (void)c; (void)out; return 0; }
static int in0(const s2s_config *c) { return c->embed + c->hidden; }
static int emb_col(const s2s_config *c) { (void)c; return 0; }  /* the context after it */

static void *carve(const s2s_ws *w, s2s_carve *c) {
    plain_ws local, *out = s2s_take_bytes(c, sizeof local), *d = out ? out : &local;  /* NULL while counting */
    const size_t BGH = (size_t)w->max_B * w->G * w->H;
    d->ctxp = s2s_take(c, BGH); d->ctx_sum = s2s_take(c, BGH);
    return out;
}

static void prepare(const s2s_model *m, s2s_ws *ws, const int32_t *src_len, int train, s2s_rng *rng) {
    (void)src_len; (void)train; (void)rng;
    plain_ws *d = ws->dec_priv;
    const int H = ws->H, G = ws->G;
    s2s_linear_forward(ws->gemm, ws->B, G * H, H, ws->enc_final[0][ws->L - 1], H, s2s_dec_ih0(m, ws->E), in0(&m->cfg), NULL,
                       0.0f, d->ctxp, G * H);
}

static const float *step(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s) {
    const plain_ws *d = ws->dec_priv;
    const size_t GH = (size_t)ws->G * ws->H;
    s2s_add(s->B * GH, d->ctxp, ws->dec[0].gi + (size_t)s->t * ws->B * GH);
    s2s_dec_layers(m, ws, s);
    return s->next[ws->L - 1][0];
}

static const float *outputs(const s2s_ws *ws) { return ws->dec[ws->L - 1].hs + (size_t)ws->B * ws->H; }

static void step_backward(s2s_model *m, s2s_ws *ws, int t, int Bt) {
    const size_t BH = (size_t)ws->B * ws->H;
    s2s_add((size_t)Bt * ws->H, ws->d_out + t * BH, ws->dh[ws->L - 1]);
    s2s_dec_layers_backward(m, ws, t, Bt);
}

static void finish_backward(s2s_model *m, s2s_ws *ws) {
    plain_ws *d = ws->dec_priv;
    const int B = ws->B, H = ws->H, G = ws->G, L = ws->L;
    const size_t BGH = (size_t)B * G * H, BH = (size_t)B * H;
    s2s_zero(d->ctx_sum, BGH);
    for (int t = 0; t < ws->Tdec; t++) s2s_add(BGH, ws->dec[0].dgi + t * BGH, d->ctx_sum);
    const float *ctx = ws->enc_final[0][L - 1];
    s2s_linear_wgrad(ws->gemm, B, G * H, H, d->ctx_sum, G * H, ctx, H, ws->g.dec[0].w_ih + ws->E, in0(&m->cfg), NULL);
    s2s_gemm(ws->gemm, 0, 0, B, H, G * H, 1.0f, d->ctx_sum, G * H, s2s_dec_ih0(m, ws->E), in0(&m->cfg), 1.0f,
             ws->enc_dstate + (L - 1) * BH, H);
    s2s_zero(ws->enc_dy, ws->T * BH);  /* the outputs themselves are not read */
}

static void reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from) {
    (void)m;
    s2s_rows_permute(((plain_ws *)ws->dec_priv)->ctxp, ws->inf_perm, B, (size_t)ws->G * ws->H, from);
}

static double flops(const s2s_model *m, const s2s_ws *ws, double rows) {
    (void)m; (void)ws; (void)rows;
    return 0.0;  /* the context's projection, once per batch, is not counted */
}

const s2s_decoder_ops s2s_dec_plain = {
    "none", "plain", 0, tensors, in0, emb_col, carve, prepare, step, outputs,
    step_backward, finish_backward, reorder, NULL, flops, "plain", 0, NULL,
};
