/* Gradient clipping by total norm (d2l's grad_clipping) and Adam as torch.optim.Adam
 * (no weight decay, no amsgrad), as flat loops over the parameter arena. */
#ifndef S2S_OPTIM_H
#define S2S_OPTIM_H
#include <stddef.h>

/* Scales g so that its 2-norm is at most max_norm (only when it is larger); returns the norm
 * before clipping. */
double s2s_clip_grad_norm(float *g, size_t n, double max_norm);

typedef struct s2s_adam {
    float lr, beta1, beta2, eps;
    long step;    /* steps taken */
    float *m, *v; /* [n] first and second moments, same layout as the parameters */
    size_t n;
} s2s_adam;

/* One step: p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps), in PyTorch's order. */
void s2s_adam_step(s2s_adam *a, float *p, const float *g);

#endif
