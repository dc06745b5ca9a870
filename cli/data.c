/* seq2seq data: fetch d2l's corpus into the cache (or a given directory) and say where it is
 * (also the default corpus of `train` when no --data is given); split a pairs file into
 * training and held-out pairs by a fixed rule. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_fetch.h"
#include "s2s_output.h"

typedef struct progress_state { double last; int shown, tty; } progress_state;

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) { (void)sig; interrupted = 1; }

/* Stops the download on Ctrl-C (the library then removes its temporary files); on a terminal,
 * one line on stderr, rewritten in place at most 10 times a second. */
static int show_progress(double done, double total, void *ctx) {
    progress_state *p = ctx;
    if (interrupted) return 1;
    if (!p->tty) return 0;
    double t = now_s();
    if (t - p->last < 0.1 && !(total > 0 && done >= total)) return 0;
    p->last = t;
    p->shown = 1;
    if (total > 0) fprintf(stderr, "\rdownloading: %.1f / %.1f MB (%.0f%%)   ", done / 1e6, total / 1e6, 100 * done / total);
    else fprintf(stderr, "\rdownloading: %.1f MB   ", done / 1e6);
    return 0;
}

static void fetch(const char *name, const char *url, const char *sha1, const char *dir, unsigned flags,
                  int quiet, char *path, size_t n) {
    s2s_err err;
    progress_state ps = {0, 0, !quiet && isatty(2)};
    if (!quiet && !(flags & S2S_FETCH_REFRESH) && !s2s_corpus_path(name, dir, path, n, &err)) {
        struct stat sb;
        if (stat(path, &sb))
            fprintf(stderr, "seq2seq: fetching %s into %s\n", name, path);
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;  /* no SA_RESTART: the transfer's wait returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = s2s_fetch_corpus(name, url, sha1, dir, path, n, flags, show_progress, &ps, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (ps.shown) fputc('\n', stderr);
    if (rc && interrupted) {
        fprintf(stderr, "seq2seq: %s: nothing saved\n", err.msg);
        exit(130);
    }
    if (!rc && interrupted) {  /* Ctrl-C after the transfer: the corpus is complete; stop anyway */
        fprintf(stderr, "seq2seq: interrupted; the corpus is in place: %s\n", path);
        exit(130);
    }
    if (rc) die("%s", err.msg);
}

const char *data_default_corpus(int quiet) {
    static char path[4096];
    fetch("fra-eng", NULL, NULL, NULL, 0, quiet, path, sizeof path);
    return path;
}

/* ---- data split ----------------------------------------------------------------------------- */

/* One line of a pairs file: its bytes [line, line_end) and its two sides [s0,e0), [s1,e1). */
typedef struct pair_line { const char *line, *s0, *s1; size_t len, n0, n1; } pair_line;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return h;
}

/* A set of byte strings (open addressing over pointers into the file). */
typedef struct str_set { const char **s; size_t *n, cap; } str_set;
static void set_init(str_set *t, size_t want) {
    t->cap = 16;
    while (t->cap < 2 * want) t->cap *= 2;
    t->s = calloc(t->cap, sizeof *t->s);
    t->n = calloc(t->cap, sizeof *t->n);
    if (!t->s || !t->n) die("out of memory");
}
static int set_find(const str_set *t, const char *s, size_t n, size_t *slot) {
    size_t i = (size_t)hash_bytes(s, n) & (t->cap - 1);
    while (t->s[i] && !(t->n[i] == n && !memcmp(t->s[i], s, n))) i = (i + 1) & (t->cap - 1);
    *slot = i;
    return t->s[i] != NULL;
}
static void set_add(str_set *t, const char *s, size_t n) {
    size_t i;
    if (!set_find(t, s, n, &i)) { t->s[i] = s; t->n[i] = n; }
}

/* Writes the pairs idx[0..n) (their lines as read, LF-ended) to path, whole or not at all. */
static void write_lines(const char *path, const pair_line *pl, const int *idx, int n) {
    s2s_out o;
    s2s_err err;
    if (s2s_out_open(&o, path, &err)) die("%s", err.msg);
    for (int i = 0; i < n; i++) {
        fwrite(pl[idx[i]].line, 1, pl[idx[i]].len, o.f);
        fputc('\n', o.f);
    }
    if (s2s_out_commit(&o, &err)) die("%s", err.msg);
}

/* data split: the held-out rule of train's --valid-pairs (pair floor((2k+1) n / 2N), k < N, of
 * the n pairs: lines with a tab, as train reads them), and then every remaining pair whose
 * source or target side equals, byte for byte, a held-out pair's source or target leaves the
 * training pairs too (Tatoeba repeats a sentence with several translations). The lines are
 * copied as they are (CRLF as LF, a leading BOM dropped); lines without a tab are left out. */
