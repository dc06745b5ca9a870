/* seq2seq: the command-line program over the s2s library. Only this file prints and exits. */
#include <errno.h>
#include <omp.h>
#include <setjmp.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_beam.h"
#include "s2s_bleu.h"
#include "s2s_checkpoint.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_plot.h"
#include "s2s_safetensors.h"
#include "s2s_text.h"
#include "s2s_train.h"

/* ---- errors and options --------------------------------------------------------------- */

#ifdef S2S_FUZZ
jmp_buf s2s_fuzz_jmp;  /* the option-parser fuzz target returns here instead of exiting */
#endif

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
#ifdef S2S_FUZZ
    char sink[256];
    vsnprintf(sink, sizeof sink, fmt, ap);
    va_end(ap);
    longjmp(s2s_fuzz_jmp, 1);
#else
    fputs("seq2seq: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
#endif
}

long parse_int(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) die("%s: '%s' is not a whole number", opt, s);
    if (v < lo || v > hi) die("%s: %ld is out of range (%ld .. %ld)", opt, v, lo, hi);
    return v;
}

double parse_num(const char *opt, const char *s, double lo, double hi, int hi_open) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) die("%s: '%s' is not a finite number", opt, s);
    if (v < lo || v > hi || (hi_open && v == hi)) die("%s: %g is out of range (%g .. %g%s)", opt, v, lo, hi, hi_open ? ", exclusive" : "");
    return v;
}

int next_opt(args *a, const char **name) {
    if (a->i >= a->argc) return 0;
    *name = a->argv[a->i++];
    return 1;
}
const char *val(args *a, const char *name) {
    if (a->i >= a->argc) die("%s %s: missing value", a->cmd, name);
    return a->argv[a->i++];
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- train ------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }


/* Options stored in the state file as "opt.*": the first N_CHECKED must be the same on
 * --resume; the paths may move (their content is checked through the vocabulary and the
 * number of training pairs). */
static char opt_buf[16][64];
static const char *opt_keys[] = {"opt.model", "opt.pairs", "opt.embed", "opt.hidden", "opt.layers", "opt.dropout",
                                 "opt.batch", "opt.steps", "opt.lr", "opt.seed", "opt.valid-pairs", "opt.valid-count",
                                 "opt.valid-every", "opt.early-stop", "opt.data", "opt.valid"};
enum { N_CHECKED = 14, N_OPTS = 16 };
static void opt_values(const train_cfg *c, const char **v) {
    snprintf(opt_buf[0], 64, "%s", s2s_kind_name(c->mc.kind)); snprintf(opt_buf[1], 64, "%d", c->pairs);
    snprintf(opt_buf[2], 64, "%d", c->mc.embed); snprintf(opt_buf[3], 64, "%d", c->mc.hidden);
    snprintf(opt_buf[4], 64, "%d", c->mc.layers); snprintf(opt_buf[5], 64, "%.9g", (double)c->mc.dropout);
    snprintf(opt_buf[6], 64, "%d", c->batch); snprintf(opt_buf[7], 64, "%d", c->mc.num_steps);
    snprintf(opt_buf[8], 64, "%.9g", c->lr); snprintf(opt_buf[9], 64, "%llu", c->seed);
    snprintf(opt_buf[10], 64, "%d", c->valid_pairs); snprintf(opt_buf[11], 64, "%d", c->valid_count);
    snprintf(opt_buf[12], 64, "%d", c->valid_every); snprintf(opt_buf[13], 64, "%d", c->early_stop);
    for (int i = 0; i < N_CHECKED; i++) v[i] = opt_buf[i];
    v[14] = c->data ? c->data : c->src;
    v[15] = c->valid ? c->valid : "";
}
static int check_resume_opt(const char *key, const char *value, void *ctx, s2s_err *err) {
    const char *v[N_OPTS];
    opt_values(ctx, v);
    for (int i = 0; i < N_CHECKED; i++)
        if (!strcmp(opt_keys[i] + 4, key) && strcmp(v[i], value))
            return s2s_errf(err, "--resume: the run was started with --%s %s, now %s (use the same options)", key, value, v[i]);
    return S2S_OK;
}

static int same_vocab(const s2s_vocab *a, const s2s_vocab *b) {
    if (s2s_vocab_size(a) != s2s_vocab_size(b)) return 0;
    for (int i = 0; i < s2s_vocab_size(a); i++)
        if (strcmp(s2s_vocab_token(a, i), s2s_vocab_token(b, i))) return 0;
    return 1;
}

/* Progress of validation and early stopping; kept in the state file's metadata under
 * "valid.*" so that --resume continues the same count. */
typedef struct valid_run {
    double best_bleu;   /* best validation BLEU so far (-1: no check yet) */
    double best_loss;   /* validation loss at that check */
    int best_epoch;     /* its epoch (0: none) */
    int bad_checks;     /* checks since the last improvement */
} valid_run;
static const char *run_keys[] = {"valid.best_bleu", "valid.best_loss", "valid.best_epoch", "valid.bad_checks"};
enum { N_RUN = 4 };

/* Where the latest weights go: --out itself, or with --early-stop (where --out keeps the best
 * model) OUT without ".safetensors" + ".last.safetensors", else OUT + ".last". */
static void latest_path(const train_cfg *c, char *buf, size_t cap) {
    const char *ext = ".safetensors";
    size_t n = strlen(c->out), ne = strlen(ext);
    if (!c->early_stop) snprintf(buf, cap, "%s", c->out);
    else if (n > ne && !strcmp(c->out + n - ne, ext)) snprintf(buf, cap, "%.*s.last%s", (int)(n - ne), c->out, ext);
    else snprintf(buf, cap, "%s.last", c->out);
}

/* Saves the latest weights and, beside --out, the state for --resume (which describes them). */
static void save_all(const train_cfg *c, const s2s_model *m, const s2s_vocab *sv, const s2s_vocab *tv,
                     const s2s_trainer *tr, const valid_run *vr) {
    s2s_err err;
    char state[4096], latest[4096], rbuf[N_RUN][40];
    snprintf(state, sizeof state, "%s.state", c->out);
    latest_path(c, latest, sizeof latest);
    const char *k[N_OPTS + N_RUN], *v[N_OPTS + N_RUN];
    opt_values(c, v);
    for (int i = 0; i < N_OPTS; i++) k[i] = opt_keys[i];
    snprintf(rbuf[0], 40, "%.17g", vr->best_bleu); snprintf(rbuf[1], 40, "%.17g", vr->best_loss);
    snprintf(rbuf[2], 40, "%d", vr->best_epoch); snprintf(rbuf[3], 40, "%d", vr->bad_checks);
    for (int i = 0; i < N_RUN; i++) { k[N_OPTS + i] = run_keys[i]; v[N_OPTS + i] = rbuf[i]; }
    if (s2s_model_save(latest, m, sv, tv, &err)) die("%s", err.msg);
    if (s2s_state_save(state, tr, k, v, N_OPTS + N_RUN, &err)) die("%s", err.msg);
}

