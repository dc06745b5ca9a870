/* The tokenizer interface: dispatch to the kinds (s2s_tok_d2l.c, s2s_tok_spm.c), the table of
 * kinds a model file may name, and what every kind shares (padding rows, datasets). */
#include "s2s_tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every kind a model file can name; the first is what a file without `tokenizer` means. */
static const s2s_tok_ops *const kinds[] = {&s2s_tok_d2l_ops, &s2s_tok_spm_ops};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

int s2s_tok_make(const s2s_tok_ops *ops, s2s_vocab *v, void *impl, s2s_tok **out, s2s_err *err) {
    *out = NULL;
    s2s_tok *t = s2s_calloc(1, sizeof *t, err, "the tokenizer");
    if (!t) { s2s_vocab_free(v); if (impl) ops->free_impl(impl); return S2S_ERR; }
    t->ops = ops; t->vocab = v; t->impl = impl;
    *out = t;
    return S2S_OK;
}

char **s2s_tok_block(const char *const *strs, const size_t *lens, int n, s2s_err *err) {
    size_t bytes = ((size_t)n + 1) * sizeof(char *);
    for (int i = 0; i < n; i++) bytes += lens[i] + 1;
    char **arr = s2s_malloc(bytes, err, "the tokens");
    if (!arr) return NULL;
    char *s = (char *)(arr + n + 1);
    for (int i = 0; i < n; i++) {
        arr[i] = s;
        memcpy(s, strs[i], lens[i]);
        s[lens[i]] = 0;
        s += lens[i] + 1;
    }
    arr[n] = NULL;
    return arr;
}

const char *s2s_tok_name(const s2s_tok *t) { return t->ops->name; }
const char *s2s_tok_pipeline(int i) { return i >= 0 && i < N_KINDS ? kinds[i]->preprocess : NULL; }
const s2s_vocab *s2s_tok_vocab(const s2s_tok *t) { return t->vocab; }
s2s_text_mode s2s_tok_text_mode(const s2s_tok *t) { return t->ops->text_mode; }
int s2s_tok_size(const s2s_tok *t) { return t->ops->size(t); }

/* text[0..len) without one final "\n" or "\r\n". */
static size_t chomp_len(const char *text, size_t len) {
    if (len > 0 && text[len - 1] == '\n') len--;
    if (len > 0 && text[len - 1] == '\r') len--;
    return len;
}

int s2s_tok_encode(const s2s_tok *t, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err) {
    return t->ops->encode(t, text, chomp_len(text, len), ids, cap, err);
}

int s2s_tok_encode_row(const s2s_tok *t, const char *sentence, int T, int32_t *ids, s2s_err *err) {
    if (t->ops->encode_row) return t->ops->encode_row(t, sentence, T, ids, err);
    if (T < 1) return s2s_errf(err, "encode: num_steps T=%d, must be at least 1", T);
    int n = s2s_tok_encode(t, sentence, strlen(sentence), ids, T, err);
    if (n < 0) return S2S_ERR;
    for (int i = n; i < T; i++) ids[i] = i == n ? S2S_EOS : S2S_PAD;
    return n < T - 1 ? n + 1 : T;
}

char *s2s_tok_decode(const s2s_tok *t, const int32_t *ids, int n, s2s_err *err) {
    return t->ops->decode(t, ids, n, err);
}

int s2s_tok_pieces(const s2s_tok *t, const char *text, size_t len, char ***pieces, int *n, s2s_err *err) {
    *pieces = NULL;
    *n = 0;
    return t->ops->pieces(t, text, chomp_len(text, len), pieces, n, err);
}

int s2s_tok_clone(const s2s_tok *t, s2s_tok **out, s2s_err *err) { return t->ops->clone(t, out, err); }

void s2s_tok_free(s2s_tok *t) {
    if (!t) return;
    if (t->impl) t->ops->free_impl(t->impl);
    s2s_vocab_free(t->vocab);
    free(t);
}

/* ---- data ----------------------------------------------------------------------------------- */

/* One side of pair i of raw pairs: its only token, the sentence. */
static const char *raw_side(const s2s_pairs *p, int side, int i) {
    const int *st = side ? p->tgt_start : p->src_start;
    char *const *tok = side ? p->tgt_tok : p->src_tok;
    return st[i + 1] > st[i] ? tok[st[i]] : "";
}

int s2s_dataset_encode(const s2s_pairs *raw, const s2s_tok *src, const s2s_tok *tgt, int T, s2s_dataset *out,
                       s2s_encode_stats *st, s2s_err *err) {
    s2s_encode_stats sum = {{0, 0}, {0, 0}, 0};
    if (s2s_dataset_alloc(raw->n, T, out, err)) return S2S_ERR;
    for (int i = 0; i < raw->n; i++) {
        int cut = 0;
        for (int side = 0; side < 2; side++) {
            int32_t *row = (side ? out->tgt : out->src) + (size_t)i * T;
            const char *text = raw_side(raw, side, i);
            int n = s2s_tok_encode(side ? tgt : src, text, strlen(text), row, T, err);
            if (n < 0) {
                char inner[sizeof err->msg];
                snprintf(inner, sizeof inner, "%s", err->msg);
                s2s_errf(err, "pair %d, %s side: %s", i + 1, side ? "target" : "source", inner);
                s2s_dataset_free(out);
                return S2S_ERR;
            }
            for (int k = n; k < T; k++) row[k] = k == n ? S2S_EOS : S2S_PAD;
            (side ? out->tgt_len : out->src_len)[i] = n < T - 1 ? n + 1 : T;
            sum.tokens[side] += n;
            if (n > sum.longest[side]) sum.longest[side] = n;
            cut |= n >= T;
        }
        sum.cut += cut;
    }
    if (st) *st = sum;
    return S2S_OK;
}

