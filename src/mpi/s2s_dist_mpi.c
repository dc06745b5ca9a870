/* s2s_dist.h with MPI (built instead of src/s2s_dist.c when the Makefile has MPI=1).
 *
 * Only the thread that opened the group calls MPI (MPI_THREAD_FUNNELED); OpenMP threads only
 * help with the arithmetic between calls. Every exchange is made of non-blocking point-to-point
 * messages completed by polling (wait_all), never of a blocking collective, so that a rank that
 * died can be named (s2s_dist.h, "Failures": /proc for ranks on this machine, pings for the
 * others) and a rank that leaves on an error of its own can tell the others (s2s_dist_abort's
 * "bye" message) instead of leaving them waiting. */
#include "s2s_dist.h"

#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { TAG_VALS = 1, TAG_PIECE, TAG_GATHER, TAG_BYE, TAG_PING, TAG_PONG, TAG_NEWS };

/* A process as the machine it runs on knows it: which kernel (its boot id) and which PID
 * namespace, the pid, and its start time (so a pid used again is not taken for it). */
typedef struct proc_id {
    char machine[96];
    int32_t pid;
    uint64_t start;
} proc_id;

struct s2s_dist {
    int rank, size;
    MPI_Comm comm;                 /* a duplicate of MPI_COMM_WORLD that returns errors */
    volatile sig_atomic_t *flag;   /* s2s_dist_watch */
    double flag_since;             /* when an exchange first saw the flag set (0: not yet) */
    s2s_dist_reduce how;
    int threads;                   /* s2s_dist_set_threads: fold_in_order's team */
    int failed;                    /* an exchange failed: the group is broken */
    int speaker;                   /* the rank that reports (s2s_dist_speaks); -1: none left */
    MPI_Request *req;              /* [4 * size] the requests of one exchange */
    int *req_peer;                 /* [4 * size] the rank a request receives from; -1: a send */
    int *idx;                      /* [4 * size] MPI_Testsome's indices */
    MPI_Status *st;                /* [4 * size] and statuses */
    int *lost;                     /* [size] the ranks found gone (find_lost) */
    int *pong;                     /* [size] ranks that answered this rank's ping */
    int *news_from;                /* [size] ranks that sent news of lost ranks */
    char *cand, *news, *news_in, *told; /* [size] pinged; lost as others said; a news message; ours */
    double ping_at;                /* when this rank pinged (0: not yet) */
    proc_id *procs;                /* [size] every rank's process */
    int *nearby;                   /* [size] 1: rank r runs beside this one (its pid can be checked) */
    double checked_at;             /* when the nearby ranks were last checked */
    const float **piece;           /* [size] the parts of this rank's chunk, in rank order */
    float *pieces;                 /* [size * chunk] the other ranks' parts of this rank's chunk */
    size_t pieces_cap;
    /* the stall watchdog (s2s_dist_on_stall): the training thread publishes, the watchdog reads */
    s2s_dist_stall_fn stall_fn;
    void *stall_arg;
    pthread_t watchdog;
    int watching;                  /* the watchdog thread runs (joined by s2s_dist_close) */
    atomic_int quit;               /* s2s_dist_close asks the watchdog to end */
    atomic_int in_exchange;        /* 1 from an exchange's first MPI call to its return */
    atomic_uint beat;              /* counts the exchange's returns from MPI */
    _Atomic(const char *) during;  /* what the exchange in progress is (a string literal) */
    atomic_int reported;           /* 1 once a lost rank is being reported (once per process) */
    int fault_stall;               /* S2S_DIST_FAULT=stall (tests): spin instead of reporting */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The state letter and start time of process pid from /proc; 0 when it does not exist. */
static int proc_stat(int pid, char *state, uint64_t *start) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');  /* the command name may hold spaces and parentheses */
    if (!p) return 0;
    unsigned long long st = 0;
    /* after ") ": state, then fields 4..21, then 22 = start time */
    if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", state, &st) != 2)
        return 0;
    *start = st;
    return 1;
}

