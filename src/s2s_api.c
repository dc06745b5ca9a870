/* Shared pieces of the public API's handles: the version, the options' size rule, BLAS. */
#include "s2s_api.h"

#include <pthread.h>
#include <string.h>

#include "s2s_linalg.h"

const char *s2s_version(void) { return S2S_VERSION_STRING; }

int s2s_api_options(void *dst, size_t dst_size, const void *src, const char *what, s2s_err *err) {
    if (!src) return S2S_OK;
    int size;
    memcpy(&size, src, sizeof size);
    if (size < (int)sizeof(int) || size > 65536)
        return S2S_BAD(err, "%s: size is %d; fill the options with %s_init first", what, size, what);
    memcpy(dst, src, (size_t)size < dst_size ? (size_t)size : dst_size);
    const int own = (int)dst_size;
    memcpy(dst, &own, sizeof own);
    return S2S_OK;
}

int s2s_api_gemm(const char *name, const char *what, s2s_gemm_kind *out, s2s_err *err) {
    *out = S2S_GEMM_DEFAULT;
    if (!name) return S2S_OK;
    if (s2s_gemm_parse(name, out)) return S2S_BAD(err, "%s: gemm '%s' is not own, blas, bf16 or int8", what, name);
    if (s2s_gemm_resolve(*out) < 0)
        return S2S_BAD(err, "%s: gemm '%s', but this build has no %s kernel", what, name, s2s_gemm_needs(*out));
    return S2S_OK;
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_one_thread(void) { s2s_set_blas_threads(1); }
void s2s_api_blas_once(void) { pthread_once(&blas_once, blas_one_thread); }
