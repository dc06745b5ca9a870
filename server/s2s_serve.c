/* The HTTP side of `seq2seq serve` (see s2s_serve.h): routing, authentication, limits, the
 * model (one file or an ensemble's) that can be swapped under running requests, and the
 * hand-off to the batcher. */
#include "s2s_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "s2s_batcher.h"
#include "s2s_request.h"

/* The page, compiled in from server/page.html (see the Makefile). */
extern const unsigned char s2s_page_html[];
extern const size_t s2s_page_html_len;

/* ---- the model, swappable under running batches -------------------------------------------
 * A batch holds a reference to the model it started on; a reload publishes a new one and
 * drops the server's reference to the old, which is closed by whoever releases it last. */
typedef struct model_ref {
    s2s_engine *engine;
    int refs;          /* guarded by the server's model_mu */
    double loaded_at;  /* wall-clock seconds */
} model_ref;

struct s2s_server {
    s2s_serve_opts o;          /* o.models NULL: model_paths are the server's copies */
    char **model_paths;        /* [n_models] */
    int n_models;
    char *models_label;        /* for log lines: the paths joined by " + " */
    char *host, *api_key;
    struct MHD_Daemon *d;
    s2s_batcher *batcher;
    s2s_metrics metrics;
    s2s_req_limits limits;
    pthread_mutex_t model_mu;
    model_ref *model;
    struct MHD_Response *page;
    atomic_int draining;
    double started;
    int port;
    int starting;              /* libmicrohttpd's messages go into start_msg, for the error */
    char start_msg[256];
};

static void logf_(const s2s_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const s2s_server *s, const char *fmt, ...) {
    if (!s->o.log) return;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o.log(s->o.log_ctx, line);
}

static model_ref *model_acquire(s2s_server *s) {
    pthread_mutex_lock(&s->model_mu);
    model_ref *m = s->model;
    m->refs++;
    pthread_mutex_unlock(&s->model_mu);
    return m;
}

static void model_release(s2s_server *s, model_ref *m) {
    pthread_mutex_lock(&s->model_mu);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&s->model_mu);
    if (last) { s2s_engine_close(m->engine); free(m); }
}

static int model_open(const s2s_server *s, model_ref **out, s2s_err *err) {
    model_ref *m = s2s_calloc(1, sizeof *m, err, "a model");
    if (!m) return S2S_ERR;
    if (s2s_engine_open((const char *const *)s->model_paths, s->n_models, s->o.threads, s->o.max_batch, s->o.max_beam,
                        s->o.gemm, &m->engine, err)) {
        free(m);
        return S2S_ERR;
    }
    m->refs = 1;
    m->loaded_at = (double)time(NULL);
    *out = m;
    return S2S_OK;
}

/* The batcher's translate: the whole batch on one model. */
static int translate_batch(void *ctx, const char *const *src, int n, const s2s_decode_opts *o,
                           s2s_engine_result *out, s2s_err *err) {
    s2s_server *s = ctx;
    model_ref *m = model_acquire(s);
    int rc = s2s_engine_translate(m->engine, src, n, o, out, err);
    model_release(s, m);
    return rc;
}

int s2s_serve_reload(s2s_server *s, s2s_err *err) {
    model_ref *m;
    if (model_open(s, &m, err)) {
        atomic_fetch_add(&s->metrics.reloads_failed, 1);
        logf_(s, "reload of %s failed, keeping the model loaded before: %s", s->models_label, err->msg);
        return S2S_ERR;
    }
    pthread_mutex_lock(&s->model_mu);
    model_ref *old = s->model;
    s->model = m;
    pthread_mutex_unlock(&s->model_mu);
    model_release(s, old);
    atomic_fetch_add(&s->metrics.reloads_ok, 1);
    logf_(s, "reloaded %s (%s)", s->models_label, s2s_engine_describe(m->engine));
    return S2S_OK;
}

/* ---- one request ---------------------------------------------------------------------------- */

