/* Shared helpers of the seq2seq command-line program: fatal errors, option values. */
#ifndef S2S_CLI_H
#define S2S_CLI_H
#include <stdint.h>
#include <stdio.h>

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
long parse_int(const char *opt, const char *s, long lo, long hi);
double parse_num(const char *opt, const char *s, double lo, double hi, int hi_open);

/* Walks argv: options "--name value" or flags; positional arguments are collected. */
typedef struct args { int argc, i; char **argv; const char *cmd; } args;
int next_opt(args *a, const char **name);
const char *val(args *a, const char *name);
double now_s(void);

int cmd_data(args *a);
int cmd_train(args *a);
int cmd_translate(args *a);
int cmd_attention(args *a);
int cmd_eval(args *a);
int cmd_info(args *a);
int cmd_bleu(args *a);

/* Reading input: every line of a stream (NUL bytes refused, line ends removed), a file opened
 * or a one-line death. */
char **read_lines(FILE *f, const char *name, int *n_out);
char *chomp(char *s);
FILE *open_in(const char *path);
/* The same file: the same path, or both exist and are one inode (a link, "./x", "d/../x"). */
int same_file(const char *a, const char *b);

struct s2s_vocab;
/* The tokens ids[0..n) joined by spaces (malloc'd). */
char *join_tokens(const struct s2s_vocab *tv, const int32_t *ids, int n);

#include "s2s_model.h"
typedef struct train_cfg {
    const char *data, *src, *tgt, *out, *plot;
    const char *valid;  /* --valid FILE: validation pairs from a separate file */
    s2s_config mc;
    int pairs, batch, epochs, threads, save_every, resume, log_every, quiet;
    int valid_pairs;    /* --valid-pairs N: N pairs held out of the pairs read (0 = none) */
    int valid_count;    /* --valid-count N: first N lines of --valid (0 = all) */
    int valid_every;    /* validation every E epochs (10 when there is a validation set, else 0) */
    int early_stop;     /* --early-stop P: stop after P checks without a better BLEU (0 = off) */
    double lr;
    unsigned long long seed;
} train_cfg;
/* Parses and checks `seq2seq train` options; dies (one line) on anything wrong. */
void train_parse(args *a, train_cfg *out);
#ifdef S2S_FUZZ
#include <setjmp.h>
extern jmp_buf s2s_fuzz_jmp;
#endif
/* Path of d2l's fra-eng corpus in the cache, downloaded first if missing; dies on failure. */
const char *data_default_corpus(int quiet);
#endif
