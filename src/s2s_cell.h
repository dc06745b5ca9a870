/* Internal: the recurrent cell interface. A cell is one step of PyTorch's nn.GRU / nn.LSTM over
 * B rows: from the input projection gi = x W_ih^T + b_ih (computed by the caller, for all steps
 * at once where it can) and the previous state, the new state and a cache of what its backward
 * pass needs. The encoder and the decoder run any cell through this table; a new cell is one
 * file (s2s_cell_NAME.c) and one entry in s2s_families.c.
 *
 * Shapes: H units; G gate blocks (the rows of W_ih, W_hh and the biases are G*H); S states per
 * row (h, and c for the LSTM); the cache is P planes of [B,H], plane k at cache + k * plane
 * (a training pass keeps plane = T*B*H so that step t's planes are at cache + t*B*H). */
#ifndef S2S_CELL_H
#define S2S_CELL_H
#include <stddef.h>

#include "s2s_linalg.h"

typedef struct s2s_cell_fwd {
    int B, H;
    const float *gi;       /* [B,G*H] input projection, b_ih included */
    const float *h_prev;   /* [B,H] */
    const float *c_prev;   /* [B,H] the previous cell state (S = 2), else unused */
    const float *W_hh;     /* [G*H,H] */
    const float *W_hhT;    /* [H,G*H] W_hh transposed (faster products over many rows), or NULL */
    const float *b_hh;     /* [G*H] */
    int zero_prev;         /* 1: the previous state is zero (a first step): no W_hh product */
    float *gh;             /* [B,G*H] scratch */
    float *h, *c;          /* [B,H] the new state (c when S = 2) */
    float *cache;          /* P planes */
    size_t plane;
    s2s_gemm_kind gemm;    /* which code computes the products (the workspace's) */
    struct s2s_pk *pk;     /* the workspace's packed weights (S2S_GEMM_BF16 or INT8 at inference),
                            * or NULL: the W_hh product through it (s2s_pk_linear) */
} s2s_cell_fwd;

typedef struct s2s_cell_bwd {
    int B, H;
    const float *dh;       /* [B,H] dL/dh of the new state */
    const float *dc;       /* [B,H] dL/dc of the new cell state (S = 2), else unused */
    const float *h_prev, *c_prev;
    const float *cache;
    size_t plane;
    const float *W_hh;     /* [G*H,H]; NULL: the previous state is zero, dh_prev/dc_prev unwanted */
    float *dgi;            /* [B,G*H] dL/d gi */
    float *dgh;            /* [B,G*H] dL/d (h_prev W_hh^T + b_hh); the same buffer as dgi when the
                            * cell has !own_dgh (the two are equal) */
    float *dh_prev, *dc_prev; /* [B,H]; may be the same buffers as dh, dc */
    s2s_gemm_kind gemm;    /* which code computes the products (the workspace's) */
} s2s_cell_bwd;

typedef struct s2s_cell_ops {
    const char *name;      /* as --cell spells it */
    int gates;             /* G */
    int states;            /* S: 1 (h) or 2 (h, c) */
    int planes;            /* P */
    int own_dgh;           /* 1: dgh differs from dgi (GRU: r ⊙ the n block), needs its own buffer */
    void (*forward)(const s2s_cell_fwd *a);
    /* The same step with the element-wise part in plain portable loops (the tests' reference
     * for the vectorised one; the products are the same calls). */
    void (*forward_ref)(const s2s_cell_fwd *a);
    /* Writes dgi, dgh (and dh_prev, dc_prev unless W_hh is NULL). The weight gradients are the
     * caller's (one product over all steps). */
    void (*backward)(const s2s_cell_bwd *a);
    /* The same with the element-wise part in plain portable loops (as forward_ref). */
    void (*backward_ref)(const s2s_cell_bwd *a);
} s2s_cell_ops;

/* gh [B,G*H] = h_prev W_hh^T + b_hh, what every cell's step starts from: b_hh alone after a zero
 * state; else through the workspace's packed copy (a->pk), the transposed copy (W_hhT), or W_hh
 * itself; ref (the portable reference step) always from W_hh (s2s_nn.c). */
void s2s_cell_gh(const s2s_cell_fwd *a, int G, int ref);

/* The table (s2s_families.c): NULL for an unknown kind. */
const s2s_cell_ops *s2s_cell_of(int kind);
#endif
