/* Shared basics of the s2s library: the error type every fallible call fills in,
 * and checked allocation. Library code never prints or exits; it returns S2S_ERR and
 * leaves a one-line message in the caller's s2s_err. */
#ifndef S2S_COMMON_H
#define S2S_COMMON_H
#include <stddef.h>
#include <stdint.h>

#include "seq2seq.h"  /* s2s_err and the status codes are public */

/* Sets err->msg (if err is not NULL) from a printf format; returns S2S_ERR so a caller can
 * write `return s2s_errf(err, "...")`. */
int s2s_errf(s2s_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/calloc that fail cleanly: NULL plus a message naming what was being allocated. */
void *s2s_malloc(size_t n, s2s_err *err, const char *what);
void *s2s_calloc(size_t count, size_t size, s2s_err *err, const char *what);

/* The most memory this process can expect to hold: the machine's physical memory, or less when
 * an address-space or data-size limit (ulimit -v, -d) is set. *what (if not NULL) names the
 * bound for messages ("the machine has", "the address-space limit (ulimit -v) is"). 0 when
 * unknown. */
double s2s_memory_limit(const char **what);
/* n bytes for a message: "512 bytes", "3.2 MiB", "1.5 GiB", "3.1 TiB" (buf of 32 bytes). */
const char *s2s_bytes_shown(double n, char buf[32]);

/* s for a one-line message: bytes below 0x20, 0x7f and from 0x80 up as \xNN (so no control
 * character or broken UTF-8 reaches a terminal), cut with "..." to fit buf (cap >= 16). */
const char *s2s_shown(const char *s, char *buf, size_t cap);

/* The byte offset of the first \u0000 escape in JSON text, or -1. A parser turns it into a NUL
 * byte inside a C string, which silently cuts that string short: readers refuse it. */
long s2s_json_nul_escape(const char *json, size_t len);

/* FNV-1a over n bytes, continuing from h (start with S2S_FNV_SEED): fingerprints of weights
 * and data, compared rather than trusted. */
#define S2S_FNV_SEED 0xcbf29ce484222325ULL
uint64_t s2s_fnv1a(uint64_t h, const void *p, size_t n);

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
int s2s_read_file(const char *path, char **data, size_t *len, s2s_err *err);
/* The same, stopping after the first max_lines lines (ends "\n", "\r\n" or a lone "\r", as a
 * text reader counts them; the last end included); max_lines <= 0 reads it all. */
int s2s_read_file_head(const char *path, long max_lines, char **data, size_t *len, s2s_err *err);

#endif
