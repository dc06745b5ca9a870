/* Tests for the text pipeline (s2s_text.h) against values written by d2l's own functions
 * (tools/text_ref.py -> tests/fixtures/), plus the edge cases d2l never meets: CRLF, BOM,
 * 3 columns, invalid UTF-8, NUL, empty and missing files. Run from the repository root. */
#include "harness.h"
#include "s2s_text.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define FRA "../shared/data/fra-eng/fra.txt"

/* ---------------------------------------------------------------- helpers */

typedef struct { char **line; int n; char *buf; } lines_t;

/* Reads a fixture file as lines (no trailing empty line). Returns 0 on success. */
static int read_lines(const char *path, lines_t *l) {
    size_t len;
    s2s_err err;
    memset(l, 0, sizeof *l);
    if (s2s_read_file(path, &l->buf, &len, &err)) { fprintf(stderr, "  %s\n", err.msg); return 1; }
    int cap = 64;
    l->line = malloc(sizeof(char *) * cap);
    for (char *p = l->buf, *end = l->buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = 0;
        if (l->n == cap) { cap *= 2; l->line = realloc(l->line, sizeof(char *) * cap); }
        l->line[l->n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}
static void free_lines(lines_t *l) { free(l->line); free(l->buf); }

/* Writes bytes to a new file under /tmp; path receives its name. */
static void write_tmp(const char *data, size_t len, char path[64]) {
    strcpy(path, "/tmp/s2s_test_text_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); exit(2); }
    if (len && write(fd, data, len) != (ssize_t)len) { perror("write"); exit(2); }
    close(fd);
}
#define WRITE_TMP(lit, path) write_tmp((lit), sizeof(lit) - 1, (path))

static size_t unhex(const char *h, char *out) {
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (char)v;
    }
    out[n] = 0;
    return n;
}

static int vocab_matches(const s2s_vocab *v, const char *fixture) {
    lines_t l;
    if (read_lines(fixture, &l)) return 0;
    int ok = 1;
    if (s2s_vocab_size(v) != l.n) {
        fprintf(stderr, "  %s: vocab size %d, want %d\n", fixture, s2s_vocab_size(v), l.n);
        ok = 0;
    }
    for (int i = 0; i < l.n && i < s2s_vocab_size(v); i++) {
        if (strcmp(s2s_vocab_token(v, i), l.line[i]) != 0 || s2s_vocab_id(v, l.line[i]) != i) {
            fprintf(stderr, "  %s: id %d is \"%s\", want \"%s\"\n", fixture, i, s2s_vocab_token(v, i), l.line[i]);
            ok = 0;
            break;
        }
    }
    free_lines(&l);
    return ok;
}

static int build_vocabs(const s2s_pairs *p, int min_freq, s2s_vocab **sv, s2s_vocab **tv) {
    s2s_err err;
    *sv = *tv = NULL;
    if (s2s_vocab_build(p->src_tok, p->src_start[p->n], min_freq, sv, &err) ||
        s2s_vocab_build(p->tgt_tok, p->tgt_start[p->n], min_freq, tv, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        s2s_vocab_free(*sv);
        return 1;
    }
    return 0;
}

static int ntok(const s2s_pairs *p, int i, int tgt) {
    return tgt ? p->tgt_start[i + 1] - p->tgt_start[i] : p->src_start[i + 1] - p->src_start[i];
}
static const char *tok(const s2s_pairs *p, int i, int tgt, int k) {
    return tgt ? p->tgt_tok[p->tgt_start[i] + k] : p->src_tok[p->src_start[i] + k];
}

/* Checks that reading `data` fails with a message containing each of the given strings. */
static int read_fails_with(const char *data, size_t len, const char *want1, const char *want2) {
    char path[64];
    write_tmp(data, len, path);
    s2s_pairs p;
    s2s_err err = {{0}};
    int rc = s2s_pairs_read(path, 0, &p, &err);
    unlink(path);
    if (rc != S2S_ERR) { fprintf(stderr, "  read succeeded, expected an error\n"); s2s_pairs_free(&p); return 0; }
    if (!strstr(err.msg, path) || (want1 && !strstr(err.msg, want1)) || (want2 && !strstr(err.msg, want2))) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\" / \"%s\" / the path\n", err.msg, want1 ? want1 : "",
                want2 ? want2 : "");
        return 0;
    }
    return 1;
}
#define READ_FAILS_WITH(lit, w1, w2) read_fails_with((lit), sizeof(lit) - 1, (w1), (w2))

/* ---------------------------------------------------------------- tests */

/* s2s_preprocess against Python's preprocess_nmt on hand-picked Unicode cases. */
static int test_preprocess_matches_python(void) {
    lines_t l;
    if (read_lines("tests/fixtures/preprocess_cases.txt", &l)) { CHECK(0); return 0; }
    CHECK(l.n >= 20);
    for (int i = 0; i < l.n; i++) {
        char in[512], want[512];
        char *sp = strchr(l.line[i], ' ');
        CHECK(sp != NULL);
        if (!sp) continue;
        *sp = 0;
        size_t n = unhex(l.line[i], in);
        unhex(sp + 1, want);
        char *out = NULL;
        size_t out_len = 0;
        s2s_err err;
        int rc = s2s_preprocess(in, n, NULL, &out, &out_len, &err);
        CHECK_MSG(rc == S2S_OK, "case %d: %s", i, err.msg);
        CHECK_MSG(rc == S2S_OK && strcmp(out, want) == 0 && out_len == strlen(want),
                  "case %d: \"%s\" -> \"%s\", want \"%s\"", i, in, out ? out : "", want);
        free(out);
    }
    free_lines(&l);
    return 0;
}

static int pp_equals(const char *in, const char *want) {
    char *out;
    s2s_err err;
    if (s2s_preprocess(in, strlen(in), NULL, &out, NULL, &err)) { fprintf(stderr, "  %s\n", err.msg); return 0; }
    int ok = strcmp(out, want) == 0;
    if (!ok) fprintf(stderr, "  \"%s\" -> \"%s\", want \"%s\"\n", in, out, want);
    free(out);
    return ok;
}

static int test_preprocess_basics(void) {
    CHECK(pp_equals("\xc3\x89" "COLE \xc3\x87" "A", "\xc3\xa9" "cole \xc3\xa7" "a"));   /* ÉCOLE ÇA */
    CHECK(pp_equals("a\xc2\xa0" "b\xe2\x80\xaf!", "a b !"));                            /* U+00A0, U+202F */
    CHECK(pp_equals("Go.\tVa !", "go .\tva !"));
    CHECK(pp_equals("i'm home .", "i'm home ."));                                       /* idempotent */
    CHECK(pp_equals("go .\tva !\nhi .\tsalut !", "go .\tva !\nhi .\tsalut !"));
    CHECK(pp_equals("\t!", "\t !"));        /* previous char a tab: d2l inserts the space */
    CHECK(pp_equals("!", "!"));             /* i == 0: no space */
    CHECK(pp_equals("", ""));
    return 0;
}

/* Invalid UTF-8 of each kind is an error naming the 1-based line. */
static int test_preprocess_invalid_utf8(void) {
    static const char *bad[] = {
        "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", /* overlong */
        "\xed\xa0\x80", "\xed\xbf\xbf",            /* surrogates */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",    /* > U+10FFFF */
        "\x80", "\xbf", "\xc3", "\xe2\x82", "\xe2\x82(", "\xff",   /* stray, truncated, junk */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char in[64];
        int n = snprintf(in, sizeof in, "a\tb\nc\td\nok %s x\n", bad[k]);
        char *out = NULL;
        s2s_err err = {{0}};
        int rc = s2s_preprocess(in, (size_t)n, "F.tsv", &out, NULL, &err);
        CHECK_MSG(rc == S2S_ERR, "case %zu accepted", k);
        CHECK_MSG(strstr(err.msg, "F.tsv: line 3:") && strstr(err.msg, "UTF-8"), "case %zu: %s", k, err.msg);
        free(out);
    }
    /* the largest valid code points of each length are accepted */
    CHECK(pp_equals("\x7f\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80",
                    "\x7f\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80"));
    char *out = NULL;
    s2s_err err = {{0}};
    CHECK(s2s_preprocess("a\nb\0c", 5, NULL, &out, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "line 2") && strstr(err.msg, "NUL"), "%s", err.msg);
    return 0;
}

static int test_tiny_tokens(void) {
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(p.n == 40);
    CHECK(p.lines_read == 40);
    CHECK(p.skipped == 0);
    /* line 3 is "Run!\tCours\u202f!": the narrow no-break space becomes the separator */
    CHECK(ntok(&p, 2, 0) == 2 && strcmp(tok(&p, 2, 0, 0), "run") == 0 && strcmp(tok(&p, 2, 0, 1), "!") == 0);
    CHECK(ntok(&p, 2, 1) == 2 && strcmp(tok(&p, 2, 1, 0), "cours") == 0 && strcmp(tok(&p, 2, 1, 1), "!") == 0);
    CHECK(ntok(&p, 5, 1) == 3 && strcmp(tok(&p, 5, 1, 0), "\xc3\xa7" "a") == 0);   /* Ça -> ça */
    CHECK(ntok(&p, 23, 0) == 3 && strcmp(tok(&p, 23, 0, 0), "i'm") == 0 && strcmp(tok(&p, 23, 0, 2), ".") == 0);

    lines_t l;
    if (read_lines("tests/fixtures/tiny_tokens.txt", &l)) { CHECK(0); s2s_pairs_free(&p); return 0; }
    int at = 0, pairs = -1;
    CHECK(sscanf(l.line[at++], "# pairs %d", &pairs) == 1 && pairs == p.n);
    for (int i = 0; i < p.n && at < l.n; i++) {
        for (int side = 0; side < 2; side++) {
            int cnt = -1;
            char tag = 0;
            CHECK(sscanf(l.line[at++], "%c %d", &tag, &cnt) == 2 && tag == (side ? 'T' : 'S'));
            CHECK_MSG(cnt == ntok(&p, i, side), "pair %d side %d: %d tokens, want %d", i, side, ntok(&p, i, side), cnt);
            for (int k = 0; k < cnt && at < l.n; k++, at++)
                if (k < ntok(&p, i, side))
                    CHECK_MSG(strcmp(tok(&p, i, side, k), l.line[at]) == 0, "pair %d side %d token %d: \"%s\" want \"%s\"",
                              i, side, k, tok(&p, i, side, k), l.line[at]);
        }
    }
    CHECK(at == l.n);
    free_lines(&l);
    s2s_pairs_free(&p);
    return 0;
}

static int test_tiny_vocab_and_arrays(void) {
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_vocab *sv, *tv;
    if (build_vocabs(&p, 2, &sv, &tv)) { CHECK(0); s2s_pairs_free(&p); return 0; }
    CHECK(vocab_matches(sv, "tests/fixtures/tiny_vocab_src.txt"));
    CHECK(vocab_matches(tv, "tests/fixtures/tiny_vocab_tgt.txt"));
    CHECK(s2s_vocab_id(sv, "no-such-token") == S2S_UNK);
    CHECK(s2s_vocab_id(sv, "<eos>") == S2S_EOS && s2s_vocab_id(sv, "<pad>") == S2S_PAD);
    CHECK(strcmp(s2s_vocab_token(sv, -1), "<unk>") == 0 && strcmp(s2s_vocab_token(sv, 1000), "<unk>") == 0);

    s2s_dataset d;
    if (s2s_dataset_build(&p, sv, tv, 10, &d, &err)) { CHECK_MSG(0, "%s", err.msg); goto out; }
    CHECK(d.n == 40 && d.T == 10);
    const char *fix[2] = {"tests/fixtures/tiny_array_src_T10.txt", "tests/fixtures/tiny_array_tgt_T10.txt"};
    for (int side = 0; side < 2; side++) {
        lines_t l;
        if (read_lines(fix[side], &l)) { CHECK(0); continue; }
        CHECK(l.n == d.n);
        int32_t *arr = side ? d.tgt : d.src, *len = side ? d.tgt_len : d.src_len;
        for (int i = 0; i < l.n && i < d.n; i++) {
            char *s = l.line[i];
            int v = (int)strtol(s, &s, 10);
            CHECK_MSG(len[i] == v, "%s row %d: valid %d, want %d", fix[side], i, len[i], v);
            for (int t = 0; t < 10; t++) {
                int id = (int)strtol(s, &s, 10);
                CHECK_MSG(arr[i * 10 + t] == id, "%s row %d col %d: %d, want %d", fix[side], i, t, arr[i * 10 + t], id);
            }
        }
        free_lines(&l);
    }
    s2s_dataset_free(&d);
    /* truncation: T = 2 keeps the first two ids, no <eos> */
    if (s2s_dataset_build(&p, sv, tv, 2, &d, &err) == S2S_OK) {
        CHECK(d.tgt[34 * 2 + 0] == s2s_vocab_id(tv, "je") && d.tgt[34 * 2 + 1] == s2s_vocab_id(tv, "suis"));
        CHECK(d.tgt_len[34] == 2);
        s2s_dataset_free(&d);
    } else CHECK_MSG(0, "%s", err.msg);
    CHECK(s2s_dataset_build(&p, sv, tv, 0, &d, &err) == S2S_ERR);
out:
    s2s_vocab_free(sv);
    s2s_vocab_free(tv);
    s2s_pairs_free(&p);
    return 0;
}

/* max_lines = num_examples + 1 lines are looked at. */
static int test_max_lines(void) {
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 10, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(p.n == 10 && p.lines_read == 10);
    s2s_vocab *sv;
    if (s2s_vocab_build(p.src_tok, p.src_start[p.n], 1, &sv, &err) == S2S_OK) {
        CHECK(vocab_matches(sv, "tests/fixtures/tiny_vocab_src_max10.txt"));
        s2s_vocab_free(sv);
    } else CHECK_MSG(0, "%s", err.msg);
    s2s_pairs_free(&p);
    if (s2s_pairs_read("tests/data/tiny.tsv", 1000, &p, &err) == S2S_OK) {
        CHECK(p.n == 40 && p.lines_read == 40);
        s2s_pairs_free(&p);
    } else CHECK_MSG(0, "%s", err.msg);
    /* the file is read no further than the lines asked for: a bad line after them is not seen */
    char path[64];
    WRITE_TMP("go .\tva !\r\nhi .\tsalut !\rbad \xff\tx\n", path);
    CHECK_MSG(s2s_pairs_read(path, 2, &p, &err) == S2S_OK, "%s", err.msg);
    if (p.n) { CHECK(p.n == 2 && p.lines_read == 2); s2s_pairs_free(&p); }
    CHECK(s2s_pairs_read(path, 3, &p, &err) == S2S_ERR && strstr(err.msg, "line 3"));
    unlink(path);
    /* line ends are counted as the reader counts them, also across the reader's 64 KiB chunks:
     * here line 13107's "\r\n" has its "\r" last in the first chunk */
    size_t n = 6 + 5 * 20000;
    char *text = malloc(n + 1);
    memcpy(text, "aa\tb\r\n", 6);
    for (int i = 0; i < 20000; i++) memcpy(text + 6 + 5 * i, "a\tb\r\n", 5);
    CHECK(text[65534] == '\r' && text[65535] == '\n');
    write_tmp(text, n, path);
    for (int k = 13105; k <= 13109; k++) {
        s2s_pairs q;
        CHECK(s2s_pairs_read(path, k, &p, &err) == S2S_OK && s2s_pairs_parse(text, n, "mem", k, &q, &err) == S2S_OK);
        size_t want = 6 + 5 * (size_t)(k - 1) - (size_t)k + 1;  /* CRLF read as LF, and the NUL */
        CHECK_MSG(p.n == k && q.n == k && p.lines_read == k && p.arena_bytes == want, "max_lines %d: %d pairs, %zu bytes",
                  k, p.n, p.arena_bytes);
        s2s_pairs_free(&p); s2s_pairs_free(&q);
    }
    free(text);
    unlink(path);
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int test_fra_corpus(void) {
    if (access(FRA, R_OK) != 0) SKIP("%s not found (tests run from the repository root)", FRA);
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_read(FRA, 601, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(p.n == 601 && p.lines_read == 601 && p.skipped == 0);
    s2s_vocab *sv, *tv;
    if (build_vocabs(&p, 2, &sv, &tv) == 0) {
        CHECK(s2s_vocab_size(sv) == 184);
        CHECK(s2s_vocab_size(tv) == 201);
        CHECK(vocab_matches(sv, "tests/fixtures/fra601_vocab_src.txt"));
        CHECK(vocab_matches(tv, "tests/fixtures/fra601_vocab_tgt.txt"));
        s2s_vocab_free(sv);
        s2s_vocab_free(tv);
    } else CHECK(0);
    s2s_pairs_free(&p);

    /* the book's example uses the vocabulary of the whole file */
    double t0 = now_ms();
    if (s2s_pairs_read(FRA, 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    double t1 = now_ms();
    if (build_vocabs(&p, 2, &sv, &tv) == 0) {
        double t2 = now_ms();
        printf("  full corpus: %d pairs, %d+%d tokens; read+preprocess+tokenize %.0f ms, two vocabularies %.0f ms\n",
               p.n, p.src_start[p.n], p.tgt_start[p.n], t1 - t0, t2 - t1);
        CHECK(p.n == 167130 && p.lines_read == 167130 && p.skipped == 0);
        CHECK(s2s_vocab_size(sv) == 10012);
        CHECK(s2s_vocab_size(tv) == 17850);  /* d2l's has 17851: with the empty token (s2s_text.c) */
        /* truncate_pad(src_vocab[source[0]], 10, '<pad>') — source[0] without <eos> */
        int32_t row[10];
        int want[10] = {47, 4, 1, 1, 1, 1, 1, 1, 1, 1};
        for (int t = 0; t < 10; t++) row[t] = t < ntok(&p, 0, 0) ? s2s_vocab_id(sv, tok(&p, 0, 0, t)) : S2S_PAD;
        for (int t = 0; t < 10; t++) CHECK_MSG(row[t] == want[t], "col %d: %d, want %d", t, row[t], want[t]);
        s2s_vocab_free(sv);
        s2s_vocab_free(tv);
    } else CHECK(0);
    s2s_pairs_free(&p);
    return 0;
}

/* CRLF, lone CR, BOM and a third column all read like the plain file. */
static int test_file_variants(void) {
    static const char *v[] = {
        "Go.\tVa !\nHi.\tSalut !\n",
        "Go.\tVa !\r\nHi.\tSalut !\r\n",
        "Go.\tVa !\rHi.\tSalut !",
        "\xef\xbb\xbfGo.\tVa !\nHi.\tSalut !",
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\nHi.\tSalut !\tx\ty\n",
    };
    for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
        char path[64];
        write_tmp(v[k], strlen(v[k]), path);
        s2s_pairs p;
        s2s_err err;
        int rc = s2s_pairs_read(path, 0, &p, &err);
        unlink(path);
        CHECK_MSG(rc == S2S_OK, "variant %zu: %s", k, err.msg);
        if (rc) continue;
        CHECK_MSG(p.n == 2 && p.lines_read == 2 && p.skipped == 0, "variant %zu: n %d lines %d skipped %d", k, p.n,
                  p.lines_read, p.skipped);
        const char *want[2][2][2] = {{{"go", "."}, {"va", "!"}}, {{"hi", "."}, {"salut", "!"}}};
        for (int i = 0; i < 2 && i < p.n; i++)
            for (int side = 0; side < 2; side++) {
                CHECK_MSG(ntok(&p, i, side) == 2, "variant %zu pair %d side %d: %d tokens", k, i, side, ntok(&p, i, side));
                for (int t = 0; t < 2 && t < ntok(&p, i, side); t++)
                    CHECK_MSG(strcmp(tok(&p, i, side, t), want[i][side][t]) == 0, "variant %zu: \"%s\" want \"%s\"", k,
                              tok(&p, i, side, t), want[i][side][t]);
            }
        s2s_pairs_free(&p);
    }
    return 0;
}

static int test_lines_without_tab(void) {
    char path[64];
    WRITE_TMP("Go.\tVa !\nno tab here\n\nHi.\tSalut !\n", path);
    s2s_pairs p;
    s2s_err err;
    int rc = s2s_pairs_read(path, 0, &p, &err);
    unlink(path);
    CHECK_MSG(rc == S2S_OK, "%s", err.msg);
    if (rc == S2S_OK) {
        CHECK(p.n == 2 && p.skipped == 2 && p.lines_read == 4);
        CHECK(strcmp(tok(&p, 1, 1, 0), "salut") == 0);
        s2s_pairs_free(&p);
    }
    /* double spaces give empty tokens, as Python's split(' ') */
    WRITE_TMP("a  b\t c", path);
    rc = s2s_pairs_read(path, 0, &p, &err);
    unlink(path);
    CHECK_MSG(rc == S2S_OK, "%s", err.msg);
    if (rc == S2S_OK) {
        CHECK(ntok(&p, 0, 0) == 3 && strcmp(tok(&p, 0, 0, 1), "") == 0 && strcmp(tok(&p, 0, 0, 2), "b") == 0);
        CHECK(ntok(&p, 0, 1) == 2 && strcmp(tok(&p, 0, 1, 0), "") == 0 && strcmp(tok(&p, 0, 1, 1), "c") == 0);
        s2s_pairs_free(&p);
    }
    CHECK(READ_FAILS_WITH("hello\nworld\n", "no sentence pairs (2 lines, none with a tab)", NULL));
    return 0;
}

static int test_bad_files(void) {
    CHECK(READ_FAILS_WITH("Go.\tVa !\nHi.\tSalut !\nW\xc3\tX\n", "line 3", "UTF-8"));
    CHECK(READ_FAILS_WITH("Go.\tVa !\r\nHi.\tSalut !\r\n\xed\xa0\x80\tX\r\n", "line 3", "UTF-8"));
    CHECK(READ_FAILS_WITH("Go.\tVa !\nHi.\tSa\0lut !\n", "line 2", "NUL"));
    CHECK(READ_FAILS_WITH("", "no sentence pairs (0 lines", NULL));
    s2s_pairs p;
    s2s_err err = {{0}};
    CHECK(s2s_pairs_read("/tmp/s2s-no-such-dir/none.tsv", 0, &p, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "/tmp/s2s-no-such-dir/none.tsv") != NULL, "%s", err.msg);
    return 0;
}

/* A 2 MiB line must not take quadratic time (or be refused). */
static int test_long_line(void) {
    size_t words = 1 << 20;
    char *data = malloc(words * 2 + 16);
    size_t n = 0;
    for (size_t i = 0; i < words; i++) { data[n++] = 'A'; data[n++] = ' '; }
    memcpy(data + n, "\tb.\n", 4);
    n += 4;
    char path[64];
    write_tmp(data, n, path);
    free(data);
    double t0 = now_ms();
    s2s_pairs p;
    s2s_err err;
    int rc = s2s_pairs_read(path, 0, &p, &err);
    unlink(path);
    CHECK_MSG(rc == S2S_OK, "%s", err.msg);
    if (rc == S2S_OK) {
        printf("  2 MiB line: %.0f ms\n", now_ms() - t0);
        CHECK(p.n == 1 && ntok(&p, 0, 0) == (int)words + 1);   /* trailing space -> final "" */
        CHECK(strcmp(tok(&p, 0, 0, 7), "a") == 0 && strcmp(tok(&p, 0, 0, (int)words), "") == 0);
        CHECK(ntok(&p, 0, 1) == 2);
        s2s_pairs_free(&p);
    }
    return 0;
}

static int test_vocab_rules(void) {
    char *toks[] = {"b", "a", "<pad>", "b", "a", "c", "<pad>", "d", "d", "d"};
    s2s_vocab *v;
    s2s_err err;
    if (s2s_vocab_build(toks, 10, 1, &v, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    /* counts d3 b2 a2 <pad>2 c1: ties keep first-seen order, <pad> stays at 1 */
    const char *want[] = {"<unk>", "<pad>", "<bos>", "<eos>", "d", "b", "a", "c"};
    CHECK(s2s_vocab_size(v) == 8);
    for (int i = 0; i < 8 && i < s2s_vocab_size(v); i++) CHECK(strcmp(s2s_vocab_token(v, i), want[i]) == 0);
    s2s_vocab_free(v);
    if (s2s_vocab_build(toks, 10, 3, &v, &err) == S2S_OK) {
        CHECK(s2s_vocab_size(v) == 5 && s2s_vocab_id(v, "d") == 4 && s2s_vocab_id(v, "b") == S2S_UNK);
        s2s_vocab_free(v);
    } else CHECK(0);
    if (s2s_vocab_build(NULL, 0, 2, &v, &err) == S2S_OK) {
        CHECK(s2s_vocab_size(v) == 4);
        s2s_vocab_free(v);
    } else CHECK(0);

    const char *list[] = {"<unk>", "<pad>", "<bos>", "<eos>", "x", "z", "y"};
    if (s2s_vocab_from_list(list, 7, &v, &err) == S2S_OK) {
        CHECK(s2s_vocab_size(v) == 7 && s2s_vocab_id(v, "y") == 6 && s2s_vocab_id(v, "z") == 5);
        s2s_vocab_free(v);
    } else CHECK_MSG(0, "%s", err.msg);
    const char *dup[] = {"<unk>", "<pad>", "<bos>", "<eos>", "x", "y", "x"};
    CHECK(s2s_vocab_from_list(dup, 7, &v, &err) == S2S_ERR && strstr(err.msg, "\"x\""));
    const char *bad[] = {"<pad>", "<unk>", "<bos>", "<eos>"};
    CHECK(s2s_vocab_from_list(bad, 4, &v, &err) == S2S_ERR);
    CHECK(s2s_vocab_from_list(list, 3, &v, &err) == S2S_ERR);

    /* a literal <pad> in the text maps to id 1 and, as in d2l, does not count as valid */
    char path[64];
    WRITE_TMP("<pad> x\ty\n", path);
    s2s_pairs p;
    if (s2s_pairs_read(path, 0, &p, &err) == S2S_OK) {
        s2s_vocab *sv, *tv;
        s2s_dataset d;
        if (build_vocabs(&p, 1, &sv, &tv) == 0) {
            if (s2s_dataset_build(&p, sv, tv, 4, &d, &err) == S2S_OK) {
                CHECK(d.src[0] == S2S_PAD && d.src[1] == 4 && d.src[2] == S2S_EOS && d.src[3] == S2S_PAD);
                CHECK(d.src_len[0] == 2);
                s2s_dataset_free(&d);
            } else CHECK(0);
            s2s_vocab_free(sv);
            s2s_vocab_free(tv);
        } else CHECK(0);
        s2s_pairs_free(&p);
    } else CHECK_MSG(0, "%s", err.msg);
    unlink(path);
    return 0;
}

static int test_encode_sentence(void) {
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_vocab *sv, *tv;
    if (build_vocabs(&p, 2, &sv, &tv)) { CHECK(0); s2s_pairs_free(&p); return 0; }
    int im = s2s_vocab_id(sv, "i'm"), home = s2s_vocab_id(sv, "home"), dot = s2s_vocab_id(sv, ".");
    CHECK(im > 3 && home > 3 && dot > 3);
    const char *inputs[] = {"i'm home .", "I'm home.", "I'm home.\n", "I'm HOME .\r\n"};
    for (int k = 0; k < 4; k++) {
        int32_t ids[8];
        int n = s2s_encode_sentence(sv, inputs[k], 8, ids, &err);
        CHECK_MSG(n == 4, "\"%s\": valid %d", inputs[k], n);
        int32_t want[8] = {im, home, dot, S2S_EOS, S2S_PAD, S2S_PAD, S2S_PAD, S2S_PAD};
        for (int t = 0; t < 8; t++) CHECK_MSG(ids[t] == want[t], "\"%s\" [%d] = %d, want %d", inputs[k], t, ids[t], want[t]);
    }
    int32_t ids[4];
    CHECK(s2s_encode_sentence(sv, "i'm home .", 3, ids, &err) == 3 && ids[2] == dot);   /* no room for <eos> */
    CHECK(s2s_encode_sentence(sv, "i'm home .", 4, ids, &err) == 4 && ids[3] == S2S_EOS);
    CHECK(s2s_encode_sentence(sv, "zzz", 4, ids, &err) == 2 && ids[0] == S2S_UNK && ids[1] == S2S_EOS);
    CHECK(s2s_encode_sentence(sv, "", 4, ids, &err) == 2 && ids[1] == S2S_EOS);   /* [''] as in d2l */
    CHECK(s2s_encode_sentence(sv, "bad \xff", 4, ids, &err) == S2S_ERR && strstr(err.msg, "UTF-8"));
    /* short sentences are preprocessed on the stack, long ones on the heap: the same tokens on
     * both sides of the boundary (2 len + 1 <= 512), and the same errors */
    for (size_t len = 240; len <= 280; len++) {
        char s[300];
        memset(s, 'X', len);  /* "I'm HOME. XXX...": the last token fills it up */
        memcpy(s, "I'm HOME. ", 10);
        s[len] = 0;
        int32_t got[6];
        int n = s2s_encode_sentence(sv, s, 6, got, &err);
        int32_t want[6] = {im, home, dot, S2S_UNK, S2S_EOS, S2S_PAD};
        CHECK_MSG(n == 5, "length %zu: valid %d", len, n);
        for (int t = 0; t < 6; t++) CHECK_MSG(got[t] == want[t], "length %zu [%d] = %d, want %d", len, t, got[t], want[t]);
        s[len - 1] = (char)0xff;
        CHECK_MSG(s2s_encode_sentence(sv, s, 6, got, &err) == S2S_ERR && strstr(err.msg, "UTF-8"), "length %zu", len);
    }
    s2s_vocab_free(sv);
    s2s_vocab_free(tv);
    s2s_pairs_free(&p);
    return 0;
}

static int test_pairs_read2(void) {
    char a[64], b[64];
    WRITE_TMP("Go.\r\nHi!\r\n", a);
    WRITE_TMP("Va !\nSalut\xe2\x80\xaf!", b);
    s2s_pairs p;
    s2s_err err;
    int rc = s2s_pairs_read2(a, b, 0, &p, &err);
    CHECK_MSG(rc == S2S_OK, "%s", err.msg);
    if (rc == S2S_OK) {
        CHECK(p.n == 2);
        CHECK(ntok(&p, 1, 0) == 2 && strcmp(tok(&p, 1, 0, 0), "hi") == 0 && strcmp(tok(&p, 1, 0, 1), "!") == 0);
        CHECK(ntok(&p, 1, 1) == 2 && strcmp(tok(&p, 1, 1, 0), "salut") == 0 && strcmp(tok(&p, 1, 1, 1), "!") == 0);
        s2s_pairs_free(&p);
    }
    rc = s2s_pairs_read2(a, b, 1, &p, &err);
    CHECK(rc == S2S_OK && p.n == 1);
    if (rc == S2S_OK) s2s_pairs_free(&p);
    unlink(b);
    WRITE_TMP("Va !\nSalut !\nEn trop.\n", b);
    CHECK(s2s_pairs_read2(a, b, 0, &p, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "2 lines") && strstr(err.msg, "3") && strstr(err.msg, a) && strstr(err.msg, b), "%s", err.msg);
    unlink(a);
    unlink(b);
    return 0;
}

/* Vocabulary tokens are printed raw, one line per sentence: every vocabulary refuses control
 * characters (C0, DEL, C1), empty tokens and invalid UTF-8; SentencePiece's pieces pass. */
static int test_vocab_tokens_checked(void) {
    static const struct { const char *tok, *want; } bad[] = {
        {"a\nb", "U+000A"}, {"\x1b[2J", "U+001B"}, {"\x7f", "U+007F"}, {"x\xc2\x85", "U+0085"},
        {"\xc2\x9f", "U+009F"}, {"", "token 4 is empty"}, {"a\xff", "not valid UTF-8 (byte 2)"},
        {"\xed\xa0\x80", "not valid UTF-8"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const char *list[] = {"<unk>", "<pad>", "<bos>", "<eos>", bad[k].tok};
        s2s_vocab *v = NULL;
        s2s_err err = {{0}};
        CHECK_MSG(s2s_vocab_from_list(list, 5, &v, &err) == S2S_ERR && strstr(err.msg, bad[k].want) &&
                  !strchr(err.msg, '\n') && !strchr(err.msg, 0x1b), "case %zu: %s", k, err.msg);
        s2s_vocab_free(v);
    }
    const char *ok[] = {"<unk>", "<pad>", "<bos>", "<eos>", "\xe2\x96\x81go", "<0x0A>", "\xc2\xa0x", "caf\xc3\xa9"};
    s2s_vocab *v = NULL;
    s2s_err err;
    CHECK_MSG(s2s_vocab_from_list(ok, 8, &v, &err) == S2S_OK, "%s", err.msg);
    s2s_vocab_free(v);
    /* built from tokens: the empty one (two spaces in a row) is <unk>, not a word */
    char *toks[] = {"a", "", "b", "", "a", "b"};
    CHECK(s2s_vocab_build(toks, 6, 1, &v, &err) == S2S_OK);
    if (v) {
        CHECK(s2s_vocab_size(v) == 6 && s2s_vocab_id(v, "") == S2S_UNK && s2s_vocab_id(v, "b") == 5);
        s2s_vocab_free(v);
    }
    return 0;
}

/* A corpus holds no control character but TAB and newline (one sentence per line files: not
 * TAB either), named by file and line. */
static int test_corpus_control_characters(void) {
    static const struct { const char *text, *want; } bad[] = {
        {"go .\tva !\nhi\x01 .\tsalut\n", "C.tsv: line 2: control character U+0001 at byte 3"},
        {"go .\tva\x1b[2J !\n", "line 1: control character U+001B"},
        {"go .\tva !\x7f\n", "U+007F"},
        {"go .\tva \xc2\x85!\n", "U+0085"},
        {"go .\tva !\x0c\n", "U+000C"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        s2s_pairs p;
        s2s_err err = {{0}};
        CHECK_MSG(s2s_pairs_parse(bad[k].text, strlen(bad[k].text), "C.tsv", 0, &p, &err) == S2S_ERR &&
                  strstr(err.msg, bad[k].want), "case %zu: %s", k, err.msg);
    }
    s2s_pairs p;
    s2s_err err;
    const char *fine = "go .\tva !\tCC-BY\r\nhi .\tsalut !\n";  /* TAB, a third column, CRLF */
    CHECK_MSG(s2s_pairs_parse(fine, strlen(fine), "C.tsv", 0, &p, &err) == S2S_OK, "%s", err.msg);
    if (p.n) s2s_pairs_free(&p);
    char a[64], b[64];
    WRITE_TMP("go .\nhi .\n", a);
    WRITE_TMP("va !\nsa\tlut !\n", b);
    CHECK(s2s_pairs_read2(a, b, 0, &p, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, b) && strstr(err.msg, "line 2: control character U+0009") && strstr(err.msg, "one sentence per line"),
              "%s", err.msg);
    unlink(a);
    unlink(b);
    return 0;
}

/* Selected pairs are deep copies in the asked order; bad indices are refused. */
static int test_pairs_select(void) {
    s2s_pairs p, q;
    s2s_err err;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int idx[] = {39, 0, 5, 5};
    if (s2s_pairs_select(&p, idx, 4, &q, &err)) { CHECK_MSG(0, "%s", err.msg); s2s_pairs_free(&p); return 0; }
    CHECK(q.n == 4 && q.lines_read == 0 && q.skipped == 0);
    for (int i = 0; i < 4; i++)
        for (int side = 0; side < 2; side++) {
            const int *a = side ? p.tgt_start : p.src_start, *b = side ? q.tgt_start : q.src_start;
            char **ta = side ? p.tgt_tok : p.src_tok, **tb = side ? q.tgt_tok : q.src_tok;
            CHECK(a[idx[i] + 1] - a[idx[i]] == b[i + 1] - b[i]);
            for (int k = 0; k < b[i + 1] - b[i] && k < a[idx[i] + 1] - a[idx[i]]; k++) {
                CHECK(!strcmp(ta[a[idx[i]] + k], tb[b[i] + k]));
                CHECK(ta[a[idx[i]] + k] != tb[b[i] + k]);  /* a copy, not a view */
            }
        }
    int badi[] = {0, 40};
    s2s_pairs r;
    CHECK(s2s_pairs_select(&p, badi, 2, &r, &err) == S2S_ERR && strstr(err.msg, "40"));
    s2s_pairs_free(&p);
    CHECK(q.n == 4 && !strcmp(q.src_tok[q.src_start[1]], "go"));  /* survives the source */
    s2s_pairs_free(&q);
    return 0;
}

int main(void) {
    RUN(test_preprocess_matches_python);
    RUN(test_preprocess_basics);
    RUN(test_preprocess_invalid_utf8);
    RUN(test_tiny_tokens);
    RUN(test_tiny_vocab_and_arrays);
    RUN(test_max_lines);
    RUN(test_fra_corpus);
    RUN(test_file_variants);
    RUN(test_lines_without_tab);
    RUN(test_bad_files);
    RUN(test_long_line);
    RUN(test_vocab_rules);
    RUN(test_encode_sentence);
    RUN(test_pairs_read2);
    RUN(test_pairs_select);
    RUN(test_vocab_tokens_checked);
    RUN(test_corpus_control_characters);
    TEST_END();
}
