/* seq2seq info and bleu. */
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
#include "s2s_tok.h"
#include "s2s_train.h"

/* ---- info, bleu ------------------------------------------------------------------------- */

int cmd_info(args *a) {
    const char *path = NULL, *o;
    while (next_opt(a, &o)) {
        if (!a->positional) unknown_option(a, o);
        if (path) usage_error(a, "give one model file (got '%s' and '%s')", path, o);
        path = o;
    }
    if (!path) usage_error(a, "give a model file");
    s2s_model *m; s2s_tok *st, *tt; s2s_err err;
    if (s2s_model_load_tok(path, &m, &st, &tt, &err)) die("%s", err.msg);
    struct stat sb;
    stat(path, &sb);
    const s2s_config *c = &m->cfg;
    printf("model       %s (%s decoder)\n", s2s_model_kind_name(c->attention), s2s_attention_title(c->attention));
    printf("cell        %s\nencoder     %s\nattention   %s\ninput_feed  %d\ntie_embeddings %d\n", s2s_cell_name(c->cell),
           s2s_encoder_name(c->encoder), s2s_attention_name(c->attention), c->input_feed, c->tie_embeddings);
    printf("embed       %d\nhidden      %d\nlayers      %d\ndropout     %g\nnum_steps   %d\n", m->cfg.embed,
           m->cfg.hidden, m->cfg.layers, (double)m->cfg.dropout, m->cfg.num_steps);
    printf("src_vocab   %d\ntgt_vocab   %d\nparameters  %zu\nfile_size   %lld bytes\n", m->cfg.src_vocab,
           m->cfg.tgt_vocab, m->n_params, (long long)sb.st_size);
    if (!strcmp(s2s_tok_name(st), "spm"))
        printf("tokenizer   spm (SentencePiece models of %d/%d pieces in the file)\n", s2s_tok_size(st),
               s2s_tok_size(tt));
    else
        printf("tokenizer   d2l (preprocess_nmt, words)\n");
    s2s_model_free(m); s2s_tok_free(st); s2s_tok_free(tt);
    return 0;
}

/* seq2seq tokenize: what the model sees of each sentence, as tokens (or ids). */
int cmd_tokenize(args *a) {
    const char *path = NULL, *o;
    int target = 0, ids = 0, n = 0;
    char **sent = malloc(sizeof(char *) * (size_t)(a->argc + 1));
    if (!sent) die("out of memory");
    while (next_opt(a, &o)) {
        if (a->positional) sent[n++] = (char *)o;
        else if (!strcmp(o, "--model")) path = val(a, o);
        else if (!strcmp(o, "--target")) target = 1;
        else if (!strcmp(o, "--ids")) ids = 1;
        else unknown_option(a, o);
    }
    if (!path) usage_error(a, "--model MODEL is required");
    for (int i = 0; i < n; i++) check_utf8_arg(a, sent[i]);
    s2s_model *m; s2s_tok *st, *tt; s2s_err err;
    if (s2s_model_load_tok(path, &m, &st, &tt, &err)) die("%s", err.msg);
    const s2s_tok *t = target ? tt : st;
    int owned = n == 0;
    if (owned) { free(sent); sent = read_lines(stdin, "standard input", &n); }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(sent[i]);
        char **pieces;
        int np;
        if (s2s_tok_pieces(t, sent[i], len, &pieces, &np, &err)) die("sentence %d: %s", i + 1, err.msg);
        int32_t *id = malloc(sizeof(int32_t) * ((size_t)np + 1));
        if (!id) die("out of memory");
        int got = ids ? s2s_tok_encode(t, sent[i], len, id, np, &err) : np;
        if (got < 0) die("sentence %d: %s", i + 1, err.msg);
        if (got != np) die("sentence %d: %d ids for %d tokens", i + 1, got, np);
        for (int k = 0; k < np; k++) {
            if (ids) printf(k ? " %d" : "%d", id[k]);
            else printf(k ? " %s" : "%s", pieces[k]);
        }
        putchar('\n');
        free(id); free(pieces);
    }
    if (owned) free_lines(sent, n);
    else free(sent);
    s2s_model_free(m); s2s_tok_free(st); s2s_tok_free(tt);
    return 0;
}

int cmd_bleu(args *a) {
    const char *ref = NULL, *hyp = NULL, *o;
    int d2l_k = 0;
    s2s_bleu_tok tok = S2S_TOK_13A;
    while (next_opt(a, &o)) {
        if (a->positional) {
            if (hyp) usage_error(a, "give one hypothesis file (got '%s' and '%s')", hyp, o);
            hyp = o;
        } else if (!strcmp(o, "--ref")) ref = val(a, o);
        else if (!strcmp(o, "--tokenize")) {
            const char *v = val(a, o);
            if (!strcmp(v, "13a")) tok = S2S_TOK_13A;
            else if (!strcmp(v, "none")) tok = S2S_TOK_NONE;
            else die_usage("--tokenize: '%s' is not 13a or none", v);
        } else if (!strcmp(o, "--d2l")) d2l_k = (int)parse_int(o, val(a, o), 1, 100);
        else unknown_option(a, o);
    }
    if (!ref) usage_error(a, "--ref REF.txt is required");
    if (hyp && !strcmp(hyp, "-")) hyp = NULL;
    int nr, nh;
    FILE *rf = open_in(ref);
    char **refs = read_lines(rf, ref, &nr);
    fclose(rf);
    FILE *hf = hyp ? open_in(hyp) : stdin;
    char **hyps = read_lines(hf, hyp ? hyp : "standard input", &nh);
    if (hyp) fclose(hf);
    if (nr != nh) die("bleu: %s has %d lines but the hypotheses have %d", ref, nr, nh);
    if (d2l_k) {
        double s = 0;
        for (int i = 0; i < nh; i++) s += s2s_bleu_d2l(hyps[i], refs[i], d2l_k);
        printf("d2l bleu (k=%d, mean over %d sentences) = %.4f\n", d2l_k, nh, nh ? s / nh : 0.0);
    } else {
        for (int i = 0; i < nr; i++)  /* named here: the library knows no file */
            if (!refs[i][0]) die("bleu: %s: line %d is empty: sacreBLEU refuses empty references (drop that line)", ref, i + 1);
        s2s_corpus_bleu b;
        char sig[256];
        s2s_err err;
        if (s2s_bleu_corpus((const char *const *)hyps, (const char *const *)refs, nh, tok, &b, sig, sizeof sig, &err))
            die("%s", err.msg);
        printf("BLEU|%s = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %ld ref_len = %ld)\n", sig, b.score,
               b.precisions[0], b.precisions[1], b.precisions[2], b.precisions[3], b.bp,
               b.ref_len ? (double)b.sys_len / b.ref_len : 0.0, b.sys_len, b.ref_len);
    }
    free_lines(refs, nr);
    free_lines(hyps, nh);
    return 0;
}
