/* `seq2seq serve` over HTTP, driven by libcurl on loopback ports the kernel picks: every
 * endpoint, every refusal with its status, limits, slow and excess clients, concurrent clients
 * whose translations equal the CLI's, reloads under load, and the program's signals (SIGHUP
 * reload, SIGTERM drain, exit 0). Most servers run inside this process (s2s_serve_start); the
 * signal tests start the program ($S2S_BIN, default ./seq2seq) and always stop it. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_serve.h"

#define MODEL_A "tests/fixtures/torch_tiny_attn.safetensors"
static char tmpdir[64], model_b[128], model_c[128], model_s8[128], model_plain[128], s2s_bin[256];

/* ---- helpers ------------------------------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char ctype[128];
    char allow[64], www[64], conn[32];
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, sz * n);
    r->body = b; r->len += sz * n; r->body[r->len] = 0;
    return sz * n;
}
static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    size_t len = sz * n;
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), p);
    line[strcspn(line, "\r\n")] = 0;
    if (!strncasecmp(line, "Allow: ", 7)) snprintf(r->allow, sizeof r->allow, "%.60s", line + 7);
    if (!strncasecmp(line, "WWW-Authenticate: ", 18)) snprintf(r->www, sizeof r->www, "%.60s", line + 18);
    if (!strncasecmp(line, "Connection: ", 12)) snprintf(r->conn, sizeof r->conn, "%.30s", line + 12);
    return len;
}

/* A request to http://127.0.0.1:port/path. body NULL = no body; ctype NULL = no Content-Type;
 * auth = the Authorization header's value or NULL. */
static resp http(int port, const char *method, const char *path, const char *ctype, const char *body, size_t len,
                 const char *auth) {
    resp r = {0};
    CURL *c = curl_easy_init();
    char url[512], h1[256], h2[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *hd = NULL;
    if (ctype) { snprintf(h1, sizeof h1, "Content-Type: %s", ctype); hd = curl_slist_append(hd, h1); }
    else if (body) hd = curl_slist_append(hd, "Content-Type:");  /* curl would send a form type */
    if (auth) { snprintf(h2, sizeof h2, "Authorization: %s", auth); hd = curl_slist_append(hd, h2); }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET")) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) snprintf(r.ctype, sizeof r.ctype, "%s", ct);
    } else {
        r.status = -1;
        fprintf(stderr, "  curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (!r.body) r.body = calloc(1, 1);
    return r;
}
static resp post_json(int port, const char *path, const char *body) {
    return http(port, "POST", path, "application/json", body, strlen(body), NULL);
}
static void resp_free(resp *r) { free(r->body); memset(r, 0, sizeof *r); }

/* The "kind" of a JSON error body ("" when the body is not one). */
static const char *error_kind(const resp *r, char *buf, size_t n) {
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind"), *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    snprintf(buf, n, "%s", cJSON_IsString(k) && cJSON_IsString(st) && !strcmp(st->valuestring, "error") &&
                               cJSON_IsString(e) && *e->valuestring ? k->valuestring : "");
    cJSON_Delete(j);
    return buf;
}

/* Log lines of in-process servers, for the tests that look for one. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];
static void log_line(void *ctx, const char *line) {
    (void)ctx;
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_buf);
    snprintf(log_buf + n, sizeof log_buf - n, "%s\n", line);
    pthread_mutex_unlock(&log_mu);
}

/* The server's defaults, on a port the kernel picks, model A, logging into log_buf. */
static s2s_serve_opts opts(void) {
    static const char *const model_a[1] = {MODEL_A};
    s2s_serve_opts o;
    s2s_serve_opts_default(&o);
    o.port = 0;
    o.log = log_line;
    o.models = model_a;
    o.n_models = 1;
    return o;
}
/* A server in this process; NULL (and the test fails) when it does not start. */
static s2s_server *start(const s2s_serve_opts *o) {
    s2s_server *s = NULL;
    s2s_err err;
    CHECK_MSG(s2s_serve_start(o, &s, &err) == S2S_OK, "server: %s", err.msg);
    return s;
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { close(fd); return -1; }
    return fd;
}
static void send_all(int fd, const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w; n -= (size_t)w;
    }
}
/* Reads until the peer closes or `secs` pass; returns the bytes read (-1: still open). */
static long read_until_closed(int fd, double secs, char *buf, size_t cap) {
    double end = now() + secs;
    size_t got = 0;
    for (;;) {
        int ms = (int)((end - now()) * 1000);
        if (ms <= 0) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) continue;
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) return (long)got;
        if (buf && got + (size_t)r < cap) { memcpy(buf + got, tmp, (size_t)r); buf[got + (size_t)r] = 0; }
        got += (size_t)r;
    }
}

/* s as a JSON string, quotes included (malloc'd). */
static char *json_string(const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *o = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return o;
}

/* ---- reference translations from the CLI ----------------------------------------------------- */

#define N_IN 48
static char *inputs[N_IN];
static int n_inputs;

/* The sources of tests/data/tiny.tsv and a few sentences it does not have. */
static int load_inputs(void) {
    FILE *f = fopen("tests/data/tiny.tsv", "r");
    if (!f) return -1;
    char line[512];
    while (n_inputs < N_IN - 5 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\t\r\n")] = 0;
        inputs[n_inputs++] = strdup(line);
    }
    fclose(f);
    const char *extra[] = {"I'm home.", "Café, s'il vous plaît ?", "who are you ?", "go go go go go go go go go go go go .", "x"};
    for (int i = 0; i < 5; i++) inputs[n_inputs++] = strdup(extra[i]);
    return 0;
}

/* `seq2seq translate --model M [args]` on every input: out[i * per + k] = line (score<TAB>text
 * lines when args asks for --nbest; per = hypotheses per input). Returns 0 when every input got
 * its lines. */
static int cli_translate(const char *model, const char *args, int per, char **out) {
    char in[128], cmd[1024];
    snprintf(in, sizeof in, "%s/in.txt", tmpdir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < n_inputs; i++) fprintf(f, "%s\n", inputs[i]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s translate --model %s %s < %s", s2s_bin, model, args, in);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (n < n_inputs * per) out[n] = strdup(line);
        n++;
    }
    int st = pclose(p);
    if (st != 0 || n != n_inputs * per) {
        fprintf(stderr, "  %s: exit %d, %d lines for %d inputs x %d\n", cmd, st, n, n_inputs, per);
        return -1;
    }
    return 0;
}

static char *greedy_a[N_IN], *greedy_b[N_IN], *scored_a[N_IN], *beam_a[N_IN * 2];

/* ---- endpoints ------------------------------------------------------------------------------ */

