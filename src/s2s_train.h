/* d2l's train_seq2seq as a resumable object: shuffled mini-batches (last partial batch kept),
 * teacher forcing, masked cross-entropy summed over the batch, clipping to norm 1, Adam. */
#ifndef S2S_TRAIN_H
#define S2S_TRAIN_H
#include <signal.h>

#include "s2s_dist.h"
#include "s2s_model.h"
#include "s2s_optim.h"
#include "s2s_text.h"

/* The learning rate at update s (1, 2, ...; lr the peak, W the warm-up in updates):
 *   constant      lr, after a linear warm-up lr * s / W while s <= W (W = 0: none)
 *   inverse-sqrt  fairseq's inverse_sqrt (warmup_init_lr 0): lr * s / W while s <= W, then
 *                 lr * sqrt(W / s) (W >= 1). fairseq counts the updates made before the one it
 *                 sets the rate for, so its first update has rate 0; here the count includes it.
 *   plateau       as constant, times a factor the caller lowers (s2s_trainer_set_lr_scale) when
 *                 validation stops improving, as PyTorch's ReduceLROnPlateau.
 *   linear        as constant, times a factor the caller sets before each update from the run's
 *                 progress through its budget (s2s_lr_linear_scale): 1 at the start, 0 at the
 *                 end, as fairseq's polynomial_decay (power 1, end_learning_rate 0) but over a
 *                 budget of updates or of seconds. */
typedef enum s2s_lr_schedule {
    S2S_LR_CONSTANT = 0, S2S_LR_INVSQRT = 1, S2S_LR_PLATEAU = 2, S2S_LR_LINEAR = 3
} s2s_lr_schedule;
const char *s2s_lr_schedule_name(s2s_lr_schedule s);        /* "constant", "inverse-sqrt", "plateau", "linear" */
int s2s_lr_schedule_parse(const char *s, s2s_lr_schedule *out); /* 0, or -1 for an unknown name */
double s2s_lr_at(s2s_lr_schedule s, double lr, int warmup, long step);
/* The linear schedule's factor for the update after `step` updates in all (so 1 for the first):
 *   min(1 - step / max_updates, scale0 * (1 - elapsed / max_time)), at least 0,
 * each term only when its budget is given (> 0; neither: 1). The update budget counts every
 * update of the run, so a resumed run falls on the same line; the time budget is one command's
 * (elapsed: seconds since it started), so a resumed command falls from scale0, the factor its
 * state was saved with, to 0 at its own --max-time. */
double s2s_lr_linear_scale(long step, long max_updates, double scale0, double elapsed, double max_time);

typedef struct s2s_train_opts {
    int batch;      /* 64 */
    float lr;       /* 0.005 */
    float clip;     /* 1 */
    int threads;    /* data-parallel shards of each batch, one thread each (1 = one pass); also
                     * the threads of the step's passes over the arena (sum, norm, Adam) */
    s2s_dist *dist; /* NULL: one process; else this process is one rank of a data-parallel job
                     * (every rank the same options and data; s2s_dist.h) */
    /* The recipe for real data; zeros are d2l's. */
    int batch_tokens;   /* 0: d2l's batches of `batch` pairs of the shuffled order; N: batches of at
                         * most N positions (rows x the batch's longest side), length-bucketed
                         * (s2s_trainer_epoch), and the loss is the mean per target token */
    float smoothing;    /* label smoothing (s2s_smoothed_ce); 0: none */
    s2s_lr_schedule schedule;
    int warmup;         /* updates of linear warm-up */
    s2s_gemm_kind gemm; /* the workspaces' products (s2s_ws_opts.gemm); 0: the default */
} s2s_train_opts;

#define S2S_MAX_SHARDS 64

/* The training loop's state: opaque outside the library's s2s_train.c (and the state files of
 * s2s_checkpoint.c, through the private s2s_train_impl.h); callers read and set it through the
 * accessors below. */
typedef struct s2s_trainer s2s_trainer;

typedef struct s2s_epoch_stats {
    double loss;       /* Σ per-sequence losses / Σ valid target tokens, d2l's printed figure (by
                        * tokens: the mean loss per target token, label smoothing included) */
    double tokens;     /* valid target tokens seen */
    double seconds;    /* wall time of the epoch */
    int complete;      /* 0 when stopped early by the stop flag */
    double flops;      /* estimated operations (see s2s_ws_forward_flops), forward and backward */
} s2s_epoch_stats;

/* rng: the generator that initialised the model; the trainer continues from its state. */
int s2s_trainer_create(s2s_model *m, const s2s_dataset *d, const s2s_train_opts *o, const s2s_rng *rng,
                       s2s_trainer **out, s2s_err *err);
void s2s_trainer_free(s2s_trainer *t);
/* Bytes a trainer for this configuration would hold, computed without allocating anything:
 * parameters, gradients (plus each thread's own when threads > 1) and Adam's two moments in
 * *state, the workspaces of one batch's activations in *act. */
