/* libFuzzer target for the safetensors reader: any input must either parse into tensors that
 * lie inside the input's data buffer, or fail with a one-line message. Built and run by
 * scripts/fuzz.sh with ASan and UBSan. */
#include "s2s_safetensors.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    s2s_st_file *f = NULL;
    s2s_err err = {{0}};
    if (s2s_st_parse(data, size, "fuzz", &f, &err) != S2S_OK) {
        if (f || !err.msg[0] || strchr(err.msg, '\n')) __builtin_trap();
        return 0;
    }
    size_t total = 0;
    volatile unsigned char sink = 0;
    for (int i = 0; i < s2s_st_count(f); i++) {
        const s2s_tensor *t = s2s_st_get(f, i);
        if (!t->name[0] || s2s_st_find(f, t->name) != t || t->ndim < 0 || t->ndim > S2S_ST_MAX_DIMS)
            __builtin_trap();
        size_t count = 1;
        for (int k = 0; k < t->ndim; k++) count *= (size_t)t->shape[k];
        if (count * s2s_dtype_size(t->dtype) != t->nbytes) __builtin_trap();
        if (t->nbytes) sink ^= ((const unsigned char *)t->data)[0] ^ ((const unsigned char *)t->data)[t->nbytes - 1];
        total += t->nbytes;
    }
    if (total > size) __builtin_trap();
    for (int i = 0; i < s2s_st_meta_count(f); i++) {
        const char *k, *v;
        s2s_st_meta_at(f, i, &k, &v);
        if (s2s_st_meta(f, k) == NULL) __builtin_trap();
        sink ^= (unsigned char)strlen(v);
    }
    (void)sink;
    s2s_st_free(f);
    return 0;
}
