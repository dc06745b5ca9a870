/* The program's shared helpers: one-line fatal errors, option values, reading lines. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "s2s_text.h"

/* ---- errors and options --------------------------------------------------------------- */

#ifdef S2S_FUZZ
jmp_buf s2s_fuzz_jmp;  /* the option-parser fuzz target returns here instead of exiting */
#endif

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
#ifdef S2S_FUZZ
    char sink[256];
    vsnprintf(sink, sizeof sink, fmt, ap);
    va_end(ap);
    longjmp(s2s_fuzz_jmp, 1);
#else
    fputs("seq2seq: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
#endif
}

long parse_int(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) die("%s: '%s' is not a whole number", opt, s);
    if (v < lo || v > hi) die("%s: %ld is out of range (%ld .. %ld)", opt, v, lo, hi);
    return v;
}

double parse_num(const char *opt, const char *s, double lo, double hi, int hi_open) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) die("%s: '%s' is not a finite number", opt, s);
    if (v < lo || v > hi || (hi_open && v == hi)) die("%s: %g is out of range (%g .. %g%s)", opt, v, lo, hi, hi_open ? ", exclusive" : "");
    return v;
}

int next_opt(args *a, const char **name) {
    if (a->i >= a->argc) return 0;
    *name = a->argv[a->i++];
    return 1;
}
const char *val(args *a, const char *name) {
    if (a->i >= a->argc) die("%s %s: missing value", a->cmd, name);
    return a->argv[a->i++];
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *join_tokens(const s2s_vocab *tv, const int32_t *ids, int n) {
    size_t cap = 1;
    for (int k = 0; k < n; k++) cap += strlen(s2s_vocab_token(tv, ids[k])) + 1;
    char *o = malloc(cap), *p = o;
    if (!o) die("out of memory");
    *p = 0;
    for (int k = 0; k < n; k++) p += sprintf(p, k ? " %s" : "%s", s2s_vocab_token(tv, ids[k]));
    return o;
}

char *chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Reads all lines of a stream (or a file) into an array. */
char **read_lines(FILE *f, const char *name, int *n_out) {
    int n = 0, cap = 64;
    char **lines = malloc(sizeof(char *) * cap), *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    if (!lines) die("out of memory");
    while ((got = getline(&line, &lcap, f)) >= 0) {
        if (memchr(line, 0, (size_t)got)) die("%s: line %d contains a NUL byte", name, n + 1);
        if (n == cap) { cap *= 2; if (!(lines = realloc(lines, sizeof(char *) * cap))) die("out of memory"); }
        if (!(lines[n++] = strdup(chomp(line)))) die("out of memory");
    }
    if (ferror(f)) die("%s: read error: %s", name, strerror(errno));
    free(line);
    *n_out = n;
    return lines;
}

FILE *open_in(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    return f;
}

int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!strcmp(a, b)) return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
