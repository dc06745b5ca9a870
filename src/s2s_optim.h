/* Gradient clipping by total norm (d2l's grad_clipping) and Adam as torch.optim.Adam
 * (no weight decay, no amsgrad), as flat loops over the parameter arena. */
#ifndef S2S_OPTIM_H
#define S2S_OPTIM_H
#include <stddef.h>

/* Scales g so that its 2-norm is at most max_norm (only when it is larger); returns the norm
 * before clipping. */
double s2s_clip_grad_norm(float *g, size_t n, double max_norm);
/* The same with the norm summed in `parts` contiguous parts (of 16-float chunks, dealt as a
 * static OpenMP schedule deals them) whose sums are added in order, however many threads run
 * them: s2s_clip_grad_norm is parts = omp_get_max_threads(). The parts are what decides the
 * rounding, so ranks of an MPI job pass the threads of the whole job and clip as one process
 * with that many threads would. Arenas under 16384 floats are one part. */
double s2s_clip_grad_norm_parts(float *g, size_t n, double max_norm, int parts);

typedef struct s2s_adam {
    float lr, beta1, beta2, eps;
    long step;    /* steps taken */
    float *m, *v; /* [n] first and second moments, same layout as the parameters */
    size_t n;
} s2s_adam;

/* One step: p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps), in PyTorch's order. */
void s2s_adam_step(s2s_adam *a, float *p, const float *g);

#endif