/* --resume: the stored options are checked first, so that a changed option is named as such
 * rather than seen later as a changed vocabulary or number of training pairs. */
static void check_state_opts(const char *state, train_cfg *c) {
    s2s_st_file *f;
    s2s_err err;
    if (s2s_st_read(state, &f, &err)) die("--resume: %s", err.msg);
    for (int i = 0; i < s2s_st_meta_count(f); i++) {
        const char *k, *v;
        s2s_st_meta_at(f, i, &k, &v);
        if (!strncmp(k, "opt.", 4) && check_resume_opt(k + 4, v, c, &err)) die("%s", err.msg);
    }
    s2s_st_free(f);
}

/* Reads the validation progress back from a state file written by save_all. */
static void load_valid_run(const char *state, valid_run *vr) {
    s2s_st_file *f;
    s2s_err err;
    if (s2s_st_read(state, &f, &err)) die("--resume: %s", err.msg);
    double x[N_RUN];
    for (int i = 0; i < N_RUN; i++) {
        const char *s = s2s_st_meta(f, run_keys[i]);
        char *end;
        if (!s) die("--resume: %s has no \"%s\" (it was written without validation; resume without --valid-pairs/--valid)", state, run_keys[i]);
        x[i] = strtod(s, &end);
        if (end == s || *end || !isfinite(x[i]) || x[i] < -1 || x[i] > 1e9)
            die("--resume: %s: \"%s\" = \"%.40s\" is out of range", state, run_keys[i], s);
    }
    vr->best_bleu = x[0]; vr->best_loss = x[1]; vr->best_epoch = (int)x[2]; vr->bad_checks = (int)x[3];
    s2s_st_free(f);
}

/* Fails before any training when the model could not be saved where asked. */
static void check_writable(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) die("--out %s: is a directory; give a file name", path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (access(dir, W_OK) != 0) die("--out %s: cannot write in %s: %s", path, dir, strerror(errno));
}

/* Training loss per epoch; with validation also its loss (left axis) and BLEU (right axis). */
typedef struct curves {
    float *ep, *loss;      /* [n] every epoch trained in this process */
    int n;
    float *vep, *vloss, *vbleu; /* [nv] validation checks */
    int nv;
} curves;
static void draw_curves(const char *path, const curves *cv) {
    s2s_err err;
    s2s_series s[3] = {{"train loss", cv->ep, cv->loss, cv->n, 0},
                       {"valid loss", cv->vep, cv->vloss, cv->nv, 0},
                       {"valid BLEU", cv->vep, cv->vbleu, cv->nv, 1}};
    int ns = cv->nv > 0 ? 3 : 1;
    if (s2s_plot_lines(path, s, ns, "epoch", "loss", ns > 1 ? "BLEU" : NULL, &err)) die("%s", err.msg);
}

/* Parses and checks train's options (no file is touched here). */
void train_parse(args *a, train_cfg *out) {
    train_cfg c = {0};
    c.mc = (s2s_config){S2S_ATTN, 0, 0, 32, 32, 2, 0.1f, 10};
    c.pairs = 601; c.batch = 64; c.epochs = 250; c.threads = 1; c.lr = 0.005; c.seed = 1; c.log_every = 10;
    const char *o;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--data")) c.data = val(a, o);
        else if (!strcmp(o, "--src")) c.src = val(a, o);
        else if (!strcmp(o, "--tgt")) c.tgt = val(a, o);
        else if (!strcmp(o, "--out")) c.out = val(a, o);
        else if (!strcmp(o, "--plot")) c.plot = val(a, o);
        else if (!strcmp(o, "--model")) {
            const char *k = val(a, o);
            if (!strcmp(k, "attn")) c.mc.kind = S2S_ATTN;
            else if (!strcmp(k, "plain")) c.mc.kind = S2S_PLAIN;
            else die("--model: '%s' is not attn or plain", k);
        }
        else if (!strcmp(o, "--pairs")) c.pairs = (int)parse_int(o, val(a, o), 0, 1000000000);
        else if (!strcmp(o, "--embed")) c.mc.embed = (int)parse_int(o, val(a, o), 1, 65536);
        else if (!strcmp(o, "--hidden")) c.mc.hidden = (int)parse_int(o, val(a, o), 1, 65536);
        else if (!strcmp(o, "--layers")) c.mc.layers = (int)parse_int(o, val(a, o), 1, S2S_MAX_LAYERS);
        else if (!strcmp(o, "--dropout")) c.mc.dropout = (float)parse_num(o, val(a, o), 0, 1, 1);
        else if (!strcmp(o, "--batch")) c.batch = (int)parse_int(o, val(a, o), 1, 1000000);
        else if (!strcmp(o, "--steps")) c.mc.num_steps = (int)parse_int(o, val(a, o), 1, 4096);
        else if (!strcmp(o, "--lr")) c.lr = parse_num(o, val(a, o), 0, 1e3, 0);
        else if (!strcmp(o, "--epochs")) c.epochs = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--seed")) c.seed = (unsigned long long)parse_int(o, val(a, o), 0, 0x7fffffffffffffffL);
        else if (!strcmp(o, "--threads")) c.threads = (int)parse_int(o, val(a, o), 1, 1024);
        else if (!strcmp(o, "--save-every")) c.save_every = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--log-every")) c.log_every = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--resume")) c.resume = 1;
        else if (!strcmp(o, "--quiet")) c.quiet = 1;
        else if (!strcmp(o, "--valid")) c.valid = val(a, o);
        else if (!strcmp(o, "--valid-pairs")) c.valid_pairs = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--valid-count")) c.valid_count = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--valid-every")) c.valid_every = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--early-stop")) c.early_stop = (int)parse_int(o, val(a, o), 1, 100000000);
        else die("train: unknown option '%s' (see 'seq2seq help')", o);
    }
    if (c.valid && c.valid_pairs) die("train: give either --valid-pairs N or --valid FILE, not both");
    if (c.valid_count && !c.valid) die("train: --valid-count goes with --valid FILE");
    if (!c.valid && !c.valid_pairs && (c.valid_every || c.early_stop))
        die("train: --%s needs a validation set (--valid-pairs N or --valid FILE)", c.valid_every ? "valid-every" : "early-stop");
    if ((c.valid || c.valid_pairs) && !c.valid_every) c.valid_every = 10;
    if (!c.out) die("train: --out MODEL is required");
    if (c.data && (c.src || c.tgt)) die("train: give either --data or --src/--tgt, not both");
    if ((c.src != NULL) != (c.tgt != NULL)) die("train: --src and --tgt go together");
    *out = c;
}

/* Refuses sizes whose parameters, gradients, Adam moments and activations cannot fit in this
 * machine's memory, before anything is allocated (Linux would rather kill us later). */
