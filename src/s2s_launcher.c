/* s2s_dist_launcher: whether an MPI launcher started this process, for both implementations of
 * s2s_dist.h (so the one with MPI only initialises MPI then, and the one without can refuse). */
#include "s2s_dist.h"

#include <stdlib.h>

const char *s2s_dist_launcher(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}
