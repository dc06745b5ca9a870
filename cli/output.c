/* Where the program writes: the checks every command makes on its outputs before any work, the
 * text outputs of translate and eval (a file written whole, or a stream), and the check that
 * standard output really received what was printed. */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_plot.h"

/* A stream target: standard output ("-"), or a node that is not a regular file (a character
 * device such as /dev/stdout or /dev/null, a FIFO, a socket) which can take a stream. */
static int is_stream(const char *path) {
    struct stat sb;
    return !strcmp(path, "-") || (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode));
}

static void check_one(const io_file *o) {
    s2s_err err;
    if (!o->path[0]) die("%s: empty file name", o->what);
    if (o->kind == OUT_TEXT && is_stream(o->path)) {
        if (strcmp(o->path, "-") && access(o->path, W_OK)) die("%s %s: cannot write: %s", o->what, o->path, strerror(errno));
        return;
    }
    int rc = o->kind == OUT_PICTURE ? s2s_plot_check_path(o->path, &err) : s2s_out_check(o->path, &err);
    if (rc) die("%s %s", o->what, err.msg);
}

void check_files(const char *cmd, const io_file *out, int n_out, const io_file *in, int n_in) {
    for (int i = 0; i < n_out; i++) {
        /* a stream (a terminal, a pipe) overwrites nothing: /dev/stdin and /dev/stdout are
         * often one terminal */
        if (!out[i].path || (out[i].kind == OUT_TEXT && is_stream(out[i].path))) continue;
        for (int j = 0; j < n_in; j++)
            if (in[j].path && same_file(out[i].path, in[j].path))
                die("%s: %s %s is the same file as %s %s: it would be overwritten", cmd, out[i].what, out[i].path,
                    in[j].what, in[j].path);
        for (int j = 0; j < i; j++)
            if (out[j].path && same_file(out[i].path, out[j].path))
                die("%s: %s %s is the same file as %s %s", cmd, out[i].what, out[i].path, out[j].what, out[j].path);
    }
    for (int i = 0; i < n_out; i++)
        if (out[i].path) check_one(&out[i]);
}

/* ---- text outputs ------------------------------------------------------------------------ */

/* Staged outputs not yet committed: removed when the program dies or is interrupted. */
enum { MAX_STAGED = 8 };
static s2s_out *g_staged[MAX_STAGED];
static volatile int g_n_staged;

static void discard_staged(void) {
    for (int i = 0; i < g_n_staged; i++)
        if (g_staged[i]) s2s_out_discard(g_staged[i]);
    g_n_staged = 0;
}

void unlink_staged(void) {
    for (int i = 0; i < g_n_staged; i++)  /* async-signal-safe: unlink only */
        if (g_staged[i] && g_staged[i]->tmp) unlink(g_staged[i]->tmp);
}

void output_open(cli_out *c, const char *what, const char *path) {
    memset(c, 0, sizeof *c);
    c->what = what;
    c->path = path ? path : "-";
    if (!path || !strcmp(path, "-")) { c->f = stdout; return; }
    if (is_stream(path)) {
        if (!(c->f = fopen(path, "w"))) die("%s %s: cannot write: %s", what, path, strerror(errno));
        return;
    }
    s2s_err err;
    if (g_n_staged == MAX_STAGED) die("too many outputs");
    if (s2s_out_open(&c->staged, path, &err)) die("%s %s", what, err.msg);
    static int hooked;
    if (!hooked) { hooked = 1; atexit(discard_staged); }
    g_staged[g_n_staged++] = &c->staged;
    c->f = c->staged.f;
}

void output_close(cli_out *c) {
    s2s_err err;
    if (c->f == stdout) return;  /* checked at exit with everything else printed there */
    if (c->staged.tmp) {
        for (int i = 0; i < g_n_staged; i++)
            if (g_staged[i] == &c->staged) g_staged[i] = NULL;
        if (s2s_out_commit(&c->staged, &err)) die("%s %s", c->what, err.msg);
    } else if (ferror(c->f) | fclose(c->f)) {
        die("%s %s: write error: %s", c->what, c->path, strerror(errno ? errno : EIO));
    }
    c->f = NULL;
}

/* ---- standard output --------------------------------------------------------------------- */

/* As coreutils' close_stdout: whatever was printed must have reached standard output (a full
 * disk, /dev/full, a closed descriptor are errors); a closed stdout that nothing was written
 * to is fine. */
int close_stdout(int rc) {
    int pending = __fpending(stdout) != 0, failed = ferror(stdout);
    errno = 0;
    int close_failed = fclose(stdout) != 0;
    if (failed || (close_failed && (pending || errno != EBADF))) {
        fprintf(stderr, "seq2seq: write error on standard output: %s\n", strerror(errno ? errno : EIO));
        return rc ? rc : 1;
    }
    return rc;
}
