/* libFuzzer target: the whole model-file reader (safetensors container, metadata, vocabularies,
 * tensor names, dtypes and shapes, and the tokenizers: base64 SentencePiece models checked
 * against the vocabularies). Whatever the bytes, it must return an error or a model, never
 * crash or allocate without bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "s2s_checkpoint.h"
#include "s2s_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    s2s_st_file *f = NULL;
    s2s_err err;
    if (s2s_st_parse(data, size, "fuzz", &f, &err)) return 0;
    s2s_model *m = NULL;
    s2s_vocab *sv = NULL, *tv = NULL;
    if (s2s_model_from_st(f, "fuzz", &m, &sv, &tv, &err) == S2S_OK) {
        s2s_tok *st, *tt;
        if (s2s_tok_load(f, "fuzz", sv, tv, &st, &tt, &err) == S2S_OK) {
            int32_t ids[8];
            int n = s2s_tok_encode(st, "Je suis chez moi.", 17, ids, 8, &err);
            free(s2s_tok_decode(tt, ids, n > 8 ? 8 : n < 0 ? 0 : n, &err));
            s2s_tok_free(st); s2s_tok_free(tt);
        }
        s2s_model_free(m);
    }
    s2s_st_free(f);
    return 0;
}
