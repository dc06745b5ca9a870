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

/* The files check_files reads: the models, then `more` (n_more entries). Dies on a bad file. */
static void check_model_files(const char *cmd, const io_file *outs, int n_out, const models *m, const io_file *more,
                              int n_more) {
    io_file ins[S2S_MAX_ENSEMBLE + 2];
    for (int i = 0; i < m->n; i++) ins[i] = (io_file){"--model", m->path[i], 0};
    for (int i = 0; i < n_more; i++) ins[m->n + i] = more[i];
    check_files(cmd, outs, n_out, ins, m->n + n_more);
}

static s2s_translator *open_translator(const models *m, int threads) {
    s2s_err err;
    s2s_translator_options o;
    s2s_translator_options_init(&o);
    o.threads = threads < 1 ? 1 : threads;
    o.gemm = g_gemm_name;
    s2s_translator *t;
    if (s2s_translator_open_ensemble(m->path, m->n, &o, &t, &err)) die("%s", err.msg);
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

/* Where input sentence i came from, for messages: "FILE: line N", or "argument N". */
static const char *input_name(const char *input, int from_lines, int i) {
    static char buf[4200];
    if (!from_lines) snprintf(buf, sizeof buf, "argument %d", i + 1);
    else snprintf(buf, sizeof buf, "%s: line %d", input ? input : "standard input", i + 1);
    return buf;
}

/* How a model's tokenizer reads pairs files: d2l's tokens, or raw sentences (any other kind). */
static s2s_text_mode text_mode(const s2s_translator *t) {
    const char *tk = s2s_translator_meta(t, "tokenizer");
    return tk && strcmp(tk, "d2l") ? S2S_TEXT_RAW : S2S_TEXT_D2L;
}

/* --with-ref: cuts `line` at its first TAB and returns the reference after it (a third column,
 * Tatoeba's attribution, is ignored), as eval's references are: preprocessed for d2l's
 * tokenizer, raw for the others (malloc'd). */
static char *split_reference(char *line, const char *where, s2s_text_mode mode) {
    char *tab = strchr(line, '\t');
    if (!tab) die("translate --with-ref: %s has no TAB between source and reference", where);
    *tab = 0;
    char *ref = tab + 1, *tab2 = strchr(ref, '\t'), *pre;
    if (tab2) *tab2 = 0;
    if (mode == S2S_TEXT_RAW) return str_cat(ref, "");
    size_t n;
    s2s_err err;
    if (s2s_preprocess(ref, strlen(ref), where, &pre, &n, &err)) die("translate --with-ref: %s", err.msg);
    return pre;
}

int cmd_translate(args *a) {
    models model = {{0}, 0};
    const char *input = NULL, *output = NULL;
    int with_ref = 0, threads = 1, nbest = 0;
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    char **sent = malloc(sizeof(char *) * (size_t)(a->argc + 1));
    int n = 0;
    const char *o;
    while (next_opt(a, &o)) {
        if (a->positional) sent[n++] = (char *)o;
        else if (!strcmp(o, "--model")) add_model(a, &model, o);
        else if (!strcmp(o, "--input")) input = val(a, o);
        else if (!strcmp(o, "--output")) output = val(a, o);
        else if (!strcmp(o, "--with-ref")) with_ref = 1;
        else if (!strcmp(o, "--max-len")) to.max_len = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = parse_threads(o, val(a, o));
        else if (!strcmp(o, "--batch")) to.batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--beam")) to.beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) to.alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--max-len-ratio")) to.max_len_ratio = (float)parse_num(o, val(a, o), 1e-3, 1000, 0);
        else if (!strcmp(o, "--nbest")) nbest = (int)parse_int(o, val(a, o), 1, 1000);
        else unknown_option(a, o);
    }
    if (!model.n) usage_error(a, "--model MODEL is required");
    if (nbest > to.beam) usage_error(a, "--nbest %d is more than the beam (--beam %d) can return", nbest, to.beam);
    if (nbest && with_ref) usage_error(a, "--nbest and --with-ref do not go together");
    if ((size_t)to.batch * to.beam > 1000000) usage_error(a, "--batch %d x --beam %d rows is too many", to.batch, to.beam);
    if (input && n) usage_error(a, "give sentences as arguments or --input FILE, not both");
    const io_file outs[] = {{"--output", output, OUT_TEXT}};
    const io_file ins[] = {{"--input", input, 0}};
    check_model_files("translate", outs, 1, &model, ins, 1);
    for (int i = 0; i < n; i++) check_utf8_arg(a, sent[i]);
    int owned = n == 0;  /* lines read from stdin or --input are ours to free */
    if (owned) {
        free(sent);
        FILE *in = input ? open_in(input) : stdin;
        sent = read_lines(in, input ? input : "standard input", &n);
        if (input) fclose(in);
    }
    s2s_translator *t = open_translator(&model, threads);
    char **refs = NULL;
    if (with_ref) {
        refs = calloc((size_t)n + 1, sizeof(char *));
        if (!refs) die("out of memory");
        for (int i = 0; i < n; i++) refs[i] = split_reference(sent[i], input_name(input, owned, i), text_mode(t));
    }
    to.nbest = nbest ? nbest : 1;
    to.scores = nbest > 0;  /* --nbest prints scores: beam 1 then runs as a beam search of one */
    s2s_translation *r = translate_all(t, sent, n, &to);
    cli_out co;
    output_open(&co, "--output", output);
    for (int i = 0; i < n; i++) {
        if (nbest) {
            for (int k = 0; k < s2s_translation_hyps(r, i); k++)
                fprintf(co.f, "%.4f\t%s\n", s2s_translation_score(r, i, k), s2s_translation_text(r, i, k));
        } else if (with_ref) {
            const char *h = s2s_translation_text(r, i, 0);
            fprintf(co.f, "%s => %s, bleu %.3f\n", sent[i], h, s2s_bleu_sentence(h, refs[i], 2));
        } else {
            fprintf(co.f, "%s\n", s2s_translation_text(r, i, 0));
        }
    }
    output_close(&co);
    s2s_translation_free(r);
    if (with_ref) for (int i = 0; i < n; i++) free(refs[i]);
    if (owned) for (int i = 0; i < n; i++) free(sent[i]);
    free(sent); free(refs);
    s2s_translator_close(t);
    return 0;
}

