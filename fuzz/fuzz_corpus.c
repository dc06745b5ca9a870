/* libFuzzer target: the corpus reader (UTF-8 validation, preprocess_nmt, tokenize_nmt), then
 * vocabularies, the padded arrays and sentence encoding on whatever it accepted. */
#include <stdint.h>

#include "s2s_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    s2s_pairs p;
    s2s_err err;
    if (s2s_pairs_parse((const char *)data, size, "fuzz", 50, &p, &err)) return 0;
    s2s_vocab *sv = NULL, *tv = NULL;
    s2s_dataset d;
    if (!s2s_vocab_build(p.src_tok, p.src_start[p.n], 1, &sv, &err) &&
        !s2s_vocab_build(p.tgt_tok, p.tgt_start[p.n], 2, &tv, &err) &&
        !s2s_dataset_build(&p, sv, tv, 6, &d, &err)) {
        int32_t ids[6];
        s2s_encode_sentence(sv, p.src_tok[0], 6, ids, &err);
        s2s_dataset_free(&d);
    }
    s2s_vocab_free(sv); s2s_vocab_free(tv);
    s2s_pairs_free(&p);
    return 0;
}
