/* Tokenizers: how one side's raw text becomes the ids of its vocabulary, and ids become text.
 *
 * A model has two (source and target), of one kind, stored in its model file:
 *   d2l  d2l's preprocess_nmt (lowercase, a space before , . ! ?) and a split on spaces, words
 *        looked up in the Vocab (s2s_text.h); output is the tokens joined by spaces. Bit for bit
 *        d2l's pipeline. Model files: `preprocess` = "d2l-nmt", no `tokenizer` key.
 *   spm  SentencePiece (s2s_spm.h): raw text, NFKC-normalised by the SentencePiece model itself,
 *        cut into pieces; output is detokenized, cased text. Model files: `tokenizer` = "spm",
 *        `preprocess` = "sentencepiece", `spm.src` / `spm.tgt` = base64 of each side's
 *        serialized ModelProto (what spm_train writes as NAME.model), format_version 3.
 * The vocabulary always starts <unk>=0 <pad>=1 <bos>=2 <eos>=3, so the model code is the same
 * for every kind. A loaded tokenizer is read-only: every function but s2s_tok_free may be
 * called from several threads at once on one tokenizer. */
#ifndef S2S_TOK_H
#define S2S_TOK_H
#include "s2s_spm.h"
#include "s2s_text.h"

typedef struct s2s_tok s2s_tok;

/* "d2l" or "spm". */
const char *s2s_tok_name(const s2s_tok *t);
/* The `preprocess` value of tokenizer kind i (0: d2l's "d2l-nmt", 1: "sentencepiece"), NULL past
 * the last: the text pipelines a model file may name. */
const char *s2s_tok_pipeline(int i);
/* The vocabulary the ids index (owned by the tokenizer). */
const s2s_vocab *s2s_tok_vocab(const s2s_tok *t);
/* How a pairs file must be read for this tokenizer (s2s_pairs_read_as): d2l's tokens, or raw
 * sentences (each side one token) that s2s_dataset_encode encodes. */
s2s_text_mode s2s_tok_text_mode(const s2s_tok *t);

/* The ids of one raw sentence text[0..len) (a final "\n" or "\r\n" dropped), without <eos>:
 * writes min(n, cap) ids into ids[] and returns n, the sentence's full count, or S2S_ERR
 * (invalid UTF-8 or a NUL byte, named as "sentence: line 1: ..."). An empty sentence has n = 0;
 * characters the tokenizer has never seen become <unk>. */
int s2s_tok_encode(const s2s_tok *t, const char *text, size_t len, int32_t *ids, int cap, s2s_err *err);
/* d2l's build_array row for one NUL-terminated sentence: its ids, <eos>, truncated or padded
 * with <pad> to T in ids[T]; returns the valid length min(n + 1, T), or S2S_ERR. For d2l this
 * is s2s_encode_sentence. */
int s2s_tok_encode_row(const s2s_tok *t, const char *sentence, int T, int32_t *ids, s2s_err *err);
/* The text of ids[0..n) (output ids, without <eos>): d2l joins the tokens with spaces, spm
 * detokenizes (<pad> <bos> <eos> produce nothing, <unk> SentencePiece's " ⁇ "). Returns a
 * malloc'd string, or NULL with err set. */
char *s2s_tok_decode(const s2s_tok *t, const int32_t *ids, int n, s2s_err *err);
/* The tokens of one raw sentence as text, one per id s2s_tok_encode gives (labels for the
 * attention heatmap): d2l's preprocessed words, SentencePiece's pieces ("▁Je", "suis"...).
 * *pieces is one malloc'd block (*n pointers, then the strings): free(*pieces). */
int s2s_tok_pieces(const s2s_tok *t, const char *text, size_t len, char ***pieces, int *n, s2s_err *err);
void s2s_tok_free(s2s_tok *t);

/* ---- making tokenizers -------------------------------------------------------------------- */

/* d2l's tokenizer over a vocabulary (taken: freed with the tokenizer, also on failure). */
int s2s_tok_d2l_new(s2s_vocab *v, s2s_tok **out, s2s_err *err);
/* A SentencePiece tokenizer from a serialized ModelProto (copied); `where` names it in messages.
 * The vocabulary is <unk> <pad> <bos> <eos>, then every piece encoding can produce (normal,
 * user-defined and byte pieces) in the model's id order; for a model trained by s2s_tok_spm_train
 * the ids are SentencePiece's own. A model whose pieces cannot be tokens (empty, invalid UTF-8,
 * control characters, a normal piece named like a reserved one) is an error. */
