/* Dynamic batching (see s2s_batcher.h): one mutex guards the queue and the jobs' counters; the
 * workers translate outside it. */
#include "s2s_batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct s2s_batcher {
    s2s_batcher_opts o;
    s2s_translate_fn fn;
    void *fn_ctx;
    s2s_metrics *metrics;
    pthread_mutex_t mu;
    pthread_cond_t work;        /* for idle workers: work arrived, or stop */
    pthread_cond_t fill;        /* for a worker waiting for its batch to fill: it may be full */
    int idle, filling;          /* workers waiting on each */
    s2s_job *head, *tail;       /* jobs with sentences not yet taken, in arrival order */
    int queued;                 /* sentences not yet taken */
    int pending;                /* jobs submitted and not done */
    int stop;
    int n_threads;
    pthread_t *threads;
    struct wbuf *bufs;          /* [threads] */
};

/* A worker's batch: the sentences it took (job and index), their texts and results, and the
 * jobs the batch completed. Allocated before the worker starts. */
typedef struct slot { s2s_job *job; int i; } slot;
typedef struct wbuf {
    s2s_batcher *b;
    slot *sl;
    const char **src;
    s2s_engine_result *res;
    s2s_job **done;
} wbuf;

double s2s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int same_opts(const s2s_decode_opts *a, const s2s_decode_opts *b) {
    return a->beam == b->beam && a->nbest == b->nbest && a->alpha == b->alpha && a->attention == b->attention;
}

/* Skips sentences the job does not translate, from job->next on. */
static void skip_skipped(s2s_job *j) {
    while (j->next < j->n && j->skip && j->skip[j->next]) j->next++;
}

/* Sentences waiting with the head job's options, counted up to `cap`. */
static int matching(const s2s_batcher *b, int cap) {
    int n = 0;
    for (const s2s_job *j = b->head; j && n < cap; j = j->qnext)
        if (same_opts(&j->opts, &b->head->opts))
            for (int i = j->next; i < j->n && n < cap; i++) n += !(j->skip && j->skip[i]);
    return n;
}

/* Whether waiting can fill the batch: an open connection has no request in the pipeline. */
static int more_expected(const s2s_batcher *b) {
    return b->o.connections && atomic_load(b->o.connections) > b->pending;
}

