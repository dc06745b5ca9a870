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

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
int s2s_read_file(const char *path, char **data, size_t *len, s2s_err *err);

#endif
