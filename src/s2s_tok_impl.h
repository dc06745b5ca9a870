/* For tokenizer implementations only (s2s_tok_*.c): the table of operations a kind provides.
 * A new kind is one file defining an s2s_tok_ops and one entry in s2s_tok.c's table. */
#ifndef S2S_TOK_IMPL_H
#define S2S_TOK_IMPL_H
#include "s2s_safetensors.h"
#include "s2s_tok.h"

typedef struct s2s_tok_ops {
    const char *name;        /* the model file's `tokenizer` value (d2l files have none) */
    const char *preprocess;  /* the model file's `preprocess` value */
    int format_version;      /* the lowest model-file version that can describe it */
    s2s_text_mode text_mode; /* how pairs files are read for it */
    /* text[0..len) has no final newline; see s2s_tok_encode for the contract */
    int (*encode)(const s2s_tok *t, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err);
    /* optional: s2s_tok_encode_row, when the kind has a faster one than encode + pad */
    int (*encode_row)(const s2s_tok *t, const char *sentence, int T, int32_t *ids, s2s_err *err);
    char *(*decode)(const s2s_tok *t, const int32_t *ids, int n, s2s_err *err);
    int (*pieces)(const s2s_tok *t, const char *text, size_t len, char ***pieces, int *n, s2s_err *err);
    int (*size)(const s2s_tok *t);
    /* this side's metadata ("src" or "tgt"): at most S2S_TOK_MAX_META / 2 pairs into key[],
     * val[] (values malloc'd); returns how many, or S2S_ERR */
    int (*meta)(const s2s_tok *t, const char *side, const char **key, char **val, s2s_err *err);
    /* this side's tokenizer from a model file, over its stored vocabulary v (taken) */
    int (*load)(const s2s_st_file *f, const char *path, const char *side, s2s_vocab *v, s2s_tok **out,
                s2s_err *err);
    int (*clone)(const s2s_tok *t, s2s_tok **out, s2s_err *err);
    void (*free_impl)(void *impl);
} s2s_tok_ops;

struct s2s_tok {
    const s2s_tok_ops *ops;
    s2s_vocab *vocab;  /* owned */
    void *impl;        /* the kind's own state, freed by ops->free_impl */
};

extern const s2s_tok_ops s2s_tok_d2l_ops, s2s_tok_spm_ops;

/* A tokenizer of this kind over v and impl (both taken: freed on failure too). */
int s2s_tok_make(const s2s_tok_ops *ops, s2s_vocab *v, void *impl, s2s_tok **out, s2s_err *err);
/* Pieces as one malloc'd block: n pointers, a NULL, then the n strings (lens[i] bytes each). */
char **s2s_tok_block(const char *const *strs, const size_t *lens, int n, s2s_err *err);
#endif
