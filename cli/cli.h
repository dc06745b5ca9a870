/* Shared helpers of the seq2seq command-line program: fatal errors, option values. */
#ifndef S2S_CLI_H
#define S2S_CLI_H
#include <stdint.h>
#include <stdio.h>

#include "s2s_linalg.h"
#include "seq2seq.h"

/* Exit statuses, the same for every command: 0 done, 1 error (bad input, a failed write...),
 * 2 usage (an unknown option, a bad option value, a missing argument), 130 interrupted. */
enum { EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };
/* One line "seq2seq: ..." on stderr, then exit 1 (die) or 2 (die_usage). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* exit(status), or in the option fuzzer's build a jump back to it. */
void cli_exit(int status) __attribute__((noreturn));
/* When set, die() and die_usage() hand it their status and message instead of printing and
 * exiting; it must not return (train under MPI: the ranks agree on the failure, cli/dist.c). */
extern void (*die_hook)(int status, const char *msg);
/* The S2S_GEMM environment variable, read once by main: which code computes the products of
 * everything the program creates (passed in the trainer's and the translator's options);
 * g_gemm_name is NULL (the default) or "own" / "blas", the API's spelling. */
extern s2s_gemm_kind g_gemm;
extern const char *g_gemm_name;
long parse_int(const char *opt, const char *s, long lo, long hi);
double parse_num(const char *opt, const char *s, double lo, double hi, int hi_open);
/* --threads for commands whose results do not depend on it (translate, eval): 1..1024, used up
 * to the CPUs this process may run on (a note on stderr says so when fewer). */
int parse_threads(const char *opt, const char *s);
enum { CLI_MAX_THREADS = 64 };
int online_cpus(void);

/* Walks argv: options "--name value" or flags; positional arguments are collected. "--" ends
 * the options (it is not returned); "--help" and "-h" print the command's usage and exit 0. */