static int test_health_page_metrics(void) {
    s2s_serve_opts o = opts();
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    CHECK(port > 0);
    resp r = http(port, "GET", "/health", NULL, NULL, 0, NULL);
    cJSON *j = cJSON_Parse(r.body);
    CHECK(r.status == 200 && !strncmp(r.ctype, "application/json", 16));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "status")) && !strcmp(cJSON_GetObjectItem(j, "status")->valuestring, "ok"));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "model")) && strstr(cJSON_GetObjectItem(j, "model")->valuestring, "torch_tiny"));
    /* one model: no "models" list, and the description is the model's own (an ensemble's: test_ensemble) */
    CHECK(!cJSON_GetObjectItem(j, "models") && cJSON_IsString(cJSON_GetObjectItem(j, "model_info")) &&
          !strcmp(cJSON_GetObjectItem(j, "model_info")->valuestring,
                  "attn, embed 16, hidden 16, layers 2, num_steps 10, vocab 20/24"));
    cJSON_Delete(j);
    resp_free(&r);
    r = http(port, "GET", "/translator/health", NULL, NULL, 0, NULL);  /* OpenNMT-py's url_root */
    CHECK(r.status == 200);
    resp_free(&r);

    r = http(port, "GET", "/", NULL, NULL, 0, NULL);
    CHECK(r.status == 200 && !strncmp(r.ctype, "text/html", 9));
    CHECK(strstr(r.body, "<title>") && strstr(r.body, "id=\"translate\"") && strstr(r.body, "id=\"heatmap\""));
    /* nothing from the network: no scripts, styles, fonts or images from elsewhere */
    CHECK(!strstr(r.body, "src=\"http") && !strstr(r.body, "href=\"http") && !strstr(r.body, "url(http") &&
          !strstr(r.body, "@import") && !strstr(r.body, "fetch(\"http") && !strstr(r.body, "//cdn"));
    resp_free(&r);
    r = http(port, "HEAD", "/", NULL, NULL, 0, NULL);
    CHECK(r.status == 200 && r.len == 0);
    resp_free(&r);

    r = post_json(port, "/v1/translate", "{\"text\": [\"go .\", \"hi .\"]}");
    CHECK(r.status == 200);
    resp_free(&r);
    r = post_json(port, "/v1/translate", "{\"text\": 1}");
    CHECK(r.status == 400);
    resp_free(&r);
    r = http(port, "GET", "/metrics", NULL, NULL, 0, NULL);
    CHECK(r.status == 200 && strstr(r.ctype, "text/plain") && strstr(r.ctype, "version=0.0.4"));
    CHECK(strstr(r.body, "s2s_requests_total{endpoint=\"/v1/translate\",code=\"200\"} 1\n"));
    CHECK(strstr(r.body, "s2s_requests_total{endpoint=\"/v1/translate\",code=\"400\"} 1\n"));
    CHECK(strstr(r.body, "s2s_requests_total{endpoint=\"/\",code=\"200\"} 2\n"));
    CHECK(strstr(r.body, "s2s_sentences_total 2\n"));
    CHECK(strstr(r.body, "s2s_errors_total{kind=\"bad_value\"} 1\n"));
    CHECK(strstr(r.body, "# TYPE s2s_request_duration_seconds histogram\n"));
    CHECK(strstr(r.body, "s2s_request_duration_seconds_bucket{endpoint=\"/v1/translate\",le=\"+Inf\"} 2\n"));
    CHECK(strstr(r.body, "s2s_request_duration_seconds_count{endpoint=\"/v1/translate\"} 2\n"));
    CHECK(strstr(r.body, "# TYPE s2s_batch_sentences histogram\n") && strstr(r.body, "s2s_batch_sentences_sum 2.000000\n"));
    CHECK(strstr(r.body, "s2s_model_reloads_total{result=\"ok\"} 0\n"));
    /* every line is a comment or `name{labels} value` */
    int bad = 0;
    for (const char *l = r.body; *l;) {
        size_t n = strcspn(l, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < 511 ? n : 511), l);
        if (*line != '#') {
            char *sp = strrchr(line, ' ');
            bad += !sp || !strchr("0123456789", sp[1]) || !strchr(line, '{') != !strchr(line, '}');
            if (!sp) fprintf(stderr, "  metrics line: %s\n", line);
        }
        l += n + (l[n] == '\n');
    }
    CHECK(bad == 0);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

/* OpenNMT-py's format: [[{src, tgt, n_best, pred_score} per input] per rank]. */
static int test_onmt_format(void) {
    s2s_serve_opts o = opts();
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    resp r = post_json(port, "/translate",
                       "[{\"src\": \"go .\", \"id\": 100}, {\"src\": \"  I'm home. \", \"id\": 100}, {\"src\": \"   \"}]");
    CHECK(r.status == 200);
    cJSON *j = cJSON_Parse(r.body), *rank = cJSON_GetArrayItem(j, 0);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1 && cJSON_IsArray(rank) && cJSON_GetArraySize(rank) == 3);
    for (int i = 0; i < 3 && cJSON_GetArraySize(rank) == 3; i++) {
        cJSON *e = cJSON_GetArrayItem(rank, i);
        CHECK(cJSON_GetArraySize(e) == 4 && cJSON_IsString(cJSON_GetObjectItem(e, "src")) &&
              cJSON_IsString(cJSON_GetObjectItem(e, "tgt")) && cJSON_IsNumber(cJSON_GetObjectItem(e, "n_best")) &&
              cJSON_GetObjectItem(e, "n_best")->valueint == 1 && cJSON_IsNumber(cJSON_GetObjectItem(e, "pred_score")));
    }
    if (cJSON_GetArraySize(rank) == 3) {
        cJSON *e0 = cJSON_GetArrayItem(rank, 0), *e1 = cJSON_GetArrayItem(rank, 1), *e2 = cJSON_GetArrayItem(rank, 2);
        CHECK(!strcmp(cJSON_GetObjectItem(e0, "src")->valuestring, "go ."));
        CHECK_MSG(!strcmp(cJSON_GetObjectItem(e0, "tgt")->valuestring, greedy_a[0]), "tgt '%s', CLI '%s'",
                  cJSON_GetObjectItem(e0, "tgt")->valuestring, greedy_a[0]);
        /* the score is the CLI's --nbest 1 score (printed with 4 decimals) */
        CHECK_NEAR(cJSON_GetObjectItem(e0, "pred_score")->valuedouble, atof(scored_a[0]), 0, 5.1e-5);
        /* the whitespace around src comes back around tgt; the text is the CLI's for "I'm home." */
        char want[256];
        snprintf(want, sizeof want, "  %s ", greedy_a[n_inputs - 5]);
        CHECK(!strcmp(cJSON_GetObjectItem(e1, "src")->valuestring, "  I'm home. "));
        CHECK_MSG(!strcmp(cJSON_GetObjectItem(e1, "tgt")->valuestring, want), "tgt '%s'", cJSON_GetObjectItem(e1, "tgt")->valuestring);
        CHECK(!strcmp(cJSON_GetObjectItem(e2, "tgt")->valuestring, "") && cJSON_GetObjectItem(e2, "pred_score")->valuedouble == 0);
    }
    cJSON_Delete(j);
    resp_free(&r);
    /* only blank sources: answered without the queue */
    r = post_json(port, "/translator/translate", "[{\"src\": \"\"}]");
    CHECK(r.status == 200 && !strcmp(r.body, "[[{\"src\":\"\",\"tgt\":\"\",\"n_best\":1,\"pred_score\":0}]]"));
    resp_free(&r);
    s2s_serve_stop(s);

    /* the server's --beam 3 --nbest 2: one list per rank, each with every input */
    o = opts();
    o.defaults.beam = 3; o.defaults.nbest = 2;
    if (!(s = start(&o))) return 0;
    char body[4096] = "[";
    for (int i = 0; i < n_inputs; i++) {
        char *esc = json_string(inputs[i]);
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s{\"src\": %s, \"id\": 1}", i ? "," : "", esc);
        free(esc);
    }
    strcat(body, "]");
    r = post_json(s2s_serve_port(s), "/translate", body);
    CHECK(r.status == 200);
    j = cJSON_Parse(r.body);
    CHECK(cJSON_GetArraySize(j) == 2);
    for (int k = 0; k < 2 && cJSON_GetArraySize(j) == 2; k++) {
        cJSON *rk = cJSON_GetArrayItem(j, k);
        CHECK(cJSON_GetArraySize(rk) == n_inputs);
        for (int i = 0; i < n_inputs && cJSON_GetArraySize(rk) == n_inputs; i++) {
            cJSON *e = cJSON_GetArrayItem(rk, i);
            const char *cli = beam_a[i * 2 + k], *tab = strchr(cli, '\t');
            CHECK(cJSON_GetObjectItem(e, "n_best")->valueint == 2);
            CHECK_MSG(tab && !strcmp(cJSON_GetObjectItem(e, "tgt")->valuestring, tab + 1), "input %d rank %d: '%s' vs CLI '%s'",
                      i, k, cJSON_GetObjectItem(e, "tgt")->valuestring, cli);
            CHECK_NEAR(cJSON_GetObjectItem(e, "pred_score")->valuedouble, atof(cli), 0, 5.1e-5);
        }
    }
    cJSON_Delete(j);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

