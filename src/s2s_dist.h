/* Data parallelism across processes: the group of ranks a training run is spread over, and the
 * few exchanges it needs. Two implementations of this one interface: src/s2s_dist.c (one
 * process, no MPI; every call is trivial; in libs2s.a and libs2s.so) and src/mpi/s2s_dist_mpi.c
 * (Open MPI), which the seq2seq program links ahead of libs2s.a when the build has MPI
 * (Makefile: MPI=1, the default when mpicc is found).
 *
 * A NULL group is one process: rank 0 of 1. s2s_dist_open returns NULL unless the process was
 * started by an MPI launcher (mpirun, mpiexec, srun), so a binary built with MPI behaves as one
 * built without it when started on its own, and never initialises MPI then.
 *
 * Failures. Every exchange waits by polling, so that a peer that died can be named. A rank on
 * the same machine is seen gone at once (its process, checked every 10 ms). For the others:
 * when the watched flag (s2s_dist_watch; the program's SIGINT/SIGTERM flag) is set, which is
 * what Open MPI's launcher does to the survivors when a rank dies, an exchange still waiting
 * S2S_DIST_GRACE seconds later pings the ranks it misses: those that do not answer are gone
 * (ranks that only wait on them answer). The finder tells the others, and every rank fails the
 * exchange with a message naming the same lost ranks.
 * The caller should ignore SIGPIPE: with TCP between ranks, a write to a dead rank's socket
 * would otherwise end this one before it can say anything. */
#ifndef S2S_DIST_H
#define S2S_DIST_H
#include <signal.h>
#include <stddef.h>

#include "s2s_common.h"

typedef struct s2s_dist s2s_dist;

/* Seconds an exchange goes on waiting after the watched flag is set before it looks for the
 * ranks that are gone: long enough for the live ones to finish their batch and arrive, short
 * enough to say so before Open MPI kills the survivors of a dead rank, 1 s after its SIGTERM
 * (odls_base_sigkill_timeout). */
#define S2S_DIST_GRACE 0.3

/* How the gradient sum is computed (s2s_dist_sum). */
typedef enum s2s_dist_reduce {
    S2S_REDUCE_ORDERED = 0, /* reduce-scatter + allgather by point-to-point messages, each chunk
                             * folded in rank order by its owner: the same bits on every rank,
                             * every run, and as one process's threads sum their slices */
    S2S_REDUCE_MPI = 1      /* MPI_Allreduce: the library's algorithm and order of summation */
} s2s_dist_reduce;

/* The environment variable that shows an MPI launcher started this process (Open MPI's,
 * PMIx's, PMI's as Slurm sets them), or NULL. Both implementations decide with it. */
const char *s2s_dist_launcher(void);
/* Joins the job when started by an MPI launcher (*out = the group), else *out = NULL (one
 * process; MPI is not touched). Fails when launched by one but built without MPI. */
int s2s_dist_open(s2s_dist **out, s2s_err *err);
/* Leaves the job (MPI_Finalize) and frees the group; NULL is fine. */
void s2s_dist_close(s2s_dist *d);
int s2s_dist_rank(const s2s_dist *d);
int s2s_dist_size(const s2s_dist *d);
/* Whether this rank prints the job's messages and writes its files: rank 0, or after ranks
 * were lost, the lowest rank still there (so the job says what happened once). */
int s2s_dist_speaks(const s2s_dist *d);
/* 1 once an exchange has failed (ranks lost, or one left on its own error): the group can do
 * nothing more, and the caller's error is that failure. */
int s2s_dist_failed(const s2s_dist *d);
/* 1 when the build has MPI (s2s_dist_open can join a job). */
int s2s_dist_built(void);
/* The flag (set by a signal handler) that starts the grace period described above. */
void s2s_dist_watch(s2s_dist *d, volatile sig_atomic_t *flag);
void s2s_dist_set_reduce(s2s_dist *d, s2s_dist_reduce how);
/* The threads that add the ranks' pieces in s2s_dist_sum (the rank's --threads; 1 until set). */
void s2s_dist_set_threads(s2s_dist *d, int threads);

/* A rank can be caught inside Open MPI itself: over TCP, the call that finds a just-dead rank's
 * socket broken can leave MPI's progress engine spinning for good (Open MPI 4.1), so the
 * exchange never returns to say so. For ranks on this machine a watchdog thread catches that:
 * when one of them is gone and an exchange has not come back from MPI for S2S_DIST_STALL
 * seconds, it calls fn(msg, speaks, arg) on its own thread, msg naming the lost ranks as the
 * exchange's error would, speaks 1 on the rank that reports (the lowest one left). fn must end
 * the process (_exit): the thread inside MPI will not come back. It should first stay a moment
 * (the launcher stops the job's ranks within a second of a rank's death), so that the other
 * ranks, stuck or not, do not count it among the lost. Each process reports a lost rank once,
 * from the exchange or from the watchdog. Without fn, or without a rank on this machine, no
 * watchdog runs and Open MPI's launcher ends the stuck ranks. For tests, the environment
 * variable S2S_DIST_FAULT=stall makes an exchange that finds a rank on this machine gone spin
 * where it would report, as Open MPI can. */
#define S2S_DIST_STALL 0.25
typedef void (*s2s_dist_stall_fn)(const char *msg, int speaks, void *arg);
void s2s_dist_on_stall(s2s_dist *d, s2s_dist_stall_fn fn, void *arg);

/* One training step's exchange. g[n]: in, this rank's gradient; out, the sum over ranks.
 * S2S_REDUCE_ORDERED sums (((g_0 + g_1) + g_2) + ...) element by element, in rank order.
 * mine[nv]: this rank's small values (stop flag, losses, ...); all[size * nv] receives every
 * rank's, rank r's at all + r * nv. Every rank must call with the same n and nv. */
int s2s_dist_sum(s2s_dist *d, float *g, size_t n, const double *mine, int nv, double *all, s2s_err *err);
/* Every rank's `bytes` bytes of mine into all[size * bytes], in rank order (setup checks). */
int s2s_dist_allgather(s2s_dist *d, const void *mine, size_t bytes, void *all, s2s_err *err);

/* Ends this process at once without waiting for the others (which Open MPI's launcher then
 * stops): for a rank that has reported a failure the group cannot recover from. */
void s2s_dist_abort(s2s_dist *d, int status) __attribute__((noreturn));
#endif
