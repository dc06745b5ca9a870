/* Internal: the workspace of activations kept for the backward pass, shared by the training
 * pass (s2s_forward.c, s2s_encoder.c, the decoders) and inference (s2s_infer.c). Every buffer
 * is time-major with the batch's actual B as the row stride; capacities are for max_B rows and
 * T steps. Each buffer has one name and one use. Units: H hidden, Hd = H / directions per
 * encoder direction, G the cell's gate blocks, S its states, P its cache planes. */
#ifndef S2S_WS_H
#define S2S_WS_H
#include "s2s_cell.h"
#include "s2s_model.h"

/* Hands out 64-byte aligned slices of one block, twice over the same list of takes: the first
 * pass (base NULL) only counts and returns NULL, the second hands out the slices. */
typedef struct s2s_carve { char *base; size_t used; } s2s_carve;
float *s2s_take(s2s_carve *c, size_t floats);
void *s2s_take_bytes(s2s_carve *c, size_t bytes);

/* One recurrent layer (one direction) over a pass's steps, in step order. */
typedef struct s2s_rnn_cache {
    float *gi;          /* [T,B,G*Hd] input projections (b_ih included) */
    float *hs;          /* [(T+1),B,Hd]: hs[0] the initial state, hs[s+1] the state after step s */
    float *cs;          /* [(T+1),B,Hd] cell states likewise (S = 2), else NULL */
    float *cache;       /* P planes of [T,B,Hd]: the plane stride is the pass's T*B*Hd in the
                         * encoder, TBd*H (the capacity) in the decoder */
    float *dgi, *dgh;   /* [T,B,G*Hd] gradients of the projections (dgh = dgi unless own_dgh) */
} s2s_rnn_cache;

/* Between layers (l >= 1): inverted dropout on the layer's input. */
typedef struct s2s_layer_drop {
    float *mask;        /* [T,B,H] keep-scale 0 or 1/(1-p) */
    float *xd;          /* [T,B,H] the dropped input */
} s2s_layer_drop;

/* Transposed copies of the weights the per-step products read: a step's x W^T then reads W^T
 * in place instead of BLAS re-packing W at every step. A pass of more than 4 rows reads them
 * (ws->wt_on, decided by the encoder: B >= S2S_WT_MIN_ROWS); fewer rows go through BLAS's gemv
 * on W as it is. Each copy is W [rows,cols] transposed: [cols,rows].
 *
 * Who makes them. A workspace owns a set (own_wt, carved in its block) and every encoder pass
 * remakes it from the model it is given: each pass is right on its own whatever changed the
 * weights since (inference, validation, the tests that move weights by hand). A caller running
 * several workspaces on the same weights may instead lend them one set it keeps current
 * (s2s_ws_lend_wt): the trainer makes one per optimizer update, the weights changing only
 * there, split over its threads, and all its slices read it, where each slice used to make its
 * own copy of the same numbers (exact copies: the same bits either way). */
enum { S2S_WT_FAM = 2 };  /* copies a decoder family may add */
enum { S2S_WT_MIN_ROWS = 5 };  /* a pass of this many rows or more reads the copies */
typedef struct s2s_wt {
    float *enc_hh[S2S_MAX_LAYERS][2];  /* [Hd,G*Hd] */
    float *dec_hh[S2S_MAX_LAYERS];     /* [H,G*H] */
    float *dec_ih[S2S_MAX_LAYERS];     /* [H,G*H] layers l >= 1 */
    float *fam[S2S_WT_FAM];            /* the decoder family's, in the order of its `transposed` */
} s2s_wt;

/* One copy to make: *dst [cols,rows] = W [rows,cols] (leading dimension ldw) transposed. */
typedef struct s2s_wt_job {
    float **dst;       /* the set's pointer to the copy */
    const float *W;    /* NULL when only the shapes are asked for */
    int rows, cols, ldw;
} s2s_wt_job;
enum { S2S_WT_JOBS = 4 * S2S_MAX_LAYERS + S2S_WT_FAM };

/* S2S_GEMM_BF16 or INT8 at inference (s2s_wt.c): the weights a translation's steps read, in
 * bfloat16 or 8-bit integers (s2s_kernel.h), each packed at its first product through
 * s2s_pk_linear (keyed by W, N, K) and kept: the model's weights must not change while the
 * workspace translates (a translator handle's model does not; a reload opens a new handle).
 * The calls that go through it are every per-step product (the cells' W_hh, the decoder's
 * s2s_step_linear: the layer inputs and its family's step weights), the decoder's embedding
 * columns and the output layer (s2s_ws_linear). The products over all steps at once (the
 * encoder's inputs, the attention keys) stay in float: in 8-bit integers they gave 2% and cost
 * 0.06 BLEU on the held-out set. Its store has room for those (s2s_pk_carve); a weight beyond it
 * is computed in float. */
