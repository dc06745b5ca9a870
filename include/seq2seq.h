/* seq2seq.h: the public C API of libs2s, d2l's encoder-decoder translator.
 *
 * One header, C11 and C++ includable. Every type a caller holds is opaque except the error
 * buffer and the option structs; every symbol starts with s2s_ (macros with S2S_). The other
 * headers of the source tree (src/s2s_*.h) are private: they change without notice.
 *
 * Errors. Every call that can fail returns S2S_OK (0) or a negative status and, when `err` is
 * not NULL, leaves a one-line message in it (the caller owns the buffer; a thread uses its
 * own). S2S_ERR_INPUT means the caller's input is at fault (an option out of range, a sentence
 * that is not UTF-8, a request the model cannot answer), S2S_ERR anything else (a file that
 * cannot be read, out of memory). The library never prints and never exits.
 *
 * Options. Option structs start with `size`; fill them with their *_init function, then change
 * the fields you want. A library newer than the program reads only the first `size` bytes
 * (newer fields keep their defaults), so programs built against an older header keep working.
 *
 * Threads. A translator handle is read-only once open: any number of threads may call
 * s2s_translate on one handle at once, and get what one thread would (the same text and the
 * same scores, bit for bit). Each running call takes a workspace (the activations of one batch)
 * from the handle's pool, or makes one. A training run is used by one thread at a time.
 * Opening a translator or a training run sets OpenBLAS to one thread for the process (the
 * library runs its own threads around the products). */
#ifndef SEQ2SEQ_H
#define SEQ2SEQ_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define S2S_VERSION_MAJOR 1
#define S2S_VERSION_MINOR 0
#define S2S_VERSION_PATCH 0
#define S2S_VERSION_STRING "1.0.0"

#if defined(__GNUC__) || defined(__clang__)
#define S2S_API __attribute__((visibility("default")))
#else
#define S2S_API
#endif

/* The library's version, "MAJOR.MINOR.PATCH" (the one it was built as, which may differ from
 * the header a program was compiled with: compare S2S_VERSION_MAJOR). */
S2S_API const char *s2s_version(void);

/* ---- errors ------------------------------------------------------------------------------ */
enum { S2S_OK = 0, S2S_ERR = -1, S2S_ERR_INPUT = -2 };

typedef struct s2s_err {
    char msg[1024];  /* one line, NUL-terminated; set only when a call fails */
} s2s_err;

/* ---- translation ------------------------------------------------------------------------- */
typedef struct s2s_translator s2s_translator;

typedef struct s2s_translator_options {
    int size;            /* sizeof(s2s_translator_options) */
    int threads;         /* threads one call uses by default (whole batches side by side): 1 */
    int max_workspaces;  /* bound on the workspaces kept and made (memory): 0 = no bound; a
                          * call that finds none free waits for one */
    const char *gemm;    /* the matrix products, as s2s_train_options.gemm: NULL (the default),
                          * "own" or "blas", or "bf16" / "int8" ("own" with every decoder step's
                          * products, and the encoder's recurrent ones, in bfloat16 / 8-bit
                          * integers from copies of the weights made once: faster, not float's
                          * numbers; needs AVX512-BF16 / AVX512-VNNI); the handle's choice, for
                          * every call */
} s2s_translator_options;
S2S_API void s2s_translator_options_init(s2s_translator_options *o);

/* Opens a model file (.safetensors written by seq2seq or by d2l's PyTorch code in its layout).
 * o may be NULL (defaults). On success *out is a handle the caller closes. */
S2S_API int s2s_translator_open(const char *path, const s2s_translator_options *o, s2s_translator **out,
                                s2s_err *err);
/* An ensemble of n model files (1..S2S_MAX_ENSEMBLE) as one translator: every decoder step
 * takes the mean of the models' log-probabilities (OpenNMT-py's ensemble decoding), and the
 * attention weights returned are the mean of theirs. The models may differ in family and size
 * but must share the tokenizer, the vocabularies and num_steps (else an error naming the first
 * difference). Greedy (beam 1) runs as a beam search of one. Each workspace is one per model,
 * so memory and time grow with n. s2s_translator_meta gives the first model's metadata.
 * n = 1 is s2s_translator_open. */
#define S2S_MAX_ENSEMBLE 8
S2S_API int s2s_translator_open_ensemble(const char *const *paths, int n, const s2s_translator_options *o,
                                         s2s_translator **out, s2s_err *err);
/* Frees the handle (NULL is fine). No call may be running on it; results stay valid. */
S2S_API void s2s_translator_close(s2s_translator *t);
/* The model file's metadata value for `key` ("model", "embed", "hidden", "layers", "num_steps",
 * "src_vocab" ...; see README), or NULL. Owned by the handle. */
S2S_API const char *s2s_translator_meta(const s2s_translator *t, const char *key);
/* 1 when translate may be asked for attention weights (options.attention): every model of the
 * handle has an attention decoder; 0 otherwise (a plain model, or an ensemble with one). */
S2S_API int s2s_translator_has_attention(const s2s_translator *t);

