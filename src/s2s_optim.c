/* Clipping and Adam over flat arrays. Large arenas are split over the OpenMP threads in fixed
 * static chunks, and the norm's partial sums are added in part order, so a run is repeatable
 * for a given number of parts (threads, or threads of all ranks: s2s_clip_grad_norm_parts). */
#include "s2s_optim.h"

#include <math.h>

#define PAR_MIN 16384  /* below this, threads cost more than they save */
#define MAX_PARTS 256

/* The team of a loop given `threads` (the caller's count, from its options: never the process's
 * OpenMP default). */
static inline int team(int threads) { return threads > 1 ? threads : 1; }

/* Σ g² over the chunks [c0, c1) of 16 floats: 16 float lanes (vectorises, fixed order), folded
 * into the double at every 256th chunk of the whole arena; a last partial chunk is added in
 * double. This is one thread's share of the norm; the shares are added in order. */
static double part_sum(const float *g, size_t n, size_t c0, size_t c1) {
    float lane[16] = {0};
    double s = 0.0;
    for (size_t c = c0; c < c1; c++) {
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
    return s;
}

/* The parts' first chunks: part p of `parts` takes chunks [first(p), first(p + 1)) of 16 floats,
 * as a static OpenMP schedule deals them. */
static int norm_parts(size_t n, int parts) {
    if (n < PAR_MIN || parts < 1) return 1;
    return parts > MAX_PARTS ? MAX_PARTS : parts;
}
static size_t first_chunk(size_t n, int parts, int p) {
    const size_t chunks = (n + 15) / 16, q = chunks / (size_t)parts, rem = chunks % (size_t)parts;
    return (size_t)p * q + ((size_t)p < rem ? (size_t)p : rem);
}

double s2s_grad_norm_parts(const float *g, size_t n, int parts, int threads) {
    double part[MAX_PARTS];
    parts = norm_parts(n, parts);
#pragma omp parallel for schedule(static) if (parts > 1 && threads > 1) num_threads(team(threads))
    for (int p = 0; p < parts; p++) part[p] = part_sum(g, n, first_chunk(n, parts, p), first_chunk(n, parts, p + 1));
    double s = 0.0;
    for (int p = 0; p < parts; p++) s += part[p];
    return sqrt(s);
}

double s2s_sum_norm_parts(float *dst, const float *const *src, int ns, size_t n, int parts, int threads) {
    double part[MAX_PARTS];
    parts = norm_parts(n, parts);
#pragma omp parallel for schedule(static) if (parts > 1 && threads > 1) num_threads(team(threads))
    for (int p = 0; p < parts; p++) {
        const size_t c0 = first_chunk(n, parts, p), c1 = first_chunk(n, parts, p + 1);
        float lane[16] = {0};
        double s = 0.0;
        for (size_t c = c0; c < c1; c++) {  /* part_sum's order, on the sums as they are made */
            const size_t i0 = c * 16, k = i0 + 16 <= n ? 16 : n - i0;
            float x[16];
            if (k == 16) {  /* whole chunks with constant trip counts: one vector each */
                for (int l = 0; l < 16; l++) x[l] = src[0][i0 + l];
                for (int j = 1; j < ns; j++)
                    for (int l = 0; l < 16; l++) x[l] += src[j][i0 + l];
                for (int l = 0; l < 16; l++) { dst[i0 + l] = x[l]; lane[l] += x[l] * x[l]; }
                if ((c & 255) == 255) {
                    for (int l = 0; l < 16; l++) { s += lane[l]; lane[l] = 0.0f; }
                }
                continue;
            }
            for (size_t l = 0; l < k; l++) x[l] = src[0][i0 + l];  /* the arena's last, partial chunk */
            for (int j = 1; j < ns; j++)
                for (size_t l = 0; l < k; l++) x[l] += src[j][i0 + l];
            for (size_t l = 0; l < k; l++) { dst[i0 + l] = x[l]; s += (double)x[l] * x[l]; }
            if ((c & 255) == 255) {
                for (int l = 0; l < 16; l++) { s += lane[l]; lane[l] = 0.0f; }
            }
        }
        for (int l = 0; l < 16; l++) s += lane[l];
        part[p] = s;
    }
    double s = 0.0;
    for (int p = 0; p < parts; p++) s += part[p];
    return sqrt(s);
}

float s2s_clip_scale(double norm, double max_norm) {
    return norm > max_norm ? (float)(max_norm / norm) : 1.0f;
}

double s2s_clip_grad_norm_parts(float *g, size_t n, double max_norm, int parts, int threads) {
    const double norm = s2s_grad_norm_parts(g, n, parts, threads);
    if (norm > max_norm) {
        const float scale = s2s_clip_scale(norm, max_norm);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN && threads > 1) num_threads(team(threads))
        for (size_t i = 0; i < n; i++) g[i] *= scale;
    }
    return norm;
}

double s2s_clip_grad_norm(float *g, size_t n, double max_norm) {
    return s2s_clip_grad_norm_parts(g, n, max_norm, 1, 1);
}

void s2s_adam_step_scaled(s2s_adam *a, float *p, const float *g, float scale) {
    a->step++;
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(a->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    float *m = a->m, *v = a->v;
    const size_t n = a->n;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN && a->threads > 1) num_threads(team(a->threads))
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * scale;  /* scale 1 leaves every value as it is */
        m[i] = m[i] * b1 + gi * (1.0f - b1);
        v[i] = v[i] * b2 + gi * gi * (1.0f - b2);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

void s2s_adam_step(s2s_adam *a, float *p, const float *g) { s2s_adam_step_scaled(a, p, g, 1.0f); }
