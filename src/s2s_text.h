/* The d2l text pipeline: reading a pairs file, preprocess_nmt, tokenize_nmt, Vocab,
 * truncate_pad / build_array_nmt. Everything here must give exactly d2l's results. */
#ifndef S2S_TEXT_H
#define S2S_TEXT_H
#include "s2s_common.h"

enum { S2S_UNK = 0, S2S_PAD = 1, S2S_BOS = 2, S2S_EOS = 3 };

/* Tokenized sentence pairs. Token strings live in one arena owned by the struct. */
typedef struct s2s_pairs {
    int n;             /* number of pairs kept */
    int *src_start;    /* [n+1] pair i's source tokens are src_tok[src_start[i] .. src_start[i+1]) */
    char **src_tok;
    int *tgt_start;    /* [n+1] */
    char **tgt_tok;
    int *line;         /* [n] the 1-based line of the file each pair came from (for messages) */
    int lines_read;    /* lines looked at (d2l counts every line, kept or not); the empty
                          piece after a final newline is not a line */
    int skipped;       /* lines without a tab, skipped as d2l does */
    char *arena;       /* owner of all token bytes */
    size_t arena_bytes;
} s2s_pairs;

/* d2l's preprocess_nmt on a UTF-8 buffer: U+202F and U+00A0 -> ' ', Unicode lowercase
 * (as Python's str.lower), a space before , . ! ? when the previous character is not a space.
 * *out is malloc'd and NUL-terminated; the caller frees it. Invalid UTF-8 is an error that
 * names the line (1-based); `where` (a file name, or NULL) prefixes the message. */
int s2s_preprocess(const char *in, size_t len, const char *where, char **out, size_t *out_len, s2s_err *err);

/* Whether s[0..len) is valid UTF-8 (strictly: no overlongs, surrogates or code points past
 * U+10FFFF). Returns 1, or 0 with *bad (if not NULL) = the offset of the first invalid byte. */
int s2s_utf8_valid(const char *s, size_t len, size_t *bad);

/* Valid UTF-8 without NUL bytes, or an error naming the line (1-based) and byte as
 * s2s_preprocess's; `where` (a file name, or NULL) prefixes the message. */
int s2s_utf8_check(const char *s, size_t len, const char *where, s2s_err *err);

/* How the pairs readers treat each side's text: d2l's preprocess_nmt and tokenize_nmt, or
 * raw: checked (UTF-8, no NUL) and left as it is, each side one token (the whole sentence),
 * for a tokenizer that reads raw text (s2s_tok.h). Lines are found, skipped and counted the
 * same way in both modes. */
typedef enum s2s_text_mode { S2S_TEXT_D2L = 0, S2S_TEXT_RAW = 1 } s2s_text_mode;

/* Reads a pairs file `English<TAB>Other[<TAB>attribution]` (CRLF and a leading BOM tolerated),
 * preprocesses it, and tokenizes as d2l's tokenize_nmt with num_examples = max_lines - 1,
 * i.e. lines 0 .. max_lines-1 are looked at (max_lines <= 0: all); the file is read no further.
 * Lines without a tab are skipped and counted. Errors (missing file, invalid UTF-8, NUL byte,
 * a control character, no pair at all) name the file and line. */
int s2s_pairs_read(const char *path, int max_lines, s2s_pairs *out, s2s_err *err);
/* The same from a buffer in memory (the fuzz target's entry); `name` is used in messages. */
int s2s_pairs_parse(const char *data, size_t size, const char *name, int max_lines, s2s_pairs *out, s2s_err *err);
/* The same from two line-aligned files (one sentence per line): each file is read and
 * preprocessed as above, every line pair is kept (skipped = 0), and files with different
 * line counts are an error naming both counts (with max_lines > 0 only the first max_lines
 * lines of each are read, so a difference after them goes unseen). A TAB in a line is an error. */
int s2s_pairs_read2(const char *src_path, const char *tgt_path, int max_lines, s2s_pairs *out, s2s_err *err);
/* The same three readers in either mode (the ones above are S2S_TEXT_D2L). */
int s2s_pairs_read_as(const char *path, int max_lines, s2s_text_mode mode, s2s_pairs *out, s2s_err *err);
int s2s_pairs_parse_as(const char *data, size_t size, const char *name, int max_lines, s2s_text_mode mode,
                       s2s_pairs *out, s2s_err *err);
