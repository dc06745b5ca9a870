/* Clipping and Adam over flat arrays. */
#include "s2s_optim.h"

#include <math.h>

double s2s_clip_grad_norm(float *g, size_t n, double max_norm) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    double norm = sqrt(s);
    if (norm > max_norm) {
        float scale = (float)(max_norm / norm);
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
    for (size_t i = 0; i < a->n; i++) {
        float gi = g[i];
        a->m[i] = a->m[i] * b1 + gi * (1.0f - b1);
        a->v[i] = a->v[i] * b2 + gi * gi * (1.0f - b2);
        float denom = sqrtf(a->v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (a->m[i] / denom);
    }
}
