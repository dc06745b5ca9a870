/* The SentencePiece tokenizer (s2s_tok.h) over the C API of s2s_spm.h. The vocabulary is
 * <unk> <pad> <bos> <eos>, then every piece encoding can produce, in the model's id order; two
 * tables map SentencePiece ids to vocabulary ids and back, so that any model spm_train writes
 * can be used (its own ids are often <unk>=0 <s>=1 </s>=2 without <pad>). For models trained
 * here (s2s_spm_train: <unk>=0 <pad>=1 <bos>=2 <eos>=3) both tables are the identity.
 * In a model file each side's ModelProto is base64 (RFC 4648, padded) under spm.src / spm.tgt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_tok_impl.h"

typedef struct spm_impl {
    s2s_spm *sp;
    char *proto;        /* the serialized ModelProto, as loaded (saved back unchanged) */
    size_t proto_len;
    int32_t *to_vocab;  /* [pieces] SentencePiece id -> vocabulary id (<unk> for those never produced) */
    int32_t *to_spm;    /* [vocabulary] vocabulary id -> SentencePiece id, -1: prints nothing */
} spm_impl;

static const char *const reserved[4] = {"<unk>", "<pad>", "<bos>", "<eos>"};

/* ---- base64 --------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const unsigned char *in, size_t n, s2s_err *err) {
    char *o = s2s_malloc((n + 2) / 3 * 4 + 1, err, "the base64 text"), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *p = 0;
    return o;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict: length a multiple of 4, only the alphabet, '=' only as the last one or two. */
static int base64_decode(const char *s, unsigned char **out, size_t *n, const char *what, s2s_err *err) {
    size_t len = strlen(s);
    *out = NULL;
    if (len % 4) return s2s_errf(err, "%s is not base64 (length %zu is not a multiple of 4)", what, len);
    size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
    unsigned char *o = s2s_malloc(len / 4 * 3 + 1, err, "the decoded base64");
    if (!o) return S2S_ERR;
    size_t w = 0;
    for (size_t i = 0; i < len; i += 4) {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            int d = i + k >= len - pad ? 0 : b64_value((unsigned char)s[i + k]);
            if (d < 0) {
                free(o);
                return s2s_errf(err, "%s is not base64 (character %zu is 0x%02x)", what, i + k + 1,
                                (unsigned char)s[i + k]);
            }
            v = v << 6 | (unsigned)d;
        }
        o[w++] = (unsigned char)(v >> 16);
        if (i + 4 < len || pad < 2) o[w++] = (unsigned char)(v >> 8);
        if (i + 4 < len || pad < 1) o[w++] = (unsigned char)v;
    }
    *out = o;
    *n = w;
    return S2S_OK;
}

/* ---- the vocabulary of a model ------------------------------------------------------------ */

/* A piece that can be a vocabulary token (one line of output, one JSON string): not empty, no
 * NUL, valid UTF-8, no C0/C1 control character, not the name of a reserved token. */
static int check_piece(const char *p, size_t len, int id, const char *where, s2s_err *err) {
    if (len == 0 || memchr(p, 0, len))
        return s2s_errf(err, "%s: piece %d is empty or holds a NUL byte", where, id);
    s2s_err inner;
    if (s2s_utf8_check(p, len, NULL, &inner)) return s2s_errf(err, "%s: piece %d is not valid UTF-8", where, id);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < len && (unsigned char)p[i + 1] < 0xa0))
            return s2s_errf(err, "%s: piece %d holds a control character (byte %zu)", where, id, i + 1);
    }
    for (int r = 0; r < 4; r++)
        if (!strcmp(p, reserved[r]))
            return s2s_errf(err, "%s: piece %d is a normal piece named %s, which is reserved", where, id,
                            reserved[r]);
    return S2S_OK;
}

static void impl_free(void *v) {
    spm_impl *s = v;
    if (!s) return;
    s2s_spm_free(s->sp);
    free(s->proto); free(s->to_vocab); free(s->to_spm);
    free(s);
}

int s2s_tok_spm_new(const void *proto, size_t len, const char *where, s2s_tok **out, s2s_err *err) {
    *out = NULL;
    spm_impl *s = s2s_calloc(1, sizeof *s, err, "the SentencePiece tokenizer");
    const char **list = NULL;
    s2s_vocab *v = NULL;
    if (!s) return S2S_ERR;
    if (s2s_spm_load(proto, len, &s->sp, err)) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg);
        s2s_errf(err, "%s: %s", where, inner);
        goto fail;
    }
    const int np = s2s_spm_size(s->sp);
    if (!(s->proto = s2s_malloc(len ? len : 1, err, "the SentencePiece model")) ||
        !(s->to_vocab = s2s_malloc(sizeof(int32_t) * (size_t)np, err, "the piece table")) ||
        !(s->to_spm = s2s_malloc(sizeof(int32_t) * ((size_t)np + 4), err, "the piece table")) ||
        !(list = s2s_malloc(sizeof *list * ((size_t)np + 4), err, "the vocabulary")))
        goto fail;
    memcpy(s->proto, proto, len);
    s->proto_len = len;
    int n = 0;
    for (int r = 0; r < 4; r++) { list[n] = reserved[r]; s->to_spm[n++] = r == 0 ? s2s_spm_unk(s->sp) : -1; }
    for (int id = 0; id < np; id++) {
        s2s_spm_kind k = s2s_spm_kind_of(s->sp, id);
        s->to_vocab[id] = S2S_UNK;
        if (k != S2S_SPM_NORMAL && k != S2S_SPM_BYTE) continue;
        size_t plen;
        const char *p = s2s_spm_piece(s->sp, id, &plen);
        if (check_piece(p, plen, id, where, err)) goto fail;
        s->to_vocab[id] = n;
        s->to_spm[n] = id;
        list[n++] = p;
    }
    if (s2s_vocab_from_list(list, n, &v, err)) goto fail;
    free(list);
    return s2s_tok_make(&s2s_tok_spm_ops, v, s, out, err);
