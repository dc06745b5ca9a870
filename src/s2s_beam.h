/* Beam search over the decoder: several sentences at once, each occupying up to K rows of the
 * workspace (its live hypotheses), with length normalisation and an exact early-stopping bound. The search core
 * (s2s_beam_run) only sees a step callback, so it can be tested on hand-written tables.
 *
 * Scoring. A hypothesis' raw score is the sum of the log-probabilities of its generated tokens,
 * <eos> included when it ended with one. Its normalised score is raw / steps^alpha where steps
 * counts the generated tokens including <eos> (so an immediate <eos> has steps = 1, never 0;
 * a hypothesis cut at max_len has steps = max_len). alpha = 0 ranks by raw sums.
 *
 * Each step takes, per sentence, the top K of (live raw score + log p) over the live
 * hypotheses' K*V candidates. Candidates ending in <eos> become finished; the others are the
 * next step's live hypotheses (so fewer than K may be live). At step 0 only one hypothesis
 * (<bos>) is live per sentence: the other rows are not candidates at all (as if -inf), so the
 * K copies of the start cannot fill the beam with duplicates.
 *
 * Stopping, per sentence: no live hypothesis left; or max_len steps done (live hypotheses are
 * then finished as they are, without <eos>); or nbest hypotheses are finished and the nbest-th
 * best normalised score is >= the best score any live hypothesis could still reach. The bound:
 * a live hypothesis with raw sum s (<= 0) after l tokens ends with some length l' in
 * [min(l+1, max_len), max_len] and a raw sum s' <= s (log-probabilities are <= 0), so its final
 * score s'/l'^alpha <= s/l'^alpha (l'^alpha > 0). For a fixed s, s/l'^alpha is monotone in l'
 * whatever the signs of s and alpha, so its maximum over the interval is at one of the two ends:
 * bound = max(s/(l+1)^alpha, s/max_len^alpha). With alpha > 0 and s < 0 that is s/max_len^alpha
 * (a longer hypothesis divides by more); with alpha = 0 it is s itself. The bound is exact, so
 * stopping early never changes the result of the search.
 *
 * Ties between candidates with equal scores go to the lower live slot, then (within one slot)
 * to the larger log-probability, then to the lower token id. With K = 1 there is one slot, so
 * the order is that of the log-probabilities with the first maximum winning, as s2s_greedy's
 * argmax: beam 1 returns greedy's tokens exactly. */
#ifndef S2S_BEAM_H
#define S2S_BEAM_H
#include <stdint.h>

#include "s2s_common.h"
#include "s2s_model.h"

typedef struct s2s_beam_opts {
    int beam;            /* K >= 1 */
    float alpha;         /* length normalisation exponent (1.0; 0 = raw sums) */
    int max_len;         /* at most this many generated tokens per sentence (>= 1) */
    float max_len_ratio; /* > 0: sentence i gets min(max_len, ceil(ratio * src_len[i])), >= 1 */
    int nbest;           /* hypotheses returned per sentence, 1 .. K */
    int want_attn;       /* 1: the attention rows of each hypothesis returned */
} s2s_beam_opts;

/* beam 4, alpha 1, max_len 10 (d2l's num_steps), no ratio, nbest 1, no attention. */
void s2s_beam_opts_default(s2s_beam_opts *o);

typedef struct s2s_beam_hyp {
    int32_t *tokens;     /* [len] ids without <eos> */
    int len;
    int ended;           /* 1: ended with <eos>; 0: cut at max_len */
    double logprob;      /* raw sum of log p over the len + ended generated tokens */
    double score;        /* logprob / (len + ended)^alpha */
    float *attn;         /* want_attn: [len + ended, attn_T] the attention rows of its own
                          * steps; else NULL */
} s2s_beam_hyp;

typedef struct s2s_beam_result {
    int n_hyps;          /* 1 .. nbest, best first (by score) */
    s2s_beam_hyp *hyps;
    int attn_steps, attn_T;
    float *attn;         /* want_attn: hyps[0].attn (the same array, owned there), with
                          * attn_steps = its len + ended rows; else NULL */
} s2s_beam_result;

/* Frees what r owns (not r itself) and zeroes it; safe on a zeroed result. */
void s2s_beam_result_free(s2s_beam_result *r);

/* Translates n sentences (src [n,T] with T = the workspace's steps, src_len [n]) with the
 * model, in chunks of floor(max_B / K) sentences (the workspace needs max_B >= K).
 * out[n] is filled (the caller frees each with s2s_beam_result_free); on error every out[i]
 * is left zeroed. */
int s2s_beam_search(const s2s_model *m, s2s_ws *ws, int n, const int32_t *src, const int32_t *src_len,
                    const s2s_beam_opts *o, s2s_beam_result *out, s2s_err *err);
/* The same over an ensemble of nm models (ms[k] on its own workspace wss[k]; every workspace of
 * the same rows, steps and output vocabulary, with sources of one tokenizer): each step's
 * log-probabilities are the mean of the models' log-softmax outputs (OpenNMT-py's ensemble
 * decoding; Marian sums them, which ranks the same up to the length normalisation's scale), and
 * the attention weights returned are the mean of the models' (zeros from a model without
 * attention). nm = 1 is s2s_beam_search, bit for bit. */
int s2s_beam_search_ensemble(const s2s_model *const *ms, s2s_ws *const *wss, int nm, int n, const int32_t *src,
                             const int32_t *src_len, const s2s_beam_opts *o, s2s_beam_result *out, s2s_err *err);

/* ---- the search core -------------------------------------------------------------------
 * One decoder step over `rows` rows, one per live hypothesis of the sentences still searching
 * (sentence by sentence, in order; at most n*K): first, if from is not NULL, row i takes the
 * state of the previous step's row from[i]; then row i is fed tokens[i] and the step writes
 * logprobs [rows,V] (log-softmax) and, if attn is not NULL, attn [rows,Ta]. The first call has
 * rows = n, row j holding sentence j's start state. Finished sentences and hypotheses leave the
 * rows, so a step costs what the live hypotheses need. */
typedef void (*s2s_beam_step_fn)(void *ctx, int rows, const int *from, const int32_t *tokens,
                                 float *logprobs, float *attn);

/* Runs the search for n sentences with per-sentence step limits max_len[n] (>= 1), using
 * o->beam, alpha, nbest and want_attn (o->max_len and max_len_ratio are ignored here). */
int s2s_beam_run(int n, int V, int Ta, const int *max_len, const s2s_beam_opts *o, s2s_beam_step_fn step,
                 void *ctx, s2s_beam_result *out, s2s_err *err);
#endif
