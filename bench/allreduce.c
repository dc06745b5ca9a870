/* The cost of one training step's gradient exchange (s2s_dist_sum) under mpirun, for the
 * scaling notes (docs/SCALING.md): per call, the time of the slowest rank, for our ordered
 * reduce-scatter + allgather and for MPI_Allreduce, on an arena of N floats.
 *
 *   mpirun -np R build/bench_allreduce [N floats, default 4499699 = the big configuration]
 *          [calls, default 20]
 *
 * Prints one line per mode: ranks, bytes, best and median seconds per call, the bus bandwidth
 * 2 (R-1)/R x bytes / time (what each rank's link carries in a ring or in ours), and whether
 * every rank ended with the same bits (and, for MPI_Allreduce, the ordered sum's bits). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s2s_dist.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rank r's gradient: a fixed pseudo-random arena, different on every rank. */
static void fill(float *g, size_t n, int rank) {
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(rank + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        g[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5) * 1e-3f;
    }
}

int main(int argc, char **argv) {
    const size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 4499699;
    const int calls = argc > 2 ? atoi(argv[2]) : 20;
    s2s_err err;
    s2s_dist *d;
    if (s2s_dist_open(&d, &err)) { fprintf(stderr, "bench_allreduce: %s\n", err.msg); return 1; }
    if (!d || calls < 1 || n < 1) { fprintf(stderr, "bench_allreduce: run under mpirun -np R (R >= 2)\n"); return 1; }
    const int R = s2s_dist_size(d), rank = s2s_dist_rank(d);
    float *g = malloc(n * sizeof(float));
    double *t = malloc(sizeof(double) * (size_t)calls), *all = malloc(sizeof(double) * (size_t)R * 2);
    if (!g || !t || !all) { fprintf(stderr, "bench_allreduce: out of memory\n"); return 1; }
    const char *names[2] = {"ordered", "MPI_Allreduce"};
    uint64_t ordered_hash = 0;
    for (int mode = 0; mode < 2; mode++) {
        s2s_dist_set_reduce(d, mode ? S2S_REDUCE_MPI : S2S_REDUCE_ORDERED);
        double mine[2] = {0, 0};
        for (int c = -3; c < calls; c++) {  /* three calls to warm up */
            fill(g, n, rank);
            mine[0] = now_s();
            if (s2s_dist_sum(d, g, n, mine, 1, all, &err)) { fprintf(stderr, "bench_allreduce: %s\n", err.msg); return 1; }
            double dt = now_s() - mine[0];
            /* the slowest rank's time is the step's */
            mine[1] = dt;
            if (s2s_dist_allgather(d, &mine[1], sizeof(double), all, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            double worst = 0;
            for (int r = 0; r < R; r++) worst = all[r] > worst ? all[r] : worst;
            if (c >= 0) t[c] = worst;
        }
        /* the same bits on every rank? (and, for MPI_Allreduce, as the ordered sum's) */
        uint64_t h = s2s_fnv1a(S2S_FNV_SEED, g, n * sizeof(float)), hs[512];
        int same = 1;
        if (R <= 512 && !s2s_dist_allgather(d, &h, sizeof h, hs, &err))
            for (int r = 0; r < R; r++) same &= hs[r] == h;
        if (mode == 0) ordered_hash = h;
        qsort(t, (size_t)calls, sizeof(double), cmp_double);
        const double bytes = (double)n * sizeof(float), bus = 2.0 * (R - 1) / R * bytes;
        if (rank == 0)
            printf("%-14s ranks %d  %.1f MB  best %.2f ms  median %.2f ms  bus %.2f GB/s  same on all ranks: %s%s\n",
                   names[mode], R, bytes / 1e6, t[0] * 1e3, t[calls / 2] * 1e3, bus / t[calls / 2] / 1e9,
                   same ? "yes" : "NO", mode ? (h == ordered_hash ? "; = ordered" : "; != ordered") : "");
    }
    free(g); free(t); free(all);
    s2s_dist_close(d);
    return 0;
}
