/* Counters and histograms for GET /metrics (Prometheus text format 0.0.4). Every update is one
 * relaxed atomic add: the numbers are statistics, read while requests keep updating them. */
#include "s2s_metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ep_names[S2S_EP_COUNT] = {"/", "/health", "/metrics", "/translate", "/v1/translate",
                                                   "other"};
const char *s2s_endpoint_name(s2s_endpoint e) { return (unsigned)e < S2S_EP_COUNT ? ep_names[e] : "other"; }

static const struct { const char *name; int status; } kinds[S2S_E_COUNT] = {
    [S2S_E_BAD_JSON] = {"bad_json", 400},           [S2S_E_UNKNOWN_FIELD] = {"unknown_field", 400},
    [S2S_E_BAD_VALUE] = {"bad_value", 400},         [S2S_E_BAD_UTF8] = {"bad_utf8", 400},
    [S2S_E_AUTH] = {"unauthorized", 401},           [S2S_E_NOT_FOUND] = {"not_found", 404},
    [S2S_E_METHOD] = {"method_not_allowed", 405},   [S2S_E_BODY_TOO_LARGE] = {"body_too_large", 413},
    [S2S_E_TOO_LONG] = {"too_long", 413},           [S2S_E_CONTENT_TYPE] = {"unsupported_media_type", 415},
    [S2S_E_OVERLOADED] = {"overloaded", 503},       [S2S_E_DRAINING] = {"shutting_down", 503},
    [S2S_E_INTERNAL] = {"internal", 500},
};
const char *s2s_error_name(s2s_error_kind k) { return (unsigned)k < S2S_E_COUNT ? kinds[k].name : "internal"; }
int s2s_error_status(s2s_error_kind k) { return (unsigned)k < S2S_E_COUNT ? kinds[k].status : 500; }

/* The status codes counted one by one; anything else is counted as the last, "other". */
static const int codes[S2S_N_CODES] = {200, 400, 401, 404, 405, 408, 413, 415, 431, 500, 503, 0};
static int code_index(int status) {
    for (int i = 0; i < S2S_N_CODES - 1; i++)
        if (codes[i] == status) return i;
    return S2S_N_CODES - 1;
}

static void hist_init(s2s_hist *h, const double *le, int n, double scale) {
    h->n = n;
    h->scale = scale;
    memcpy(h->le, le, sizeof(double) * (size_t)n);
    for (int i = 0; i <= S2S_HIST_MAX; i++) atomic_init(&h->count[i], 0);
    atomic_init(&h->sum, 0);
}

