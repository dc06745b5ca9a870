/* Dynamic batching: requests' sentences wait in one queue; worker threads take sentences that
 * share decoding options (up to max_batch of them, from as many requests as they come from)
 * and translate them as one batch, then hand each request its results.
 *
 * When a worker finds sentences waiting and the batch is not full, it waits for more at most
 * until max_delay after the oldest waiting request arrived, and only while more requests are
 * plausibly coming: while some open connection has no request in the pipeline (a lone client
 * never waits). So throughput grows with load, and a quiet server answers at once. */
#ifndef S2S_BATCHER_H
#define S2S_BATCHER_H
#include <stdatomic.h>

#include "s2s_engine.h"
#include "s2s_metrics.h"

/* One request's sentences. The submitter fills the fields above the line and keeps the job,
 * its texts and its results alive until `done` is called (once, from a worker thread, after
 * every sentence has its result or the batch failed). */
typedef struct s2s_job {
    s2s_decode_opts opts;
    int n;                        /* sentences */
    const char *const *text;      /* [n] */
    const int *skip;              /* [n] or NULL: 1 = not translated (its result stays zeroed) */
    s2s_engine_result *res;       /* [n] zeroed by the submitter, filled by the workers */
    void (*done)(struct s2s_job *job, void *ctx);
    void *ctx;
    /* ---- the batcher's ---- */
    int failed;                   /* 1 when a batch with one of its sentences failed */
    char error[1024];             /* why (an s2s_err message) */
    int next;                     /* first sentence not yet taken by a worker */
    int left;                     /* sentences not yet done */
    double arrived;               /* monotonic seconds at submission */
    struct s2s_job *qnext;
} s2s_job;

/* Translates src[0..n) with the options into out[0..n) (see s2s_engine_translate). */
typedef int (*s2s_translate_fn)(void *ctx, const char *const *src, int n, const s2s_decode_opts *o,
                                s2s_engine_result *out, s2s_err *err);

typedef struct s2s_batcher_opts {
    int threads;          /* worker threads */
    int max_batch;        /* sentences per batch */
    double max_delay;     /* seconds a batch may wait to fill */
    int max_queue;        /* sentences waiting at most; more is refused */
    atomic_int *connections; /* open connections (the server's count), or NULL: never wait */
} s2s_batcher_opts;

typedef struct s2s_batcher s2s_batcher;
int s2s_batcher_create(const s2s_batcher_opts *o, s2s_translate_fn fn, void *fn_ctx, s2s_metrics *metrics,
                       s2s_batcher **out, s2s_err *err);
/* Queues the job: S2S_OK, or (job not queued, `done` not called) S2S_BATCHER_FULL when the
 * queue would hold more than max_queue sentences, S2S_BATCHER_STOPPED after s2s_batcher_stop.
 * A job with nothing to translate is done at once, in the caller's thread. */
enum { S2S_BATCHER_FULL = -1, S2S_BATCHER_STOPPED = -2 };
int s2s_batcher_submit(s2s_batcher *b, s2s_job *job);
/* Refuses new jobs, lets the workers finish every queued one and joins them. */
void s2s_batcher_stop(s2s_batcher *b);
/* Stops (if not yet) and frees the batcher. */
void s2s_batcher_free(s2s_batcher *b);
double s2s_now(void); /* monotonic seconds */
#endif