static int data_split(const char *in, const char *train, const char *valid, int nv, int quiet) {
    const io_file out[] = {{"--train", train, OUT_FILE}, {"--valid", valid, OUT_FILE}};
    const io_file inf[] = {{"the pairs file", in, 0}};
    check_files("data split", out, 2, inf, 1);
    s2s_err err;
    char *text;
    size_t len;
    if (s2s_read_file(in, &text, &len, &err)) die("%s", err.msg);
    size_t at = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
    pair_line *pl = NULL;
    int n = 0, cap = 0, lines = 0, skipped = 0;
    while (at < len) {
        char *nl = memchr(text + at, '\n', len - at), *cr = memchr(text + at, '\r', (nl ? (size_t)(nl - text) : len) - at);
        size_t end = cr ? (size_t)(cr - text) : nl ? (size_t)(nl - text) : len;  /* a CR ends the line too */
        size_t next = cr ? end + 1 + (end + 1 < len && text[end + 1] == '\n') : end + 1;
        const char *line = text + at, *tab = memchr(line, '\t', end - at);
        lines++;
        if (!tab) skipped++;
        else {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                pl = realloc(pl, sizeof *pl * (size_t)cap);
                if (!pl) die("out of memory");
            }
            const char *t2 = memchr(tab + 1, '\t', (size_t)(text + end - tab - 1));
            pl[n++] = (pair_line){line, line, tab + 1, end - at, (size_t)(tab - line),
                                  (size_t)((t2 ? t2 : text + end) - tab - 1)};
        }
        at = next;
    }
    if (n <= nv) die("data split: %s has %d pairs; --valid-pairs %d leaves none to train on", in, n, nv);
    int *vidx = malloc(sizeof(int) * (size_t)nv), *tidx = malloc(sizeof(int) * (size_t)n);
    if (!vidx || !tidx) die("out of memory");
    valid_split(n, nv, vidx, tidx);
    str_set s0, s1;
    set_init(&s0, (size_t)nv); set_init(&s1, (size_t)nv);
    for (int k = 0; k < nv; k++) { set_add(&s0, pl[vidx[k]].s0, pl[vidx[k]].n0); set_add(&s1, pl[vidx[k]].s1, pl[vidx[k]].n1); }
    int nt = 0, removed = 0;
    for (int k = 0; k < n - nv; k++) {
        const pair_line *p = &pl[tidx[k]];
        size_t slot;
        if (set_find(&s0, p->s0, p->n0, &slot) || set_find(&s1, p->s1, p->n1, &slot)) removed++;
        else tidx[nt++] = tidx[k];
    }
    write_lines(train, pl, tidx, nt);
    write_lines(valid, pl, vidx, nv);
    if (!quiet)
        fprintf(stderr, "seq2seq: %s: %d pairs (%d lines, %d without a tab): %d held out to %s; %d training pairs to %s "
                "(%d more left out: a side equal to a held-out pair's)\n", in, n, lines, skipped, nv, valid, nt, train,
                removed);
    free(s0.s); free(s0.n); free(s1.s); free(s1.n);
    free(vidx); free(tidx); free(pl); free(text);
    return 0;
}

int cmd_data(args *a) {
    const char *verb = NULL, *name = NULL, *url = NULL, *sha1 = NULL, *dir = NULL, *o;
    const char *train = NULL, *valid = NULL;
    unsigned flags = 0;
    int quiet = 0, nv = 0;
    while (next_opt(a, &o)) {
        if (a->positional) {
            if (!verb) verb = o;
            else if (!name) name = o;
            else usage_error(a, "unexpected argument '%s'", o);
        } else if (!strcmp(o, "--train")) train = val(a, o);
        else if (!strcmp(o, "--valid")) valid = val(a, o);
        else if (!strcmp(o, "--valid-pairs")) nv = (int)parse_int(o, val(a, o), 1, 1000000000);
        else if (!strcmp(o, "--data-url")) url = val(a, o);
        else if (!strcmp(o, "--sha1")) sha1 = val(a, o);
        else if (!strcmp(o, "--dir")) dir = val(a, o);
        else if (!strcmp(o, "--force")) flags |= S2S_FETCH_REFRESH;
        else if (!strcmp(o, "--quiet")) quiet = 1;
        else unknown_option(a, o);
    }
    if (verb && !strcmp(verb, "split")) {
        if (!name) usage_error(a, "give the pairs file to split");
        if (!train || !valid || !nv) usage_error(a, "split needs --valid-pairs N, --train FILE and --valid FILE");
        if (url || sha1 || flags || dir) usage_error(a, "--data-url, --sha1, --force and --dir belong to 'data fetch'");
        return data_split(name, train, valid, nv, quiet);
    }
    if (train || valid || nv) usage_error(a, "--train, --valid and --valid-pairs belong to 'data split'");
    if (!verb || (strcmp(verb, "fetch") && strcmp(verb, "path"))) usage_error(a, "give 'fetch', 'path' or 'split'");
    if (!name) usage_error(a, "give a corpus name (fra-eng)");
    char path[4096];
    if (!strcmp(verb, "path")) {
        s2s_err err;
        if (url || sha1 || flags) usage_error(a, "--data-url, --sha1 and --force belong to 'data fetch'");
        if (s2s_corpus_path(name, dir, path, sizeof path, &err)) die("%s", err.msg);
        struct stat sb;  /* a path to nothing would be read later as an error elsewhere: say it now */
        if (stat(path, &sb))
            die("data path: %s is not there yet (%s: %s); 'seq2seq data fetch %s%s%s' gets it", name, path, strerror(errno),
                name, dir ? " --dir " : "", dir ? dir : "");
        if (!S_ISREG(sb.st_mode)) die("data path: %s is not a regular file", path);
    } else {
        fetch(name, url, sha1, dir, flags, quiet, path, sizeof path);
    }
    printf("%s\n", path);
    return 0;
}