int cmd_attention(args *a) {
    models model = {{0}, 0};
    const char *png = NULL, *sentence = NULL;
    const char *o;
    while (next_opt(a, &o)) {
        if (a->positional) {
            if (sentence) usage_error(a, "give one sentence (quote it)");
            sentence = o;
        } else if (!strcmp(o, "--model")) add_model(a, &model, o);
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) png = val(a, o);
        else unknown_option(a, o);
    }
    if (!model.n || !png || !sentence) usage_error(a, "--model MODEL, a sentence and -o FILE.png|.svg are required");
    const io_file outs[] = {{"-o", png, OUT_PICTURE}};
    check_model_files("attention", outs, 1, &model, NULL, 0);
    check_utf8_arg(a, sentence);
    s2s_translator *t = open_translator(&model, 1);
    const char *kind = s2s_translator_meta(t, "model");
    if (kind && !strcmp(kind, "plain")) die("attention: %s is a plain model: it has no attention weights", model.path[0]);
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    to.attention = 1;
    s2s_translation *r = translate_all(t, (char **)&sentence, 1, &to);
    int rows, cols;
    const float *w = s2s_translation_attention(r, 0, &rows, &cols);
    /* key labels: the source's tokens (d2l: its preprocessed words; spm: its pieces) and <eos>;
     * query labels: the output tokens */
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
    models model = {{0}, 0};
    const char *data = NULL, *output = NULL, *hyps_path = NULL, *o;
    int from = 0, count = 1000, threads = 1;
    s2s_translate_options to;
    s2s_translate_options_init(&to);
    while (next_opt(a, &o)) {
        if (a->positional) usage_error(a, "unexpected argument '%s'", o);
        else if (!strcmp(o, "--model")) add_model(a, &model, o);
        else if (!strcmp(o, "--beam")) to.beam = (int)parse_int(o, val(a, o), 1, 1000);
        else if (!strcmp(o, "--alpha")) to.alpha = (float)parse_num(o, val(a, o), -10, 10, 0);
        else if (!strcmp(o, "--max-len")) to.max_len = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--max-len-ratio")) to.max_len_ratio = (float)parse_num(o, val(a, o), 1e-3, 1000, 0);
        else if (!strcmp(o, "--data") || !strcmp(o, "--input")) data = val(a, o);
        else if (!strcmp(o, "--output")) output = val(a, o);
        else if (!strcmp(o, "--hyps")) hyps_path = val(a, o);
        else if (!strcmp(o, "--from")) from = (int)parse_int(o, val(a, o), 0, 1000000000);
        else if (!strcmp(o, "--count")) count = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--batch")) to.batch = (int)parse_int(o, val(a, o), 1, 100000);
        else if (!strcmp(o, "--threads")) threads = parse_threads(o, val(a, o));
        else unknown_option(a, o);
    }
    if (!model.n || !data) usage_error(a, "--model MODEL and --data PAIRS.tsv are required");
    if ((size_t)to.batch * to.beam > 1000000) usage_error(a, "--batch %d x --beam %d rows is too many", to.batch, to.beam);
    const io_file outs[] = {{"--output", output, OUT_TEXT}, {"--hyps", hyps_path, OUT_TEXT}};
    const io_file ins[] = {{"--data", data, 0}};
    check_model_files("eval", outs, 2, &model, ins, 1);
    s2s_translator *t = open_translator(&model, threads);
    s2s_err err;
    s2s_pairs p;  /* as the model's tokenizer reads text: d2l's tokens, or raw sentences */
    if (s2s_pairs_read_as(data, from + count, text_mode(t), &p, &err)) die("%s", err.msg);
    if (from >= p.n) die("eval: --from %d is past the %d pairs of %s", from, p.n, data);
    int n = p.n - from < count ? p.n - from : count;
    char **src = calloc((size_t)n, sizeof(char *)), **ref = calloc((size_t)n, sizeof(char *));
    const char **hyp = calloc((size_t)n, sizeof(char *));
    if (!src || !ref || !hyp) die("out of memory");
    for (int i = 0; i < n; i++) {  /* the sentences from their tokens (d2l: preprocessed; raw: one) */
        src[i] = pair_text(&p, from + i, 0);
        ref[i] = pair_reference(&p, from + i, data, "eval");
    }
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
    cli_out co, ch;
    if (hyps_path) {
        output_open(&ch, "--hyps", hyps_path);
        for (int i = 0; i < n; i++) fprintf(ch.f, "%s\n", hyp[i]);
        output_close(&ch);
    }
    output_open(&co, "--output", output);
    fprintf(co.f, "pairs %d..%d of %s (%d sentences)\n", from, from + n - 1, data, n);
    char how[64];
    if (to.beam == 1) snprintf(how, sizeof how, "greedy");
    else snprintf(how, sizeof how, "beam %d, alpha %g", to.beam, (double)to.alpha);
    fprintf(co.f, "corpus BLEU %.2f (%s)\nmean sentence BLEU (d2l, k=2) %.4f\n%.1f sentences/sec (%s, batch %d, %d thread%s)\n",
            b.score, sig, sb / n, n / secs, how, to.batch, threads, threads == 1 ? "" : "s");
    output_close(&co);
    for (int i = 0; i < n; i++) { free(src[i]); free(ref[i]); }
    free(src); free(ref); free(hyp);
    s2s_translation_free(r);
    s2s_pairs_free(&p);
    s2s_translator_close(t);
    return 0;
}