static int test_v1_format(void) {
    s2s_serve_opts o = opts();
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    resp r = post_json(port, "/v1/translate", "{\"text\": [\"go .\", \"I'm home.\"], \"beam\": 3, \"nbest\": 2, "
                                              "\"alpha\": 1.0, \"attention\": true}");
    CHECK(r.status == 200);
    cJSON *j = cJSON_Parse(r.body), *tr = cJSON_GetObjectItem(j, "translations");
    CHECK(cJSON_GetArraySize(tr) == 2);
    for (int i = 0; i < 2 && cJSON_GetArraySize(tr) == 2; i++) {
        cJSON *t = cJSON_GetArrayItem(tr, i), *h = cJSON_GetObjectItem(t, "hypotheses");
        cJSON *st = cJSON_GetObjectItem(t, "src_tokens");
        int in = i == 0 ? 0 : n_inputs - 5, C = cJSON_GetArraySize(st);
        CHECK(!strcmp(cJSON_GetObjectItem(t, "src")->valuestring, i == 0 ? "go ." : "I'm home."));
        /* the source as the model read it: preprocessed tokens, then <eos> */
        CHECK(cJSON_IsArray(st) && C >= 2 && !strcmp(cJSON_GetArrayItem(st, C - 1)->valuestring, "<eos>"));
        if (i == 1) CHECK(C == 4 && !strcmp(cJSON_GetArrayItem(st, 0)->valuestring, "i'm") &&
                          !strcmp(cJSON_GetArrayItem(st, 2)->valuestring, "."));
        CHECK(cJSON_GetArraySize(h) == 2);
        for (int k = 0; k < 2 && cJSON_GetArraySize(h) == 2; k++) {
            cJSON *hk = cJSON_GetArrayItem(h, k), *a = cJSON_GetObjectItem(hk, "attention");
            const char *cli = beam_a[in * 2 + k], *tab = strchr(cli, '\t'), *text = cJSON_GetObjectItem(hk, "text")->valuestring;
            CHECK_MSG(tab && !strcmp(text, tab + 1), "'%s' vs CLI '%s'", text, cli);
            CHECK_NEAR(cJSON_GetObjectItem(hk, "score")->valuedouble, atof(cli), 0, 5.1e-5);
            /* each hypothesis' own attention: one row per target token (its output, then <eos> if
             * it ended), one column per source token, rows summing to 1 */
            cJSON *tt = cJSON_GetObjectItem(a, "tgt_tokens"), *w = cJSON_GetObjectItem(a, "weights");
            CHECK(cJSON_IsArray(tt) && cJSON_IsArray(w));
            int R = cJSON_GetArraySize(tt);
            CHECK(R >= 1 && cJSON_GetArraySize(w) == R);
            for (int r2 = 0; r2 < R && cJSON_GetArraySize(w) == R; r2++) {
                cJSON *row = cJSON_GetArrayItem(w, r2);
                CHECK(cJSON_GetArraySize(row) == C);
                double sum = 0;
                for (int c = 0; c < cJSON_GetArraySize(row); c++) sum += cJSON_GetArrayItem(row, c)->valuedouble;
                CHECK_NEAR(sum, 1.0, 0, 1e-5);
            }
            char joined[512] = "";  /* the target tokens are the hypothesis' own */
            for (int t2 = 0; t2 < R; t2++) {
                const char *tok = cJSON_GetArrayItem(tt, t2)->valuestring;
                if (!strcmp(tok, "<eos>") && t2 == R - 1) break;
                snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", t2 ? " " : "", tok);
            }
            CHECK_MSG(!strcmp(joined, text), "hypothesis %d: attention rows '%s' for '%s'", k, joined, text);
        }
    }
    cJSON_Delete(j);
    resp_free(&r);
    /* one string is one sentence; no attention unless asked; greedy = the CLI's translation */
    r = post_json(port, "/v1/translate", "{\"text\": \"go .\"}");
    j = cJSON_Parse(r.body);
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "translations"), 0);
    CHECK(r.status == 200 && t0 && !cJSON_GetObjectItem(t0, "src_tokens") &&
          !cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "hypotheses"), 0), "attention"));
    CHECK(t0 && !strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "hypotheses"), 0), "text")->valuestring,
                        greedy_a[0]));
    cJSON_Delete(j);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

/* A sentence the model cannot take fails alone; a plain model answers without attention. */
static int test_engine(void) {
    s2s_engine *e;
    s2s_err err;
    const char *a[1] = {MODEL_A};
    CHECK_MSG(s2s_engine_open(a, 1, 2, 8, 4, NULL, &e, &err) == S2S_OK, "%s", err.msg);
    if (!e) return 0;
    const char *src[] = {"go .", "caf\xe9 .", "I'm home."};
    s2s_engine_result res[9];
    s2s_decode_opts o = {2, 2, 1.0f, 1};
    CHECK(s2s_engine_translate(e, src, 3, &o, res, &err) == S2S_OK);
    CHECK(!res[0].error && !res[2].error && res[1].error && strstr(res[1].error, "UTF-8"));
    CHECK(res[0].n_hyps == 2 && !strcmp(res[0].hyps[0].text, strchr(beam_a[0], '\t') + 1));
    CHECK(res[2].n_src == 4 && res[2].n_hyps == 2 && res[1].n_hyps == 0);
    for (int k = 0; k < res[2].n_hyps; k++) CHECK(res[2].hyps[k].attn && res[2].hyps[k].n_tgt >= 1);
    for (int i = 0; i < 3; i++) s2s_engine_result_free(&res[i]);
    const char *many[9] = {"a", "a", "a", "a", "a", "a", "a", "a", "a"};
    CHECK(s2s_engine_translate(e, many, 9, &o, res, &err) == S2S_ERR && strstr(err.msg, "over the 8"));
    s2s_engine_close(e);

    s2s_serve_opts so = opts();
    const char *plain[1] = {model_plain};  /* s2s_serve_start copies the paths */
    so.models = plain;
    s2s_server *s = start(&so);
    if (!s) return 0;
    resp r = post_json(s2s_serve_port(s), "/v1/translate", "{\"text\": [\"go .\"], \"attention\": true}");
    cJSON *j = cJSON_Parse(r.body), *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "translations"), 0);
    cJSON *h0 = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "hypotheses"), 0);
    CHECK(r.status == 200 && t && h0 && cJSON_IsNull(cJSON_GetObjectItem(h0, "attention")) &&
          !cJSON_GetObjectItem(t, "src_tokens") && cJSON_GetArraySize(cJSON_GetObjectItem(t, "hypotheses")) == 1);
    cJSON_Delete(j);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

/* ---- refusals -------------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *method, *path, *ctype, *body;
    long status;
    const char *kind;
} bad_case;

static int test_errors(void) {
    s2s_serve_opts o = opts();
    o.max_sentence_bytes = 64; o.max_sentence_words = 5; o.max_sentences = 3;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    static const bad_case cases[] = {
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"]} x", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "[\"go .\"]", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"a\"], \"text\": [\"b\"]}", 400, "bad_json"},
        {"POST", "/translate", "application/json", "{\"src\": \"go .\"}", 400, "bad_json"},
        {"POST", "/translate", "application/json", "[\"go .\"]", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"beams\": 2}", 400, "unknown_field"},
        {"POST", "/translate", "application/json", "[{\"src\": \"go .\", \"ref\": \"va !\"}]", 400, "unknown_field"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"beam\": 0}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"beam\": 2.5}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"beam\": 17}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"beam\": 2, \"nbest\": 3}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"alpha\": \"1\"}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\"], \"attention\": 1}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go .\", 3]}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": []}", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{}", 400, "bad_value"},
        {"POST", "/translate", "application/json", "[]", 400, "bad_value"},
        {"POST", "/translate", "application/json", "[{\"id\": 1}]", 400, "bad_value"},
        {"POST", "/translate", "application/json", "[{\"src\": 5}]", 400, "bad_value"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"caf\xe9 !\"]}", 400, "bad_utf8"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"\xed\xa0\x80\"]}", 400, "bad_utf8"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"go\\u0000 .\"]}", 400, "bad_utf8"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"\\ud800\"]}", 400, "bad_json"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"a b c d e f\"]}", 413, "too_long"},
        {"POST", "/v1/translate", "application/json",
         "{\"text\": [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}", 413, "too_long"},
        {"POST", "/v1/translate", "application/json", "{\"text\": [\"a\", \"b\", \"c\", \"d\"]}", 413, "too_long"},
        {"POST", "/translate", "application/json", "[{\"src\": \"a\"}, {\"src\": \"a\"}, {\"src\": \"a\"}, {\"src\": \"a\"}]", 413, "too_long"},
        {"POST", "/v1/translate", "text/plain", "{\"text\": [\"go .\"]}", 415, "unsupported_media_type"},
        {"POST", "/translate", "application/x-www-form-urlencoded", "[{\"src\": \"go .\"}]", 415, "unsupported_media_type"},
        {"POST", "/v1/translate", "application/jsonx", "{\"text\": [\"go .\"]}", 415, "unsupported_media_type"},
        {"GET", "/v1/translate", NULL, NULL, 405, "method_not_allowed"},
        {"POST", "/health", "application/json", "{}", 405, "method_not_allowed"},
        {"DELETE", "/", NULL, NULL, 405, "method_not_allowed"},
        {"GET", "/nope", NULL, NULL, 404, "not_found"},
        {"GET", "/translate/", NULL, NULL, 404, "not_found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *b = &cases[i];
        resp r = http(port, b->method, b->path, b->ctype, b->body, b->body ? strlen(b->body) : 0, NULL);
        char k[64];
        error_kind(&r, k, sizeof k);
        CHECK_MSG(r.status == b->status && !strcmp(k, b->kind) && !strncmp(r.ctype, "application/json", 16),
                  "case %zu (%s %s %s): status %ld kind '%s', want %ld '%s'; body %s", i, b->method, b->path,
                  b->body ? b->body : "", r.status, k, b->status, b->kind, r.body);
        if (b->status == 405) CHECK(*r.allow);
        resp_free(&r);
    }
    /* charset is fine, and no Content-Type at all is taken as JSON */
    resp r = http(port, "POST", "/v1/translate", "application/json; charset=utf-8", "{\"text\": [\"go .\"]}", 18, NULL);
    CHECK(r.status == 200);
    resp_free(&r);
    r = http(port, "POST", "/v1/translate", NULL, "{\"text\": [\"go .\"]}", 18, NULL);
    CHECK(r.status == 200);
    resp_free(&r);
    /* the server keeps serving after all of that; the refusals are counted by kind */
    r = post_json(port, "/v1/translate", "{\"text\": [\"go .\"]}");
    CHECK(r.status == 200);
    resp_free(&r);
    s2s_metrics *m = s2s_serve_metrics(s);
    CHECK(atomic_load(&m->errors[S2S_E_BAD_UTF8]) == 3 && atomic_load(&m->errors[S2S_E_TOO_LONG]) == 4 &&
          atomic_load(&m->errors[S2S_E_CONTENT_TYPE]) == 3);
    s2s_serve_stop(s);
    return 0;
}

