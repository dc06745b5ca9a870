/* Model configuration, parameter layout in state_dict() order, and d2l's initialisation. */
#include "s2s_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *s2s_kind_name(s2s_kind k) { return k == S2S_PLAIN ? "plain" : "attn"; }

int s2s_config_check(const s2s_config *c, s2s_err *err) {
    if (c->kind != S2S_ATTN && c->kind != S2S_PLAIN) return s2s_errf(err, "model kind must be attn or plain");
    if (c->src_vocab < 4 || c->src_vocab > 50000000) return s2s_errf(err, "source vocabulary size %d is out of range (4 .. 50000000)", c->src_vocab);
    if (c->tgt_vocab < 4 || c->tgt_vocab > 50000000) return s2s_errf(err, "target vocabulary size %d is out of range (4 .. 50000000)", c->tgt_vocab);
    if (c->embed < 1 || c->embed > 65536) return s2s_errf(err, "embed size %d is out of range (1 .. 65536)", c->embed);
    if (c->hidden < 1 || c->hidden > 65536) return s2s_errf(err, "hidden size %d is out of range (1 .. 65536)", c->hidden);
    if (c->layers < 1 || c->layers > S2S_MAX_LAYERS) return s2s_errf(err, "layers %d is out of range (1 .. %d)", c->layers, S2S_MAX_LAYERS);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return s2s_errf(err, "dropout %g is out of range [0, 1)", (double)c->dropout);
    if (c->num_steps < 1 || c->num_steps > S2S_MAX_STEPS) return s2s_errf(err, "num_steps %d is out of range (1 .. %d)", c->num_steps, S2S_MAX_STEPS);
    return S2S_OK;
}

/* Walks the layout in state_dict() order; with t != NULL also fills the table. */
static int layout(const s2s_config *c, s2s_tensor_info *t, size_t *total) {
    int n = 0;
    size_t off = 0;
    const int E = c->embed, H = c->hidden;
#define ADD(nm, r, co, nd) do { if (t) { snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
        t[n].ndim = nd; t[n].shape[0] = r; t[n].shape[1] = co; t[n].offset = off; \
        t[n].size = (size_t)(r) * (size_t)(co); } off += (size_t)(r) * (size_t)(co); n++; } while (0)
    char nm[64];
    ADD("encoder.embedding.weight", c->src_vocab, E, 2);
    for (int side = 0; side < 2; side++) {
        const char *who = side ? "decoder" : "encoder";
        if (side) {
            if (c->kind == S2S_ATTN) {
                ADD("decoder.attention.W_k.weight", H, H, 2);
                ADD("decoder.attention.W_q.weight", H, H, 2);
                ADD("decoder.attention.w_v.weight", 1, H, 2);
            }
            ADD("decoder.embedding.weight", c->tgt_vocab, E, 2);
        }
        for (int l = 0; l < c->layers; l++) {
            int in = l ? H : (side ? E + H : E);
            snprintf(nm, sizeof nm, "%s.rnn.weight_ih_l%d", who, l); ADD(nm, 3 * H, in, 2);
            snprintf(nm, sizeof nm, "%s.rnn.weight_hh_l%d", who, l); ADD(nm, 3 * H, H, 2);
            snprintf(nm, sizeof nm, "%s.rnn.bias_ih_l%d", who, l); ADD(nm, 3 * H, 1, 1);
            snprintf(nm, sizeof nm, "%s.rnn.bias_hh_l%d", who, l); ADD(nm, 3 * H, 1, 1);
        }
    }
    ADD("decoder.dense.weight", c->tgt_vocab, H, 2);
    ADD("decoder.dense.bias", c->tgt_vocab, 1, 1);
#undef ADD
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
    char nm[64];
#define AT(name) (base + s2s_model_find(m, name)->offset)
    v->enc_emb = AT("encoder.embedding.weight");
    v->dec_emb = AT("decoder.embedding.weight");
    v->dense_w = AT("decoder.dense.weight");
    v->dense_b = AT("decoder.dense.bias");
    if (m->cfg.kind == S2S_ATTN) {
        v->att_Wk = AT("decoder.attention.W_k.weight");
        v->att_Wq = AT("decoder.attention.W_q.weight");
        v->att_wv = AT("decoder.attention.w_v.weight");
    }
    for (int side = 0; side < 2; side++)
        for (int l = 0; l < m->cfg.layers; l++) {
            s2s_gru_params *g = side ? &v->dec[l] : &v->enc[l];
            const char *who = side ? "decoder" : "encoder";
            snprintf(nm, sizeof nm, "%s.rnn.weight_ih_l%d", who, l); g->w_ih = AT(nm);
            snprintf(nm, sizeof nm, "%s.rnn.weight_hh_l%d", who, l); g->w_hh = AT(nm);
            snprintf(nm, sizeof nm, "%s.rnn.bias_ih_l%d", who, l); g->b_ih = AT(nm);
            snprintf(nm, sizeof nm, "%s.rnn.bias_hh_l%d", who, l); g->b_hh = AT(nm);
        }
#undef AT
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
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        float *w = m->params + t->offset;
        if (strstr(t->name, ".embedding.")) {
            for (size_t k = 0; k < t->size; k++) w[k] = s2s_rng_normal(rng);
        } else if (strstr(t->name, "bias")) {
            fill_uniform(w, t->size, inv_sqrt_h, rng);  /* GRU and dense: fan_in = H */
        } else {  /* Xavier uniform: fan_out = rows, fan_in = columns */
            fill_uniform(w, t->size, sqrtf(6.0f / (float)(t->shape[0] + t->shape[1])), rng);
        }
    }
}
