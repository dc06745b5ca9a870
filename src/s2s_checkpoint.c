/* Model and training-state files on top of the safetensors reader/writer. */
#include "s2s_checkpoint.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_safetensors.h"
#include "s2s_train_impl.h"  /* the state files save and restore the trainer's fields */

/* The text pipelines a model file may name in its metadata "preprocess" (how its sentences
 * become tokens and back) are the tokenizer kinds' (s2s_tok_pipeline: d2l-nmt, sentencepiece).
 * A file naming another one was made for a pipeline this program does not have: translating it
 * with d2l's would give wrong text, silently. A new pipeline is a new tokenizer kind. */

static char *vocab_json(const s2s_vocab *v) {
    cJSON *a = cJSON_CreateArray();
    if (!a) return NULL;
    for (int i = 0; i < s2s_vocab_size(v); i++) {
        cJSON *s = cJSON_CreateString(s2s_vocab_token(v, i));
        if (!s) { cJSON_Delete(a); return NULL; }
        cJSON_AddItemToArray(a, s);
    }
    char *out = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return out;
}

/* The model file staged: tensors, the common metadata (format_version at least `version`), and
 * the tokenizers' extra entries. */
static int model_stage(s2s_out *o, const char *path, const s2s_model *m, const s2s_vocab *src, const s2s_vocab *tgt,
                       const char *preprocess, int version, const char *const *xkeys, char *const *xvals, int nx,
                       s2s_err *err) {
    memset(o, 0, sizeof *o);
    if (s2s_vocab_size(src) != m->cfg.src_vocab || s2s_vocab_size(tgt) != m->cfg.tgt_vocab)
        return s2s_errf(err, "%s: vocabulary sizes %d/%d do not match the model's %d/%d", path,
                        s2s_vocab_size(src), s2s_vocab_size(tgt), m->cfg.src_vocab, m->cfg.tgt_vocab);
    enum { BASE = 16, MAX_X = S2S_TOK_MAX_META + 1 };
    if (nx < 0 || nx > MAX_X) return s2s_errf(err, "%s: %d extra metadata entries (at most %d)", path, nx, MAX_X);
    s2s_tensor *ts = s2s_calloc((size_t)m->n_tensors, sizeof *ts, err, "the tensor list");
    if (!ts) return S2S_ERR;
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        ts[i].name = t->name; ts[i].dtype = S2S_F32; ts[i].ndim = t->ndim;
        ts[i].shape[0] = t->shape[0]; ts[i].shape[1] = t->shape[1];
        ts[i].data = m->params + t->offset; ts[i].nbytes = t->size * sizeof(float);
    }
    const s2s_config *c = &m->cfg;
    char num[7][32];
    snprintf(num[0], 32, "%d", c->embed); snprintf(num[1], 32, "%d", c->hidden);
    snprintf(num[2], 32, "%d", c->layers); snprintf(num[3], 32, "%g", (double)c->dropout);
    snprintf(num[4], 32, "%d", c->num_steps); snprintf(num[5], 32, "%d", c->input_feed);
    snprintf(num[6], 32, "%d", c->tie_embeddings);
    char *sv = vocab_json(src), *tv = vocab_json(tgt), ver[16];
    snprintf(ver, sizeof ver, "%d", version > S2S_FAMILY_VERSION ? version : S2S_FAMILY_VERSION);
    int rc = S2S_ERR;
    if (!sv || !tv) { s2s_errf(err, "%s: out of memory encoding the vocabularies", path); goto done; }
    const char *keys[BASE + MAX_X] = {"format", "format_version", "model", "embed", "hidden", "layers", "dropout",
                                      "num_steps", "src_vocab", "tgt_vocab", "preprocess", "cell", "encoder",
                                      "attention", "input_feed", "tie_embeddings"};
    const char *vals[BASE + MAX_X] = {S2S_FORMAT_NAME, ver, s2s_model_kind_name(c->attention), num[0], num[1],
                                      num[2], num[3], num[4], sv, tv, preprocess, s2s_cell_name(c->cell),
                                      s2s_encoder_name(c->encoder), s2s_attention_name(c->attention), num[5], num[6]};
    for (int i = 0; i < nx; i++) { keys[BASE + i] = xkeys[i]; vals[BASE + i] = xvals[i]; }
    rc = s2s_st_stage(o, path, ts, m->n_tensors, keys, vals, BASE + nx, err);
done:
    free(sv); free(tv); free(ts);
    return rc;
}

