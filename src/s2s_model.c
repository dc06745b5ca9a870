/* Model configuration, parameter layout in state_dict() order, and d2l's initialisation. */
#include "s2s_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_decoder.h"

s2s_config s2s_config_d2l(int src_vocab, int tgt_vocab) {
    return (s2s_config){S2S_BAHDANAU, src_vocab, tgt_vocab, 32, 32, 2, 0.1f, 10, S2S_GRU, S2S_UNI, 0, 0};
}

int s2s_config_check(const s2s_config *c, s2s_err *err) {
    if (!s2s_decoder_of(c->attention)) return s2s_errf(err, "attention must be one of bahdanau, luong-dot, luong-general, none");
    if (!s2s_cell_of(c->cell)) return s2s_errf(err, "cell must be gru or lstm");
    const s2s_encoder_ops *enc = s2s_encoder_of(c->encoder);
    if (!enc) return s2s_errf(err, "encoder must be uni or bi");
    if (c->src_vocab < 4 || c->src_vocab > 50000000) return s2s_errf(err, "source vocabulary size %d is out of range (4 .. 50000000)", c->src_vocab);
    if (c->tgt_vocab < 4 || c->tgt_vocab > 50000000) return s2s_errf(err, "target vocabulary size %d is out of range (4 .. 50000000)", c->tgt_vocab);
    if (c->embed < 1 || c->embed > 65536) return s2s_errf(err, "embed size %d is out of range (1 .. 65536)", c->embed);
    if (c->hidden < 1 || c->hidden > 65536) return s2s_errf(err, "hidden size %d is out of range (1 .. 65536)", c->hidden);
    if (c->layers < 1 || c->layers > S2S_MAX_LAYERS) return s2s_errf(err, "layers %d is out of range (1 .. %d)", c->layers, S2S_MAX_LAYERS);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return s2s_errf(err, "dropout %g is out of range [0, 1)", (double)c->dropout);
    if (c->num_steps < 1 || c->num_steps > S2S_MAX_STEPS) return s2s_errf(err, "num_steps %d is out of range (1 .. %d)", c->num_steps, S2S_MAX_STEPS);
    if (c->hidden % enc->dirs)
        return s2s_errf(err, "a %s encoder needs a hidden size that is a multiple of %d (H/%d units per direction; got %d)",
                        enc->title, enc->dirs, enc->dirs, c->hidden);
    if (c->input_feed != 0 && c->input_feed != 1) return s2s_errf(err, "input_feed must be 0 or 1");
    if (c->input_feed && !s2s_attention_feeds(c->attention))
        return s2s_errf(err, "input feeding needs Luong attention (--attention luong-dot or luong-general), not %s",
                        s2s_attention_name(c->attention));
    if (c->tie_embeddings != 0 && c->tie_embeddings != 1) return s2s_errf(err, "tie_embeddings must be 0 or 1");
    if (c->tie_embeddings && c->embed != c->hidden)
        return s2s_errf(err, "tied embeddings need embed = hidden (the output layer's weight is [Vt, hidden]); got embed %d, hidden %d",
                        c->embed, c->hidden);
    return S2S_OK;
}

/* Walks the layout in state_dict() order; with t != NULL also fills the table. The tied output
 * weight is an alias: an entry over the embedding's storage. */
static int layout(const s2s_config *c, s2s_tensor_info *t, size_t *total) {
    int n = 0;
    size_t off = 0;
    const int E = c->embed, H = c->hidden, G = s2s_cell_of(c->cell)->gates;
    const int dirs = s2s_encoder_of(c->encoder)->dirs, Hd = H / dirs;
    const s2s_decoder_ops *dec = s2s_decoder_of(c->attention);
    size_t dec_emb = 0;
#define ADD_AT(nm, r, co, nd, at, al) do { if (t) { snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
        t[n].ndim = nd; t[n].shape[0] = r; t[n].shape[1] = co; t[n].offset = (at); \
        t[n].size = (size_t)(r) * (size_t)(co); t[n].alias = al; } n++; } while (0)
#define ADD(nm, r, co, nd) do { ADD_AT(nm, r, co, nd, off, 0); off += (size_t)(r) * (size_t)(co); } while (0)
    char nm[64];
    ADD("encoder.embedding.weight", c->src_vocab, E, 2);
    for (int l = 0; l < c->layers; l++)
        for (int d = 0; d < dirs; d++) {
            const int in = l ? H : E;
            const char *rev = d ? "_reverse" : "";
            snprintf(nm, sizeof nm, "encoder.rnn.weight_ih_l%d%s", l, rev); ADD(nm, G * Hd, in, 2);
            snprintf(nm, sizeof nm, "encoder.rnn.weight_hh_l%d%s", l, rev); ADD(nm, G * Hd, Hd, 2);
            snprintf(nm, sizeof nm, "encoder.rnn.bias_ih_l%d%s", l, rev); ADD(nm, G * Hd, 1, 1);
            snprintf(nm, sizeof nm, "encoder.rnn.bias_hh_l%d%s", l, rev); ADD(nm, G * Hd, 1, 1);
        }
    s2s_tensor_decl att[S2S_MAX_ATT];
    const int n_att = dec->tensors(c, att);
    for (int i = 0; i < n_att; i++) {
        snprintf(nm, sizeof nm, "decoder.attention.%s", att[i].name);
        ADD(nm, att[i].rows, att[i].cols, att[i].ndim);
    }
    dec_emb = off;
    ADD("decoder.embedding.weight", c->tgt_vocab, E, 2);
    for (int l = 0; l < c->layers; l++) {
        const int in = l ? H : dec->in0(c);
        snprintf(nm, sizeof nm, "decoder.rnn.weight_ih_l%d", l); ADD(nm, G * H, in, 2);
        snprintf(nm, sizeof nm, "decoder.rnn.weight_hh_l%d", l); ADD(nm, G * H, H, 2);
        snprintf(nm, sizeof nm, "decoder.rnn.bias_ih_l%d", l); ADD(nm, G * H, 1, 1);
        snprintf(nm, sizeof nm, "decoder.rnn.bias_hh_l%d", l); ADD(nm, G * H, 1, 1);
    }
    if (c->tie_embeddings) ADD_AT("decoder.dense.weight", c->tgt_vocab, H, 2, dec_emb, 1);
    else ADD("decoder.dense.weight", c->tgt_vocab, H, 2);
    ADD("decoder.dense.bias", c->tgt_vocab, 1, 1);
