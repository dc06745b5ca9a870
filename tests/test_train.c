/* The training loop's bookkeeping: a stop between epochs leaves the state of the finished epoch
 * (so --resume shuffles as an unbroken run does), the slices share one set of transposed
 * weights per step, and the clipping norm's parts decide its
 * rounding whatever the threads that compute them (what lets MPI ranks clip as one process). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "s2s_optim.h"
#include "s2s_train.h"
#include "s2s_train_impl.h"  /* white-box: the slices' workspaces and shared transposed copies */
#include "s2s_ws.h"

typedef struct toy {
    s2s_pairs pairs;
    s2s_vocab *sv, *tv;
    s2s_dataset data;
} toy;

static int toy_open(toy *t) {
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &t->pairs, &err) ||
        s2s_vocab_build(t->pairs.src_tok, t->pairs.src_start[t->pairs.n], 1, &t->sv, &err) ||
        s2s_vocab_build(t->pairs.tgt_tok, t->pairs.tgt_start[t->pairs.n], 1, &t->tv, &err) ||
        s2s_dataset_build(&t->pairs, t->sv, t->tv, 8, &t->data, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return -1;
    }
    return 0;
}

static void toy_close(toy *t) {
    s2s_dataset_free(&t->data); s2s_vocab_free(t->sv); s2s_vocab_free(t->tv); s2s_pairs_free(&t->pairs);
}

/* A trainer with dropout (so the generator matters) on the tiny corpus, seed 7. */
static int make_trainer(const toy *d, s2s_model **m, s2s_trainer **tr) {
    s2s_err err;
    s2s_config cfg = s2s_config_d2l(s2s_vocab_size(d->sv), s2s_vocab_size(d->tv));
    cfg.embed = 8; cfg.hidden = 12; cfg.dropout = 0.2f; cfg.num_steps = 8;
    s2s_rng r;
    s2s_rng_seed(&r, 7);
    if (s2s_model_create(&cfg, m, &err)) { CHECK_MSG(0, "%s", err.msg); return -1; }
    s2s_model_init(*m, &r);
    s2s_train_opts to = {.batch = 8, .lr = 0.01f, .clip = 1.0f, .threads = 1};
    if (s2s_trainer_create(*m, &d->data, &to, &r, tr, &err)) { CHECK_MSG(0, "%s", err.msg); return -1; }
    return 0;
}

/* Stopped before the first batch of an epoch, the trainer keeps the finished epoch's order and
 * generator; going on from there gives the weights of an unbroken run. */
static int test_stop_between_epochs(void) {
    toy d;
    if (toy_open(&d)) return 0;
    s2s_model *ma, *mb;
    s2s_trainer *a, *b;
    if (make_trainer(&d, &ma, &a) || make_trainer(&d, &mb, &b)) return 0;
    s2s_err err;
    s2s_epoch_stats st;
    volatile sig_atomic_t stop = 0;
    for (int e = 0; e < 3; e++) CHECK(!s2s_trainer_epoch(b, &st, &stop, &err) && st.complete);
    for (int e = 0; e < 2; e++) CHECK(!s2s_trainer_epoch(a, &st, &stop, &err) && st.complete);
    s2s_rng rng = *s2s_trainer_rng(a);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)d.data.n);
    memcpy(perm, s2s_trainer_order(a, NULL, NULL), sizeof(int32_t) * (size_t)d.data.n);
    stop = 1;
    CHECK(!s2s_trainer_epoch(a, &st, &stop, &err) && !st.complete);
    CHECK(s2s_trainer_position(a) == 0 && s2s_trainer_epochs_done(a) == 2);
    CHECK(!memcmp(&rng, s2s_trainer_rng(a), sizeof rng));
    CHECK(!memcmp(perm, s2s_trainer_order(a, NULL, NULL), sizeof(int32_t) * (size_t)d.data.n));
    stop = 0;
    CHECK(!s2s_trainer_epoch(a, &st, &stop, &err) && st.complete && s2s_trainer_epochs_done(a) == 3);
    CHECK(!memcmp(ma->params, mb->params, ma->n_params * sizeof(float)));
    free(perm);
    s2s_trainer_free(a); s2s_trainer_free(b); s2s_model_free(ma); s2s_model_free(mb);
    toy_close(&d);
    return 0;
}