int s2s_model_save(const char *path, const s2s_model *m, const s2s_vocab *src, const s2s_vocab *tgt,
                   s2s_err *err) {
    s2s_out o;
    return s2s_model_stage(&o, path, m, src, tgt, err) || s2s_out_commit(&o, err) ? S2S_ERR : S2S_OK;
}

int s2s_model_stage(s2s_out *o, const char *path, const s2s_model *m, const s2s_vocab *src,
                    const s2s_vocab *tgt, s2s_err *err) {
    return model_stage(o, path, m, src, tgt, s2s_tok_pipeline(0), 1, NULL, NULL, 0, err);
}

int s2s_model_stage_tok(s2s_out *o, const char *path, const s2s_model *m, const s2s_tok *src, const s2s_tok *tgt,
                        s2s_err *err) {
    const char *keys[S2S_TOK_MAX_META + 1];
    char *vals[S2S_TOK_MAX_META + 1];
    const char *pre;
    int n, version;
    memset(o, 0, sizeof *o);
    if (s2s_tok_meta(src, tgt, keys + 1, vals + 1, &n, &pre, &version, err)) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg);
        return s2s_errf(err, "%s: %s", path, inner);
    }
    /* d2l's files are s2s_model_save's, without a "tokenizer" key */
    int d2l = !strcmp(s2s_tok_name(src), "d2l");
    keys[0] = "tokenizer";
    vals[0] = (char *)s2s_tok_name(src);
    int rc = model_stage(o, path, m, s2s_tok_vocab(src), s2s_tok_vocab(tgt), pre, version, keys + d2l, vals + d2l,
                         n + !d2l, err);
    for (int i = 1; i <= n; i++) free(vals[i]);
    return rc;
}

int s2s_model_save_tok(const char *path, const s2s_model *m, const s2s_tok *src, const s2s_tok *tgt,
                       s2s_err *err) {
    s2s_out o;
    return s2s_model_stage_tok(&o, path, m, src, tgt, err) || s2s_out_commit(&o, err) ? S2S_ERR : S2S_OK;
}

static int check_pipeline(const s2s_st_file *f, const char *path, s2s_err *err) {
    const char *p = s2s_st_meta(f, "preprocess");
    for (int i = 0; p && s2s_tok_pipeline(i); i++)
        if (!strcmp(p, s2s_tok_pipeline(i))) return S2S_OK;
    char known[256] = "", b[80];
    for (int i = 0, w = 0; s2s_tok_pipeline(i) && w < (int)sizeof known; i++)
        w += snprintf(known + w, sizeof known - (size_t)w, "%s%s", i ? ", " : "", s2s_tok_pipeline(i));
    if (!p) return s2s_errf(err, "%s: metadata has no \"preprocess\" (known: %s)", path, known);
    return s2s_errf(err, "%s: metadata \"preprocess\" is \"%s\", a text pipeline this program does not have (known: %s)",
                    path, s2s_shown(p, b, sizeof b), known);
}

/* s is a whole number in lo..hi, written as digits after at most a minus (strtoll alone also
 * takes leading white space and a plus; a value must print back as it was written: the
 * server's /health repeats some): 1 and *v, else 0. */
static int whole_in(const char *s, long long lo, long long hi, long long *v) {
    if (!isdigit((unsigned char)s[*s == '-'])) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

static int meta_int(const s2s_st_file *f, const char *path, const char *key, int lo, int hi, int *out, s2s_err *err) {
    const char *s = s2s_st_meta(f, key);
    if (!s) return s2s_errf(err, "%s: metadata has no \"%s\"", path, key);
    char b[48];
    long long v;
    if (!whole_in(s, lo, hi, &v))
        return s2s_errf(err, "%s: metadata \"%s\" = \"%s\" is not a whole number in %d..%d", path, key,
                        s2s_shown(s, b, sizeof b), lo, hi);
    *out = (int)v;
    return S2S_OK;
}

static int vocab_from_json(const s2s_st_file *f, const char *path, const char *key, s2s_vocab **out, s2s_err *err) {
    const char *s = s2s_st_meta(f, key);
    if (!s) return s2s_errf(err, "%s: metadata has no \"%s\"", path, key);
    if (s2s_json_nul_escape(s, strlen(s)) >= 0)  /* cJSON would cut that token short, silently */
        return s2s_errf(err, "%s: %s holds a token with an escaped NUL (\\u0000)", path, key);
    cJSON *a = cJSON_Parse(s);
    if (!a || !cJSON_IsArray(a)) { cJSON_Delete(a); return s2s_errf(err, "%s: metadata \"%s\" is not a JSON array", path, key); }
    int n = cJSON_GetArraySize(a), rc = S2S_ERR;
    const char **toks = s2s_calloc((size_t)n + 1, sizeof *toks, err, "the vocabulary");
    if (!toks) { cJSON_Delete(a); return S2S_ERR; }
    int i = 0;
    for (cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) { s2s_errf(err, "%s: %s[%d] is not a string", path, key, i); goto done; }
        toks[i] = it->valuestring;
    }
    if (s2s_vocab_from_list(toks, n, out, err)) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg);
        s2s_errf(err, "%s: %s: %s", path, key, inner);
        goto done;
    }
    rc = S2S_OK;
