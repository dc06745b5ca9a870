/* Internal: the workspace of activations kept for the backward pass, shared by the training
 * pass (s2s_forward.c) and inference (s2s_infer.c). Every buffer is time-major with the
 * batch's actual B as the row stride; capacities are for max_B rows and T steps. */
#ifndef S2S_WS_H
#define S2S_WS_H
#include "s2s_model.h"

typedef struct s2s_gru_cache {
    float *gi;          /* [T,B,3H] input projections (b_ih included) */
    float *hs;          /* [(T+1),B,H]: hs[0] = initial state, hs[t+1] = output of step t */
    float *r, *z, *n, *ghn; /* [T,B,H] gates */
    float *mask, *xd;   /* [T,B,H] dropout keep-scale on the input and the dropped input (l >= 1) */
    float *dgi, *dgh;   /* [T,B,3H] gradients of the projections */
} s2s_gru_cache;

/* Transposed copies of the weights the per-step products use, made at the start of every
 * encoder pass of more than 4 rows (s2s_enc_forward): a step's x W^T then reads W^T in
 * place instead of re-packing W for every step. dec_ih[0] is the context's columns of
 * layer 0 (attention model). Few rows go through BLAS's gemv on W as it is. */
typedef struct s2s_wt {
    int on;
    float *enc_hh[S2S_MAX_LAYERS], *dec_hh[S2S_MAX_LAYERS]; /* [H,3H] */
    float *dec_ih[S2S_MAX_LAYERS];                          /* [H,3H] */
    float *att_q;                                           /* [H,H] */
} s2s_wt;

/* A batch's distinct tokens and their first-layer projections (s2s_tokproj.c). */
typedef struct s2s_tok_table {
    int on;            /* the last forward pass went through this table */
    int n;             /* distinct tokens */
    int32_t *uniq;     /* [cap] their ids, in first-seen order */
    int32_t *slot;     /* [T*B] each position's (t*B+b) index in uniq */
    float *X, *dX;     /* [cap,E] their embeddings, gradient */
    float *P, *dP;     /* [cap,3H] X W^T + b, gradient */
} s2s_tok_table;

struct s2s_ws {
    int max_B, T, B, Tdec;
    int adrop_on;                       /* the last forward used attention dropout */
    int E, H, L, Vt, Vs;
    size_t bytes;
    float *block;
    s2s_params g;                       /* where backward adds gradients (the model's by default) */
    float *grads, *own_grads;
    /* encoder */
    float *enc_x;                       /* [T,B,E] */
    s2s_gru_cache enc[S2S_MAX_LAYERS];  /* dgi/dgh shared by all layers */
    float *enc_dy, *enc_dx;             /* [T,B,max(E,H)] */
    float *enc_dstate;                  /* [L,B,H] gradient of the final state */
    /* attention */
    float *K, *KP, *dK, *dKP;           /* [B,T,H] batch-major encoder outputs, W_k K */
    int32_t *valid;                     /* [B] */
    int32_t *kv_row;                    /* [B] inference: the row of K/KP each decoder row reads */
    float *F;                           /* [T,B,T,H] */
    float *A, *adrop;                   /* [T,B,T] weights, dropout keep-scale */
    float *ctx, *dqp;                   /* [T,B,H] */
    /* decoder */
    float *dec_x;                       /* [T,B,E] */
    float *gi0e;                        /* [T,B,3H] embedding part of layer 0's projection */
    s2s_gru_cache dec[S2S_MAX_LAYERS];
    float *dh[S2S_MAX_LAYERS];          /* [B,H] gradient carried to the previous step */
    float *ctxp, *ctx_sum;              /* [B,3H] plain: context projection, Σ_t dgi0 */
    float *logits, *dlogits;            /* [T,B,Vt] */
    float *dhtop;                       /* [T,B,H] */
    float *gh, *tmp;                    /* [B,3H], [B,max(E,H)] scratch */
    float *loss;                        /* [B] */
    int active[S2S_MAX_STEPS];                   /* rows still going at each decoder step */
    int compact, nc;                    /* dense + loss only on the nc non-padding positions */
    int32_t *crow, *clab;               /* [T*B] their t*B+b, labels */
    float *hc, *closs;                  /* [T*B,H] their top states, [T*B] their losses */
    /* inference */
    float *inf_h[S2S_MAX_LAYERS], *inf_h2[S2S_MAX_LAYERS]; /* [B,H] */
    float *inf_ctx;                     /* [B,H] plain: the encoder's context */
    float *inf_perm;                    /* [B,3H] reorder scratch */
    s2s_wt wt;
    /* token tables: the encoder's layer 0, the decoder's embedding columns */
    s2s_tok_table enc_tab, dec_tab;
    int32_t *seen;                      /* [max(Vs,Vt)] token -> 1 + its slot; zeros between uses */
    int dec_full;                       /* inference: 1 dec_tab holds the whole target vocabulary,
                                         * -1 not used, 0 not decided since s2s_encode */
};

/* Pointers for one decoder step, per layer: where the previous state is read and the new one
 * written, the gate caches, the projections and the dropped inputs. */
typedef struct s2s_step_io {
    const float *h_prev[S2S_MAX_LAYERS];
    float *h[S2S_MAX_LAYERS], *r[S2S_MAX_LAYERS], *z[S2S_MAX_LAYERS], *n[S2S_MAX_LAYERS];
    float *ghn[S2S_MAX_LAYERS], *gi[S2S_MAX_LAYERS], *xd[S2S_MAX_LAYERS];
    const float *mask[S2S_MAX_LAYERS]; /* NULL: no dropout */
    const float *gi0e;  /* [B,3H] embedding part + b_ih of layer 0 (may be gi[0] itself) */
    float *F, *A, *ctx; /* attention caches and context [B,H] */
    const float *adrop;
    const int32_t *kv_row;  /* NULL: row b reads keys row b */
} s2s_step_io;

void s2s_enc_forward(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, int train, s2s_rng *rng);
void s2s_attn_prepare(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src_len);
void s2s_tab_build(s2s_ws *ws, s2s_tok_table *tb, const int32_t *ids, int B, int T, int steps, const int *rows);
void s2s_tab_full(s2s_tok_table *tb, int V);
void s2s_tab_project(s2s_tok_table *tb, const float *emb, int E, int N, const float *W, int ldw, const float *b);
void s2s_tab_gather(const s2s_tok_table *tb, int N, float *gi, int B, int steps, const int *rows);
void s2s_tab_backward(s2s_tok_table *tb, int E, int N, const float *dgi, int B, int steps, const int *rows,
                      const float *W, int ldw, float *dW, float *db, float *demb);
void s2s_dec_step(const s2s_model *m, s2s_ws *ws, int B, const s2s_step_io *io);
#endif