int s2s_tok_spm_new(const void *proto, size_t len, const char *where, s2s_tok **out, s2s_err *err);
/* The same from a file as spm_train writes it (NAME.model). */
int s2s_tok_spm_open(const char *path, s2s_tok **out, s2s_err *err);
/* Trains a SentencePiece model on sentences[0..n) (raw text; see s2s_spm_train). */
int s2s_tok_spm_train(const char *const *sentences, size_t n, const s2s_spm_train_opts *o, s2s_tok **out,
                      s2s_err *err);
/* Another tokenizer of the same model (for a joint model: the same one on both sides). */
int s2s_tok_clone(const s2s_tok *t, s2s_tok **out, s2s_err *err);
/* Pieces of the model (spm) or words of the vocabulary (d2l); for `seq2seq info`. */
int s2s_tok_size(const s2s_tok *t);

/* ---- data and model files ----------------------------------------------------------------- */

/* What encoding a corpus gave, before <eos> and truncation (index 0 source, 1 target). */
typedef struct s2s_encode_stats {
    double tokens[2];  /* tokens of all sentences */
    int longest[2];    /* tokens of the longest sentence */
    int cut;           /* pairs with a side of T or more tokens, which truncate_pad cuts */
} s2s_encode_stats;

/* d2l's build_array_nmt over raw pairs (read in S2S_TEXT_RAW mode: one token per side), each
 * side encoded by its tokenizer: ids + <eos>, truncate_pad to T. st (optional) receives the
 * counts above. Errors name the pair. */
int s2s_dataset_encode(const s2s_pairs *raw, const s2s_tok *src, const s2s_tok *tgt, int T, s2s_dataset *out,
                       s2s_encode_stats *st, s2s_err *err);

/* How a training run gets its tokenizers (`seq2seq train`'s options, the training API's). */
typedef struct s2s_tok_train_opts {
    int spm;                   /* 0: d2l's (vocabularies of the training pairs' tokens, min_freq 2) */
    s2s_spm_train_opts train;  /* spm with no model given: trained on the pairs' raw sides */
    int joint;                 /* ... one model of both sides (else one per side) */
    const char *model;         /* spm: a model spm_train wrote, for both sides (or NULL) */
    const char *src_model, *tgt_model;  /* spm: one per side (or NULL) */
} s2s_tok_train_opts;
/* SentencePiece's trainer threads: a fixed count, since the model it trains depends on it. */
#define S2S_SPM_TRAIN_THREADS 4

/* The tokenizers of a training run over its pairs (read in the text mode the kind wants:
 * S2S_TEXT_D2L for d2l, S2S_TEXT_RAW for spm). The caller frees both; on failure both NULL. */
int s2s_tok_for_training(const s2s_pairs *pairs, const s2s_tok_train_opts *o, s2s_tok **src, s2s_tok **tgt,
                         s2s_err *err);
/* The padded arrays of pairs for the tokenizers: s2s_dataset_build over d2l's tokens, or
 * s2s_dataset_encode over raw pairs (st, optional, is then filled; zeroed for d2l). */
int s2s_dataset_for(const s2s_pairs *pairs, const s2s_tok *src, const s2s_tok *tgt, int T, s2s_dataset *out,
                    s2s_encode_stats *st, s2s_err *err);

struct s2s_st_file;
/* Both tokenizers of a parsed model file, over the vocabularies read from it (sv and tv are
 * taken: they belong to the tokenizers, or are freed on failure). The file's `tokenizer`
 * (absent: d2l) picks the kind, its `preprocess` must be the kind's; an SentencePiece model must
 * give exactly the stored vocabulary. `path` names the file in messages. */
int s2s_tok_load(const struct s2s_st_file *f, const char *path, s2s_vocab *sv, s2s_vocab *tv, s2s_tok **src,
                 s2s_tok **tgt, s2s_err *err);

#define S2S_TOK_MAX_META 4
/* The model-file metadata the two tokenizers need beyond the vocabularies: *n key/value pairs
 * (keys static, values malloc'd: free each), the `preprocess` value and the lowest
 * format_version that describes them. Both must be of one kind. */
int s2s_tok_meta(const s2s_tok *src, const s2s_tok *tgt, const char **keys, char **vals, int *n,
                 const char **preprocess, int *format_version, s2s_err *err);
#endif
