/* The training loop (d2l's train_seq2seq). */
#include "s2s_train.h"
#include "s2s_train_impl.h"
#include "s2s_ws.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Threads become slices of the batch: at most one per row. */
static int shard_count(int threads, int B) {
    int S = threads < 1 ? 1 : threads > S2S_MAX_SHARDS ? S2S_MAX_SHARDS : threads;
    return S > B ? B : S;
}

/* Batches by tokens have at most batch_tokens positions, and rows of at least one token: a
 * shard's workspace holds its share of the rows and positions (a round-robin deal gives each
 * at most ceil(B/S) rows, so at most batch_tokens/S + T positions). */
void s2s_train_ws_dims(const s2s_train_opts *o, int n, int T, int shards, int *rows, long *tokens) {
    const int B = o->batch_tokens > 0 ? o->batch_tokens : o->batch;
    const int Bn = B < n ? B : n, S = shard_count(shards, Bn);
    *rows = (Bn + S - 1) / S;
    *tokens = o->batch_tokens > 0 ? (long)o->batch_tokens / S + T : 0;
    if (*tokens > (long)*rows * T) *tokens = 0;  /* no fewer than the rows at full length: as d2l's */
}

void s2s_trainer_memory(const s2s_config *c, int batch, int threads, double *state, double *act) {
    s2s_train_opts o = {.batch = batch, .threads = threads};
    s2s_trainer_memory_opts(c, &o, batch, state, act);
}

void s2s_trainer_memory_opts(const s2s_config *c, const s2s_train_opts *o, int n, double *state, double *act) {
    int rows;
    long tokens;
    s2s_train_ws_dims(o, n, c->num_steps, o->threads, &rows, &tokens);
    const int B = o->batch_tokens > 0 ? o->batch_tokens : o->batch;
    const int S = shard_count(o->threads, B < n ? B : n);
    const double np = (double)s2s_param_count(c);
    /* params, grads, Adam m and v; with slices their grads and the shared transposed copies */
    *state = (4.0 + (S > 1 ? S : 0)) * sizeof(float) * np + (S > 1 ? sizeof(float) * (double)s2s_wt_floats(c) : 0.0);
    s2s_ws_opts wo = {.token_tables = 1, .max_tokens = tokens};
    *act = (double)S * (double)s2s_ws_estimate_opts(c, rows, c->num_steps, &wo);
}

int s2s_trainer_fits(const s2s_config *c, int batch, int threads, double *need, double *have) {
    s2s_train_opts o = {.batch = batch, .threads = threads};
    return s2s_trainer_fits_opts(c, &o, batch, need, have);
}

int s2s_trainer_fits_opts(const s2s_config *c, const s2s_train_opts *o, int n, double *need, double *have) {
    double state, act;
    s2s_trainer_memory_opts(c, o, n, &state, &act);
    *need = state + act;
    *have = s2s_memory_limit(NULL);
    return !(*have > 0 && *need > *have);
}

/* The learning rate schedules (s2s_train.h). */
static const char *const schedules[] = {"constant", "inverse-sqrt", "plateau", "linear"};
const char *s2s_lr_schedule_name(s2s_lr_schedule s) { return s >= 0 && s <= S2S_LR_LINEAR ? schedules[s] : NULL; }
int s2s_lr_schedule_parse(const char *s, s2s_lr_schedule *out) {
    for (int i = 0; i <= S2S_LR_LINEAR; i++)
        if (!strcmp(s, schedules[i])) { *out = (s2s_lr_schedule)i; return 0; }
    return -1;
}

double s2s_lr_at(s2s_lr_schedule s, double lr, int warmup, long step) {
    if (warmup > 0 && step <= warmup) return lr * (double)step / warmup;
    if (s == S2S_LR_INVSQRT) return lr * sqrt((double)(warmup > 0 ? warmup : 1) / (double)step);
    return lr;
}

double s2s_lr_linear_scale(long step, long max_updates, double scale0, double elapsed, double max_time) {
    double f = 1.0;
    if (max_updates > 0) f = 1.0 - (double)step / (double)max_updates;
    if (max_time > 0) {
        const double g = scale0 * (1.0 - elapsed / max_time);
        if (g < f) f = g;
    }
    return f > 0.0 ? f : 0.0;
}

