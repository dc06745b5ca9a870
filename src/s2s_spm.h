/* SentencePiece behind a C API: the only C++ in the tree is src/s2s_spm.cc, which implements
 * these functions over Debian's libsentencepiece and lets no exception escape. Ids here are
 * SentencePiece's own; s2s_tok_spm maps them to a model's vocabulary. Everything returns
 * S2S_OK or S2S_ERR with a one-line message; nothing prints (the trainer's log is off). */
#ifndef S2S_SPM_H
#define S2S_SPM_H
#ifdef __cplusplus
extern "C" {
#endif
#include "s2s_common.h"

typedef struct s2s_spm s2s_spm;

typedef enum s2s_spm_algo { S2S_SPM_UNIGRAM = 0, S2S_SPM_BPE = 1 } s2s_spm_algo;

typedef struct s2s_spm_train_opts {
    s2s_spm_algo algo;
    int vocab_size;           /* at most this many pieces (a soft limit: small corpora get fewer) */
    double char_coverage;     /* share of the characters that get a piece of their own (0.98 .. 1] */
    int threads;              /* the trainer's threads: its result depends on this count */
} s2s_spm_train_opts;

/* Trains a model on sentences[0..n) (raw UTF-8, any case), NFKC-normalised as SentencePiece's
 * nmt_nfkc rule does, with <unk>=0 <pad>=1 <bos>=2 <eos>=3 (pieces of those names; only <unk>
 * can be produced by encoding). *proto receives the serialized ModelProto (malloc'd, *len
 * bytes), which is what spm_train writes to NAME.model. The same sentences and options give
 * the same bytes. */
int s2s_spm_train(const char *const *sentences, size_t n, const s2s_spm_train_opts *o, char **proto,
                  size_t *len, s2s_err *err);

/* A processor for a serialized ModelProto (copied; the caller keeps proto). Bytes that are
 * not a SentencePiece model are an error. Free with s2s_spm_free. A loaded processor may be
 * used from several threads at once (every call below but s2s_spm_free only reads it). */
int s2s_spm_load(const void *proto, size_t len, s2s_spm **out, s2s_err *err);
void s2s_spm_free(s2s_spm *sp);

typedef enum s2s_spm_kind {
    S2S_SPM_NORMAL = 0,  /* a piece encoding produces (user-defined pieces included) */
    S2S_SPM_UNKNOWN, S2S_SPM_CONTROL, S2S_SPM_BYTE, S2S_SPM_UNUSED
} s2s_spm_kind;

int s2s_spm_size(const s2s_spm *sp);                    /* number of pieces (ids 0 .. size-1) */
int s2s_spm_unk(const s2s_spm *sp);                     /* the id of the unknown piece */
/* Piece `id` (0 <= id < size) as bytes owned by sp: *len bytes, NUL-terminated (a piece may
 * contain a NUL byte before *len, which callers must check for). */
const char *s2s_spm_piece(const s2s_spm *sp, int id, size_t *len);
s2s_spm_kind s2s_spm_kind_of(const s2s_spm *sp, int id);

/* The ids of text[0..len): writes min(n, cap) ids and returns n, the number the text has. */
int s2s_spm_encode(const s2s_spm *sp, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err);
/* The pieces of text[0..len) as their surface strings (an unknown piece is the text it
 * covers): *pieces is one malloc'd block, *n pointers followed by the strings; free(*pieces). */
int s2s_spm_encode_pieces(const s2s_spm *sp, const char *text, size_t len, char ***pieces, int *n,
                          s2s_err *err);
/* The text of ids[0..n) (control pieces produce nothing, an id out of range is an error):
 * *text malloc'd and NUL-terminated. */
int s2s_spm_decode(const s2s_spm *sp, const int32_t *ids, int n, char **text, s2s_err *err);

#ifdef __cplusplus
}
#endif
#endif