done:
    free(toks); cJSON_Delete(a);
    return rc;
}

int s2s_model_load(const char *path, s2s_model **mo, s2s_vocab **so, s2s_vocab **to, s2s_err *err) {
    s2s_st_file *f = NULL;
    if (s2s_st_read(path, &f, err)) return S2S_ERR;
    int rc = s2s_model_from_st(f, path, mo, so, to, err);
    s2s_st_free(f);
    return rc;
}

int s2s_model_load_tok(const char *path, s2s_model **mo, s2s_tok **so, s2s_tok **to, s2s_err *err) {
    s2s_st_file *f = NULL;
    s2s_vocab *sv, *tv;
    *mo = NULL; *so = *to = NULL;
    if (s2s_st_read(path, &f, err)) return S2S_ERR;
    int rc = s2s_model_from_st(f, path, mo, &sv, &tv, err);
    if (!rc && (rc = s2s_tok_load(f, path, sv, tv, so, to, err))) { s2s_model_free(*mo); *mo = NULL; }
    s2s_st_free(f);
    return rc;
}

/* The model family from the metadata: format_version 2 names it (cell, encoder, attention,
 * input_feed, tie_embeddings); version 1 files are d2l's GRU with "model" attn or plain. */
static int meta_family(const s2s_st_file *f, const char *path, int ver, s2s_config *c, s2s_err *err) {
    if (ver < 2) {
        const char *kind = s2s_st_meta(f, "model");
        if (!kind || (strcmp(kind, "attn") && strcmp(kind, "plain")))
            return s2s_errf(err, "%s: metadata \"model\" must be attn or plain", path);
        c->attention = strcmp(kind, "plain") ? S2S_BAHDANAU : S2S_NO_ATTENTION;
        c->cell = S2S_GRU; c->encoder = S2S_UNI;
        return S2S_OK;
    }
    const char *a = s2s_st_meta(f, "attention"), *ce = s2s_st_meta(f, "cell"), *en = s2s_st_meta(f, "encoder");
    char b[48];  /* a value from the file, printable and at most 40 characters */
    if (!a || s2s_attention_parse(a, &c->attention))
        return s2s_errf(err, "%s: metadata \"attention\" is %s%s%s; this program knows bahdanau, luong-dot, "
                             "luong-general and none", path, a ? "\"" : "", a ? s2s_shown(a, b, sizeof b) : "missing",
                        a ? "\"" : "");
    if (!ce || s2s_cell_parse(ce, &c->cell))
        return s2s_errf(err, "%s: metadata \"cell\" is %s%s%s; this program knows gru and lstm", path,
                        ce ? "\"" : "", ce ? s2s_shown(ce, b, sizeof b) : "missing", ce ? "\"" : "");
    if (!en || s2s_encoder_parse(en, &c->encoder))
        return s2s_errf(err, "%s: metadata \"encoder\" is %s%s%s; this program knows uni and bi", path,
                        en ? "\"" : "", en ? s2s_shown(en, b, sizeof b) : "missing", en ? "\"" : "");
    if (meta_int(f, path, "input_feed", 0, 1, &c->input_feed, err) ||
        meta_int(f, path, "tie_embeddings", 0, 1, &c->tie_embeddings, err))
        return S2S_ERR;
    const char *kind = s2s_st_meta(f, "model");  /* d2l's spelling, redundant here: must agree */
    if (kind && strcmp(kind, s2s_model_kind_name(c->attention)))
        return s2s_errf(err, "%s: metadata \"model\" must be attn or plain (d2l's decoders) or luong, and agree with "
                             "\"attention\" = \"%s\" (it is \"%s\")", path, a, s2s_shown(kind, b, sizeof b));
    return S2S_OK;
}

