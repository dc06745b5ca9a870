/* `seq2seq serve`: an HTTP server (libmicrohttpd) in front of a model file, or of an ensemble
 * of model files decoding as one (s2s_translator_open_ensemble). Routes:
 *   GET  /                  the page (one self-contained HTML file, compiled in)
 *   GET  /health            {"status": "ok", ...}; never needs the API key
 *   GET  /metrics           Prometheus text format (s2s_metrics.h)
 *   POST /translate         OpenNMT-py's REST format (also at /translator/translate, its
 *                           default url_root); decoding options are the server's defaults
 *   POST /v1/translate      {"text": [...], "beam", "nbest", "alpha", "attention"}
 * Every error is JSON {"status": "error", "error": "...", "kind": "..."} with its status code
 * (s2s_metrics.h lists the kinds). The library's rule holds here too: nothing is printed; what
 * the server has to say (start, reloads, libmicrohttpd's own errors) goes to opts.log.
 *
 * Threads: libmicrohttpd runs one internal thread polling every connection with epoll; it
 * parses requests and sends answers, and suspends a translation request's connection while
 * its sentences wait in the batcher's queue (s2s_batcher.h). The batcher's `threads` workers
 * translate and write the JSON answer, then resume the connection. So a connection costs no
 * thread, a slow client ties up nothing but its socket (and is dropped after `timeout`), and
 * the cores go to translation. */
#ifndef S2S_SERVE_H
#define S2S_SERVE_H
#include <stddef.h>

#include "s2s_common.h"
#include "s2s_engine.h"
#include "s2s_metrics.h"

typedef struct s2s_serve_opts {
    const char *const *models; /* model files [n_models], copied by s2s_serve_start (reopened by
                                * s2s_serve_reload) */
    int n_models;             /* 1, or 2 .. S2S_MAX_ENSEMBLE: an ensemble */
    const char *host;         /* address to listen on: "127.0.0.1" (default), "::1", "0.0.0.0"... */
    int port;                 /* 0 = any free port (s2s_serve_port says which) */
    int threads;              /* translation workers (1) */
    int max_batch;            /* sentences per batch (64) */
    double max_delay_ms;      /* how long a batch may wait to fill (5) */
    s2s_decode_opts defaults; /* decoding when a request does not say (/translate always): beam 1,
                               * nbest 1, alpha 1, no attention */
    const char *api_key;      /* non-NULL: every request but /health needs "Authorization: Bearer KEY" */
    size_t max_body;          /* bytes of a request body (1 MiB) */
    int max_sentences;        /* per request (1024) */
    int max_sentence_bytes;   /* per sentence (1024) */
    int max_sentence_words;   /* per sentence (200) */
    int max_beam;             /* largest beam a request may ask for (16) */
    int max_connections;      /* open connections served; the next ones get 503 (256) */
    int max_queue;            /* sentences waiting for a worker; more get 503 (16384) */
    int timeout_s;            /* an idle or slow connection is closed after this (10) */
    void (*log)(void *ctx, const char *line); /* one line, no newline; NULL = silent */
    void *log_ctx;
    const char *gemm;         /* the products (s2s_translator_options.gemm): NULL = the default */
} s2s_serve_opts;

void s2s_serve_opts_default(s2s_serve_opts *o);

typedef struct s2s_server s2s_server;
/* Loads the model (every file of an ensemble), starts the workers and listens. The caller ends
 * it with s2s_serve_stop. */
int s2s_serve_start(const s2s_serve_opts *o, s2s_server **out, s2s_err *err);
/* The port listened on (the chosen one when opts.port was 0). */
int s2s_serve_port(const s2s_server *s);
/* Loads opts.models again (all of them, as one new model) and switches to it atomically: a
 * batch runs entirely on the model it started with, and the old model is freed when its last
 * batch ends. On failure (any file) the old model stays and err says why. Call from one thread
 * at a time (the program's signal loop). */
int s2s_serve_reload(s2s_server *s, s2s_err *err);
/* Stops accepting (new connections are refused, new requests on open ones get 503) and waits
 * until every request received has been answered, at most `timeout` seconds. Returns the
 * number of requests still unanswered (0 = drained). */
int s2s_serve_drain(s2s_server *s, double timeout);
/* Finishes queued translations, closes every connection and frees the server. */
void s2s_serve_stop(s2s_server *s);
s2s_metrics *s2s_serve_metrics(s2s_server *s);
#endif
