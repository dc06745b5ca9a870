/* seq2seq translate, attention and eval: batched greedy or beam-search translation, the
 * attention heatmap of one sentence, and held-out scoring. */
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
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_plot.h"
#include "s2s_safetensors.h"
#include "s2s_text.h"
#include "s2s_train.h"

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
    if (t->threads > 1) {  /* start the thread pool, and BLAS's buffers in each thread, now */
#pragma omp parallel num_threads(t->threads)
        {
            float a[64] = {0}, c[64];
            s2s_gemm(0, 1, 8, 8, 8, 1.0f, a, 8, a, 8, 0.0f, c, 8);
            s2s_gemm(0, 1, 1, 8, 8, 1.0f, a, 8, a, 8, 0.0f, c, 8);
        }
    }
}

static void translator_close(translator *t) {
    for (int i = 0; i < t->threads; i++) s2s_ws_free(t->ws[i]);
    s2s_model_free(t->m); s2s_vocab_free(t->sv); s2s_vocab_free(t->tv);
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

int cmd_translate(args *a) {
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

int cmd_attention(args *a) {
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
    if (same_file(png, model)) die("attention: -o %s is the model file: it would be overwritten", png);
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

int cmd_eval(args *a) {
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