/* s2s_clip_grad_norm_parts on one thread = on `parts` threads, bit for bit, norm and clipped
 * gradients (arena sizes around the 16-float chunks and 256-chunk folds): the parts decide the
 * rounding, not the threads; s2s_clip_grad_norm is one part. */
static int test_norm_parts(void) {
    const size_t sizes[] = {16384, 16399, 65536 + 7, 300001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        float *g = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        s2s_rng r;
        s2s_rng_seed(&r, n);
        for (size_t i = 0; i < n; i++) g[i] = (float)((double)(s2s_rng_next(&r) >> 11) / 9007199254740992.0 - 0.5);
        for (int parts = 1; parts <= 5; parts++) {
            memcpy(a, g, n * sizeof(float));
            memcpy(b, g, n * sizeof(float));
            double na = parts == 1 ? s2s_clip_grad_norm(a, n, 1.0) : s2s_clip_grad_norm_parts(a, n, 1.0, parts, parts);
            double nb = s2s_clip_grad_norm_parts(b, n, 1.0, parts, 1);
            CHECK_MSG(na == nb, "n %zu parts %d: norm %.17g on threads, %.17g in parts", n, parts, na, nb);
            CHECK(!memcmp(a, b, n * sizeof(float)));
        }
        free(g); free(a); free(b);
    }
    return 0;
}

/* The fused passes give the separate passes' bits: s2s_sum_norm_parts = sum in order then
 * s2s_grad_norm_parts; s2s_adam_step_scaled = clip's multiplication then s2s_adam_step. */
static int test_fused_passes(void) {
    const size_t sizes[] = {1000, 16384, 65536 + 7, 300001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        float *src[3], *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        s2s_rng r;
        s2s_rng_seed(&r, 11 + n);
        for (int j = 0; j < 3; j++) {
            src[j] = malloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) src[j][i] = (float)((double)(s2s_rng_next(&r) >> 11) / 9007199254740992.0 - 0.5);
        }
        for (int ns = 1; ns <= 3; ns++)
            for (int parts = 1; parts <= 3; parts++) {
                memcpy(a, src[0], n * sizeof(float));
                for (int j = 1; j < ns; j++)
                    for (size_t i = 0; i < n; i++) a[i] += src[j][i];
                double na = s2s_grad_norm_parts(a, n, parts, 1);
                double nb = s2s_sum_norm_parts(b, (const float *const *)src, ns, n, parts, parts);
                CHECK_MSG(na == nb && !memcmp(a, b, n * sizeof(float)), "n %zu, %d arenas, %d parts", n, ns, parts);
            }
        /* one Adam step on a gradient clipped to norm 0.5, two ways */
        float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float));
        float *m1 = calloc(n, sizeof(float)), *v1 = calloc(n, sizeof(float));
        float *m2 = calloc(n, sizeof(float)), *v2 = calloc(n, sizeof(float));
        memcpy(p1, src[2], n * sizeof(float));
        memcpy(p2, src[2], n * sizeof(float));
        memcpy(a, src[0], n * sizeof(float));
        memcpy(b, src[0], n * sizeof(float));
        s2s_adam x = {0.01f, 0.9f, 0.999f, 1e-8f, 0, m1, v1, n, 2}, y = {0.01f, 0.9f, 0.999f, 1e-8f, 0, m2, v2, n, 2};
        double norm = s2s_clip_grad_norm(a, n, 0.5);
        s2s_adam_step(&x, p1, a);
        s2s_adam_step_scaled(&y, p2, b, s2s_clip_scale(s2s_grad_norm_parts(b, n, 1, 2), 0.5));
        CHECK(norm > 0.5);
        CHECK(!memcmp(p1, p2, n * sizeof(float)) && !memcmp(m1, m2, n * sizeof(float)) && !memcmp(v1, v2, n * sizeof(float)));
        free(p1); free(p2); free(m1); free(v1); free(m2); free(v2);
        for (int j = 0; j < 3; j++) free(src[j]);
        free(a); free(b);
    }
    return 0;
}

/* Every float of a workspace's own transposed copies: set to NaN (poison), or count the NaNs. */
static size_t own_copies(const s2s_model *m, s2s_ws *ws, int poison) {
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(&m->cfg, NULL, &ws->own_wt, jobs);
    size_t nan = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)jobs[i].rows * jobs[i].cols; k++) {
            if (poison) (*jobs[i].dst)[k] = NAN;
            nan += isnan((*jobs[i].dst)[k]);
        }
    return nan;
}

