/* Clipping and Adam over flat arrays. Large arenas are split over the OpenMP threads in fixed
 * static chunks, and the norm's partial sums are added in thread order, so a run is repeatable
 * for a given thread count. */
#include "s2s_optim.h"

#include <math.h>
#include <omp.h>

#define PAR_MIN 16384  /* below this, threads cost more than they save */
#define MAX_PARTS 256

double s2s_clip_grad_norm(float *g, size_t n, double max_norm) {
    double part[MAX_PARTS] = {0};
    int parts = 1;
#pragma omp parallel if (n >= PAR_MIN)
    {
        int t = omp_get_thread_num();
#pragma omp single
        parts = omp_get_num_threads() < MAX_PARTS ? omp_get_num_threads() : MAX_PARTS;
        float lane[16] = {0};  /* 16 float lanes per chunk of 16: vectorises, fixed order */
        double s = 0.0;
#pragma omp for schedule(static)
        for (size_t c = 0; c < (n + 15) / 16; c++) {
            size_t i0 = c * 16;
            if (i0 + 16 <= n)
                for (int l = 0; l < 16; l++) lane[l] += g[i0 + l] * g[i0 + l];
            else
                for (size_t i = i0; i < n; i++) s += (double)g[i] * g[i];
            if ((c & 255) == 255) {  /* fold into double now and then: float lanes stay accurate */
                for (int l = 0; l < 16; l++) { s += lane[l]; lane[l] = 0.0f; }
            }
        }
        for (int l = 0; l < 16; l++) s += lane[l];
        if (t < MAX_PARTS) part[t] = s;
    }
    double s = 0.0;
    for (int t = 0; t < parts; t++) s += part[t];
    double norm = sqrt(s);
    if (norm > max_norm) {
        float scale = (float)(max_norm / norm);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++) g[i] *= scale;
    }
    return norm;
}

void s2s_adam_step(s2s_adam *a, float *p, const float *g) {
    a->step++;
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(a->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    float *m = a->m, *v = a->v;
    const size_t n = a->n;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        m[i] = m[i] * b1 + gi * (1.0f - b1);
        v[i] = v[i] * b2 + gi * gi * (1.0f - b2);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}
