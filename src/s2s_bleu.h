/* BLEU: d2l's sentence-level bleu(pred, label, k), and corpus BLEU-4 as sacreBLEU computes it. */
#ifndef S2S_BLEU_H
#define S2S_BLEU_H
#include "s2s_common.h"

/* d2l's bleu: tokens split on single spaces; brevity exp(min(0, 1 - len_label/len_pred));
 * product over n=1..k of p_n^(1/2^n). Returns 0 where d2l would divide by zero. */
double s2s_bleu_d2l(const char *pred, const char *label, int k);

typedef enum { S2S_TOK_13A = 0, S2S_TOK_NONE } s2s_bleu_tok;
typedef struct s2s_corpus_bleu {
    double score;            /* 0..100 */
    double precisions[4];    /* percent */
    double bp;
    long sys_len, ref_len;
    long correct[4], total[4];
} s2s_corpus_bleu;
/* Corpus BLEU-4 like sacreBLEU's defaults (exp smoothing... see s2s_bleu.c), one reference per
 * hypothesis. `signature` receives e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.0.0". */
int s2s_bleu_corpus(const char *const *hyps, const char *const *refs, int n, s2s_bleu_tok tok,
                    s2s_corpus_bleu *out, char *signature, size_t sig_len, s2s_err *err);
#endif