static void read_line(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    out[0] = 0;
    if (f) {
        if (!fgets(out, (int)cap, f)) out[0] = 0;
        fclose(f);
    }
    out[strcspn(out, "\n")] = 0;
}

static void my_proc_id(proc_id *p) {
    char boot[64], ns[64] = "";
    memset(p, 0, sizeof *p);
    read_line("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
    ssize_t k = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    ns[k > 0 ? k : 0] = 0;
    p->pid = (int32_t)getpid();
    char state;
    uint64_t start = 0;
    if (boot[0] && ns[0] && proc_stat(p->pid, &state, &start)) {
        snprintf(p->machine, sizeof p->machine, "%.47s %.47s", boot, ns);
        p->start = start;
    }  /* else machine stays empty: no other rank will check on this one */
}

/* Whether a rank on this machine still runs (not gone, not a zombie, not another process). */
static int proc_alive(const proc_id *p) {
    char state;
    uint64_t start;
    return proc_stat(p->pid, &state, &start) && state != 'Z' && state != 'X' && start == p->start;
}

static int mpi_fail(int rc, const char *what, s2s_err *err) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
    return s2s_errf(err, "MPI: %s: %s", what, s);
}

int s2s_dist_open(s2s_dist **out, s2s_err *err) {
    *out = NULL;
    if (!s2s_dist_launcher()) return S2S_OK;
    int provided, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init_thread", err);
    s2s_dist *d = s2s_calloc(1, sizeof *d, err, "the MPI group");
    if (!d) { MPI_Finalize(); return S2S_ERR; }
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->req = s2s_calloc(4 * (size_t)d->size, sizeof *d->req, err, "MPI requests");
    d->req_peer = s2s_calloc(4 * (size_t)d->size, sizeof *d->req_peer, err, "MPI requests");
    d->idx = s2s_calloc(4 * (size_t)d->size, sizeof *d->idx, err, "MPI requests");
    d->st = s2s_calloc(4 * (size_t)d->size, sizeof *d->st, err, "MPI requests");
    d->lost = s2s_calloc((size_t)d->size, sizeof *d->lost, err, "MPI ranks");
    d->piece = s2s_calloc((size_t)d->size, sizeof *d->piece, err, "MPI ranks");
    d->pong = s2s_calloc((size_t)d->size, sizeof *d->pong, err, "MPI ranks");
    d->news_from = s2s_calloc((size_t)d->size, sizeof *d->news_from, err, "MPI ranks");
    d->cand = s2s_calloc(4 * (size_t)d->size, 1, err, "MPI ranks");
    if (!d->req || !d->req_peer || !d->idx || !d->st || !d->lost || !d->piece || !d->pong || !d->news_from || !d->cand) {
        s2s_dist_close(d);
        return S2S_ERR;
    }
    d->procs = s2s_calloc((size_t)d->size, sizeof *d->procs, err, "MPI ranks");
    d->nearby = s2s_calloc((size_t)d->size, sizeof *d->nearby, err, "MPI ranks");
    if (!d->procs || !d->nearby) { s2s_dist_close(d); return S2S_ERR; }
    proc_id me;
    my_proc_id(&me);
    rc = MPI_Allgather(&me, sizeof me, MPI_BYTE, d->procs, sizeof me, MPI_BYTE, d->comm);
    if (rc != MPI_SUCCESS) { s2s_dist_close(d); return mpi_fail(rc, "MPI_Allgather", err); }
    for (int r = 0; r < d->size; r++)
        d->nearby[r] = r != d->rank && me.machine[0] && !strcmp(d->procs[r].machine, me.machine);
    const char *fault = getenv("S2S_DIST_FAULT");
    d->fault_stall = fault && !strcmp(fault, "stall");
    d->news = d->cand + d->size;
    d->news_in = d->news + d->size;
    d->told = d->news_in + d->size;
    *out = d;
    return S2S_OK;
}

void s2s_dist_close(s2s_dist *d) {
    if (!d) return;
    if (d->watching) {
        atomic_store(&d->quit, 1);
        pthread_join(d->watchdog, NULL);
    }
    if (!d->failed) {
        MPI_Comm_free(&d->comm);
        MPI_Finalize();
    }
    free(d->req); free(d->req_peer); free(d->idx); free(d->st); free(d->lost); free(d->piece); free(d->pieces);
    free(d->pong); free(d->news_from); free(d->cand); free(d->procs); free(d->nearby);
    free(d);
}