/* The slices of a step read one set of transposed weights made for the step (s2s_trainer.wt):
 * by the calling thread (share_wt 3) or by all the threads (2), the weights of
 * each slice's own copies (0) to the last bit, epoch after epoch (a set left from the step
 * before the update would differ); no slice makes its own copies (poisoned with NaN, they stay
 * so: a slice reading them would turn the loss NaN); and validation on shard 0's workspace
 * after the epochs makes its own copies again, from the weights as they are then. Every
 * decoder family and both cells and encoders; 2 and 3 threads. */
static int test_shared_transposes(void) {
    toy d;
    if (toy_open(&d)) return 0;
    const struct { s2s_cell_kind cell; s2s_enc_kind enc; s2s_attention att; int feed; } fam[] = {
        {S2S_GRU, S2S_UNI, S2S_BAHDANAU, 0}, {S2S_GRU, S2S_UNI, S2S_NO_ATTENTION, 0},
        {S2S_LSTM, S2S_BI, S2S_LUONG_GENERAL, 1}, {S2S_GRU, S2S_BI, S2S_LUONG_DOT, 0},
    };
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++)
        for (int threads = 2; threads <= 3; threads++)
            for (int mode = 2; mode <= 3; mode++) {
                s2s_err err;
                s2s_config cfg = s2s_config_d2l(s2s_vocab_size(d.sv), s2s_vocab_size(d.tv));
                cfg.embed = 8; cfg.hidden = 12; cfg.num_steps = 8;
                cfg.cell = fam[f].cell; cfg.encoder = fam[f].enc; cfg.attention = fam[f].att; cfg.input_feed = fam[f].feed;
                s2s_model *m[2];
                s2s_trainer *t[2];
                for (int k = 0; k < 2; k++) {
                    s2s_rng r;
                    s2s_rng_seed(&r, 5);
                    if (s2s_model_create(&cfg, &m[k], &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
                    s2s_model_init(m[k], &r);
                    /* two batches of 20 an epoch: slices of 6 to 10 rows, which read transposed copies */
                    s2s_train_opts to = {.batch = 20, .lr = 0.01f, .clip = 1.0f, .threads = threads};
                    if (s2s_trainer_create(m[k], &d.data, &to, &r, &t[k], &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
                    CHECK(t[k]->shards == threads && t[k]->wt && t[k]->share_wt == 1);
                    t[k]->share_wt = k ? 0 : mode;
                    for (int s = 0; s < t[k]->shards; s++) own_copies(m[k], t[k]->shard_ws[s], 1);
                }
                s2s_epoch_stats st[2];
                for (int e = 0; e < 3; e++)
                    for (int k = 0; k < 2; k++) CHECK(!s2s_trainer_epoch(t[k], &st[k], NULL, &err) && st[k].complete);
                CHECK(isfinite(st[0].loss) && st[0].loss == st[1].loss);
                CHECK_MSG(!memcmp(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float)),
                          "family %zu, %d threads, share_wt %d: other weights than each slice's own copies give", f,
                          threads, mode);
                for (int s = 0; s < threads; s++) {
                    const size_t all = s2s_wt_floats(&cfg);
                    CHECK_MSG(own_copies(m[0], t[0]->shard_ws[s], 0) == all, "family %zu: slice %d made its own copies", f, s);
                    CHECK_MSG(own_copies(m[1], t[1]->shard_ws[s], 0) == 0, "family %zu: slice %d (share_wt 0) did not", f, s);
                }
                double v[2];
                for (int k = 0; k < 2; k++) v[k] = s2s_eval_loss(m[k], t[k]->ws, &d.data, t[k]->ws_rows, 0);
                CHECK(isfinite(v[0]) && v[0] == v[1]);
                for (int k = 0; k < 2; k++) { s2s_trainer_free(t[k]); s2s_model_free(m[k]); }
            }
    toy_close(&d);
    return 0;
}

int main(void) {
    RUN(test_stop_between_epochs);
    RUN(test_shared_transposes);
    RUN(test_norm_parts);
    RUN(test_fused_passes);
    TEST_END();
}