typedef struct s2s_translate_options {
    int size;             /* sizeof(s2s_translate_options) */
    int beam;             /* beam size K: 1 (greedy, as d2l's predict_seq2seq) */
    int nbest;            /* hypotheses returned per sentence, 1 .. beam: 1 */
    int scores;           /* 1: scores also for beam 1 (greedy decoding then also sums each chosen
                           * token's log-probability: a beam search of one's score; with
                           * max_len_ratio it runs as that beam search); beam > 1 always has
                           * them: 0 */
    float alpha;          /* length normalisation: score = log p / length^alpha: 1.0 */
    int max_len;          /* most output tokens: 0 = the model's num_steps (or, with a ratio,
                           * ceil(ratio * num_steps)) */
    float max_len_ratio;  /* > 0: at most ceil(ratio * source length) tokens: 0 */
    int batch;            /* sentences per batch (sorted by length into batches): 64 */
    int threads;          /* this call's threads: 0 = the handle's (at most 64 run) */
    int attention;        /* 1: keep each sentence's attention weights and tokens (attention
                           * models only): 0 */
    /* Called after each batch with the sentences done so far (from the call's threads, one at
     * a time); NULL: not called. */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} s2s_translate_options;
S2S_API void s2s_translate_options_init(s2s_translate_options *o);

typedef struct s2s_translation s2s_translation;

/* Translates sentences[0..n) (raw UTF-8 text, tokenized by the model file's tokenizer as in
 * training: d2l's preprocess_nmt makes "I'm home." "i'm home ."; a SentencePiece model reads it
 * as it is). A sentence with no token at all (a blank line, for SentencePiece) translates to "".
 * o may be NULL (greedy). On success *out holds the results, in input order, until
 * s2s_translation_free. */
S2S_API int s2s_translate(s2s_translator *t, const char *const *sentences, int n, const s2s_translate_options *o,
                          s2s_translation **out, s2s_err *err);

/* Makes now the workspaces a call of n sentences with options o (NULL: greedy) would take, one
 * per thread, and keeps them in the handle's pool: later calls find them ready (before timing,
 * or before serving). Optional. */
S2S_API int s2s_translator_prepare(s2s_translator *t, int n, const s2s_translate_options *o, s2s_err *err);

/* Reading a result (r must not be NULL; i, k out of range give 0 / NULL / NaN). */
S2S_API int s2s_translation_count(const s2s_translation *r);               /* sentences */
S2S_API int s2s_translation_hyps(const s2s_translation *r, int i);         /* hypotheses of sentence i */
/* Hypothesis k of sentence i (0 = best): its text (d2l: tokens joined by spaces; SentencePiece:
 * detokenized, cased text) and score (the normalised log-probability; NaN when greedy decoding
 * did not compute it). */
S2S_API const char *s2s_translation_text(const s2s_translation *r, int i, int k);
S2S_API double s2s_translation_score(const s2s_translation *r, int i, int k);
/* Attention of sentence i's best hypothesis (options.attention): weights [rows, cols] row-major,
 * one row per output step (its tokens, then "<eos>" when it ended with one), one column per
 * source position the model read (its tokens: d2l's preprocessed words or SentencePiece's
 * pieces, then "<eos>"; cut at num_steps).
 * Returns NULL (rows = cols = 0) without attention. The labels: */
S2S_API const float *s2s_translation_attention(const s2s_translation *r, int i, int *rows, int *cols);
S2S_API const char *s2s_translation_source_token(const s2s_translation *r, int i, int col);
S2S_API const char *s2s_translation_target_token(const s2s_translation *r, int i, int row);
/* The same for sentence i's hypothesis k (0 = the best, as above; k < s2s_translation_hyps):
 * its own rows and target labels, the same columns and source labels. */
S2S_API const float *s2s_translation_hyp_attention(const s2s_translation *r, int i, int k, int *rows, int *cols);
S2S_API const char *s2s_translation_hyp_target_token(const s2s_translation *r, int i, int k, int row);
S2S_API void s2s_translation_free(s2s_translation *r);

/* ---- training ----------------------------------------------------------------------------
 * d2l's train_seq2seq on a corpus, as `seq2seq train` runs it (the same numbers for the same
 * options, seed and threads): read the pairs, build the vocabularies (tokens seen at least
 * twice), initialise, then Adam with clipping on shuffled batches. Validation, early stopping
 * and resuming a run from a state file are the program's, not here. */
typedef struct s2s_training s2s_training;