static void check_memory(const s2s_config *mc, int batch) {
    double need = (double)s2s_ws_estimate(mc, batch, mc->num_steps) + 4.0 * sizeof(float) * (double)s2s_param_count(mc);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * psize : 0;
    if (have > 0 && need > have)
        die("train: this configuration needs %.1f GiB of memory (parameters, gradients, Adam moments and one batch's activations) but the machine has %.1f GiB; lower --batch, --hidden, --embed, --steps or --pairs",
            need / 1073741824.0, have / 1073741824.0);
}

/* ---- validation ------------------------------------------------------------------------- */

/* --valid-pairs: validation pair k (0 <= k < nv) is pair floor((2k+1) n / (2 nv)) of the n pairs
 * read, the middle of the k-th of nv equal slices. The set is spread over the whole file (d2l's
 * corpus is sorted by length, so the last N pairs would be only the longest sentences), does not
 * depend on --seed, and has nv distinct pairs since each slice is at least one pair wide
 * (nv < n). The others, in file order, are the training pairs. */
static void split_indices(int n, int nv, int *vidx, int *tidx) {
    int k = 0, t = 0;
    for (int i = 0; i < n; i++) {
        if (k < nv && i == (int)((2LL * k + 1) * n / (2LL * nv))) vidx[k++] = i;
        else tidx[t++] = i;
    }
}

static char *join_tokens(const s2s_vocab *tv, const int32_t *ids, int n);

typedef struct validator {
    s2s_dataset data;        /* the validation pairs as ids of the training vocabularies */
    char **refs, **hyps;     /* [n] references (target tokens joined by spaces), translations */
    int32_t *out;            /* [B,T] one batch of greedy output */
    int *olen;               /* [B] */
} validator;

static void validator_open(validator *v, const s2s_pairs *p, const s2s_vocab *sv, const s2s_vocab *tv, int T,
                           int B, const char *where) {
    s2s_err err;
    memset(v, 0, sizeof *v);
    if (s2s_dataset_build(p, sv, tv, T, &v->data, &err)) die("%s", err.msg);
    v->refs = calloc((size_t)p->n, sizeof(char *));
    v->hyps = calloc((size_t)p->n, sizeof(char *));
    v->out = malloc(sizeof(int32_t) * (size_t)B * T);
    v->olen = malloc(sizeof(int) * (size_t)B);
    if (!v->refs || !v->hyps || !v->out || !v->olen) die("out of memory");
    for (int i = 0; i < p->n; i++) {
        size_t len = 1;
        for (int k = p->tgt_start[i]; k < p->tgt_start[i + 1]; k++) len += strlen(p->tgt_tok[k]) + 1;
        char *s = malloc(len), *q = s;
        if (!s) die("out of memory");
        *q = 0;
        for (int k = p->tgt_start[i]; k < p->tgt_start[i + 1]; k++) q += sprintf(q, k > p->tgt_start[i] ? " %s" : "%s", p->tgt_tok[k]);
        if (!s[strspn(s, " ")]) die("%s: validation pair %d has an empty target; BLEU needs a reference", where, i + 1);
        v->refs[i] = s;
    }
}

static void validator_close(validator *v) {
    for (int i = 0; i < v->data.n; i++) { free(v->refs[i]); free(v->hyps[i]); }
    free(v->refs); free(v->hyps); free(v->out); free(v->olen);
    s2s_dataset_free(&v->data);
}

/* Validation loss (mean per valid target token, no dropout) and corpus BLEU (sacreBLEU, 13a) of
 * greedy translations, in batches of B on the trainer's workspace. Neither touches the
 * trainer's generator, so training goes on exactly as without validation. */
static void validate(validator *v, s2s_model *m, s2s_ws *ws, int B, const s2s_vocab *tv, double *loss, double *bleu) {
    const int T = v->data.T, n = v->data.n;
    s2s_err err;
    *loss = s2s_eval_loss(m, ws, &v->data, B);
    if (*loss < 0) die("out of memory");
    for (int s = 0; s < n; s += B) {
        int nb = n - s < B ? n - s : B;
        if (s2s_greedy(m, ws, nb, v->data.src + (size_t)s * T, v->data.src_len + s, T, v->out, v->olen, NULL, &err))
            die("%s", err.msg);
        for (int b = 0; b < nb; b++) {
            free(v->hyps[s + b]);
            v->hyps[s + b] = join_tokens(tv, v->out + (size_t)b * T, v->olen[b]);
        }
    }
    s2s_corpus_bleu cb;
    if (s2s_bleu_corpus((const char *const *)v->hyps, (const char *const *)v->refs, n, S2S_TOK_13A, &cb, NULL, 0, &err))
        die("%s", err.msg);
    *bleu = cb.score;
}

