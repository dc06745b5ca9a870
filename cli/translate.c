/* seq2seq translate, attention and eval: batched greedy or beam-search translation, the
 * attention heatmap of one sentence, and held-out scoring, all through the public translator
 * handle (seq2seq.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "seq2seq.h"
#include "s2s_bleu.h"
#include "s2s_plot.h"
#include "s2s_text.h"

/* ---- translation: through the public translator handle (seq2seq.h), as any program would -- */

static s2s_translator *open_translator(const char *path, int threads) {
    s2s_err err;
    s2s_translator_options o;
    s2s_translator_options_init(&o);
    o.threads = threads < 1 ? 1 : threads;
    s2s_translator *t;
    if (s2s_translator_open(path, &o, &t, &err)) die("%s", err.msg);
    return t;
}

static void show_progress(void *ctx, int done, int total) {
    (void)ctx;
    fprintf(stderr, "\rtranslated %d/%d", done, total);
}

/* Translates n sentences (batches of similar length, greedy or beam search as o says); dies
 * with the library's message. A progress line goes to a terminal's stderr. */
static s2s_translation *translate_all(s2s_translator *t, char **src, int n, s2s_translate_options *o) {
    s2s_err err;
    s2s_translation *r;
    const int progress = n > 100 && isatty(STDERR_FILENO);
    if (progress) o->progress = show_progress;
    if (s2s_translate(t, (const char *const *)src, n, o, &r, &err)) die("%s", err.msg);
    if (progress) fputc('\n', stderr);
    return r;
}

int cmd_translate(args *a) {
    const char *model = NULL;
    int with_ref = 0, threads = 1, nbest = 0;
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    char **sent = malloc(sizeof(char *) * (size_t)(a->argc + 1));
    int n = 0;
    const char *o;
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--model")) model = val(a, o);
        else if (!strcmp(o, "--with-ref")) with_ref = 1;
        else if (!strcmp(o, "--max-len")) to.max_len = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = (int)parse_int(o, val(a, o), 1, 1024);
        else if (!strcmp(o, "--batch")) to.batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--beam")) to.beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) to.alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--max-len-ratio")) to.max_len_ratio = (float)parse_num(o, val(a, o), 1e-3, 1000, 0);
        else if (!strcmp(o, "--nbest")) nbest = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strncmp(o, "--", 2) && o[2]) die("translate: unknown option '%s'", o);
        else sent[n++] = (char *)o;
    }
    if (!model) die("translate: --model MODEL is required");
    if (nbest > to.beam) die("translate: --nbest %d is more than the beam (--beam %d) can return", nbest, to.beam);
    if (nbest && with_ref) die("translate: --nbest and --with-ref do not go together");
    if ((size_t)to.batch * to.beam > 1000000) die("translate: --batch %d x --beam %d rows is too many", to.batch, to.beam);
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
    s2s_translator *t = open_translator(model, threads);
    to.nbest = nbest ? nbest : 1;
    to.scores = nbest > 0;  /* --nbest prints scores: beam 1 then runs as a beam search of one */
    s2s_translation *r = translate_all(t, sent, n, &to);
    for (int i = 0; i < n; i++) {
        if (nbest) {
            for (int k = 0; k < s2s_translation_hyps(r, i); k++)
                printf("%.4f\t%s\n", s2s_translation_score(r, i, k), s2s_translation_text(r, i, k));
        } else if (with_ref) {
            const char *h = s2s_translation_text(r, i, 0);
            printf("%s => %s, bleu %.3f\n", sent[i], h, s2s_bleu_sentence(h, refs[i], 2));
        } else {
            printf("%s\n", s2s_translation_text(r, i, 0));
        }
    }
    s2s_translation_free(r);
    if (owned) for (int i = 0; i < n; i++) free(sent[i]);
    free(sent); free(refs);
    s2s_translator_close(t);
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
    s2s_translator *t = open_translator(model, 1);
    const char *kind = s2s_translator_meta(t, "model");
    if (kind && !strcmp(kind, "plain")) die("attention: %s is a plain model: it has no attention weights", model);
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    to.attention = 1;
    s2s_translation *r = translate_all(t, (char **)&sentence, 1, &to);
    int rows, cols;
    const float *w = s2s_translation_attention(r, 0, &rows, &cols);
    /* key labels: the source tokens (after preprocessing) and <eos>; query labels: the output */
    const char **rl = malloc(sizeof(char *) * (size_t)(rows + 1)), **cl = malloc(sizeof(char *) * (size_t)(cols + 1));
    if (!rl || !cl) die("out of memory");
    for (int i = 0; i < rows; i++) rl[i] = s2s_translation_target_token(r, 0, i);
    for (int j = 0; j < cols; j++) cl[j] = s2s_translation_source_token(r, 0, j);
    s2s_err err;
    if (s2s_plot_heatmap(png, w, rows, cols, rl, cl, sentence, &err)) die("%s", err.msg);
    printf("%s\n", png);
    free(rl); free(cl);
    s2s_translation_free(r);
    s2s_translator_close(t);
    return 0;
}