/* a body over the limit: refused before it is read (Content-Length), or while it streams in */
static size_t read_zeros(char *buf, size_t sz, size_t n, void *ud) {
    size_t *left = ud, k = sz * n < *left ? sz * n : *left;
    memset(buf, ' ', k);
    *left -= k;
    return k;
}

static int test_body_limit(void) {
    s2s_serve_opts o = opts();
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    size_t big = (1 << 20) + 1;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '[';
    body[big - 1] = ']';
    body[big] = 0;
    resp r = http(port, "POST", "/translate", "application/json", body, big, NULL);
    char k[64];
    CHECK_MSG(r.status == 413 && !strcmp(error_kind(&r, k, sizeof k), "body_too_large"), "status %ld %s", r.status, r.body);
    resp_free(&r);
    /* exactly 1 MiB is not over: whitespace around a valid request */
    memset(body, ' ', big);
    memcpy(body, "{\"text\": [\"go .\"]}", 18);
    r = http(port, "POST", "/v1/translate", "application/json", body, big - 1, NULL);
    CHECK_MSG(r.status == 200, "status %ld %s", r.status, r.body);
    resp_free(&r);
    free(body);
    /* chunked, no Content-Length: counted as it arrives */
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/translate", port);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Transfer-Encoding: chunked");
    size_t left = 3 << 20;
    r = (resp){0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_zeros);
    curl_easy_setopt(c, CURLOPT_READDATA, &left);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    CHECK_MSG(rc == CURLE_OK && r.status == 413 && r.body && strstr(r.body, "body_too_large"), "%s, status %ld",
              curl_easy_strerror(rc), r.status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    resp_free(&r);
    r = post_json(port, "/v1/translate", "{\"text\": [\"go .\"]}");
    CHECK(r.status == 200);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

static int test_api_key(void) {
    s2s_serve_opts o = opts();
    o.api_key = "s3cret-key";
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    const char *body = "{\"text\": [\"go .\"]}";
    const char *bad[] = {NULL, "Bearer s3cret-kex", "Bearer s3cret-key2", "Bearer s3cret-ke", "Basic s3cret-key", "s3cret-key", "Bearer "};
    char k[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = http(port, "POST", "/v1/translate", "application/json", body, strlen(body), bad[i]);
        CHECK_MSG(r.status == 401 && !strcmp(error_kind(&r, k, sizeof k), "unauthorized") && strstr(r.www, "Bearer"),
                  "auth '%s': %ld", bad[i] ? bad[i] : "(none)", r.status);
        resp_free(&r);
    }
    resp r = http(port, "POST", "/v1/translate", "application/json", body, strlen(body), "Bearer s3cret-key");
    CHECK(r.status == 200);
    resp_free(&r);
    r = http(port, "POST", "/translate", "application/json", "[{\"src\": \"go .\"}]", 17, "bearer s3cret-key");
    CHECK(r.status == 200);
    resp_free(&r);
    r = http(port, "GET", "/metrics", NULL, NULL, 0, NULL);
    CHECK(r.status == 401);
    resp_free(&r);
    r = http(port, "GET", "/metrics", NULL, NULL, 0, "Bearer s3cret-key");
    CHECK(r.status == 200);
    resp_free(&r);
    r = http(port, "GET", "/nope", NULL, NULL, 0, NULL);  /* nothing about paths without the key */
    CHECK(r.status == 401);
    resp_free(&r);
    r = http(port, "GET", "/health", NULL, NULL, 0, NULL);
    CHECK(r.status == 200);
    resp_free(&r);
    r = http(port, "GET", "/", NULL, NULL, 0, NULL);  /* the page is public; its API calls are not */
    CHECK(r.status == 200);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

/* ---- load: excess connections, a full queue, slow clients ------------------------------------ */

static int wait_for(atomic_int *v, int want, double secs) {
    double end = now() + secs;
    while (atomic_load(v) != want && now() < end) sleep_ms(2);
    return atomic_load(v) == want;
}

static int test_too_many_connections(void) {
    s2s_serve_opts o = opts();
    o.max_connections = 2;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    int a = raw_connect(port), b = raw_connect(port);
    CHECK(a >= 0 && b >= 0 && wait_for(&s2s_serve_metrics(s)->connections, 2, 5));
    resp r = post_json(port, "/v1/translate", "{\"text\": [\"go .\"]}");
    char k[64];
    CHECK_MSG(r.status == 503 && !strcmp(error_kind(&r, k, sizeof k), "overloaded") && !strcasecmp(r.conn, "close"),
              "status %ld %s", r.status, r.body);
    resp_free(&r);
    close(a); close(b);
    CHECK(wait_for(&s2s_serve_metrics(s)->connections, 0, 5));
    r = post_json(port, "/v1/translate", "{\"text\": [\"go .\"]}");
    CHECK(r.status == 200);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

typedef struct bg_req { int port; const char *path, *body; resp r; } bg_req;
static void *bg_post(void *arg) {
    bg_req *b = arg;
    b->r = post_json(b->port, b->path, b->body);
    return NULL;
}

static int test_queue_full(void) {
    s2s_serve_opts o = opts();
    o.max_queue = 2;
    o.max_delay_ms = 1500;  /* the first request waits for company that does not come */
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    int idle = raw_connect(port);  /* an open connection with no request: the batch waits */
    CHECK(idle >= 0 && wait_for(&s2s_serve_metrics(s)->connections, 1, 5));
    bg_req a = {port, "/v1/translate", "{\"text\": [\"go .\", \"hi .\"]}", {0}};
    pthread_t th;
    pthread_create(&th, NULL, bg_post, &a);
    CHECK(wait_for(&s2s_serve_metrics(s)->queued, 2, 5));
    resp r = post_json(port, "/v1/translate", "{\"text\": [\"run !\"]}");
    char k[64];
    CHECK_MSG(r.status == 503 && !strcmp(error_kind(&r, k, sizeof k), "overloaded"), "status %ld %s", r.status, r.body);
    resp_free(&r);
    pthread_join(th, NULL);
    CHECK(a.r.status == 200);
    resp_free(&a.r);
    close(idle);
    s2s_serve_stop(s);
    return 0;
}

static int test_slow_clients(void) {
    s2s_serve_opts o = opts();
    o.timeout_s = 1;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    int never = raw_connect(port), half = raw_connect(port), body = raw_connect(port);
    send_all(half, "POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Ty");  /* stops in the headers */
    send_all(body, "POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100\r\n\r\n{\"text\": [\"go");  /* stops in the body */
    double t0 = now();
    resp r = post_json(port, "/v1/translate", "{\"text\": [\"go .\"]}");  /* the others are served */
    CHECK(r.status == 200);
    resp_free(&r);
    CHECK(read_until_closed(never, 5, NULL, 0) >= 0);
    CHECK(read_until_closed(half, 5, NULL, 0) >= 0);
    CHECK(read_until_closed(body, 5, NULL, 0) >= 0);
    double dt = now() - t0;
    CHECK_MSG(dt > 0.5 && dt < 4, "slow connections closed after %.2f s (timeout 1 s)", dt);
    close(never); close(half); close(body);
    CHECK(wait_for(&s2s_serve_metrics(s)->in_flight, 0, 5));
    s2s_serve_stop(s);
    return 0;
}

/* ---- concurrent clients: the CLI's translations ---------------------------------------------- */

typedef struct client {
    int port, id, requests, mismatches, failures;
    char *const *want;          /* greedy translations expected for inputs[] */
    char *const *alt;           /* NULL, or a second acceptable set (another model) */
} client;

static int sentence_ok(const client *c, int in, const char *got) {
    return !strcmp(got, c->want[in]) || (c->alt && !strcmp(got, c->alt[in]));
}

/* Requests of 1..5 inputs, alternating the two APIs; counts answers that differ. */
static void *client_run(void *arg) {
    client *c = arg;
    unsigned seed = 1234u + (unsigned)c->id * 7919u;
    for (int q = 0; q < c->requests; q++) {
        int n = 1 + (int)(rand_r(&seed) % 5), idx[5];
        char body[2048];
        int onmt = (q + c->id) % 2;
        strcpy(body, onmt ? "[" : "{\"text\": [");
        for (int k = 0; k < n; k++) {
            idx[k] = (int)(rand_r(&seed) % (unsigned)n_inputs);
            char *esc = json_string(inputs[idx[k]]);
            snprintf(body + strlen(body), sizeof body - strlen(body), onmt ? "%s{\"src\": %s}" : "%s%s", k ? ", " : "", esc);
            free(esc);
        }
        strcat(body, onmt ? "]" : "]}");
        resp r = post_json(c->port, onmt ? "/translate" : "/v1/translate", body);
        if (r.status != 200) { c->failures++; fprintf(stderr, "  client %d: %ld %s\n", c->id, r.status, r.body); resp_free(&r); continue; }
        cJSON *j = cJSON_Parse(r.body);
        cJSON *list = onmt ? cJSON_GetArrayItem(j, 0) : cJSON_GetObjectItem(j, "translations");
        if (cJSON_GetArraySize(list) != n) c->failures++;
        for (int k = 0; k < n && cJSON_GetArraySize(list) == n; k++) {
            cJSON *t = cJSON_GetArrayItem(list, k);
            const cJSON *tx = onmt ? cJSON_GetObjectItem(t, "tgt")
                                   : cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "hypotheses"), 0), "text");
            if (!cJSON_IsString(tx) || !sentence_ok(c, idx[k], tx->valuestring)) {
                c->mismatches++;
                fprintf(stderr, "  client %d: '%s' -> '%s', CLI '%s'\n", c->id, inputs[idx[k]],
                        cJSON_IsString(tx) ? tx->valuestring : "?", c->want[idx[k]]);
            }
        }
        cJSON_Delete(j);
        resp_free(&r);
    }
    return NULL;
}

