/* The server's translation engine: the library's translator handle (include/seq2seq.h), one
 * call per batch. The handle is thread-safe; each worker's call takes a workspace from the
 * handle's pool (bounded by the number of workers) and runs on the worker's own thread. */
#include "s2s_engine.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq2seq.h"

struct s2s_engine {
    s2s_translator *t;
    int max_sentences, max_beam;
    int has_attention;      /* the model computes attention weights (of an ensemble: every model) */
    char desc[256];
};

static const char *meta(const s2s_translator *t, const char *key) {
    const char *v = s2s_translator_meta(t, key);
    return v ? v : "?";
}

/* Entries of a JSON array in the metadata (the vocabularies), or -1. */
static int meta_count(const s2s_translator *t, const char *key) {
    const char *v = s2s_translator_meta(t, key);
    cJSON *a = v ? cJSON_Parse(v) : NULL;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    cJSON_Delete(a);
    return n;
}

int s2s_engine_open(const char *const *paths, int n, int threads, int max_sentences, int max_beam, const char *gemm,
                    s2s_engine **out, s2s_err *err) {
    *out = NULL;
    s2s_engine *e = calloc(1, sizeof *e);
    if (!e) return snprintf(err->msg, sizeof err->msg, "out of memory for the translation engine"), S2S_ERR;
    e->max_sentences = max_sentences;
    e->max_beam = max_beam;
    s2s_translator_options to;
    s2s_translator_options_init(&to);
    to.threads = 1;                /* a call runs on its worker's thread; the workers are the parallelism */
    to.max_workspaces = threads;   /* one per worker at most: memory stays bounded */
    to.gemm = gemm;
    if (s2s_translator_open_ensemble(paths, n, &to, &e->t, err)) { free(e); return S2S_ERR; }
    e->has_attention = s2s_translator_has_attention(e->t);
    char ens[48] = "";
    if (n > 1) snprintf(ens, sizeof ens, "ensemble of %d models, the first: ", n);
    snprintf(e->desc, sizeof e->desc, "%s%s, embed %s, hidden %s, layers %s, num_steps %s, vocab %d/%d", ens,
             meta(e->t, "model"), meta(e->t, "embed"), meta(e->t, "hidden"), meta(e->t, "layers"),
             meta(e->t, "num_steps"), meta_count(e->t, "src_vocab"), meta_count(e->t, "tgt_vocab"));
    /* the workspace of a full batch at beam 1, now rather than on the first request */
    s2s_translate_options o;
    s2s_translate_options_init(&o);
    o.scores = 1;
    o.batch = max_sentences;
    if (s2s_translator_prepare(e->t, max_sentences, &o, err)) { s2s_engine_close(e); return S2S_ERR; }
    *out = e;
    return S2S_OK;
}

void s2s_engine_close(s2s_engine *e) {
    if (!e) return;
    s2s_translator_close(e->t);
    free(e);
}

const char *s2s_engine_describe(const s2s_engine *e) { return e->desc; }

void s2s_engine_result_free(s2s_engine_result *r) {
    if (!r) return;
    for (int h = 0; h < r->n_hyps; h++) {
        s2s_engine_hyp *y = &r->hyps[h];
        for (int t = 0; t < y->n_tgt; t++) free(y->tgt_tokens[t]);
        free(y->text); free(y->tgt_tokens); free(y->attn);
    }
    for (int i = 0; i < r->n_src; i++) free(r->src_tokens[i]);
    free(r->hyps); free(r->src_tokens); free(r->error);
    memset(r, 0, sizeof *r);
}

