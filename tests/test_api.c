/* The public API (include/seq2seq.h): the translator handle against the library's own
 * decoders, several threads at once on one handle (the same results as one thread, bit for
 * bit; `make tsan` runs this file under ThreadSanitizer), errors as statuses with messages,
 * and the options' size rule. The models are trained here on tests/data/tiny.tsv. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "seq2seq.h"
#include "s2s_beam.h"
#include "s2s_checkpoint.h"
#include "s2s_model.h"
#include "s2s_rng.h"
#include "s2s_text.h"
#include "s2s_tok.h"
#include "s2s_train.h"

static char g_dir[64], g_attn[128], g_attn2[128], g_plain[128], g_spm[128];
enum { MAX_SENT = 160 };
static char *g_sent[MAX_SENT];
static int g_n;

static s2s_train_options tiny_options(const char *kind) {
    s2s_train_options o;
    s2s_train_options_init(&o);
    o.data = "tests/data/tiny.tsv";
    o.pairs = 0;
    o.model = kind;
    o.embed = 16; o.hidden = 24; o.dropout = 0.0f; o.num_steps = 8; o.batch = 8; o.lr = 0.01f; o.seed = 5;
    return o;
}

/* A model trained (through the training handle) on the tiny corpus with options o until its
 * decisions are peaked, saved to path. */
