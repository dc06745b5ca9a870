/* Model files: one .safetensors file with the state_dict() tensors (F32, PyTorch names) and
 * metadata (format, hyperparameters, vocabularies as JSON arrays, preprocessing), so the same
 * file loads into d2l's PyTorch modules. Training state for exact resume lives beside it. */
#ifndef S2S_CHECKPOINT_H
#define S2S_CHECKPOINT_H
#include "s2s_model.h"
#include "s2s_output.h"
#include "s2s_text.h"
#include "s2s_tok.h"
#include "s2s_train.h"

#define S2S_FORMAT_NAME "seq2seq"
/* The newest format_version this program reads; a file is written with the lowest version
 * that describes it: 2 (the model family in the metadata, d2l's tokenizer), 3 with another
 * tokenizer (a `tokenizer` key: SentencePiece). Versions 1 and 2 still load. */
#define S2S_FORMAT_VERSION 3
#define S2S_FAMILY_VERSION 2
#define S2S_STATE_VERSION 2   /* of the training-state files */

/* Writes the model and its vocabularies atomically (temporary file, fsync, rename: s2s_output.h),
 * as a d2l-tokenizer model (`preprocess` d2l-nmt). */
int s2s_model_save(const char *path, const s2s_model *m, const s2s_vocab *src, const s2s_vocab *tgt,
                   s2s_err *err);
/* The same up to the rename (s2s_st_stage): the caller commits or discards *o, e.g. to replace
 * a model and its training state together. */
int s2s_model_stage(s2s_out *o, const char *path, const s2s_model *m, const s2s_vocab *src,
                    const s2s_vocab *tgt, s2s_err *err);
/* The same two with the tokenizers' vocabularies and whatever they store (s2s_tok_meta): one
 * file is the whole translator. For d2l tokenizers the file is byte for byte s2s_model_save's. */
int s2s_model_save_tok(const char *path, const s2s_model *m, const s2s_tok *src, const s2s_tok *tgt,
                       s2s_err *err);
int s2s_model_stage_tok(s2s_out *o, const char *path, const s2s_model *m, const s2s_tok *src, const s2s_tok *tgt,
                        s2s_err *err);
/* Reads and checks a model file: metadata, every tensor's presence, dtype and shape, vocabulary
 * sizes against the embeddings, no unknown tensors. The caller frees all three. */
int s2s_model_load(const char *path, s2s_model **m, s2s_vocab **src, s2s_vocab **tgt, s2s_err *err);
/* Reads a model file with its tokenizers (s2s_tok_load checks them against the vocabularies).
 * The caller frees all three; on failure all are NULL. */
int s2s_model_load_tok(const char *path, s2s_model **m, s2s_tok **src, s2s_tok **tgt, s2s_err *err);
/* The same from an already parsed safetensors file; `path` names it in messages. */
struct s2s_st_file;
int s2s_model_from_st(const struct s2s_st_file *f, const char *path, s2s_model **m, s2s_vocab **src,
                      s2s_vocab **tgt, s2s_err *err);

/* Checkpoint averaging: writes to `out` (atomically) a model file whose every tensor is the
 * element-wise mean (in double, then F32) of the model files paths[0..n), with their metadata.
 * They must be models of one configuration, vocabularies and tokenizers: every metadata entry
 * and every tensor's name, dtype and shape the same; else a one-line error naming the first
 * difference. */
int s2s_model_average(const char *const *paths, int n, const char *out, s2s_err *err);

/* Training state (Adam moments and step, epoch, position and order within the epoch, the
 * random generator, the epoch's partial sums, and the options as metadata) next to the model.
 * `extra` tensors (the caller's, e.g. the loss history; names must not start with "adam.",
 * "order" or "rng") are stored too; the caller reads them back with s2s_st_read. */
struct s2s_tensor;
int s2s_state_save(const char *path, const s2s_trainer *t, const char *const *opt_keys,
                   const char *const *opt_values, int n_opts, const struct s2s_tensor *extra, int n_extra,
                   s2s_err *err);
/* The same up to the rename (s2s_st_stage). */
int s2s_state_stage(s2s_out *o, const char *path, const s2s_trainer *t, const char *const *opt_keys,
                    const char *const *opt_values, int n_opts, const struct s2s_tensor *extra, int n_extra,
                    s2s_err *err);
/* Restores into a trainer created for the same model and data; `check_opt(key, value)` is
 * asked about every stored option and returns non-zero (with err set) to refuse. Everything is
 * checked before the trainer is touched: the weights' fingerprint, finite moments, an order that
 * is a permutation of the pairs, whole numbers for the epoch, the position (a multiple of the
 * batch) and the Adam step, which must agree (one step per batch). */
int s2s_state_load(const char *path, s2s_trainer *t,
                   int (*check_opt)(const char *key, const char *value, void *ctx, s2s_err *err),
                   void *ctx, s2s_err *err);
/* The same from a state file already read (s2s_st_read), so a caller reads it once. */
int s2s_state_from_st(const struct s2s_st_file *f, const char *path, s2s_trainer *t,
                      int (*check_opt)(const char *key, const char *value, void *ctx, s2s_err *err),
                      void *ctx, s2s_err *err);
#endif