int s2s_dist_rank(const s2s_dist *d) { return d ? d->rank : 0; }
int s2s_dist_size(const s2s_dist *d) { return d ? d->size : 1; }
int s2s_dist_speaks(const s2s_dist *d) { return d ? d->rank == d->speaker : 1; }
int s2s_dist_failed(const s2s_dist *d) { return d ? d->failed : 0; }
int s2s_dist_built(void) { return 1; }
void s2s_dist_watch(s2s_dist *d, volatile sig_atomic_t *flag) { if (d) d->flag = flag; }
void s2s_dist_set_reduce(s2s_dist *d, s2s_dist_reduce how) { if (d) d->how = how; }
void s2s_dist_set_threads(s2s_dist *d, int threads) { if (d) d->threads = threads; }

/* ---- telling a dead rank from one that waits for it ---------------------------------------
 * When a rank dies, the others may wait on it directly or on a rank that waits on it. So a
 * rank that has waited S2S_DIST_GRACE seconds since the watched flag was set pings the ranks
 * it is missing messages from; every rank answers pings from inside its waits, so the missing
 * ranks that do not answer within S2S_DIST_PONG_WAIT are the dead ones. The rank that finds
 * them tells the others (news), and everyone ends with the same list. */
#define S2S_DIST_PONG_WAIT 0.15

static const char one_byte = 1;

/* A message nobody waits for (a ping, an answer, news): sent and forgotten. */
static void tell(s2s_dist *d, int to, int tag, const void *buf, int count) {
    MPI_Request rq;
    if (MPI_Isend(buf, count, MPI_BYTE, to, tag, d->comm, &rq) == MPI_SUCCESS) MPI_Request_free(&rq);
}

/* Answers pings; takes in answers and news. Returns 1 when news of lost ranks came (d->lost). */
static int serve(s2s_dist *d) {
    int flag;
    MPI_Status st;
    while (MPI_Iprobe(MPI_ANY_SOURCE, TAG_PING, d->comm, &flag, &st) == MPI_SUCCESS && flag) {
        char b;
        MPI_Recv(&b, 1, MPI_BYTE, st.MPI_SOURCE, TAG_PING, d->comm, MPI_STATUS_IGNORE);
        tell(d, st.MPI_SOURCE, TAG_PONG, &one_byte, 1);
    }
    while (MPI_Iprobe(MPI_ANY_SOURCE, TAG_PONG, d->comm, &flag, &st) == MPI_SUCCESS && flag) {
        char b;
        MPI_Recv(&b, 1, MPI_BYTE, st.MPI_SOURCE, TAG_PONG, d->comm, MPI_STATUS_IGNORE);
        d->pong[st.MPI_SOURCE] = 1;
    }
    while (MPI_Iprobe(MPI_ANY_SOURCE, TAG_NEWS, d->comm, &flag, &st) == MPI_SUCCESS && flag) {
        MPI_Recv(d->news_in, d->size, MPI_BYTE, st.MPI_SOURCE, TAG_NEWS, d->comm, MPI_STATUS_IGNORE);
        for (int r = 0; r < d->size; r++) d->news[r] |= d->news_in[r];
        d->news_from[st.MPI_SOURCE] = 1;
    }
    int any = 0;
    for (int r = 0; r < d->size; r++) any |= d->news[r];
    if (any)
        for (int r = 0; r < d->size; r++) d->lost[r] |= d->news[r];
    return any;
}

/* err = the message naming the ranks lost[r] != 0 lost during `during`; returns the lowest rank
 * not lost (the one that reports), -1 when none is left. */