void s2s_trainer_memory(const s2s_config *c, int batch, int threads, double *state, double *act);
/* The same for any options, with n training pairs. */
void s2s_trainer_memory_opts(const s2s_config *c, const s2s_train_opts *o, int n, double *state, double *act);
/* 1 when a trainer for this configuration fits in the memory the process may hold
 * (s2s_memory_limit: physical memory, or an address-space limit; 1 when unknown); *need and
 * *have in bytes. */
int s2s_trainer_fits(const s2s_config *c, int batch, int threads, double *need, double *have);
int s2s_trainer_fits_opts(const s2s_config *c, const s2s_train_opts *o, int n, double *need, double *have);
/* With threads > 1 every batch is cut into that many contiguous slices, each run forward and
 * backward by its own thread into its own gradients with its own dropout stream (seeded from
 * the trainer's generator), and the gradients are summed: the same mathematics, and the same
 * numbers for the same seed and thread count. A job of R ranks (opt.dist) cuts every batch
 * into R x threads slices (at most one per row): rank r takes slices r*threads onwards, every
 * rank reads the whole batch (the same shuffle), and the exchange of each step
 * (s2s_dist_sum) sums the ranks' gradients in rank order and every rank takes the same step.
 * The slices, their dropout streams, the order of every sum and the parts of the clipping
 * norm are those of one process with R x threads threads: `-np R --threads 1` computes the
 * numbers of `--threads R` in one process, to the last bit. Needs R <= batch. */
/* Trains until the end of the current epoch, or until *stop becomes non-zero (checked
 * between batches; the epoch can then be continued by calling again). A non-finite loss or
 * gradient is an error naming the epoch and batch (1-based), raised before that batch's update:
 * the weights stay those of the last good batch. In a job of ranks the flag is each rank's own
 * and the ranks agree at every step's exchange: all stop after the same batch once one rank's
 * flag is set (t->stopped). A failed exchange (a rank lost) returns S2S_ERR. */
int s2s_trainer_epoch(s2s_trainer *t, s2s_epoch_stats *st, volatile sig_atomic_t *stop, s2s_err *err);

/* ---- accessors (the trainer is opaque) ---- */
int s2s_trainer_epochs_done(const s2s_trainer *t);  /* epochs completed */
int s2s_trainer_position(const s2s_trainer *t);     /* pairs of the current epoch already trained (0: not started) */
long s2s_trainer_step(const s2s_trainer *t);        /* updates taken (Adam's step) */
float s2s_trainer_lr(const s2s_trainer *t);         /* the learning rate of the last update (the schedule's) */
/* The plateau schedule's factor on the learning rate (1 until the caller lowers it). */
void s2s_trainer_set_lr_scale(s2s_trainer *t, float scale);
/* Called after each batch when fn is set (NULL: none); returning non-zero stops the epoch there,
 * as *stop does (s2s_trainer_epoch can then continue it). */
typedef int (*s2s_on_batch_fn)(void *ctx, const s2s_trainer *t);
void s2s_trainer_set_on_batch(s2s_trainer *t, s2s_on_batch_fn fn, void *ctx);
/* Shard 0's workspace (the only one with one thread), owned by the trainer, and in *rows the rows
 * each workspace holds at num_steps: batches evaluated on it (validation) take at most that many,
 * which under threads or ranks is fewer than the training batch. */
s2s_ws *s2s_trainer_workspace(const s2s_trainer *t, int *rows);
/* 1 when the ranks of a job agreed to stop (at the last batch's exchange); 0 in one process. */
int s2s_trainer_stopped(const s2s_trainer *t);
/* The current epoch's sums so far: Σ losses (as s2s_epoch_stats.loss x tokens), valid target
 * tokens, wall seconds. */
void s2s_trainer_epoch_sums(const s2s_trainer *t, double *loss, double *tokens, double *seconds);
/* Batches by tokens: the padding of the epoch's batches so far, in percent of their positions,
 * source [0] and target [1] (0 before any batch). */
void s2s_trainer_padding(const s2s_trainer *t, double pct[2]);
/* This epoch's order of the pairs, [n] (owned by the trainer); by tokens *nb batches, batch k
 * being order[bstart[k] .. bstart[k+1]) (d2l's batches: *nb 0, *bstart NULL). nb, bstart may be
 * NULL. */
const int32_t *s2s_trainer_order(const s2s_trainer *t, int *nb, const int32_t **bstart);
/* The generator that shuffles and seeds dropout (its state decides the next epoch's order). */
const s2s_rng *s2s_trainer_rng(const s2s_trainer *t);
/* FNV-1a of everything the next update depends on: weights, Adam's moments and step, the
 * epoch's order, the generator, epoch and position (the ranks of a job compare it). */
uint64_t s2s_trainer_fingerprint(const s2s_trainer *t);

/* Mean loss per valid token over a dataset without dropout or updates (validation): d2l's
 * figure (each position's cross-entropy weighted 1/T, then / tokens) or, with per_token, the
 * mean cross-entropy per target token (no smoothing). -1 when out of memory. */
double s2s_eval_loss(s2s_model *m, s2s_ws *ws, const s2s_dataset *d, int batch, int per_token);
/* Workspace sizes a trainer uses for batches of these options: rows, positions. */
void s2s_train_ws_dims(const s2s_train_opts *o, int n, int T, int shards, int *rows, long *tokens);

#endif