enum { S2S_PK_MAX = S2S_WT_JOBS + 4 };
typedef struct s2s_pk {
    struct { const float *W; int N, K; uint32_t *pk; } w[S2S_PK_MAX];
    int int8;           /* 0: bfloat16 (s2s_bf16_*), 1: 8-bit integers (s2s_i8_*) */
    int n, misses;      /* weights packed; calls left to float for want of room (tests: 0) */
    uint32_t *store;    /* the packed weights, cap words, used so far */
    size_t cap, used;
    uint32_t *scratch;  /* a call's rows of x as pairs or quads, `rows` rows (a multiple of 8) */
    int rows, kmax;
} s2s_pk;
/* Takes a workspace's set from a carve (NULL while counting). */
s2s_pk *s2s_pk_carve(const s2s_config *c, int Vt, int max_B, int int8, s2s_carve *cv);

/* The copies a set holds for configuration c: W from p (NULL: shapes only), dst into wt.
 * Returns their count. */
int s2s_wt_jobs(const s2s_config *c, const s2s_params *p, s2s_wt *wt, s2s_wt_job *jobs);
/* Takes a set's buffers from a carve (s2s_take: NULL while counting). */
void s2s_wt_carve(const s2s_config *c, s2s_wt *wt, s2s_carve *cv);
/* Makes part `part` of `parts` of every copy of wt from m's weights (each copy's columns of W
 * cut in `parts` ranges): parts callers at once, one part each, make the whole set. */
void s2s_wt_make(const s2s_model *m, s2s_wt *wt, int part, int parts);
/* The floats the copies of a set for c hold. */
size_t s2s_wt_floats(const s2s_config *c);
/* The workspace's passes read wt (a set for the model they are given, made from its current
 * weights and kept current by the caller: the passes do not make it) instead of their own;
 * NULL: their own again, made at every pass. wt stays the caller's and must outlive the
 * lending. */
void s2s_ws_lend_wt(s2s_ws *ws, const s2s_wt *wt);

/* A batch's distinct tokens and their first-layer projections (s2s_tokproj.c). */
typedef struct s2s_tok_table {
    int on;            /* the last forward pass went through this table */
    int n;             /* distinct tokens */
    int32_t *uniq;     /* [cap] their ids, in first-seen order */
    int32_t *slot;     /* [T*B] each position's (t*B+b) index in uniq */
    float *X, *dX;     /* [cap,E] their embeddings, gradient */
    float *P, *dP;     /* [cap,N] X W^T + b (N = the projection's width), gradient */
    s2s_gemm_kind gemm; /* the workspace's products */
} s2s_tok_table;

struct s2s_decoder_ops;