static int cmd_train(args *a) {
    train_cfg c;
    train_parse(a, &c);
    check_writable(c.out);
    if (!c.data && !c.src) c.data = data_default_corpus();  /* d2l's fra-eng, fetched into the cache once */
    s2s_set_threads(c.threads);

    s2s_err err;
    s2s_pairs all, pairs, vpairs = {0};
    const char *where = c.data ? c.data : c.src;
    int rc = c.data ? s2s_pairs_read(c.data, c.pairs, &all, &err) : s2s_pairs_read2(c.src, c.tgt, c.pairs, &all, &err);
    if (rc) die("%s", err.msg);
    if (all.skipped && !c.quiet)
        fprintf(stderr, "seq2seq: %s: skipped %d line%s without a tab\n", c.data, all.skipped, all.skipped == 1 ? "" : "s");
    if (c.valid_pairs) {
        if (c.valid_pairs >= all.n)
            die("--valid-pairs %d: %s has only %d pairs (with --pairs %d), which leaves no training pair; ask for at most %d",
                c.valid_pairs, where, all.n, c.pairs, all.n - 1);
        int *vidx = malloc(sizeof(int) * (size_t)c.valid_pairs), *tidx = malloc(sizeof(int) * (size_t)all.n);
        if (!vidx || !tidx) die("out of memory");
        split_indices(all.n, c.valid_pairs, vidx, tidx);
        const char *dbg = getenv("S2S_DEBUG_SPLIT");
        if (dbg && !strcmp(dbg, "1")) {  /* for tests: the split, as 0-based indices into the pairs read */
            fputs("split valid:", stderr);
            for (int i = 0; i < c.valid_pairs; i++) fprintf(stderr, " %d", vidx[i]);
            fputs("\nsplit train:", stderr);
            for (int i = 0; i < all.n - c.valid_pairs; i++) fprintf(stderr, " %d", tidx[i]);
            fputc('\n', stderr);
        }
        if (s2s_pairs_select(&all, vidx, c.valid_pairs, &vpairs, &err) ||
            s2s_pairs_select(&all, tidx, all.n - c.valid_pairs, &pairs, &err))
            die("%s", err.msg);
        free(vidx); free(tidx);
        s2s_pairs_free(&all);
    } else {
        pairs = all;
        if (c.valid) {
            if (s2s_pairs_read(c.valid, c.valid_count, &vpairs, &err)) die("--valid: %s", err.msg);
            if (vpairs.skipped && !c.quiet)
                fprintf(stderr, "seq2seq: %s: skipped %d line%s without a tab\n", c.valid, vpairs.skipped, vpairs.skipped == 1 ? "" : "s");
        }
    }
    const int validating = vpairs.n > 0;
    /* Vocabularies come from the training pairs only: a held-out word is <unk> to the model. */
    s2s_vocab *sv, *tv;
    if (s2s_vocab_build(pairs.src_tok, pairs.src_start[pairs.n], 2, &sv, &err) ||
        s2s_vocab_build(pairs.tgt_tok, pairs.tgt_start[pairs.n], 2, &tv, &err))
        die("%s", err.msg);
    s2s_dataset data;
    if (s2s_dataset_build(&pairs, sv, tv, c.mc.num_steps, &data, &err)) die("%s", err.msg);
    c.mc.src_vocab = s2s_vocab_size(sv);
    c.mc.tgt_vocab = s2s_vocab_size(tv);
    check_memory(&c.mc, c.batch < data.n ? c.batch : data.n);

    char latest[4096], state[4096];
    latest_path(&c, latest, sizeof latest);
    snprintf(state, sizeof state, "%s.state", c.out);
    s2s_model *m;
    s2s_rng rng;
    s2s_rng_seed(&rng, c.seed);
    if (c.resume) {
        check_state_opts(state, &c);
        s2s_vocab *lsv, *ltv;
        if (s2s_model_load(latest, &m, &lsv, &ltv, &err)) die("--resume: %s", err.msg);
        if (!same_vocab(sv, lsv) || !same_vocab(tv, ltv)) die("--resume: %s was trained on other data (its vocabulary differs)", latest);
        const char *names[] = {"embed", "hidden", "layers", "steps"};
        int have[] = {m->cfg.embed, m->cfg.hidden, m->cfg.layers, m->cfg.num_steps};
        int want[] = {c.mc.embed, c.mc.hidden, c.mc.layers, c.mc.num_steps};
        if (m->cfg.kind != c.mc.kind)
            die("--resume: the run was started with --model %s, now %s (use the same options)", s2s_kind_name(m->cfg.kind), s2s_kind_name(c.mc.kind));
        for (int i = 0; i < 4; i++)
            if (have[i] != want[i])
                die("--resume: the run was started with --%s %d, now %d (use the same options)", names[i], have[i], want[i]);
        m->cfg.dropout = c.mc.dropout;
        s2s_vocab_free(lsv); s2s_vocab_free(ltv);
    } else {
        if (s2s_model_create(&c.mc, &m, &err)) die("%s", err.msg);
        s2s_model_init(m, &rng);
    }
    s2s_train_opts to = {c.batch, (float)c.lr, 1.0f, c.threads};
    if (c.threads > 1) s2s_set_blas_threads(1);  /* each shard's thread runs its own products */
    s2s_trainer *tr;
    if (s2s_trainer_create(m, &data, &to, &rng, &tr, &err)) die("%s", err.msg);
    valid_run vr = {-1.0, 0.0, 0, 0};
    if (c.resume) {
        if (s2s_state_load(state, tr, check_resume_opt, &c, &err)) die("--resume: %s", err.msg);
        if (validating) load_valid_run(state, &vr);
        if (!c.quiet) fprintf(stderr, "seq2seq: resuming %s at epoch %d\n", latest, tr->epoch + (tr->pos > 0));
    }
    validator vd;
    if (validating) validator_open(&vd, &vpairs, sv, tv, c.mc.num_steps, tr->opt.batch, c.valid ? c.valid : where);
    if (!c.quiet) {
        fprintf(stderr, "seq2seq: %d pairs, vocab %d/%d, %s model, %zu parameters\n", data.n, c.mc.src_vocab,
                c.mc.tgt_vocab, s2s_kind_name(c.mc.kind), m->n_params);
        if (validating)
            fprintf(stderr, "seq2seq: validation on %d pairs (%s) every %d epochs%s\n", vpairs.n,
                    c.valid ? c.valid : "held out of the training pairs", c.valid_every,
                    c.early_stop ? "; --out keeps the best model" : "");
        /* what the run holds: parameters, gradients and Adam's two moments (plus each extra
         * shard's gradients), the activations of one batch, and the corpus as read */
        double mib = 1048576.0, state = 4.0 * sizeof(float) * m->n_params;
        if (tr->shards > 1) state += (double)tr->shards * sizeof(float) * m->n_params;
        double act = 0;
        for (int s = 0; s < tr->shards; s++) act += (double)s2s_ws_bytes(tr->shard_ws[s]);
        double corpus = (double)s2s_pairs_bytes(&pairs) + (double)data.n * data.T * 4 * 2;
        fprintf(stderr, "seq2seq: memory: %.1f MiB parameters+gradients+Adam, %.1f MiB activations, %.1f MiB corpus = %.1f MiB\n",
                state / mib, act / mib, corpus / mib, (state + act + corpus) / mib);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int tty = isatty(2) && !c.quiet;
    const int n_checks = c.valid_every ? c.epochs / c.valid_every + 1 : 1;
    curves cv = {calloc((size_t)c.epochs + 1, sizeof(float)), calloc((size_t)c.epochs + 1, sizeof(float)), 0,
                 calloc((size_t)n_checks, sizeof(float)), calloc((size_t)n_checks, sizeof(float)),
                 calloc((size_t)n_checks, sizeof(float)), 0};
    if (!cv.ep || !cv.loss || !cv.vep || !cv.vloss || !cv.vbleu) die("out of memory");
    s2s_epoch_stats st = {0};
    double t0 = now_s();
    int start_epoch = tr->epoch, stopped = c.early_stop && vr.bad_checks >= c.early_stop;
    double all_tokens = 0, all_seconds = 0, all_flops = 0;
    if (stopped && !c.quiet)
        fprintf(stderr, "seq2seq: this run already stopped early at epoch %d (no better validation BLEU in %d checks)\n", tr->epoch, vr.bad_checks);
    while (!stopped && tr->epoch < c.epochs) {
        if (s2s_trainer_epoch(tr, &st, &g_stop, &err)) die("%s", err.msg);
        if (!st.complete) break;
        all_tokens += st.tokens; all_seconds += st.seconds; all_flops += st.flops;
        int e = tr->epoch;
        cv.ep[cv.n] = (float)e; cv.loss[cv.n] = (float)st.loss; cv.n++;
        double tps = st.seconds > 0 ? st.tokens / st.seconds : 0.0;
        /* checks at multiples of E only, so a resumed run checks where an uninterrupted one does */
        const int check = validating && e % c.valid_every == 0;
        double vloss = 0, vbleu = 0;
        int improved = 0;
        if (check) {
            validate(&vd, m, tr->ws, tr->opt.batch, tv, &vloss, &vbleu);
            cv.vep[cv.nv] = (float)e; cv.vloss[cv.nv] = (float)vloss; cv.vbleu[cv.nv] = (float)vbleu; cv.nv++;
            improved = vbleu > vr.best_bleu;  /* a tie is no improvement */
            if (improved) { vr.best_bleu = vbleu; vr.best_loss = vloss; vr.best_epoch = e; vr.bad_checks = 0; }
            else vr.bad_checks++;
        }
        char vtxt[128] = "";
        if (check)
            snprintf(vtxt, sizeof vtxt, ", valid loss %.3f, valid BLEU %.2f%s", vloss, vbleu, improved && c.early_stop ? " (best, saved)" : "");
        if (tty) {
            double left = (now_s() - t0) / (e - start_epoch) * (c.epochs - e);
            fprintf(stderr, "\repoch %d/%d  loss %.3f  %.0f tokens/sec  %.0fs left   ", e, c.epochs, st.loss, tps, left);
            if (check) fprintf(stderr, "\repoch %d/%d loss %.3f, %.1f tokens/sec%s\n", e, c.epochs, st.loss, tps, vtxt);
        } else if (!c.quiet && (check || e % c.log_every == 0 || e == c.epochs)) {
            fprintf(stderr, "epoch %d/%d loss %.3f, %.1f tokens/sec%s\n", e, c.epochs, st.loss, tps, vtxt);
        }
        if (c.plot && (check || e % c.log_every == 0 || e == c.epochs)) draw_curves(c.plot, &cv);
        if (improved && c.early_stop) {
            /* the best model, then the latest weights and a state that knows of it */
            if (s2s_model_save(c.out, m, sv, tv, &err)) die("%s", err.msg);
            save_all(&c, m, sv, tv, tr, &vr);
        }
        if (c.save_every && e % c.save_every == 0 && e < c.epochs) save_all(&c, m, sv, tv, tr, &vr);
        if (c.early_stop && vr.bad_checks >= c.early_stop) stopped = 1;
    }
    if (tty) fputc('\n', stderr);
    save_all(&c, m, sv, tv, tr, &vr);
    int status = 0;
    if (g_stop) {
        fprintf(stderr, "seq2seq: interrupted: saved %s at epoch %d (+%d pairs); continue with --resume\n", latest, tr->epoch, tr->pos);
        status = 130;
    } else if (st.seconds > 0) {
        printf("loss %.3f, %.1f tokens/sec on cpu\n", st.loss, st.tokens / st.seconds);
        if (!c.quiet && all_seconds > 0)
            fprintf(stderr, "seq2seq: %d epochs, %.0f target tokens in %.3f s of training: %.1f tokens/sec, %.1f GFLOP/s in products (%d thread%s)\n",
                    tr->epoch - start_epoch, all_tokens, all_seconds, all_tokens / all_seconds,
                    all_flops / all_seconds * 1e-9, c.threads, c.threads == 1 ? "" : "s");
    }
    if (validating && !c.quiet) {
        if (stopped && !g_stop && tr->epoch > start_epoch)
            fprintf(stderr, "seq2seq: early stop at epoch %d: no better validation BLEU in %d checks\n", tr->epoch, c.early_stop);
        if (vr.best_epoch == 0)
            fprintf(stderr, "seq2seq: no validation check yet (every %d epochs)%s\n", c.valid_every,
                    c.early_stop ? "; the best model is not saved until the first one" : "");
        else if (c.early_stop)
            fprintf(stderr, "seq2seq: %s is the model of epoch %d (best valid BLEU %.2f, valid loss %.3f); latest weights in %s\n",
                    c.out, vr.best_epoch, vr.best_bleu, vr.best_loss, latest);
        else
            fprintf(stderr, "seq2seq: best valid BLEU %.2f at epoch %d; %s is the model of epoch %d\n", vr.best_bleu,
                    vr.best_epoch, c.out, tr->epoch);
    }
    free(cv.ep); free(cv.loss); free(cv.vep); free(cv.vloss); free(cv.vbleu);
    if (validating) validator_close(&vd);
    s2s_trainer_free(tr); s2s_model_free(m); s2s_dataset_free(&data);
    s2s_vocab_free(sv); s2s_vocab_free(tv); s2s_pairs_free(&pairs); s2s_pairs_free(&vpairs);
    return status;
}

/* ---- translation ---------------------------------------------------------------------- */

#define MAX_THREADS 64
typedef struct translator {
    s2s_model *m;
    s2s_vocab *sv, *tv;
    s2s_ws *ws[MAX_THREADS];  /* one per thread: batches of sentences run side by side */
    int max_B, threads;
} translator;

static void translator_open(translator *t, const char *path, int max_B, int threads) {
    s2s_err err;
    if (s2s_model_load(path, &t->m, &t->sv, &t->tv, &err)) die("%s", err.msg);
    t->max_B = max_B;
    t->threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    if (t->threads > 1) s2s_set_blas_threads(1);
    for (int i = 0; i < t->threads; i++)
        if (s2s_ws_create(t->m, max_B, t->m->cfg.num_steps, &t->ws[i], &err)) die("%s", err.msg);
    if (t->threads > 1) {  /* start the thread pool now, not in the first (timed) batch */
#pragma omp parallel num_threads(t->threads)
        { (void)0; }
    }
}

static void translator_close(translator *t) {
    for (int i = 0; i < t->threads; i++) s2s_ws_free(t->ws[i]);
    s2s_model_free(t->m); s2s_vocab_free(t->sv); s2s_vocab_free(t->tv);
}

static char *join_tokens(const s2s_vocab *tv, const int32_t *ids, int n) {
    size_t cap = 1;
    for (int k = 0; k < n; k++) cap += strlen(s2s_vocab_token(tv, ids[k])) + 1;
    char *o = malloc(cap), *p = o;
    if (!o) die("out of memory");
    *p = 0;
    for (int k = 0; k < n; k++) p += sprintf(p, k ? " %s" : "%s", s2s_vocab_token(tv, ids[k]));
    return o;
}

typedef struct len_idx { int32_t len; int i; } len_idx;
static int by_len(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->i > y->i) - (x->i < y->i);
}