static int train_model(s2s_train_options o, const char *path) {
    s2s_err err;
    s2s_training *t;
    if (s2s_training_open(&o, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_train_progress p = {0};
    for (int e = 0; e < 60; e++)
        if (s2s_training_epoch(t, NULL, NULL, &p, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
    CHECK_MSG(p.epoch == 60 && p.done == p.total && p.total == 40 && p.loss < 0.5, "epoch %d, %d/%d pairs, loss %g",
              p.epoch, p.done, p.total, p.loss);
    int ok = s2s_training_save(t, path, &err) == S2S_OK;
    CHECK_MSG(ok, "%s", err.msg);
    s2s_training_close(t);
    return ok;
}

/* The corpus' raw English sentences, then recombinations of its words: unknown words, empty
 * input, sentences longer than num_steps (cut), no space before the punctuation. */
static void make_sentences(void) {
    FILE *f = fopen("tests/data/tiny.tsv", "r");
    char line[256];
    const char *words[] = {"go", "hi", "run", "who", "wow", "i", "lost", "he's", "calm", "home", "zebra",
                           "i'm", "we", "it", "!", ".", "?", "you"};
    while (f && g_n < 40 && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (tab) *tab = 0;
        g_sent[g_n++] = strdup(line);
    }
    if (f) fclose(f);
    s2s_rng r;
    s2s_rng_seed(&r, 11);
    g_sent[g_n++] = strdup("");
    g_sent[g_n++] = strdup("Go!Run.Hi?");
    while (g_n < MAX_SENT) {
        int len = (int)s2s_rng_below(&r, 14);
        char *s = calloc(256, 1);
        for (int k = 0; k < len; k++) {
            if (k) strcat(s, " ");
            strcat(s, words[s2s_rng_below(&r, sizeof words / sizeof *words)]);
        }
        g_sent[g_n++] = s;
    }
}

static s2s_translate_options opts(int beam, int nbest, int scores, int batch, int attention) {
    s2s_translate_options o;
    s2s_translate_options_init(&o);
    o.beam = beam; o.nbest = nbest; o.scores = scores; o.batch = batch; o.attention = attention;
    return o;
}

/* Number of differences between two results (text, scores and attention bit for bit). */
static int differences(const s2s_translation *a, const s2s_translation *b) {
    int d = s2s_translation_count(a) != s2s_translation_count(b);
    for (int i = 0; !d && i < s2s_translation_count(a); i++) {
        d += s2s_translation_hyps(a, i) != s2s_translation_hyps(b, i);
        for (int k = 0; !d && k < s2s_translation_hyps(a, i); k++) {
            double x = s2s_translation_score(a, i, k), y = s2s_translation_score(b, i, k);
            d += strcmp(s2s_translation_text(a, i, k), s2s_translation_text(b, i, k)) != 0;
            d += memcmp(&x, &y, sizeof x) != 0;
        }
        int ra, ca, rb, cb;
        const float *wa = s2s_translation_attention(a, i, &ra, &ca), *wb = s2s_translation_attention(b, i, &rb, &cb);
        d += (wa == NULL) != (wb == NULL) || ra != rb || ca != cb;
        if (!d && wa) {
            d += memcmp(wa, wb, sizeof(float) * (size_t)ra * ca) != 0;
            for (int c = 0; c < ca; c++) d += strcmp(s2s_translation_source_token(a, i, c), s2s_translation_source_token(b, i, c)) != 0;
            for (int q = 0; q < ra; q++) d += strcmp(s2s_translation_target_token(a, i, q), s2s_translation_target_token(b, i, q)) != 0;
        }
    }
    return d;
}

static int test_version(void) {
    CHECK(!strcmp(s2s_version(), S2S_VERSION_STRING));
    CHECK(atoi(s2s_version()) == S2S_VERSION_MAJOR);
    return 0;
}

static int test_open_errors(void) {
    s2s_err err = {{0}};
    s2s_translator *t = (s2s_translator *)&err;
    CHECK(s2s_translator_open("tests/no/such.safetensors", NULL, &t, &err) == S2S_ERR);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, "tests/no/such.safetensors") != NULL, "message: %s", err.msg);
    CHECK(s2s_translator_open("tests/data/tiny.tsv", NULL, &t, &err) == S2S_ERR && t == NULL);
    CHECK_MSG(strstr(err.msg, "tiny.tsv") != NULL, "message: %s", err.msg);
    CHECK(s2s_translator_open(NULL, NULL, &t, &err) == S2S_ERR_INPUT);
    CHECK(s2s_translator_open(g_attn, NULL, NULL, &err) == S2S_ERR_INPUT);
    s2s_translator_options o = {0};  /* not initialised: refused, not misread */
    CHECK(s2s_translator_open(g_attn, &o, &t, &err) == S2S_ERR_INPUT && t == NULL);
    CHECK_MSG(strstr(err.msg, "_init") != NULL, "message: %s", err.msg);
    s2s_translator_options_init(&o);
    o.threads = 0;
    CHECK(s2s_translator_open(g_attn, &o, &t, &err) == S2S_ERR_INPUT && t == NULL);
    s2s_translator_options_init(&o);
    o.gemm = "fast";
    CHECK(s2s_translator_open(g_attn, &o, &t, &err) == S2S_ERR_INPUT && t == NULL);
    CHECK_MSG(strstr(err.msg, "gemm 'fast' is not own, blas, bf16 or int8") != NULL, "message: %s", err.msg);
    CHECK(s2s_translator_open(g_attn, NULL, &t, NULL) == S2S_OK);  /* err may be NULL */
    s2s_translator_close(t);
    s2s_translator_close(NULL);
    return 0;
}

/* The products are the handle's choice (s2s_translator_options.gemm): handles of one process,
 * "blas", "own", "bf16" and "int8" (each where the build has it), each give the scores of the
 * library's beam search on a workspace of that choice, bit for bit; and "bf16" and "int8"
 * differ from "blas" somewhere (their operands are rounded). "own" and "blas" may agree to the
 * bit on this tiny model: whether they do depends on the kernel OpenBLAS picks for the CPU
 * (its Cooperlake kernel sums these short products as ours does). */
static int test_gemm_per_handle(void) {
    static const char *all_names[] = {"blas", "own", "bf16", "int8"};
    static const s2s_gemm_kind all_kinds[] = {S2S_GEMM_BLAS, S2S_GEMM_OWN, S2S_GEMM_BF16, S2S_GEMM_INT8};
    const char *names[4];
    s2s_gemm_kind kinds[4];
    int nk = 0;
    for (int k = 0; k < 4; k++)
        if (s2s_gemm_resolve(all_kinds[k]) >= 0) names[nk] = all_names[k], kinds[nk++] = all_kinds[k];
    s2s_err err;
    s2s_model *m;
    s2s_vocab *sv, *tv;
    if (s2s_model_load(g_attn, &m, &sv, &tv, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    const int T = m->cfg.num_steps;
    s2s_translate_options b = opts(4, 3, 1, 1, 0);
    s2s_translator *t[4] = {NULL, NULL, NULL, NULL};
    s2s_translation *r[4] = {NULL, NULL, NULL, NULL};
    int bad = 0;
    for (int k = 0; k < nk; k++) {
        s2s_translator_options o;
        s2s_translator_options_init(&o);
        o.gemm = names[k];
        if (s2s_translator_open(g_attn, &o, &t[k], &err) ||
            s2s_translate(t[k], (const char *const *)g_sent, g_n, &b, &r[k], &err)) { CHECK_MSG(0, "%s", err.msg); break; }
        const s2s_ws_opts wo = {.token_tables = 1, .inference = 1, .gemm = kinds[k]};
        s2s_ws *ws;
        if (s2s_ws_create_opts(m, 4, T, &wo, &ws, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
        for (int i = 0; i < g_n; i++) {
            int32_t ids[T];
            int len = s2s_encode_sentence(sv, g_sent[i], T, ids, &err);
            s2s_beam_opts bo;
            s2s_beam_opts_default(&bo);
            bo.beam = 4; bo.nbest = 3; bo.max_len = T;
            s2s_beam_result br;
            if (len < 0 || s2s_beam_search(m, ws, 1, ids, &len, &bo, &br, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
            bad += s2s_translation_hyps(r[k], i) != br.n_hyps;
            for (int h = 0; h < br.n_hyps && h < s2s_translation_hyps(r[k], i); h++)
                bad += s2s_translation_score(r[k], i, h) != br.hyps[h].score;
            s2s_beam_result_free(&br);
        }
        s2s_ws_free(ws);
    }
    CHECK_MSG(bad == 0, "%d differences between the handles and the decoders on their products", bad);
    for (int k = 1; k < nk && r[0]; k++) {
        if (!r[k] || (kinds[k] != S2S_GEMM_BF16 && kinds[k] != S2S_GEMM_INT8)) continue;
        int differ = 0;
        for (int i = 0; i < g_n; i++)
            for (int h = 0; h < s2s_translation_hyps(r[0], i) && h < s2s_translation_hyps(r[k], i); h++)
                differ += s2s_translation_score(r[0], i, h) != s2s_translation_score(r[k], i, h);
        CHECK_MSG(differ > 0, "the \"blas\" and \"%s\" handles gave the same %d sentences' scores to the bit", names[k], g_n);
    }
    for (int k = 0; k < 4; k++) { s2s_translation_free(r[k]); s2s_translator_close(t[k]); }
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return 0;
}

/* The handle's results against the library's decoders on the same ids, one sentence at a
 * time (batch 1, so both see the same one-row batches): greedy tokens, beam hypotheses and
 * scores, and the attention rows. */
static int test_matches_decoders(void) {
    s2s_err err;
    s2s_translator *t;
    s2s_model *m;
    s2s_vocab *sv, *tv;
    if (s2s_translator_open(g_attn, NULL, &t, &err) || s2s_model_load(g_attn, &m, &sv, &tv, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    const int T = m->cfg.num_steps;
    s2s_ws *ws;
    if (s2s_ws_create(m, 4, T, &ws, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_translate_options g = opts(1, 1, 0, 1, 1), b = opts(4, 3, 1, 1, 1);
    s2s_translation *rg, *rb;
    if (s2s_translate(t, (const char *const *)g_sent, g_n, &g, &rg, &err) ||
        s2s_translate(t, (const char *const *)g_sent, g_n, &b, &rb, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(s2s_translation_count(rg) == g_n && s2s_translation_count(rb) == g_n);
    int bad = 0, nonempty = 0;
    for (int i = 0; i < g_n; i++) {
        int32_t ids[T], out[T], len;
        int olen;
        float attn[T * T];
        len = s2s_encode_sentence(sv, g_sent[i], T, ids, &err);
        if (len < 0 || s2s_greedy(m, ws, 1, ids, &len, T, out, &olen, attn, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
        char text[512] = "";
        for (int k = 0; k < olen; k++) { if (k) strcat(text, " "); strcat(text, s2s_vocab_token(tv, out[k])); }
        nonempty += olen > 0;
        bad += s2s_translation_hyps(rg, i) != 1 || strcmp(s2s_translation_text(rg, i, 0), text) != 0 ||
               !isnan(s2s_translation_score(rg, i, 0));
        int rows, cols;
        const float *w = s2s_translation_attention(rg, i, &rows, &cols);
        bad += !w || cols != len || rows != olen + (olen < T);
        for (int r = 0; w && r < rows; r++) bad += memcmp(w + (size_t)r * cols, attn + (size_t)r * T, sizeof(float) * cols) != 0;
        bad += !s2s_translation_target_token(rg, i, rows - 1) ||
               strcmp(s2s_translation_target_token(rg, i, rows - 1), olen < T ? "<eos>" : s2s_vocab_token(tv, out[olen - 1]));
        s2s_beam_opts bo;
        s2s_beam_opts_default(&bo);
        bo.beam = 4; bo.nbest = 3; bo.max_len = T; bo.want_attn = 1;
        s2s_beam_result br;
        s2s_ws *bws;
        if (s2s_ws_create(m, 4, T, &bws, &err) || s2s_beam_search(m, bws, 1, ids, &len, &bo, &br, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            break;
        }
        bad += s2s_translation_hyps(rb, i) != br.n_hyps;
        for (int h = 0; h < br.n_hyps && h < s2s_translation_hyps(rb, i); h++) {
            char bt[512] = "";
            for (int k = 0; k < br.hyps[h].len; k++) { if (k) strcat(bt, " "); strcat(bt, s2s_vocab_token(tv, br.hyps[h].tokens[k])); }
            bad += strcmp(s2s_translation_text(rb, i, h), bt) != 0 || s2s_translation_score(rb, i, h) != br.hyps[h].score;
        }
        w = s2s_translation_attention(rb, i, &rows, &cols);
        bad += !w || rows != br.attn_steps || cols != len;
        for (int r = 0; w && r < rows; r++) bad += memcmp(w + (size_t)r * cols, br.attn + (size_t)r * T, sizeof(float) * cols) != 0;
        for (int h = 0; h < br.n_hyps && h < s2s_translation_hyps(rb, i); h++) {  /* every hypothesis' own */
            const s2s_beam_hyp *y = &br.hyps[h];
            w = s2s_translation_hyp_attention(rb, i, h, &rows, &cols);
            bad += !w || rows != y->len + y->ended || cols != len;
            for (int r = 0; w && r < rows; r++) bad += memcmp(w + (size_t)r * cols, y->attn + (size_t)r * T, sizeof(float) * cols) != 0;
            const char *last = s2s_translation_hyp_target_token(rb, i, h, rows - 1);
            bad += !last || strcmp(last, y->ended ? "<eos>" : s2s_vocab_token(tv, y->tokens[y->len - 1]));
        }
        bad += s2s_translation_hyp_attention(rb, i, s2s_translation_hyps(rb, i), &rows, &cols) != NULL || rows || cols;
        s2s_beam_result_free(&br);
        s2s_ws_free(bws);
    }
    CHECK_MSG(bad == 0, "%d differences between the handle and the decoders", bad);
    CHECK_MSG(nonempty > g_n / 2, "only %d of %d translations are not empty: the model is not trained", nonempty, g_n);
    /* the labels of a known sentence: preprocessed source tokens, then <eos> */
    CHECK(!strcmp(s2s_translation_source_token(rg, 0, 0), "go") && !strcmp(s2s_translation_source_token(rg, 0, 1), ".") &&
          !strcmp(s2s_translation_source_token(rg, 0, 2), "<eos>") && !s2s_translation_source_token(rg, 0, 3));
    s2s_translation_free(rg); s2s_translation_free(rb);
    s2s_ws_free(ws); s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    s2s_translator_close(t);
    return 0;
}

/* Greedy and a beam of one give the same text; beam 1 with scores has finite scores. */
static int test_beam_one_is_greedy(void) {
    s2s_err err;
    s2s_translator *t;
    if (s2s_translator_open(g_attn, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_translate_options g = opts(1, 1, 0, 64, 0), s = opts(1, 1, 1, 64, 0);
    s2s_translation *a, *b;
    if (s2s_translate(t, (const char *const *)g_sent, g_n, &g, &a, &err) ||
        s2s_translate(t, (const char *const *)g_sent, g_n, &s, &b, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int bad = 0;
    for (int i = 0; i < g_n; i++)
        bad += strcmp(s2s_translation_text(a, i, 0), s2s_translation_text(b, i, 0)) != 0 ||
               !(s2s_translation_score(b, i, 0) <= 0.0);
    CHECK_MSG(bad == 0, "%d sentences differ between greedy and a beam of one", bad);
    s2s_translation_free(a); s2s_translation_free(b);
    s2s_translator_close(t);
    return 0;
}

/* ---- several threads on one handle ------------------------------------------------------ */

enum { N_OPTS = 5, N_THREADS = 4, ROUNDS = 3 };
typedef struct shared {
    s2s_translator *t;
    s2s_translate_options o[N_OPTS];
    s2s_translation *ref[N_OPTS];  /* one thread's results */
    int id, bad, errors;
    pthread_mutex_t mu;
} shared;

static void *hammer(void *p) {
    shared *sh = p;
    pthread_mutex_lock(&sh->mu);
    const int id = sh->id++;
    pthread_mutex_unlock(&sh->mu);
    int bad = 0, errors = 0;
    for (int r = 0; r < ROUNDS * N_OPTS; r++) {
        const int k = (r + id) % N_OPTS;
        s2s_translate_options o = sh->o[k];
        o.threads = (r + id) % 3 == 0 ? 3 : 1;  /* some calls run their batches on helpers too */
        s2s_err err;
        s2s_translation *res;
        if (s2s_translate(sh->t, (const char *const *)g_sent, g_n, &o, &res, &err)) { errors++; continue; }
        bad += differences(res, sh->ref[k]);
        s2s_translation_free(res);
    }
    pthread_mutex_lock(&sh->mu);
    sh->bad += bad; sh->errors += errors;
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

static void run_threads(const char *const *models, int nm, int max_ws) {
    shared sh = {0};
    pthread_mutex_init(&sh.mu, NULL);
    s2s_err err;
    s2s_translator_options to;
    s2s_translator_options_init(&to);
    to.max_workspaces = max_ws;
    if (s2s_translator_open_ensemble(models, nm, &to, &sh.t, &err)) { CHECK_MSG(0, "%s", err.msg); return; }
    sh.o[0] = opts(1, 1, 0, 16, 1);
    sh.o[1] = opts(3, 2, 1, 8, 1);
    sh.o[2] = opts(1, 1, 0, 5, 0);
    sh.o[3] = opts(2, 2, 1, 64, 0);
    sh.o[4] = opts(1, 1, 1, 3, 1);
    sh.o[4].max_len_ratio = 0.9f;
    for (int k = 0; k < N_OPTS; k++)
        if (s2s_translate(sh.t, (const char *const *)g_sent, g_n, &sh.o[k], &sh.ref[k], &err)) {
            CHECK_MSG(0, "%s", err.msg);
            return;
        }
    pthread_t th[N_THREADS];
    int started = 0;
    for (int i = 0; i < N_THREADS; i++) started += !pthread_create(&th[i], NULL, hammer, &sh);
    CHECK(started == N_THREADS);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    CHECK_MSG(sh.errors == 0, "%d calls failed", sh.errors);
    CHECK_MSG(sh.bad == 0, "%d differences from one thread's results", sh.bad);
    for (int k = 0; k < N_OPTS; k++) s2s_translation_free(sh.ref[k]);
    s2s_translator_close(sh.t);
    pthread_mutex_destroy(&sh.mu);
}

static int test_threads(void) {
    const char *m[1] = {g_attn};
    run_threads(m, 1, 0);
    return 0;
}

/* A SentencePiece model from four threads: the tokenizers are shared read-only too. Its
 * output is cased, detokenized text, and a blank line gives an empty translation. */
static int test_threads_spm(void) {
    const char *m[1] = {g_spm};
    run_threads(m, 1, 0);
    s2s_err err;
    s2s_translator *t;
    if (s2s_translator_open(g_spm, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    const char *in[3] = {"I'm home.", "", "  "};
    s2s_translation *r;
    if (s2s_translate(t, in, 3, NULL, &r, &err)) { CHECK_MSG(0, "%s", err.msg); s2s_translator_close(t); return 0; }
    CHECK_MSG(!strcmp(s2s_translation_text(r, 0, 0), "Je suis chez moi."), "%s", s2s_translation_text(r, 0, 0));
    CHECK(!strcmp(s2s_translation_text(r, 1, 0), "") && !strcmp(s2s_translation_text(r, 2, 0), ""));
    CHECK(!strcmp(s2s_translator_meta(t, "tokenizer"), "spm"));
    s2s_translation_free(r);
    s2s_translator_close(t);
    return 0;
}

/* One workspace for four threads: calls wait for it, none fails. */
static int test_threads_one_workspace(void) {
    const char *m[1] = {g_attn};
    run_threads(m, 1, 1);
    return 0;
}

/* An ensemble's handle from four threads (its workspaces are one per model). */
static int test_threads_ensemble(void) {
    const char *m[2] = {g_attn, g_attn2};
    run_threads(m, 2, 0);
    return 0;
}

/* ---- ensembles -------------------------------------------------------------------------------- */

/* An ensemble of g_attn and g_attn2 against a plain reference: greedy decoding of one sentence
 * at a time, each model encoding and stepping on its own workspace, the mean of the two
 * log-softmax rows ((a + b) * 0.5, as the search computes it) chosen by its first maximum,
 * the score the raw sum in double over the steps divided by steps^alpha (alpha 1). The handle's
 * beam of one (batch 1) must give the same text and score bit for bit. Then the identities:
 * an ensemble of a model with itself is that model (scores, texts and attention to the bit:
 * (x + x) * 0.5 = x), the order of two models does not matter ((a + b) = (b + a)), and the
 * ensemble of two different models is neither of them. */
static int test_ensemble(void) {
    s2s_err err;
    const char *pair[2] = {g_attn, g_attn2}, *swapped[2] = {g_attn2, g_attn}, *same[2] = {g_attn, g_attn};
    s2s_translator *e, *es, *e1, *one, *two;
    if (s2s_translator_open_ensemble(pair, 2, NULL, &e, &err) || s2s_translator_open_ensemble(swapped, 2, NULL, &es, &err) ||
        s2s_translator_open_ensemble(same, 2, NULL, &e1, &err) || s2s_translator_open(g_attn, NULL, &one, &err) ||
        s2s_translator_open(g_attn2, NULL, &two, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    s2s_model *m[2];
    s2s_vocab *sv[2], *tv[2];
    if (s2s_model_load(g_attn, &m[0], &sv[0], &tv[0], &err) || s2s_model_load(g_attn2, &m[1], &sv[1], &tv[1], &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    const int T = m[0]->cfg.num_steps, V = m[0]->cfg.tgt_vocab;
    s2s_ws *ws[2];
    for (int k = 0; k < 2; k++)
        if (s2s_ws_create(m[k], 1, T, &ws[k], &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_translate_options g = opts(1, 1, 1, 1, 0);
    s2s_translation *rg;
    if (s2s_translate(e, (const char *const *)g_sent, g_n, &g, &rg, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int bad = 0, nonempty = 0;
    float lp[2][V];
    for (int i = 0; i < g_n; i++) {
        int32_t ids[T], len = s2s_encode_sentence(sv[0], g_sent[i], T, ids, &err), tok = S2S_BOS;
        if (len < 0) { CHECK_MSG(0, "%s", err.msg); break; }
        for (int k = 0; k < 2; k++) s2s_encode(m[k], ws[k], 1, ids, &len);
        char text[512] = "";
        double sum = 0.0;
        int steps = 0;
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < 2; k++) s2s_decode_step(m[k], ws[k], 1, &tok, lp[k], NULL);
            int best = 0;
            for (int v = 0; v < V; v++) {
                lp[0][v] = (lp[0][v] + lp[1][v]) * 0.5f;
                if (lp[0][v] > lp[0][best]) best = v;
            }
            sum += (double)lp[0][best];
            steps++;
            if (best == S2S_EOS) break;
            if (t) strcat(text, " ");
            strcat(text, s2s_vocab_token(tv[0], best));
            tok = best;
        }
        nonempty += text[0] != 0;
        const double score = sum / (double)steps;
        bad += strcmp(s2s_translation_text(rg, i, 0), text) != 0 || s2s_translation_score(rg, i, 0) != score;
    }
    CHECK_MSG(bad == 0, "%d of %d sentences differ from the reference ensemble's greedy decoding", bad, g_n);
    CHECK_MSG(nonempty > g_n / 2, "only %d of %d translations are not empty", nonempty, g_n);
    s2s_translate_options b = opts(4, 3, 1, 8, 1);
    s2s_translation *rb, *rs, *r1, *ro, *rt;
    if (s2s_translate(e, (const char *const *)g_sent, g_n, &b, &rb, &err) ||
        s2s_translate(es, (const char *const *)g_sent, g_n, &b, &rs, &err) ||
        s2s_translate(e1, (const char *const *)g_sent, g_n, &b, &r1, &err) ||
        s2s_translate(one, (const char *const *)g_sent, g_n, &b, &ro, &err) ||
        s2s_translate(two, (const char *const *)g_sent, g_n, &b, &rt, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    CHECK(s2s_translator_has_attention(e) && s2s_translator_has_attention(one));
    CHECK_MSG(differences(r1, ro) == 0, "an ensemble of a model with itself is not the model");
    CHECK_MSG(differences(rb, rs) == 0, "the order of an ensemble's two models changes its results");
    int from_one = 0, from_two = 0;
    for (int i = 0; i < g_n; i++) {
        from_one += s2s_translation_score(rb, i, 0) != s2s_translation_score(ro, i, 0);
        from_two += s2s_translation_score(rb, i, 0) != s2s_translation_score(rt, i, 0);
    }
    CHECK_MSG(from_one > g_n / 2 && from_two > g_n / 2, "the ensemble's scores are its models' (%d and %d of %d differ)",
              from_one, from_two, g_n);
    s2s_translation_free(rg); s2s_translation_free(rb); s2s_translation_free(rs); s2s_translation_free(r1);
    s2s_translation_free(ro); s2s_translation_free(rt);
    for (int k = 0; k < 2; k++) { s2s_ws_free(ws[k]); s2s_model_free(m[k]); s2s_vocab_free(sv[k]); s2s_vocab_free(tv[k]); }
    s2s_translator_close(e); s2s_translator_close(es); s2s_translator_close(e1);
    s2s_translator_close(one); s2s_translator_close(two);
    return 0;
}

/* What an ensemble refuses: models of different tokenizers (named), none or too many, a NULL
 * path, attention weights when a member has none. Families may differ (attn with plain). */
static int test_ensemble_errors(void) {
    s2s_err err = {{0}};
    s2s_translator *t = (s2s_translator *)&err;
    const char *mixed[2] = {g_attn, g_spm}, *nul[2] = {g_attn, NULL}, *many[S2S_MAX_ENSEMBLE + 1];
    for (int i = 0; i <= S2S_MAX_ENSEMBLE; i++) many[i] = g_attn;
    CHECK(s2s_translator_open_ensemble(mixed, 2, NULL, &t, &err) == S2S_ERR && t == NULL);
    CHECK_MSG(strstr(err.msg, "differ in \"preprocess\"") && strstr(err.msg, g_spm), "message: %s", err.msg);
    CHECK(s2s_translator_open_ensemble(many, 0, NULL, &t, &err) == S2S_ERR_INPUT && t == NULL);
    CHECK(s2s_translator_open_ensemble(many, S2S_MAX_ENSEMBLE + 1, NULL, &t, &err) == S2S_ERR_INPUT && t == NULL);
    CHECK(s2s_translator_open_ensemble(nul, 2, NULL, &t, &err) == S2S_ERR_INPUT && t == NULL);
    CHECK(s2s_translator_open_ensemble(NULL, 2, NULL, &t, &err) == S2S_ERR_INPUT);
    const char *fam[2] = {g_attn, g_plain}, *in[2] = {"go .", "i lost ."};
    if (s2s_translator_open_ensemble(fam, 2, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(!s2s_translator_has_attention(t) && !s2s_translator_has_attention(NULL));
    s2s_translation *r = NULL;
    s2s_translate_options o = opts(3, 1, 0, 8, 0);
    CHECK_MSG(s2s_translate(t, in, 2, &o, &r, &err) == S2S_OK && s2s_translation_count(r) == 2, "%s", err.msg);
    s2s_translation_free(r);
    o.attention = 1;
    CHECK(s2s_translate(t, in, 2, &o, &r, &err) == S2S_ERR_INPUT);
    CHECK_MSG(strstr(err.msg, "in the ensemble") != NULL, "message: %s", err.msg);
    s2s_translator_close(t);
    return 0;
}

/* ---- errors and options -------------------------------------------------------------------- */

static int test_input_errors(void) {
    s2s_err err;
    s2s_translator *t, *p;
    if (s2s_translator_open(g_attn, NULL, &t, &err) || s2s_translator_open(g_plain, NULL, &p, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    s2s_translation *r = (s2s_translation *)&err;
    const char *ok[2] = {"go .", "run !"}, *bad_utf8[3] = {"go .", "va\xff !", "hi ."}, *null_one[2] = {"go .", NULL};
    struct { s2s_translate_options o; const char *want; } cases[] = {
        {opts(0, 1, 0, 8, 0), "beam 0"},
        {opts(2, 3, 0, 8, 0), "nbest 3"},
        {opts(1, 1, 0, 0, 0), "batch 0"},
        {opts(1000, 1, 0, 100000, 0), "too many"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        CHECK(s2s_translate(t, ok, 2, &cases[c].o, &r, &err) == S2S_ERR_INPUT && r == NULL);
        CHECK_MSG(strstr(err.msg, cases[c].want) != NULL, "message '%s' lacks '%s'", err.msg, cases[c].want);
    }
    CHECK(s2s_translate(t, bad_utf8, 3, NULL, &r, &err) == S2S_ERR_INPUT && r == NULL);
    CHECK_MSG(strstr(err.msg, "sentence 2") && strstr(err.msg, "UTF-8"), "message: %s", err.msg);
    CHECK(s2s_translate(t, null_one, 2, NULL, &r, &err) == S2S_ERR_INPUT);
    CHECK(s2s_translate(t, NULL, 2, NULL, &r, &err) == S2S_ERR_INPUT);
    CHECK(s2s_translate(t, ok, -1, NULL, &r, &err) == S2S_ERR_INPUT);
    CHECK(s2s_translate(NULL, ok, 2, NULL, &r, &err) == S2S_ERR_INPUT);
    s2s_translate_options a = opts(1, 1, 0, 8, 1);
    CHECK(s2s_translate(p, ok, 2, &a, &r, &err) == S2S_ERR_INPUT && r == NULL);
    CHECK_MSG(strstr(err.msg, "plain") != NULL, "message: %s", err.msg);
    a.attention = 0;
    CHECK(s2s_translate(p, ok, 2, &a, &r, &err) == S2S_OK && s2s_translation_count(r) == 2);
    CHECK(s2s_translation_attention(r, 0, NULL, NULL) == NULL);
    s2s_translation_free(r);
    /* nothing to do is not an error */
    CHECK(s2s_translate(t, NULL, 0, NULL, &r, &err) == S2S_OK && s2s_translation_count(r) == 0);
    s2s_translation_free(r);
    s2s_translator_close(t); s2s_translator_close(p);
    return 0;
}

/* A program built against a header with fewer fields passes a smaller size: the fields past
 * it keep their defaults whatever the bytes there hold. */
static int test_options_size(void) {
    s2s_err err;
    s2s_translator *t;
    if (s2s_translator_open(g_attn, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_translate_options o = opts(2, 2, 1, 8, 1);
    o.size = (int)offsetof(s2s_translate_options, attention);
    o.progress = (void (*)(void *, int, int))(uintptr_t)1;  /* past size: must not be called */
    s2s_translation *r;
    const char *s[1] = {"go ."};
    CHECK(s2s_translate(t, s, 1, &o, &r, &err) == S2S_OK);
    CHECK(s2s_translation_hyps(r, 0) == 2);                      /* before size: read */
    CHECK(s2s_translation_attention(r, 0, NULL, NULL) == NULL);  /* past it: the default */
    s2s_translation_free(r);
    s2s_translator_close(t);
    return 0;
}

typedef struct progress_log { int calls, last, total, bad; } progress_log;
static void on_progress(void *ctx, int done, int total) {
    progress_log *p = ctx;
    p->bad += done <= p->last || done > total;
    p->calls++; p->last = done; p->total = total;
}

static int test_progress_and_accessors(void) {
    s2s_err err;
    s2s_translator *t;
    if (s2s_translator_open(g_attn, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    progress_log pl = {0};
    s2s_translate_options o = opts(1, 1, 0, 10, 0);
    o.threads = 2;
    o.progress = on_progress; o.progress_ctx = &pl;
    s2s_translation *r;
    if (s2s_translate(t, (const char *const *)g_sent, g_n, &o, &r, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(pl.calls == (g_n + 9) / 10 && pl.last == g_n && pl.total == g_n && pl.bad == 0);
    CHECK(s2s_translation_text(r, -1, 0) == NULL && s2s_translation_text(r, g_n, 0) == NULL);
    CHECK(s2s_translation_text(r, 0, 1) == NULL && s2s_translation_hyps(r, g_n) == 0);
    CHECK(isnan(s2s_translation_score(r, 0, 5)));
    CHECK(s2s_translation_source_token(r, 0, 0) == NULL);  /* no attention asked */
    CHECK(!strcmp(s2s_translator_meta(t, "model"), "attn") && s2s_translator_meta(t, "no such key") == NULL);
    CHECK(!strcmp(s2s_translator_meta(t, "num_steps"), "8"));
    s2s_translation_free(r);
    s2s_translation_free(NULL);
    CHECK(s2s_translator_prepare(t, 100, &o, &err) == S2S_OK);
    s2s_translator_close(t);
    return 0;
}

static int test_bleu(void) {
    CHECK(s2s_bleu_sentence("je suis chez moi .", "je suis chez moi .", 2) == 1.0);
    CHECK(isnan(s2s_bleu_sentence(NULL, "a", 2)));
    const char *h[2] = {"the cat sat on the mat", "a b c d e"}, *r[2] = {"the cat sat on the mat", "a b c d e"};
    double score = 0;
    s2s_err err;
    CHECK(s2s_bleu_corpus_score(h, r, 2, &score, &err) == S2S_OK && fabs(score - 100.0) < 1e-9);
    CHECK(s2s_bleu_corpus_score(h, r, 0, &score, &err) != S2S_OK);
    return 0;
}

/* ---- training -------------------------------------------------------------------------------- */

static int same_file_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

typedef struct stopper { int calls, stop_at, bad, last_done, epoch; } stopper;
static int stop_cb(void *ctx, const s2s_train_progress *p) {
    stopper *s = ctx;
    s->calls++;
    s->bad += p->done <= s->last_done || p->total != 40 || p->epoch != s->epoch || !(p->loss > 0);
    s->last_done = p->done;
    return s->calls == s->stop_at;
}

/* An epoch stopped by the callback and continued gives the weights of one never stopped. */
static int test_training_stop_continue(void) {
    char a[160], b[160];
    snprintf(a, sizeof a, "%s/a.safetensors", g_dir);
    snprintf(b, sizeof b, "%s/b.safetensors", g_dir);
    s2s_err err;
    s2s_train_options o = tiny_options("attn");
    o.dropout = 0.2f;  /* the dropout stream must continue too */
    s2s_training *ta, *tb;
    if (s2s_training_open(&o, &ta, &err) || s2s_training_open(&o, &tb, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(s2s_training_pairs(ta) == 40 && s2s_training_vocab_size(ta, 0) > 4 && s2s_training_vocab_size(ta, 1) > 4);
    CHECK(s2s_training_vocab_size(ta, 2) == 0 && s2s_training_parameters(ta) > 1000);
    s2s_train_progress p;
    for (int e = 0; e < 3; e++) CHECK(s2s_training_epoch(ta, NULL, NULL, &p, &err) == S2S_OK);
    CHECK(s2s_training_epochs(ta) == 3 && p.epoch == 3);
    stopper st = {0, 2, 0, 0, 1};
    CHECK(s2s_training_epoch(tb, stop_cb, &st, &p, &err) == S2S_OK);  /* epoch 1: stopped after 2 batches */
    CHECK(p.epoch == 1 && p.done == 16 && p.total == 40 && s2s_training_epochs(tb) == 0);
    st.stop_at = 0;
    CHECK(s2s_training_epoch(tb, stop_cb, &st, &p, &err) == S2S_OK);  /* the rest of epoch 1 */
    CHECK(p.epoch == 1 && p.done == 40 && s2s_training_epochs(tb) == 1 && st.calls == 5);
    st.last_done = 0; st.epoch = 2;
    CHECK(s2s_training_epoch(tb, stop_cb, &st, &p, &err) == S2S_OK);
    CHECK(s2s_training_epoch(tb, NULL, NULL, &p, &err) == S2S_OK);
    CHECK(st.bad == 0 && st.calls == 10 && p.epoch == 3);
    CHECK(s2s_training_save(ta, a, &err) == S2S_OK && s2s_training_save(tb, b, &err) == S2S_OK);
    CHECK_MSG(same_file_bytes(a, b), "a stopped and continued epoch changed the weights");
    char nodir[200];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/m.safetensors", g_dir);
    CHECK(s2s_training_save(ta, nodir, &err) == S2S_ERR && strstr(err.msg, "no/such/dir"));
    s2s_training_close(ta); s2s_training_close(tb);
    unlink(a); unlink(b);
    return 0;
}

static int test_training_errors(void) {
    s2s_err err;
    s2s_training *t = (s2s_training *)&err;
    enum { N = 22 };
    struct { s2s_train_options o; int status; const char *want; } c[N];
    for (int i = 0; i < N; i++) { c[i].o = tiny_options("attn"); c[i].status = S2S_ERR_INPUT; }
    c[0].o.data = NULL; c[0].want = "either data";
    c[1].o.src = "tests/data/tiny.tsv"; c[1].want = "either data";
    c[2].o.model = "lstm"; c[2].want = "'lstm' is not attn or plain";
    c[3].o.data = "tests/no/such.tsv"; c[3].want = "tests/no/such.tsv";
    c[4].o.embed = 0; c[4].want = "embed 0";
    c[5].o.dropout = 1.0f; c[5].want = "dropout 1";
    c[6].o.hidden = 65536; c[6].o.embed = 65536; c[6].o.batch = 100000; c[6].o.num_steps = 4096; c[6].want = "GiB";
    c[7].o.size = 0; c[7].want = "_init";
    c[8].o.cell = "rnn"; c[8].want = "'rnn' is not gru or lstm";
    c[9].o.attention = "luong"; c[9].want = "'luong' is not bahdanau";
    c[10].o.model = "plain"; c[10].o.attention = "bahdanau"; c[10].want = "disagree";
    c[11].o.tie_embeddings = 1; c[11].want = "embed = hidden";  /* 16 and 24 */
    c[12].o.tokenizer = "bpe"; c[12].want = "tokenizer 'bpe' is not d2l or spm";
    c[13].o.spm_model = "tests/fixtures/spm_foreign.model"; c[13].want = "go with tokenizer \"spm\"";
    c[14].o.tokenizer = "spm"; c[14].o.spm_model = "tests/data/tiny.tsv"; c[14].want = "tiny.tsv: not a SentencePiece";
    c[15].o.tokenizer = "spm"; c[15].o.character_coverage = 0.5; c[15].want = "character_coverage 0.5";
    c[16].o.lr_schedule = "plateau"; c[16].want = "lr_schedule 'plateau' is not constant or inverse-sqrt";
    c[17].o.max_len = 12; c[17].want = "num_steps of at least max_len + 1";  /* num_steps 10 */
    c[18].o.batch_tokens = 5; c[18].want = "batch_tokens 5";
    c[19].o.lr_schedule = "inverse-sqrt"; c[19].want = "warmup 0";
    c[20].o.gemm = "fast"; c[20].want = "gemm 'fast' is not own, blas, bf16 or int8";
    c[21].o.lr_schedule = "linear"; c[21].want = "lr_schedule 'linear' is not constant or inverse-sqrt";
    for (int i = 0; i < N; i++) {
        CHECK_MSG(s2s_training_open(&c[i].o, &t, &err) == c[i].status && t == NULL, "case %d", i);
        CHECK_MSG(strstr(err.msg, c[i].want) != NULL, "case %d: message '%s' lacks '%s'", i, err.msg, c[i].want);
    }
    s2s_training_close(NULL);
    CHECK(s2s_training_epoch(NULL, NULL, NULL, NULL, &err) == S2S_ERR_INPUT);
    return 0;
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/s2s-api.XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    snprintf(g_attn, sizeof g_attn, "%s/attn.safetensors", g_dir);
    snprintf(g_attn2, sizeof g_attn2, "%s/attn2.safetensors", g_dir);
    snprintf(g_plain, sizeof g_plain, "%s/plain.safetensors", g_dir);
    snprintf(g_spm, sizeof g_spm, "%s/spm.safetensors", g_dir);
    make_sentences();
    th_cur_name = "train_models";
    /* and one with SentencePiece tokenizers trained on the raw corpus: raw text in, cased text out */
    s2s_train_options spm = tiny_options("attn");
    spm.tokenizer = "spm"; spm.vocab_size = 80; spm.num_steps = 12;
    s2s_train_options other = tiny_options("attn");  /* an ensemble's second member */
    other.seed = 6;
    if (!train_model(tiny_options("attn"), g_attn) || !train_model(tiny_options("plain"), g_plain) ||
        !train_model(spm, g_spm) || !train_model(other, g_attn2)) {
        printf("FAIL train_models\ncounts: 0 1 0\n");
        return 1;
    }
    RUN(test_version);
    RUN(test_open_errors);
    RUN(test_matches_decoders);
    RUN(test_gemm_per_handle);
    RUN(test_beam_one_is_greedy);
    RUN(test_threads);
    RUN(test_threads_one_workspace);
    RUN(test_threads_spm);
    RUN(test_threads_ensemble);
    RUN(test_ensemble);
    RUN(test_ensemble_errors);
    RUN(test_input_errors);
    RUN(test_options_size);
    RUN(test_progress_and_accessors);
    RUN(test_bleu);
    RUN(test_training_stop_continue);
    RUN(test_training_errors);
    unlink(g_attn); unlink(g_attn2); unlink(g_plain); unlink(g_spm); rmdir(g_dir);
    for (int i = 0; i < g_n; i++) free(g_sent[i]);
    TEST_END();
}