typedef struct req_ctx {
    s2s_server *s;
    struct MHD_Connection *conn;
    s2s_endpoint ep;
    double t0;
    char *body;
    size_t len, cap;
    int over;                 /* the body passed max_body: its bytes are dropped */
    s2s_request req;
    s2s_job job;
    s2s_engine_result *res;
    pthread_mutex_t mu;       /* orders the handler's suspend before the worker's resume */
    int suspended;            /* set by the handler under mu; read by the worker under mu */
    char *answer;             /* written by the worker: the JSON answer or error */
    size_t answer_len;
    int status;
} req_ctx;

static enum MHD_Result send_body(req_ctx *c, int status, const char *type, char *body, size_t len, int close) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(body); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"seq2seq\"");
    if (status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                c->ep == S2S_EP_TRANSLATE || c->ep == S2S_EP_V1_TRANSLATE ? "POST" : "GET, HEAD");
    if (close) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    s2s_metrics_request(&c->s->metrics, c->ep, status, s2s_now() - c->t0);
    return ret;
}

static enum MHD_Result send_error(req_ctx *c, s2s_error_kind kind, const char *msg) {
    s2s_metrics_error(&c->s->metrics, kind);
    size_t len;
    char *body = s2s_error_json(kind, msg, &len);
    if (!body) return MHD_NO;
    /* after a refusal mid-body, or when shedding load, the connection is not worth keeping */
    int close = kind == S2S_E_BODY_TOO_LARGE || kind == S2S_E_OVERLOADED || kind == S2S_E_DRAINING;
    return send_body(c, s2s_error_status(kind), "application/json", body, len, close);
}

static enum MHD_Result send_json(req_ctx *c, int status, char *body, size_t len) {
    return send_body(c, status, "application/json", body, len, 0);
}

/* Every path the server answers, and its method. */
static const struct route { const char *path; const char *method; s2s_endpoint ep; } routes[] = {
    {"/", "GET", S2S_EP_PAGE},
    {"/index.html", "GET", S2S_EP_PAGE},
    {"/health", "GET", S2S_EP_HEALTH},
    {"/translator/health", "GET", S2S_EP_HEALTH},
    {"/metrics", "GET", S2S_EP_METRICS},
    {"/translate", "POST", S2S_EP_TRANSLATE},
    {"/translator/translate", "POST", S2S_EP_TRANSLATE},
    {"/v1/translate", "POST", S2S_EP_V1_TRANSLATE},
};

/* The route for url; *method_ok says whether the method is the route's (GET includes HEAD). */
static s2s_endpoint route(const char *url, const char *method, int *method_ok) {
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (strcmp(url, routes[i].path)) continue;
        *method_ok = !strcmp(method, routes[i].method) ||
                     (!strcmp(routes[i].method, "GET") && !strcmp(method, "HEAD"));
        return routes[i].ep;
    }
    *method_ok = 1;
    return S2S_EP_OTHER;
}

/* Whether the request carries "Authorization: Bearer <key>", compared in time that depends on
 * the key's length only. */
static int authorized(const s2s_server *s, struct MHD_Connection *conn) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ') h++;
    const size_t kl = strlen(s->api_key), hl = strlen(h);
    unsigned char diff = (unsigned char)(kl != hl);
    for (size_t i = 0; i < kl; i++)
        diff |= (unsigned char)((i < hl ? (unsigned char)h[i] : 0) ^ (unsigned char)s->api_key[i]);
    return diff == 0;
}

/* application/json, with parameters (charset) allowed; no Content-Type is taken as JSON. */
static int json_content_type(struct MHD_Connection *conn) {
    const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!t) return 1;
    while (*t == ' ') t++;
    if (strncasecmp(t, "application/json", 16)) return 0;
    t += 16;
    while (*t == ' ') t++;
    return *t == 0 || *t == ';';
}

/* s as a JSON string's body at out (quotes, backslashes and controls escaped; at most
 * 6 strlen(s) + 1 bytes, the NUL included); returns the bytes written before the NUL. */
static size_t json_escape(char *out, const char *s) {
    size_t k = 0;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') { out[k++] = '\\'; out[k++] = (char)ch; }
        else if (ch < 0x20) k += (size_t)sprintf(out + k, "\\u%04x", ch);
        else out[k++] = (char)ch;
    }
    out[k] = 0;
    return k;
}

