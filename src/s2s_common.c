/* Error messages, checked allocation and whole-file reading for the library. */
#include "s2s_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s2s_errf(s2s_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return S2S_ERR;
}

void *s2s_malloc(size_t n, s2s_err *err, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) s2s_errf(err, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *s2s_calloc(size_t count, size_t size, s2s_err *err, const char *what) {
    if (size && count > SIZE_MAX / size) {
        s2s_errf(err, "size overflow allocating %zu x %zu bytes for %s", count, size, what);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) s2s_errf(err, "out of memory allocating %zu bytes for %s", count * size, what);
    return p;
}

int s2s_read_file(const char *path, char **data, size_t *len, s2s_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return s2s_errf(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
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
        if (got == 0) break;
    }
    if (ferror(f)) { int e = errno; free(buf); fclose(f); return s2s_errf(err, "%s: read error: %s", path, strerror(e)); }
    fclose(f);
    buf[n] = 0;
    *data = buf; *len = n;
    return S2S_OK;
}