static void run_clients(int port, int n, int requests, char *const *want, char *const *alt, int *mism, int *fail) {
    client cl[16];
    pthread_t th[16];
    for (int i = 0; i < n; i++) {
        cl[i] = (client){port, i, requests, 0, 0, want, alt};
        pthread_create(&th[i], NULL, client_run, &cl[i]);
    }
    *mism = *fail = 0;
    for (int i = 0; i < n; i++) { pthread_join(th[i], NULL); *mism += cl[i].mismatches; *fail += cl[i].failures; }
}

static int test_concurrent_clients(void) {
    s2s_serve_opts o = opts();
    o.threads = 2;
    o.max_batch = 16;
    o.max_delay_ms = 20;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int mism, fail;
    run_clients(s2s_serve_port(s), 8, 12, greedy_a, NULL, &mism, &fail);
    CHECK_MSG(mism == 0 && fail == 0, "%d translations differ from the CLI's, %d requests failed", mism, fail);
    /* requests were batched together: fewer batches than sentences */
    s2s_metrics *m = s2s_serve_metrics(s);
    uint64_t batches = 0;
    for (int b = 0; b <= m->batch.n; b++) batches += atomic_load(&m->batch.count[b]);
    uint64_t sentences = atomic_load(&m->sentences);
    CHECK_MSG(sentences > 0 && batches < sentences, "%llu sentences in %llu batches", (unsigned long long)sentences,
              (unsigned long long)batches);
    printf("  8 clients: %llu sentences in %llu batches\n", (unsigned long long)sentences, (unsigned long long)batches);
    s2s_serve_stop(s);
    return 0;
}

/* ---- reloading --------------------------------------------------------------------------------- */

static int copy_file(const char *from, const char *to) {
    char tmp[256], buf[65536];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = fopen(tmp, "wb");
    if (!in || !out) { if (in) fclose(in); if (out) fclose(out); return -1; }
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out)) return -1;
    return rename(tmp, to);  /* as a deploy would: the file is never half-written */
}
static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

typedef struct reloader { s2s_server *s; char *path; int rounds, ok; } reloader;
static void *reload_run(void *arg) {
    reloader *r = arg;
    s2s_err err;
    for (int i = 0; i < r->rounds; i++) {
        copy_file(i % 2 ? MODEL_A : model_b, r->path);
        r->ok += s2s_serve_reload(r->s, &err) == S2S_OK;
        sleep_ms(10);
    }
    return NULL;
}

static int test_reload(void) {
    char path[160];
    snprintf(path, sizeof path, "%s/live.safetensors", tmpdir);
    CHECK(copy_file(MODEL_A, path) == 0);
    s2s_serve_opts o = opts();
    const char *live[1] = {path};
    o.models = live;
    o.threads = 2;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s), mism, fail;
    s2s_err err;
    /* to B */
    CHECK(copy_file(model_b, path) == 0);
    CHECK(s2s_serve_reload(s, &err) == S2S_OK);
    run_clients(port, 2, 4, greedy_b, NULL, &mism, &fail);
    CHECK_MSG(mism == 0 && fail == 0, "after the reload: %d differ from model B's, %d failed", mism, fail);
    /* a bad file keeps B, and says why */
    CHECK(write_text(path, "not a model") == 0);
    log_buf[0] = 0;
    CHECK(s2s_serve_reload(s, &err) == S2S_ERR && *err.msg);
    CHECK(strstr(log_buf, "reload of") && strstr(log_buf, "failed, keeping the model loaded before"));
    run_clients(port, 2, 4, greedy_b, NULL, &mism, &fail);
    CHECK_MSG(mism == 0 && fail == 0, "after a failed reload: %d differ from model B's, %d failed", mism, fail);
    CHECK(atomic_load(&s2s_serve_metrics(s)->reloads_ok) == 1 && atomic_load(&s2s_serve_metrics(s)->reloads_failed) == 1);
    /* reloads under load: every sentence is translated by A or by B, whole */
    reloader rl = {s, path, 20, 0};
    pthread_t th;
    pthread_create(&th, NULL, reload_run, &rl);
    run_clients(port, 6, 15, greedy_a, greedy_b, &mism, &fail);
    pthread_join(th, NULL);
    CHECK_MSG(mism == 0 && fail == 0 && rl.ok == 20, "during reloads: %d translations from neither model, %d failed, "
              "%d of 20 reloads", mism, fail, rl.ok);
    s2s_serve_stop(s);
    return 0;
}

/* ---- ensembles ---------------------------------------------------------------------------------- */

/* The translations of every input by the library's own handle on paths[0..n) (an ensemble when
 * n > 1), with the options the server's engine gives it: scores, the whole request as one batch
 * of one thread, beam and nbest as asked, alpha 1. NULL (and the test fails) on an error. */
static s2s_translation *library_translate(const char *const *paths, int n, int beam, int nbest) {
    s2s_translator *t;
    s2s_translation *r = NULL;
    s2s_err err;
    if (s2s_translator_open_ensemble(paths, n, NULL, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return NULL; }
    s2s_translate_options o;
    s2s_translate_options_init(&o);
    o.beam = beam; o.nbest = nbest; o.alpha = 1.0f; o.scores = 1; o.batch = n_inputs; o.threads = 1;
    if (s2s_translate(t, (const char *const *)inputs, n_inputs, &o, &r, &err)) CHECK_MSG(0, "%s", err.msg);
    s2s_translator_close(t);
    return r;
}

/* Every input in one request: v1's {"text": [...], "beam", "nbest"}, or OpenNMT-py's
 * [{"src": ...}, ...] (decoded with the server's defaults). malloc'd. */
static char *all_inputs_request(int onmt, int beam, int nbest) {
    size_t cap = 256;
    for (int i = 0; i < n_inputs; i++) cap += 6 * strlen(inputs[i]) + 16;
    char *b = malloc(cap);
    snprintf(b, cap, onmt ? "[" : "{\"text\": [");
    for (int i = 0; i < n_inputs; i++) {
        char *esc = json_string(inputs[i]);
        snprintf(b + strlen(b), cap - strlen(b), onmt ? "%s{\"src\": %s}" : "%s%s", i ? ", " : "", esc);
        free(esc);
    }
    if (onmt) strcat(b, "]");
    else snprintf(b + strlen(b), cap - strlen(b), "], \"beam\": %d, \"nbest\": %d}", beam, nbest);
    return b;
}

/* The hypotheses of an answer to all_inputs_request (v1's or OpenNMT-py's, nbest each) that
 * differ from ref's in text, or in score as the server writes it (9 significant digits: the
 * same number read back); a wrong shape counts every hypothesis. */
static int answer_differences(const resp *r, int onmt, const s2s_translation *ref, int nbest) {
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *list = onmt ? j : cJSON_GetObjectItem(j, "translations");
    int bad = 0;
    if (r->status != 200 || !ref || cJSON_GetArraySize(list) != (onmt ? nbest : n_inputs)) bad = n_inputs * nbest;
    for (int i = 0; !bad && i < n_inputs; i++)
        for (int k = 0; k < nbest; k++) {
            const cJSON *h = onmt ? cJSON_GetArrayItem(cJSON_GetArrayItem(list, k), i)
                                  : cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(list, i), "hypotheses"),
                                                       k);
            const cJSON *tx = cJSON_GetObjectItem(h, onmt ? "tgt" : "text");
            const cJSON *sc = cJSON_GetObjectItem(h, onmt ? "pred_score" : "score");
            const char *want = s2s_translation_text(ref, i, k);
            char want_score[40];
            snprintf(want_score, sizeof want_score, "%.9g", s2s_translation_score(ref, i, k));
            if (!cJSON_IsString(tx) || !cJSON_IsNumber(sc) || !want || strcmp(tx->valuestring, want) ||
                sc->valuedouble != strtod(want_score, NULL)) {
                if (bad++ < 3)
                    fprintf(stderr, "  input %d hypothesis %d: '%s' %.9g, the library's '%s' %s\n", i, k,
                            cJSON_IsString(tx) ? tx->valuestring : "?", cJSON_IsNumber(sc) ? sc->valuedouble : NAN,
                            want ? want : "?", want_score);
            }
        }
    cJSON_Delete(j);
    return bad;
}

