/* The two translation APIs' bodies: parsing a request into sentences and decoding options
 * (every error a kind, hence an HTTP status, and a one-line message naming the field), and
 * writing the JSON answers. No I/O: the fuzz target and the tests call these directly.
 *
 * POST /translate, OpenNMT-py's REST format (onmt/bin/server.py):
 *   request  [{"src": "text", "id": 100}, ...]   ("id" names a model there; one model here
 *            answers every id)
 *   response [[{"src": ..., "tgt": ..., "n_best": N, "pred_score": S}, ...one per input], ...]
 *            one inner list per rank: response[k][i] is input i's k-th best translation.
 *   As OpenNMT-py, "src" is stripped of surrounding whitespace before translation and that
 *   whitespace is put back around "tgt"; a src that is empty after stripping gets "" and 0.
 * POST /v1/translate:
 *   request  {"text": ["...", ...] | "...", "beam": K, "nbest": N, "alpha": A, "attention": true}
 *   response {"translations": [{"src": ..., "src_tokens": [...],
 *             "hypotheses": [{"text": ..., "score": S,
 *                             "attention": {"tgt_tokens": [...], "weights": [[...], ...]}}, ...]}]}
 *             ("src_tokens" and each hypothesis' "attention" when asked for; "attention" is
 *             null for a model without attention; one row of weights per target token, one
 *             column per source token). */
#ifndef S2S_REQUEST_H
#define S2S_REQUEST_H
#include <stddef.h>

#include "s2s_engine.h"
#include "s2s_metrics.h"

typedef enum s2s_api { S2S_API_ONMT, S2S_API_V1 } s2s_api;

typedef struct s2s_req_limits {
    int max_sentences;      /* per request */
    int max_sentence_bytes; /* per sentence, in UTF-8 bytes */
    int max_sentence_words; /* per sentence, in words (runs of non-space characters) */
    int max_beam;
} s2s_req_limits;

typedef struct s2s_request {
    s2s_api api;
    int n;                  /* sentences */
    char **text;            /* [n] what is translated (ONMT: stripped) */
    char **src;             /* ONMT: [n] "src" as sent, echoed back; V1: NULL */
    int *skip;              /* ONMT: [n] 1 = empty after stripping, not translated */
    s2s_decode_opts opts;
} s2s_request;

typedef struct s2s_req_error {
    s2s_error_kind kind;
    char msg[256];
} s2s_req_error;

/* Parses body[0..len) (need not be NUL-terminated). `defaults` gives the decoding options a
 * request leaves out (ONMT requests always use them). On error returns S2S_ERR with e filled
 * and *out zeroed; on success the caller frees *out with s2s_request_free. */
int s2s_request_parse(s2s_api api, const char *body, size_t len, const s2s_decode_opts *defaults,
                      const s2s_req_limits *lim, s2s_request *out, s2s_req_error *e);
void s2s_request_free(s2s_request *r);

/* The JSON answer to r from res[0..r->n) (entries of skipped sentences are ignored), malloc'd;
 * NULL when out of memory. */
char *s2s_response_json(const s2s_request *r, const s2s_engine_result *res, size_t *len);
/* {"status": "error", "error": msg, "kind": name}, malloc'd (NULL when out of memory). */
char *s2s_error_json(s2s_error_kind kind, const char *msg, size_t *len);
#endif