int s2s_model_from_st(const s2s_st_file *f, const char *path, s2s_model **mo, s2s_vocab **so, s2s_vocab **to,
                      s2s_err *err) {
    s2s_model *m = NULL;
    s2s_vocab *sv = NULL, *tv = NULL;
    const char *fmt = s2s_st_meta(f, "format");
    s2s_config c = {0};
    int ver = 0;
    char b[48];  /* a value from the file, printable and at most 40 characters */
    if (!fmt || strcmp(fmt, S2S_FORMAT_NAME)) {
        s2s_errf(err, "%s: not a seq2seq model (metadata \"format\" is %s%s%s)", path, fmt ? "\"" : "",
                 fmt ? s2s_shown(fmt, b, sizeof b) : "missing", fmt ? "\"" : "");
        goto fail;
    }
    if (meta_int(f, path, "format_version", 1, 1000000, &ver, err)) goto fail;
    if (ver > S2S_FORMAT_VERSION) { s2s_errf(err, "%s: format version %d is newer than this program reads (%d)", path, ver, S2S_FORMAT_VERSION); goto fail; }
    if (meta_family(f, path, ver, &c, err) || check_pipeline(f, path, err)) goto fail;
    if (meta_int(f, path, "embed", 1, 65536, &c.embed, err) || meta_int(f, path, "hidden", 1, 65536, &c.hidden, err) ||
        meta_int(f, path, "layers", 1, S2S_MAX_LAYERS, &c.layers, err) ||
        meta_int(f, path, "num_steps", 1, 4096, &c.num_steps, err))
        goto fail;
    const char *dr = s2s_st_meta(f, "dropout");
    char *end;
    c.dropout = dr ? strtof(dr, &end) : 0.0f;
    if (dr && (end == dr || *end || !(c.dropout >= 0 && c.dropout < 1))) {
        s2s_errf(err, "%s: metadata \"dropout\" = \"%s\" is not in [0, 1)", path, s2s_shown(dr, b, sizeof b));
        goto fail;
    }
    if (vocab_from_json(f, path, "src_vocab", &sv, err) || vocab_from_json(f, path, "tgt_vocab", &tv, err)) goto fail;
    c.src_vocab = s2s_vocab_size(sv); c.tgt_vocab = s2s_vocab_size(tv);
    {   /* a file can claim any size: say which claim does not fit, before allocating it */
        const char *bound;
        double need = (double)s2s_param_count(&c) * sizeof(float), have = s2s_memory_limit(&bound);
        if (have > 0 && need > have) {
            char a[32], b[32];
            s2s_errf(err, "%s claims embed %d, hidden %d, layers %d and vocabularies of %d/%d tokens: its parameters "
                          "need %s, and %s %s", path, c.embed, c.hidden, c.layers, c.src_vocab, c.tgt_vocab,
                     s2s_bytes_shown(need, a), bound, s2s_bytes_shown(have, b));
            goto fail;
        }
    }
    if (s2s_model_create(&c, &m, err)) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg);
        s2s_errf(err, "%s: %s", path, inner);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *ti = &m->tensors[i];
        const s2s_tensor *t = s2s_st_find(f, ti->name);
        if (!t) { s2s_errf(err, "%s: tensor %s is missing", path, ti->name); goto fail; }
        if (t->dtype != S2S_F32) { s2s_errf(err, "%s: tensor %s is %s, expected F32", path, ti->name, s2s_dtype_name(t->dtype)); goto fail; }
        int ok = t->ndim == ti->ndim && t->shape[0] == ti->shape[0] && (ti->ndim == 1 || t->shape[1] == ti->shape[1]);
        if (!ok) {
            char got[96] = "", *p = got;
            for (int d = 0; d < t->ndim && p < got + 80; d++) p += snprintf(p, 16, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            if (ti->ndim == 1) s2s_errf(err, "%s: tensor %s has shape [%s], expected [%d]%s", path, ti->name, got, ti->shape[0],
                                       strstr(ti->name, "dense.bias") ? " (the target vocabulary size)" : "");
            else s2s_errf(err, "%s: tensor %s has shape [%s], expected [%d,%d]%s", path, ti->name, got, ti->shape[0], ti->shape[1],
                          strstr(ti->name, "embedding") || strstr(ti->name, "dense") ? " (vocabulary size x width)" : "");
            goto fail;
        }
        if (ti->alias) {  /* tied: the same data under both names */
            if (memcmp(m->params + ti->offset, t->data, ti->size * sizeof(float))) {
                s2s_errf(err, "%s: tensor %s differs from decoder.embedding.weight, but the model ties them "
                              "(tie_embeddings = 1)", path, ti->name);
                goto fail;
            }
            continue;
        }
        float *w = m->params + ti->offset;
        memcpy(w, t->data, ti->size * sizeof(float));
        for (size_t k = 0; k < ti->size; k++)
            if (!isfinite(w[k])) {  /* a NaN model translates to garbage; say so at once */
                s2s_errf(err, "%s: tensor %s holds a%s value at element %zu", path, ti->name,
                         isnan(w[k]) ? " NaN" : "n infinite", k);
                goto fail;
            }
    }
    if (s2s_st_count(f) != m->n_tensors) {
        for (int i = 0; i < s2s_st_count(f); i++)
            if (!s2s_model_find(m, s2s_st_get(f, i)->name)) {
                s2s_errf(err, "%s: unexpected tensor %s for a %s/%s/%s model", path, s2s_st_get(f, i)->name,
                         s2s_cell_name(c.cell), s2s_encoder_name(c.encoder), s2s_attention_name(c.attention));
                goto fail;
            }
    }
    *mo = m; *so = sv; *to = tv;
    return S2S_OK;