fail:
    free(list);
    impl_free(s);
    return S2S_ERR;
}

int s2s_tok_spm_open(const char *path, s2s_tok **out, s2s_err *err) {
    char *data;
    size_t n;
    *out = NULL;
    if (s2s_read_file(path, &data, &n, err)) return S2S_ERR;
    int rc = s2s_tok_spm_new(data, n, path, out, err);
    free(data);
    return rc;
}

int s2s_tok_spm_train(const char *const *sentences, size_t n, const s2s_spm_train_opts *o, s2s_tok **out,
                      s2s_err *err) {
    char *proto;
    size_t len;
    *out = NULL;
    if (s2s_spm_train(sentences, n, o, &proto, &len, err)) return S2S_ERR;
    int rc = s2s_tok_spm_new(proto, len, "the trained SentencePiece model", out, err);
    free(proto);
    return rc;
}

/* ---- the operations ------------------------------------------------------------------------- */

static int spm_encode(const s2s_tok *t, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err) {
    const spm_impl *s = t->impl;
    if (s2s_utf8_check(text, len, "sentence", err)) return S2S_ERR;
    int n = s2s_spm_encode(s->sp, text, len, ids, cap, err);
    for (int i = 0; i < n && i < cap; i++) ids[i] = s->to_vocab[ids[i]];
    return n;
}

static char *spm_decode(const s2s_tok *t, const int32_t *ids, int n, s2s_err *err) {
    const spm_impl *s = t->impl;
    const int V = s2s_vocab_size(t->vocab);
    int32_t stack[256], *sid = n <= 256 ? stack : s2s_malloc(sizeof(int32_t) * (size_t)n, err, "the ids");
    if (!sid) return NULL;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) {
            s2s_errf(err, "decoding: id %d is outside the vocabulary (0..%d)", ids[i], V - 1);
            if (sid != stack) free(sid);
            return NULL;
        }
        if (s->to_spm[ids[i]] >= 0) sid[m++] = s->to_spm[ids[i]];
    }
    char *text = NULL;
    s2s_spm_decode(s->sp, sid, m, &text, err);
    if (sid != stack) free(sid);
    return text;
}

static int spm_pieces(const s2s_tok *t, const char *text, size_t len, char ***pieces, int *n, s2s_err *err) {
    const spm_impl *s = t->impl;
    if (s2s_utf8_check(text, len, "sentence", err)) return S2S_ERR;
    return s2s_spm_encode_pieces(s->sp, text, len, pieces, n, err);
}

static int spm_size(const s2s_tok *t) { return s2s_spm_size(((const spm_impl *)t->impl)->sp); }

static const char *meta_key(const char *side) { return !strcmp(side, "src") ? "spm.src" : "spm.tgt"; }

static int spm_meta(const s2s_tok *t, const char *side, const char **key, char **val, s2s_err *err) {
    const spm_impl *s = t->impl;
    if (!(val[0] = base64_encode((const unsigned char *)s->proto, s->proto_len, err))) return S2S_ERR;
    key[0] = meta_key(side);
    return 1;
}

/* Both vocabularies the same tokens in the same order. */
static int same_tokens(const s2s_vocab *a, const s2s_vocab *b, int *at) {
    const int n = s2s_vocab_size(a) < s2s_vocab_size(b) ? s2s_vocab_size(a) : s2s_vocab_size(b);
    for (*at = 0; *at < n; ++*at)
        if (strcmp(s2s_vocab_token(a, *at), s2s_vocab_token(b, *at))) return 0;
    return s2s_vocab_size(a) == s2s_vocab_size(b);
}

static int spm_load(const s2s_st_file *f, const char *path, const char *side, s2s_vocab *v, s2s_tok **out,
                    s2s_err *err) {
    const char *key = meta_key(side), *b = s2s_st_meta(f, key);
    unsigned char *proto = NULL;
    size_t len = 0;
    char what[4200];
    *out = NULL;
    snprintf(what, sizeof what, "%s: metadata \"%s\"", path, key);
    if (!b) {
        s2s_vocab_free(v);
        return s2s_errf(err, "%s: metadata has no \"%s\" (the SentencePiece model)", path, key);
    }
    if (base64_decode(b, &proto, &len, what, err) || s2s_tok_spm_new(proto, len, what, out, err)) {
        free(proto);
        s2s_vocab_free(v);
        return S2S_ERR;
    }
    free(proto);
    int at;
    if (!same_tokens((*out)->vocab, v, &at)) {
        s2s_errf(err, "%s: the SentencePiece model in \"%s\" does not give the stored %s_vocab (%d and %d tokens; "
                 "first difference at %d)", path, key, side, s2s_vocab_size((*out)->vocab), s2s_vocab_size(v), at);
        s2s_tok_free(*out);
        *out = NULL;
    }
    s2s_vocab_free(v);
    return *out ? S2S_OK : S2S_ERR;
}

static int spm_clone(const s2s_tok *t, s2s_tok **out, s2s_err *err) {
    const spm_impl *s = t->impl;
    return s2s_tok_spm_new(s->proto, s->proto_len, "the SentencePiece model", out, err);
}

const s2s_tok_ops s2s_tok_spm_ops = {
    "spm", "sentencepiece", 3, S2S_TEXT_RAW, spm_encode, NULL, spm_decode, spm_pieces, spm_size,
    spm_meta, spm_load, spm_clone, impl_free,
};