/* The description of B and C's ensemble (/health's model_info): the first model's, said to be an
 * ensemble's. */
#define ENSEMBLE_INFO "ensemble of 2 models, the first: attn, embed 16, hidden 16, layers 2, num_steps 10, vocab 20/24"

/* Inputs whose best translations differ between two results. */
static int texts_differ(const s2s_translation *a, const s2s_translation *b) {
    int n = 0;
    for (int i = 0; a && b && i < n_inputs; i++)
        n += strcmp(s2s_translation_text(a, i, 0), s2s_translation_text(b, i, 0)) != 0;
    return n;
}

/* A server of models B and C answers what the library's ensemble of B and C translates (greedy,
 * and beam 3 with 2 hypotheses), in text and score, on both APIs; its engine gives the very
 * doubles. /health names both files and says "ensemble of 2 models". */
static int test_ensemble(void) {
    const char *pair[2] = {model_b, model_c}, *only_c[1] = {model_c};
    s2s_translation *greedy = library_translate(pair, 2, 1, 1), *beam = library_translate(pair, 2, 3, 2);
    s2s_translation *greedy_c = library_translate(only_c, 1, 1, 1);
    if (!greedy || !beam || !greedy_c) return 0;
    /* not a test of one model: the ensemble translates some inputs unlike either of its models */
    int from_b = 0;
    for (int i = 0; i < n_inputs; i++) from_b += strcmp(s2s_translation_text(greedy, i, 0), greedy_b[i]) != 0;
    const int from_c = texts_differ(greedy, greedy_c);
    CHECK_MSG(from_b > 0 && from_c > 0, "the ensemble translates as B (%d differ) or as C (%d differ)", from_b, from_c);

    s2s_engine *e;
    s2s_err err;
    CHECK_MSG(s2s_engine_open(pair, 2, 1, N_IN, 4, NULL, &e, &err) == S2S_OK, "%s", err.msg);
    if (e) {
        s2s_engine_result res[N_IN];
        s2s_decode_opts d = {3, 2, 1.0f, 0};
        CHECK_MSG(s2s_engine_translate(e, (const char *const *)inputs, n_inputs, &d, res, &err) == S2S_OK, "%s",
                  err.msg);
        int bad = 0;
        for (int i = 0; i < n_inputs; i++) {
            for (int k = 0; k < 2; k++)
                bad += res[i].n_hyps != 2 || strcmp(res[i].hyps[k].text, s2s_translation_text(beam, i, k)) ||
                       res[i].hyps[k].score != s2s_translation_score(beam, i, k);
            s2s_engine_result_free(&res[i]);
        }
        CHECK_MSG(bad == 0, "%d of the engine's hypotheses differ from the library's ensemble's", bad);
        CHECK_MSG(!strcmp(s2s_engine_describe(e), ENSEMBLE_INFO), "%s", s2s_engine_describe(e));
        s2s_engine_close(e);
    }

    s2s_serve_opts o = opts();
    o.models = pair;
    o.n_models = 2;
    log_buf[0] = 0;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    char *body = all_inputs_request(0, 1, 1);
    resp r = post_json(port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, greedy, 1) == 0, "/v1/translate, greedy: %ld %.200s", r.status, r.body);
    resp_free(&r);
    free(body);
    body = all_inputs_request(0, 3, 2);
    r = post_json(port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, beam, 2) == 0, "/v1/translate, beam 3: %ld %.200s", r.status, r.body);
    resp_free(&r);
    free(body);
    body = all_inputs_request(1, 1, 1);
    r = post_json(port, "/translate", body);
    CHECK_MSG(answer_differences(&r, 1, greedy, 1) == 0, "/translate: %ld %.200s", r.status, r.body);
    resp_free(&r);
    free(body);

    r = http(port, "GET", "/health", NULL, NULL, 0, NULL);
    cJSON *j = cJSON_Parse(r.body), *ms = cJSON_GetObjectItem(j, "models");
    const cJSON *m = cJSON_GetObjectItem(j, "model"), *info = cJSON_GetObjectItem(j, "model_info");
    CHECK_MSG(r.status == 200 && cJSON_IsString(m) && !strcmp(m->valuestring, model_b) && cJSON_GetArraySize(ms) == 2 &&
              !strcmp(cJSON_GetArrayItem(ms, 0)->valuestring, model_b) &&
              !strcmp(cJSON_GetArrayItem(ms, 1)->valuestring, model_c) && cJSON_IsString(info) &&
              !strcmp(info->valuestring, ENSEMBLE_INFO), "/health: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK_MSG(strstr(log_buf, "serving ") && strstr(log_buf, " + ") && strstr(log_buf, "(ensemble of 2 models"),
              "log: %s", log_buf);
    s2s_serve_stop(s);
    s2s_translation_free(greedy); s2s_translation_free(beam); s2s_translation_free(greedy_c);
    return 0;
}

/* Models that do not go together (B and a model of 8 steps, not 10) do not start: the error
 * is the library's one line, word for word. One more than S2S_MAX_ENSEMBLE is the library's
 * refusal too. */
static int test_ensemble_mismatch(void) {
    const char *pair[2] = {model_b, model_s8};
    s2s_translator *t = NULL;
    s2s_err lib = {{0}}, err = {{0}};
    CHECK(s2s_translator_open_ensemble(pair, 2, NULL, &t, &lib) == S2S_ERR && !t);
    CHECK_MSG(strstr(lib.msg, "differ in \"num_steps\"") && !strchr(lib.msg, '\n'), "the library: %s", lib.msg);
    s2s_serve_opts o = opts();
    o.models = pair;
    o.n_models = 2;
    s2s_server *s = NULL;
    CHECK(s2s_serve_start(&o, &s, &err) == S2S_ERR && !s);
    CHECK_MSG(!strcmp(err.msg, lib.msg), "the server: '%s', the library: '%s'", s ? "" : err.msg, lib.msg);
    s2s_serve_stop(s);  /* had it started */
    s = NULL;
    const char *nine[S2S_MAX_ENSEMBLE + 1];
    for (int i = 0; i <= S2S_MAX_ENSEMBLE; i++) nine[i] = model_b;
    o.models = nine;
    o.n_models = S2S_MAX_ENSEMBLE + 1;
    CHECK(s2s_serve_start(&o, &s, &err) == S2S_ERR && !s);
    CHECK_MSG(!s && strstr(err.msg, "9 models, want 1..8"), "%s", s ? "it started" : err.msg);
    s2s_serve_stop(s);
    return 0;
}

/* An ensemble's reload reopens every file: the second turned into B makes the ensemble B and B
 * (which is B); a file that does not go with the others fails the reload and keeps the
 * ensemble before. And a model without attention in an ensemble: attention is null, as for
 * such a model alone. */