struct s2s_ws {
    int max_B, T, B, Tdec;              /* capacity in rows; the pass's source steps (the encoder's,
                                         * the attention keys'), rows, decoder steps */
    int Tt;                             /* the pass's target stride (Tdec <= Tt) */
    int Tcap;                           /* capacity in steps (T <= Tcap) */
    size_t TB;                          /* capacity in positions: buffers of [T,B,...] hold TB rows */
    size_t TBd;                         /* the decoder's buffers': TB, or max_B for inference only */
    int E, H, L, Vt, Vs;
    int G, S, P;                        /* the cell's gates, states, cache planes */
    int dirs, Hd;                       /* encoder directions, units per direction */
    int Te;                             /* the pass's encoder steps: its longest source (packed), else T */
    const s2s_cell_ops *cell;
    const struct s2s_decoder_ops *dec_ops;
    s2s_ws_opts opt;
    s2s_gemm_kind gemm;                 /* opt.gemm resolved (s2s_gemm_resolve; bf16 as own, its
                                         * output layer through out_pk): every product's */
    size_t bytes;
    float *block;
    int mapped;                         /* block is an anonymous mapping (munmap), not the heap's */
    s2s_params g;                       /* where backward adds gradients (the model's by default) */
    float *grads, *own_grads;
    int enc_dropped, dec_dropped;       /* the last forward applied dropout between layers */
    /* encoder */
    int32_t *src_len;                   /* [B] min(source length, T) (bidirectional) */
    float *enc_x;                       /* [T,B,E] embeddings (per-position path) */
    s2s_rnn_cache enc[S2S_MAX_LAYERS][2];  /* [layer][direction]; dgi/dgh shared by all layers */
    s2s_layer_drop enc_drop[S2S_MAX_LAYERS];
    float *enc_out[S2S_MAX_LAYERS];     /* [T,B,H] each layer's outputs: enc[l][0].hs + B*H (one
                                         * direction) or enc_cat[l] */
    float *enc_cat[S2S_MAX_LAYERS];     /* [T,B,H] bidirectional: both directions' outputs side by
                                         * side (forward first), zero at padding */
    const float *enc_final[2][S2S_MAX_LAYERS]; /* [B,H] each layer's final h (and c): in the caches
                                         * (one direction) or in enc_fin */
    float *enc_fin;                     /* [S,L,B,H] bidirectional: the two finals side by side */
    float *enc_dy, *enc_dx;             /* [T,B,max(E,H)] gradients on a layer's output, input */
    float *enc_dstate;                  /* [S,L,B,H] gradient of the final states (from the decoder) */
    float *enc_dh, *enc_dc;             /* [B,Hd] gradients carried back through the steps */
    float *enc_hold, *enc_hold_c;       /* [B,Hd] carried gradients of rows at padding */
    /* decoder */
    float *dec_x;                       /* [T,B,E] embeddings (per-position path) */
    s2s_rnn_cache dec[S2S_MAX_LAYERS];  /* dec[0].gi: the embedding's share + b_ih is written
                                         * first, the decoder adds the rest of layer 0's input */
    s2s_layer_drop dec_drop[S2S_MAX_LAYERS];
    float *dh[S2S_MAX_LAYERS], *dc[S2S_MAX_LAYERS]; /* [B,H] gradients carried to the previous step */
    float *dlow;                        /* [B,H] a step's gradient on the layer below's output */
    float *dec_dx;                      /* [T,B,E] gradient of the embeddings (per-position path) */
    float *d_out;                       /* [T,B,H] gradient of the decoder's outputs (dense input) */
    float *logits, *dlogits;            /* [T,B,Vt] */
    float *gh;                          /* [B,G*H] the cell's scratch */
    float *loss;                        /* [B] */
    int active[S2S_MAX_STEPS];          /* rows still going at each decoder step */
    /* dense + loss only on the nc non-padding positions ("compact rows") */
    int compact, nc;
    int32_t *crow, *clab;               /* [T*B] their t*B+b, labels */
    float *hc, *dhc, *closs;            /* [T*B,H] their outputs, gradients; [T*B] their losses */
    /* inference: each layer's state [B,H] (h, c) now and after the step being computed */
    float *inf_now[S2S_MAX_LAYERS][2], *inf_next[S2S_MAX_LAYERS][2];
    float *inf_perm;                    /* [B, max(H, G*H)] reorder scratch */
    s2s_wt own_wt;                      /* its own transposed copies (s2s_wt) */
    const s2s_wt *wt;                   /* what the passes read: &own_wt, or a lent set */
    int wt_on;                          /* this pass reads wt (more than 4 rows) */
    /* token tables: the encoder's layer 0, the decoder's embedding columns */
    s2s_tok_table enc_tab, dec_tab;
    int32_t *seen;                      /* [max(Vs,Vt)] token -> 1 + its slot; zeros between uses */
    int dec_full;                       /* inference: 1 dec_tab holds the whole target vocabulary,
                                         * -1 not used, 0 not decided since s2s_encode */
    void *dec_priv;                     /* the decoder family's own buffers (its carve) */
    s2s_pk *pk;                         /* S2S_GEMM_BF16 or INT8 at inference: its packed
                                         * weights (s2s_pk); NULL otherwise */
};

/* Token tables (s2s_tokproj.c). */
void s2s_tab_build(s2s_ws *ws, s2s_tok_table *tb, const int32_t *ids, int B, int T, int steps, const int *rows);
void s2s_tab_full(s2s_tok_table *tb, int V);
void s2s_tab_project(s2s_tok_table *tb, const float *emb, int E, int N, const float *W, int ldw, const float *b);
void s2s_tab_gather(const s2s_tok_table *tb, int N, float *gi, int B, int steps, const int *rows);
void s2s_tab_backward(s2s_tok_table *tb, int E, int N, const float *dgi, int B, int steps, const int *rows,
                      const float *W, int ldw, float *dW, float *db, float *demb);

/* The encoder (s2s_encoder.c): embedding and every layer over all T steps (src_len is read by
 * the bidirectional encoder only), and its backward pass from enc_dy (the top layer's outputs)
 * and enc_dstate (the final states). */
void s2s_enc_carve(s2s_ws *w, s2s_carve *c, float dropout);
void s2s_enc_forward(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
                     int train, s2s_rng *rng);
void s2s_enc_backward(s2s_model *m, s2s_ws *ws, const int32_t *src);
double s2s_enc_flops(const s2s_ws *ws);

/* y = x W^T + b (+ y when beta is 1; W [N,K]): through the workspace's packed copy when it has
 * them (ws->pk), else in its products' code (s2s_linear_forward). */
void s2s_ws_linear(const s2s_ws *ws, int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
                   const float *b, float beta, float *y, int ldy);
/* A step's y = x W^T + b (x [M,K], y [M,N]): through the pass's transposed copy WT when it reads
 * them (ws->wt_on), else s2s_ws_linear (the packed copy, when the workspace has them). */
void s2s_step_linear(const s2s_ws *ws, int M, int N, int K, const float *x, const float *W, int ldw,
                     const float *WT, const float *b, float beta, float *y);
/* dW += Σ_t D_t^T X_t (and db += Σ D rows) over the decoder rows still going at each step. */
void s2s_dec_wgrad(const s2s_ws *ws, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                   float *dW, int ldw, float *db);
#endif
