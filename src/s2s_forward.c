/* The training pass as a list of stages: the encoder over all T steps, the decoder's set-up
 * (steps, rows still going, the embedding's projection, initial states, dropout masks), the
 * decoder family's per-batch preparation (attention keys), the steps under teacher forcing,
 * then the dense layer and masked cross-entropy; the backward pass is the same list in
 * reverse. Each stage hides its own shortcuts (token tables, finished rows, compact rows); no
 * stage branches on the model family: the cell and the decoder come from the tables. Also the
 * workspace that holds it all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "s2s_decoder.h"
#include "s2s_linalg.h"
#include "s2s_nn.h"

/* ---- workspace ----------------------------------------------------------------------- */

float *s2s_take(s2s_carve *c, size_t n) { return s2s_take_bytes(c, n * sizeof(float)); }

void *s2s_take_bytes(s2s_carve *c, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = c->base ? (void *)(c->base + c->used) : NULL;
    c->used += bytes;
    return p;
}

/* The sizes a workspace derives from the configuration (also for s2s_ws_estimate). */
static void ws_dims(s2s_ws *w, const s2s_config *c, int max_B, int T, long max_tokens, int inference) {
    w->max_B = max_B; w->T = w->Tcap = T;
    w->TB = max_tokens > 0 ? (size_t)max_tokens : (size_t)max_B * T;
    if (w->TB < (size_t)max_B) w->TB = max_B;
    if (w->TB < (size_t)T) w->TB = T;
    w->TBd = inference ? (size_t)max_B : w->TB;
    w->E = c->embed; w->H = c->hidden; w->L = c->layers; w->Vt = c->tgt_vocab;
    w->Vs = c->src_vocab;
    w->cell = s2s_cell_of(c->cell);
    w->dec_ops = s2s_decoder_of(c->attention);
    w->G = w->cell->gates; w->S = w->cell->states; w->P = w->cell->planes;
    w->dirs = s2s_encoder_of(c->encoder)->dirs;
    w->Hd = w->H / w->dirs;
}

/* The decoder's common buffers; the encoder's and the family's come from their own carves. */
static void dec_carve(s2s_ws *w, s2s_carve *c, float dropout) {
    const size_t B = w->max_B, TB = w->TBd, E = w->E, H = w->H, V = w->Vt, L = w->L, G = w->G;
    w->dec_x = s2s_take(c, TB * E);
    for (size_t l = 0; l < L; l++) {
        s2s_rnn_cache *r = &w->dec[l];
        r->gi = s2s_take(c, TB * G * H);
        r->hs = s2s_take(c, (TB + B) * H);
        r->cs = w->S > 1 ? s2s_take(c, (TB + B) * H) : NULL;
        r->cache = s2s_take(c, (size_t)w->P * TB * H);
        r->dgi = s2s_take(c, TB * G * H);
        r->dgh = w->cell->own_dgh ? s2s_take(c, TB * G * H) : r->dgi;
        if (l > 0 && dropout > 0) { w->dec_drop[l].mask = s2s_take(c, TB * H); w->dec_drop[l].xd = s2s_take(c, TB * H); }
        w->dh[l] = s2s_take(c, B * H);
        w->dc[l] = w->S > 1 ? s2s_take(c, B * H) : NULL;
        for (int s = 0; s < w->S; s++) { w->inf_now[l][s] = s2s_take(c, B * H); w->inf_next[l][s] = s2s_take(c, B * H); }
    }
    w->dlow = s2s_take(c, B * H);
    w->dec_dx = s2s_take(c, TB * E);
    w->d_out = s2s_take(c, TB * H);
    w->logits = s2s_take(c, TB * V);
    w->dlogits = s2s_take(c, TB * (V > (size_t)w->Tcap ? V : (size_t)w->Tcap));  /* also greedy's [B,T] weights */
    w->gh = s2s_take(c, B * G * H);
    w->loss = s2s_take(c, B);
    w->hc = s2s_take(c, TB * H); w->dhc = s2s_take(c, TB * H);
    w->crow = (int32_t *)s2s_take(c, TB); w->clab = (int32_t *)s2s_take(c, TB); w->closs = s2s_take(c, TB);
    w->inf_perm = s2s_take(c, B * G * H);  /* rows of H or G*H */
}