/* {"status": "ok", "model": the (first) file, "model_info", ...}; an ensemble's also has
 * "models": [every file], and its model_info says "ensemble of N models". */
static enum MHD_Result health(req_ctx *c) {
    s2s_server *s = c->s;
    model_ref *m = model_acquire(s);
    const char *desc = s2s_engine_describe(m->engine);  /* from the file's metadata: escaped too */
    size_t cap = 1024 + 6 * strlen(desc);
    for (int i = 0; i < s->n_models; i++) cap += 2 * (6 * strlen(s->model_paths[i]) + 4);
    char *body = malloc(cap), *esc = malloc(cap);  /* esc: one string at a time, escaped */
    if (body && esc) {
        json_escape(esc, s->model_paths[0]);
        size_t k = (size_t)snprintf(body, cap, "{\"status\":\"ok\",\"model\":\"%s\",", esc);
        if (s->n_models > 1) {
            k += (size_t)snprintf(body + k, cap - k, "\"models\":[");
            for (int i = 0; i < s->n_models; i++) {
                json_escape(esc, s->model_paths[i]);
                k += (size_t)snprintf(body + k, cap - k, "%s\"%s\"", i ? "," : "", esc);
            }
            k += (size_t)snprintf(body + k, cap - k, "],");
        }
        json_escape(esc, desc);
        snprintf(body + k, cap - k, "\"model_info\":\"%s\",\"loaded_at\":%.0f,\"uptime_s\":%.3f,\"threads\":%d,"
                 "\"max_batch\":%d}", esc, m->loaded_at, s2s_now() - s->started,
                 s->o.threads, s->o.max_batch);
    }
    model_release(s, m);
    const int ok = body && esc;
    free(esc);
    if (!ok) { free(body); return MHD_NO; }
    return send_json(c, 200, body, strlen(body));
}

static enum MHD_Result metrics(req_ctx *c) {
    size_t len;
    char *body = s2s_metrics_render(&c->s->metrics, &len);
    if (!body) return MHD_NO;
    return send_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, 0);
}

/* A worker finished the request's sentences: write the answer, then let the connection go on. */
static void job_done(s2s_job *job, void *ctx) {
    req_ctx *c = ctx;
    int bad = -1;  /* the first sentence the model could not take */
    for (int i = 0; !job->failed && i < job->n && bad < 0; i++)
        if (c->res[i].error) bad = i;
    if (job->failed) {
        c->status = 500;
        c->answer = s2s_error_json(S2S_E_INTERNAL, job->error, &c->answer_len);
    } else if (bad >= 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, c->req.api == S2S_API_ONMT ? "[%d].src: %s" : "text[%d]: %s", bad,
                 c->res[bad].error);
        s2s_metrics_error(&c->s->metrics, S2S_E_BAD_VALUE);
        c->status = 400;
        c->answer = s2s_error_json(S2S_E_BAD_VALUE, msg, &c->answer_len);
    } else {
        c->status = 200;
        c->answer = s2s_response_json(&c->req, c->res, &c->answer_len);
        if (!c->answer) {
            c->status = 500;
            c->answer = s2s_error_json(S2S_E_INTERNAL, "out of memory", &c->answer_len);
        }
    }
    /* the handler suspended the connection under c->mu before this could run; once resumed,
     * the connection may answer and free c at once, so c is not touched after */
    struct MHD_Connection *conn = c->conn;
    pthread_mutex_lock(&c->mu);
    int suspended = c->suspended;
    pthread_mutex_unlock(&c->mu);
    if (suspended) MHD_resume_connection(conn);
}