int s2s_trainer_create(s2s_model *m, const s2s_dataset *d, const s2s_train_opts *o, const s2s_rng *rng,
                       s2s_trainer **out, s2s_err *err) {
    if (o->batch < 1) return s2s_errf(err, "batch size must be at least 1 (got %d)", o->batch);
    if (d->n < 1) return s2s_errf(err, "no training pairs");
    if (d->T != m->cfg.num_steps) return s2s_errf(err, "dataset has %d steps, model expects %d", d->T, m->cfg.num_steps);
    if (o->batch_tokens < 0 || (o->batch_tokens > 0 && o->batch_tokens < d->T))
        return s2s_errf(err, "batch tokens %d: at least num_steps (%d), so that the longest pair fits", o->batch_tokens, d->T);
    if (!(o->smoothing >= 0.0f && o->smoothing < 1.0f)) return s2s_errf(err, "label smoothing %g is not in [0, 1)", (double)o->smoothing);
    if (o->warmup < 0 || (o->schedule == S2S_LR_INVSQRT && o->warmup < 1))
        return s2s_errf(err, "warm-up %d: the inverse-sqrt schedule needs at least 1 update", o->warmup);
    if (!s2s_lr_schedule_name(o->schedule)) return s2s_errf(err, "unknown learning-rate schedule %d", (int)o->schedule);
    if (o->gemm == S2S_GEMM_INT8)
        return s2s_errf(err, "products in 8-bit integers are for translation; training computes in float or bfloat16 "
                             "(S2S_GEMM=own or bf16)");
    s2s_trainer *t = s2s_calloc(1, sizeof *t, err, "the trainer");
    if (!t) return S2S_ERR;
    t->m = m; t->data = d; t->opt = *o; t->rng = *rng;
    t->lr_scale = 1.0f;
    t->packed = s2s_encoder_of(m->cfg.encoder)->packed;
    int B = o->batch < d->n ? o->batch : d->n, T = d->T;
    if (o->batch_tokens > 0) B = o->batch_tokens < d->n ? o->batch_tokens : d->n;  /* rows of one token at most */
    size_t n = m->n_params;
    t->adam = (s2s_adam){o->lr, 0.9f, 0.999f, 1e-8f, 0, NULL, NULL, n, o->threads > 0 ? o->threads : 1};
    if (!(t->adam.m = s2s_calloc(n, sizeof(float), err, "Adam's first moments")) ||
        !(t->adam.v = s2s_calloc(n, sizeof(float), err, "Adam's second moments")) ||
        !(t->perm = s2s_calloc((size_t)d->n, sizeof(int32_t), err, "the shuffle order")) ||
        !(t->bsrc = s2s_calloc((size_t)B * T * 3 + (size_t)B * 2, sizeof(int32_t), err, "batch buffers")) ||
        !(t->loss = s2s_calloc((size_t)B, sizeof(float), err, "batch losses")) ||
        !(t->order = s2s_calloc((size_t)B, sizeof *t->order, err, "batch order")) ||
        !(t->dist_vals = s2s_calloc((size_t)s2s_dist_size(o->dist) * (2 + S2S_MAX_SHARDS), sizeof(double), err,
                                    "the ranks' values")) ||
        (o->batch_tokens > 0 &&
         !(t->bstart = s2s_calloc((size_t)d->n + 1, sizeof(int32_t), err, "the batches of an epoch")))) {
        s2s_trainer_free(t);
        return S2S_ERR;
    }
    /* the job's slices: R x threads (at most one per row); this rank's: its threads' share */
    const int R = s2s_dist_size(o->dist), rank = s2s_dist_rank(o->dist), th = shard_count(o->threads, B);
    t->gshards = R * th < B ? R * th : B;
    t->shard0 = rank * th;
    t->shards = t->gshards - t->shard0 < th ? t->gshards - t->shard0 : th;
    if (t->shards < 1) {
        s2s_trainer_free(t);
        return s2s_errf(err, "a batch of %d rows cannot feed %d ranks (rank %d would have no row): use --batch %d or more",
                        B, R, rank, R);
    }
    /* rows and positions of a slice (sized for this process's threads: enough for the job's) */
    int rows;
    long tokens;
    s2s_train_ws_dims(o, d->n, T, o->threads, &rows, &tokens);
    const s2s_ws_opts wo = {.token_tables = 1, .max_tokens = tokens, .gemm = o->gemm};
    for (int s = 0; s < t->shards; s++)
        if (s2s_ws_create_opts(m, rows, T, &wo, &t->shard_ws[s], err) ||
            (t->shards > 1 && s2s_ws_private_grads(m, t->shard_ws[s], err))) {
            s2s_trainer_free(t);
            return S2S_ERR;
        }
    if (t->shards > 1) {  /* the slices' shared transposed copies */
        s2s_carve cv = {NULL, 0};
        s2s_wt shape;
        s2s_wt_carve(&m->cfg, &shape, &cv);
        if (!(t->wt = s2s_calloc(1, sizeof *t->wt, err, "the shared transposed weights")) ||
            !(t->wt_block = aligned_alloc(64, cv.used))) {
            if (t->wt) s2s_errf(err, "out of memory: the shared transposed weights need %.1f MiB", cv.used / 1048576.0);
            s2s_trainer_free(t);
            return S2S_ERR;
        }
        cv = (s2s_carve){(char *)t->wt_block, 0};
        s2s_wt_carve(&m->cfg, t->wt, &cv);
        t->wt_floats = s2s_wt_floats(&m->cfg);
        t->share_wt = 1;
    }
    t->ws = t->shard_ws[0];
    t->ws_rows = tokens > 0 && tokens / T < rows ? (int)(tokens / T) : rows;
    t->bdec = t->bsrc + (size_t)B * T; t->btgt = t->bdec + (size_t)B * T;
    t->bsrc_len = t->btgt + (size_t)B * T; t->btgt_len = t->bsrc_len + B;
    t->opt.batch = B;
    *out = t;
    return S2S_OK;
}

