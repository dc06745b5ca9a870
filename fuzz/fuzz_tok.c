/* libFuzzer target: the SentencePiece tokenizer's inputs. An input is
 *   [2 bytes: text length L, little-endian][L bytes of text][the rest: a serialized ModelProto]
 * The model bytes go through s2s_tok_spm_new (SentencePiece's loader, the piece checks, the id
 * tables); the text is encoded, cut into pieces and decoded by that model when it loads, and
 * always by a model trained once at start-up (nmt_nfkc normalisation), so that text mutations
 * are explored even while the model bytes do not parse. Whatever the bytes: a tokenizer or an
 * error, and from a tokenizer ids inside the vocabulary and text or an error; never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_tok.h"

static s2s_tok *trained;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    static const char *const text[] = {
        "Je suis chez moi.", "Il est calme.", "\xc3\x87\x61 alors\xe2\x80\xaf!", "J'ai gagn\xc3\xa9 !", "Qui ?",
        "Au feu !", "\xc3\x80 l'aide !", "Il nage.", "Je suis triste maintenant.", "Va chez toi.",
    };
    s2s_spm_train_opts o = {S2S_SPM_UNIGRAM, 60, 1.0, 1};
    s2s_err err;
    if (s2s_tok_spm_train(text, sizeof text / sizeof text[0], &o, &trained, &err)) abort();
    return 0;
}

/* Every operation on one tokenizer; the ids it returns must index its vocabulary. */
static void exercise(const s2s_tok *t, const char *text, size_t len, const uint8_t *extra, size_t nextra) {
    s2s_err err;
    int32_t ids[32];
    const int V = s2s_vocab_size(s2s_tok_vocab(t));
    int n = s2s_tok_encode(t, text, len, ids, 32, &err);
    for (int i = 0; i < n && i < 32; i++)
        if (ids[i] < 0 || ids[i] >= V) abort();
    if (n >= 0) {
        char *back = s2s_tok_decode(t, ids, n < 32 ? n : 32, &err);
        free(back);
    }
    char **pieces;
    int np;
    if (s2s_tok_pieces(t, text, len, &pieces, &np, &err) == S2S_OK) {
        if (n >= 0 && np != n) abort();  /* one piece per id */
        free(pieces);
    }
    /* arbitrary ids, some outside the vocabulary */
    int32_t any[16];
    int m = 0;
    for (size_t i = 0; i + 1 < nextra && m < 16; i += 2) any[m++] = (int32_t)(extra[i] | extra[i + 1] << 8) - 4;
    free(s2s_tok_decode(t, any, m, &err));
    int32_t row[8];
    char *z = malloc(len + 1);  /* encode_row reads a NUL-terminated sentence */
    if (z) {
        memcpy(z, text, len);
        z[len] = 0;
        s2s_tok_encode_row(t, z, 8, row, &err);
        free(z);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t len = (size_t)(data[0] | data[1] << 8);
    if (len > size - 2) len = size - 2;
    const char *text = (const char *)data + 2;
    const uint8_t *proto = data + 2 + len;
    size_t plen = size - 2 - len;
    exercise(trained, text, len, proto, plen < 64 ? plen : 64);
    s2s_tok *t;
    s2s_err err;
    if (s2s_tok_spm_new(proto, plen, "fuzz", &t, &err) == S2S_OK) {
        exercise(t, text, len, data + 2, len < 64 ? len : 64);
        s2s_tok_free(t);
    }
    return 0;
}
