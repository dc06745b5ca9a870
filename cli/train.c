/* seq2seq train: d2l's training loop with validation, early stopping, saving and resume. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_beam.h"
#include "s2s_bleu.h"
#include "s2s_checkpoint.h"
#include "s2s_dist.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_plot.h"
#include "s2s_safetensors.h"
#include "s2s_text.h"
#include "s2s_tok.h"
#include "s2s_train.h"

/* ---- train ------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }


/* Options stored in the state file as "opt.*": the first N_CHECKED must be the same on
 * --resume; the paths may move (their content is checked through the vocabulary and the
 * number of training pairs); threads and ranks may change (the batches are then cut into other
 * slices: the same order of pairs, other dropout streams and sums). */
enum { N_CHECKED = 24, N_OPTS = 28 };
static int g_ranks = 1;  /* ranks of the MPI job (1: one process) */
static char opt_buf[N_OPTS][64];
static const char *opt_keys[N_OPTS] = {
    "opt.model", "opt.pairs", "opt.embed", "opt.hidden", "opt.layers", "opt.dropout", "opt.batch", "opt.steps",
    "opt.lr", "opt.seed", "opt.valid-pairs", "opt.valid-count", "opt.valid-every", "opt.early-stop",
    "opt.cell", "opt.encoder", "opt.attention", "opt.input-feed", "opt.tie-embeddings",
    "opt.tokenizer", "opt.vocab-size", "opt.spm-type", "opt.spm-joint", "opt.character-coverage",
    "opt.data", "opt.valid", "opt.threads", "opt.ranks"};
static void opt_values(const train_cfg *c, const char **v) {
    snprintf(opt_buf[0], 64, "%s", s2s_model_kind_name(c->mc.attention)); snprintf(opt_buf[1], 64, "%d", c->pairs);
    snprintf(opt_buf[2], 64, "%d", c->mc.embed); snprintf(opt_buf[3], 64, "%d", c->mc.hidden);
    snprintf(opt_buf[4], 64, "%d", c->mc.layers); snprintf(opt_buf[5], 64, "%.9g", (double)c->mc.dropout);
    snprintf(opt_buf[6], 64, "%d", c->batch); snprintf(opt_buf[7], 64, "%d", c->mc.num_steps);
    snprintf(opt_buf[8], 64, "%.9g", c->lr); snprintf(opt_buf[9], 64, "%llu", c->seed);
    snprintf(opt_buf[10], 64, "%d", c->valid_pairs); snprintf(opt_buf[11], 64, "%d", c->valid_count);
    snprintf(opt_buf[12], 64, "%d", c->valid_every); snprintf(opt_buf[13], 64, "%d", c->early_stop);
    snprintf(opt_buf[14], 64, "%s", s2s_cell_name(c->mc.cell)); snprintf(opt_buf[15], 64, "%s", s2s_encoder_name(c->mc.encoder));
    snprintf(opt_buf[16], 64, "%s", s2s_attention_name(c->mc.attention));
    snprintf(opt_buf[17], 64, "%d", c->mc.input_feed); snprintf(opt_buf[18], 64, "%d", c->mc.tie_embeddings);
    /* the SentencePiece training options ("" where they do not apply: d2l, or given models) */
    const int trained = c->spm && !c->spm_model && !c->spm_src;
    snprintf(opt_buf[19], 64, "%s", c->spm ? "spm" : "d2l");
    for (int i = 20; i < 24; i++) opt_buf[i][0] = 0;
    if (trained) {
        snprintf(opt_buf[20], 64, "%d", c->vocab_size);
        snprintf(opt_buf[21], 64, "%s", c->spm_bpe ? "bpe" : "unigram");
        snprintf(opt_buf[22], 64, "%d", c->spm_joint);
        snprintf(opt_buf[23], 64, "%.9g", c->coverage);
    }
    for (int i = 0; i < N_CHECKED; i++) v[i] = opt_buf[i];
    v[N_CHECKED] = c->data ? c->data : c->src;
    v[N_CHECKED + 1] = c->valid ? c->valid : "";
    snprintf(opt_buf[N_CHECKED + 2], 64, "%d", c->threads); snprintf(opt_buf[N_CHECKED + 3], 64, "%d", g_ranks);
    v[N_CHECKED + 2] = opt_buf[N_CHECKED + 2]; v[N_CHECKED + 3] = opt_buf[N_CHECKED + 3];
}
/* The recipe's options, stored only when they are not d2l's (so a d2l run's state file is as
 * before): a key the file lacks stands for its default here, and must be the default now. */
static const char *rec_keys[] = {"opt.batch-tokens", "opt.max-len", "opt.label-smoothing", "opt.lr-schedule",
                                 "opt.warmup", "opt.lr-patience", "opt.lr-factor", "opt.valid-every-steps",
                                 "opt.clip"};
enum { N_REC = 9 };
static const char *const rec_default[N_REC] = {"0", "0", "0", "constant", "0", "2", "0.5", "0", "1"};
static char rec_buf[N_REC][64];
static void rec_values(const train_cfg *c, const char **v) {
    snprintf(rec_buf[0], 64, "%d", c->batch_tokens); snprintf(rec_buf[1], 64, "%d", c->max_len);
    snprintf(rec_buf[2], 64, "%.9g", c->smoothing); snprintf(rec_buf[3], 64, "%s", s2s_lr_schedule_name(c->lr_schedule));
    snprintf(rec_buf[4], 64, "%d", c->warmup); snprintf(rec_buf[5], 64, "%d", c->lr_patience);
    snprintf(rec_buf[6], 64, "%.9g", c->lr_factor); snprintf(rec_buf[7], 64, "%d", c->valid_every_steps);
    snprintf(rec_buf[8], 64, "%.9g", c->clip);
    for (int i = 0; i < N_REC; i++) v[i] = rec_buf[i];
}
/* The recipe's keys and values that differ from the defaults, into k and v; returns how many. */
static int rec_changed(const train_cfg *c, const char **k, const char **v) {
    const char *rv[N_REC];
    rec_values(c, rv);
    int n = 0;
    for (int i = 0; i < N_REC; i++)
        if (strcmp(rv[i], rec_default[i])) { k[n] = rec_keys[i]; v[n] = rv[i]; n++; }
    return n;
}
static int check_resume_opt(const char *key, const char *value, void *ctx, s2s_err *err) {
    const char *v[N_OPTS], *rv[N_REC];
    opt_values(ctx, v);
    rec_values(ctx, rv);
    for (int i = 0; i < N_CHECKED; i++)
        if (!strcmp(opt_keys[i] + 4, key) && strcmp(v[i], value))
            return s2s_errf(err, "--resume: the run was started with --%s %s, now %s (use the same options)", key, value, v[i]);
    for (int i = 0; i < N_REC; i++)
        if (!strcmp(rec_keys[i] + 4, key) && strcmp(rv[i], value))
            return s2s_errf(err, "--resume: the run was started with --%s %s, now %s (use the same options)", key, value, rv[i]);
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
    int best_epoch;     /* its epoch (0: none; with --valid-every-steps the epochs completed then) */
    int bad_checks;     /* checks since the last improvement */
    long best_step;     /* --valid-every-steps: the update of the best check */
    double lr_scale;    /* --lr-schedule plateau: the factor on the rate so far; linear: the factor
                         * of the next update (saved for any run of either, validating or not) */
    int lr_bad;         /* plateau: checks without improvement since the rate last changed */
} valid_run;
static const char *run_keys[] = {"valid.best_bleu", "valid.best_loss", "valid.best_epoch", "valid.bad_checks",
                                 "valid.best_step", "valid.lr_scale", "valid.lr_bad"};
enum { N_RUN = 4, N_RUN_ALL = 7 };

/* A file beside --out: OUT without ".safetensors" + "." TAG ".safetensors", or OUT + "." TAG when
 * OUT has another ending. Malloc'd. */
static char *out_sibling(const char *out, const char *tag) {
    const char *ext = ".safetensors";
    size_t n = strlen(out), ne = strlen(ext);
    const int stem = n > ne && !strcmp(out + n - ne, ext);
    const size_t keep = stem ? n - ne : n, cap = keep + strlen(tag) + ne + 2;
    char *r = malloc(cap);
    if (!r) die("out of memory");
    snprintf(r, cap, "%.*s.%s%s", (int)keep, out, tag, stem ? ext : "");
    return r;
}

/* Where the latest weights go: --out itself, or with --early-stop (where --out keeps the best
 * model) its "last" sibling. Malloc'd. */
static char *latest_path(const train_cfg *c) {
    return c->early_stop ? out_sibling(c->out, "last") : str_cat(c->out, "");
}

/* --keep-checkpoints: the weights of the check at update (or epoch) `at`, --out's sibling
 * "update<at>" (with --valid-every-steps) or "epoch<at>". Malloc'd. */