void s2s_trainer_free(s2s_trainer *t) {
    if (!t) return;
    free(t->adam.m); free(t->adam.v); free(t->perm); free(t->bsrc); free(t->loss); free(t->order); free(t->dist_vals);
    free(t->bstart); free(t->wt); free(t->wt_block);
    for (int s = 0; s < t->shards; s++) s2s_ws_free(t->shard_ws[s]);
    free(t);
}

/* Shard s of S (the job's) takes rows [r0, r1) of a batch of B: the counts of a round-robin deal. */
static void shard_bounds(int B, int S, int s, int *r0, int *r1) {
    int q = B / S, rem = B % S;
    *r0 = s * q + (s < rem ? s : rem);
    *r1 = *r0 + q + (s < rem);
}

static int longest_first(const void *a, const void *b) {
    const struct s2s_row_len *x = a, *y = b;
    return x->len != y->len ? y->len - x->len : x->pos - y->pos;
}

/* Copies rows idx[0..B) of the dataset into the batch buffers, building the decoder input
 * <bos> + target shifted by one (teacher forcing). The rows are ordered by target length,
 * longest first (the decoder then skips finished rows as a shrinking prefix), and dealt round
 * robin to the shards so each shard is sorted too and gets a fair share of long rows. d2l's
 * batches keep the dataset's T for both sides; batches by tokens are as long as their longest
 * target, and as their longest source when the encoder is packed, with the loss a mean per
 * target token. */
static void gather_batch(s2s_trainer *t, const int32_t *idx, int B, s2s_batch *bt) {
    const s2s_dataset *d = t->data;
    const int T = d->T, S = t->gshards, by_tokens = t->opt.batch_tokens > 0;
    int Ts = T, Tt = T, ntok = 0, nsrc = 0;
    for (int b = 0; b < B; b++) t->order[b] = (struct s2s_row_len){d->tgt_len[idx[b]], b, idx[b]};
    qsort(t->order, (size_t)B, sizeof *t->order, longest_first);
    if (by_tokens) {
        Tt = t->order[0].len > 0 ? t->order[0].len : 1;
        int ls = 1;
        for (int b = 0; b < B; b++) {
            if (d->src_len[idx[b]] > ls) ls = d->src_len[idx[b]];
            ntok += d->tgt_len[idx[b]];
            nsrc += d->src_len[idx[b]];
        }
        if (t->packed) Ts = ls;
        t->pad_pos[0] += (double)B * Ts - nsrc; t->all_pos[0] += (double)B * Ts;
        t->pad_pos[1] += (double)B * Tt - ntok; t->all_pos[1] += (double)B * Tt;
    }
    for (int k = 0; k < B; k++) {
        int s = k % S, r0, r1;
        shard_bounds(B, S, s, &r0, &r1);
        int b = r0 + k / S;
        size_t r = (size_t)t->order[k].row;
        memcpy(t->bsrc + (size_t)b * Ts, d->src + r * T, sizeof(int32_t) * Ts);
        memcpy(t->btgt + (size_t)b * Tt, d->tgt + r * T, sizeof(int32_t) * Tt);
        t->bdec[(size_t)b * Tt] = S2S_BOS;
        memcpy(t->bdec + (size_t)b * Tt + 1, d->tgt + r * T, sizeof(int32_t) * (Tt - 1));
        t->bsrc_len[b] = d->src_len[r];
        t->btgt_len[b] = d->tgt_len[r];
    }
    *bt = (s2s_batch){B, Ts, t->bsrc, t->bsrc_len, t->bdec, t->btgt, t->btgt_len, t->opt.smoothing,
                      by_tokens && ntok > 0 ? 1.0f / ntok : 0.0f, Tt};
}