static void *worker(void *arg) {
    wbuf *w = arg;
    s2s_batcher *b = w->b;
    const int cap = b->o.max_batch;
    slot *sl = w->sl;
    const char **src = w->src;
    s2s_engine_result *res = w->res;
    s2s_job **done = w->done;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop) {
            b->idle++;
            pthread_cond_wait(&b->work, &b->mu);
            b->idle--;
        }
        if (!b->head) break;  /* stopping, and nothing left */
        /* let the batch fill, within the delay of its oldest request */
        double deadline = b->head->arrived + b->o.max_delay;
        while (!b->stop && matching(b, cap) < cap && more_expected(b)) {
            double now = s2s_now();
            if (now >= deadline) break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double wait = deadline - now;
            ts.tv_sec += (time_t)wait;
            ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            b->filling++;
            pthread_cond_timedwait(&b->fill, &b->mu, &ts);
            b->filling--;
            if (!b->head) break;  /* another worker took it all */
        }
        if (!b->head) continue;
        /* take up to cap sentences with the head's options, in arrival order */
        const s2s_decode_opts opts = b->head->opts;
        int n = 0;
        s2s_job **link = &b->head, *prev = NULL;
        while (*link && n < cap) {
            s2s_job *j = *link;
            if (!same_opts(&j->opts, &opts)) { prev = j; link = &j->qnext; continue; }
            while (j->next < j->n && n < cap) {
                sl[n].job = j; sl[n].i = j->next; src[n] = j->text[j->next];
                n++; j->next++;
                skip_skipped(j);
            }
            if (j->next == j->n) {  /* all taken: off the queue */
                *link = j->qnext;
                if (b->tail == j) b->tail = prev;
            } else {
                prev = j; link = &j->qnext;
            }
        }
        b->queued -= n;
        atomic_store(&b->metrics->queued, b->queued);
        if (b->head && b->idle) pthread_cond_signal(&b->work);  /* more for another worker */
        pthread_mutex_unlock(&b->mu);

        s2s_err err;
        memset(res, 0, sizeof(s2s_engine_result) * (size_t)n);
        int rc = b->fn(b->fn_ctx, src, n, &opts, res, &err);
        if (rc == S2S_OK) s2s_metrics_batch(b->metrics, n);
        int nd = 0;
        pthread_mutex_lock(&b->mu);
        for (int k = 0; k < n; k++) {
            s2s_job *j = sl[k].job;
            if (rc == S2S_OK) j->res[sl[k].i] = res[k];
            else if (!j->failed) { j->failed = 1; snprintf(j->error, sizeof j->error, "%s", err.msg); }
            if (--j->left == 0) { done[nd++] = j; b->pending--; }
        }
        pthread_mutex_unlock(&b->mu);
        for (int k = 0; k < nd; k++) done[k]->done(done[k], done[k]->ctx);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int s2s_batcher_create(const s2s_batcher_opts *o, s2s_translate_fn fn, void *fn_ctx, s2s_metrics *metrics,
                       s2s_batcher **out, s2s_err *err) {
    *out = NULL;
    if (o->threads < 1 || o->max_batch < 1 || o->max_queue < 1 || !(o->max_delay >= 0))
        return s2s_errf(err, "batcher: threads %d, max_batch %d, max_queue %d must be >= 1 and the delay >= 0",
                        o->threads, o->max_batch, o->max_queue);
    s2s_batcher *b = s2s_calloc(1, sizeof *b, err, "the batcher");
    if (!b) return S2S_ERR;
    b->o = *o; b->fn = fn; b->fn_ctx = fn_ctx; b->metrics = metrics;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->fill, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&b->work, NULL);
    if (!(b->threads = s2s_calloc((size_t)o->threads, sizeof(pthread_t), err, "worker threads")) ||
        !(b->bufs = s2s_calloc((size_t)o->threads, sizeof(wbuf), err, "worker buffers")))
        goto fail;
    for (int i = 0; i < o->threads; i++) {
        wbuf *w = &b->bufs[i];
        w->b = b;
        size_t cap = (size_t)o->max_batch;
        if (!(w->sl = s2s_malloc(sizeof(slot) * cap, err, "a batch")) ||
            !(w->src = s2s_malloc(sizeof(char *) * cap, err, "a batch")) ||
            !(w->res = s2s_malloc(sizeof(s2s_engine_result) * cap, err, "a batch")) ||
            !(w->done = s2s_malloc(sizeof(s2s_job *) * cap, err, "a batch")))
            goto fail;
    }
    for (; b->n_threads < o->threads; b->n_threads++) {
        int e = pthread_create(&b->threads[b->n_threads], NULL, worker, &b->bufs[b->n_threads]);
        if (e) { s2s_errf(err, "batcher: cannot start a worker thread: %s", strerror(e)); goto fail; }
    }
    *out = b;
    return S2S_OK;
fail:
    s2s_batcher_free(b);
    return S2S_ERR;
}

int s2s_batcher_submit(s2s_batcher *b, s2s_job *job) {
    int n = 0;
    for (int i = 0; i < job->n; i++) n += !(job->skip && job->skip[i]);
    job->failed = 0; job->error[0] = 0; job->next = 0; job->left = n; job->qnext = NULL;
    job->arrived = s2s_now();
    if (n == 0) { job->done(job, job->ctx); return S2S_OK; }
    skip_skipped(job);
    pthread_mutex_lock(&b->mu);
    if (b->stop) { pthread_mutex_unlock(&b->mu); return S2S_BATCHER_STOPPED; }
    if (b->queued + n > b->o.max_queue && b->queued > 0) {  /* one request alone may exceed it */
        pthread_mutex_unlock(&b->mu);
        return S2S_BATCHER_FULL;
    }
    if (b->tail) b->tail->qnext = job; else b->head = job;
    b->tail = job;
    b->queued += n;
    b->pending++;
    atomic_store(&b->metrics->queued, b->queued);
    /* wake whoever this helps: an idle worker; a filling one only when its batch may now be full
     * or nothing more is coming (not at every arrival: each wake-up is a context switch) */
    if (b->idle) pthread_cond_signal(&b->work);
    if (b->filling && (b->queued >= b->o.max_batch || !more_expected(b))) pthread_cond_broadcast(&b->fill);
    pthread_mutex_unlock(&b->mu);
    return S2S_OK;
}

void s2s_batcher_stop(s2s_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->work);
    pthread_cond_broadcast(&b->fill);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->n_threads; i++) pthread_join(b->threads[i], NULL);
    b->n_threads = 0;
}

void s2s_batcher_free(s2s_batcher *b) {
    if (!b) return;
    s2s_batcher_stop(b);
    for (int i = 0; b->bufs && i < b->o.threads; i++) {
        wbuf *w = &b->bufs[i];
        free(w->sl); free(w->src); free(w->res); free(w->done);
    }
    free(b->bufs);
    free(b->threads);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->fill);
    free(b);
}
