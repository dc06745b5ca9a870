/* BLEU: d2l's sentence-level bleu(pred, label, k), and corpus BLEU-4 as sacreBLEU computes it. */
#ifndef S2S_BLEU_H
#define S2S_BLEU_H
#include "s2s_common.h"

/* d2l's bleu: tokens split on single spaces (so "" is one empty token, as in Python);
 * brevity exp(min(0, 1 - len_label/len_pred)); product over n=1..k of p_n^(1/2^n), where
 * p_n counts each label n-gram at most as often as it occurs in the label.
 * Returns 0 where d2l would divide by zero (k > number of pred tokens), NAN if out of memory
 * or pred/label is NULL. */
double s2s_bleu_d2l(const char *pred, const char *label, int k);

typedef enum { S2S_TOK_13A = 0, S2S_TOK_NONE } s2s_bleu_tok;
typedef struct s2s_corpus_bleu {
    double score;            /* 0..100 */
    double precisions[4];    /* percent */
    double bp;
    long sys_len, ref_len;
    long correct[4], total[4];
} s2s_corpus_bleu;
/* Corpus BLEU-4 exactly as sacreBLEU 2.3.1's corpus_bleu with its defaults: tokenizer 13a (or
 * none), mixed case, smooth_method 'exp', effective_order off; one reference per hypothesis.
 * n-gram matches and lengths are summed over the corpus before the score is formed.
 * Errors (S2S_ERR, message in err): n <= 0, a NULL string, an empty reference (sacreBLEU raises
 * there too), out of memory. `signature` (may be NULL) receives
 * "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.3.1|impl:seq2seq-1.0.0" (tok:none
 * for S2S_TOK_NONE): sacreBLEU's fields and its version, whose numbers these are, then what
 * computed them (this library, S2S_VERSION_STRING), so the score does not read as sacreBLEU's run. */
int s2s_bleu_corpus(const char *const *hyps, const char *const *refs, int n, s2s_bleu_tok tok,
                    s2s_corpus_bleu *out, char *signature, size_t sig_len, s2s_err *err);

/* sacreBLEU's Tokenizer13a on one line (the mteval-v13a tokenisation): on success *out is a
 * malloc'd string, tokens joined by single spaces, that the caller frees. */
int s2s_bleu_tokenize_13a(const char *line, char **out, s2s_err *err);
#endif