/* Every batch draws one seed from the trainer's generator; shard s's dropout stream is seeded
 * from it and s, so the shuffling is the same whatever the number of threads. */
static void shard_rng(s2s_rng *r, uint64_t batch_seed, int s) {
    s2s_rng_seed(r, batch_seed + 0x9e3779b97f4a7c15ULL * (uint64_t)s);
}

/* Rows of the job's slice s of the batch. */
static s2s_batch slice(const s2s_batch *bt, int S, int s) {
    int r0, r1;
    shard_bounds(bt->B, S, s, &r0, &r1);
    const size_t T = (size_t)bt->T, Tt = (size_t)(bt->Tt ? bt->Tt : bt->T);
    s2s_batch p = *bt;  /* the strides and the loss's smoothing and weight (the whole batch's) */
    p.B = r1 - r0;
    p.src = bt->src + r0 * T; p.src_len = bt->src_len + r0;
    p.dec_in = bt->dec_in + r0 * Tt; p.tgt = bt->tgt + r0 * Tt; p.tgt_len = bt->tgt_len + r0;
    return p;
}

/* This process's one slice, into the model's gradients; loss[0] its loss. */
static void one_pass(s2s_trainer *t, const s2s_batch *bt, uint64_t seed, double *loss) {
    s2s_rng rng;
    shard_rng(&rng, seed, t->shard0);
    s2s_batch part = slice(bt, t->gshards, t->shard0);
    s2s_model_zero_grad(t->m);
    loss[0] = 0.0;
    if (part.B == 0) return;  /* a rank's slice of a last, short batch */
    loss[0] = s2s_forward(t->m, t->ws, &part, 1, 0, &rng, t->loss);
    t->ep_flops += 3.0 * s2s_ws_forward_flops(t->m, t->ws);
    s2s_backward(t->m, t->ws, &part);
}

/* Arenas of at least this many floats are summed and measured in one pass (s2s_sum_norm_parts);
 * smaller ones stay in cache between a plain sum and the norm's own pass, which is then faster
 * (2 slices: 49,449 floats 7 us against 9, 1 M 150 us against 167; 4.5 M 1.7 ms against 0.9). */
#define FUSED_SUM_MIN (1 << 21)

/* dst = the S arenas' sum, added in slice order, each thread a contiguous part of it. */
static void sum_slices(float *dst, const float *const *sg, int S, size_t n) {
#pragma omp parallel num_threads(S)
    {  /* shards added in order: vectorises */
        const int th = omp_get_thread_num(), nt = omp_get_num_threads();
        const size_t i0 = n * th / nt, i1 = n * (th + 1) / nt;
        float *restrict gg = dst;
        memcpy(gg + i0, sg[0] + i0, (i1 - i0) * sizeof(float));
        for (int s = 1; s < S; s++) {
            const float *restrict x = sg[s];
            for (size_t i = i0; i < i1; i++) gg[i] += x[i];
        }
    }
}

/* From this many floats of transposed copies (the big configuration: 1.2 M floats, 1.5-2.5 ms
 * from memory just written by Adam) the step shares one set, the slices' threads making a part
 * each and waiting for each other before their passes. Below it (d2l's model: 22,528 floats,
 * microseconds) each slice makes its own copies in parallel, as before the sharing: made once
 * by the calling thread before the parallel region instead, they cost d2l's 2-thread step ~5%
 * (the other thread waits through them; 8 alternating runs: 770k against 813k tokens/s). */
#define WT_SPLIT_MIN (1 << 18)

/* This process's slices, one thread each, into their own gradients, then summed into the
 * model's; loss[s] slice s's loss. Returns the sum's clipping norm when it measured it in the
 * same pass (s2s_sum_norm_parts with `parts` parts, the step's in one process), else -1. */
