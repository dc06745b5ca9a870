/* s2s_dist.h for a build without MPI: always one process. A process started by an MPI
 * launcher is told that this build cannot join the job, rather than training N separate
 * copies of the model that overwrite each other's files. */
#include "s2s_dist.h"

#include <stdlib.h>
#include <string.h>

struct s2s_dist { int unused; };

int s2s_dist_open(s2s_dist **out, s2s_err *err) {
    *out = NULL;
    const char *v = s2s_dist_launcher();
    if (v) return s2s_errf(err, "started by an MPI launcher (%s is set), but this build has no MPI: "
                                "rebuild with Open MPI installed (make MPI=1)", v);
    return S2S_OK;
}

void s2s_dist_close(s2s_dist *d) { (void)d; }
int s2s_dist_rank(const s2s_dist *d) { (void)d; return 0; }
int s2s_dist_size(const s2s_dist *d) { (void)d; return 1; }
int s2s_dist_speaks(const s2s_dist *d) { (void)d; return 1; }
int s2s_dist_failed(const s2s_dist *d) { (void)d; return 0; }
int s2s_dist_built(void) { return 0; }
void s2s_dist_watch(s2s_dist *d, volatile sig_atomic_t *flag) { (void)d; (void)flag; }
void s2s_dist_set_reduce(s2s_dist *d, s2s_dist_reduce how) { (void)d; (void)how; }
void s2s_dist_set_threads(s2s_dist *d, int threads) { (void)d; (void)threads; }
void s2s_dist_on_stall(s2s_dist *d, s2s_dist_stall_fn fn, void *arg) { (void)d; (void)fn; (void)arg; }

int s2s_dist_sum(s2s_dist *d, float *g, size_t n, const double *mine, int nv, double *all, s2s_err *err) {
    (void)d; (void)g; (void)n; (void)err;
    memcpy(all, mine, sizeof(double) * (size_t)nv);
    return S2S_OK;
}

int s2s_dist_allgather(s2s_dist *d, const void *mine, size_t bytes, void *all, s2s_err *err) {
    (void)d; (void)err;
    memcpy(all, mine, bytes);
    return S2S_OK;
}

void s2s_dist_abort(s2s_dist *d, int status) { (void)d; exit(status); }