int cmd_eval(args *a) {
    const char *model = NULL, *data = NULL, *o;
    int from = 0, count = 1000, threads = 1;
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    while (next_opt(a, &o)) {
        if (!strcmp(o, "--model")) model = val(a, o);
        else if (!strcmp(o, "--beam")) to.beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) to.alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--data")) data = val(a, o);
        else if (!strcmp(o, "--from")) from = (int)parse_int(o, val(a, o), 0, 1000000000);
        else if (!strcmp(o, "--count")) count = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--batch")) to.batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = (int)parse_int(o, val(a, o), 1, 1024);
        else die("eval: unknown option '%s'", o);
    }
    if (!model || !data) die("eval: usage: seq2seq eval --model MODEL --data PAIRS.tsv [--from I] [--count N]");
    s2s_err err;
    s2s_pairs p;
    if (s2s_pairs_read(data, from + count, &p, &err)) die("%s", err.msg);
    if (from >= p.n) die("eval: --from %d is past the %d pairs of %s", from, p.n, data);
    int n = p.n - from < count ? p.n - from : count;
    char **src = calloc((size_t)n, sizeof(char *)), **ref = calloc((size_t)n, sizeof(char *));
    const char **hyp = calloc((size_t)n, sizeof(char *));
    if (!src || !ref || !hyp) die("out of memory");
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
    if ((size_t)to.batch * to.beam > 1000000) die("eval: --batch %d x --beam %d rows is too many", to.batch, to.beam);
    s2s_translator *t = open_translator(model, threads);
    if (s2s_translator_prepare(t, n, &to, &err)) die("%s", err.msg);  /* workspaces before the clock */
    double t0 = now_s();
    s2s_translation *r = translate_all(t, src, n, &to);
    double secs = now_s() - t0, sb = 0;
    for (int i = 0; i < n; i++) {
        hyp[i] = s2s_translation_text(r, i, 0);
        sb += s2s_bleu_sentence(hyp[i], ref[i], 2);
    }
    s2s_corpus_bleu b;
    char sig[256];
    if (s2s_bleu_corpus(hyp, (const char *const *)ref, n, S2S_TOK_13A, &b, sig, sizeof sig, &err)) die("%s", err.msg);
    printf("pairs %d..%d of %s (%d sentences)\n", from, from + n - 1, data, n);
    char how[64];
    if (to.beam == 1) snprintf(how, sizeof how, "greedy");
    else snprintf(how, sizeof how, "beam %d, alpha %g", to.beam, (double)to.alpha);
    const int used = threads < 64 ? threads : 64;
    printf("corpus BLEU %.2f (%s)\nmean sentence BLEU (d2l, k=2) %.4f\n%.1f sentences/sec (%s, batch %d, %d thread%s)\n",
           b.score, sig, sb / n, n / secs, how, to.batch, used, used == 1 ? "" : "s");
    for (int i = 0; i < n; i++) { free(src[i]); free(ref[i]); }
    free(src); free(ref); free(hyp);
    s2s_translation_free(r);
    s2s_pairs_free(&p);
    s2s_translator_close(t);
    return 0;
}
