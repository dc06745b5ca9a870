/* d2l's Vocab: token <-> id with <unk>=0 <pad>=1 <bos>=2 <eos>=3, built from a token counter
 * (descending count, ties in first-seen order, as Python's stable sorted over a Counter) or
 * loaded from an index-ordered list. Lookups go through an open-addressing hash table, so
 * building is O(n log n) in the number of distinct tokens, not d2l's O(n^2) `not in list`. */
#include "s2s_text.h"

#include <stdlib.h>
#include <string.h>

static const char *const reserved[4] = {"<unk>", "<pad>", "<bos>", "<eos>"};

struct s2s_vocab {
    int n;
    char **tok;       /* [n] index -> token, pointing into arena */
    char *arena;
    int *slot;        /* [cap] token index or -1; cap a power of two, load <= 1/2 */
    size_t cap;
};

static uint64_t hash_str(const char *s) {   /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static size_t table_cap(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

/* Finds the slot holding `s` or the empty slot where it would go. */
static size_t find_slot(const int *slot, size_t cap, char *const *keys, const char *s) {
    size_t i = (size_t)hash_str(s) & (cap - 1);
    while (slot[i] >= 0 && strcmp(keys[slot[i]], s) != 0) i = (i + 1) & (cap - 1);
    return i;
}

int s2s_vocab_token_check(const char *tok, int id, s2s_err *err) {
    char b[120];
    size_t len = strlen(tok), bad;
    if (!len) return s2s_errf(err, "vocabulary: token %d is empty", id);
    if (!s2s_utf8_valid(tok, len, &bad))
        return s2s_errf(err, "vocabulary: token %d (\"%s\") is not valid UTF-8 (byte %zu)", id, s2s_shown(tok, b, sizeof b),
                        bad + 1);
    const unsigned char *u = (const unsigned char *)tok;
    for (size_t i = 0; i < len; i++) {
        unsigned c = u[i] < 0x20 || u[i] == 0x7f ? u[i] : u[i] == 0xc2 && u[i + 1] < 0xa0 ? u[i + 1] : 0;  /* C1: C2 80..9F */
        if (c) return s2s_errf(err, "vocabulary: token %d (\"%s\") holds the control character U+%04X", id,
                               s2s_shown(tok, b, sizeof b), c);
    }
    return S2S_OK;
}

/* Copies tokens[0..n) into a new vocabulary; every token is checked (s2s_vocab_token_check) and
 * duplicates are an error (they would make two ids for one token). */
static int vocab_make(const char *const *tokens, int n, s2s_vocab **out, s2s_err *err) {
    for (int i = 0; i < n; i++)
        if (s2s_vocab_token_check(tokens[i], i, err)) return S2S_ERR;
    s2s_vocab *v = s2s_calloc(1, sizeof *v, err, "vocabulary");
    if (!v) return S2S_ERR;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += strlen(tokens[i]) + 1;
    v->cap = table_cap((size_t)n);
    v->tok = s2s_malloc(sizeof(char *) * (size_t)n, err, "vocabulary tokens");
    v->arena = v->tok ? s2s_malloc(bytes, err, "vocabulary strings") : NULL;
    v->slot = v->arena ? s2s_malloc(sizeof(int) * v->cap, err, "vocabulary hash table") : NULL;
    if (!v->slot) { s2s_vocab_free(v); return S2S_ERR; }
    memset(v->slot, 0xff, sizeof(int) * v->cap);
    char *a = v->arena;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(tokens[i]) + 1;
        memcpy(a, tokens[i], len);
        v->tok[i] = a;
        a += len;
        size_t s = find_slot(v->slot, v->cap, v->tok, a - len);
        if (v->slot[s] >= 0) {
            char b[120];
            s2s_errf(err, "vocabulary: token \"%s\" appears twice (ids %d and %d)", s2s_shown(tokens[i], b, sizeof b),
                     v->slot[s], i);
            v->n = i;
            s2s_vocab_free(v);
            return S2S_ERR;
        }
        v->slot[s] = i;
        v->n = i + 1;
    }
    *out = v;
    return S2S_OK;
}

typedef struct { int first, count; } counted;   /* first: index of first occurrence */

static int by_count_desc(const void *pa, const void *pb) {
    const counted *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);   /* keeps Python's stable order */
}

int s2s_vocab_build(char *const *tokens, int n_tokens, int min_freq, s2s_vocab **out, s2s_err *err) {
    *out = NULL;
    if (n_tokens < 0) return s2s_errf(err, "vocabulary: negative token count %d", n_tokens);
    size_t cap = table_cap((size_t)n_tokens);
    int *slot = s2s_malloc(sizeof(int) * cap, err, "token counter");
    counted *uniq = slot ? s2s_malloc(sizeof(counted) * (size_t)n_tokens, err, "token counter") : NULL;
    if (!uniq) { free(slot); return S2S_ERR; }
    memset(slot, 0xff, sizeof(int) * cap);
    /* The table stores token positions, so key lookup goes through `tokens`. */
    int n_uniq = 0;
    for (int i = 0; i < n_tokens; i++) {
        size_t h = (size_t)hash_str(tokens[i]) & (cap - 1);
        while (slot[h] >= 0 && strcmp(tokens[uniq[slot[h]].first], tokens[i]) != 0) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) { slot[h] = n_uniq; uniq[n_uniq].first = i; uniq[n_uniq].count = 0; n_uniq++; }
        uniq[slot[h]].count++;
    }
    free(slot);
    qsort(uniq, (size_t)n_uniq, sizeof *uniq, by_count_desc);

    const char **list = s2s_malloc(sizeof(char *) * ((size_t)n_uniq + 4), err, "vocabulary list");
    if (!list) { free(uniq); return S2S_ERR; }
    int n = 0;
    for (int r = 0; r < 4; r++) list[n++] = reserved[r];
    for (int u = 0; u < n_uniq; u++) {
        const char *t = tokens[uniq[u].first];
        if (uniq[u].count < min_freq) continue;
        int is_reserved = 0;   /* d2l's `token not in uniq_tokens`: only the reserved four can clash */
        for (int r = 0; r < 4; r++) is_reserved |= strcmp(t, reserved[r]) == 0;
        if (!is_reserved && t[0]) list[n++] = t;  /* the empty token is no word: <unk> (s2s_text.c) */
    }
    int rc = vocab_make(list, n, out, err);
    free(list);
    free(uniq);
    return rc;
}

int s2s_vocab_from_list(const char *const *tokens, int n, s2s_vocab **out, s2s_err *err) {
    *out = NULL;
    if (n < 4) return s2s_errf(err, "vocabulary: %d tokens, need at least the 4 reserved ones", n);
    for (int r = 0; r < 4; r++)
        if (strcmp(tokens[r], reserved[r]) != 0)
        {
            char b[120];
            return s2s_errf(err, "vocabulary: token %d is \"%s\", expected \"%s\"", r, s2s_shown(tokens[r], b, sizeof b),
                            reserved[r]);
        }
    return vocab_make(tokens, n, out, err);
}

int s2s_vocab_size(const s2s_vocab *v) { return v->n; }

int s2s_vocab_id(const s2s_vocab *v, const char *token) {
    int i = v->slot[find_slot(v->slot, v->cap, v->tok, token)];
    return i >= 0 ? i : S2S_UNK;
}

const char *s2s_vocab_token(const s2s_vocab *v, int id) {
    return id >= 0 && id < v->n ? v->tok[id] : reserved[S2S_UNK];
}

void s2s_vocab_free(s2s_vocab *v) {
    if (!v) return;
    free(v->tok);
    free(v->arena);
    free(v->slot);
    free(v);
}
