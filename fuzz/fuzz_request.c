/* libFuzzer target: the server's request parser (both APIs: the first byte picks one, the rest
 * is the body), then the JSON answer written for whatever it accepted, with made-up results
 * (one or two hypotheses, attention for some). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const s2s_api api = data[0] & 1 ? S2S_API_V1 : S2S_API_ONMT;
    const s2s_decode_opts defaults = {1 + (data[0] >> 1 & 3), 1, 1.0f, data[0] >> 3 & 1};
    const s2s_req_limits lim = {64, 256, 32, 8};
    s2s_request r;
    s2s_req_error e;
    if (s2s_request_parse(api, (const char *)data + 1, size - 1, &defaults, &lim, &r, &e)) {
        if (!e.msg[0] || strlen(e.msg) >= sizeof e.msg) abort();  /* every refusal says why */
        return 0;
    }
    if (r.n < 1 || r.n > lim.max_sentences || r.opts.nbest > r.opts.beam) abort();
    s2s_engine_result *res = calloc((size_t)r.n, sizeof *res);
    static char *src_tok[] = {"a", "<eos>"}, *tgt_tok[] = {"\"b\\", "<eos>"};
    static float attn[4] = {0.25f, 0.75f, 1.0f, 0.0f};
    for (int i = 0; i < r.n; i++) {
        s2s_engine_result *x = &res[i];
        x->n_hyps = i % 2 ? 1 : r.opts.nbest;
        x->hyps = calloc((size_t)x->n_hyps, sizeof *x->hyps);
        if (i % 3 == 0) { x->n_src = 2; x->src_tokens = src_tok; }
        for (int h = 0; h < x->n_hyps; h++) {
            x->hyps[h].text = r.text[i];  /* any text: the answer escapes it */
            x->hyps[h].score = -h - 0.5;
            if (i % 3 == 0) { x->hyps[h].n_tgt = 2; x->hyps[h].tgt_tokens = tgt_tok; x->hyps[h].attn = attn; }
        }
    }
    size_t len;
    char *out = s2s_response_json(&r, res, &len);
    if (!out || strlen(out) != len) abort();
    free(out);
    for (int i = 0; i < r.n; i++) free(res[i].hyps);
    free(res);
    s2s_request_free(&r);
    return 0;
}