int s2s_tok_for_training(const s2s_pairs *p, const s2s_tok_train_opts *o, s2s_tok **src, s2s_tok **tgt,
                         s2s_err *err) {
    *src = *tgt = NULL;
    if (!o->spm) {  /* d2l: the training pairs' tokens seen at least twice */
        s2s_vocab *sv = NULL, *tv = NULL;
        if (s2s_vocab_build(p->src_tok, p->src_start[p->n], 2, &sv, err) ||
            s2s_vocab_build(p->tgt_tok, p->tgt_start[p->n], 2, &tv, err)) {
            s2s_vocab_free(sv);
            return S2S_ERR;
        }
        if (s2s_tok_d2l_new(sv, src, err)) { s2s_vocab_free(tv); return S2S_ERR; }
        if (s2s_tok_d2l_new(tv, tgt, err)) { s2s_tok_free(*src); *src = NULL; return S2S_ERR; }
        return S2S_OK;
    }
    int rc;
    if (o->model || o->src_model) {
        rc = s2s_tok_spm_open(o->model ? o->model : o->src_model, src, err) ||
             (o->model ? s2s_tok_clone(*src, tgt, err) : s2s_tok_spm_open(o->tgt_model, tgt, err));
    } else {
        const char **text = s2s_malloc(sizeof(char *) * (2 * (size_t)p->n + 1), err, "the training sentences");
        if (!text) return S2S_ERR;
        for (int side = 0; side < 2; side++)
            for (int i = 0; i < p->n; i++) text[(size_t)side * p->n + i] = raw_side(p, side, i);
        if (o->joint)
            rc = s2s_tok_spm_train(text, 2 * (size_t)p->n, &o->train, src, err) || s2s_tok_clone(*src, tgt, err);
        else
            rc = s2s_tok_spm_train(text, (size_t)p->n, &o->train, src, err) ||
                 s2s_tok_spm_train(text + p->n, (size_t)p->n, &o->train, tgt, err);
        free(text);
    }
    if (rc) {
        s2s_tok_free(*src); s2s_tok_free(*tgt);
        *src = *tgt = NULL;
        return S2S_ERR;
    }
    return S2S_OK;
}

int s2s_dataset_for(const s2s_pairs *p, const s2s_tok *src, const s2s_tok *tgt, int T, s2s_dataset *out,
                    s2s_encode_stats *st, s2s_err *err) {
    if (s2s_tok_text_mode(src) == S2S_TEXT_RAW) return s2s_dataset_encode(p, src, tgt, T, out, st, err);
    if (st) memset(st, 0, sizeof *st);
    return s2s_dataset_build(p, s2s_tok_vocab(src), s2s_tok_vocab(tgt), T, out, err);
}

/* ---- model files ---------------------------------------------------------------------------- */

int s2s_tok_load(const s2s_st_file *f, const char *path, s2s_vocab *sv, s2s_vocab *tv, s2s_tok **src,
                 s2s_tok **tgt, s2s_err *err) {
    *src = *tgt = NULL;
    const char *name = s2s_st_meta(f, "tokenizer"), *pre = s2s_st_meta(f, "preprocess");
    const s2s_tok_ops *ops = name ? NULL : kinds[0];
    for (int k = 0; name && k < N_KINDS; k++)
        if (!strcmp(name, kinds[k]->name)) ops = kinds[k];
    if (!ops) {
        s2s_errf(err, "%s: metadata \"tokenizer\" = \"%.40s\" is not one this program knows (d2l, spm)", path,
                 name);
        goto fail;
    }
    /* a d2l file may predate the key (hand-made, or written by an older PyTorch script) */
    if ((pre || ops != kinds[0]) && (!pre || strcmp(pre, ops->preprocess))) {
        s2s_errf(err, "%s: metadata \"preprocess\" = %s%.40s%s, but a %s model's text is prepared as \"%s\"", path,
                 pre ? "\"" : "", pre ? pre : "missing", pre ? "\"" : "", ops->name, ops->preprocess);
        goto fail;
    }
    s2s_vocab *v = sv;
    sv = NULL;
    if (ops->load(f, path, "src", v, src, err)) goto fail;
    v = tv;
    tv = NULL;
    if (ops->load(f, path, "tgt", v, tgt, err)) goto fail;
    return S2S_OK;
fail:
    s2s_vocab_free(sv); s2s_vocab_free(tv);
    s2s_tok_free(*src);
    *src = *tgt = NULL;
    return S2S_ERR;
}

int s2s_tok_meta(const s2s_tok *src, const s2s_tok *tgt, const char **keys, char **vals, int *n,
                 const char **preprocess, int *format_version, s2s_err *err) {
    *n = 0;
    if (src->ops != tgt->ops)
        return s2s_errf(err, "the source tokenizer is %s but the target one %s: a model has one kind",
                        src->ops->name, tgt->ops->name);
    for (int side = 0; side < 2; side++) {
        int k = (side ? tgt : src)->ops->meta(side ? tgt : src, side ? "tgt" : "src", keys + *n, vals + *n, err);
        if (k < 0) {
            for (int i = 0; i < *n; i++) free(vals[i]);
            *n = 0;
            return S2S_ERR;
        }
        *n += k;
    }
    *preprocess = src->ops->preprocess;
    *format_version = src->ops->format_version;
    return S2S_OK;
}
