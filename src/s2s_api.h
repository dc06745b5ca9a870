/* Internal: what the public API's handles share (include/seq2seq.h): the options' size rule and
 * the process-wide BLAS setting. */
#ifndef S2S_API_H
#define S2S_API_H
#include <stddef.h>

#include "s2s_common.h"
#include "s2s_linalg.h"

/* Copies the caller's options (src, may be NULL) over the defaults already in dst: the first
 * src->size bytes are the fields the caller's header knew (option structs only grow at the end
 * and start with an int size). A size that cannot be one is S2S_ERR_INPUT naming `what`. */
int s2s_api_options(void *dst, size_t dst_size, const void *src, const char *what, s2s_err *err);
/* The options' gemm name (NULL: the default; "own", "blas") as a kind in *out; a name this build
 * cannot honour is S2S_ERR_INPUT naming `what`. */
int s2s_api_gemm(const char *name, const char *what, s2s_gemm_kind *out, s2s_err *err);
/* OpenBLAS on one thread for the process, once (our threads run their own products). */
void s2s_api_blas_once(void);

/* return BAD("fmt", ...): the caller's input is at fault */
#define S2S_BAD(err, ...) (s2s_errf((err), __VA_ARGS__), S2S_ERR_INPUT)
#endif