typedef struct s2s_train_options {
    int size;                  /* sizeof(s2s_train_options) */
    const char *data;          /* pairs file "English<TAB>Other" (UTF-8), or NULL with src/tgt */
    const char *src, *tgt;     /* two line-aligned files, one sentence a line */
    int pairs;                 /* read the first N lines (d2l's num_examples = N-1); 0 = all: 601 */
    const char *model;         /* "attn" (Bahdanau attention) or "plain": "attn" */
    int embed, hidden, layers; /* 32, 32, 2 */
    float dropout;             /* 0.1 */
    int num_steps;             /* tokens per sentence (truncate_pad): 10 */
    int batch;                 /* 64 */
    float lr;                  /* Adam's learning rate: 0.005 */
    unsigned long long seed;   /* initialisation, shuffling and dropout: 1 */
    int threads;               /* each batch cut into this many slices trained side by side: 1 */
    /* model families beside d2l's (NULL / 0: d2l's GRU, one direction, as `model` says) */
    const char *attention;     /* "bahdanau", "luong-dot", "luong-general" or "none" (decides over model) */
    const char *cell;          /* "gru" or "lstm" */
    const char *encoder;       /* "uni" or "bi" */
    int input_feed;            /* 1: Luong's input feeding */
    int tie_embeddings;        /* 1: the output layer shares the decoder's embedding (embed = hidden) */
    /* The tokenizer (seq2seq train --tokenizer ...; README, "Subwords and cased text"): */
    const char *tokenizer;     /* "d2l" (d2l's words, lowercased) or "spm" (SentencePiece pieces of raw,
                                * cased text; stored in the model file): "d2l" */
    int vocab_size;            /* spm trained here: pieces per model (a bound): 8000 */
    const char *spm_type;      /* spm trained here: "unigram" or "bpe": "unigram" */
    int spm_joint;             /* spm trained here: one model for both sides (1) or one per side: 0 */
    double character_coverage; /* spm trained here: in [0.98, 1]: 1.0 */
    const char *spm_model;     /* spm: a model spm_train wrote, for both sides, instead: NULL */
    const char *spm_src, *spm_tgt; /* spm: one such model per side, instead: NULL */
    /* The recipe for real data (seq2seq train's options of the same names; README, "Real data"):
     * 0 / NULL keep d2l's behaviour. */
    int batch_tokens;          /* batches of at most this many positions, length-bucketed; the loss is then
                                * the mean per target token: 0 (d2l's batches of `batch` pairs) */
    int max_len;               /* drop the pairs with a side of more tokens (num_steps must be at least
                                * max_len + 1): 0 (d2l's truncation at num_steps) */
    float label_smoothing;     /* PyTorch's CrossEntropyLoss(label_smoothing): 0 */
    const char *lr_schedule;   /* "constant" or "inverse-sqrt" (the program's "plateau" needs its
                                * validation, its "linear" its --max-updates/--max-time): "constant" */
    int warmup;                /* updates of linear warm-up (inverse-sqrt: at least 1): 0 */
    float clip;                /* gradient norm clipping: 1 */
    const char *gemm;          /* which code computes the matrix products: "own" (our AVX-512 kernel;
                                * refused where the build has none) or "blas" (OpenBLAS); NULL: "own"
                                * where the build has it, else "blas" (the program's S2S_GEMM);
                                * "bf16": every product with its operands rounded to bfloat16 and
                                * float sums (weights, gradients, Adam in float; needs AVX512-BF16;
                                * not float's numbers); "int8" is for translation, refused here */
} s2s_train_options;
S2S_API void s2s_train_options_init(s2s_train_options *o);

/* Reads the corpus and builds the model; nothing is trained yet. */
S2S_API int s2s_training_open(const s2s_train_options *o, s2s_training **out, s2s_err *err);
S2S_API void s2s_training_close(s2s_training *t);

typedef struct s2s_train_progress {
    int epoch;          /* the epoch this is about, 1-based */
    int done, total;    /* pairs of the epoch trained so far, pairs in an epoch */
    double loss;        /* mean loss per target token so far (the epoch's: d2l's printed figure) */
    double tokens;      /* target tokens so far */
    double seconds;     /* training time so far (callbacks not counted) */
} s2s_train_progress;
/* Returns 0 to go on, non-zero to stop the epoch after this batch. */
typedef int (*s2s_train_callback)(void *ctx, const s2s_train_progress *p);

/* Trains one epoch (or the rest of one a callback stopped), calling on_batch (may be NULL)
 * after each batch; *out (may be NULL) receives the epoch's figures (done < total when
 * stopped). */
S2S_API int s2s_training_epoch(s2s_training *t, s2s_train_callback on_batch, void *ctx, s2s_train_progress *out,
                               s2s_err *err);
/* Writes the model file (atomically), which s2s_translator_open and `seq2seq` read. */
S2S_API int s2s_training_save(const s2s_training *t, const char *path, s2s_err *err);
/* Epochs completed; training pairs; vocabulary sizes (side 0 source, 1 target); parameters. */
S2S_API int s2s_training_epochs(const s2s_training *t);
S2S_API int s2s_training_pairs(const s2s_training *t);
S2S_API int s2s_training_vocab_size(const s2s_training *t, int side);
S2S_API long long s2s_training_parameters(const s2s_training *t);

/* ---- scoring ----------------------------------------------------------------------------- */
/* d2l's bleu(pred, label, k) on space-separated tokens; NaN if either is NULL. */
S2S_API double s2s_bleu_sentence(const char *pred, const char *label, int k);
/* Corpus BLEU-4 as sacreBLEU 2.3.1 computes it (13a tokenizer, mixed case, exp smoothing; one
 * reference each), 0..100, into *score. */
S2S_API int s2s_bleu_corpus_score(const char *const *hyps, const char *const *refs, int n, double *score,
                                  s2s_err *err);

#ifdef __cplusplus
}
#endif
#endif
