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
 *   plateau       as constant, times a factor the caller lowers (s2s_trainer.lr_scale) when
 *                 validation stops improving, as PyTorch's ReduceLROnPlateau. */
typedef enum s2s_lr_schedule { S2S_LR_CONSTANT = 0, S2S_LR_INVSQRT = 1, S2S_LR_PLATEAU = 2 } s2s_lr_schedule;
const char *s2s_lr_schedule_name(s2s_lr_schedule s);        /* "constant", "inverse-sqrt", "plateau" */
int s2s_lr_schedule_parse(const char *s, s2s_lr_schedule *out); /* 0, or -1 for an unknown name */
double s2s_lr_at(s2s_lr_schedule s, double lr, int warmup, long step);

typedef struct s2s_train_opts {
    int batch;      /* 64 */
    float lr;       /* 0.005 */
    float clip;     /* 1 */
    int threads;    /* data-parallel shards of each batch, one thread each (1 = one pass) */
    s2s_dist *dist; /* NULL: one process; else this process is one rank of a data-parallel job
                     * (every rank the same options and data; s2s_dist.h) */
    /* The recipe for real data; zeros are d2l's. */
    int batch_tokens;   /* 0: d2l's batches of `batch` pairs of the shuffled order; N: batches of at
                         * most N positions (rows x the batch's longest side), length-bucketed
                         * (s2s_trainer_epoch), and the loss is the mean per target token */
    float smoothing;    /* label smoothing (s2s_smoothed_ce); 0: none */
    s2s_lr_schedule schedule;
    int warmup;         /* updates of linear warm-up */
} s2s_train_opts;

#define S2S_MAX_SHARDS 64

typedef struct s2s_trainer {
    s2s_model *m;
    const s2s_dataset *data;
    s2s_ws *ws;             /* shard 0's workspace (the only one with one thread) */
    int ws_rows;            /* rows each workspace holds at num_steps (validation's batch on ws) */
    s2s_ws *shard_ws[S2S_MAX_SHARDS];
    int shards;             /* this process's slices of every batch (its threads) */
    int shard0, gshards;    /* the first one's index among the job's, and the job's count */
    /* With more than one slice: the transposed copies of the weights (s2s_ws.h) that all the
     * slices read, made once per step (after the update, before the passes) instead of once per
     * slice; wt_block holds them. share_wt 1 (the default): made by the calling thread or by
     * all the slices' threads by size (s2s_train.c); 2: always by all the threads; 0: each slice
     * makes its own (the tests' reference: the same bits either way). */
    struct s2s_wt *wt;
    float *wt_block;
    size_t wt_floats;
    int share_wt;
    int stopped;            /* a job's ranks agreed to stop (at the last batch's exchange) */
    double *dist_vals;      /* [ranks, 2 + S2S_MAX_SHARDS] the values each step's exchange gathers */
    s2s_rng rng;            /* shuffling and dropout (continues the init stream) */
    s2s_adam adam;
    s2s_train_opts opt;
    int epoch;              /* epochs completed */
    int pos;                /* rows of the current epoch already trained (0 = epoch not started) */
    int32_t *perm;          /* [n] this epoch's order (by tokens: batch after batch) */
    int32_t *bstart;        /* by tokens: [nb+1] where each batch of the epoch starts in perm */
    int nb;                 /* by tokens: batches in the epoch */
    int packed;             /* the encoder runs to each batch's longest source (bidirectional), not
                             * over the padding to num_steps (d2l's one direction) */
    float lr_scale;         /* the plateau schedule's factor (1 until the caller lowers it) */
    double pad_pos[2], all_pos[2]; /* by tokens: padding and positions of the epoch's batches so
                                    * far, source [0] and target [1] */
    double ep_loss, ep_tokens; /* sums over the current epoch so far */
    double ep_seconds;
    double ep_flops;           /* matrix-product operations of the epoch's passes (forward x 3) */
    int32_t *bsrc, *bsrc_len, *bdec, *btgt, *btgt_len; /* batch buffers */
    float *loss;            /* [batch] */
    struct s2s_row_len { int32_t len, pos, row; } *order; /* [batch] the batch sorted by target length */
    double last_grad_norm;
    /* Called after each batch when set (ctx: on_batch_ctx); returning non-zero stops the epoch
     * there, as *stop does (s2s_trainer_epoch can then continue it). */
    int (*on_batch)(void *ctx, const struct s2s_trainer *t);
    void *on_batch_ctx;
} s2s_trainer;

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

/* Mean loss per valid token over a dataset without dropout or updates (validation): d2l's
 * figure (each position's cross-entropy weighted 1/T, then / tokens) or, with per_token, the
 * mean cross-entropy per target token (no smoothing). -1 when out of memory. */
double s2s_eval_loss(s2s_model *m, s2s_ws *ws, const s2s_dataset *d, int batch, int per_token);
/* Workspace sizes a trainer uses for batches of these options: rows, positions. */
void s2s_train_ws_dims(const s2s_train_opts *o, int n, int T, int shards, int *rows, long *tokens);

#endif