static int test_ensemble_reload(void) {
    char p1[160], p2[160];
    snprintf(p1, sizeof p1, "%s/ens1.safetensors", tmpdir);
    snprintf(p2, sizeof p2, "%s/ens2.safetensors", tmpdir);
    CHECK(copy_file(model_b, p1) == 0 && copy_file(model_c, p2) == 0);
    const char *live[2] = {p1, p2}, *pair[2] = {model_b, model_c}, *twice_b[2] = {model_b, model_b};
    s2s_translation *bc = library_translate(pair, 2, 1, 1), *bb = library_translate(twice_b, 2, 1, 1);
    if (!bc || !bb) return 0;
    CHECK_MSG(texts_differ(bc, bb) > 0, "the ensembles of B and C and of B and B translate alike");
    s2s_serve_opts o = opts();
    o.models = live;
    o.n_models = 2;
    o.threads = 2;
    s2s_server *s = start(&o);
    if (!s) return 0;
    int port = s2s_serve_port(s);
    char *body = all_inputs_request(0, 1, 1);
    resp r = post_json(port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, bc, 1) == 0, "B and C: %ld %.200s", r.status, r.body);
    resp_free(&r);
    s2s_err err;
    CHECK(copy_file(model_b, p2) == 0);
    CHECK_MSG(s2s_serve_reload(s, &err) == S2S_OK, "%s", err.msg);
    r = post_json(port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, bb, 1) == 0, "after the reload to B and B: %ld %.200s", r.status, r.body);
    resp_free(&r);
    CHECK(copy_file(model_s8, p1) == 0);
    log_buf[0] = 0;
    CHECK(s2s_serve_reload(s, &err) == S2S_ERR && strstr(err.msg, "differ in \"num_steps\""));
    char want[1600];
    snprintf(want, sizeof want, "reload of %s + %s failed, keeping the model loaded before: %s", p1, p2, err.msg);
    CHECK_MSG(strstr(log_buf, want), "log: %s", log_buf);
    r = post_json(port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, bb, 1) == 0, "after a failed reload: %ld %.200s", r.status, r.body);
    resp_free(&r);
    CHECK(atomic_load(&s2s_serve_metrics(s)->reloads_ok) == 1 &&
          atomic_load(&s2s_serve_metrics(s)->reloads_failed) == 1);
    free(body);
    s2s_serve_stop(s);
    s2s_translation_free(bc); s2s_translation_free(bb);

    const char *mixed[2] = {model_b, model_plain};
    o = opts();
    o.models = mixed;
    o.n_models = 2;
    if (!(s = start(&o))) return 0;
    r = post_json(s2s_serve_port(s), "/v1/translate", "{\"text\": [\"go .\"], \"beam\": 2, \"attention\": true}");
    cJSON *j = cJSON_Parse(r.body), *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "translations"), 0);
    cJSON *h0 = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "hypotheses"), 0);
    CHECK_MSG(r.status == 200 && h0 && cJSON_IsNull(cJSON_GetObjectItem(h0, "attention")) &&
              !cJSON_GetObjectItem(t, "src_tokens"), "attention of an ensemble with a plain model: %ld %s", r.status,
              r.body);
    cJSON_Delete(j);
    resp_free(&r);
    s2s_serve_stop(s);
    return 0;
}

/* ---- the program: SIGHUP, SIGTERM --------------------------------------------------------------- */

typedef struct child { pid_t pid; int port; FILE *out; char err_path[160]; } child;

static int child_start(child *c, const char *model, const char *extra) {
    int fds[2];
    if (pipe(fds)) return -1;
    snprintf(c->err_path, sizeof c->err_path, "%s/serve.err", tmpdir);
    c->pid = fork();
    if (c->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]); close(fds[1]);
        int e = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        close(e);
        const char *argv[32] = {s2s_bin, "serve", "--model", model, "--port", "0"};
        int n = 6;
        char ex[256];
        snprintf(ex, sizeof ex, "%s", extra ? extra : "");
        for (char *t = strtok(ex, " "); t && n < 30; t = strtok(NULL, " ")) argv[n++] = t;
        argv[n] = NULL;
        execv(s2s_bin, (char **)argv);
        _exit(127);
    }
    close(fds[1]);
    c->out = fdopen(fds[0], "r");
    char line[256];
    c->port = 0;
    if (c->out && fgets(line, sizeof line, c->out)) {
        char *colon = strrchr(line, ':');
        if (colon) c->port = atoi(colon + 1);
    }
    return c->port > 0 ? 0 : -1;
}

/* Waits for the child to exit (at most secs); its status, or -1 if it is still running (then it
 * is killed, so no test leaves a server behind). */
static int child_wait(child *c, double secs) {
    double end = now() + secs;
    int st;
    for (;;) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) break;
        if (now() > end) { kill(c->pid, SIGKILL); waitpid(c->pid, &st, 0); if (c->out) fclose(c->out); c->out = NULL; return -1; }
        sleep_ms(10);
    }
    if (c->out) fclose(c->out);
    c->out = NULL;
    return st;
}

static char *file_text(const char *path) {
    FILE *f = fopen(path, "r");
    static char buf[8192];
    buf[0] = 0;
    if (f) { size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0; fclose(f); }
    return buf;
}

static uint64_t metric(int port, const char *line_start) {
    resp r = http(port, "GET", "/metrics", NULL, NULL, 0, NULL);
    const char *p = strstr(r.body, line_start);
    uint64_t v = p ? strtoull(p + strlen(line_start), NULL, 10) : (uint64_t)-1;
    resp_free(&r);
    return v;
}