/* Hypothesis k of sentence i of a handle's result into y (its own copies); cols columns. */
static int take_hyp(const s2s_translation *tr, int i, int k, int cols, s2s_engine_hyp *y) {
    int rows = 0, c = 0;
    y->score = s2s_translation_score(tr, i, k);
    if (!(y->text = strdup(s2s_translation_text(tr, i, k)))) return S2S_ERR;
    const float *w = s2s_translation_hyp_attention(tr, i, k, &rows, &c);
    if (!w || !rows || c != cols) return S2S_OK;
    y->tgt_tokens = calloc((size_t)rows, sizeof(char *));
    y->attn = malloc(sizeof(float) * (size_t)rows * cols);
    if (!y->tgt_tokens || !y->attn) return S2S_ERR;
    memcpy(y->attn, w, sizeof(float) * (size_t)rows * cols);
    for (; y->n_tgt < rows; y->n_tgt++)
        if (!(y->tgt_tokens[y->n_tgt] = strdup(s2s_translation_hyp_target_token(tr, i, k, y->n_tgt))))
            return S2S_ERR;
    return S2S_OK;
}

/* Sentence i of a handle's result into r (its own copies). */
static int take_result(const s2s_translation *tr, int i, s2s_engine_result *r) {
    int nh = s2s_translation_hyps(tr, i), rows = 0, cols = 0;
    if (!(r->hyps = calloc((size_t)(nh ? nh : 1), sizeof *r->hyps))) return S2S_ERR;
    r->n_hyps = nh;
    if (s2s_translation_attention(tr, i, &rows, &cols) && rows > 0) {
        if (!(r->src_tokens = calloc((size_t)cols, sizeof(char *)))) return S2S_ERR;
        for (; r->n_src < cols; r->n_src++)
            if (!(r->src_tokens[r->n_src] = strdup(s2s_translation_source_token(tr, i, r->n_src)))) return S2S_ERR;
    }
    for (int k = 0; k < nh; k++)
        if (take_hyp(tr, i, k, r->n_src, &r->hyps[k])) return S2S_ERR;
    return S2S_OK;
}

int s2s_engine_translate(s2s_engine *e, const char *const *src, int n, const s2s_decode_opts *o,
                         s2s_engine_result *out, s2s_err *err) {
    memset(out, 0, sizeof *out * (size_t)n);
    if (n < 1) return S2S_OK;
    if (n > e->max_sentences || o->beam < 1 || o->beam > e->max_beam)
        return snprintf(err->msg, sizeof err->msg, "engine: %d sentences at beam %d, over the %d at beam %d it "
                        "was opened for", n, o->beam, e->max_sentences, e->max_beam), S2S_ERR;
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    to.beam = o->beam; to.nbest = o->nbest; to.alpha = o->alpha;
    to.scores = 1;                           /* every answer has scores (beam 1: greedy's summed log p) */
    to.attention = o->attention && e->has_attention;
    to.batch = n;                            /* the server's batch is the handle's batch */
    to.threads = 1;
    s2s_translation *tr = NULL;
    int rc = s2s_translate(e->t, src, n, &to, &tr, err);
    if (rc == S2S_ERR_INPUT && n == 1) return (out[0].error = strdup(err->msg)) ? S2S_OK : S2S_ERR;
    if (rc == S2S_ERR_INPUT) {
        /* one sentence the model cannot take must not fail the others' requests: one at a time,
         * each failure kept with its sentence */
        for (int i = 0; i < n; i++) {
            if ((rc = s2s_engine_translate(e, src + i, 1, o, out + i, err)) != S2S_OK) break;
        }
        if (rc != S2S_OK)
            for (int i = 0; i < n; i++) s2s_engine_result_free(&out[i]);
        return rc;
    }
    if (rc != S2S_OK) return S2S_ERR;
    for (int i = 0; i < n && rc == S2S_OK; i++) rc = take_result(tr, i, &out[i]);
    s2s_translation_free(tr);
    if (rc == S2S_OK) return S2S_OK;
    for (int i = 0; i < n; i++) s2s_engine_result_free(&out[i]);
    return snprintf(err->msg, sizeof err->msg, "out of memory for the translations"), S2S_ERR;
}