static char *checkpoint_path(const train_cfg *c, long at) {
    char tag[32];
    snprintf(tag, sizeof tag, "%s%ld", c->valid_every_steps ? "update" : "epoch", at);
    return out_sibling(c->out, tag);
}

/* Keeps the weights of this check (at update or epoch `at`) and removes those of N checks
 * earlier, so the last N checks' files remain for `seq2seq average`. The file to remove is named
 * by the check, not by a count of files written, so a resumed run removes what its first part
 * kept; a file that is not there is no error. */
static void keep_checkpoint(const train_cfg *c, long at, long every, const s2s_model *m, const s2s_tok *sv,
                            const s2s_tok *tv) {
    s2s_err err;
    s2s_out o = {0};
    char *path = checkpoint_path(c, at);
    int rc = s2s_model_stage_tok(&o, path, m, sv, tv, &err) || s2s_out_commit(&o, &err);
    s2s_out_discard(&o);
    if (rc) die("%s", err.msg);
    free(path);
    const long old = at - (long)c->keep_checkpoints * every;
    if (old > 0) {
        char *gone = checkpoint_path(c, old);
        if (remove(gone) && errno != ENOENT) die("cannot remove %s: %s", gone, strerror(errno));
        free(gone);
    }
}

/* Training loss per epoch; with validation also its loss (left axis) and BLEU (right axis). */
typedef struct curves {
    float *ep, *loss;      /* [n] every epoch trained (restored on --resume from the state file) */
    int n;
    float *vep, *vloss, *vbleu; /* [nv] validation checks (at fractional epochs with --valid-every-steps) */
    int nv;
    size_t vcap;           /* room in the validation arrays */
} curves;

static void curves_add_check(curves *cv, double epoch, double loss, double bleu) {
    if ((size_t)cv->nv == cv->vcap) {
        size_t cap = cv->vcap * 2 + 16;
        float *a = realloc(cv->vep, cap * sizeof(float)), *b = a ? realloc(cv->vloss, cap * sizeof(float)) : NULL;
        if (a) cv->vep = a;
        if (b) cv->vloss = b;
        float *c = b ? realloc(cv->vbleu, cap * sizeof(float)) : NULL;
        if (!c) die("out of memory");
        cv->vbleu = c;
        cv->vcap = cap;
    }
    cv->vep[cv->nv] = (float)epoch; cv->vloss[cv->nv] = (float)loss; cv->vbleu[cv->nv] = (float)bleu;
    cv->nv++;
}

/* The curves as the state file's extra tensors (empty series are left out). */
static const char *hist_names[5] = {"history.epoch", "history.loss", "history.valid_epoch", "history.valid_loss",
                                     "history.valid_bleu"};
static int curves_tensors(const curves *cv, s2s_tensor *ts) {
    const float *d[5] = {cv->ep, cv->loss, cv->vep, cv->vloss, cv->vbleu};
    int len[5] = {cv->n, cv->n, cv->nv, cv->nv, cv->nv}, k = 0;
    for (int i = 0; i < 5; i++)
        if (len[i] > 0) ts[k++] = (s2s_tensor){hist_names[i], S2S_F32, 1, {len[i]}, d[i], (size_t)len[i] * sizeof(float)};
    return k;
}

/* Saves the latest weights and, beside --out, the state for --resume (which describes them);
 * with `best` (--early-stop's improvement) also --out, the best model. Every file is first
 * written in full under a temporary name and synced, so a failure (a full disk, a file-size
 * limit) leaves all of them as they were; then they are renamed into place, the state first,
 * back to back (s2s_out_commit_all: the fsyncs come before and after the renames, not between).
 * Only a crash in the microseconds between two renames can leave a state and a latest-weights
 * file from different saves, and the state's fingerprint of the weights then makes --resume
 * refuse them. */
static void save_all(const train_cfg *c, const char *latest, const char *state, const s2s_model *m,
                     const s2s_tok *sv, const s2s_tok *tv, const s2s_trainer *tr, const valid_run *vr,
                     const curves *cv, int best) {
    s2s_err err;
    char rbuf[N_RUN_ALL][40];
    const char *k[N_OPTS + N_REC + N_RUN_ALL], *v[N_OPTS + N_REC + N_RUN_ALL];
    opt_values(c, v);
    for (int i = 0; i < N_OPTS; i++) k[i] = opt_keys[i];
    int nk = N_OPTS + rec_changed(c, k + N_OPTS, v + N_OPTS);
    snprintf(rbuf[0], 40, "%.17g", vr->best_bleu); snprintf(rbuf[1], 40, "%.17g", vr->best_loss);
    snprintf(rbuf[2], 40, "%d", vr->best_epoch); snprintf(rbuf[3], 40, "%d", vr->bad_checks);
    snprintf(rbuf[4], 40, "%ld", vr->best_step); snprintf(rbuf[5], 40, "%.17g", vr->lr_scale);
    snprintf(rbuf[6], 40, "%d", vr->lr_bad);
    for (int i = 0; i < N_RUN_ALL; i++) {  /* the step and plateau's only when they are used */
        if ((i == 4 && !c->valid_every_steps) || (i == 6 && c->lr_schedule != S2S_LR_PLATEAU) ||
            (i == 5 && c->lr_schedule != S2S_LR_PLATEAU && c->lr_schedule != S2S_LR_LINEAR))
            continue;
        k[nk] = run_keys[i]; v[nk] = rbuf[i]; nk++;
    }
    s2s_tensor hist[5];
    int nh = curves_tensors(cv, hist);
    s2s_out o[3] = {{0}};
    int rc = s2s_state_stage(&o[0], state, tr, k, v, nk, hist, nh, &err) ||
             s2s_model_stage_tok(&o[1], latest, m, sv, tv, &err) ||
             (best && s2s_model_stage_tok(&o[2], c->out, m, sv, tv, &err));
    if (!rc) rc = s2s_out_commit_all(o, 3, &err);
    for (int i = 0; i < 3; i++) s2s_out_discard(&o[i]);
    if (rc) die("%s", err.msg);
}

/* --resume reads the state file once (resume_open) and checks it in pieces as the run is set
 * up; every message names the file. */

/* The stored options are checked first, so that a changed option is named as such rather than
 * seen later as a changed vocabulary or number of training pairs; an option the file does not
 * record could change unnoticed, so each must be there. Returns the threads x ranks the run was
 * saved with (0: not recorded). */
static int check_state_opts(const s2s_st_file *f, const char *state, train_cfg *c) {
    s2s_err err;
    int slices = 1;
    for (int i = 0; i < N_CHECKED; i++)
        if (!s2s_st_meta(f, opt_keys[i]))
            die("--resume: %s has no \"%s\" (written by another version of seq2seq?); start without --resume",
                state, opt_keys[i]);
    for (int i = 0; i < s2s_st_meta_count(f); i++) {
        const char *k, *v;
        s2s_st_meta_at(f, i, &k, &v);
        if (!strncmp(k, "opt.", 4) && check_resume_opt(k + 4, v, c, &err)) die("%s", err.msg);
        if (!strcmp(k, "opt.threads") || !strcmp(k, "opt.ranks")) slices *= atoi(v);
    }
    const char *rv[N_REC];
    rec_values(c, rv);
    for (int i = 0; i < N_REC; i++)
        if (!s2s_st_meta(f, rec_keys[i]) && strcmp(rv[i], rec_default[i]))
            die("--resume: the run was started without --%s (%s), now %s (use the same options)", rec_keys[i] + 4,
                rec_default[i], rv[i]);
    if (!s2s_st_meta(f, "opt.threads") || !s2s_st_meta(f, "opt.ranks")) slices = 0;
    return slices;
}
/* ---- the MPI job ------------------------------------------------------------------------- */

/* The options every rank of a job must share, as "--name value" lines (paths may differ: the
 * data they hold is compared by fingerprint). */