int s2s_pairs_read2_as(const char *src_path, const char *tgt_path, int max_lines, s2s_text_mode mode,
                       s2s_pairs *out, s2s_err *err);
void s2s_pairs_free(s2s_pairs *p);
/* Bytes held by the pairs (the preprocessed text and the token tables). */
size_t s2s_pairs_bytes(const s2s_pairs *p);
/* A new s2s_pairs with pairs idx[0..n-1] of p in that order (n >= 0; repeats allowed), owning
 * its own copy of the tokens (and line numbers), so p may be freed first; lines_read and skipped are 0. An index
 * outside 0 .. p->n-1 is an error. The caller frees *out with s2s_pairs_free. */
int s2s_pairs_select(const s2s_pairs *p, const int *idx, int n, s2s_pairs *out, s2s_err *err);

typedef struct s2s_vocab s2s_vocab;
/* d2l Vocab(tokens, min_freq, reserved_tokens=['<pad>','<bos>','<eos>']): <unk>=0, <pad>=1,
 * <bos>=2, <eos>=3, then tokens with count >= min_freq by descending count, ties in first-seen order.
 * The empty token is left out (it is <unk>); a token failing s2s_vocab_token_check is an error. */
int s2s_vocab_build(char *const *tokens, int n_tokens, int min_freq, s2s_vocab **out, s2s_err *err);
/* Whether `tok` may be vocabulary token `id` (for the message): not empty, valid UTF-8, no
 * control character (C0, DEL, C1: U+0000..001F, U+007F..009F). Tokens are printed one line per
 * sentence, joined by spaces: a newline or an escape sequence in one would reach the terminal.
 * SentencePiece's pieces (U+2581, byte pieces such as <0x0A>) pass. */
int s2s_vocab_token_check(const char *tok, int id, s2s_err *err);
/* A vocabulary from its index-ordered token list (as stored in a model file). The first four
 * must be <unk> <pad> <bos> <eos>; every token must pass s2s_vocab_token_check; duplicates are
 * an error. */
int s2s_vocab_from_list(const char *const *tokens, int n, s2s_vocab **out, s2s_err *err);
int s2s_vocab_size(const s2s_vocab *v);
int s2s_vocab_id(const s2s_vocab *v, const char *token);     /* unknown -> S2S_UNK */
const char *s2s_vocab_token(const s2s_vocab *v, int id);    /* out of range -> "<unk>" */
void s2s_vocab_free(s2s_vocab *v);

/* build_array_nmt: ids + <eos>, truncate_pad to T with <pad>; valid = count of non-pad ids. */
typedef struct s2s_dataset {
    int n, T;
    int32_t *src, *src_len;   /* [n,T], [n] */
    int32_t *tgt, *tgt_len;   /* [n,T], [n] */
} s2s_dataset;
int s2s_dataset_build(const s2s_pairs *p, const s2s_vocab *sv, const s2s_vocab *tv, int T,
                      s2s_dataset *out, s2s_err *err);
/* The arrays of n rows of T ids, zeroed (the builders fill them); errors leave *out empty. */
int s2s_dataset_alloc(int n, int T, s2s_dataset *out, s2s_err *err);
void s2s_dataset_free(s2s_dataset *d);
/* Drops the pairs whose source or target has more than max_len tokens before <eos> (built with
 * T >= max_len + 1, a cut row is one of length T not ending in <eos>); the others keep their
 * order, compacted in place. Returns how many were dropped. */
int s2s_dataset_drop_long(s2s_dataset *d, int max_len);

/* One input sentence for prediction: a trailing "\n" or "\r\n" dropped, preprocess_nmt (d2l
 * only lowercases here; the two agree on already-spaced input such as "i'm home ."), split on
 * ' ', ids, <eos>, truncate_pad to T. ids[T] is filled; returns the valid length
 * min(tokens + 1, T) or S2S_ERR (e.g. invalid UTF-8). */
int s2s_encode_sentence(const s2s_vocab *v, const char *sentence, int T, int32_t *ids, s2s_err *err);
/* The ids of sentence[0..len) as above, without <eos> or padding: writes min(n, cap) of them
 * and returns n, the sentence's token count (d2l's tokenizer in s2s_tok.h), or S2S_ERR. */
int s2s_text_ids(const s2s_vocab *v, const char *sentence, size_t len, int32_t *ids, int cap, s2s_err *err);

#endif
