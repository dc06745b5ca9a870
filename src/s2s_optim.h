/* Gradient clipping by total norm (d2l's grad_clipping) and Adam as torch.optim.Adam
 * (no weight decay, no amsgrad), as flat loops over the parameter arena. */
#ifndef S2S_OPTIM_H
#define S2S_OPTIM_H
#include <stddef.h>

/* The 2-norm of g[n], summed in `parts` contiguous parts (of 16-float chunks, dealt as a static
 * OpenMP schedule deals them) whose sums are added in order, however many threads run them. The
 * parts decide the rounding, so the ranks of an MPI job pass the threads of the whole job and get
 * the norm of one process with that many threads. Arenas under 16384 floats are one part.
 * `threads`: the OpenMP threads that compute the parts (1: the calling thread alone); the
 * result does not depend on it. The same for the calls below that take threads. */
double s2s_grad_norm_parts(const float *g, size_t n, int parts, int threads);
/* dst[i] = src[0][i] + src[1][i] + ... + src[ns-1][i], added in that order, and returns
 * s2s_grad_norm_parts(dst, n, parts): the threads' gradients summed and measured in one pass. */
double s2s_sum_norm_parts(float *dst, const float *const *src, int ns, size_t n, int parts, int threads);
/* The factor that brings a gradient of this norm down to max_norm (1 when it is not above). */
float s2s_clip_scale(double norm, double max_norm);

/* Scales g so that its 2-norm is at most max_norm (only when it is larger); returns the norm
 * before clipping, summed in one part on the calling thread. */
double s2s_clip_grad_norm(float *g, size_t n, double max_norm);
/* The same with the norm in `parts` parts (s2s_grad_norm_parts) on `threads` threads. */
double s2s_clip_grad_norm_parts(float *g, size_t n, double max_norm, int parts, int threads);

typedef struct s2s_adam {
    float lr, beta1, beta2, eps;
    long step;    /* steps taken */
    float *m, *v; /* [n] first and second moments, same layout as the parameters */
    size_t n;
    int threads;  /* OpenMP threads of the step's loop (0 or 1: the calling thread alone) */
} s2s_adam;

/* One step: p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps), in PyTorch's order. */
void s2s_adam_step(s2s_adam *a, float *p, const float *g);
/* The step for the gradient g x scale (g is left as it is): clipping and Adam in one pass over
 * the arena, the numbers of s2s_clip_grad_norm (which multiplies g by the same float) then
 * s2s_adam_step. */
void s2s_adam_step_scaled(s2s_adam *a, float *p, const float *g, float scale);

#endif