static void job_options(const train_cfg *c, char *buf, size_t cap) {
    const char *v[N_OPTS];
    opt_values(c, v);
    size_t k = 0;
    for (int i = 0; i < N_CHECKED && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, "--%s %s\n", opt_keys[i] + 4, v[i]);
    const char *rv[N_REC];
    rec_values(c, rv);
    for (int i = 0; i < N_REC && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, "--%s %s\n", rec_keys[i] + 4, rv[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "--epochs %d\n--threads %d\n--resume %s\n--allreduce %s\n", c->epochs, c->threads,
                 c->resume ? "yes" : "no", c->allreduce == S2S_REDUCE_MPI ? "mpi" : "ordered");
}

/* What a job that ends on a lost rank says about its files: what the state file on disk holds
 * (rank 0 may have died before or during a save the others counted on). */
static void saved_note(char *buf, size_t cap, const char *latest, const char *state) {
    s2s_st_file *f;
    s2s_err err;
    if (s2s_st_read(state, &f, &err)) {
        snprintf(buf, cap, "no training state to resume from (%s)", err.msg);
        return;
    }
    const char *e = s2s_st_meta(f, "epoch"), *p = s2s_st_meta(f, "pos");
    snprintf(buf, cap, "%s and its state hold epoch %s%s (continue with --resume)", latest, e ? e : "?",
             p && strcmp(p, "0") ? " and part of the next" : "");
    s2s_st_free(f);
}

/* Run value i >= N_RUN (the step's and the schedule's), when the state has it. */
static void load_run_value(const s2s_st_file *f, const char *state, int i, valid_run *vr) {
    const char *s = s2s_st_meta(f, run_keys[i]);
    if (!s) return;
    char *end;
    double y = strtod(s, &end), hi = i == 5 ? 1.0 : 1e15;
    if (end == s || *end || !isfinite(y) || y < 0 || y > hi || (i != 5 && y != floor(y)))
        die("--resume: %s: \"%s\" = \"%.40s\" is out of range", state, run_keys[i], s);
    if (i == 4) vr->best_step = (long)y; else if (i == 5) vr->lr_scale = y; else vr->lr_bad = (int)y;
}

/* Reads the validation progress back from a state file written by save_all; `epoch` is the
 * state's (the best epoch and the checks since cannot be later). */
static void load_valid_run(const s2s_st_file *f, const char *state, int epoch, valid_run *vr) {
    double x[N_RUN];
    for (int i = 0; i < N_RUN; i++) {
        const char *s = s2s_st_meta(f, run_keys[i]);
        char *end;
        if (!s) die("--resume: %s has no \"%s\" (it was written without validation; resume without --valid-pairs/--valid)", state, run_keys[i]);
        x[i] = strtod(s, &end);
        int whole = i >= 2;  /* best_epoch and bad_checks count */
        double hi = i == 0 ? 100 : whole ? epoch : 1e9;
        if (end == s || *end || !isfinite(x[i]) || x[i] < (i == 0 ? -1 : 0) || x[i] > hi || (whole && x[i] != floor(x[i])))
            die("--resume: %s: \"%s\" = \"%.40s\" is not a%s number in %g..%g", state, run_keys[i], s,
                whole ? " whole" : "", i == 0 ? -1.0 : 0.0, hi);
    }
    vr->best_bleu = x[0]; vr->best_loss = x[1]; vr->best_epoch = (int)x[2]; vr->bad_checks = (int)x[3];
    for (int i = N_RUN; i < N_RUN_ALL; i++) load_run_value(f, state, i, vr);
}

/* Puts the curves of the epochs before a --resume (kept in the state file) in front of cv's,
 * growing its arrays by as much (older state files have none: the curves then start at the
 * resumed epoch). cap and vcap are the arrays' sizes; the training curve has at most one point an
 * epoch, the validation curve at most vmax. */
static void load_history(const s2s_st_file *f, const char *state, int epoch, long vmax, curves *cv, size_t cap,
                         size_t vcap) {
    float **d[5] = {&cv->ep, &cv->loss, &cv->vep, &cv->vloss, &cv->vbleu};
    for (int g = 0; g < 2; g++) {  /* the training curve (2 series), the validation checks (3) */
        const int first = g ? 2 : 0, count = g ? 3 : 2;
        int n = -1;
        for (int i = first; i < first + count; i++) {
            const s2s_tensor *t = s2s_st_find(f, hist_names[i]);
            int len = !t ? 0 : t->dtype == S2S_F32 && t->ndim == 1 && t->shape[0] <= (g ? vmax : epoch) &&
                                t->nbytes == (size_t)t->shape[0] * sizeof(float) ? (int)t->shape[0] : -1;
            if (len < 0 || (n >= 0 && len != n))
                die("--resume: %s: \"%s\" is not a curve of this run", state, hist_names[i]);
            n = len;
            float *a = realloc(*d[i], ((g ? vcap : cap) + (size_t)len) * sizeof(float));
            if (!a) die("out of memory");
            *d[i] = a;
            if (t) memcpy(a, t->data, t->nbytes);
        }
        if (g) { cv->nv = n; cv->vcap = vcap + (size_t)n; } else cv->n = n;
    }
}

/* s2s_dist_on_stall's fn (arg: the latest weights' and the state's paths): this rank is stuck
 * inside Open MPI after a rank beside it died; say what job_lost would, and leave. */
static void on_stall(const char *msg, int speaks, void *arg) {
    const char *const *files = arg;
    char note[4200] = "";
    if (speaks) saved_note(note, sizeof note, files[0], files[1]);
    job_stalled(msg, speaks, note);
}

/* Fails before any training (or download) when a file train writes could not be written, is
 * one it reads, or two it writes are one: training would overwrite the user's corpus (or its
 * own model with a picture). */
static void check_train_files(const train_cfg *c, const char *latest, const char *state) {
    const io_file out[] = {{"--out", c->out, OUT_FILE},
                           {"the latest weights' file", c->early_stop ? latest : NULL, OUT_FILE},
                           {"the state file", state, OUT_FILE},
                           {"--plot", c->plot, OUT_PICTURE}};
    const io_file in[] = {{"--data", c->data, 0}, {"--src", c->src, 0}, {"--tgt", c->tgt, 0}, {"--valid", c->valid, 0},
                          {"--spm-model", c->spm_model, 0}, {"--spm-src", c->spm_src, 0}, {"--spm-tgt", c->spm_tgt, 0}};
    check_files("train", out, 4, in, 7);
}

/* Redraws --plot. A failure is a warning (training goes on and the model is saved): once, and
 * again at the end if the picture on disk is then not the last one drawn (*failed). */
static void draw_curves(const char *path, const curves *cv, int *failed, int last) {
    s2s_err err;
    s2s_series s[3] = {{"train loss", cv->ep, cv->loss, cv->n, 0},
                       {"valid loss", cv->vep, cv->vloss, cv->nv, 0},
                       {"valid BLEU", cv->vep, cv->vbleu, cv->nv, 1}};
    int ns = cv->nv > 0 ? 3 : 1;
    int rc = s2s_plot_lines(path, s, ns, "epoch", "loss", ns > 1 ? "BLEU" : NULL, &err);
    if (rc && (!*failed || last))
        fprintf(stderr, "seq2seq: warning: %s (training goes on; the model is saved as usual)\n", err.msg);
    *failed = rc != 0;
}

/* Parses and checks train's options (no file is touched here). */
void train_parse(args *a, train_cfg *out) {
    train_cfg c = {0};
    c.mc = s2s_config_d2l(0, 0);
    const char *model = NULL, *attention = NULL;
    c.pairs = 601; c.batch = 64; c.epochs = 250; c.threads = 1; c.lr = 0.005; c.seed = 1; c.log_every = 10;
    c.vocab_size = 8000; c.coverage = 1.0;
    const char *o, *tok_opt = NULL, *spm_opt = NULL, *train_opt = NULL;  /* for the checks below */
    c.lr_schedule = S2S_LR_CONSTANT; c.warmup = -1; c.lr_patience = 2; c.lr_factor = 0.5; c.clip = 1.0;
    while (next_opt(a, &o)) {
        if (a->positional) usage_error(a, "unexpected argument '%s'", o);
        else if (!strcmp(o, "--data")) c.data = val(a, o);
        else if (!strcmp(o, "--src")) c.src = val(a, o);
        else if (!strcmp(o, "--tgt")) c.tgt = val(a, o);
        else if (!strcmp(o, "--out")) c.out = val(a, o);
        else if (!strcmp(o, "--plot")) c.plot = val(a, o);
        else if (!strcmp(o, "--model")) {
            model = val(a, o);
            if (!strcmp(model, "attn")) c.mc.attention = S2S_BAHDANAU;
            else if (!strcmp(model, "plain")) c.mc.attention = S2S_NO_ATTENTION;
            else die_usage("--model: '%s' is not attn or plain (d2l's spelling of --attention bahdanau|none)", model);
        }
        else if (!strcmp(o, "--attention")) {
            attention = val(a, o);
            if (s2s_attention_parse(attention, &c.mc.attention))
                die("--attention: '%s' is not bahdanau, luong-dot, luong-general or none", attention);
        }
        else if (!strcmp(o, "--cell")) {
            const char *k = val(a, o);
            if (s2s_cell_parse(k, &c.mc.cell)) die("--cell: '%s' is not gru or lstm", k);
        }
        else if (!strcmp(o, "--encoder")) {
            const char *k = val(a, o);
            if (s2s_encoder_parse(k, &c.mc.encoder)) die("--encoder: '%s' is not uni or bi", k);
        }
        else if (!strcmp(o, "--allreduce")) {
            const char *k = val(a, o);
            if (!strcmp(k, "ordered")) c.allreduce = S2S_REDUCE_ORDERED;
            else if (!strcmp(k, "mpi")) c.allreduce = S2S_REDUCE_MPI;
            else die_usage("--allreduce: '%s' is not ordered or mpi", k);
        }
        else if (!strcmp(o, "--input-feed")) c.mc.input_feed = 1;
        else if (!strcmp(o, "--tie-embeddings")) c.mc.tie_embeddings = 1;
        else if (!strcmp(o, "--pairs")) c.pairs = (int)parse_int(o, val(a, o), 0, 1000000000);
        else if (!strcmp(o, "--embed")) c.mc.embed = (int)parse_int(o, val(a, o), 1, 65536);
        else if (!strcmp(o, "--hidden")) c.mc.hidden = (int)parse_int(o, val(a, o), 1, 65536);
        else if (!strcmp(o, "--layers")) c.mc.layers = (int)parse_int(o, val(a, o), 1, S2S_MAX_LAYERS);
        else if (!strcmp(o, "--dropout")) c.mc.dropout = (float)parse_num(o, val(a, o), 0, 1, 1);
        else if (!strcmp(o, "--batch")) c.batch = (int)parse_int(o, val(a, o), 1, 1000000);
        else if (!strcmp(o, "--steps")) { c.mc.num_steps = (int)parse_int(o, val(a, o), 1, 4096); c.steps_given = 1; }
        else if (!strcmp(o, "--batch-tokens")) c.batch_tokens = (int)parse_int(o, val(a, o), 1, 1000000);
        else if (!strcmp(o, "--max-len")) c.max_len = (int)parse_int(o, val(a, o), 1, 4095);
        else if (!strcmp(o, "--label-smoothing")) c.smoothing = parse_num(o, val(a, o), 0, 1, 1);
        else if (!strcmp(o, "--lr-schedule")) {
            const char *k = val(a, o);
            s2s_lr_schedule sc;
            if (s2s_lr_schedule_parse(k, &sc)) die_usage("--lr-schedule: '%s' is not constant, inverse-sqrt, plateau or linear", k);
            c.lr_schedule = sc;
        }
        else if (!strcmp(o, "--warmup")) c.warmup = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--lr-patience")) c.lr_patience = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--lr-factor")) c.lr_factor = parse_num(o, val(a, o), 0, 1, 1);
        else if (!strcmp(o, "--valid-every-steps")) c.valid_every_steps = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--clip")) c.clip = parse_num(o, val(a, o), 0, 1e9, 0);
        else if (!strcmp(o, "--max-time")) c.max_time = parse_num(o, val(a, o), 0, 1e9, 0);
        else if (!strcmp(o, "--max-updates")) c.max_updates = parse_int(o, val(a, o), 1, 1000000000000L);
        else if (!strcmp(o, "--lr")) c.lr = parse_num(o, val(a, o), 0, 1e3, 0);
        else if (!strcmp(o, "--epochs")) c.epochs = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--seed")) c.seed = (unsigned long long)parse_int(o, val(a, o), 0, 0x7fffffffffffffffL);
        else if (!strcmp(o, "--threads")) c.threads = (int)parse_int(o, val(a, o), 1, S2S_MAX_SHARDS);
        else if (!strcmp(o, "--save-every")) c.save_every = (int)parse_int(o, val(a, o), 0, 100000000);
        else if (!strcmp(o, "--log-every")) c.log_every = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--resume")) c.resume = 1;
        else if (!strcmp(o, "--quiet")) c.quiet = 1;
        else if (!strcmp(o, "--valid")) c.valid = val(a, o);
        else if (!strcmp(o, "--valid-pairs")) c.valid_pairs = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--valid-count")) c.valid_count = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--valid-every")) c.valid_every = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--early-stop")) c.early_stop = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--keep-checkpoints")) c.keep_checkpoints = (int)parse_int(o, val(a, o), 1, 100000000);
        else if (!strcmp(o, "--tokenizer")) {
            tok_opt = val(a, o);
            if (strcmp(tok_opt, "d2l") && strcmp(tok_opt, "spm")) die_usage("--tokenizer: '%s' is not d2l or spm", tok_opt);
        }
        else if (!strcmp(o, "--vocab-size")) { c.vocab_size = (int)parse_int(o, val(a, o), 8, 1000000); spm_opt = train_opt = o; }
        else if (!strcmp(o, "--spm-type")) {
            const char *k = val(a, o);
            if (!strcmp(k, "bpe")) c.spm_bpe = 1;
            else if (strcmp(k, "unigram")) die_usage("--spm-type: '%s' is not unigram or bpe", k);
            spm_opt = train_opt = o;
        }
        else if (!strcmp(o, "--spm-joint")) { c.spm_joint = 1; spm_opt = train_opt = o; }
        else if (!strcmp(o, "--character-coverage")) { c.coverage = parse_num(o, val(a, o), 0.98, 1, 0); spm_opt = train_opt = o; }
        else if (!strcmp(o, "--spm-model")) { c.spm_model = val(a, o); spm_opt = o; }
        else if (!strcmp(o, "--spm-src")) { c.spm_src = val(a, o); spm_opt = o; }
        else if (!strcmp(o, "--spm-tgt")) { c.spm_tgt = val(a, o); spm_opt = o; }
        else unknown_option(a, o);
    }
    if (model && attention) {
        s2s_attention a2 = c.mc.attention;  /* (set: --attention was parsed above) */
        s2s_attention_parse(attention, &a2);
        if ((!strcmp(model, "attn") ? S2S_BAHDANAU : S2S_NO_ATTENTION) != a2)
            usage_error(a, "--model %s and --attention %s disagree (--model attn|plain is d2l's spelling of --attention bahdanau|none)", model, attention);
    }
    if (c.mc.input_feed && !s2s_attention_feeds(c.mc.attention))
        usage_error(a, "--input-feed needs Luong attention (--attention luong-dot or luong-general)");
    if (c.mc.tie_embeddings && c.mc.embed != c.mc.hidden)
        usage_error(a, "--tie-embeddings needs --embed equal to --hidden (the output layer's weight is [vocabulary, hidden]); got %d and %d",
            c.mc.embed, c.mc.hidden);
    const int dirs = s2s_encoder_of(c.mc.encoder)->dirs;
    if (c.mc.hidden % dirs)
        usage_error(a, "--encoder %s needs a --hidden divisible by %d (hidden/%d units run each direction); got %d",
                    s2s_encoder_name(c.mc.encoder), dirs, dirs, c.mc.hidden);
    if (c.max_len) {
        if (!c.steps_given) c.mc.num_steps = c.max_len + 1;
        else if (c.mc.num_steps < c.max_len + 1)
            usage_error(a, "--max-len %d keeps pairs of up to %d tokens (+ <eos>): --steps must be at least %d (or left out)",
                        c.max_len, c.max_len, c.max_len + 1);
    }
    if (c.batch_tokens && c.batch_tokens < c.mc.num_steps)
        usage_error(a, "--batch-tokens %d is less than --steps %d: the longest pair would not fit in a batch",
                    c.batch_tokens, c.mc.num_steps);
    if (c.warmup < 0) c.warmup = c.lr_schedule == S2S_LR_INVSQRT ? 4000 : 0;
    if (c.lr_schedule == S2S_LR_INVSQRT && c.warmup < 1)
        usage_error(a, "--lr-schedule inverse-sqrt needs --warmup of at least 1 update (fairseq's default: 4000)");
    if (c.lr_schedule == S2S_LR_LINEAR && !c.max_updates && !(c.max_time > 0))
        usage_error(a, "--lr-schedule linear falls to 0 at the end of the run's budget: it needs --max-updates N or --max-time S");
    if (c.lr_schedule == S2S_LR_PLATEAU && !c.valid && !c.valid_pairs)
        usage_error(a, "--lr-schedule plateau lowers the rate when validation BLEU stops rising: it needs --valid-pairs N or --valid FILE");
    if (c.valid_every && c.valid_every_steps) usage_error(a, "give either --valid-every (epochs) or --valid-every-steps, not both");
    if (c.valid_every_steps && !c.valid && !c.valid_pairs)
        usage_error(a, "--valid-every-steps needs a validation set (--valid-pairs N or --valid FILE)");
    /* SentencePiece options choose the spm tokenizer, unless d2l's is asked for by name */
    if (tok_opt && !strcmp(tok_opt, "d2l") && spm_opt)
        usage_error(a, "%s goes with --tokenizer spm (d2l's tokenizer has no SentencePiece model)", spm_opt);
    c.spm = tok_opt ? !strcmp(tok_opt, "spm") : spm_opt != NULL;
    if (c.spm_model && (c.spm_src || c.spm_tgt)) usage_error(a, "give either --spm-model FILE or --spm-src/--spm-tgt, not both");
    if ((c.spm_src != NULL) != (c.spm_tgt != NULL)) usage_error(a, "--spm-src and --spm-tgt go together");
    if ((c.spm_model || c.spm_src) && train_opt)
        usage_error(a, "%s sets how a SentencePiece model is trained; with %s the model is given", train_opt,
                    c.spm_model ? "--spm-model" : "--spm-src/--spm-tgt");
    if (c.valid && c.valid_pairs) usage_error(a, "give either --valid-pairs N or --valid FILE, not both");
    if (c.valid_count && !c.valid) usage_error(a, "--valid-count goes with --valid FILE");
    if (!c.valid && !c.valid_pairs && (c.valid_every || c.early_stop || c.keep_checkpoints))
        usage_error(a, "--%s needs a validation set (--valid-pairs N or --valid FILE)",
                    c.valid_every ? "valid-every" : c.early_stop ? "early-stop" : "keep-checkpoints");
    if ((c.valid || c.valid_pairs) && !c.valid_every && !c.valid_every_steps) c.valid_every = 10;
    if (!c.out) usage_error(a, "--out MODEL is required");
    if (c.data && (c.src || c.tgt)) usage_error(a, "give either --data or --src/--tgt, not both");
    if ((c.src != NULL) != (c.tgt != NULL)) usage_error(a, "--src and --tgt go together");
    *out = c;
}