static double sharded_pass(s2s_trainer *t, const s2s_batch *bt, uint64_t seed, double *loss, int parts) {
    const int S = t->shards;
    s2s_rng rng[S2S_MAX_SHARDS];
    s2s_batch part[S2S_MAX_SHARDS];
    int rows = 0;  /* the longest slice's */
    for (int s = 0; s < S; s++) {  /* a slice of the batch; a stream of its own */
        part[s] = slice(bt, t->gshards, t->shard0 + s);
        shard_rng(&rng[s], seed, t->shard0 + s);
        if (part[s].B > rows) rows = part[s].B;
    }
    /* one set of transposed copies for all the slices, from the weights of this step (the last
     * update changed them); made only when a slice reads it */
    const int mode = t->share_wt == 1 ? (t->wt_floats >= WT_SPLIT_MIN ? 2 : 0) : t->share_wt;
    const int share = t->wt && mode && rows >= S2S_WT_MIN_ROWS;
    const int split = share && mode == 2;
    if (share && !split) s2s_wt_make(t->m, t->wt, 0, 1);
    for (int s = 0; s < S; s++) s2s_ws_lend_wt(t->shard_ws[s], share ? t->wt : NULL);
#pragma omp parallel num_threads(S)
    {
        const int th = omp_get_thread_num(), nt = omp_get_num_threads();
        if (split) {
            s2s_wt_make(t->m, t->wt, th, nt);
#pragma omp barrier
        }
        for (int s = th; s < S; s += nt) {  /* slice s on thread s (fewer threads: round robin) */
            float *g = s2s_ws_grads(t->shard_ws[s]);
            memset(g, 0, t->m->n_params * sizeof(float));
            loss[s] = 0.0;
            if (part[s].B > 0) {
                s2s_rng r = rng[s];  /* a copy on this thread's stack: no false sharing */
                loss[s] = s2s_forward(t->m, t->shard_ws[s], &part[s], 1, 0, &r, NULL);
                s2s_backward(t->m, t->shard_ws[s], &part[s]);
            }
        }
    }
    /* the weights change at the update: shard 0's workspace (validation's) makes its own again */
    for (int s = 0; s < S; s++) s2s_ws_lend_wt(t->shard_ws[s], NULL);
    for (int s = 0; s < S; s++)
        if (part[s].B > 0) t->ep_flops += 3.0 * s2s_ws_forward_flops(t->m, t->shard_ws[s]);
    /* sum the shards' gradients in a fixed order (threads split the arena, not the shards) */
    const float *sg[S2S_MAX_SHARDS];
    for (int s = 0; s < S; s++) sg[s] = s2s_ws_grads(t->shard_ws[s]);
    if (t->m->n_params < FUSED_SUM_MIN) {
        sum_slices(t->m->grads, sg, S, t->m->n_params);
        return -1.0;
    }
    return s2s_sum_norm_parts(t->m->grads, sg, S, t->m->n_params, parts, t->adam.threads);
}

/* One batch forward and backward over the job's slices, its gradients summed into the
 * model's: this process's slices, then (in a job of ranks) the exchange, which also agrees on
 * the stop flag and gathers every slice's loss and every rank's work. *loss: the batch's loss
 * (the slices' losses added in slice order, as one process adds its threads'); *norm: the
 * gradient's clipping norm in `parts` parts when the pass measured it, else -1. */
static int batch_pass(s2s_trainer *t, const s2s_batch *bt, int stop, int parts, double *loss, double *norm,
                      s2s_err *err) {
    double mine[2 + S2S_MAX_SHARDS] = {0};  /* stop flag, operations, losses of the slices */
    double *sl = mine + 2;
    const uint64_t seed = s2s_rng_next(&t->rng);
    const double flops0 = t->ep_flops;
    const int R = s2s_dist_size(t->opt.dist);
    *norm = -1.0;
    if (t->shards == 1) one_pass(t, bt, seed, sl);
    else {
        double nm = sharded_pass(t, bt, seed, sl, parts);
        if (R == 1) *norm = nm;  /* a job's norm is the sum's over all ranks */
    }
    if (R == 1) {
        *loss = 0.0;
        for (int s = 0; s < t->shards; s++) *loss += sl[s];
        return S2S_OK;
    }
    /* every rank sends as many values (its threads may have fewer slices, at the job's end) */
    const int nv = 2 + shard_count(t->opt.threads, t->opt.batch);
    double *all = t->dist_vals;
    mine[0] = stop;
    mine[1] = t->ep_flops - flops0;
    if (s2s_dist_sum(t->opt.dist, t->m->grads, t->m->n_params, mine, nv, all, err)) return S2S_ERR;
    double total = 0.0, flops = 0.0;
    int any_stop = 0;
    for (int r = 0, s = 0; r < R; r++) {
        const double *v = all + (size_t)r * nv;
        any_stop |= v[0] != 0.0;
        flops += v[1];
        for (int k = 0; k < nv - 2 && s < t->gshards; k++, s++) total += v[2 + k];
    }
    t->ep_flops = flops0 + flops;
    t->stopped = any_stop;
    *loss = total;
    return S2S_OK;
}

