/* seq2seq data: fetch d2l's corpus into the cache (or a given directory) and say where it is.
 * Also the default corpus of `train` when no --data is given. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_fetch.h"

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

int cmd_data(args *a) {
    const char *verb = NULL, *name = NULL, *url = NULL, *sha1 = NULL, *dir = NULL, *o;
    unsigned flags = 0;
    int quiet = 0;
    while (next_opt(a, &o)) {
        if (a->positional) {
            if (!verb) verb = o;
            else if (!name) name = o;
            else usage_error(a, "unexpected argument '%s'", o);
        } else if (!strcmp(o, "--data-url")) url = val(a, o);
        else if (!strcmp(o, "--sha1")) sha1 = val(a, o);
        else if (!strcmp(o, "--dir")) dir = val(a, o);
        else if (!strcmp(o, "--force")) flags |= S2S_FETCH_REFRESH;
        else if (!strcmp(o, "--quiet")) quiet = 1;
        else unknown_option(a, o);
    }
    if (!verb || (strcmp(verb, "fetch") && strcmp(verb, "path"))) usage_error(a, "give 'fetch' or 'path' and a corpus name");
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