static void ws_layout(s2s_ws *w, const s2s_config *cfg, s2s_carve *c) {
    const float dropout = cfg->dropout;
    s2s_enc_carve(w, c, dropout);
    dec_carve(w, c, dropout);
    s2s_wt_carve(cfg, &w->own_wt, c);
    w->wt = &w->own_wt;
    const size_t E = w->E, V = w->Vt, Vs = w->Vs;
    for (int side = 0; side < 2; side++) {
        s2s_tok_table *tb = side ? &w->dec_tab : &w->enc_tab;
        const size_t TB = side ? w->TBd : w->TB;
        const size_t cap = side ? (V < TB ? V : TB) : (Vs < TB ? Vs : TB);
        const size_t N = (size_t)w->G * (side ? w->H : w->Hd);
        tb->uniq = (int32_t *)s2s_take(c, cap); tb->slot = (int32_t *)s2s_take(c, TB);
        tb->X = s2s_take(c, cap * E); tb->dX = s2s_take(c, cap * E);
        tb->P = s2s_take(c, cap * N); tb->dP = s2s_take(c, cap * N);
    }
    w->seen = (int32_t *)s2s_take(c, Vs > V ? Vs : V);
    w->dec_priv = w->dec_ops->carve(w, c);
    const int g = s2s_gemm_resolve(w->opt.gemm);
    if (w->opt.inference && s2s_gemm_packed((s2s_gemm_kind)g)) w->pk = s2s_pk_carve(cfg, (int)V, w->max_B, g == S2S_GEMM_INT8, c);
}

size_t s2s_ws_estimate(const s2s_config *c, int max_B, int T) { return s2s_ws_estimate_opts(c, max_B, T, NULL); }

size_t s2s_ws_estimate_opts(const s2s_config *c, int max_B, int T, const s2s_ws_opts *opts) {
    s2s_ws w;
    memset(&w, 0, sizeof w);
    if (opts) w.opt = *opts;
    ws_dims(&w, c, max_B, T, opts ? opts->max_tokens : 0, opts ? opts->inference : 0);
    s2s_carve cv = {NULL, 0};
    ws_layout(&w, c, &cv);
    return cv.used;
}

int s2s_ws_create(const s2s_model *m, int max_B, int T, s2s_ws **out, s2s_err *err) {
    return s2s_ws_create_opts(m, max_B, T, NULL, out, err);
}

