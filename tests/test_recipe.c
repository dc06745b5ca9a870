/* The recipe for real data in the trainer: learning-rate schedules, --max-len filtering, batches
 * by tokens (every pair once an epoch, within the budget, little padding), passes as long as
 * their batch (the same loss and gradients as at num_steps), and an exact resume of an epoch of
 * batches by tokens. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_beam.h"
#include "s2s_checkpoint.h"
#include "seq2seq.h"

static char dir[] = "/tmp/s2s-recipe-XXXXXX";

static int test_lr_schedules(void) {
    /* constant: lr, or lr s/W during a warm-up of W */
    CHECK(s2s_lr_at(S2S_LR_CONSTANT, 0.5, 0, 1) == 0.5);
    CHECK(s2s_lr_at(S2S_LR_CONSTANT, 0.5, 0, 1000000) == 0.5);
    CHECK_NEAR(s2s_lr_at(S2S_LR_CONSTANT, 0.5, 4, 1), 0.125, 0, 1e-15);
    CHECK(s2s_lr_at(S2S_LR_CONSTANT, 0.5, 4, 5) == 0.5);
    CHECK(s2s_lr_at(S2S_LR_PLATEAU, 0.5, 4, 4) == 0.5);
    /* inverse-sqrt: linear to lr at W, then lr sqrt(W/s) (fairseq's, counting this update) */
    CHECK_NEAR(s2s_lr_at(S2S_LR_INVSQRT, 1e-3, 4000, 1), 1e-3 / 4000, 1e-12, 0);
    CHECK_NEAR(s2s_lr_at(S2S_LR_INVSQRT, 1e-3, 4000, 2000), 5e-4, 1e-12, 0);
    CHECK_NEAR(s2s_lr_at(S2S_LR_INVSQRT, 1e-3, 4000, 4000), 1e-3, 1e-12, 0);
    CHECK_NEAR(s2s_lr_at(S2S_LR_INVSQRT, 1e-3, 4000, 16000), 5e-4, 1e-12, 0);
    CHECK_NEAR(s2s_lr_at(S2S_LR_INVSQRT, 1e-3, 4000, 36000), 1e-3 / 3, 1e-12, 0);
    /* linear: the rate as constant's (warm-up included), the factor falling to 0 at the budget */
    CHECK(s2s_lr_at(S2S_LR_LINEAR, 0.5, 4, 2) == 0.25 && s2s_lr_at(S2S_LR_LINEAR, 0.5, 4, 9) == 0.5);
    CHECK(s2s_lr_linear_scale(0, 8, 1.0, 0.0, 0.0) == 1.0);          /* the first update */
    CHECK(s2s_lr_linear_scale(6, 8, 1.0, 0.0, 0.0) == 0.25);         /* the 7th of 8 */
    CHECK(s2s_lr_linear_scale(8, 8, 1.0, 0.0, 0.0) == 0.0);
    CHECK(s2s_lr_linear_scale(9, 8, 1.0, 0.0, 0.0) == 0.0);          /* never below 0 */
    CHECK(s2s_lr_linear_scale(5, 0, 1.0, 30.0, 120.0) == 0.75);      /* by time */
    CHECK(s2s_lr_linear_scale(5, 0, 0.5, 60.0, 120.0) == 0.25);      /* a resumed command, from 0.5 */
    CHECK(s2s_lr_linear_scale(5, 0, 1.0, 130.0, 120.0) == 0.0);
    CHECK(s2s_lr_linear_scale(2, 8, 1.0, 60.0, 120.0) == 0.5);       /* whichever budget ends first */
    CHECK(s2s_lr_linear_scale(6, 8, 1.0, 60.0, 120.0) == 0.25);
    CHECK(s2s_lr_linear_scale(123, 0, 0.7, 10.0, 0.0) == 1.0);       /* no budget: no decay */
    s2s_lr_schedule s;
    CHECK(s2s_lr_schedule_parse("linear", &s) == 0 && s == S2S_LR_LINEAR);
    CHECK(s2s_lr_schedule_parse("inverse-sqrt", &s) == 0 && s == S2S_LR_INVSQRT);
    CHECK(s2s_lr_schedule_parse("plateau", &s) == 0 && s == S2S_LR_PLATEAU);
    CHECK(s2s_lr_schedule_parse("cosine", &s) < 0);
    CHECK(!strcmp(s2s_lr_schedule_name(S2S_LR_CONSTANT), "constant"));
    return 0;
}

