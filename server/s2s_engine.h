/* The server's one door to translation: a loaded model, or an ensemble of models, that
 * translates a batch of raw sentences with given decoding options, from several worker threads
 * at once. Everything the server knows about models goes through these calls; behind them is
 * the library's translator handle (include/seq2seq.h). */
#ifndef S2S_ENGINE_H
#define S2S_ENGINE_H
#include "s2s_common.h"

/* How to decode one batch; sentences are batched together only when these are all equal. */
typedef struct s2s_decode_opts {
    int beam;       /* 1 = greedy */
    int nbest;      /* hypotheses returned per sentence, 1 .. beam */
    float alpha;    /* length normalisation exponent of beam search */
    int attention;  /* 1: attention weights and tokens for every hypothesis */
} s2s_decode_opts;

/* A hypothesis; its attention, when asked for and the model (every model of an ensemble) has
 * it: rows = its target tokens (the output, and the <eos> step if it ended), columns = the
 * sentence's source tokens. */
typedef struct s2s_engine_hyp {
    char *text;     /* the translation, tokens joined by spaces (malloc'd) */
    double score;   /* summed log-probabilities / length^alpha (as a beam search's, also at beam 1) */
    int n_tgt;      /* attention rows (0 without attention) */
    char **tgt_tokens; /* [n_tgt] (malloc'd strings) */
    float *attn;    /* [n_tgt, n_src], each row sums to 1 */
} s2s_engine_hyp;

/* One sentence's translation. */
typedef struct s2s_engine_result {
    int n_hyps;                 /* 1 .. nbest, best first */
    s2s_engine_hyp *hyps;
    int n_src;                  /* attention's columns (0 without attention) */
    char **src_tokens;          /* [n_src] the source tokens as the model read them (preprocessed
                                 * words or pieces, cut at num_steps, then <eos>; malloc'd) */
    char *error;                /* non-NULL: the model cannot take this sentence (the input is at
                                 * fault; the message says why) and the rest is empty */
} s2s_engine_result;

typedef struct s2s_engine s2s_engine;

/* Loads the model files paths[0..n) (n = 1: one model; 2 .. S2S_MAX_ENSEMBLE: an ensemble,
 * s2s_translator_open_ensemble, which names the first difference of models that do not go
 * together) for up to `threads` concurrent translate calls of at most max_sentences sentences
 * each at beam max_beam (a workspace for a full batch at beam 1 is made now), its products
 * computed by `gemm` (s2s_translator_options.gemm; NULL: the default). The paths are read
 * here only. The caller closes it with s2s_engine_close. */
int s2s_engine_open(const char *const *paths, int n, int threads, int max_sentences, int max_beam, const char *gemm,
                    s2s_engine **out, s2s_err *err);
/* Translates src[0..n) (UTF-8, NUL-terminated) as one batch into out[0..n), which the caller
 * frees with s2s_engine_result_free each. A sentence the model cannot take gets its `error`
 * and the others their translations; S2S_ERR (out[] left zeroed) only when the batch as a whole
 * failed (out of memory). Thread-safe. */
int s2s_engine_translate(s2s_engine *e, const char *const *src, int n, const s2s_decode_opts *o,
                         s2s_engine_result *out, s2s_err *err);
void s2s_engine_result_free(s2s_engine_result *r);
/* A one-line description of the model for /health ("attn, embed 32, hidden 32, ..."); of an
 * ensemble, "ensemble of N models, the first: attn, embed 32, ..." (the library gives the first
 * model's metadata only). */
const char *s2s_engine_describe(const s2s_engine *e);
void s2s_engine_close(s2s_engine *e);
#endif