int s2s_ws_create_opts(const s2s_model *m, int max_B, int T, const s2s_ws_opts *opts, s2s_ws **out, s2s_err *err) {
    if (max_B < 1 || T < 1 || T > S2S_MAX_STEPS)
        return s2s_errf(err, "workspace needs 1..%d steps and at least one row (got B=%d, T=%d)", S2S_MAX_STEPS, max_B, T);
    s2s_ws *w = s2s_calloc(1, sizeof *w, err, "the workspace");
    if (!w) return S2S_ERR;
    w->opt = opts ? *opts : (s2s_ws_opts){.token_tables = 1};
    if (w->opt.max_tokens < 0 || w->opt.max_tokens > ((long)1 << 40)) {
        long n = w->opt.max_tokens;
        free(w);
        return s2s_errf(err, "workspace: %ld positions is out of range", n);
    }
    const int g = s2s_gemm_resolve(w->opt.gemm);
    if (g < 0) {
        const int asked = (int)w->opt.gemm;
        free(w);
        const char *name = s2s_gemm_name((s2s_gemm_kind)asked);
        if (name) return s2s_errf(err, "products '%s': this build has no %s kernel", name, s2s_gemm_needs((s2s_gemm_kind)asked));
        return s2s_errf(err, "workspace: unknown products %d", asked);
    }
    ws_dims(w, &m->cfg, max_B, T, w->opt.max_tokens, w->opt.inference);
    s2s_carve c = {NULL, 0};
    ws_layout(w, &m->cfg, &c);
    /* at inference bf16 and int8 are the steps' packed copies (ws_layout: ws->pk) and every
     * other product goes through our kernel; a trainer's bf16 is every product's (s2s_gemm) */
    w->gemm = w->enc_tab.gemm = w->dec_tab.gemm =
        w->opt.inference && s2s_gemm_packed((s2s_gemm_kind)g) ? S2S_GEMM_OWN : (s2s_gemm_kind)g;
    w->bytes = c.used;
    /* a large block from the kernel directly: its pages are zero until first touched, so a pass
     * that uses part of the capacity (short batches, inference) neither clears nor holds the rest */
    w->mapped = c.used >= ((size_t)1 << 20);
    if (w->mapped) {
        void *p = mmap(NULL, c.used, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        w->block = p == MAP_FAILED ? NULL : p;
    } else if ((w->block = aligned_alloc(64, c.used))) {
        memset(w->block, 0, c.used);
    }
    if (!w->block) {
        free(w);
        return s2s_errf(err, "out of memory: the workspace for batch %d x %d steps needs %.1f MiB",
                        max_B, T, c.used / 1048576.0);
    }
    c.base = (char *)w->block; c.used = 0;
    ws_layout(w, &m->cfg, &c);
    w->g = m->g;
    w->grads = m->grads;
    *out = w;
    return S2S_OK;
}

int s2s_ws_set_steps(s2s_ws *ws, int T, s2s_err *err) {
    if (T < 1 || T > ws->Tcap)
        return s2s_errf(err, "workspace: %d steps, it holds 1..%d", T, ws->Tcap);
    ws->T = T;
    return S2S_OK;
}

void s2s_ws_free(s2s_ws *ws) {
    if (!ws) return;
    free(ws->own_grads);
    if (ws->mapped) munmap(ws->block, ws->bytes);
    else free(ws->block);
    free(ws);
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
    const double E = ws->E, H = ws->H, V = ws->Vt, L = ws->L, B = ws->B, G = ws->G;
    const double dec_in = ws->dec_tab.on ? ws->dec_tab.n : ws->Tdec * B;  /* distinct tokens with the tables */
    double f = s2s_enc_flops(ws) + 2.0 * dec_in * G * H * E;
    const double row = L * 2.0 * G * H * H + (L - 1) * 2.0 * G * H * H;  /* per decoder row-step: W_hh, W_ih */
    double rows = 0;
    for (int t = 0; t < ws->Tdec; t++) rows += ws->active[t];
    f += rows * row + ws->dec_ops->flops(m, ws, rows);
    f += 2.0 * H * V * (ws->compact ? ws->nc : ws->Tdec * B);                 /* dense */
    return f;
}
const float *s2s_ws_logits(const s2s_ws *ws) { return ws->logits; }
const float *s2s_ws_attention(const s2s_ws *ws) { return ws->dec_ops->attention ? ws->dec_ops->attention(ws) : NULL; }
const float *s2s_ws_enc_outputs(const s2s_ws *ws) { return ws->enc_out[ws->L - 1]; }
void s2s_ws_enc_state(const s2s_ws *ws, int l, const float **h) { *h = ws->enc_final[0][l]; }
void s2s_ws_enc_cell_state(const s2s_ws *ws, int l, const float **c) { *c = ws->S > 1 ? ws->enc_final[1][l] : NULL; }

/* ---- forward stages ----------------------------------------------------------------------- */

/* How many steps the decoder runs, and how many rows at each. Rows whose target has ended have
 * no loss from then on and feed nothing that has: when the batch is sorted by target length
 * (longest first, as the trainer orders it), step t only runs the rows still going, a prefix
 * of the batch. all_steps = 1: every step of every row (for comparing logits). */
static void dec_rows(s2s_ws *ws, const s2s_batch *bt, int all_steps) {
    const int B = bt->B, T = ws->Tt;
    int Tdec = T;
    if (!all_steps) {
        Tdec = 1;
        for (int b = 0; b < B; b++) if (bt->tgt_len[b] > Tdec) Tdec = bt->tgt_len[b];
        if (Tdec > T) Tdec = T;
    }
    ws->Tdec = Tdec;
    int sorted = !all_steps;
    for (int b = 1; b < B && sorted; b++) sorted = bt->tgt_len[b] <= bt->tgt_len[b - 1];
    for (int t = 0; t < Tdec; t++) {
        int n = B;
        if (sorted) for (n = 0; n < B && bt->tgt_len[n] > t; n++) {}
        ws->active[t] = n;
    }
}

/* Layer 0's projection of the embedding columns (with b_ih) into dec[0].gi for every step's
 * rows still going: through the batch's distinct tokens or per position. */
static void dec_embed(const s2s_model *m, s2s_ws *ws, const s2s_batch *bt) {
    const int B = bt->B, T = ws->Tt, E = ws->E, N = ws->G * ws->H, Tdec = ws->Tdec;
    const int in0 = ws->dec_ops->in0(&m->cfg);
    const float *W = s2s_dec_ih0(m, ws->dec_ops->emb_col(&m->cfg));
    if ((ws->dec_tab.on = ws->opt.token_tables)) {
        s2s_tab_build(ws, &ws->dec_tab, bt->dec_in, B, T, Tdec, ws->active);
        s2s_tab_project(&ws->dec_tab, m->p.dec_emb, E, N, W, in0, m->p.dec[0].b_ih);
        s2s_tab_gather(&ws->dec_tab, N, ws->dec[0].gi, B, Tdec, ws->active);
    } else {
        s2s_rows_gather(ws->dec_x, m->p.dec_emb, E, bt->dec_in, B, T, Tdec);
        s2s_linear_forward(ws->gemm, Tdec * B, N, E, ws->dec_x, E, W, in0, m->p.dec[0].b_ih, 0.0f, ws->dec[0].gi, N);
    }
}

/* Each layer starts from the encoder's final state of the same layer; dropout masks between
 * the layers. */
static void dec_start(const s2s_model *m, s2s_ws *ws, int train, s2s_rng *rng) {
    const size_t BH = (size_t)ws->B * ws->H;
    const float p = m->cfg.dropout;
    ws->dec_dropped = train && p > 0;
    for (int l = 0; l < ws->L; l++) {
        s2s_rnn_cache *r = &ws->dec[l];
        s2s_copy(r->hs, ws->enc_final[0][l], BH);
        if (r->cs) s2s_copy(r->cs, ws->enc_final[1][l], BH);
        if (ws->dec_drop[l].mask && ws->dec_dropped)
            s2s_dropout_fill(ws->dec_drop[l].mask, ws->Tdec * BH, p, s2s_rng_next(rng));
    }
}

/* Decoder step t of the pass, its states in the layers' caches. */
static void dec_step(const s2s_model *m, s2s_ws *ws, int t) {
    const size_t BH = (size_t)ws->B * ws->H, o = t * BH;
    s2s_dec_step s;
    memset(&s, 0, sizeof s);
    s.t = t; s.B = ws->active[t];
    for (int l = 0; l < ws->L; l++) {
        s2s_rnn_cache *r = &ws->dec[l];
        s.prev[l][0] = r->hs + o; s.next[l][0] = r->hs + o + BH;
        if (r->cs) { s.prev[l][1] = r->cs + o; s.next[l][1] = r->cs + o + BH; }
    }
    ws->dec_ops->step(m, ws, &s);
}

/* The positions where the target is not padding (the compact rows): their t*B+b and labels. */
static void compact_rows(s2s_ws *ws, const s2s_batch *bt) {
    const int B = bt->B, T = ws->Tt;
    int nc = 0;
    for (int t = 0; t < ws->Tdec; t++)
        for (int b = 0; b < B; b++)
            if (t < bt->tgt_len[b]) {
                ws->crow[nc] = t * B + b;
                ws->clab[nc] = bt->tgt[(size_t)b * T + t];
                nc++;
            }
    ws->nc = nc;
}

/* The dense layer and the loss: over every step of every row (all_steps), else only where the
 * target is not padding (the compact rows). */
static double output_loss(const s2s_model *m, s2s_ws *ws, const s2s_batch *bt, int all_steps, float *loss) {
    const int B = bt->B, T = ws->Tt, H = ws->H, V = ws->Vt, Tdec = ws->Tdec;
    const float *out = ws->dec_ops->outputs(ws);
    const int smoothed = bt->smoothing > 0.0f || bt->weight > 0.0f;
    const float w = bt->weight > 0.0f ? bt->weight : 1.0f / T;
    double total = 0.0;
    ws->compact = !all_steps;
    if (!ws->compact) {
        s2s_linear_forward(ws->gemm, Tdec * B, V, H, out, H, m->p.dense_w, H, m->p.dense_b, 0.0f, ws->logits, V);
        if (!smoothed) {
            total = s2s_masked_ce(Tdec, T, B, V, ws->logits, bt->tgt, T, bt->tgt_len, ws->loss, ws->dlogits);
        } else {  /* every position, padding with weight 0 */
            s2s_zero(ws->loss, B);
            for (int t = 0; t < Tdec; t++)
                for (int b = 0; b < B; b++) {
                    const size_t r = (size_t)t * B + b;
                    float l;
                    s2s_smoothed_ce(1, V, ws->logits + r * V, bt->tgt + (size_t)b * T + t, bt->smoothing,
                                    t < bt->tgt_len[b] ? w : 0.0f, &l, ws->dlogits + r * V);
                    ws->loss[b] += l;
                }
            for (int b = 0; b < B; b++) total += ws->loss[b];
        }
    } else {
        compact_rows(ws, bt);
        const int nc = ws->nc;
        s2s_rows_take(ws->hc, out, H, ws->crow, nc);
        s2s_linear_forward(ws->gemm, nc, V, H, ws->hc, H, m->p.dense_w, H, m->p.dense_b, 0.0f, ws->logits, V);
        s2s_zero(ws->loss, B);
        if (!smoothed) {
            /* each compact row is one step of length 1, weighted 1/T as in the full loss */
            int32_t one = 1;
            for (int k = 0; k < nc; k++)
                s2s_masked_ce(1, T, 1, V, ws->logits + (size_t)k * V, ws->clab + k, 1, &one, ws->closs + k,
                              ws->dlogits + (size_t)k * V);
        } else {
            s2s_smoothed_ce(nc, V, ws->logits, ws->clab, bt->smoothing, w, ws->closs, ws->dlogits);
        }
        for (int k = 0; k < nc; k++) ws->loss[ws->crow[k] % B] += ws->closs[k];
        for (int b = 0; b < B; b++) total += ws->loss[b];
    }
    if (loss) s2s_copy(loss, ws->loss, B);
    return total;
}

double s2s_forward(const s2s_model *m, s2s_ws *ws, const s2s_batch *bt, int train, int all_steps,
                   s2s_rng *rng, float *loss) {
    ws->T = bt->T;  /* the caller keeps both strides <= Tcap and B x each <= TB */
    ws->Tt = bt->Tt ? bt->Tt : bt->T;
    s2s_enc_forward(m, ws, bt->B, bt->src, bt->src_len, train, rng);
    dec_rows(ws, bt, all_steps);
    dec_embed(m, ws, bt);
    dec_start(m, ws, train, rng);
    ws->dec_ops->prepare(m, ws, bt->src_len, train, rng);
    for (int t = 0; t < ws->Tdec; t++) dec_step(m, ws, t);
    return output_loss(m, ws, bt, all_steps, loss);
}

/* ---- backward stages ---------------------------------------------------------------------- */

/* d_out [Tdec,B,H] (zero at padding) and the dense layer's gradients. */
static void output_backward(s2s_model *m, s2s_ws *ws) {
    const int B = ws->B, H = ws->H, V = ws->Vt, Tdec = ws->Tdec;
    if (!ws->compact) {
        s2s_gemm(ws->gemm, 0, 0, Tdec * B, H, V, 1.0f, ws->dlogits, V, m->p.dense_w, H, 0.0f, ws->d_out, H);
        s2s_linear_wgrad(ws->gemm, Tdec * B, V, H, ws->dlogits, V, ws->dec_ops->outputs(ws), H, ws->g.dense_w, H,
                         ws->g.dense_b);
        return;
    }
    const int nc = ws->nc;
    s2s_gemm(ws->gemm, 0, 0, nc, H, V, 1.0f, ws->dlogits, V, m->p.dense_w, H, 0.0f, ws->dhc, H);
    s2s_linear_wgrad(ws->gemm, nc, V, H, ws->dlogits, V, ws->hc, H, ws->g.dense_w, H, ws->g.dense_b);
    s2s_zero(ws->d_out, (size_t)Tdec * B * H);
    s2s_rows_put(ws->d_out, ws->dhc, H, ws->crow, nc);
}

/* The steps in reverse; then each layer's carried gradient is its initial state's, which is
 * the encoder's final state of that layer. */
static void dec_steps_backward(s2s_model *m, s2s_ws *ws) {
    const size_t BH = (size_t)ws->B * ws->H;
    const int L = ws->L;
    s2s_zero(ws->enc_dstate, ws->S * L * BH);
    for (int l = 0; l < L; l++) {
        s2s_zero(ws->dh[l], BH);
        if (ws->dc[l]) s2s_zero(ws->dc[l], BH);
    }
    for (int t = ws->Tdec - 1; t >= 0; t--) ws->dec_ops->step_backward(m, ws, t, ws->active[t]);
    for (int l = 0; l < L; l++) {
        s2s_add(BH, ws->dh[l], ws->enc_dstate + l * BH);
        if (ws->dc[l]) s2s_add(BH, ws->dc[l], ws->enc_dstate + (L + l) * BH);
    }
}

/* The layers' weights over all steps (layer 0's input columns are the embedding's and the
 * family's). */
static void dec_layers_wgrad(s2s_ws *ws) {
    const int H = ws->H, G = ws->G;
    const size_t BH = (size_t)ws->B * H;
    for (int l = 0; l < ws->L; l++) {
        const s2s_rnn_cache *r = &ws->dec[l];
        s2s_rnn_params *gw = &ws->g.dec[l];
        s2s_dec_wgrad(ws, G * H, H, r->dgh, G * H, r->hs, H, gw->w_hh, H, gw->b_hh);
        if (l > 0) {
            const float *x = ws->dec_dropped && ws->dec_drop[l].mask ? ws->dec_drop[l].xd : ws->dec[l - 1].hs + BH;
            s2s_dec_wgrad(ws, G * H, H, r->dgi, G * H, x, H, gw->w_ih, H, gw->b_ih);
        }
    }
}

/* The embedding columns of layer 0, b_ih, and the decoder's embedding. */
static void dec_embed_backward(s2s_model *m, s2s_ws *ws, const s2s_batch *bt) {
    const int B = ws->B, T = ws->Tt, E = ws->E, N = ws->G * ws->H, Tdec = ws->Tdec;
    const int in0 = ws->dec_ops->in0(&m->cfg), ecol = ws->dec_ops->emb_col(&m->cfg);
    const float *dgi0 = ws->dec[0].dgi, *W = s2s_dec_ih0(m, ecol);
    if (ws->dec_tab.on) {
        s2s_tab_backward(&ws->dec_tab, E, N, dgi0, B, Tdec, ws->active, W, in0, ws->g.dec[0].w_ih + ecol,
                         ws->g.dec[0].b_ih, ws->g.dec_emb);
        return;
    }
    s2s_dec_wgrad(ws, N, E, dgi0, N, ws->dec_x, E, ws->g.dec[0].w_ih + ecol, in0, ws->g.dec[0].b_ih);
    s2s_gemm(ws->gemm, 0, 0, Tdec * B, E, N, 1.0f, dgi0, N, W, in0, 0.0f, ws->dec_dx, E);
    s2s_rows_scatter_add(ws->g.dec_emb, E, ws->dec_dx, bt->dec_in, B, T, Tdec);
}

void s2s_backward(s2s_model *m, s2s_ws *ws, const s2s_batch *bt) {
    output_backward(m, ws);
    dec_steps_backward(m, ws);
    ws->dec_ops->finish_backward(m, ws);
    dec_layers_wgrad(ws);
    dec_embed_backward(m, ws, bt);
    s2s_enc_backward(m, ws, bt->src);
}