fail:
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return S2S_ERR;
}

/* ---- training state --------------------------------------------------------------------- */

/* FNV-1a over the parameters' bytes: ties a state file to the weights it was saved with. */
static uint64_t params_fingerprint(const s2s_model *m) {
    return s2s_fnv1a(S2S_FNV_SEED, m->params, m->n_params * sizeof(float));
}

int s2s_state_save(const char *path, const s2s_trainer *t, const char *const *opt_keys,
                   const char *const *opt_values, int n_opts, const s2s_tensor *extra, int n_extra,
                   s2s_err *err) {
    s2s_out o;
    return s2s_state_stage(&o, path, t, opt_keys, opt_values, n_opts, extra, n_extra, err) ||
           s2s_out_commit(&o, err) ? S2S_ERR : S2S_OK;
}

int s2s_state_stage(s2s_out *o, const char *path, const s2s_trainer *t, const char *const *opt_keys,
                    const char *const *opt_values, int n_opts, const s2s_tensor *extra, int n_extra,
                    s2s_err *err) {
    memset(o, 0, sizeof *o);
    const size_t n = t->m->n_params;
    enum { MAX_OWN = 5, MAX_EXTRA = 8 };
    if (n_extra < 0 || n_extra > MAX_EXTRA) return s2s_errf(err, "%s: %d extra state tensors (at most %d)", path, n_extra, MAX_EXTRA);
    s2s_tensor ts[MAX_OWN + MAX_EXTRA] = {
        {"adam.m", S2S_F32, 1, {(int64_t)n}, t->adam.m, n * sizeof(float)},
        {"adam.v", S2S_F32, 1, {(int64_t)n}, t->adam.v, n * sizeof(float)},
        {"order", S2S_I32, 1, {t->data->n}, t->perm, (size_t)t->data->n * sizeof(int32_t)},
        {"rng", S2S_I64, 1, {4}, t->rng.s, sizeof t->rng.s},
    };
    int OWN = 4;
    if (t->opt.batch_tokens > 0)  /* batches by tokens: where each of the epoch's batches starts in order */
        ts[OWN++] = (s2s_tensor){"batches", S2S_I32, 1, {t->nb + 1}, t->bstart, ((size_t)t->nb + 1) * sizeof(int32_t)};
    for (int i = 0; i < n_extra; i++) ts[OWN + i] = extra[i];
    enum { FIXED = 8 };
    const char **keys = s2s_calloc((size_t)n_opts + FIXED, sizeof *keys, err, "state metadata");
    const char **vals = s2s_calloc((size_t)n_opts + FIXED, sizeof *vals, err, "state metadata");
    if (!keys || !vals) { free(keys); free(vals); return S2S_ERR; }
    char buf[FIXED][40];
    snprintf(buf[0], 40, "%ld", t->adam.step); snprintf(buf[1], 40, "%d", t->epoch);
    snprintf(buf[2], 40, "%d", t->pos); snprintf(buf[3], 40, "%.17g", t->ep_loss);
    snprintf(buf[4], 40, "%.17g", t->ep_tokens); snprintf(buf[5], 40, "%.17g", t->ep_seconds);
    snprintf(buf[6], 40, "%d", S2S_STATE_VERSION);
    snprintf(buf[7], 40, "%016llx", (unsigned long long)params_fingerprint(t->m));
    const char *fk[FIXED] = {"adam_step", "epoch", "pos", "epoch_loss_sum", "epoch_tokens", "epoch_seconds",
                             "state_version", "weights_fnv1a"};
    for (int i = 0; i < FIXED; i++) { keys[i] = fk[i]; vals[i] = buf[i]; }
    for (int i = 0; i < n_opts; i++) { keys[FIXED + i] = opt_keys[i]; vals[FIXED + i] = opt_values[i]; }
    int rc = s2s_st_stage(o, path, ts, OWN + n_extra, keys, vals, n_opts + FIXED, err);
    free(keys); free(vals);
    return rc;
}