/* One process stops when its flag is set; the ranks of a job when they agreed to at the last
 * exchange (every rank the same batch). */
static int stopping(const s2s_trainer *t, volatile sig_atomic_t *stop) {
    return s2s_dist_size(t->opt.dist) == 1 ? stop && *stop : t->stopped;
}

/* Positions a pair takes in a batch by tokens: its longer side (the source counts num_steps
 * when the encoder runs over the padding). */
static int pair_len(const s2s_trainer *t, int i) {
    const int ls = t->packed ? t->data->src_len[i] : t->data->T, lt = t->data->tgt_len[i];
    return ls > lt ? ls : lt;
}

typedef struct bucket_key { int32_t src, tgt, i; } bucket_key;
static int by_lengths(const void *a, const void *b) {
    const bucket_key *x = a, *y = b;
    if (x->src != y->src) return x->src - y->src;
    if (x->tgt != y->tgt) return x->tgt - y->tgt;
    return x->i - y->i;
}

enum { POOL_BATCHES = 100 };  /* a pool sorted by length holds about this many batches */

/* An epoch of batches by tokens: the shuffled order is cut into pools of about POOL_BATCHES
 * batches' worth of positions; each pool is sorted by source length, then target length (ties
 * in shuffled order), and cut into batches of at most batch_tokens positions (rows x the
 * longest side); then the batches of all pools are shuffled and laid out one after the other
 * in perm, bstart[k] being where batch k starts. */
static int plan_epoch(s2s_trainer *t, s2s_err *err) {
    const int n = t->data->n, cap = t->opt.batch_tokens;
    bucket_key *key = s2s_malloc(sizeof *key * (size_t)n, err, "the bucketing keys");
    int32_t *bi = key ? s2s_malloc(sizeof(int32_t) * ((size_t)n + 1), err, "the batch order") : NULL;
    int32_t *tmp = bi ? s2s_malloc(sizeof(int32_t) * (size_t)n, err, "the batch order") : NULL;
    if (!tmp) { free(key); free(bi); return S2S_ERR; }
    const double pool = POOL_BATCHES * (double)cap;  /* positions per pool */
    int nb = 0, p0 = 0;
    while (p0 < n) {
        int p1 = p0;
        double sum = 0;
        while (p1 < n && (sum < pool || p1 == p0)) sum += pair_len(t, t->perm[p1++]);
        if (n - p1 > 0 && (n - p1) < (p1 - p0) / 2) p1 = n;  /* no small last pool */
        for (int k = p0; k < p1; k++) {
            const int i = t->perm[k];
            key[k] = (bucket_key){t->packed ? t->data->src_len[i] : 0, t->data->tgt_len[i], k};
        }
        qsort(key + p0, (size_t)(p1 - p0), sizeof *key, by_lengths);
        int rows = 0, longest = 0;
        for (int k = p0; k < p1; k++) {
            const int len = pair_len(t, t->perm[key[k].i]);
            const int l = len > longest ? len : longest;
            if (rows > 0 && (long)(rows + 1) * l > cap) { nb++; rows = 0; longest = 0; }
            if (rows == 0) bi[nb] = k;
            rows++;
            longest = len > longest ? len : longest;
        }
        nb++;
        p0 = p1;
    }
    bi[nb] = n;
    /* the pools' sorted order, then the batches shuffled */
    for (int k = 0; k < n; k++) tmp[k] = t->perm[key[k].i];
    int32_t *ord = (int32_t *)key;  /* the keys are no longer needed: the batch order in their place */
    for (int k = 0; k < nb; k++) ord[k] = k;
    s2s_rng_shuffle(&t->rng, ord, nb);
    int pos = 0;
    for (int k = 0; k < nb; k++) {
        const int a = bi[ord[k]], b = bi[ord[k] + 1];
        t->bstart[k] = pos;
        memcpy(t->perm + pos, tmp + a, sizeof(int32_t) * (size_t)(b - a));
        pos += b - a;
    }
    t->bstart[nb] = n;
    t->nb = nb;
    free(key); free(bi); free(tmp);
    return S2S_OK;
}