void s2s_metrics_init(s2s_metrics *m) {
    memset(m, 0, sizeof *m);  /* all-zero bits are a valid zero for these atomics on our targets */
    static const double lat[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
    static const double bat[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    for (int e = 0; e < S2S_EP_COUNT; e++) hist_init(&m->latency[e], lat, (int)(sizeof lat / sizeof *lat), 1e6);
    hist_init(&m->batch, bat, (int)(sizeof bat / sizeof *bat), 1);
}

void s2s_hist_observe(s2s_hist *h, double v) {
    int b = 0;
    while (b < h->n && v > h->le[b]) b++;
    atomic_fetch_add_explicit(&h->count[b], 1, memory_order_relaxed);
    if (v > 0) atomic_fetch_add_explicit(&h->sum, (uint_fast64_t)llround(v * h->scale), memory_order_relaxed);
}

void s2s_metrics_request(s2s_metrics *m, s2s_endpoint e, int status, double seconds) {
    if ((unsigned)e >= S2S_EP_COUNT) e = S2S_EP_OTHER;
    atomic_fetch_add_explicit(&m->requests[e][code_index(status)], 1, memory_order_relaxed);
    s2s_hist_observe(&m->latency[e], seconds);
}

void s2s_metrics_error(s2s_metrics *m, s2s_error_kind k) {
    if ((unsigned)k < S2S_E_COUNT) atomic_fetch_add_explicit(&m->errors[k], 1, memory_order_relaxed);
}

void s2s_metrics_batch(s2s_metrics *m, int sentences) {
    s2s_hist_observe(&m->batch, sentences);
    atomic_fetch_add_explicit(&m->sentences, (uint_fast64_t)sentences, memory_order_relaxed);
}

/* ---- exposition ----------------------------------------------------------------------- */

typedef struct buf { char *p; size_t len, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
}

static uint64_t get(atomic_uint_fast64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

/* One histogram's _bucket, _sum and _count lines; `labels` is "" or `name="value",`. */
static void put_hist(buf *b, const char *name, const char *labels, s2s_hist *h) {
    uint64_t cum = 0;
    for (int i = 0; i <= h->n; i++) {
        cum += get(&h->count[i]);
        if (i < h->n) put(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->le[i], (unsigned long long)cum);
        else put(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
    }
    char lb[96] = "";
    if (*labels) snprintf(lb, sizeof lb, "{%.*s}", (int)strlen(labels) - 1, labels);  /* without the comma */
    put(b, "%s_sum%s %.6f\n%s_count%s %llu\n", name, lb, (double)get(&h->sum) / h->scale, name, lb,
        (unsigned long long)cum);
}

char *s2s_metrics_render(s2s_metrics *m, size_t *len) {
    buf b = {malloc(8192), 0, 8192, 0};
    if (!b.p) return NULL;
    put(&b, "# HELP s2s_requests_total HTTP requests answered, by endpoint and status code.\n"
            "# TYPE s2s_requests_total counter\n");
    for (int e = 0; e < S2S_EP_COUNT; e++)
        for (int c = 0; c < S2S_N_CODES; c++) {
            uint64_t v = get(&m->requests[e][c]);
            if (!v) continue;  /* series appear when first counted, as client libraries do */
            char code[16];
            if (codes[c]) snprintf(code, sizeof code, "%d", codes[c]); else snprintf(code, sizeof code, "other");
            put(&b, "s2s_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n", ep_names[e], code,
                (unsigned long long)v);
        }
    put(&b, "# HELP s2s_sentences_total Sentences translated.\n# TYPE s2s_sentences_total counter\n"
            "s2s_sentences_total %llu\n", (unsigned long long)get(&m->sentences));
    put(&b, "# HELP s2s_errors_total Requests refused, by kind.\n# TYPE s2s_errors_total counter\n");
    for (int k = 0; k < S2S_E_COUNT; k++)
        put(&b, "s2s_errors_total{kind=\"%s\"} %llu\n", kinds[k].name, (unsigned long long)get(&m->errors[k]));
    put(&b, "# HELP s2s_request_duration_seconds Time from a request's arrival to its response, by endpoint.\n"
            "# TYPE s2s_request_duration_seconds histogram\n");
    for (int e = 0; e < S2S_EP_COUNT; e++) {
        char lb[64];
        snprintf(lb, sizeof lb, "endpoint=\"%s\",", ep_names[e]);
        put_hist(&b, "s2s_request_duration_seconds", lb, &m->latency[e]);
    }
    put(&b, "# HELP s2s_batch_sentences Sentences per translated batch.\n# TYPE s2s_batch_sentences histogram\n");
    put_hist(&b, "s2s_batch_sentences", "", &m->batch);
    put(&b, "# HELP s2s_model_reloads_total Model reloads (SIGHUP), by result.\n"
            "# TYPE s2s_model_reloads_total counter\n"
            "s2s_model_reloads_total{result=\"ok\"} %llu\ns2s_model_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)get(&m->reloads_ok), (unsigned long long)get(&m->reloads_failed));
    put(&b, "# HELP s2s_open_connections Open HTTP connections.\n# TYPE s2s_open_connections gauge\n"
            "s2s_open_connections %d\n", atomic_load(&m->connections));
    put(&b, "# HELP s2s_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE s2s_requests_in_flight gauge\ns2s_requests_in_flight %d\n", atomic_load(&m->in_flight));
    put(&b, "# HELP s2s_queued_sentences Sentences waiting for a translation worker.\n"
            "# TYPE s2s_queued_sentences gauge\ns2s_queued_sentences %d\n", atomic_load(&m->queued));
    if (b.oom) { free(b.p); return NULL; }
    *len = b.len;
    return b.p;
}