/* Translates n sentences in batches of `batch` sentences of similar source length, greedily
 * (greedy = 1: o->beam is 1, no scores) or by beam search. out[i * o->nbest + k] receives the
 * k-th hypothesis of input i as malloc'd text (NULL when fewer were found) and score[] its
 * normalised score; input order is kept. A progress line goes to a terminal's stderr. */
/* Translates n sentences in batches of similar length (greedy or beam search), in input order
 * in out[i * nbest + k] (malloc'd text) and score[]; with several threads, whole batches run
 * side by side, each on its own workspace. */
static void translate_beam(translator *t, char **src, int n, const s2s_beam_opts *o, int greedy, int batch,
                           char **out, double *score) {
    const int T = t->m->cfg.num_steps, nb = o->nbest;
    int32_t *ids = malloc(sizeof(int32_t) * ((size_t)n + 1) * T), *len = malloc(sizeof(int32_t) * ((size_t)n + 1));
    len_idx *ord = malloc(sizeof(len_idx) * ((size_t)n + 1));
    if (!ids || !len || !ord) die("out of memory");
    s2s_err err;
    for (int i = 0; i < n; i++) {
        int v = s2s_encode_sentence(t->sv, src[i], T, ids + (size_t)i * T, &err);
        if (v < 0) die("input line %d: %s", i + 1, err.msg);
        len[i] = v; ord[i].len = v; ord[i].i = i;
    }
    qsort(ord, (size_t)n, sizeof *ord, by_len);  /* similar lengths share a batch: less padding work */
    const int progress = n > 100 && isatty(STDERR_FILENO), n_batches = (n + batch - 1) / batch;
    int done = 0;
#pragma omp parallel num_threads(t->threads)
    {
        s2s_ws *ws = t->ws[omp_get_thread_num()];
        int32_t *bids = malloc(sizeof(int32_t) * (size_t)batch * T), *blen = malloc(sizeof(int32_t) * (size_t)batch);
        int32_t *res = malloc(sizeof(int32_t) * (size_t)batch * o->max_len);
        int *olen = malloc(sizeof(int) * (size_t)batch);
        s2s_beam_result *br = calloc((size_t)batch, sizeof *br);
        s2s_err e;
        if (!bids || !blen || !res || !olen || !br) die("out of memory");
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < n_batches; k++) {
            const int s = k * batch, B = n - s < batch ? n - s : batch;
            for (int b = 0; b < B; b++) {
                memcpy(bids + (size_t)b * T, ids + (size_t)ord[s + b].i * T, sizeof(int32_t) * T);
                blen[b] = len[ord[s + b].i];
            }
            if (greedy) {  /* a row's greedy tokens do not depend on max_len: cut each at its own bound */
                if (s2s_greedy(t->m, ws, B, bids, blen, o->max_len, res, olen, NULL, &e)) die("%s", e.msg);
                for (int b = 0; b < B; b++) {
                    int L = olen[b];
                    if (o->max_len_ratio > 0 && L > ceil((double)o->max_len_ratio * blen[b])) L = (int)ceil((double)o->max_len_ratio * blen[b]);
                    out[(size_t)ord[s + b].i * nb] = join_tokens(t->tv, res + (size_t)b * o->max_len, L);
                }
            } else {
                if (s2s_beam_search(t->m, ws, B, bids, blen, o, br, &e)) die("%s", e.msg);
                for (int b = 0; b < B; b++) {
                    for (int h = 0; h < br[b].n_hyps; h++) {
                        out[(size_t)ord[s + b].i * nb + h] = join_tokens(t->tv, br[b].hyps[h].tokens, br[b].hyps[h].len);
                        if (score) score[(size_t)ord[s + b].i * nb + h] = br[b].hyps[h].score;
                    }
                    s2s_beam_result_free(&br[b]);
                }
            }
            if (progress) {
#pragma omp critical
                { done += B; fprintf(stderr, "\rtranslated %d/%d", done, n); }
            }
        }
        free(bids); free(blen); free(res); free(olen); free(br);
    }
    if (progress) fputc('\n', stderr);
    free(ids); free(len); free(ord);
}

