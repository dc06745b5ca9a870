/* Training-state files are checked before a trainer is touched (whole numbers that agree with
 * each other, an order that is a permutation, finite moments, a reachable generator), and a
 * trainer stops at a non-finite loss naming the epoch and batch. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_checkpoint.h"
#include "s2s_safetensors.h"

static char dir[] = "/tmp/s2s-state-XXXXXX";

typedef struct setup {
    s2s_pairs p;
    s2s_vocab *sv, *tv;
    s2s_dataset d;
    s2s_model *m;
    s2s_trainer *t;
} setup;

/* The tiny corpus, a small model and a trainer of batches of 8 (5 batches an epoch). */
static int setup_open(setup *s) {
    s2s_err err;
    memset(s, 0, sizeof *s);
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &s->p, &err) ||
        s2s_vocab_build(s->p.src_tok, s->p.src_start[s->p.n], 2, &s->sv, &err) ||
        s2s_vocab_build(s->p.tgt_tok, s->p.tgt_start[s->p.n], 2, &s->tv, &err) ||
        s2s_dataset_build(&s->p, s->sv, s->tv, 8, &s->d, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    s2s_config c = {S2S_BAHDANAU, s2s_vocab_size(s->sv), s2s_vocab_size(s->tv), 5, 6, 1, 0.0f, 8, S2S_GRU, S2S_UNI, 0, 0};
    s2s_rng r;
    s2s_rng_seed(&r, 3);
    if (s2s_model_create(&c, &s->m, &err)) return 1;
    s2s_model_init(s->m, &r);
    s2s_train_opts o = {.batch = 8, .lr = 0.01f, .clip = 1.0f, .threads = 1};
    if (s2s_trainer_create(s->m, &s->d, &o, &r, &s->t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    return 0;
}

static void setup_close(setup *s) {
    s2s_trainer_free(s->t); s2s_model_free(s->m); s2s_dataset_free(&s->d);
    s2s_vocab_free(s->sv); s2s_vocab_free(s->tv); s2s_pairs_free(&s->p);
}

/* Rewrites state file `good` into `out` with metadata key = val, or tensor `name` edited by
 * `poke` (called on a copy of its bytes). */
static void write_edited(const char *good, const char *out, const char *key, const char *val, const char *name,
                         void (*poke)(unsigned char *bytes, size_t n)) {
    s2s_st_file *f;
    s2s_err err;
    if (s2s_st_read(good, &f, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    s2s_tensor ts[16];
    unsigned char *copy = NULL;
    int n = s2s_st_count(f);
    for (int i = 0; i < n; i++) {
        ts[i] = *s2s_st_get(f, i);
        if (name && !strcmp(ts[i].name, name)) {
            copy = malloc(ts[i].nbytes);
            memcpy(copy, ts[i].data, ts[i].nbytes);
            poke(copy, ts[i].nbytes);
            ts[i].data = copy;
        }
    }
    const char *keys[64], *vals[64];
    int nm = s2s_st_meta_count(f);
    for (int i = 0; i < nm; i++) {
        s2s_st_meta_at(f, i, &keys[i], &vals[i]);
        if (key && !strcmp(keys[i], key)) vals[i] = val;
    }
    if (s2s_st_write(out, ts, n, keys, vals, nm, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    free(copy);
    s2s_st_free(f);
}

static void nan_first(unsigned char *b, size_t n) { float x = NAN; if (n >= 4) memcpy(b, &x, 4); }
static void repeat_first(unsigned char *b, size_t n) { if (n >= 8) memcpy(b + 4, b, 4); }
static void all_zero(unsigned char *b, size_t n) { memset(b, 0, n); }

static int test_state_checked(void) {
    setup s;
    if (setup_open(&s)) { CHECK(0); return 0; }
    s2s_err err;
    s2s_epoch_stats st;
    CHECK_MSG(s2s_trainer_epoch(s.t, &st, NULL, &err) == S2S_OK, "%s", err.msg);  /* epoch 1: 5 Adam steps */
    char good[128], bad[128];
    snprintf(good, sizeof good, "%s/good.state", dir);
    snprintf(bad, sizeof bad, "%s/bad.state", dir);
    CHECK_MSG(s2s_state_save(good, s.t, NULL, NULL, 0, NULL, 0, &err) == S2S_OK, "%s", err.msg);
    CHECK_MSG(s2s_state_load(good, s.t, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    CHECK(s2s_trainer_epochs_done(s.t) == 1 && s2s_trainer_position(s.t) == 0 && s2s_trainer_step(s.t) == 5);
    struct { const char *key, *val, *tensor; void (*poke)(unsigned char *, size_t); const char *want; } cases[] = {
        {"epoch", "1.5", NULL, NULL, "\"epoch\" = \"1.5\" is not a whole number"},
        {"epoch", "999999999", NULL, NULL, "is not a whole number in 0..100000000"},
        {"epoch", "\n1", NULL, NULL, "\"epoch\" = \"\\x0a1\" is not a whole number"},  /* printable, one line */
        {"epoch", "2", NULL, NULL, "epoch 2, position 0 and Adam step 5 do not agree"},
        {"adam_step", "6", NULL, NULL, "do not agree"},
        {"pos", "3", NULL, NULL, "position 3"},
        {"pos", "40", NULL, NULL, "\"pos\" = \"40\""},
        {NULL, NULL, "order", repeat_first, "not a permutation of the 40 pairs (entry 1"},
        {NULL, NULL, "adam.m", nan_first, "non-finite"},
        {NULL, NULL, "adam.v", nan_first, "non-finite"},
        {NULL, NULL, "rng", all_zero, "all zero"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_edited(good, bad, cases[i].key, cases[i].val, cases[i].tensor, cases[i].poke);
        err.msg[0] = 0;
        int rc = s2s_state_load(bad, s.t, NULL, NULL, &err);
        CHECK_MSG(rc == S2S_ERR && strstr(err.msg, cases[i].want) && strstr(err.msg, bad), "case %zu: \"%s\"", i, err.msg);
    }
    /* nothing was changed by the refused files */
    CHECK(s2s_trainer_epochs_done(s.t) == 1 && s2s_trainer_position(s.t) == 0 && s2s_trainer_step(s.t) == 5);
    setup_close(&s);
    return 0;
}

/* A NaN anywhere in the weights makes the loss NaN: the trainer stops at that batch, before the
 * update, and names it. */
static int test_nonfinite_loss_stops(void) {
    setup s;
    if (setup_open(&s)) { CHECK(0); return 0; }
    s2s_err err;
    s2s_epoch_stats st;
    CHECK(s2s_trainer_epoch(s.t, &st, NULL, &err) == S2S_OK);
    s.m->params[0] = NAN;
    float before[16];
    memcpy(before, s.m->params + 1, sizeof before);
    CHECK(s2s_trainer_epoch(s.t, &st, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "epoch 2, batch 1: the loss is NaN") != NULL, "%s", err.msg);
    CHECK(!memcmp(before, s.m->params + 1, sizeof before) && s2s_trainer_step(s.t) == 5);
    setup_close(&s);
    return 0;
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    RUN(test_state_checked);
    RUN(test_nonfinite_loss_stops);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    TEST_END();
}