/* A whole number in lo..hi, written as one (a fractional "epoch" is no epoch). */
static int meta_whole(const s2s_st_file *f, const char *path, const char *key, long long lo, long long hi,
                      long long *out, s2s_err *err) {
    const char *s = s2s_st_meta(f, key);
    if (!s) return s2s_errf(err, "%s: training state has no \"%s\"", path, key);
    char b[48];
    long long v;
    if (!whole_in(s, lo, hi, &v))
        return s2s_errf(err, "%s: \"%s\" = \"%s\" is not a whole number in %lld..%lld", path, key,
                        s2s_shown(s, b, sizeof b), lo, hi);
    *out = v;
    return S2S_OK;
}

static int meta_num(const s2s_st_file *f, const char *path, const char *key, double lo, double hi, double *out, s2s_err *err) {
    const char *s = s2s_st_meta(f, key);
    if (!s) return s2s_errf(err, "%s: training state has no \"%s\"", path, key);
    char *end, b[48];
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return s2s_errf(err, "%s: \"%s\" = \"%s\" is out of range", path, key, s2s_shown(s, b, sizeof b));
    *out = v;
    return S2S_OK;
}

/* Index of the first of n floats (possibly unaligned) that is not finite (or negative, with
 * nonneg), or -1. */
static long bad_float(const void *data, size_t n, int nonneg) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        if (!isfinite(x) || (nonneg && x < 0)) return (long)i;
    }
    return -1;
}

int s2s_state_load(const char *path, s2s_trainer *t,
                   int (*check_opt)(const char *key, const char *value, void *ctx, s2s_err *err),
                   void *ctx, s2s_err *err) {
    s2s_st_file *f = NULL;
    if (s2s_st_read(path, &f, err)) return S2S_ERR;
    int rc = s2s_state_from_st(f, path, t, check_opt, ctx, err);
    s2s_st_free(f);
    return rc;
}