/* Rows of n tokens each side (ids 4.., then <eos>), built by d2l's pipeline at T. */
static int test_drop_long(void) {
    s2s_err err;
    s2s_pairs p;
    const char *text = "a\tx\n"                 /* 1 and 1 tokens */
                       "a b c\tx y\n"           /* 3, 2 */
                       "a b c d\tx\n"           /* 4, 1: longer than 3 on the source */
                       "a\tx y z w v\n"         /* 1, 5: longer on the target */
                       "a b\tx y z\n";          /* 2, 3: exactly 3 */
    if (s2s_pairs_parse(text, strlen(text), "drop", 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_vocab *sv, *tv;
    s2s_dataset d;
    if (s2s_vocab_build(p.src_tok, p.src_start[p.n], 1, &sv, &err) || s2s_vocab_build(p.tgt_tok, p.tgt_start[p.n], 1, &tv, &err) ||
        s2s_dataset_build(&p, sv, tv, 4, &d, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(s2s_dataset_drop_long(&d, 3) == 2);
    CHECK(d.n == 3);
    const int32_t want_src_len[] = {2, 4, 3}, want_tgt_len[] = {2, 3, 4};
    for (int i = 0; i < 3 && d.n == 3; i++) {
        CHECK(d.src_len[i] == want_src_len[i]);
        CHECK(d.tgt_len[i] == want_tgt_len[i]);
        CHECK(d.src[i * 4 + d.src_len[i] - 1] == S2S_EOS);
    }
    CHECK(s2s_dataset_drop_long(&d, 3) == 0);  /* what is left fits */
    CHECK(s2s_dataset_drop_long(&d, 1) == 2);
    s2s_dataset_free(&d); s2s_vocab_free(sv); s2s_vocab_free(tv); s2s_pairs_free(&p);
    return 0;
}

/* A corpus, vocabularies, the dataset at T, a model and a trainer. */
typedef struct setup {
    s2s_pairs p;
    s2s_vocab *sv, *tv;
    s2s_dataset d;
    s2s_model *m;
    s2s_trainer *t;
} setup;

static int setup_open(setup *s, const char *path, int lines, int T, s2s_enc_kind enc, const s2s_train_opts *o) {
    s2s_err err;
    memset(s, 0, sizeof *s);
    if (s2s_pairs_read(path, lines, &s->p, &err) ||
        s2s_vocab_build(s->p.src_tok, s->p.src_start[s->p.n], 1, &s->sv, &err) ||
        s2s_vocab_build(s->p.tgt_tok, s->p.tgt_start[s->p.n], 1, &s->tv, &err) ||
        s2s_dataset_build(&s->p, s->sv, s->tv, T, &s->d, &err)) { CHECK_MSG(0, "%s", err.msg); return 1; }
    s2s_config c = {S2S_BAHDANAU, s2s_vocab_size(s->sv), s2s_vocab_size(s->tv), 6, 8, 2, 0.1f, T, S2S_GRU, enc, 0, 0};
    if (s2s_config_check(&c, &err)) { printf("  not in this build: %s\n", err.msg); return -1; }
    s2s_rng r;
    s2s_rng_seed(&r, 5);
    if (s2s_model_create(&c, &s->m, &err)) { CHECK_MSG(0, "%s", err.msg); return 1; }
    s2s_model_init(s->m, &r);
    if (s2s_trainer_create(s->m, &s->d, o, &r, &s->t, &err)) { CHECK_MSG(0, "%s", err.msg); return 1; }
    return 0;
}

static void setup_close(setup *s) {
    s2s_trainer_free(s->t); s2s_model_free(s->m); s2s_dataset_free(&s->d);
    s2s_vocab_free(s->sv); s2s_vocab_free(s->tv); s2s_pairs_free(&s->p);
}

/* Positions a pair takes: its longer side, the source counted at T for d2l's encoder. */
static int pair_positions(const setup *s, int i, int packed) {
    const int ls = packed ? s->d.src_len[i] : s->d.T, lt = s->d.tgt_len[i];
    return ls > lt ? ls : lt;
}

/* Every pair once, in batches of at most `cap` positions (rows x the longest pair), laid out
 * one after the other; batches sorted within pools leave little source padding. */
static void check_plan(const setup *s, int cap, int packed, double *src_pad) {
    int nb;
    const int32_t *bstart, *perm = s2s_trainer_order(s->t, &nb, &bstart);
    const int n = s->d.n;
    char *seen = calloc((size_t)n, 1);
    CHECK(nb > 0 && bstart[0] == 0 && bstart[nb] == n);
    double pad = 0, all = 0;
    for (int k = 0; k < nb; k++) {
        const int a = bstart[k], b = bstart[k + 1];
        int longest = 0, ls = 0;
        CHECK(b > a);
        for (int j = a; j < b; j++) {
            const int i = perm[j];
            CHECK(i >= 0 && i < n && !seen[i]);
            if (i >= 0 && i < n) seen[i] = 1;
            const int len = pair_positions(s, i, packed);
            longest = len > longest ? len : longest;
            ls = s->d.src_len[i] > ls ? s->d.src_len[i] : ls;
        }
        CHECK_MSG((long)(b - a) * longest <= cap, "batch %d: %d rows x %d > %d", k, b - a, longest, cap);
        for (int j = a; j < b; j++) { pad += ls - s->d.src_len[perm[j]]; all += ls; }
    }
    for (int i = 0; i < n; i++) CHECK(seen[i]);
    free(seen);
    *src_pad = pad / all;
}

static int test_batches_by_tokens(void) {
    const char *path = "../shared/data/fra-eng/fra.txt";
    if (access(path, R_OK)) SKIP("%s is not here", path);
    s2s_train_opts o = {.batch = 64, .lr = 0.002f, .clip = 1.0f, .threads = 1, .batch_tokens = 300};
    setup s;
    s2s_err err;
    s2s_epoch_stats st;
    double pad;
    /* d2l's one-direction encoder runs over num_steps: a batch holds cap / T rows at most */
    if (setup_open(&s, path, 3000, 12, S2S_UNI, &o)) { setup_close(&s); return 0; }
    if (s2s_trainer_epoch(s.t, &st, NULL, &err)) CHECK_MSG(0, "%s", err.msg);
    check_plan(&s, 300, 0, &pad);
    int nb;
    const int32_t *bstart;
    s2s_trainer_order(s.t, &nb, &bstart);
    for (int k = 0; k < nb; k++) CHECK(bstart[k + 1] - bstart[k] <= 300 / 12);
    setup_close(&s);
    /* the packed encoder: batches as long as their pairs, sorted, little padding */
    int rc = setup_open(&s, path, 6000, 12, S2S_BI, &o);
    if (rc) { setup_close(&s); return rc < 0; }
    int32_t first[8];
    for (int e = 0; e < 2; e++) {
        if (s2s_trainer_epoch(s.t, &st, NULL, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
        CHECK(st.complete);
        check_plan(&s, 300, 1, &pad);
        CHECK_MSG(pad < 0.03, "source padding %.3f", pad);
        /* the padding the trainer counted is the plan's */
        double pct[2];
        s2s_trainer_padding(s.t, pct);
        CHECK_NEAR(pct[0] / 100, pad, 1e-9, 1e-12);
        if (e == 0) memcpy(first, s2s_trainer_order(s.t, NULL, NULL), sizeof first);
        else CHECK(memcmp(first, s2s_trainer_order(s.t, NULL, NULL), sizeof first));  /* another shuffle each epoch */
        CHECK(isfinite(st.loss) && st.loss > 0);
    }
    setup_close(&s);
    return 0;
}

/* One batch as d2l lays it out (both sides at T) and as batches by tokens do (each side as long
 * as its longest row): the same loss and gradients, any encoder whose passes do not depend on
 * the padding. */
static int strides_case(s2s_enc_kind enc, int attention, int input_feed) {
    enum { B = 5, T = 9 };
    s2s_config cfg = {attention, 12, 13, 4, 6, 2, 0.0f, T, S2S_GRU, enc, input_feed, 0};
    s2s_err err;
    if (s2s_config_check(&cfg, &err)) SKIP("%s", err.msg);
    s2s_model *m;
    s2s_ws *ws, *ws2;  /* the second holds only the positions of the batch at its own strides */
    s2s_ws_opts wo = {.token_tables = 1}, wo2 = {.token_tables = 1, .max_tokens = B * (enc == S2S_BI ? 6 : T)};
    if (s2s_model_create(&cfg, &m, &err) || s2s_ws_create_opts(m, B, T, &wo, &ws, &err) ||
        s2s_ws_create_opts(m, B, T, &wo2, &ws2, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_rng r;
    s2s_rng_seed(&r, 11);
    s2s_model_init(m, &r);
    const int32_t srcl[B] = {5, 3, 4, 2, 5}, tgtl[B] = {6, 6, 4, 3, 2};  /* targets sorted longest first */
    int32_t src[B * T], tgt[B * T], dec[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            src[b * T + t] = t < srcl[b] - 1 ? 4 + (b * 3 + t) % 8 : t == srcl[b] - 1 ? S2S_EOS : S2S_PAD;
            tgt[b * T + t] = t < tgtl[b] - 1 ? 4 + (b * 5 + t) % 9 : t == tgtl[b] - 1 ? S2S_EOS : S2S_PAD;
        }
    for (int b = 0; b < B; b++) { dec[b * T] = S2S_BOS; for (int t = 1; t < T; t++) dec[b * T + t] = tgt[b * T + t - 1]; }
    const int Ts = enc == S2S_BI ? 5 : T, Tt = 6;
    int32_t src2[B * T], tgt2[B * T], dec2[B * T];
    for (int b = 0; b < B; b++) {
        memcpy(src2 + b * Ts, src + b * T, sizeof(int32_t) * Ts);
        memcpy(tgt2 + b * Tt, tgt + b * T, sizeof(int32_t) * Tt);
        memcpy(dec2 + b * Tt, dec + b * T, sizeof(int32_t) * Tt);
    }
    const float w = 1.0f / 21;  /* the batch's target tokens */
    s2s_batch full = {B, T, src, srcl, dec, tgt, tgtl, 0.1f, w, 0}, own = {B, Ts, src2, srcl, dec2, tgt2, tgtl, 0.1f, w, Tt};
    const size_t n = m->n_params;
    float *g1 = malloc(n * sizeof(float));
    float l1[B], l2[B];
    s2s_model_zero_grad(m);
    double a = s2s_forward(m, ws, &full, 0, 0, NULL, l1);
    s2s_backward(m, ws, &full);
    memcpy(g1, m->grads, n * sizeof(float));
    s2s_model_zero_grad(m);
    double b2 = s2s_forward(m, ws2, &own, 0, 0, NULL, l2);
    s2s_backward(m, ws2, &own);
    CHECK_NEAR(b2, a, 1e-6, 0);
    CHECK_ARRAY(l2, l1, B, 1e-6, 1e-9, "per-row loss");
    CHECK_ARRAY(m->grads, g1, (long)n, 1e-5, 1e-7, "gradients");
    free(g1);
    s2s_ws_free(ws); s2s_ws_free(ws2); s2s_model_free(m);
    return 0;
}
static int test_batch_strides_uni(void) { return strides_case(S2S_UNI, S2S_BAHDANAU, 0); }
static int test_batch_strides_bi(void) { return strides_case(S2S_BI, S2S_BAHDANAU, 0); }
/* Luong's buffers (scores [Tdec,B,T], h~ fed back) at the batch's own strides */
static int test_batch_strides_luong(void) {
    return strides_case(S2S_BI, S2S_LUONG_GENERAL, 1) | strides_case(S2S_UNI, S2S_LUONG_DOT, 1);
}

static int stop_after(void *ctx, const s2s_trainer *t) { (void)t; return --*(int *)ctx <= 0; }

/* Batches by tokens over two epochs, and the same run stopped within the first epoch, saved,
 * loaded into a new trainer and continued: the same weights, bit for bit. */
static int test_resume_by_tokens(void) {
    s2s_train_opts o = {.batch = 8, .lr = 0.01f, .clip = 1.0f, .threads = 2, .batch_tokens = 40, .smoothing = 0.1f,
                        .schedule = S2S_LR_INVSQRT, .warmup = 3};
    setup a, b;
    s2s_err err;
    s2s_epoch_stats st;
    if (setup_open(&a, "tests/data/tiny.tsv", 0, 8, S2S_UNI, &o)) { setup_close(&a); return 0; }
    for (int e = 0; e < 2; e++)
        if (s2s_trainer_epoch(a.t, &st, NULL, &err)) CHECK_MSG(0, "%s", err.msg);
    if (setup_open(&b, "tests/data/tiny.tsv", 0, 8, S2S_UNI, &o)) { setup_close(&a); setup_close(&b); return 0; }
    int left = 3;
    s2s_trainer_set_on_batch(b.t, stop_after, &left);
    if (s2s_trainer_epoch(b.t, &st, NULL, &err)) CHECK_MSG(0, "%s", err.msg);
    CHECK(!st.complete && s2s_trainer_position(b.t) > 0);
    char state[256], model[256];
    snprintf(state, sizeof state, "%s/t.state", dir); snprintf(model, sizeof model, "%s/t.safetensors", dir);
    const char *k[] = {"opt.batch-tokens"}, *v[] = {"40"};
    if (s2s_state_save(state, b.t, k, v, 1, NULL, 0, &err) || s2s_model_save(model, b.m, b.sv, b.tv, &err)) {
        CHECK_MSG(0, "%s", err.msg);
    }
    setup c;
    if (setup_open(&c, "tests/data/tiny.tsv", 0, 8, S2S_UNI, &o)) { setup_close(&a); setup_close(&b); setup_close(&c); return 0; }
    memcpy(c.m->params, b.m->params, b.m->n_params * sizeof(float));
    if (s2s_state_load(state, c.t, NULL, NULL, &err)) CHECK_MSG(0, "%s", err.msg);
    int nbb, nbc;
    s2s_trainer_order(b.t, &nbb, NULL); s2s_trainer_order(c.t, &nbc, NULL);
    CHECK(s2s_trainer_position(c.t) == s2s_trainer_position(b.t) && nbc == nbb);
    for (int e = 0; e < 2; e++)
        if (s2s_trainer_epoch(c.t, &st, NULL, &err)) CHECK_MSG(0, "%s", err.msg);
    CHECK(s2s_trainer_epochs_done(c.t) == 2 && s2s_trainer_step(c.t) == s2s_trainer_step(a.t));
    CHECK(!memcmp(c.m->params, a.m->params, a.m->n_params * sizeof(float)));
    /* a state of d2l's batches is not one of batches by tokens, and the other way round */
    setup d;
    s2s_train_opts o2 = o;
    o2.batch_tokens = 0;
    if (!setup_open(&d, "tests/data/tiny.tsv", 0, 8, S2S_UNI, &o2)) {
        memcpy(d.m->params, b.m->params, b.m->n_params * sizeof(float));
        CHECK(s2s_state_load(state, d.t, NULL, NULL, &err) != 0 && strstr(err.msg, "--batch-tokens"));
    }
    setup_close(&d);
    unlink(state); unlink(model);
    setup_close(&a); setup_close(&b); setup_close(&c);
    return 0;
}

/* A packed encoder's translations run each batch to its longest source: the same as running
 * every batch to num_steps, greedy and beam. */
static int test_translate_packed_steps(void) {
    setup s;
    s2s_train_opts o = {.batch = 8, .lr = 0.01f, .clip = 1.0f, .threads = 1};
    const int T = 12;
    int rc = setup_open(&s, "tests/data/tiny.tsv", 0, T, S2S_BI, &o);
    if (rc) { setup_close(&s); return rc < 0; }
    s2s_epoch_stats st;
    s2s_err err;
    for (int e = 0; e < 3; e++) s2s_trainer_epoch(s.t, &st, NULL, &err);
    char path[256];
    snprintf(path, sizeof path, "%s/bi.safetensors", dir);
    if (s2s_model_save(path, s.m, s.sv, s.tv, &err)) { CHECK_MSG(0, "%s", err.msg); setup_close(&s); return 0; }
    const char *src[] = {"go .", "i lost .", "he's calm .", "i'm home .", "we won .", "i did it .", "go away now please ."};
    enum { N = 7 };
    s2s_translator *tr;
    if (s2s_translator_open(path, NULL, &tr, &err)) { CHECK_MSG(0, "%s", err.msg); setup_close(&s); return 0; }
    s2s_ws *ws;
    if (s2s_ws_create(s.m, 16, T, &ws, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int32_t ids[N * 12], len[N], out[N * 12], olen[N];
    for (int i = 0; i < N; i++) len[i] = s2s_encode_sentence(s.sv, src[i], T, ids + i * T, &err);
    for (int beam = 1; beam <= 4; beam += 3) {
        s2s_translate_options to;
        s2s_translate_options_init(&to);
        to.beam = beam; to.batch = 3;  /* batches of different lengths */
        s2s_translation *res;
        if (s2s_translate(tr, src, N, &to, &res, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
        s2s_beam_result br[N];
        s2s_beam_opts bo = {beam, 1.0f, T, 0.0f, 1, 0};
        if (beam == 1) CHECK(s2s_greedy(s.m, ws, N, ids, len, T, out, olen, NULL, &err) == 0);
        else CHECK(s2s_beam_search(s.m, ws, N, ids, len, &bo, br, &err) == 0);
        for (int i = 0; i < N; i++) {
            const int32_t *tok = beam == 1 ? out + i * T : br[i].hyps[0].tokens;
            const int n = beam == 1 ? olen[i] : br[i].hyps[0].len;
            char want[512] = "";
            for (int k = 0; k < n; k++) {
                if (k) strcat(want, " ");
                strcat(want, s2s_vocab_token(s.tv, tok[k]));
            }
            CHECK_MSG(!strcmp(s2s_translation_text(res, i, 0), want), "beam %d, sentence %d: '%s' vs '%s'", beam, i,
                      s2s_translation_text(res, i, 0), want);
        }
        if (beam > 1) for (int i = 0; i < N; i++) s2s_beam_result_free(&br[i]);
        s2s_translation_free(res);
    }
    s2s_ws_free(ws);
    s2s_translator_close(tr);
    unlink(path);
    setup_close(&s);
    return 0;
}

int main(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    RUN(test_lr_schedules);
    RUN(test_drop_long);
    RUN(test_batches_by_tokens);
    RUN(test_batch_strides_uni);
    RUN(test_batch_strides_bi);
    RUN(test_batch_strides_luong);
    RUN(test_resume_by_tokens);
    RUN(test_translate_packed_steps);
    rmdir(dir);
    TEST_END();
}