#undef ADD
#undef ADD_AT
    *total = off;
    return n;
}

size_t s2s_param_count(const s2s_config *c) {
    size_t total;
    layout(c, NULL, &total);
    return total;
}

const s2s_tensor_info *s2s_model_find(const s2s_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

void s2s_model_views(const s2s_model *m, float *base, s2s_params *v) {
    memset(v, 0, sizeof *v);
    const s2s_config *c = &m->cfg;
    const int dirs = s2s_encoder_of(c->encoder)->dirs;
    int i = 0;  /* walks the table in layout()'s order */
#define NEXT() (base + m->tensors[i++].offset)
    v->enc_emb = NEXT();
    for (int l = 0; l < c->layers; l++)
        for (int d = 0; d < dirs; d++) {
            s2s_rnn_params *r = &v->enc[l][d];
            r->w_ih = NEXT(); r->w_hh = NEXT(); r->b_ih = NEXT(); r->b_hh = NEXT();
        }
    s2s_tensor_decl att[S2S_MAX_ATT];
    const int n_att = s2s_decoder_of(c->attention)->tensors(c, att);
    for (int k = 0; k < n_att; k++) v->att[k] = NEXT();
    v->dec_emb = NEXT();
    for (int l = 0; l < c->layers; l++) {
        s2s_rnn_params *r = &v->dec[l];
        r->w_ih = NEXT(); r->w_hh = NEXT(); r->b_ih = NEXT(); r->b_hh = NEXT();
    }
    v->dense_w = NEXT();
    v->dense_b = NEXT();
#undef NEXT
}

int s2s_model_create(const s2s_config *cfg, s2s_model **out, s2s_err *err) {
    if (s2s_config_check(cfg, err)) return S2S_ERR;
    s2s_model *m = s2s_calloc(1, sizeof *m, err, "the model");
    if (!m) return S2S_ERR;
    m->cfg = *cfg;
    size_t total;
    m->n_tensors = layout(cfg, NULL, &total);
    m->tensors = s2s_calloc((size_t)m->n_tensors, sizeof *m->tensors, err, "the tensor table");
    m->params = m->tensors ? s2s_calloc(total, sizeof(float), err, "the parameters") : NULL;
    m->grads = m->params ? s2s_calloc(total, sizeof(float), err, "the gradients") : NULL;
    if (!m->grads) { s2s_model_free(m); return S2S_ERR; }
    layout(cfg, m->tensors, &total);
    m->n_params = total;
    s2s_model_views(m, m->params, &m->p);
    s2s_model_views(m, m->grads, &m->g);
    *out = m;
    return S2S_OK;
}

void s2s_model_free(s2s_model *m) {
    if (!m) return;
    free(m->tensors); free(m->params); free(m->grads); free(m);
}

void s2s_model_zero_grad(s2s_model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

static void fill_uniform(float *w, size_t n, float bound, s2s_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = (2.0f * s2s_rng_uniform(rng) - 1.0f) * bound;
}

void s2s_model_init(s2s_model *m, s2s_rng *rng) {
    const float inv_sqrt_h = 1.0f / sqrtf((float)m->cfg.hidden);
    /* PyTorch's RNN biases: U(±1/√hidden_size), H/dirs units per direction in the encoder */
    const float inv_sqrt_hd = 1.0f / sqrtf((float)(m->cfg.hidden / s2s_encoder_of(m->cfg.encoder)->dirs));
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        float *w = m->params + t->offset;
        if (t->alias) continue;  /* initialised under its first name */
        /* a tied decoder embedding is also the dense layer's weight, which d2l's init makes
         * Xavier uniform (as PyTorch's tied module ends up) */
        const int tied = m->cfg.tie_embeddings && !strcmp(t->name, "decoder.embedding.weight");
        if (strstr(t->name, ".embedding.") && !tied) {
            for (size_t k = 0; k < t->size; k++) w[k] = s2s_rng_normal(rng);
        } else if (strstr(t->name, "bias")) {
            /* recurrent: fan_in = units; dense: fan_in = H */
            fill_uniform(w, t->size, strstr(t->name, "encoder.rnn.") ? inv_sqrt_hd : inv_sqrt_h, rng);
        } else {  /* Xavier uniform: fan_out = rows, fan_in = columns */
            fill_uniform(w, t->size, sqrtf(6.0f / (float)(t->shape[0] + t->shape[1])), rng);
        }
    }
}
