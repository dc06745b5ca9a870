/* The train command's side of an MPI job (src/s2s_dist.h): which rank speaks, the start-up
 * agreement (every rank the same options, corpus and starting weights, or any rank's failure
 * reported once by rank 0), and the end of a job whose exchange failed. With one process every
 * function here is a no-op or says "rank 0 of 1". */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_dist.h"
#include "s2s_text.h"
#include "s2s_train.h"

static s2s_dist *g_dist;
static int g_agreed;  /* the start-up agreement is behind us: a failure is this rank's own */

/* What each rank brings to the start-up agreement. */
typedef struct start_rec {
    int32_t failed;         /* this rank could not start (its exit status); msg says why */
    char msg[600];
    char opts[1400];        /* "--name value" lines: the options every rank must share */
    uint64_t data_hash;     /* the training and validation pairs as ids, and the vocabularies */
    uint64_t state_hash;    /* the starting weights and training state */
} start_rec;

static void agree(int status, const char *failure, const char *opts, uint64_t data_hash, uint64_t state_hash);

static void job_die(int status, const char *msg) {
    if (!g_agreed) agree(status, msg, "", 0, 0);
    fprintf(stderr, "seq2seq: rank %d: %s\n", s2s_dist_rank(g_dist), msg);
    s2s_dist_abort(g_dist, status);
}

s2s_dist *job_open(void) {
    s2s_err err;
    if (s2s_dist_open(&g_dist, &err)) die("%s", err.msg);
    if (s2s_dist_size(g_dist) > 1) {
        die_hook = job_die;
        /* a write into a dead rank's socket must fail (and the rank be reported), not kill us */
        signal(SIGPIPE, SIG_IGN);
    }
    return g_dist;
}

void job_close(void) {
    die_hook = NULL;
    s2s_dist_close(g_dist);
    g_dist = NULL;
}

int job_speaks(void) { return s2s_dist_speaks(g_dist); }

/* The first line where a and b differ ("--name value"), copied into out. */
static void first_difference(const char *a, const char *b, char *da, char *db, size_t cap) {
    while (*a || *b) {
        size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        if (na != nb || memcmp(a, b, na)) {
            snprintf(da, cap, "%.*s", (int)na, a);
            snprintf(db, cap, "%.*s", (int)nb, b);
            return;
        }
        a += na + (a[na] != 0);
        b += nb + (b[nb] != 0);
    }
    snprintf(da, cap, "?");
    snprintf(db, cap, "?");
}

/* Every rank brings its record; all see all of them, so all decide alike: a failed rank's
 * message (the lowest such rank's; every rank exits with its status) or the first disagreement
 * with rank 0 (status 1) ends every rank, rank 0 alone printing the one line. */
static void agree(int status, const char *failure, const char *opts, uint64_t data_hash, uint64_t state_hash) {
    const int R = s2s_dist_size(g_dist);
    start_rec *mine = calloc(1, sizeof *mine), *all = calloc((size_t)R, sizeof *all);
    if (!mine || !all) { fprintf(stderr, "seq2seq: rank %d: out of memory\n", s2s_dist_rank(g_dist)); s2s_dist_abort(g_dist, 1); }
    mine->failed = failure ? status : 0;
    snprintf(mine->msg, sizeof mine->msg, "%s", failure ? failure : "");
    snprintf(mine->opts, sizeof mine->opts, "%s", opts);
    mine->data_hash = data_hash;
    mine->state_hash = state_hash;
    s2s_err err;
    g_agreed = 1;
    die_hook = NULL;
    if (s2s_dist_allgather(g_dist, mine, sizeof *mine, all, &err)) job_lost(err.msg, NULL);
    char line[2048] = "", a[200], b[200];
    int exit_status = 1;
    for (int r = 0; r < R && !line[0]; r++)
        if (all[r].failed) {
            snprintf(line, sizeof line, "rank %d: %s", r, all[r].msg);
            exit_status = all[r].failed;
        }
    for (int r = 1; r < R && !line[0]; r++) {
        if (strcmp(all[r].opts, all[0].opts)) {
            first_difference(all[r].opts, all[0].opts, a, b, sizeof a);
            snprintf(line, sizeof line, "rank %d was started with %s, rank 0 with %s: every rank needs the same "
                     "options", r, a, b);
        } else if (all[r].data_hash != all[0].data_hash) {
            snprintf(line, sizeof line, "rank %d read other training data than rank 0 (fingerprint %016llx, rank 0 "
                     "%016llx): every rank must read the same corpus", r,
                     (unsigned long long)all[r].data_hash, (unsigned long long)all[0].data_hash);
        } else if (all[r].state_hash != all[0].state_hash) {
            snprintf(line, sizeof line, "rank %d starts from other weights or training state than rank 0 (did it "
                     "--resume from other files?)", r);
        }
    }
    free(mine); free(all);
    if (!line[0]) {
        die_hook = job_die;
        return;
    }
    if (s2s_dist_speaks(g_dist)) fprintf(stderr, "seq2seq: %s\n", line);
    /* The launcher stops the ranks still finishing once one has exited non-zero: ignore its
     * signals, and leave at once after MPI (no exit handlers to be caught in). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    fflush(NULL);
    job_close();
    _exit(exit_status);
}

void job_agree(const char *opts, uint64_t data_hash, uint64_t state_hash) {
    if (s2s_dist_size(g_dist) > 1) agree(0, NULL, opts, data_hash, state_hash);
}

static void say_lost(const char *msg, const char *saved) {
    fprintf(stderr, "seq2seq: %s%s%s\n", msg, saved ? "; " : "", saved ? saved : "");
}

void job_lost(const char *msg, const char *saved) {
    if (s2s_dist_speaks(g_dist)) say_lost(msg, saved);
    s2s_dist_abort(g_dist, 1);
}

/* On the watchdog's thread, while the training thread is stuck inside Open MPI: no MPI, no
 * exit handlers (the stuck thread holds MPI's state), the exit status job_lost's. It stays until
 * the launcher, which stops the job's ranks once one has died, stops it (at most 5 s): a rank
 * that left at once would be seen gone by the others, and named among the lost. */
void job_stalled(const char *msg, int speaks, const char *saved) {
    if (speaks) say_lost(msg, saved);
    fflush(NULL);
    struct timespec wait = {5, 0};
    while (nanosleep(&wait, &wait) && errno == EINTR) {}  /* the launcher's SIGTERM does not end it */
    _exit(1);
}

/* ---- fingerprints --------------------------------------------------------------------- */

uint64_t job_data_hash(uint64_t h, const s2s_dataset *d, const s2s_vocab *sv, const s2s_vocab *tv) {
    const size_t cells = (size_t)d->n * (size_t)d->T;
    h = s2s_fnv1a(h, &d->n, sizeof d->n);
    h = s2s_fnv1a(h, &d->T, sizeof d->T);
    h = s2s_fnv1a(h, d->src, cells * sizeof(int32_t));
    h = s2s_fnv1a(h, d->tgt, cells * sizeof(int32_t));
    h = s2s_fnv1a(h, d->src_len, (size_t)d->n * sizeof(int32_t));
    h = s2s_fnv1a(h, d->tgt_len, (size_t)d->n * sizeof(int32_t));
    for (int k = 0; k < 2; k++) {
        const s2s_vocab *v = k ? tv : sv;
        if (!v) continue;
        for (int i = 0; i < s2s_vocab_size(v); i++) {
            const char *tok = s2s_vocab_token(v, i);
            h = s2s_fnv1a(h, tok, strlen(tok) + 1);
        }
    }
    return h;
}