static int test_program_signals(void) {
    if (access(s2s_bin, X_OK)) SKIP("%s is not built", s2s_bin);
    char path[160];
    snprintf(path, sizeof path, "%s/prog.safetensors", tmpdir);
    CHECK(copy_file(MODEL_A, path) == 0);
    child c = {0};
    if (child_start(&c, path, "--threads 2") != 0) {
        CHECK_MSG(0, "the server did not start: %s", file_text(c.err_path));
        child_wait(&c, 5);
        return 0;
    }
    int mism, fail;
    run_clients(c.port, 2, 3, greedy_a, NULL, &mism, &fail);
    CHECK(mism == 0 && fail == 0);
    /* SIGHUP: the new file */
    CHECK(copy_file(model_b, path) == 0);
    kill(c.pid, SIGHUP);
    double end = now() + 10;
    while (metric(c.port, "s2s_model_reloads_total{result=\"ok\"} ") != 1 && now() < end) sleep_ms(20);
    run_clients(c.port, 2, 3, greedy_b, NULL, &mism, &fail);
    CHECK_MSG(mism == 0 && fail == 0, "after SIGHUP: %d differ from model B's", mism);
    /* SIGHUP with a broken file: still B, and the log says why */
    CHECK(write_text(path, "{}") == 0);
    kill(c.pid, SIGHUP);
    end = now() + 10;
    while (metric(c.port, "s2s_model_reloads_total{result=\"failed\"} ") != 1 && now() < end) sleep_ms(20);
    run_clients(c.port, 1, 3, greedy_b, NULL, &mism, &fail);
    CHECK(mism == 0 && fail == 0);
    CHECK_MSG(strstr(file_text(c.err_path), "failed, keeping the model loaded before"), "log: %s", file_text(c.err_path));

    /* SIGTERM with a request half sent: it is answered, then the program exits 0 */
    int fd = raw_connect(c.port);
    const char *b = "{\"text\": [\"go .\"]}";
    char head[256];
    snprintf(head, sizeof head, "POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                "Content-Length: %zu\r\n\r\n{\"text\"", strlen(b));
    send_all(fd, head);
    sleep_ms(100);
    kill(c.pid, SIGTERM);
    sleep_ms(300);
    CHECK_MSG(waitpid(c.pid, NULL, WNOHANG) == 0, "the server exited with a request in flight");
    int late = raw_connect(c.port);  /* no new connections while draining */
    CHECK(late < 0);
    if (late >= 0) close(late);
    send_all(fd, b + 7);
    char reply[4096] = "";
    long got = read_until_closed(fd, 5, reply, sizeof reply);
    CHECK_MSG(got > 0 && !strncmp(reply, "HTTP/1.1 200", 12) && strstr(reply, greedy_b[0]), "reply: %s", reply);
    close(fd);
    int st = child_wait(&c, 10);
    CHECK_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    CHECK(strstr(file_text(c.err_path), "stopped"));
    return 0;
}

static int test_program_options(void) {
    if (access(s2s_bin, X_OK)) SKIP("%s is not built", s2s_bin);
    char cmd[512];
    /* usage errors exit 2, failures 1 (the program's conventions), each with one line */
    struct { const char *args, *want; int status; } bad[] = {
        {"", "--model MODEL is required", 2},
        {"--model " MODEL_A " --beam 2 --nbest 3", "--nbest 3 is more than the beam", 2},
        {"--model " MODEL_A " --port 70000", "--port: 70000 is out of range", 2},
        {"--model " MODEL_A " --frobnicate", "unknown option '--frobnicate'", 2},
        {"--model " MODEL_A " extra", "unexpected argument 'extra'", 2},
        {"--model /nonexistent.safetensors --port 0", "/nonexistent.safetensors", 1},
        {"--model " MODEL_A " --host 192.0.2.1 --port 0", "cannot listen on 192.0.2.1", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        /* `timeout`: a server that starts when it should not is stopped (exit 124), not waited for */
        snprintf(cmd, sizeof cmd, "timeout 20 %s serve %s 2>&1 </dev/null", s2s_bin, bad[i].args);
        FILE *p = popen(cmd, "r");
        char out[1024] = "";
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        int st = pclose(p);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == bad[i].status && !strncmp(out, "seq2seq: ", 9) && strstr(out, bad[i].want) &&
                  strchr(out, '\n') == out + n - 1, "serve %s: exit %d, '%s'", bad[i].args, st, out);
    }
    snprintf(cmd, sizeof cmd, "timeout 20 %s serve --help </dev/null", s2s_bin);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CHECK(pclose(p) == 0 && strstr(out, "usage: seq2seq serve"));
    return 0;
}

/* `seq2seq serve --model A --model B`: its one-line refusals (a ninth --model, models that do
 * not go together: the library's message), and an ensemble that starts, answers as the
 * library's ensemble, says so on /health, and reloads every file on SIGHUP. */
static int test_program_ensemble(void) {
    if (access(s2s_bin, X_OK)) SKIP("%s is not built", s2s_bin);
    char cmd[4096], out[2048];
    /* `timeout`: a server that starts when it should not is stopped (SIGTERM: exit 124) */
    int n = snprintf(cmd, sizeof cmd, "timeout 20 %s serve --port 0", s2s_bin);
    for (int i = 0; i <= S2S_MAX_ENSEMBLE; i++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --model %s", model_b);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>&1 </dev/null");
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    int st = pclose(p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
              !strcmp(out, "seq2seq: serve: --model given more than 8 times (an ensemble's limit) (see 'seq2seq serve "
                           "--help')\n"), "nine models: exit %d, '%s'", st, out);
    const char *bad_pair[2] = {model_b, model_s8};
    s2s_translator *t = NULL;
    s2s_err lib = {{0}};
    CHECK(s2s_translator_open_ensemble(bad_pair, 2, NULL, &t, &lib) == S2S_ERR);
    snprintf(cmd, sizeof cmd, "timeout 20 %s serve --port 0 --model %s --model %s 2>&1 </dev/null", s2s_bin, model_b,
             model_s8);
    p = popen(cmd, "r");
    got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    st = pclose(p);
    char want[1100];
    snprintf(want, sizeof want, "seq2seq: %s\n", lib.msg);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1 && !strcmp(out, want), "a mismatched pair: exit %d, '%s'", st, out);

    char p1[160], p2[160], extra[256];
    snprintf(p1, sizeof p1, "%s/prog_ens1.safetensors", tmpdir);
    snprintf(p2, sizeof p2, "%s/prog_ens2.safetensors", tmpdir);
    CHECK(copy_file(model_b, p1) == 0 && copy_file(model_c, p2) == 0);
    const char *pair[2] = {model_b, model_c}, *twice_b[2] = {model_b, model_b};
    s2s_translation *bc = library_translate(pair, 2, 1, 1), *bb = library_translate(twice_b, 2, 1, 1);
    if (!bc || !bb) return 0;
    snprintf(extra, sizeof extra, "--model %s --threads 2", p2);
    child c = {0};
    if (child_start(&c, p1, extra) != 0) {
        CHECK_MSG(0, "the ensemble did not start: %s", file_text(c.err_path));
        child_wait(&c, 5);
        return 0;
    }
    char *body = all_inputs_request(0, 1, 1);
    resp r = post_json(c.port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, bc, 1) == 0, "B and C: %ld %.200s", r.status, r.body);
    resp_free(&r);
    r = http(c.port, "GET", "/health", NULL, NULL, 0, NULL);
    CHECK_MSG(r.status == 200 && strstr(r.body, "\"model_info\":\"" ENSEMBLE_INFO "\""), "/health: %s", r.body);
    resp_free(&r);
    CHECK(copy_file(model_b, p2) == 0);
    kill(c.pid, SIGHUP);
    double end = now() + 10;
    while (metric(c.port, "s2s_model_reloads_total{result=\"ok\"} ") != 1 && now() < end) sleep_ms(20);
    r = post_json(c.port, "/v1/translate", body);
    CHECK_MSG(answer_differences(&r, 0, bb, 1) == 0, "after SIGHUP, B and B: %ld %.200s", r.status, r.body);
    resp_free(&r);
    free(body);
    kill(c.pid, SIGTERM);
    st = child_wait(&c, 10);
    CHECK_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    snprintf(want, sizeof want, "reloaded %s + %s (ensemble of 2 models", p1, p2);
    CHECK_MSG(strstr(file_text(c.err_path), want), "log: %s", file_text(c.err_path));
    s2s_translation_free(bc); s2s_translation_free(bb);
    return 0;
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const char *bin = getenv("S2S_BIN");
    snprintf(s2s_bin, sizeof s2s_bin, "%s", bin && *bin ? bin : "./seq2seq");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/s2s-serve.XXXXXX");
    if (!mkdtemp(tmpdir) || load_inputs()) { printf("FAIL setup\ncounts: 0 1 0\n"); return 1; }
    snprintf(model_b, sizeof model_b, "%s/b.safetensors", tmpdir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s train --data tests/data/tiny.tsv --embed 16 --hidden 16 --batch 8 --lr 0.01 "
                              "--epochs 30 --seed 11 --quiet --out %s > /dev/null", s2s_bin, model_b);
    snprintf(model_plain, sizeof model_plain, "%s/plain.safetensors", tmpdir);
    char cmd2[512];
    snprintf(cmd2, sizeof cmd2, "%s train --data tests/data/tiny.tsv --model plain --embed 16 --hidden 16 --batch 8 "
                                "--epochs 5 --quiet --out %s > /dev/null", s2s_bin, model_plain);
    /* B's ensemble partner C (B's options, another seed), and a model of B's vocabularies but
     * 8 steps, which no ensemble with B takes */
    snprintf(model_c, sizeof model_c, "%s/c.safetensors", tmpdir);
    snprintf(model_s8, sizeof model_s8, "%s/s8.safetensors", tmpdir);
    char cmd3[512], cmd4[512];
    snprintf(cmd3, sizeof cmd3, "%s train --data tests/data/tiny.tsv --embed 16 --hidden 16 --batch 8 --lr 0.01 "
                                "--epochs 30 --seed 12 --quiet --out %s > /dev/null", s2s_bin, model_c);
    snprintf(cmd4, sizeof cmd4, "%s train --data tests/data/tiny.tsv --embed 16 --hidden 16 --batch 8 --steps 8 "
                                "--epochs 2 --quiet --out %s > /dev/null", s2s_bin, model_s8);
    int ready = access(s2s_bin, X_OK) == 0 && system(cmd) == 0 && system(cmd2) == 0 && system(cmd3) == 0 &&
                system(cmd4) == 0 && cli_translate(MODEL_A, "", 1, greedy_a) == 0 &&
                cli_translate(model_b, "", 1, greedy_b) == 0 &&
                cli_translate(MODEL_A, "--nbest 1", 1, scored_a) == 0 &&
                cli_translate(MODEL_A, "--beam 3 --nbest 2", 2, beam_a) == 0;
    if (!ready) {
        printf("FAIL setup: the reference translations from %s\ncounts: 0 1 0\n", s2s_bin);
        return 1;
    }
    int differ = 0;
    for (int i = 0; i < n_inputs; i++) differ += strcmp(greedy_a[i], greedy_b[i]) != 0;
    if (differ == 0) { printf("FAIL setup: models A and B translate alike\ncounts: 0 1 0\n"); return 1; }
    RUN(test_health_page_metrics);
    RUN(test_onmt_format);
    RUN(test_v1_format);
    RUN(test_engine);
    RUN(test_errors);
    RUN(test_body_limit);
    RUN(test_api_key);
    RUN(test_too_many_connections);
    RUN(test_queue_full);
    RUN(test_slow_clients);
    RUN(test_concurrent_clients);
    RUN(test_reload);
    RUN(test_program_signals);
    RUN(test_program_options);
    RUN(test_ensemble);
    RUN(test_ensemble_mismatch);
    RUN(test_ensemble_reload);
    RUN(test_program_ensemble);
    for (int i = 0; i < n_inputs; i++) { free(inputs[i]); free(greedy_a[i]); free(greedy_b[i]); free(scored_a[i]); }
    for (int i = 0; i < 2 * n_inputs; i++) free(beam_a[i]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
    curl_global_cleanup();
    TEST_END();
}