int s2s_state_from_st(const s2s_st_file *f, const char *path, s2s_trainer *t,
                      int (*check_opt)(const char *key, const char *value, void *ctx, s2s_err *err),
                      void *ctx, s2s_err *err) {
    const size_t n = t->m->n_params;
    const int N = t->data->n, B = t->opt.batch;
    const s2s_tensor *am = s2s_st_find(f, "adam.m"), *av = s2s_st_find(f, "adam.v");
    const s2s_tensor *od = s2s_st_find(f, "order"), *rg = s2s_st_find(f, "rng");
    long long step = 0, epoch = 0, pos = 0;
    double el = 0, et = 0, es = 0;
    if (!am || !av || !od || !rg) return s2s_errf(err, "%s: not a training-state file (missing tensors)", path);
    if (am->dtype != S2S_F32 || av->dtype != S2S_F32 || am->nbytes != n * sizeof(float) || av->nbytes != n * sizeof(float))
        return s2s_errf(err, "%s: Adam moments do not match the model (%zu parameters)", path, n);
    long bad = bad_float(am->data, n, 0);
    if (bad < 0) bad = bad_float(av->data, n, 1);
    if (bad >= 0) return s2s_errf(err, "%s: Adam's moments hold a non-finite (or negative second) moment at %ld", path, bad);
    if (od->dtype != S2S_I32 || od->nbytes != (size_t)N * sizeof(int32_t))
        return s2s_errf(err, "%s: the saved order is for a different number of training pairs (now %d)", path, N);
    if (rg->nbytes != sizeof t->rng.s) return s2s_errf(err, "%s: bad generator state", path);
    uint64_t rs[4];
    memcpy(rs, rg->data, sizeof rs);
    if (!(rs[0] | rs[1] | rs[2] | rs[3])) return s2s_errf(err, "%s: the generator state is all zero (not one it can reach)", path);
    /* one Adam step per batch: with d2l's batches the step count follows from the epoch and the
     * position in it, so an absurd or edited epoch (or position) does not pass; batches by tokens
     * vary from epoch to epoch, and the position must be where one of the saved batches starts */
    const long long per_epoch = t->opt.batch_tokens > 0 ? N : (N + B - 1) / B;
    if (meta_whole(f, path, "epoch", 0, 100000000, &epoch, err) || meta_whole(f, path, "pos", 0, N - 1, &pos, err) ||
        meta_whole(f, path, "adam_step", 0, 100000000LL * per_epoch + per_epoch, &step, err) ||
        meta_num(f, path, "epoch_loss_sum", 0, 1e300, &el, err) || meta_num(f, path, "epoch_tokens", 0, 1e300, &et, err) ||
        meta_num(f, path, "epoch_seconds", 0, 1e300, &es, err))
        return S2S_ERR;
    const s2s_tensor *bs = s2s_st_find(f, "batches");
    int nb = 0;
    if (t->opt.batch_tokens > 0) {
        if (!bs || bs->dtype != S2S_I32 || bs->ndim != 1 || bs->shape[0] < 1 || bs->shape[0] > (int64_t)N + 1 ||
            bs->nbytes != (size_t)bs->shape[0] * sizeof(int32_t))
            return s2s_errf(err, "%s: no epoch plan of batches by tokens (\"batches\"): a run with --batch-tokens "
                                 "resumes from its own state", path);
        nb = (int)bs->shape[0] - 1;
        const unsigned char *bb = bs->data;
        int32_t prev = -1, k = 0, at_pos = 0;
        for (int i = 0; i <= nb; i++) {
            memcpy(&k, bb + (size_t)i * sizeof k, sizeof k);
            if (k <= prev || (i == 0 && k != 0) || (i == nb && nb > 0 && k != N) || k > N)
                return s2s_errf(err, "%s: the epoch's batches (\"batches\") do not cut its %d pairs in order (entry %d)",
                                path, N, i);
            at_pos |= k == pos;
            prev = k;
        }
        if (!at_pos || step < epoch)
            return s2s_errf(err, "%s: position %lld is not where a batch of the epoch starts (or Adam step %lld is "
                                 "too low)", path, pos, step);
    } else if (bs) {
        return s2s_errf(err, "%s: this run was trained with batches by tokens: resume it with its --batch-tokens", path);
    } else if (pos % B || step != epoch * per_epoch + pos / B) {
        return s2s_errf(err, "%s: epoch %lld, position %lld and Adam step %lld do not agree (batches of %d, %lld per epoch)",
                        path, epoch, pos, step, B, per_epoch);
    }
    /* the weights the state was saved with must be the ones loaded (absent in older files) */
    const char *fp = s2s_st_meta(f, "weights_fnv1a");
    char have[40];
    snprintf(have, sizeof have, "%016llx", (unsigned long long)params_fingerprint(t->m));
    if (fp && strcmp(fp, have))
        return s2s_errf(err, "%s was saved with other weights than the model file holds (a save interrupted between "
                             "the two files?)", path);
    /* the order must be a permutation of the pairs: each index once */
    unsigned char *seen = s2s_calloc((size_t)N, 1, err, "the order check");
    if (!seen) return S2S_ERR;
    const unsigned char *ob = od->data;
    for (int i = 0; i < N; i++) {
        int32_t k;
        memcpy(&k, ob + (size_t)i * sizeof k, sizeof k);
        if (k < 0 || k >= N || seen[k]++) {
            free(seen);
            return s2s_errf(err, "%s: the saved order is not a permutation of the %d pairs (entry %d is %d)", path, N, i, k);
        }
    }
    free(seen);
    if (check_opt)
        for (int i = 0; i < s2s_st_meta_count(f); i++) {
            const char *k, *v;
            s2s_st_meta_at(f, i, &k, &v);
            if (!strncmp(k, "opt.", 4) && check_opt(k + 4, v, ctx, err)) return S2S_ERR;
        }
    memcpy(t->adam.m, am->data, am->nbytes);
    memcpy(t->adam.v, av->data, av->nbytes);
    memcpy(t->perm, od->data, od->nbytes);
    if (nb) { memcpy(t->bstart, bs->data, bs->nbytes); t->nb = nb; }
    memcpy(t->rng.s, rs, sizeof t->rng.s);
    t->adam.step = (long)step; t->epoch = (int)epoch; t->pos = (int)pos;
    t->ep_loss = el; t->ep_tokens = et; t->ep_seconds = es;
    return S2S_OK;
}

