/* d2l's tokenizer: preprocess_nmt, a split on spaces, and the Vocab (s2s_text.h), exactly as
 * d2l's pipeline; the output is the tokens joined by single spaces. It has no state beyond the
 * vocabulary, and nothing in the model file beyond src_vocab/tgt_vocab. */
#include <stdlib.h>
#include <string.h>

#include "s2s_tok_impl.h"

static int d2l_encode(const s2s_tok *t, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err) {
    return s2s_text_ids(t->vocab, text, len, ids, cap, err);
}

static int d2l_encode_row(const s2s_tok *t, const char *sentence, int T, int32_t *ids, s2s_err *err) {
    return s2s_encode_sentence(t->vocab, sentence, T, ids, err);
}

static char *d2l_decode(const s2s_tok *t, const int32_t *ids, int n, s2s_err *err) {
    size_t cap = 1;
    for (int k = 0; k < n; k++) cap += strlen(s2s_vocab_token(t->vocab, ids[k])) + 1;
    char *o = s2s_malloc(cap, err, "the translation"), *p = o;
    if (!o) return NULL;
    for (int k = 0; k < n; k++) {
        const char *tok = s2s_vocab_token(t->vocab, ids[k]);
        size_t l = strlen(tok);
        if (k) *p++ = ' ';
        memcpy(p, tok, l);
        p += l;
    }
    *p = 0;
    return o;
}

/* The preprocessed sentence split on single spaces, as s2s_text_ids sees it. */
static int d2l_pieces(const s2s_tok *t, const char *text, size_t len, char ***pieces, int *n, s2s_err *err) {
    (void)t;
    char *pre;
    size_t plen;
    if (s2s_preprocess(text, len, "sentence", &pre, &plen, err)) return S2S_ERR;
    int count = 1;
    for (size_t i = 0; i < plen; i++) count += pre[i] == ' ';
    const char **strs = s2s_malloc(sizeof *strs * (size_t)count, err, "the tokens");
    size_t *lens = strs ? s2s_malloc(sizeof *lens * (size_t)count, err, "the tokens") : NULL;
    int rc = S2S_ERR;
    if (lens) {
        int k = 0;
        for (char *b = pre;; k++) {
            char *sp = memchr(b, ' ', (size_t)(pre + plen - b));
            strs[k] = b;
            lens[k] = (size_t)((sp ? sp : pre + plen) - b);
            if (!sp) break;
            b = sp + 1;
        }
        if ((*pieces = s2s_tok_block(strs, lens, count, err))) { *n = count; rc = S2S_OK; }
    }
    free(strs); free(lens); free(pre);
    return rc;
}

static int d2l_size(const s2s_tok *t) { return s2s_vocab_size(t->vocab); }

static int d2l_meta(const s2s_tok *t, const char *side, const char **key, char **val, s2s_err *err) {
    (void)t; (void)side; (void)key; (void)val; (void)err;
    return 0;
}

static int d2l_load(const s2s_st_file *f, const char *path, const char *side, s2s_vocab *v, s2s_tok **out,
                    s2s_err *err) {
    (void)f; (void)path; (void)side;
    return s2s_tok_d2l_new(v, out, err);
}

static int d2l_clone(const s2s_tok *t, s2s_tok **out, s2s_err *err) {
    const int n = s2s_vocab_size(t->vocab);
    const char **list = s2s_malloc(sizeof *list * (size_t)n, err, "the vocabulary");
    if (!list) return S2S_ERR;
    for (int i = 0; i < n; i++) list[i] = s2s_vocab_token(t->vocab, i);
    s2s_vocab *v;
    int rc = s2s_vocab_from_list(list, n, &v, err);
    free(list);
    return rc ? S2S_ERR : s2s_tok_d2l_new(v, out, err);
}

static void d2l_free_impl(void *impl) { (void)impl; }

const s2s_tok_ops s2s_tok_d2l_ops = {
    "d2l", "d2l-nmt", 1, S2S_TEXT_D2L, d2l_encode, d2l_encode_row, d2l_decode, d2l_pieces, d2l_size,
    d2l_meta, d2l_load, d2l_clone, d2l_free_impl,
};

int s2s_tok_d2l_new(s2s_vocab *v, s2s_tok **out, s2s_err *err) {
    return s2s_tok_make(&s2s_tok_d2l_ops, v, NULL, out, err);
}