typedef struct args {
    int argc, i;
    char **argv;
    const char *cmd;
    int no_more_opts;  /* "--" was seen */
    int positional;    /* the argument next_opt returned is positional (after "--", "-", or no '-') */
} args;
int next_opt(args *a, const char **name);
const char *val(args *a, const char *name);
/* "seq2seq: CMD: message (see 'seq2seq CMD --help')", exit 2. */
void usage_error(const args *a, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void unknown_option(const args *a, const char *o) __attribute__((noreturn));
/* --model given once or more (translate, eval, attention, serve): one model, or an ensemble
 * (seq2seq.h) of up to S2S_MAX_ENSEMBLE; the paths are argv's. */
typedef struct models {
    const char *path[S2S_MAX_ENSEMBLE];
    int n;
} models;
/* Option o's value appended to m; a usage error past S2S_MAX_ENSEMBLE. */
void add_model(args *a, models *m, const char *o);
/* Prints a command's usage (every command's for NULL or an unknown name). */
void command_usage(const char *cmd, FILE *f);
double now_s(void);

int cmd_data(args *a);
int cmd_train(args *a);
int cmd_translate(args *a);
int cmd_attention(args *a);
int cmd_eval(args *a);
int cmd_info(args *a);
int cmd_bleu(args *a);
int cmd_serve(args *a);
int cmd_tokenize(args *a);
int cmd_average(args *a);

/* Reading input: every line of a stream (NUL bytes and invalid UTF-8 refused, naming the
 * 1-based line; line ends removed), a file opened or a one-line death. */
char **read_lines(FILE *f, const char *name, int *n_out);
void free_lines(char **lines, int n);
char *chomp(char *s);
char *str_cat(const char *a, const char *b);  /* a + b, malloc'd */
/* Dies unless a command-line argument (a sentence) is valid UTF-8, naming it as an argument. */
void check_utf8_arg(const args *a, const char *s);
FILE *open_in(const char *path);
/* The same file: the same path, or both exist and are one inode (a link, "./x", "d/../x"). */
int same_file(const char *a, const char *b);

/* Files a command reads and writes, checked before any work (check_files). kind, for outputs:
 * OUT_FILE (written whole through s2s_out: a regular file or a new one, a symbolic link to
 * one), OUT_PICTURE (the same, named .png or .svg), OUT_TEXT (the same, or a stream: "-" for
 * standard output, a character device such as /dev/stdout, a FIFO). */
enum { OUT_FILE, OUT_PICTURE, OUT_TEXT };
typedef struct io_file { const char *what, *path; int kind; } io_file;  /* what: "--out", ... */
/* Dies (one line naming the option) when an output cannot be written as its kind (empty name,
 * missing directory, a device or directory, a name too long, an unsupported picture
 * extension...), is the same file as an input (by path or inode), or two outputs are one
 * file. Entries with a NULL path are skipped. Touches no file. */
void check_files(const char *cmd, const io_file *out, int n_out, const io_file *in, int n_in);

/* A text output of translate or eval: standard output (path NULL or "-"), a stream, or a file
 * written whole (removed if the program dies or is interrupted before output_close). */
#include "s2s_output.h"
typedef struct cli_out { FILE *f; s2s_out staged; const char *what, *path; } cli_out;
void output_open(cli_out *c, const char *what, const char *path);
/* Commits the file (or closes the stream); dies on a write error. Standard output is left to
 * close_stdout. */
void output_close(cli_out *c);
/* Removes the temporary files of outputs not yet closed; async-signal-safe (for Ctrl-C). */
void unlink_staged(void);
/* At the end of main: returns rc, or 1 with a message when what was printed on standard
 * output did not all reach it (coreutils' close_stdout). */
int close_stdout(int rc);

#include "s2s_text.h"
/* Pair i's source (side 0) or target (side 1) tokens joined by spaces: the preprocessed
 * sentence, or the raw one of pairs read raw (malloc'd). pair_reference: the target, as a BLEU reference; an empty one is an
 * error naming the file and its line ("what" says who asks: "eval", "validation"). */
char *pair_text(const s2s_pairs *p, int i, int side);
char *pair_reference(const s2s_pairs *p, int i, const char *file, const char *what);

struct s2s_tok;
/* The text of output ids[0..n) (s2s_tok_decode: tokens joined by spaces for d2l, detokenized
 * text for spm), malloc'd; dies on failure. */
char *decode_ids(const struct s2s_tok *t, const int32_t *ids, int n);

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
    int keep_checkpoints; /* --keep-checkpoints N: the weights of the last N checks, for averaging (0 = off) */
    int allreduce;      /* --allreduce: S2S_REDUCE_ORDERED (ordered) or S2S_REDUCE_MPI (mpi) */
    /* the recipe for real data (0: d2l's behaviour) */
    int batch_tokens;   /* --batch-tokens N: length-bucketed batches of at most N positions */
    int max_len;        /* --max-len N: pairs with a side of more than N tokens are dropped */
    int steps_given;    /* --steps was given (else --max-len sets it to N + 1) */
    double smoothing;   /* --label-smoothing E */
    int lr_schedule;    /* --lr-schedule (s2s_lr_schedule) */
    int warmup;         /* --warmup N updates */
    int lr_patience;    /* --lr-patience P: plateau lowers the rate after P + 1 checks in a row without
                         * a higher BLEU */
    double lr_factor;   /* --lr-factor F: plateau's factor */
    int valid_every_steps; /* --valid-every-steps N: validation every N updates instead of epochs */
    double clip;        /* --clip X: gradient norm clipping (d2l's 1) */
    double max_time;    /* --max-time S: stop (and save) S seconds after the start (0: no limit) */
    double t_start;     /* now_s() when the command started */
    long max_updates;   /* --max-updates N: stop (and save) after update N in all (0: no limit) */
    double lr;
    unsigned long long seed;
    /* --tokenizer d2l|spm and SentencePiece's options (s2s_tok.h) */
    int spm;                 /* 0: d2l (the default), 1: SentencePiece */
    int vocab_size;          /* --vocab-size N: pieces per trained model (8000) */
    int spm_bpe, spm_joint;  /* --spm-type bpe; --spm-joint: one model for both sides */
    double coverage;         /* --character-coverage (1.0) */
    const char *spm_model, *spm_src, *spm_tgt;  /* models from files instead of training */
} train_cfg;
/* The held-out rule of --valid-pairs and `data split`: of n pairs, validation pair k (0 <= k < nv)
 * is pair floor((2k+1) n / (2 nv)); the others, in order, are the training pairs (tidx). */
void valid_split(int n, int nv, int *vidx, int *tidx);
/* Parses and checks `seq2seq train` options; dies (one line) on anything wrong. */
void train_parse(args *a, train_cfg *out);
#ifdef S2S_FUZZ
#include <setjmp.h>
extern jmp_buf s2s_fuzz_jmp;
#endif
/* The train command's MPI job (cli/dist.c). job_open joins it (NULL: one process, then the
 * rest are no-ops); job_speaks says whether this rank prints and writes (rank 0); job_agree is
 * the start-up check every rank must reach (same options as "--name value" lines, same data and
 * starting state fingerprints), which also reports a rank's earlier die() once; job_lost ends
 * the job after a failed exchange, the speaking rank printing msg and what was saved;
 * job_stalled is the same end for s2s_dist_on_stall's watchdog thread (speaks as it says). */
struct s2s_dist;
struct s2s_dist *job_open(void);
void job_close(void);
int job_speaks(void);
void job_agree(const char *opts, uint64_t data_hash, uint64_t state_hash);
void job_lost(const char *msg, const char *saved) __attribute__((noreturn));
void job_stalled(const char *msg, int speaks, const char *saved) __attribute__((noreturn));
/* A fingerprint for job_agree: the pairs as ids and the vocabularies (either may be NULL), folded
 * into h (the trainer's is s2s_trainer_fingerprint). */
struct s2s_dataset;
uint64_t job_data_hash(uint64_t h, const struct s2s_dataset *d, const struct s2s_vocab *sv, const struct s2s_vocab *tv);

/* Path of d2l's fra-eng corpus in the cache, downloaded first if missing; dies on failure. */
const char *data_default_corpus(int quiet);
#endif