static char *chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Reads all lines of a stream (or a file) into an array. */
static char **read_lines(FILE *f, const char *name, int *n_out) {
    int n = 0, cap = 64;
    char **lines = malloc(sizeof(char *) * cap), *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    if (!lines) die("out of memory");
    while ((got = getline(&line, &lcap, f)) >= 0) {
        if (memchr(line, 0, (size_t)got)) die("%s: line %d contains a NUL byte", name, n + 1);
        if (n == cap) { cap *= 2; if (!(lines = realloc(lines, sizeof(char *) * cap))) die("out of memory"); }
        if (!(lines[n++] = strdup(chomp(line)))) die("out of memory");
    }
    if (ferror(f)) die("%s: read error: %s", name, strerror(errno));
    free(line);
    *n_out = n;
    return lines;
}

static int cmd_translate(args *a) {
    const char *model = NULL;
    int with_ref = 0, max_len = 0, threads = 1, batch = 64, nbest = 0;
    s2s_beam_opts bo;
    s2s_beam_opts_default(&bo);
    bo.beam = 1;
    char **sent = malloc(sizeof(char *) * (size_t)(a->argc + 1));
    int n = 0;
    const char *o;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--model")) model = val(a, o);
        else if (!strcmp(o, "--with-ref")) with_ref = 1;
        else if (!strcmp(o, "--max-len")) max_len = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = (int)parse_int(o, val(a, o), 1, 1024);
        else if (!strcmp(o, "--batch")) batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--beam")) bo.beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) bo.alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--max-len-ratio")) bo.max_len_ratio = (float)parse_num(o, val(a, o), 1e-3, 1000, 0);
        else if (!strcmp(o, "--nbest")) nbest = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strncmp(o, "--", 2) && o[2]) die("translate: unknown option '%s'", o);
        else sent[n++] = (char *)o;
    }
    if (!model) die("translate: --model MODEL is required");
    if (nbest > bo.beam) die("translate: --nbest %d is more than the beam (--beam %d) can return", nbest, bo.beam);
    if (nbest && with_ref) die("translate: --nbest and --with-ref do not go together");
    if ((size_t)batch * bo.beam > 1000000) die("translate: --batch %d x --beam %d rows is too many", batch, bo.beam);
    s2s_set_threads(threads);
    int owned = n == 0;  /* lines read from stdin are ours to free */
    if (owned) { free(sent); sent = read_lines(stdin, "standard input", &n); }
    char **refs = NULL;
    if (with_ref) {
        refs = calloc((size_t)n + 1, sizeof(char *));
        for (int i = 0; i < n; i++) {
            char *tab = strchr(sent[i], '\t');
            if (!tab) die("translate --with-ref: input line %d has no TAB between source and reference", i + 1);
            *tab = 0;
            refs[i] = tab + 1;
        }
    }
    translator t;
    translator_open(&t, model, batch * bo.beam, threads);  /* each sentence takes beam rows */
    const int T = t.m->cfg.num_steps;
    bo.nbest = nbest ? nbest : 1;
    /* max_len: --max-len, else num_steps as d2l; with a ratio and no --max-len, the ratio alone */
    bo.max_len = max_len ? max_len : bo.max_len_ratio > 0 ? (int)ceil((double)bo.max_len_ratio * T) : T;
    if (bo.max_len < 1) bo.max_len = 1;
    const int greedy = bo.beam == 1 && !nbest;
    char **out = calloc((size_t)n * bo.nbest + 1, sizeof(char *));
    double *score = calloc((size_t)n * bo.nbest + 1, sizeof(double));
    if (!out || !score) die("out of memory");
    translate_beam(&t, sent, n, &bo, greedy, batch, out, score);
    for (int i = 0; i < n; i++) {
        if (nbest) {
            for (int k = 0; k < nbest; k++)
                if (out[(size_t)i * nbest + k]) printf("%.4f\t%s\n", score[(size_t)i * nbest + k], out[(size_t)i * nbest + k]);
        } else if (with_ref) printf("%s => %s, bleu %.3f\n", sent[i], out[i], s2s_bleu_d2l(out[i], refs[i], 2));
        else printf("%s\n", out[i]);
    }
    for (size_t i = 0; i < (size_t)n * bo.nbest; i++) free(out[i]);
    if (owned) for (int i = 0; i < n; i++) free(sent[i]);
    free(sent); free(out); free(score); free(refs);
    translator_close(&t);
    return 0;
}

