/* seq2seq serve: the HTTP server's options and its life: start, reload on SIGHUP (every file
 * of an ensemble: --model given more than once), drain on SIGTERM (exit 0) or SIGINT (exit
 * 130). The server itself is server/s2s_serve.c; the usage text is cli/main.c's. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "s2s_linalg.h"
#include "s2s_serve.h"

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "seq2seq serve: %s\n", line);
}

/* The first line of a file, without its line end (a key kept out of the process list). */
static char *read_key_file(const char *path) {
    FILE *f = open_in(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n <= 0) die("--api-key-file %s: the file is empty", path);
    chomp(line);
    if (!*line) die("--api-key-file %s: the first line is empty", path);
    return line;
}

int cmd_serve(args *a) {
    s2s_serve_opts o;
    s2s_serve_opts_default(&o);
    int quiet = 0;
    char *key_file_key = NULL;
    models model = {{0}, 0};
    const char *opt;
    while (next_opt(a, &opt)) {
        if (a->positional) usage_error(a, "unexpected argument '%s' (the server takes options only)", opt);
        else if (!strcmp(opt, "--model")) add_model(a, &model, opt);
        else if (!strcmp(opt, "--host")) o.host = val(a, opt);
        else if (!strcmp(opt, "--port")) o.port = (int)parse_int(opt, val(a, opt), 0, 65535);
        else if (!strcmp(opt, "--threads")) o.threads = (int)parse_int(opt, val(a, opt), 1, 256);
        else if (!strcmp(opt, "--max-batch")) o.max_batch = (int)parse_int(opt, val(a, opt), 1, 4096);
        else if (!strcmp(opt, "--max-delay-ms")) o.max_delay_ms = parse_num(opt, val(a, opt), 0, 10000, 0);
        else if (!strcmp(opt, "--beam")) o.defaults.beam = (int)parse_int(opt, val(a, opt), 1, 1000);
        else if (!strcmp(opt, "--nbest")) o.defaults.nbest = (int)parse_int(opt, val(a, opt), 1, 1000);
        else if (!strcmp(opt, "--alpha")) o.defaults.alpha = (float)parse_num(opt, val(a, opt), -10, 10, 0);
        else if (!strcmp(opt, "--api-key")) o.api_key = val(a, opt);
        else if (!strcmp(opt, "--api-key-file")) {
            free(key_file_key);
            o.api_key = key_file_key = read_key_file(val(a, opt));
        }
        else if (!strcmp(opt, "--max-body")) o.max_body = (size_t)parse_int(opt, val(a, opt), 64, 1L << 30);
        else if (!strcmp(opt, "--max-sentences")) o.max_sentences = (int)parse_int(opt, val(a, opt), 1, 1000000);
        else if (!strcmp(opt, "--max-sentence-bytes")) o.max_sentence_bytes = (int)parse_int(opt, val(a, opt), 1, 1 << 24);
        else if (!strcmp(opt, "--max-sentence-words")) o.max_sentence_words = (int)parse_int(opt, val(a, opt), 1, 1 << 24);
        else if (!strcmp(opt, "--max-beam")) o.max_beam = (int)parse_int(opt, val(a, opt), 1, 1000);
        else if (!strcmp(opt, "--max-connections")) o.max_connections = (int)parse_int(opt, val(a, opt), 1, 100000);
        else if (!strcmp(opt, "--max-queue")) o.max_queue = (int)parse_int(opt, val(a, opt), 1, 100000000);
        else if (!strcmp(opt, "--timeout")) o.timeout_s = (int)parse_int(opt, val(a, opt), 1, 86400);
        else if (!strcmp(opt, "--quiet")) quiet = 1;
        else unknown_option(a, opt);
    }
    if (!model.n) usage_error(a, "--model MODEL is required");
    o.models = model.path;
    o.n_models = model.n;
    if (o.api_key && !*o.api_key) usage_error(a, "--api-key is empty");
    if (o.defaults.beam > o.max_beam) usage_error(a, "--beam %d is over --max-beam %d", o.defaults.beam, o.max_beam);
    if (o.defaults.nbest > o.defaults.beam)
        usage_error(a, "--nbest %d is more than the beam (--beam %d) can return", o.defaults.nbest, o.defaults.beam);
    if ((long)o.max_batch * o.max_beam > 1000000)
        usage_error(a, "--max-batch %d x --max-beam %d rows is too many", o.max_batch, o.max_beam);
    if (!quiet) o.log = log_line;
    o.gemm = g_gemm_name;
    /* our worker threads are the parallelism: BLAS runs on each one's thread */
    s2s_set_blas_threads(1);

    /* SIGHUP, SIGTERM and SIGINT are taken by sigwait below, in this thread only: blocked
     * before any thread starts, so every thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP); sigaddset(&set, SIGTERM); sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    s2s_server *srv;
    s2s_err err;
    if (s2s_serve_start(&o, &srv, &err)) die("%s", err.msg);
    /* the address on standard output, for whoever started us (with --port 0 the port is news) */
    const char *h = o.host;
    printf("http://%s%s%s:%d/\n", strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", s2s_serve_port(srv));
    fflush(stdout);
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig)) continue;
        if (sig == SIGHUP) { s2s_serve_reload(srv, &err); continue; }  /* logged either way */
        break;
    }
    if (!quiet)
        fprintf(stderr, "seq2seq serve: %s: finishing the requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    int left = s2s_serve_drain(srv, 2.0 * o.timeout_s + 30);
    if (left && !quiet) fprintf(stderr, "seq2seq serve: %d request(s) still unanswered; closing them\n", left);
    s2s_serve_stop(srv);
    free(key_file_key);
    if (!quiet) fprintf(stderr, "seq2seq serve: stopped\n");
    return sig == SIGINT ? EXIT_INTERRUPTED : 0;
}