/* Refuses sizes whose parameters, gradients, Adam moments and activations cannot fit in this
 * machine's memory, before anything is allocated (Linux would rather kill us later). */
static void check_memory(const s2s_config *mc, const s2s_train_opts *to, int n) {
    double need, have;
    const char *bound;
    char a[32], b[32];
    s2s_memory_limit(&bound);
    if (!s2s_trainer_fits_opts(mc, to, n, &need, &have))
        die("train: this configuration needs %s of memory (parameters, gradients, Adam moments and one batch's "
            "activations), and %s %s; lower --batch, --hidden, --embed, --steps or --pairs",
            s2s_bytes_shown(need, a), bound, s2s_bytes_shown(have, b));
}

/* ---- validation ------------------------------------------------------------------------- */

/* --valid-pairs: validation pair k (0 <= k < nv) is pair floor((2k+1) n / (2 nv)) of the n pairs
 * read, the middle of the k-th of nv equal slices. The set is spread over the whole file (d2l's
 * corpus is sorted by length, so the last N pairs would be only the longest sentences), does not
 * depend on --seed, and has nv distinct pairs since each slice is at least one pair wide
 * (nv < n). The others, in file order, are the training pairs. */
void valid_split(int n, int nv, int *vidx, int *tidx) {
    int k = 0, t = 0;
    for (int i = 0; i < n; i++) {
        if (k < nv && i == (int)((2LL * k + 1) * n / (2LL * nv))) vidx[k++] = i;
        else tidx[t++] = i;
    }
}