static int cmd_attention(args *a) {
    const char *model = NULL, *png = NULL, *sentence = NULL;
    const char *o;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--model")) model = val(a, o);
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) png = val(a, o);
        else if (!strncmp(o, "--", 2)) die("attention: unknown option '%s'", o);
        else if (sentence) die("attention: give one sentence (quote it)");
        else sentence = o;
    }
    if (!model || !png || !sentence) die("attention: usage: seq2seq attention --model MODEL \"SENTENCE\" -o FILE.png|.svg");
    translator t;
    translator_open(&t, model, 1, 1);
    if (t.m->cfg.kind != S2S_ATTN) die("attention: %s is a plain model: it has no attention weights", model);
    const int T = t.m->cfg.num_steps, max_len = T;
    float *w = calloc((size_t)max_len * T, sizeof(float));
    int32_t ids[T], res[max_len], nk;
    int olen;
    s2s_err err;
    if ((nk = s2s_encode_sentence(t.sv, sentence, T, ids, &err)) < 0) die("%s", err.msg);
    if (s2s_greedy(t.m, t.ws[0], 1, ids, &nk, max_len, res, &olen, w, &err)) die("%s", err.msg);
    char *out[1] = {join_tokens(t.tv, res, olen)};
    int steps = olen + (olen < max_len);  /* output tokens, and the step that chose <eos> */
    /* key labels: the source tokens (after preprocessing) and <eos>; query labels: the output */
    char *pre; size_t plen;
    if (s2s_preprocess(sentence, strlen(sentence), "sentence", &pre, &plen, &err)) die("%s", err.msg);
    const char *cols[T], *rows[max_len + 1];
    int nc = 0;
    for (char *tok = pre, *sp; nc < nk; tok = sp + 1) {
        sp = strchr(tok, ' ');
        if (!sp) { cols[nc++] = tok; break; }
        *sp = 0; cols[nc++] = tok;
    }
    while (nc < nk) cols[nc++] = "<eos>";
    int nr = 0;
    for (char *tok = out[0], *sp; *tok && nr < steps; tok = sp + 1) {
        sp = strchr(tok, ' ');
        rows[nr++] = tok;
        if (!sp) break;
        *sp = 0;
    }
    while (nr < steps) rows[nr++] = "<eos>";
    float *sub = calloc((size_t)steps * nk + 1, sizeof(float));
    for (int r = 0; r < steps; r++) memcpy(sub + (size_t)r * nk, w + (size_t)r * T, sizeof(float) * nk);
    if (s2s_plot_heatmap(png, sub, steps, nk, rows, cols, sentence, &err)) die("%s", err.msg);
    printf("%s\n", png);
    free(sub); free(w); free(pre); free(out[0]);
    translator_close(&t);
    return 0;
}

/* ---- info, bleu ------------------------------------------------------------------------- */

static int cmd_info(args *a) {
    const char *path = NULL, *o;
    while (next_opt(a, &o)) {
        if (!strncmp(o, "--", 2)) die("info: unknown option '%s'", o);
        path = o;
    }
    if (!path) die("info: usage: seq2seq info MODEL");
    s2s_model *m; s2s_vocab *sv, *tv; s2s_err err;
    if (s2s_model_load(path, &m, &sv, &tv, &err)) die("%s", err.msg);
    struct stat sb;
    stat(path, &sb);
    printf("model       %s (%s decoder)\n", s2s_kind_name(m->cfg.kind), m->cfg.kind == S2S_ATTN ? "Bahdanau attention" : "plain");
    printf("embed       %d\nhidden      %d\nlayers      %d\ndropout     %g\nnum_steps   %d\n", m->cfg.embed,
           m->cfg.hidden, m->cfg.layers, (double)m->cfg.dropout, m->cfg.num_steps);
    printf("src_vocab   %d\ntgt_vocab   %d\nparameters  %zu\nfile_size   %lld bytes\n", m->cfg.src_vocab,
           m->cfg.tgt_vocab, m->n_params, (long long)sb.st_size);
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return 0;
}

static FILE *open_in(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    return f;
}

static int cmd_bleu(args *a) {
    const char *ref = NULL, *hyp = NULL, *o;
    int d2l_k = 0;
    s2s_bleu_tok tok = S2S_TOK_13A;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--ref")) ref = val(a, o);
        else if (!strcmp(o, "--tokenize")) {
            const char *v = val(a, o);
            if (!strcmp(v, "13a")) tok = S2S_TOK_13A;
            else if (!strcmp(v, "none")) tok = S2S_TOK_NONE;
            else die("--tokenize: '%s' is not 13a or none", v);
        } else if (!strcmp(o, "--d2l")) d2l_k = (int)parse_int(o, val(a, o), 1, 100);
        else if (!strncmp(o, "--", 2)) die("bleu: unknown option '%s'", o);
        else hyp = o;
    }
    if (!ref) die("bleu: usage: seq2seq bleu --ref REF.txt [HYP.txt] (hypotheses from standard input without HYP)");
    int nr, nh;
    FILE *rf = open_in(ref);
    char **refs = read_lines(rf, ref, &nr);
    fclose(rf);
    FILE *hf = hyp ? open_in(hyp) : stdin;
    char **hyps = read_lines(hf, hyp ? hyp : "standard input", &nh);
    if (hyp) fclose(hf);
    if (nr != nh) die("bleu: %s has %d lines but the hypotheses have %d", ref, nr, nh);
    if (d2l_k) {
        double s = 0;
        for (int i = 0; i < nh; i++) s += s2s_bleu_d2l(hyps[i], refs[i], d2l_k);
        printf("d2l bleu (k=%d, mean over %d sentences) = %.4f\n", d2l_k, nh, nh ? s / nh : 0.0);
        return 0;
    }
    s2s_corpus_bleu b;
    char sig[256];
    s2s_err err;
    if (s2s_bleu_corpus((const char *const *)hyps, (const char *const *)refs, nh, tok, &b, sig, sizeof sig, &err)) die("%s", err.msg);
    printf("BLEU|%s = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %ld ref_len = %ld)\n", sig, b.score,
           b.precisions[0], b.precisions[1], b.precisions[2], b.precisions[3], b.bp,
           b.ref_len ? (double)b.sys_len / b.ref_len : 0.0, b.sys_len, b.ref_len);
    return 0;
}