/* The index of the batch that starts at pos in the epoch: d2l's fixed size, or the planned one. */
static int batch_index(const s2s_trainer *t) {
    if (t->opt.batch_tokens <= 0) return t->pos / t->opt.batch;
    int lo = 0, hi = t->nb;  /* the batch k with bstart[k] == pos */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->bstart[mid] < t->pos) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* Rows in the batch that starts at pos. */
static int batch_rows(const s2s_trainer *t) {
    const int n = t->data->n;
    if (t->opt.batch_tokens <= 0) return n - t->pos < t->opt.batch ? n - t->pos : t->opt.batch;
    const int k = batch_index(t);
    return t->bstart[k + 1 <= t->nb ? k + 1 : t->nb] - t->pos;
}

int s2s_trainer_epoch(s2s_trainer *t, s2s_epoch_stats *st, volatile sig_atomic_t *stop, s2s_err *err) {
    const int n = t->data->n, ranks = s2s_dist_size(t->opt.dist);
    /* a new epoch's shuffle only when it trains: stopped before its first batch, the state saved
     * is that of the epoch just finished, and --resume shuffles as the unbroken run does */
    if (t->pos == 0 && !stopping(t, stop)) {
        for (int i = 0; i < n; i++) t->perm[i] = i;
        s2s_rng_shuffle(&t->rng, t->perm, n);
        if (t->opt.batch_tokens > 0 && plan_epoch(t, err)) return S2S_ERR;
        t->ep_loss = t->ep_tokens = t->ep_seconds = t->ep_flops = 0.0;
        t->pad_pos[0] = t->pad_pos[1] = t->all_pos[0] = t->all_pos[1] = 0.0;
    }
    double start = now_seconds();
    /* the clipping norm is summed in as many parts as the job has threads (s2s_optim.h), by this
     * process's threads */
    const int threads = t->adam.threads, norm_parts = ranks * threads;
    int halt = 0;  /* on_batch asked to stop (in a job of ranks, every rank's must agree) */
    while (t->pos < n && !stopping(t, stop) && !halt) {
        int B = batch_rows(t);
        s2s_batch bt;
        gather_batch(t, t->perm + t->pos, B, &bt);
        double l, norm;
        if (batch_pass(t, &bt, stop && *stop, norm_parts, &l, &norm, err)) {
            t->ep_seconds += now_seconds() - start;
            return S2S_ERR;
        }
        if (norm < 0) norm = s2s_grad_norm_parts(t->m->grads, t->m->n_params, norm_parts, threads);
        t->last_grad_norm = norm;
        /* a non-finite loss or gradient would make every weight NaN at this step: stop before it,
         * the weights as they were after the last good batch (every rank of a job sees the same) */
        if (!isfinite(l) || !isfinite(t->last_grad_norm)) {
            double x = isfinite(l) ? t->last_grad_norm : l;
            return s2s_errf(err, "epoch %d, batch %d: the %s is %s: training diverged (a smaller --lr?) or started "
                                 "from broken weights", t->epoch + 1, batch_index(t) + 1,
                            isfinite(l) ? "gradient norm" : "loss", isnan(x) ? "NaN" : "infinite");
        }
        if (t->opt.schedule != S2S_LR_CONSTANT || t->opt.warmup > 0)
            t->adam.lr = (float)(s2s_lr_at(t->opt.schedule, t->opt.lr, t->opt.warmup, t->adam.step + 1) * t->lr_scale);
        /* clipping as Adam reads the gradient: one pass over the arena instead of two */
        s2s_adam_step_scaled(&t->adam, t->m->params, t->m->grads, s2s_clip_scale(norm, t->opt.clip));
        double ntok = 0;
        for (int b = 0; b < B; b++) ntok += bt.tgt_len[b];
        t->ep_loss += bt.weight > 0.0f ? l * ntok : l;  /* by tokens: the batch's mean, as a sum */
        t->ep_tokens += ntok;
        t->pos += B;
        if (t->on_batch) {
            t->ep_seconds += now_seconds() - start;  /* the epoch so far, for the callback */
            start = now_seconds();
            halt = t->on_batch(t->on_batch_ctx, t);
        }
    }
    t->ep_seconds += now_seconds() - start;
    st->loss = t->ep_tokens > 0 ? t->ep_loss / t->ep_tokens : 0.0;
    st->tokens = t->ep_tokens;
    st->seconds = t->ep_seconds;
    st->flops = t->ep_flops;
    st->complete = t->pos >= n;
    if (st->complete) { t->pos = 0; t->epoch++; }
    return S2S_OK;
}

