/* The trainer's fields: private to s2s_train.c and the state files of s2s_checkpoint.c (which
 * save and restore them); everyone else goes through s2s_train.h's accessors. */
#ifndef S2S_TRAIN_IMPL_H
#define S2S_TRAIN_IMPL_H
#include "s2s_train.h"

struct s2s_trainer {
    s2s_model *m;
    const s2s_dataset *data;
    s2s_ws *ws;             /* shard 0's workspace (the only one with one thread) */
    int ws_rows;            /* rows each workspace holds at num_steps (validation's batch on ws) */
    s2s_ws *shard_ws[S2S_MAX_SHARDS];
    int shards;             /* this process's slices of every batch (its threads) */
    int shard0, gshards;    /* the first one's index among the job's, and the job's count */
    /* With more than one slice: the transposed copies of the weights (s2s_ws.h) that all the
     * slices read, made once per step (after the update, before the passes) instead of once per
     * slice; wt_block holds them. share_wt 1 (the default): by size (s2s_train.c WT_SPLIT_MIN:
     * shared and made by all the slices' threads, or not shared); 2: always shared, made by all
     * the threads; 3: always shared, made by the calling thread; 0: each slice makes its own
     * (the tests' reference: the same bits every way). */
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
    s2s_on_batch_fn on_batch; /* s2s_trainer_set_on_batch */
    void *on_batch_ctx;
};

#endif