static int cmd_eval(args *a) {
    const char *model = NULL, *data = NULL, *o;
    int from = 0, count = 1000, batch = 64, threads = 1, beam = 1;
    float alpha = 1.0f;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--model")) model = val(a, o);
        else if (!strcmp(o, "--beam")) beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--data")) data = val(a, o);
        else if (!strcmp(o, "--from")) from = (int)parse_int(o, val(a, o), 0, 1000000000);
        else if (!strcmp(o, "--count")) count = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--batch")) batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = (int)parse_int(o, val(a, o), 1, 1024);
        else die("eval: unknown option '%s'", o);
    }
    if (!model || !data) die("eval: usage: seq2seq eval --model MODEL --data PAIRS.tsv [--from I] [--count N]");
    s2s_set_threads(threads);
    s2s_err err;
    s2s_pairs p;
    if (s2s_pairs_read(data, from + count, &p, &err)) die("%s", err.msg);
    if (from >= p.n) die("eval: --from %d is past the %d pairs of %s", from, p.n, data);
    int n = p.n - from < count ? p.n - from : count;
    char **src = calloc((size_t)n, sizeof(char *)), **ref = calloc((size_t)n, sizeof(char *)), **hyp = calloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) {  /* rebuild the (already preprocessed) sentences from tokens */
        for (int side = 0; side < 2; side++) {
            int *st = side ? p.tgt_start : p.src_start;
            char **tk = side ? p.tgt_tok : p.src_tok;
            size_t len = 1;
            for (int k = st[from + i]; k < st[from + i + 1]; k++) len += strlen(tk[k]) + 1;
            char *s = malloc(len), *q = s;
            *q = 0;
            for (int k = st[from + i]; k < st[from + i + 1]; k++) q += sprintf(q, k > st[from + i] ? " %s" : "%s", tk[k]);
            if (side) ref[i] = s; else src[i] = s;
        }
    }
    if ((size_t)batch * beam > 1000000) die("eval: --batch %d x --beam %d rows is too many", batch, beam);
    translator t;
    translator_open(&t, model, batch * beam, threads);
    s2s_beam_opts bo;
    s2s_beam_opts_default(&bo);
    bo.beam = beam; bo.alpha = alpha; bo.max_len = t.m->cfg.num_steps;
    double t0 = now_s();
    translate_beam(&t, src, n, &bo, beam == 1, batch, hyp, NULL);
    double secs = now_s() - t0, sb = 0;
    for (int i = 0; i < n; i++) sb += s2s_bleu_d2l(hyp[i], ref[i], 2);
    s2s_corpus_bleu b;
    char sig[256];
    if (s2s_bleu_corpus((const char *const *)hyp, (const char *const *)ref, n, S2S_TOK_13A, &b, sig, sizeof sig, &err)) die("%s", err.msg);
    printf("pairs %d..%d of %s (%d sentences)\n", from, from + n - 1, data, n);
    char how[64];
    if (beam == 1) snprintf(how, sizeof how, "greedy");
    else snprintf(how, sizeof how, "beam %d, alpha %g", beam, (double)alpha);
    printf("corpus BLEU %.2f (%s)\nmean sentence BLEU (d2l, k=2) %.4f\n%.1f sentences/sec (%s, batch %d, %d thread%s)\n",
           b.score, sig, sb / n, n / secs, how, batch, t.threads, t.threads == 1 ? "" : "s");
    for (int i = 0; i < n; i++) { free(src[i]); free(ref[i]); free(hyp[i]); }
    free(src); free(ref); free(hyp);
    s2s_pairs_free(&p);
    translator_close(&t);
    return 0;
}

static void usage(FILE *f) {
    fputs("usage: seq2seq COMMAND [options]\n"
          "  train      [--data PAIRS.tsv | --src F --tgt F] --out MODEL [--model attn|plain] [--pairs N]\n"
          "             [--embed 32] [--hidden 32] [--layers 2] [--dropout 0.1] [--batch 64] [--steps 10]\n"
          "             [--lr 0.005] [--epochs 250] [--seed S] [--threads N] [--save-every N] [--resume]\n"
          "             [--plot loss.png] [--log-every 10] [--quiet]\n"
          "             [--valid-pairs N | --valid PAIRS.tsv [--valid-count N]] [--valid-every 10] [--early-stop P]\n"
          "  translate  --model MODEL [--with-ref] [--max-len N] [--batch N] [SENTENCE ...]  (stdin if none)\n"
          "             [--beam K] [--alpha 1.0] [--max-len-ratio R] [--nbest N]  (beam 1 = greedy; --nbest\n"
          "             prints N lines score<TAB>translation per input; --batch counts sentences)\n"
          "  attention  --model MODEL \"SENTENCE\" -o FILE.png|.svg\n"
          "  eval       --model MODEL --data PAIRS.tsv [--from I] [--count N] [--beam K] [--alpha A] [--batch N] [--threads N]\n"
          "  bleu       --ref REF.txt [HYP.txt] [--tokenize 13a|none] [--d2l K]\n"
          "  info       MODEL\n"
          "  data       fetch|path fra-eng [--dir DIR] [--data-url URL --sha1 HEX] [--force] [--quiet]\n"
          "train without --data/--src uses d2l's fra-eng from the cache ($XDG_CACHE_HOME or ~/.cache/seq2seq),\n"
          "downloading it first (override with --data-url/--sha1 or S2S_DATA_URL/S2S_DATA_SHA1).\n"
          "--pairs N reads the first N lines of the pairs file (d2l's num_examples = N-1; 0 = all).\n"
          "--valid-pairs N holds out pairs floor((2k+1)n/2N), k < N, of the n read (spread over the file, the same\n"
          "for every seed); vocabularies come from the training pairs only. Every --valid-every epochs: validation\n"
          "loss and corpus BLEU (greedy, sacreBLEU 13a). --early-stop P stops after P checks without a higher BLEU;\n"
          "--out is then the best model and OUT.last.safetensors (OUT minus .safetensors) the latest, which --resume continues.\n", f);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    args a = {argc, 2, argv, cmd};
    if (!strcmp(cmd, "train")) return cmd_train(&a);
    if (!strcmp(cmd, "translate")) return cmd_translate(&a);
    if (!strcmp(cmd, "attention")) return cmd_attention(&a);
    if (!strcmp(cmd, "info")) return cmd_info(&a);
    if (!strcmp(cmd, "bleu")) return cmd_bleu(&a);
    if (!strcmp(cmd, "eval")) return cmd_eval(&a);
    if (!strcmp(cmd, "data")) return cmd_data(&a);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) { usage(stdout); return 0; }
    fprintf(stderr, "seq2seq: unknown command '%s' (see 'seq2seq help')\n", cmd);
    return 2;
}