/* The whole body is in: parse it, queue the sentences, suspend until they are translated. */
static enum MHD_Result translate(req_ctx *c) {
    s2s_server *s = c->s;
    s2s_req_error e;
    s2s_api api = c->ep == S2S_EP_TRANSLATE ? S2S_API_ONMT : S2S_API_V1;
    if (s2s_request_parse(api, c->body ? c->body : "", c->len, &s->o.defaults, &s->limits, &c->req, &e))
        return send_error(c, e.kind, e.msg);
    if (!(c->res = calloc((size_t)c->req.n, sizeof *c->res)))
        return send_error(c, S2S_E_INTERNAL, "out of memory");
    int todo = 0;
    for (int i = 0; i < c->req.n; i++) todo += !(c->req.skip && c->req.skip[i]);
    if (!todo) {  /* nothing to translate (OpenNMT's empty sources): answer here */
        size_t len;
        char *a = s2s_response_json(&c->req, c->res, &len);
        return a ? send_json(c, 200, a, len) : send_error(c, S2S_E_INTERNAL, "out of memory");
    }
    c->job.opts = c->req.opts;
    c->job.n = c->req.n;
    c->job.text = (const char *const *)c->req.text;
    c->job.skip = c->req.skip;
    c->job.res = c->res;
    c->job.done = job_done;
    c->job.ctx = c;
    /* suspended before a worker can resume it: job_done takes c->mu too */
    pthread_mutex_lock(&c->mu);
    int rc = s2s_batcher_submit(s->batcher, &c->job);
    if (rc == S2S_OK) {
        MHD_suspend_connection(c->conn);
        c->suspended = 1;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == S2S_BATCHER_STOPPED) return send_error(c, S2S_E_DRAINING, "the server is shutting down");
    if (rc != S2S_OK) {
        char msg[128];
        snprintf(msg, sizeof msg, "the server is busy: over %d sentences are waiting; try again", s->o.max_queue);
        return send_error(c, S2S_E_OVERLOADED, msg);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls) {
    (void)version;
    s2s_server *s = cls;
    req_ctx *c = *con_cls;
    if (!c) {  /* the headers are in */
        if (!(c = calloc(1, sizeof *c))) return MHD_NO;
        c->s = s; c->conn = conn; c->t0 = s2s_now();
        pthread_mutex_init(&c->mu, NULL);
        *con_cls = c;
        atomic_fetch_add(&s->metrics.in_flight, 1);
        int method_ok;
        c->ep = route(url, method, &method_ok);
        if (atomic_load(&s->draining)) return send_error(c, S2S_E_DRAINING, "the server is shutting down");
        /* the page is static and public (a browser cannot send the key to load it); it asks
         * for the key when the API answers 401 */
        if (c->ep != S2S_EP_HEALTH && c->ep != S2S_EP_PAGE && !authorized(s, conn))
            return send_error(c, S2S_E_AUTH, "this server needs an API key: send \"Authorization: Bearer KEY\"");
        if (c->ep == S2S_EP_OTHER) {
            char msg[200];
            snprintf(msg, sizeof msg, "no such path: %.120s (try /, /health, /metrics, /translate, /v1/translate)",
                     url);
            return send_error(c, S2S_E_NOT_FOUND, msg);
        }
        if (!method_ok) {
            char msg[96];
            snprintf(msg, sizeof msg, "%.16s is not allowed on %s", method, s2s_endpoint_name(c->ep));
            return send_error(c, S2S_E_METHOD, msg);
        }
        if (atomic_load(&s->metrics.connections) > s->o.max_connections) {
            char msg[96];
            snprintf(msg, sizeof msg, "the server is busy: over %d open connections; try again",
                     s->o.max_connections);
            return send_error(c, S2S_E_OVERLOADED, msg);
        }
        if (c->ep == S2S_EP_TRANSLATE || c->ep == S2S_EP_V1_TRANSLATE) {
            if (!json_content_type(conn))
                return send_error(c, S2S_E_CONTENT_TYPE,
                                  "the body must be JSON: send \"Content-Type: application/json\"");
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
                char msg[96];
                snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->o.max_body);
                return send_error(c, S2S_E_BODY_TOO_LARGE, msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {  /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (c->over || c->len + n > s->o.max_body) {  /* no Content-Length said so: drop the rest */
            c->over = 1;
            c->len += n;
            return c->len > 16 * s->o.max_body ? MHD_NO : MHD_YES;  /* at some point, hang up */
        }
        if (c->len + n + 1 > c->cap) {
            size_t cap = c->cap ? c->cap : 4096;
            while (cap < c->len + n + 1) cap *= 2;
            char *b = realloc(c->body, cap);
            if (!b) return MHD_NO;
            c->body = b; c->cap = cap;
        }
        memcpy(c->body + c->len, upload_data, n);
        c->len += n;
        c->body[c->len] = 0;
        return MHD_YES;
    }
    if (c->over) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->o.max_body);
        return send_error(c, S2S_E_BODY_TOO_LARGE, msg);
    }
    if (c->suspended) {  /* resumed: the answer is ready */
        c->suspended = 0;
        char *a = c->answer;
        c->answer = NULL;
        return a ? send_json(c, c->status, a, c->answer_len) : MHD_NO;
    }
    switch (c->ep) {
    case S2S_EP_PAGE: {
        enum MHD_Result r = MHD_queue_response(conn, 200, s->page);
        s2s_metrics_request(&s->metrics, c->ep, 200, s2s_now() - c->t0);
        return r;
    }
    case S2S_EP_HEALTH: return health(c);
    case S2S_EP_METRICS: return metrics(c);
    default: return translate(c);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn; (void)toe;
    s2s_server *s = cls;
    req_ctx *c = *con_cls;
    if (!c) return;
    s2s_request_free(&c->req);
    for (int i = 0; c->res && i < c->job.n; i++) s2s_engine_result_free(&c->res[i]);
    free(c->res); free(c->body); free(c->answer);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&s->metrics.in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    (void)conn; (void)socket_ctx;
    s2s_server *s = cls;
    atomic_fetch_add(&s->metrics.connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    s2s_server *s = cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == '.')) line[--n] = 0;
    if (s->starting) memcpy(s->start_msg, line, sizeof line);  /* the failure's own words */
    else logf_(s, "http: %s", line);
}

/* ---- start and stop ------------------------------------------------------------------------- */

void s2s_serve_opts_default(s2s_serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->threads = 1;
    o->max_batch = 64;
    o->max_delay_ms = 5;
    o->defaults.beam = 1; o->defaults.nbest = 1; o->defaults.alpha = 1.0f; o->defaults.attention = 0;
    o->max_body = 1 << 20;
    o->max_sentences = 1024;
    o->max_sentence_bytes = 1024;
    o->max_sentence_words = 200;
    o->max_beam = 16;
    o->max_connections = 256;
    o->max_queue = 16384;
    o->timeout_s = 10;
}

/* The server's copies of paths[0..n) and their label for log lines; S2S_ERR when out of memory
 * (s2s_serve_stop frees what was made). */
static int copy_models(s2s_server *s, const char *const *paths, int n) {
    if (!(s->model_paths = calloc((size_t)n, sizeof(char *)))) return S2S_ERR;
    s->n_models = n;
    size_t label = 1;
    for (int i = 0; i < n; i++) {
        if (!(s->model_paths[i] = strdup(paths[i]))) return S2S_ERR;
        label += strlen(paths[i]) + 3;
    }
    if (!(s->models_label = malloc(label))) return S2S_ERR;
    char *p = s->models_label;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? " + " : "", paths[i]);
    return S2S_OK;
}

