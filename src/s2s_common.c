/* Error messages, checked allocation and whole-file reading for the library. */
#include "s2s_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int s2s_errf(s2s_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return S2S_ERR;
}

double s2s_memory_limit(const char **what) {
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * psize : 0;
    if (what) *what = "the machine has";
    const int res[2] = {RLIMIT_AS, RLIMIT_DATA};
    const char *names[2] = {"the address-space limit (ulimit -v) is", "the data-size limit (ulimit -d) is"};
    for (int i = 0; i < 2; i++) {
        struct rlimit rl;
        if (getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (!have || (double)rl.rlim_cur < have)) {
            have = (double)rl.rlim_cur;
            if (what) *what = names[i];
        }
    }
    return have;
}

const char *s2s_bytes_shown(double n, char buf[32]) {
    static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) { snprintf(buf, 32, "%.0f bytes", n); return buf; }
    int u = 0;
    for (n /= 1024; n >= 1024 && u < 4; n /= 1024) u++;
    snprintf(buf, 32, "%.1f %s", n, unit[u]);
    return buf;
}

/* The out-of-memory message: what, how much, and the bound it met. */
static void oom(s2s_err *err, double n, const char *what) {
    const char *bound;
    double have = s2s_memory_limit(&bound);
    char a[32], b[32];
    if (have > 0) s2s_errf(err, "out of memory for %s: %s needed; %s %s", what, s2s_bytes_shown(n, a), bound, s2s_bytes_shown(have, b));
    else s2s_errf(err, "out of memory for %s: %s needed", what, s2s_bytes_shown(n, a));
}

uint64_t s2s_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

void *s2s_malloc(size_t n, s2s_err *err, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(err, (double)n, what);
    return p;
}

void *s2s_calloc(size_t count, size_t size, s2s_err *err, const char *what) {
    if (size && count > SIZE_MAX / size) {
        s2s_errf(err, "size overflow allocating %zu x %zu bytes for %s", count, size, what);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(err, (double)count * size, what);
    return p;
}

const char *s2s_shown(const char *s, char *buf, size_t cap) {
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (; *p && w + 8 < cap; p++) {
        if (*p < 0x20 || *p >= 0x7f) w += (size_t)snprintf(buf + w, cap - w, "\\x%02x", *p);
        else buf[w++] = (char)*p;
    }
    if (*p && cap >= 4) { w = w + 4 <= cap ? w : cap - 4; memcpy(buf + w, "...", 3); w += 3; }
    buf[w] = 0;
    return buf;
}

long s2s_json_nul_escape(const char *json, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (json[i] != '\\') continue;
        if (json[i + 1] == 'u' && i + 5 < len && !memcmp(json + i + 2, "0000", 4)) return (long)i;
        i++;  /* skip the escaped character (a backslash escapes only the next one) */
    }
    return -1;
}

/* The length of the first max_lines lines of buf[0..n) (line ends "\n", "\r\n" or "\r", the
 * end included), or n when it has fewer; *lines counts the ends seen, across calls. */
static size_t head_len(const char *buf, size_t n, size_t from, long max_lines, long *lines) {
    for (size_t i = from; i < n; i++) {
        if (buf[i] != '\n' && buf[i] != '\r') continue;
        if (buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n') i++;
        if (++*lines == max_lines) return i + 1;
    }
    return n;
}

int s2s_read_file_head(const char *path, long max_lines, char **data, size_t *len, s2s_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return s2s_errf(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, scanned = 0;
    long lines = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return s2s_errf(err, "%s: out of memory", path); }
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2) { free(buf); fclose(f); return s2s_errf(err, "%s: file too large", path); }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return s2s_errf(err, "%s: out of memory reading the file (%zu bytes so far)", path, n); }
            buf = nb; cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (max_lines > 0) {
            /* a "\r" last in the buffer may be the start of "\r\n": look at it again next time */
            size_t upto = got && buf[n - 1] == '\r' ? n - 1 : n;
            size_t head = head_len(buf, upto, scanned, max_lines, &lines);
            if (lines == max_lines) { n = head; break; }
            scanned = upto;
        }
        if (got == 0) break;
    }
    if (ferror(f)) { int e = errno; free(buf); fclose(f); return s2s_errf(err, "%s: read error: %s", path, strerror(e)); }
    fclose(f);
    buf[n] = 0;
    *data = buf; *len = n;
    return S2S_OK;
}

int s2s_read_file(const char *path, char **data, size_t *len, s2s_err *err) {
    return s2s_read_file_head(path, 0, data, len, err);
}