typedef struct validator {
    s2s_dataset data;        /* the validation pairs as ids of the training vocabularies */
    char **refs, **hyps;     /* [n] references (target tokens joined by spaces), translations */
    int32_t *out;            /* [B,T] one batch of greedy output */
    int *olen;               /* [B] */
} validator;

static void validator_open(validator *v, const s2s_pairs *p, const s2s_tok *sv, const s2s_tok *tv, int T,
                           int B, const char *where) {
    s2s_err err;
    memset(v, 0, sizeof *v);
    /* d2l: the pairs are tokens; raw (spm): sentences, and the references are the raw targets */
    if (s2s_dataset_for(p, sv, tv, T, &v->data, NULL, &err)) die("%s: %s", where, err.msg);
    v->refs = calloc((size_t)p->n, sizeof(char *));
    v->hyps = calloc((size_t)p->n, sizeof(char *));
    v->out = malloc(sizeof(int32_t) * (size_t)B * T);
    v->olen = malloc(sizeof(int) * (size_t)B);
    if (!v->refs || !v->hyps || !v->out || !v->olen) die("out of memory");
    for (int i = 0; i < p->n; i++) v->refs[i] = pair_reference(p, i, where, "validation");
}

static void validator_close(validator *v) {
    for (int i = 0; i < v->data.n; i++) { free(v->refs[i]); free(v->hyps[i]); }
    free(v->refs); free(v->hyps); free(v->out); free(v->olen);
    s2s_dataset_free(&v->data);
}

/* Validation loss (mean per valid target token, no dropout) and corpus BLEU (sacreBLEU, 13a) of
 * greedy translations, in batches of B on the trainer's workspace. Neither touches the
 * trainer's generator, so training goes on exactly as without validation. */
static void validate(validator *v, s2s_model *m, s2s_ws *ws, int B, int per_token, const s2s_tok *tv,
                     double *loss, double *bleu) {
    const int T = v->data.T, n = v->data.n;
    s2s_err err;
    *loss = s2s_eval_loss(m, ws, &v->data, B, per_token);
    if (*loss < 0) die("out of memory");
    if (s2s_ws_set_steps(ws, T, &err)) die("%s", err.msg);  /* training passes may have left fewer */
    for (int s = 0; s < n; s += B) {
        int nb = n - s < B ? n - s : B;
        if (s2s_greedy(m, ws, nb, v->data.src + (size_t)s * T, v->data.src_len + s, T, v->out, v->olen, NULL, &err))
            die("%s", err.msg);
        for (int b = 0; b < nb; b++) {
            free(v->hyps[s + b]);
            v->hyps[s + b] = decode_ids(tv, v->out + (size_t)b * T, v->olen[b]);
        }
    }
    s2s_corpus_bleu cb;
    if (s2s_bleu_corpus((const char *const *)v->hyps, (const char *const *)v->refs, n, S2S_TOK_13A, &cb, NULL, 0, &err))
        die("%s", err.msg);
    *bleu = cb.score;
}

/* Stops an epoch between batches for a check every N updates and at --max-updates (the same
 * update on every rank of a job), and at --max-time through the stop flag (one process only);
 * sets the linear schedule's factor for the next update. */
typedef struct batch_hook {
    int every;          /* --valid-every-steps (0: none) */
    double deadline;    /* now_s() at which to stop (0: none) */
    long max_updates;   /* --max-updates (0: none) */
    int time_up;        /* the budget that ended the run (0: not yet): 1 --max-time (through g_stop),
                         * 2 --max-updates (through the agreed halt) */
    /* --lr-schedule linear (tr NULL: another schedule) */
    s2s_trainer *tr;
    valid_run *vr;      /* its lr_scale: the factor set, saved with the state */
    double scale0;      /* the factor the command started from (1; a resumed one's, as saved) */
    double t_start, max_time;
} batch_hook;
static void set_linear(batch_hook *h, long step) {
    h->vr->lr_scale = s2s_lr_linear_scale(step, h->max_updates, h->scale0, now_s() - h->t_start, h->max_time);
    s2s_trainer_set_lr_scale(h->tr, (float)h->vr->lr_scale);
}
static int on_batch(void *ctx, const s2s_trainer *t) {
    batch_hook *h = ctx;
    const long step = s2s_trainer_step(t);
    if (h->deadline > 0 && !h->time_up && now_s() >= h->deadline) { h->time_up = 1; g_stop = 1; }
    if (h->max_updates && !h->time_up && step >= h->max_updates) h->time_up = 2;
    if (h->tr) set_linear(h, step);
    return (h->every && step % h->every == 0) || h->time_up == 2;
}

/* Batches by tokens: the padding of the epoch's batches, source and target. */
static const char *padding_note(const s2s_trainer *t) {
    static char buf[96];
    double pct[2];
    s2s_trainer_padding(t, pct);
    snprintf(buf, sizeof buf, ", padding %.1f%% source, %.1f%% target", pct[0], pct[1]);
    return buf;
}

/* The tokenizers of a new run (s2s_tok_for_training): d2l's vocabularies of the training pairs,
 * or SentencePiece models given (--spm-model, --spm-src/--spm-tgt) or trained on the pairs. */
static void new_tokenizers(const train_cfg *c, const s2s_pairs *p, s2s_tok **sv, s2s_tok **tv) {
    s2s_tok_train_opts o = {c->spm, {c->spm_bpe ? S2S_SPM_BPE : S2S_SPM_UNIGRAM, c->vocab_size, c->coverage,
                                     S2S_SPM_TRAIN_THREADS},
                            c->spm_joint, c->spm_model, c->spm_src, c->spm_tgt};
    s2s_err err;
    double t0 = now_s();
    if (s2s_tok_for_training(p, &o, sv, tv, &err)) die("%s", err.msg);
    if (c->spm && !c->spm_model && !c->spm_src && !c->quiet)
        fprintf(stderr, "seq2seq: SentencePiece (%s, %s) trained in %.1f s: %d/%d pieces\n",
                c->spm_bpe ? "bpe" : "unigram", c->spm_joint ? "one joint model" : "one model per side",
                now_s() - t0, s2s_tok_size(*sv), s2s_tok_size(*tv));
}