/* ---- accessors (s2s_train.h) ---- */
int s2s_trainer_epochs_done(const s2s_trainer *t) { return t->epoch; }
int s2s_trainer_position(const s2s_trainer *t) { return t->pos; }
long s2s_trainer_step(const s2s_trainer *t) { return t->adam.step; }
float s2s_trainer_lr(const s2s_trainer *t) { return t->adam.lr; }
void s2s_trainer_set_lr_scale(s2s_trainer *t, float scale) { t->lr_scale = scale; }
void s2s_trainer_set_on_batch(s2s_trainer *t, s2s_on_batch_fn fn, void *ctx) {
    t->on_batch = fn;
    t->on_batch_ctx = ctx;
}
s2s_ws *s2s_trainer_workspace(const s2s_trainer *t, int *rows) {
    if (rows) *rows = t->ws_rows;
    return t->ws;
}
int s2s_trainer_stopped(const s2s_trainer *t) { return t->stopped; }
void s2s_trainer_epoch_sums(const s2s_trainer *t, double *loss, double *tokens, double *seconds) {
    if (loss) *loss = t->ep_loss;
    if (tokens) *tokens = t->ep_tokens;
    if (seconds) *seconds = t->ep_seconds;
}
void s2s_trainer_padding(const s2s_trainer *t, double pct[2]) {
    for (int k = 0; k < 2; k++) pct[k] = t->all_pos[k] > 0 ? 100 * t->pad_pos[k] / t->all_pos[k] : 0.0;
}
const int32_t *s2s_trainer_order(const s2s_trainer *t, int *nb, const int32_t **bstart) {
    const int by_tokens = t->opt.batch_tokens > 0;
    if (nb) *nb = by_tokens ? t->nb : 0;
    if (bstart) *bstart = by_tokens ? t->bstart : NULL;
    return t->perm;
}
const s2s_rng *s2s_trainer_rng(const s2s_trainer *t) { return &t->rng; }
uint64_t s2s_trainer_fingerprint(const s2s_trainer *t) {
    const size_t n = t->m->n_params;
    uint64_t h = s2s_fnv1a(S2S_FNV_SEED, t->m->params, n * sizeof(float));
    h = s2s_fnv1a(h, t->adam.m, n * sizeof(float));
    h = s2s_fnv1a(h, t->adam.v, n * sizeof(float));
    h = s2s_fnv1a(h, &t->adam.step, sizeof t->adam.step);
    h = s2s_fnv1a(h, t->perm, (size_t)t->data->n * sizeof(int32_t));
    h = s2s_fnv1a(h, t->rng.s, sizeof t->rng.s);
    h = s2s_fnv1a(h, &t->epoch, sizeof t->epoch);
    return s2s_fnv1a(h, &t->pos, sizeof t->pos);
}

double s2s_eval_loss(s2s_model *m, s2s_ws *ws, const s2s_dataset *d, int batch, int per_token) {
    const int T = d->T;
    double loss = 0, tokens = 0;
    int32_t *dec = malloc(sizeof(int32_t) * (size_t)batch * T);
    if (!dec) return -1.0;
    for (int s = 0; s < d->n; s += batch) {
        int B = d->n - s < batch ? d->n - s : batch;
        for (int b = 0; b < B; b++) {
            dec[(size_t)b * T] = S2S_BOS;
            memcpy(dec + (size_t)b * T + 1, d->tgt + (size_t)(s + b) * T, sizeof(int32_t) * (T - 1));
            tokens += d->tgt_len[s + b];
        }
        s2s_batch bt = {B, T, d->src + (size_t)s * T, d->src_len + s, dec, d->tgt + (size_t)s * T, d->tgt_len + s,
                        0.0f, per_token ? 1.0f : 0.0f, 0};
        loss += s2s_forward(m, ws, &bt, 0, 0, NULL, NULL);
    }
    free(dec);
    return tokens > 0 ? loss / tokens : 0.0;
}