static int name_lost(const s2s_dist *d, const int *lost, const char *during, s2s_err *err) {
    char list[256] = "";
    size_t k = 0;
    int n = 0, speaker = -1;
    for (int r = 0; r < d->size; r++) {
        if (!lost[r] && speaker < 0) speaker = r;
        if (lost[r] && k < sizeof list - 16) { k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", n ? ", " : "", r); n++; }
    }
    s2s_errf(err, "rank%s %s of %d stopped answering during %s (killed or crashed); the job ends",
             n == 1 ? "" : "s", list, d->size, during);
    return speaker;
}

/* The group is broken: d->lost[r] marks the ranks found gone, less those that sent news (they
 * were there to find the others gone, and may have left since: not a cause but a consequence).
 * The lowest rank not lost speaks; the message names the lost ranks. */
static int lost_ranks(s2s_dist *d, const char *during, s2s_err *err) {
    serve(d);  /* the news already on its way */
    if (atomic_exchange(&d->reported, 1))
        for (;;) pause();  /* the watchdog is reporting and ends the process (s2s_dist_on_stall) */
    d->failed = 1;
    for (int r = 0; r < d->size; r++) d->lost[r] = (d->lost[r] || d->news[r]) && !d->news_from[r] && r != d->rank;
    d->speaker = name_lost(d, d->lost, during, err);
    return S2S_ERR;
}

/* After the grace period: ping the ranks of the unfinished receives among d->req[0..nr) (all
 * other ranks when those do not say, as in a collective), then decide. Returns 1 when d->lost
 * is known, 0 to go on waiting. */
static int find_lost(s2s_dist *d, int nr, double t) {
    int any = 0;
    if (!d->ping_at) {
        d->ping_at = t;
        memset(d->cand, 0, (size_t)d->size);
        for (int i = 0; i < nr; i++)
            if (d->req[i] != MPI_REQUEST_NULL && d->req_peer[i] >= 0) d->cand[d->req_peer[i]] = any = 1;
        for (int r = 0; r < d->size; r++) {
            if (!any) d->cand[r] = r != d->rank;
            if (d->cand[r]) tell(d, r, TAG_PING, &one_byte, 1);
        }
        return 0;
    }
    if (t - d->ping_at < S2S_DIST_PONG_WAIT) return 0;
    for (int r = 0; r < d->size; r++) {
        d->lost[r] = d->cand[r] && !d->pong[r];
        d->told[r] = (char)d->lost[r];
        any |= d->lost[r];
    }
    if (!any) return 0;  /* everyone answered: they wait on the dead rank too; news will come */
    for (int r = 0; r < d->size; r++)
        if (r != d->rank && !d->lost[r]) tell(d, r, TAG_NEWS, d->told, d->size);
    return 1;
}

/* Every 10 ms: whether a rank on this machine has ended (then d->lost says which, and the others
 * are told). This finds a dead neighbour at once, without waiting for the launcher's signal. */
static int nearby_lost(s2s_dist *d) {
    double t = now_s();
    if (t - d->checked_at < 0.01) return 0;
    d->checked_at = t;
    int any = 0;
    for (int r = 0; r < d->size; r++) {
        d->lost[r] = d->nearby[r] && !proc_alive(&d->procs[r]);
        d->told[r] = (char)d->lost[r];
        any |= d->lost[r];
    }
    if (any)
        for (int r = 0; r < d->size; r++)
            if (r != d->rank && !d->lost[r]) tell(d, r, TAG_NEWS, d->told, d->size);
    return any;
}

/* ---- the stall watchdog -----------------------------------------------------------------
 * Over TCP, Open MPI 4.1's progress engine can spin without end inside the MPI call that finds a
 * rank's socket broken (writev: broken pipe or connection reset), so the exchange never returns
 * to name the rank. This thread checks the ranks on this machine every 10 ms and notes when each
 * was first seen gone. When an exchange has not come back from MPI for S2S_DIST_STALL seconds
 * and a rank is gone, it reports in the exchange's place (s2s_dist_on_stall's fn, which ends
 * the process). The ranks it names are those seen gone within 0.1 s of the first: a rank that
 * found the loss itself waits 0.2 s before it leaves (s2s_dist_abort), and is a consequence, not
 * a cause. Which of the two reports is decided once (d->reported): an exchange that finds the
 * loss itself waits for the watchdog's exit, and the watchdog stands down once the exchange
 * reports. It calls no MPI (MPI_THREAD_FUNNELED). */
static void *watch(void *arg) {
    s2s_dist *d = arg;
    unsigned seen = atomic_load(&d->beat);
    double since = now_s(), first = 0;
    double *gone = calloc((size_t)d->size, sizeof *gone);  /* when rank r was first seen gone; 0: not */
    int *lost = malloc(sizeof *lost * (size_t)d->size);
    const struct timespec tick = {0, 10 * 1000 * 1000};
    while (gone && lost && !atomic_load(&d->quit) && !atomic_load(&d->reported)) {
        nanosleep(&tick, NULL);
        const double t = now_s();
        for (int r = 0; r < d->size; r++)
            if (d->nearby[r] && !gone[r] && !proc_alive(&d->procs[r])) {
                gone[r] = t;
                if (!first) first = t;
            }
        const unsigned beat = atomic_load(&d->beat);
        if (beat != seen || !atomic_load(&d->in_exchange)) {
            seen = beat;
            since = t;
            continue;
        }
        if (t - since < S2S_DIST_STALL || !first || atomic_exchange(&d->reported, 1)) continue;
        for (int r = 0; r < d->size; r++) lost[r] = gone[r] && gone[r] <= first + 0.1;
        s2s_err err;
        const int speaker = name_lost(d, lost, atomic_load(&d->during), &err);
        d->stall_fn(err.msg, speaker == d->rank, d->stall_arg);
        _exit(1);  /* fn must not return; if it does, the process still ends */
    }
    free(gone);
    free(lost);
    return NULL;
}

void s2s_dist_on_stall(s2s_dist *d, s2s_dist_stall_fn fn, void *arg) {
    if (!d || d->watching || !fn) return;
    int any = 0;
    for (int r = 0; r < d->size; r++) any |= d->nearby[r];
    if (!any) return;  /* no rank on this machine to watch */
    d->stall_fn = fn;
    d->stall_arg = arg;
    sigset_t all, old;  /* the program's signals stay with its own threads */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    d->watching = pthread_create(&d->watchdog, NULL, watch, d) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Waits for d->req[0..nr) to complete, polling: answers pings meanwhile; ends early on a bye
 * from a rank that left on an error of its own (it said why), on a transport error, or when
 * ranks are found lost once the watched flag is set (above). */
static int wait_all(s2s_dist *d, int nr, const char *during, s2s_err *err) {
    int left = nr;
    atomic_store(&d->during, during);
    while (left > 0) {
        int got = 0;
        int rc = MPI_Testsome(nr, d->req, &got, d->idx, d->st);
        atomic_fetch_add(&d->beat, 1u);
        if (rc != MPI_SUCCESS) {  /* a transport error: the ranks it came from are lost */
            for (int i = 0; i < got; i++)
                if (d->st[i].MPI_ERROR != MPI_SUCCESS && d->req_peer[d->idx[i]] >= 0) d->lost[d->req_peer[d->idx[i]]] = 1;
            return lost_ranks(d, during, err);
        }
        if (got == MPI_UNDEFINED) break;
        left -= got;
        if (left <= 0) break;
        int bye = 0;
        MPI_Status bst;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_BYE, d->comm, &bye, &bst);
        if (bye) {
            d->failed = 1;
            d->speaker = -1;  /* the leaving rank said why */
            return s2s_errf(err, "rank %d left the job on an error (above)", bst.MPI_SOURCE);
        }
        if (serve(d) || nearby_lost(d)) {
            while (d->fault_stall) sched_yield();  /* the test's stand-in for Open MPI's spin */
            return lost_ranks(d, during, err);
        }
        if (d->flag && *d->flag) {
            double t = now_s();
            if (!d->flag_since) d->flag_since = t;
            else if (t - d->flag_since > S2S_DIST_GRACE && find_lost(d, nr, t)) return lost_ranks(d, during, err);
        }
        sched_yield();  /* oversubscribed ranks (more than cores) must let the others compute */
    }
    return S2S_OK;
}

static void post_recv(s2s_dist *d, int *nr, void *buf, int count, MPI_Datatype type, int from, int tag) {
    d->req_peer[*nr] = from;
    MPI_Irecv(buf, count, type, from, tag, d->comm, &d->req[(*nr)++]);
}
static void post_send(s2s_dist *d, int *nr, const void *buf, int count, MPI_Datatype type, int to, int tag) {
    d->req_peer[*nr] = -1;
    MPI_Isend(buf, count, type, to, tag, d->comm, &d->req[(*nr)++]);
}

/* Rank r's chunk of an arena of n floats: whole 64-byte lines, as even as they come. */
static void chunk_bounds(size_t n, int P, int r, size_t *lo, size_t *hi) {
    size_t lines = (n + 15) / 16;
    *lo = lines * (size_t)r / (size_t)P * 16;
    *hi = lines * (size_t)(r + 1) / (size_t)P * 16;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Every rank's nv values into all (rank r's at all + r * nv). */
static void post_values(s2s_dist *d, int *nr, const double *mine, int nv, double *all) {
    for (int q = 0; q < d->size; q++)
        if (q != d->rank) {
            post_recv(d, nr, all + (size_t)q * nv, nv, MPI_DOUBLE, q, TAG_VALS);
            post_send(d, nr, mine, nv, MPI_DOUBLE, q, TAG_VALS);
        }
    memcpy(all + (size_t)d->rank * nv, mine, sizeof(double) * (size_t)nv);
}

/* acc[0..len) = p_0 + p_1 + ... + p_{P-1}, added in that order for every element. */
static void fold_in_order(float *restrict acc, const float *const *p, int P, size_t len, int threads) {
    const size_t block = 4096;
    const int team = threads > 1 ? threads : 1;  /* s2s_dist_set_threads */
#pragma omp parallel for schedule(static) if (len >= 4 * block && team > 1) num_threads(team)
    for (size_t b0 = 0; b0 < len; b0 += block) {
        size_t b1 = b0 + block < len ? b0 + block : len;
        memcpy(acc + b0, p[0] + b0, (b1 - b0) * sizeof(float));
        for (int q = 1; q < P; q++) {
            const float *restrict x = p[q];
            for (size_t i = b0; i < b1; i++) acc[i] += x[i];
        }
    }
}

static int sum_ordered(s2s_dist *d, float *g, size_t n, s2s_err *err, int nr) {
    const int P = d->size, r = d->rank;
    size_t lo, hi;
    chunk_bounds(n, P, r, &lo, &hi);
    const size_t len = hi - lo;
    if (d->pieces_cap < (size_t)P * len) {
        free(d->pieces);
        d->pieces_cap = 0;
        if (!(d->pieces = s2s_malloc((size_t)P * len * sizeof(float) + 64, err, "the gradient pieces")))
            return S2S_ERR;
        d->pieces_cap = (size_t)P * len;
    }
    /* reduce-scatter: rank q's part of this rank's chunk arrives in pieces + q * len */
    for (int q = 0; q < P; q++) {
        if (q == r) continue;
        size_t qlo, qhi;
        chunk_bounds(n, P, q, &qlo, &qhi);
        post_recv(d, &nr, d->pieces + (size_t)q * len, (int)len, MPI_FLOAT, q, TAG_PIECE);
        post_send(d, &nr, g + qlo, (int)(qhi - qlo), MPI_FLOAT, q, TAG_PIECE);
    }
    if (wait_all(d, nr, "the gradient sum", err)) return S2S_ERR;
    for (int q = 0; q < P; q++) d->piece[q] = q == r ? g + lo : d->pieces + (size_t)q * len;
    float *acc = d->pieces + (size_t)r * len;  /* this rank's own slot is free */
    fold_in_order(acc, d->piece, P, len, d->threads);
    memcpy(g + lo, acc, len * sizeof(float));
    /* allgather: every chunk from its owner */
    nr = 0;
    for (int q = 0; q < P; q++) {
        if (q == r) continue;
        size_t qlo, qhi;
        chunk_bounds(n, P, q, &qlo, &qhi);
        post_recv(d, &nr, g + qlo, (int)(qhi - qlo), MPI_FLOAT, q, TAG_GATHER);
        post_send(d, &nr, g + lo, (int)len, MPI_FLOAT, q, TAG_GATHER);
    }
    return wait_all(d, nr, "the gradient sum", err);
}

/* An exchange's MPI calls are bracketed by these, for the watchdog (s2s_dist_on_stall). */
static void exchange_begin(s2s_dist *d, const char *during) {
    atomic_store(&d->during, during);
    atomic_fetch_add(&d->beat, 1u);
    atomic_store(&d->in_exchange, 1);
}
static int exchange_end(s2s_dist *d, int rc) {
    atomic_store(&d->in_exchange, 0);
    return rc;
}

static int sum(s2s_dist *d, float *g, size_t n, const double *mine, int nv, double *all, s2s_err *err) {
    int nr = 0;
    post_values(d, &nr, mine, nv, all);
    if (d->how == S2S_REDUCE_ORDERED) return sum_ordered(d, g, n, err, nr);
    if (wait_all(d, nr, "the exchange of losses", err)) return S2S_ERR;
    d->req_peer[0] = -1;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, d->comm, &d->req[0]);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Iallreduce", err);
    return wait_all(d, 1, "MPI_Allreduce of the gradients", err);
}

