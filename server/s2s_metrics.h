/* The server's counters and histograms, updated lock-free from any thread and rendered in
 * Prometheus' text exposition format (version 0.0.4) for GET /metrics. */
#ifndef S2S_METRICS_H
#define S2S_METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The routes requests are counted under ("other" = any path the server does not serve). */
typedef enum s2s_endpoint {
    S2S_EP_PAGE, S2S_EP_HEALTH, S2S_EP_METRICS, S2S_EP_TRANSLATE, S2S_EP_V1_TRANSLATE, S2S_EP_OTHER,
    S2S_EP_COUNT
} s2s_endpoint;
const char *s2s_endpoint_name(s2s_endpoint e); /* "/", "/health", ..., "other" */

/* Why a request was refused; each has a fixed HTTP status (s2s_error_status). */
typedef enum s2s_error_kind {
    S2S_E_BAD_JSON,      /* 400: not JSON, or not the shape the endpoint reads */
    S2S_E_UNKNOWN_FIELD, /* 400: a field the endpoint does not know */
    S2S_E_BAD_VALUE,     /* 400: a known field with a wrong type or out of range */
    S2S_E_BAD_UTF8,      /* 400: invalid UTF-8 or a NUL character */
    S2S_E_AUTH,          /* 401: --api-key set and the request's bearer token is not it */
    S2S_E_NOT_FOUND,     /* 404 */
    S2S_E_METHOD,        /* 405 */
    S2S_E_BODY_TOO_LARGE,/* 413: the body is over --max-body */
    S2S_E_TOO_LONG,      /* 413: a sentence over the byte or word limit, or too many sentences */
    S2S_E_CONTENT_TYPE,  /* 415: a Content-Type other than application/json */
    S2S_E_OVERLOADED,    /* 503: too many connections or too many queued sentences */
    S2S_E_DRAINING,      /* 503: shutting down, in-flight requests are being finished */
    S2S_E_INTERNAL,      /* 500: translation failed */
    S2S_E_COUNT
} s2s_error_kind;
const char *s2s_error_name(s2s_error_kind k); /* "bad_json", ... */
int s2s_error_status(s2s_error_kind k);       /* 400, ... */

/* A histogram with fixed upper bounds (the last bucket is +Inf). */
#define S2S_HIST_MAX 16
typedef struct s2s_hist {
    int n;                                 /* bounds used, excluding +Inf */
    double le[S2S_HIST_MAX];               /* upper bounds, increasing */
    double scale;                          /* observations are integers of 1/scale units */
    atomic_uint_fast64_t count[S2S_HIST_MAX + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t sum;              /* sum of observations in 1/scale units */
} s2s_hist;

#define S2S_N_CODES 12
typedef struct s2s_metrics {
    atomic_uint_fast64_t requests[S2S_EP_COUNT][S2S_N_CODES]; /* by endpoint and status code */
    atomic_uint_fast64_t sentences;       /* sentences translated */
    atomic_uint_fast64_t errors[S2S_E_COUNT];
    atomic_uint_fast64_t reloads_ok, reloads_failed;
    atomic_int connections;               /* open connections (gauge) */
    atomic_int in_flight;                 /* requests received and not yet answered (gauge) */
    atomic_int queued;                    /* sentences waiting for a worker (gauge) */
    s2s_hist latency[S2S_EP_COUNT];       /* seconds from the first byte of the request to the
                                           * response being queued for sending */
    s2s_hist batch;                       /* sentences per translated batch */
} s2s_metrics;

void s2s_metrics_init(s2s_metrics *m);
/* Counts one answered request: endpoint, status code and its latency in seconds. */
void s2s_metrics_request(s2s_metrics *m, s2s_endpoint e, int status, double seconds);
void s2s_metrics_error(s2s_metrics *m, s2s_error_kind k);
void s2s_metrics_batch(s2s_metrics *m, int sentences);
/* Adds an observation (in the histogram's units: seconds or sentences). */
void s2s_hist_observe(s2s_hist *h, double v);
/* The exposition text, malloc'd (the caller frees it); NULL when out of memory. */
char *s2s_metrics_render(s2s_metrics *m, size_t *len);
#endif