/* ---- checkpoint averaging ------------------------------------------------------------------- */

int s2s_model_average(const char *const *paths, int n, const char *out, s2s_err *err) {
    if (n < 1) return s2s_errf(err, "average: no model files");
    s2s_st_file **f = s2s_calloc((size_t)n, sizeof *f, err, "the model files");
    if (!f) return S2S_ERR;
    int rc = S2S_ERR, nt = 0, nm = 0;
    s2s_tensor *ts = NULL;
    float **acc = NULL;
    const char **keys = NULL, **vals = NULL;
    for (int i = 0; i < n; i++) {
        s2s_model *m;
        s2s_vocab *sv, *tv;
        if (s2s_st_read(paths[i], &f[i], err) || s2s_model_from_st(f[i], paths[i], &m, &sv, &tv, err)) goto done;
        s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    }
    /* the same configuration, vocabularies and tokenizers: every metadata entry, both ways */
    nm = s2s_st_meta_count(f[0]); nt = s2s_st_count(f[0]);
    for (int i = 1; i < n; i++) {
        if (s2s_st_meta_count(f[i]) != nm) {
            s2s_errf(err, "average: %s and %s are not models of one configuration (%d and %d metadata entries)",
                     paths[0], paths[i], nm, s2s_st_meta_count(f[i]));
            goto done;
        }
        for (int j = 0; j < nm; j++) {
            const char *k, *v, *w;
            s2s_st_meta_at(f[0], j, &k, &v);
            if (!(w = s2s_st_meta(f[i], k)) || strcmp(v, w)) {
                s2s_errf(err, "average: %s and %s differ in \"%s\"%s: average checkpoints of one training run", paths[0],
                         paths[i], k, strstr(k, "vocab") ? " (their vocabularies)" : "");
                goto done;
            }
        }
        if (s2s_st_count(f[i]) != nt) {
            s2s_errf(err, "average: %s and %s hold different tensors", paths[0], paths[i]);
            goto done;
        }
    }
    ts = s2s_calloc((size_t)nt, sizeof *ts, err, "the averaged tensors");
    acc = ts ? s2s_calloc((size_t)nt, sizeof *acc, err, "the averaged tensors") : NULL;
    keys = acc ? s2s_calloc((size_t)nm + 1, sizeof *keys, err, "metadata") : NULL;
    vals = keys ? s2s_calloc((size_t)nm + 1, sizeof *vals, err, "metadata") : NULL;
    if (!vals) goto done;
    for (int j = 0; j < nm; j++) s2s_st_meta_at(f[0], j, &keys[j], &vals[j]);
    for (int t = 0; t < nt; t++) {
        ts[t] = *s2s_st_get(f[0], t);  /* model files hold F32 tensors only (s2s_model_from_st) */
        const size_t ne = ts[t].nbytes / sizeof(float);
        double *sum = s2s_calloc(ne ? ne : 1, sizeof(double), err, "a tensor's sum");
        if (!sum || !(acc[t] = s2s_malloc((ne ? ne : 1) * sizeof(float), err, "an averaged tensor"))) { free(sum); goto done; }
        for (int i = 0; i < n; i++) {
            const s2s_tensor *x = s2s_st_find(f[i], ts[t].name);
            if (!x || x->dtype != ts[t].dtype || x->nbytes != ts[t].nbytes) {
                free(sum);
                s2s_errf(err, "average: %s and %s differ in tensor %s", paths[0], paths[i], ts[t].name);
                goto done;
            }
            const unsigned char *b = x->data;
            for (size_t e = 0; e < ne; e++) {
                float v;
                memcpy(&v, b + e * sizeof v, sizeof v);
                sum[e] += v;
            }
        }
        for (size_t e = 0; e < ne; e++) acc[t][e] = (float)(sum[e] / n);
        free(sum);
        ts[t].data = acc[t];
    }
    rc = s2s_st_write(out, ts, nt, keys, vals, nm, err);
done:
    for (int t = 0; acc && t < nt; t++) free(acc[t]);
    free(acc); free(ts); free(keys); free(vals);
    for (int i = 0; i < n; i++) s2s_st_free(f[i]);
    free(f);
    return rc;
}
