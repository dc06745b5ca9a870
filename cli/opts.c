/* The program's shared helpers: one-line fatal errors, option values, reading lines. */
#define _GNU_SOURCE  /* sched_getaffinity */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>

#include "cli.h"
#include "s2s_text.h"
#include "s2s_tok.h"

/* ---- errors and options --------------------------------------------------------------- */

#ifdef S2S_FUZZ
jmp_buf s2s_fuzz_jmp;  /* the option-parser fuzz target returns here instead of exiting */
#endif

void cli_exit(int status) {
#ifdef S2S_FUZZ
    (void)status;
    longjmp(s2s_fuzz_jmp, 1);
#else
    exit(status);
#endif
}

void (*die_hook)(int status, const char *msg);
s2s_gemm_kind g_gemm = S2S_GEMM_DEFAULT;
const char *g_gemm_name;

static __attribute__((noreturn)) void vdie(int status, const char *fmt, va_list ap) {
    if (die_hook) {
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        die_hook(status, msg);
    }
#ifdef S2S_FUZZ
    char sink[256];
    vsnprintf(sink, sizeof sink, fmt, ap);
#else
    fputs("seq2seq: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
#endif
    cli_exit(status);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vdie(1, fmt, ap);
    va_end(ap);
}

void die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vdie(2, fmt, ap);
    va_end(ap);
}

void usage_error(const args *a, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die_usage("%s: %s (see 'seq2seq %s --help')", a->cmd, msg, a->cmd);
}

void unknown_option(const args *a, const char *o) {
    usage_error(a, "unknown option '%s'", o);
}

long parse_int(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) die_usage("%s: '%s' is not a whole number", opt, s);
    if (v < lo || v > hi) die_usage("%s: %ld is out of range (%ld .. %ld)", opt, v, lo, hi);
    return v;
}

double parse_num(const char *opt, const char *s, double lo, double hi, int hi_open) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) die_usage("%s: '%s' is not a finite number", opt, s);
    if (v < lo || v > hi || (hi_open && v == hi))
        die_usage("%s: %g is out of range (%g .. %g%s)", opt, v, lo, hi, hi_open ? ", exclusive" : "");
    return v;
}

int online_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int parse_threads(const char *opt, const char *s) {
    int n = (int)parse_int(opt, s, 1, 1024), cpus = online_cpus(), most = cpus < CLI_MAX_THREADS ? cpus : CLI_MAX_THREADS;
    if (n > most) {
        fprintf(stderr, "seq2seq: %s %d: using %d, %s\n", opt, n, most,
                most == cpus ? "the CPUs this process may run on (more would not be faster)" : "the most this program runs");
        n = most;
    }
    return n;
}

int next_opt(args *a, const char **name) {
    for (;;) {
        if (a->i >= a->argc) return 0;
        const char *o = a->argv[a->i++];
        if (!a->no_more_opts && !strcmp(o, "--")) { a->no_more_opts = 1; continue; }
        a->positional = a->no_more_opts || o[0] != '-' || !o[1];  /* "-" alone: standard input */
        if (!a->positional && (!strcmp(o, "--help") || !strcmp(o, "-h"))) {
            command_usage(a->cmd, stdout);
            cli_exit(close_stdout(0));
        }
        *name = o;
        return 1;
    }
}

const char *val(args *a, const char *name) {
    if (a->i >= a->argc) die_usage("%s %s: missing value", a->cmd, name);
    return a->argv[a->i++];
}

void add_model(args *a, models *m, const char *o) {
    const char *p = val(a, o);
    if (m->n == S2S_MAX_ENSEMBLE) usage_error(a, "--model given more than %d times (an ensemble's limit)", S2S_MAX_ENSEMBLE);
    m->path[m->n++] = p;
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *decode_ids(const s2s_tok *t, const int32_t *ids, int n) {
    s2s_err err;
    char *o = s2s_tok_decode(t, ids, n, &err);
    if (!o) die("%s", err.msg);
    return o;
}

char *str_cat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) die("out of memory");
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

char *pair_text(const s2s_pairs *p, int i, int side) {
    const int *st = side ? p->tgt_start : p->src_start;
    char *const *tk = side ? p->tgt_tok : p->src_tok;
    size_t len = 1;
    for (int k = st[i]; k < st[i + 1]; k++) len += strlen(tk[k]) + 1;
    char *s = malloc(len), *q = s;
    if (!s) die("out of memory");
    *q = 0;
    for (int k = st[i]; k < st[i + 1]; k++) q += sprintf(q, k > st[i] ? " %s" : "%s", tk[k]);
    return s;
}

char *pair_reference(const s2s_pairs *p, int i, const char *file, const char *what) {
    char *s = pair_text(p, i, 1);
    if (!s[strspn(s, " ")])
        die("%s: %s: line %d: the target is empty, and BLEU needs a reference (drop that line)", what, file,
            p->line ? p->line[i] : i + 1);
    return s;
}

char *chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

void check_utf8_arg(const args *a, const char *s) {
    size_t bad;
    char b[200];
    if (!s2s_utf8_valid(s, strlen(s), &bad))
        die("%s: argument '%s' is not valid UTF-8 (byte 0x%02x at byte %zu)", a->cmd, s2s_shown(s, b, sizeof b),
            (unsigned char)s[bad], bad + 1);
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
        size_t bad;
        if (!s2s_utf8_valid(line, (size_t)got, &bad))
            die("%s: line %d: invalid UTF-8 (byte 0x%02x at byte %zu of the line)", name, n + 1,
                (unsigned char)line[bad], bad + 1);
        if (n == cap) { cap *= 2; if (!(lines = realloc(lines, sizeof(char *) * cap))) die("out of memory"); }
        if (!(lines[n++] = strdup(chomp(line)))) die("out of memory");
    }
    if (ferror(f)) die("%s: read error: %s", name, strerror(errno));
    free(line);
    *n_out = n;
    return lines;
}

void free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
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