int s2s_dist_sum(s2s_dist *d, float *g, size_t n, const double *mine, int nv, double *all, s2s_err *err) {
    if (!d || d->size == 1) {
        memcpy(all, mine, sizeof(double) * (size_t)nv);
        return S2S_OK;
    }
    if (d->failed) return s2s_errf(err, "the MPI group is broken");
    if (n > (size_t)0x7fffffff) return s2s_errf(err, "MPI: %zu parameters are more than one message can carry", n);
    exchange_begin(d, "the exchange of losses");
    return exchange_end(d, sum(d, g, n, mine, nv, all, err));
}

static int allgather(s2s_dist *d, const void *mine, size_t bytes, void *all, s2s_err *err) {
    int nr = 0;
    for (int q = 0; q < d->size; q++)
        if (q != d->rank) {
            post_recv(d, &nr, (char *)all + (size_t)q * bytes, (int)bytes, MPI_BYTE, q, TAG_GATHER);
            post_send(d, &nr, mine, (int)bytes, MPI_BYTE, q, TAG_GATHER);
        }
    memcpy((char *)all + (size_t)d->rank * bytes, mine, bytes);
    return wait_all(d, nr, "the start-up checks", err);
}

int s2s_dist_allgather(s2s_dist *d, const void *mine, size_t bytes, void *all, s2s_err *err) {
    if (!d || d->size == 1) {
        memcpy(all, mine, bytes);
        return S2S_OK;
    }
    if (d->failed) return s2s_errf(err, "the MPI group is broken");
    if (bytes > (size_t)0x7fffffff) return s2s_errf(err, "MPI: a record of %zu bytes is too long", bytes);
    exchange_begin(d, "the start-up checks");
    return exchange_end(d, allgather(d, mine, bytes, all, err));
}

void s2s_dist_abort(s2s_dist *d, int status) {
    fflush(NULL);
    if (d && d->failed) {
        /* stay a moment to answer pings and let the news out, so that the others do not count
         * this rank among the lost when they look */
        double t0 = now_s();
        while (now_s() - t0 < 0.2) {
            serve(d);
            sched_yield();
        }
    } else if (d && d->size > 1) {
        /* tell the others this rank is leaving (it printed why), so they end without waiting;
         * give the messages a moment to go out, then leave whatever happened to them */
        char bye = 1;
        int nr = 0;
        for (int q = 0; q < d->size; q++)
            if (q != d->rank) post_send(d, &nr, &bye, 1, MPI_BYTE, q, TAG_BYE);
        double t0 = now_s();
        int done = 0;
        while (!done && now_s() - t0 < 0.2) {
            MPI_Testall(nr, d->req, &done, MPI_STATUSES_IGNORE);
            if (!done) sched_yield();
        }
    }
    _exit(status);
}