int cmd_train(args *a) {
    s2s_dist *dist = job_open();  /* under mpirun: this rank's place in the job; rank 0 speaks and writes */
    const int writer = job_speaks();
    train_cfg c;
    train_parse(a, &c);
    if (!writer) { c.quiet = 1; c.plot = NULL; }
    c.t_start = now_s();
    char *latest = latest_path(&c), *state = str_cat(c.out, ".state");
    if (writer) check_train_files(&c, latest, state);
    if (!c.data && !c.src) c.data = data_default_corpus(c.quiet);  /* d2l's fra-eng, fetched into the cache once */
    /* OpenBLAS's own pool is the BLAS library's process-wide state, not ours: one thread (our
     * threads run their own products); every parallel region of ours takes c.threads from the
     * trainer's options instead of OpenMP's process default */
    s2s_set_blas_threads(1);

    s2s_err err;
    s2s_st_file *resume_f = NULL;  /* the state file, read once; a changed option is named as such, first */
    int saved_slices = 0;
    if (c.resume) {
        if (s2s_st_read(state, &resume_f, &err)) die("--resume: %s", err.msg);
        saved_slices = check_state_opts(resume_f, state, &c);
    }

    s2s_pairs all, pairs, vpairs = {0};
    const char *where = c.data ? c.data : c.src;
    /* d2l's tokenizer reads preprocessed tokens; SentencePiece raw sentences */
    const s2s_text_mode mode = c.spm ? S2S_TEXT_RAW : S2S_TEXT_D2L;
    int rc = c.data ? s2s_pairs_read_as(c.data, c.pairs, mode, &all, &err)
                    : s2s_pairs_read2_as(c.src, c.tgt, c.pairs, mode, &all, &err);
    if (rc) die("%s", err.msg);
    if (all.skipped && !c.quiet)
        fprintf(stderr, "seq2seq: %s: skipped %d line%s without a tab\n", c.data, all.skipped, all.skipped == 1 ? "" : "s");
    if (c.valid_pairs) {
        if (c.valid_pairs >= all.n)
            die("--valid-pairs %d: %s has only %d pairs (with --pairs %d), which leaves no training pair; ask for at most %d",
                c.valid_pairs, where, all.n, c.pairs, all.n - 1);
        int *vidx = malloc(sizeof(int) * (size_t)c.valid_pairs), *tidx = malloc(sizeof(int) * (size_t)all.n);
        if (!vidx || !tidx) die("out of memory");
        valid_split(all.n, c.valid_pairs, vidx, tidx);
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
            if (s2s_pairs_read_as(c.valid, c.valid_count, mode, &vpairs, &err)) die("--valid: %s", err.msg);
            if (vpairs.skipped && !c.quiet)
                fprintf(stderr, "seq2seq: %s: skipped %d line%s without a tab\n", c.valid, vpairs.skipped, vpairs.skipped == 1 ? "" : "s");
        }
    }
    const int validating = vpairs.n > 0;
    /* Vocabularies come from the training pairs only: a held-out word is <unk> to the model. */
    s2s_tok *sv, *tv;
    s2s_dataset data;
    s2s_model *m = NULL;
    if (c.spm && c.resume) {  /* the run's SentencePiece models are in its latest model file */
        if (s2s_model_load_tok(latest, &m, &sv, &tv, &err)) die("--resume: %s", err.msg);
    } else {
        new_tokenizers(&c, &pairs, &sv, &tv);
    }
    s2s_encode_stats es;
    if (s2s_dataset_for(&pairs, sv, tv, c.mc.num_steps, &data, &es, &err)) die("%s: %s", where, err.msg);
    if (c.spm && !c.quiet)
        fprintf(stderr, "seq2seq: tokens per sentence: source %.2f (longest %d), target %.2f (longest %d); "
                "%d of %d pairs (%.1f%%) are cut at --steps %d\n", es.tokens[0] / data.n, es.longest[0],
                es.tokens[1] / data.n, es.longest[1], es.cut, data.n, 100.0 * es.cut / data.n, c.mc.num_steps);
    const double corpus_bytes = (double)s2s_pairs_bytes(&pairs);
    s2s_pairs_free(&pairs);  /* the ids are all training needs from here on */
    if (c.max_len) {
        const int dropped = s2s_dataset_drop_long(&data, c.max_len);
        if (!c.quiet && dropped)
            fprintf(stderr, "seq2seq: --max-len %d: dropped %d pair%s with a longer side (%.2f%%)\n", c.max_len, dropped,
                    dropped == 1 ? "" : "s", 100.0 * dropped / (data.n + dropped));
        if (data.n == 0) die("--max-len %d: no training pair is that short", c.max_len);
    }
    c.mc.src_vocab = s2s_vocab_size(s2s_tok_vocab(sv));
    c.mc.tgt_vocab = s2s_vocab_size(s2s_tok_vocab(tv));
    const int batch = c.batch < data.n ? c.batch : data.n;
    s2s_train_opts to = {.batch = c.batch, .lr = (float)c.lr, .clip = (float)c.clip, .threads = c.threads,
                         .dist = dist, .batch_tokens = c.batch_tokens, .smoothing = (float)c.smoothing,
                         .schedule = (s2s_lr_schedule)c.lr_schedule, .warmup = c.warmup, .gemm = g_gemm};
    check_memory(&c.mc, &to, data.n);
    /* --threads sets the mathematics (slices of each batch), so it is not capped to the machine */
    if (!c.quiet && c.threads > batch)
        fprintf(stderr, "seq2seq: --threads %d: batches of %d rows are cut into %d slices (one row each)\n",
                c.threads, batch, batch);
    else if (!c.quiet && c.threads > online_cpus())
        fprintf(stderr, "seq2seq: --threads %d on %d CPUs: the slices share them (the numbers of %d threads, "
                "not their speed)\n", c.threads, online_cpus(), c.threads);

    s2s_rng rng;
    s2s_rng_seed(&rng, c.seed);
    if (c.resume) {
        s2s_tok *lsv = NULL, *ltv = NULL;
        if (!m && s2s_model_load_tok(latest, &m, &lsv, &ltv, &err)) die("--resume: %s", err.msg);
        if (lsv && strcmp(s2s_tok_name(lsv), s2s_tok_name(sv)))
            die("--resume: %s was trained with --tokenizer %s, now %s (use the same options)", latest, s2s_tok_name(lsv),
                s2s_tok_name(sv));
        if (lsv && (!same_vocab(s2s_tok_vocab(sv), s2s_tok_vocab(lsv)) || !same_vocab(s2s_tok_vocab(tv), s2s_tok_vocab(ltv))))
            die("--resume: %s was trained on other data (its vocabulary differs)", latest);
        const char *names[] = {"embed", "hidden", "layers", "steps"};
        int have[] = {m->cfg.embed, m->cfg.hidden, m->cfg.layers, m->cfg.num_steps};
        int want[] = {c.mc.embed, c.mc.hidden, c.mc.layers, c.mc.num_steps};
        const s2s_config *mc = &m->cfg;
        if (mc->attention != c.mc.attention)
            die("--resume: the run was started with --attention %s, now %s (use the same options)", s2s_attention_name(mc->attention), s2s_attention_name(c.mc.attention));
        if (mc->cell != c.mc.cell)
            die("--resume: the run was started with --cell %s, now %s (use the same options)", s2s_cell_name(mc->cell), s2s_cell_name(c.mc.cell));
        if (mc->encoder != c.mc.encoder)
            die("--resume: the run was started with --encoder %s, now %s (use the same options)", s2s_encoder_name(mc->encoder), s2s_encoder_name(c.mc.encoder));
        if (mc->input_feed != c.mc.input_feed || mc->tie_embeddings != c.mc.tie_embeddings)
            die("--resume: the run was started %s --%s (use the same options)", (mc->input_feed != c.mc.input_feed ? mc->input_feed : mc->tie_embeddings) ? "with" : "without",
                mc->input_feed != c.mc.input_feed ? "input-feed" : "tie-embeddings");
        for (int i = 0; i < 4; i++)
            if (have[i] != want[i])
                die("--resume: the run was started with --%s %d, now %d (use the same options)", names[i], have[i], want[i]);
        m->cfg.dropout = c.mc.dropout;
        s2s_tok_free(lsv); s2s_tok_free(ltv);
    } else {
        if (s2s_model_create(&c.mc, &m, &err)) die("%s", err.msg);
        s2s_model_init(m, &rng);
    }
    g_ranks = s2s_dist_size(dist);
    if (g_ranks > 1 && c.max_time > 0) die("--max-time is for one process (the ranks of a job would not stop together)");
    s2s_dist_set_reduce(dist, (s2s_dist_reduce)c.allreduce);
    s2s_dist_set_threads(dist, c.threads);
    s2s_trainer *tr;
    if (s2s_trainer_create(m, &data, &to, &rng, &tr, &err)) die("%s", err.msg);
    int ws_rows;
    s2s_ws *ws = s2s_trainer_workspace(tr, &ws_rows);
    valid_run vr = {-1.0, 0.0, 0, 0, 0, 1.0, 0};
    if (c.resume) {
        if (s2s_state_from_st(resume_f, state, tr, check_resume_opt, &c, &err)) die("--resume: %s", err.msg);
        if (s2s_trainer_epochs_done(tr) > c.epochs)
            die("--resume: %s is at epoch %d, past --epochs %d (give --epochs %d or more to go on)", state, s2s_trainer_epochs_done(tr),
                c.epochs, s2s_trainer_epochs_done(tr));
        if (c.max_updates && s2s_trainer_step(tr) >= c.max_updates)
            die("--resume: %s is at update %ld, --max-updates is %ld (give a higher --max-updates to go on)", state,
                s2s_trainer_step(tr), c.max_updates);
        if (validating) load_valid_run(resume_f, state, s2s_trainer_epochs_done(tr), &vr);
        else if (c.lr_schedule == S2S_LR_LINEAR) load_run_value(resume_f, state, 5, &vr);
        if (c.lr_schedule == S2S_LR_LINEAR && c.max_time > 0 && !(vr.lr_scale > 0))
            die("--resume: %s: the linear schedule's rate reached 0 when the run's time budget ended; by time "
                "nothing is left to train at (--max-updates alone goes on by updates)", state);
    }
    validator vd;
    /* validation runs on shard 0's workspace, which holds a slice of a batch with --threads > 1
     * (and, with batches by tokens, fewer rows of num_steps than a batch has) */
    if (validating) validator_open(&vd, &vpairs, sv, tv, c.mc.num_steps, ws_rows, c.valid ? c.valid : where);
    /* every rank of a job must start from the same options, data and state (or fail together) */
    char job_opts[1400];
    job_options(&c, job_opts, sizeof job_opts);
    uint64_t data_hash = job_data_hash(S2S_FNV_SEED, &data, s2s_tok_vocab(sv), s2s_tok_vocab(tv));
    if (validating) data_hash = job_data_hash(data_hash, &vd.data, NULL, NULL);
    job_agree(job_opts, data_hash, s2s_trainer_fingerprint(tr));
    if (c.resume && !c.quiet) {
        fprintf(stderr, "seq2seq: resuming %s at epoch %d\n", latest, s2s_trainer_epochs_done(tr) + (s2s_trainer_position(tr) > 0));
        if (saved_slices && saved_slices != c.threads * g_ranks)
            fprintf(stderr, "seq2seq: the run was saved with %d slices per batch (threads x ranks), now %d: the same "
                    "order of pairs, other dropout streams and sums from here\n", saved_slices, c.threads * g_ranks);
    }
    if (!c.quiet) {
        fprintf(stderr, "seq2seq: %d pairs, vocab %d/%d, %s model (%s, %s encoder, %s attention%s%s), %zu parameters\n",
                data.n, c.mc.src_vocab, c.mc.tgt_vocab, s2s_model_kind_name(c.mc.attention), s2s_cell_name(c.mc.cell),
                s2s_encoder_name(c.mc.encoder), s2s_attention_name(c.mc.attention), c.mc.input_feed ? ", input feeding" : "",
                c.mc.tie_embeddings ? ", tied embeddings" : "", m->n_params);
        if (validating)
            fprintf(stderr, "seq2seq: validation on %d pairs (%s) every %d %s%s\n", vpairs.n,
                    c.valid ? c.valid : "held out of the training pairs",
                    c.valid_every_steps ? c.valid_every_steps : c.valid_every, c.valid_every_steps ? "updates" : "epochs",
                    c.early_stop ? "; --out keeps the best model" : "");
        if (c.batch_tokens || c.smoothing > 0 || c.lr_schedule != S2S_LR_CONSTANT || c.warmup) {
            char bt[64] = "batches of --batch pairs";
            if (c.batch_tokens) snprintf(bt, sizeof bt, "batches of at most %d positions by length", c.batch_tokens);
            fprintf(stderr, "seq2seq: %s, loss per %s, label smoothing %g, learning rate %g %s after %d warm-up updates\n",
                    bt, c.batch_tokens ? "target token" : "sequence / steps", c.smoothing, c.lr,
                    s2s_lr_schedule_name(c.lr_schedule), c.warmup);
        }
        /* what the run holds: parameters, gradients and Adam's two moments (plus each extra
         * shard's gradients), the activations of one batch, and the corpus as read (the text
         * while the vocabularies and ids are made, then the ids) */
        double mib = 1048576.0, state, act;
        s2s_trainer_memory_opts(&c.mc, &to, data.n, &state, &act);
        double ids = (double)data.n * data.T * 4 * 2;
        fprintf(stderr, "seq2seq: memory: %.1f MiB parameters+gradients+Adam, %.1f MiB activations, %.1f MiB corpus "
                "(%.1f MiB text, then %.1f MiB ids) = %.1f MiB\n", state / mib, act / mib,
                (corpus_bytes > ids ? corpus_bytes : ids) / mib, corpus_bytes / mib, ids / mib,
                (state + act + (corpus_bytes > ids ? corpus_bytes : ids)) / mib);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);  /* a closed terminal: save and stop, as for Ctrl-C */
    s2s_dist_watch(dist, &g_stop);  /* Open MPI's launcher also sends SIGTERM when a rank dies */
    static const char *files[2];  /* read by the watchdog thread until the job is closed */
    files[0] = latest; files[1] = state;
    s2s_dist_on_stall(dist, on_stall, (void *)files);

    int tty = isatty(2) && !c.quiet;
    const int n_checks = c.valid_every ? c.epochs / c.valid_every + 1 : 1;
    const size_t cap = (size_t)c.epochs + 1, vcap = (size_t)n_checks;
    curves cv = {calloc(cap, sizeof(float)), calloc(cap, sizeof(float)), 0,
                 calloc(vcap, sizeof(float)), calloc(vcap, sizeof(float)), calloc(vcap, sizeof(float)), 0, vcap};
    if (!cv.ep || !cv.loss || !cv.vep || !cv.vloss || !cv.vbleu) die("out of memory");
    if (c.resume) {
        const long vmax = c.valid_every_steps ? s2s_trainer_step(tr) / c.valid_every_steps : s2s_trainer_epochs_done(tr);
        load_history(resume_f, state, s2s_trainer_epochs_done(tr), vmax, &cv, cap, vcap);
    }
    s2s_st_free(resume_f);
    if (c.lr_schedule == S2S_LR_PLATEAU) s2s_trainer_set_lr_scale(tr, (float)vr.lr_scale);
    s2s_epoch_stats st = {0};
    int plot_failed = 0;
    double t0 = now_s();
    const int start_pos = s2s_trainer_position(tr);
    int start_epoch = s2s_trainer_epochs_done(tr), stopped = c.early_stop && vr.bad_checks >= c.early_stop, time_up = 0;
    double all_tokens = 0, all_seconds = 0, all_flops = 0;
    if (stopped && !c.quiet)
        fprintf(stderr, "seq2seq: this run already stopped early at epoch %d (no better validation BLEU in %d checks)\n", s2s_trainer_epochs_done(tr), vr.bad_checks);
    /* --valid-every-steps, --max-time and --max-updates stop the epoch between batches; a check
     * then goes on, a spent budget ends the run */
    batch_hook hook = {c.valid_every_steps, c.max_time > 0 ? c.t_start + c.max_time : 0.0, c.max_updates, 0,
                       NULL, &vr, vr.lr_scale, c.t_start, c.max_time};
    if (c.lr_schedule == S2S_LR_LINEAR) {  /* the first update's factor */
        hook.tr = tr;
        set_linear(&hook, s2s_trainer_step(tr));
    }
    if (hook.every || hook.deadline > 0 || hook.max_updates || hook.tr) s2s_trainer_set_on_batch(tr, on_batch, &hook);
    while (!stopped && s2s_trainer_epochs_done(tr) < c.epochs) {
        if (s2s_trainer_epoch(tr, &st, &g_stop, &err)) {
            if (!s2s_dist_failed(dist)) die("%s", err.msg);  /* training diverged */
            char note[4200];  /* a rank of the job was lost */
            saved_note(note, sizeof note, latest, state);
            job_lost(err.msg, note);
        }
        if (!st.complete && g_stop && !hook.time_up) break;
        time_up = hook.time_up;
        const int e = s2s_trainer_epochs_done(tr);  /* epochs completed */
        double tps = st.seconds > 0 ? st.tokens / st.seconds : 0.0;
        /* checks at multiples of E epochs or N updates only, so a resumed run checks where an
         * uninterrupted one does */
        int check = 0;
        if (validating && c.valid_every_steps) check = s2s_trainer_step(tr) > 0 && s2s_trainer_step(tr) % c.valid_every_steps == 0;
        else if (validating) check = st.complete && e % c.valid_every == 0;
        if (st.complete) {
            all_tokens += st.tokens; all_seconds += st.seconds; all_flops += st.flops;
            cv.ep[cv.n] = (float)e; cv.loss[cv.n] = (float)st.loss; cv.n++;
        }
        double vloss = 0, vbleu = 0;
        int improved = 0;
        if (check) {
            validate(&vd, m, ws, ws_rows, c.batch_tokens > 0, tv, &vloss, &vbleu);
            curves_add_check(&cv, st.complete ? e : e + (double)s2s_trainer_position(tr) / data.n, vloss, vbleu);
            improved = vbleu > vr.best_bleu;  /* a tie is no improvement */
            if (improved) {
                vr.best_bleu = vbleu; vr.best_loss = vloss; vr.best_epoch = e; vr.best_step = s2s_trainer_step(tr);
                vr.bad_checks = 0; vr.lr_bad = 0;
            } else {
                vr.bad_checks++;
                /* ReduceLROnPlateau (mode max, threshold 0, cooldown 0): after more than P bad checks */
                if (c.lr_schedule == S2S_LR_PLATEAU && ++vr.lr_bad > c.lr_patience) {
                    vr.lr_scale *= c.lr_factor;
                    s2s_trainer_set_lr_scale(tr, (float)vr.lr_scale);
                    vr.lr_bad = 0;
                }
            }
        }
        char vtxt[160] = "";
        if (check)
            snprintf(vtxt, sizeof vtxt, ", valid loss %.3f, valid BLEU %.2f%s%s", vloss, vbleu,
                     improved && c.early_stop ? " (best, saved)" : "",
                     c.lr_schedule == S2S_LR_PLATEAU && vr.lr_scale < 1 ? (vr.lr_bad == 0 && !improved ? ", rate lowered" : "") : "");
        if (check && !st.complete) {  /* a check within the epoch */
            double lsum, ltok;
            s2s_trainer_epoch_sums(tr, &lsum, &ltok, NULL);
            const double lnow = ltok > 0 ? lsum / ltok : 0.0;
            if (!c.quiet)
                fprintf(stderr, "%supdate %ld (epoch %.2f) loss %.3f, lr %.3g%s\n", tty ? "\r" : "", s2s_trainer_step(tr),
                        e + (double)s2s_trainer_position(tr) / data.n, lnow, (double)s2s_trainer_lr(tr), vtxt);
        } else if (st.complete && tty) {
            double left = (now_s() - t0) / (e - start_epoch) * (c.epochs - e);
            fprintf(stderr, "\repoch %d/%d  loss %.3f  %.0f tokens/sec  %.0fs left   ", e, c.epochs, st.loss, tps, left);
            if (check) fprintf(stderr, "\repoch %d/%d loss %.3f, %.1f tokens/sec%s\n", e, c.epochs, st.loss, tps, vtxt);
        } else if (st.complete && !c.quiet && (check || e % c.log_every == 0 || e == c.epochs)) {
            fprintf(stderr, "epoch %d/%d loss %.3f, %.1f tokens/sec%s%s\n", e, c.epochs, st.loss, tps,
                    c.batch_tokens ? padding_note(tr) : "", vtxt);
        }
        if (c.plot && (check || (st.complete && (e % c.log_every == 0 || e == c.epochs))))
            draw_curves(c.plot, &cv, &plot_failed, 0);
        const int best = improved && c.early_stop;  /* the best model, the latest weights and their state */
        if (writer && (best || (st.complete && c.save_every && e % c.save_every == 0 && e < c.epochs)))
            save_all(&c, latest, state, m, sv, tv, tr, &vr, &cv, best);
        if (writer && check && c.keep_checkpoints)
            keep_checkpoint(&c, c.valid_every_steps ? s2s_trainer_step(tr) : e,
                            c.valid_every_steps ? c.valid_every_steps : c.valid_every, m, sv, tv);
        if (c.early_stop && vr.bad_checks >= c.early_stop) stopped = 1;
        if (time_up) break;
    }
    if (!st.complete && st.seconds > 0 && (!g_stop || hook.time_up)) {  /* stopped within an epoch by --max-time or --max-updates */
        all_tokens += st.tokens; all_seconds += st.seconds; all_flops += st.flops;
    }
    if (tty) fputc('\n', stderr);
    if (writer) save_all(&c, latest, state, m, sv, tv, tr, &vr, &cv, 0);
    if (c.plot && plot_failed) draw_curves(c.plot, &cv, &plot_failed, 1);
    /* one process stops on its own flag; the ranks of a job on the one they agreed on */
    const int interrupted = g_ranks > 1 ? s2s_trainer_stopped(tr) : g_stop && !hook.time_up;
    int status = 0;
    if (interrupted) {
        if (writer)
            fprintf(stderr, "seq2seq: interrupted: saved %s at epoch %d (+%d pairs); continue with --resume\n", latest, s2s_trainer_epochs_done(tr), s2s_trainer_position(tr));
        status = 130;
    } else if (st.seconds > 0 && writer) {
        printf("loss %.3f, %.1f tokens/sec on cpu\n", st.loss, st.tokens / st.seconds);
        char who[64];
        if (g_ranks > 1) snprintf(who, sizeof who, "%d ranks x %d thread%s", g_ranks, c.threads, c.threads == 1 ? "" : "s");
        else snprintf(who, sizeof who, "%d thread%s", c.threads, c.threads == 1 ? "" : "s");
        if (!c.quiet && all_seconds > 0)
            fprintf(stderr, "seq2seq: %d epochs, %.0f target tokens in %.3f s of training: %.1f tokens/sec, %.1f GFLOP/s in products (%s), %.1f pairs/sec; %ld updates in all\n",
                    s2s_trainer_epochs_done(tr) - start_epoch, all_tokens, all_seconds, all_tokens / all_seconds,
                    all_flops / all_seconds * 1e-9, who,
                    ((double)(s2s_trainer_epochs_done(tr) - start_epoch) * data.n + s2s_trainer_position(tr) - start_pos) / all_seconds, s2s_trainer_step(tr));
    }
    if (time_up == 1 && !interrupted && !c.quiet)
        fprintf(stderr, "seq2seq: --max-time %g s reached at update %ld (epoch %d + %d pairs); saved, --resume (with a "
                "later --max-time) goes on\n", c.max_time, s2s_trainer_step(tr), s2s_trainer_epochs_done(tr), s2s_trainer_position(tr));
    if (time_up == 2 && !interrupted && !c.quiet)
        fprintf(stderr, "seq2seq: --max-updates %ld reached (epoch %d + %d pairs); saved, --resume with a higher "
                "--max-updates goes on\n", c.max_updates, s2s_trainer_epochs_done(tr), s2s_trainer_position(tr));
    if (validating && !c.quiet) {
        if (stopped && !interrupted && s2s_trainer_epochs_done(tr) > start_epoch)
            fprintf(stderr, "seq2seq: early stop at epoch %d: no better validation BLEU in %d checks\n", s2s_trainer_epochs_done(tr), c.early_stop);
        if (vr.best_bleu < 0)
            fprintf(stderr, "seq2seq: no validation check yet (every %d %s)%s\n",
                    c.valid_every_steps ? c.valid_every_steps : c.valid_every, c.valid_every_steps ? "updates" : "epochs",
                    c.early_stop ? "; the best model is not saved until the first one" : "");
        else if (c.early_stop && c.valid_every_steps)
            fprintf(stderr, "seq2seq: %s is the model of update %ld (best valid BLEU %.2f, valid loss %.3f); latest weights in %s\n",
                    c.out, vr.best_step, vr.best_bleu, vr.best_loss, latest);
        else if (c.early_stop)
            fprintf(stderr, "seq2seq: %s is the model of epoch %d (best valid BLEU %.2f, valid loss %.3f); latest weights in %s\n",
                    c.out, vr.best_epoch, vr.best_bleu, vr.best_loss, latest);
        else if (c.valid_every_steps && vr.best_step > 0)  /* checks by updates: name updates, not epochs */
            fprintf(stderr, "seq2seq: best valid BLEU %.2f at update %ld; %s is the model of update %ld (the last)\n",
                    vr.best_bleu, vr.best_step, c.out, s2s_trainer_step(tr));
        else
            fprintf(stderr, "seq2seq: best valid BLEU %.2f at epoch %d; %s is the model of epoch %d\n", vr.best_bleu,
                    vr.best_epoch, c.out, s2s_trainer_epochs_done(tr));
    }
    free(cv.ep); free(cv.loss); free(cv.vep); free(cv.vloss); free(cv.vbleu);
    if (validating) validator_close(&vd);
    s2s_trainer_free(tr); s2s_model_free(m); s2s_dataset_free(&data);
    s2s_tok_free(sv); s2s_tok_free(tv); s2s_pairs_free(&vpairs);
    job_close();  /* ends the watchdog, which reads latest and state */
    free(latest); free(state);
    return status;
}