int s2s_serve_port(const s2s_server *s) { return s->port; }
s2s_metrics *s2s_serve_metrics(s2s_server *s) { return &s->metrics; }

int s2s_serve_start(const s2s_serve_opts *o, s2s_server **out, s2s_err *err) {
    *out = NULL;
    if (!o->models || o->n_models < 1) return s2s_errf(err, "serve: no model file given");
    for (int i = 0; i < o->n_models; i++)  /* more than S2S_MAX_ENSEMBLE: the library says so */
        if (!o->models[i]) return s2s_errf(err, "serve: model file %d is NULL", i + 1);
    if (o->threads < 1 || o->max_batch < 1 || o->max_beam < 1 || o->defaults.beam < 1 ||
        o->defaults.beam > o->max_beam || o->defaults.nbest < 1 || o->defaults.nbest > o->defaults.beam ||
        o->max_connections < 1 || o->timeout_s < 1 || o->max_queue < 1 ||
        !(o->max_delay_ms >= 0) || o->max_body < 1 || o->max_sentences < 1 || o->port < 0 || o->port > 65535)
        return s2s_errf(err, "serve: an option is out of range");
    s2s_server *s = s2s_calloc(1, sizeof *s, err, "the server");
    if (!s) return S2S_ERR;
    s->o = *o;
    s->o.models = NULL;  /* the caller's: model_paths are the server's copies */
    s->host = strdup(o->host ? o->host : "127.0.0.1");
    s->api_key = o->api_key ? strdup(o->api_key) : NULL;
    const int copied = copy_models(s, o->models, o->n_models) == S2S_OK;
    pthread_mutex_init(&s->model_mu, NULL);
    s2s_metrics_init(&s->metrics);
    s->started = s2s_now();
    s->limits = (s2s_req_limits){o->max_sentences, o->max_sentence_bytes, o->max_sentence_words, o->max_beam};
    if (!copied || !s->host || (o->api_key && !s->api_key)) { s2s_errf(err, "out of memory"); goto fail; }
    if (model_open(s, &s->model, err)) goto fail;
    s->page = MHD_create_response_from_buffer(s2s_page_html_len, (void *)s2s_page_html, MHD_RESPMEM_PERSISTENT);
    if (!s->page) { s2s_errf(err, "out of memory"); goto fail; }
    MHD_add_response_header(s->page, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(s->page, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(s->page, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src data:");

    s2s_batcher_opts bo = {o->threads, o->max_batch, o->max_delay_ms / 1000.0, o->max_queue,
                           &s->metrics.connections};
    if (s2s_batcher_create(&bo, translate_batch, s, &s->metrics, &s->batcher, err)) goto fail;

    /* the address: numeric or a name, IPv4 or IPv6 */
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(s->host, NULL, &hints, &ai);
    if (gai) { s2s_errf(err, "serve: --host %s: %s", s->host, gai_strerror(gai)); goto fail; }
    struct sockaddr_storage sa;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)o->port);
    }
    freeaddrinfo(ai);
    /* libmicrohttpd's own limit is above ours, so that the connections between the two get a
     * 503 with a reason; past its limit it closes new connections at once */
    const unsigned mc = (unsigned)o->max_connections, hard_limit = mc + (mc < 64 ? 64 : mc);
    s->starting = 1;
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s,  /* first, to catch all */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, hard_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_END);
    s->starting = 0;
    if (!s->d) {
        s2s_errf(err, "serve: cannot listen on %s port %d: %s", s->host, o->port,
                 *s->start_msg ? s->start_msg : "libmicrohttpd did not start");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    const int v6 = strchr(s->host, ':') != NULL;
    logf_(s, "serving %s (%s) on http://%s%s%s:%d/ with %d thread%s, batches of up to %d within %g ms",
          s->models_label, s2s_engine_describe(s->model->engine), v6 ? "[" : "", s->host, v6 ? "]" : "", s->port,
          o->threads, o->threads == 1 ? "" : "s", o->max_batch, o->max_delay_ms);
    *out = s;
    return S2S_OK;
fail:
    s2s_serve_stop(s);
    return S2S_ERR;
}

int s2s_serve_drain(s2s_server *s, double timeout) {
    atomic_store(&s->draining, 1);
    if (s->d) {
        MHD_socket fd = MHD_quiesce_daemon(s->d);  /* stop accepting; the socket is ours to close */
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    double end = s2s_now() + timeout;
    int left;
    while ((left = atomic_load(&s->metrics.in_flight)) > 0 && s2s_now() < end) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return left;
}

void s2s_serve_stop(s2s_server *s) {
    if (!s) return;
    atomic_store(&s->draining, 1);
    /* no connection may be suspended when the daemon stops: the queued jobs finish (and resume
     * theirs) and later ones are refused, before it stops */
    s2s_batcher_stop(s->batcher);
    if (s->d) MHD_stop_daemon(s->d);
    s2s_batcher_free(s->batcher);
    if (s->page) MHD_destroy_response(s->page);
    if (s->model) model_release(s, s->model);
    pthread_mutex_destroy(&s->model_mu);
    for (int i = 0; i < s->n_models; i++) free(s->model_paths[i]);
    free(s->model_paths); free(s->models_label); free(s->host); free(s->api_key);
    free(s);
}
