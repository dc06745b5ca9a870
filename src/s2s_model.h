/* The encoder-decoder model: configuration, parameters (one arena in PyTorch state_dict()
 * order, reached through named views), initialisation as d2l's xavier_init_weights, and the
 * training/inference passes over a workspace sized once. */
#ifndef S2S_MODEL_H
#define S2S_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "s2s_common.h"
#include "s2s_rng.h"

#define S2S_MAX_LAYERS 16
#define S2S_MAX_STEPS 4096

typedef enum s2s_kind { S2S_ATTN = 0, S2S_PLAIN = 1 } s2s_kind;
const char *s2s_kind_name(s2s_kind k); /* "attn" / "plain" */

typedef struct s2s_config {
    s2s_kind kind;
    int src_vocab, tgt_vocab;  /* Vs, Vt */
    int embed, hidden, layers; /* E, H, L */
    float dropout;
    int num_steps;             /* T used for truncate_pad in training and prediction */
} s2s_config;

/* Checks sizes are positive and sane; the message names the bad field. */
int s2s_config_check(const s2s_config *c, s2s_err *err);

typedef struct s2s_gru_params {
    float *w_ih, *w_hh, *b_ih, *b_hh; /* [3H,In], [3H,H], [3H], [3H] */
} s2s_gru_params;

/* Named views into one arena (parameters, gradients or Adam moments share this layout). */
typedef struct s2s_params {
    float *enc_emb;                         /* [Vs,E] encoder.embedding.weight */
    s2s_gru_params enc[S2S_MAX_LAYERS];     /* encoder.rnn.*_l{k}, In = E for k = 0 else H */
    float *att_Wk, *att_Wq, *att_wv;        /* [H,H], [H,H], [1,H] decoder.attention.* (attn) */
    float *dec_emb;                         /* [Vt,E] decoder.embedding.weight */
    s2s_gru_params dec[S2S_MAX_LAYERS];     /* decoder.rnn.*, In = E+H for k = 0 else H */
    float *dense_w, *dense_b;               /* [Vt,H], [Vt] decoder.dense.* */
} s2s_params;

typedef struct s2s_tensor_info {
    char name[64];
    int ndim;
    int shape[2];
    size_t offset, size; /* in floats, into the arena */
} s2s_tensor_info;

typedef struct s2s_model {
    s2s_config cfg;
    int n_tensors;
    s2s_tensor_info *tensors; /* state_dict() order */
    size_t n_params;
    float *params, *grads;    /* [n_params] each; grads zeroed by s2s_model_zero_grad */
    s2s_params p, g;          /* views into params and grads */
} s2s_model;

/* Allocates a model for cfg (parameters zero). The caller frees with s2s_model_free. */
int s2s_model_create(const s2s_config *cfg, s2s_model **out, s2s_err *err);
void s2s_model_free(s2s_model *m);
/* Builds the named views over any arena with the model's layout. */
void s2s_model_views(const s2s_model *m, float *base, s2s_params *out);
/* d2l's initialisation: Embedding N(0,1); GRU weights and all Linear weights Xavier-uniform;
 * GRU biases U(±1/√H); dense bias U(±1/√H) (PyTorch's defaults for what d2l leaves alone). */
void s2s_model_init(s2s_model *m, s2s_rng *rng);
void s2s_model_zero_grad(s2s_model *m);
const s2s_tensor_info *s2s_model_find(const s2s_model *m, const char *name);

/* ---- one batch ------------------------------------------------------------------------ */
typedef struct s2s_batch {
    int B, T;                 /* rows, steps (= cfg.num_steps) */
    const int32_t *src;       /* [B,T] source ids (padded) */
    const int32_t *src_len;   /* [B] */
    const int32_t *dec_in;    /* [B,T] <bos> + target shifted by one (training only) */
    const int32_t *tgt;       /* [B,T] labels (training only) */
    const int32_t *tgt_len;   /* [B] */
} s2s_batch;

typedef struct s2s_ws s2s_ws;
/* A workspace for batches of up to max_B rows and T steps; sized once, reused. */
int s2s_ws_create(const s2s_model *m, int max_B, int T, s2s_ws **out, s2s_err *err);
/* Bytes a workspace for this configuration would take, and the parameter count, computed
 * without allocating (to refuse sizes that cannot fit). */
size_t s2s_ws_estimate(const s2s_config *c, int max_B, int T);
size_t s2s_param_count(const s2s_config *c);
/* Floating-point operations of the matrix products (and attention's dot products) of the last
 * s2s_forward on this workspace, counting only the decoder rows and output positions it
 * computed (finished rows and padding are skipped) and the distinct tokens the token tables
 * projected; a backward pass costs about twice as much.
 * Element-wise work is not counted. */
double s2s_ws_forward_flops(const s2s_model *m, const s2s_ws *ws);
void s2s_ws_free(s2s_ws *ws);
/* Gives the workspace its own gradient arena (for data-parallel shards): s2s_backward then adds
 * into it instead of the model's. s2s_ws_grads returns the arena backward adds into. */
int s2s_ws_private_grads(const s2s_model *m, s2s_ws *ws, s2s_err *err);
float *s2s_ws_grads(s2s_ws *ws);
size_t s2s_ws_bytes(const s2s_ws *ws);
/* The first layer's input projection through the batch's distinct tokens (on, the default) or
 * per position (off, the reference); returns the previous setting (on < 0 only asks). */
int s2s_token_tables(int on);

/* Teacher-forced forward pass: fills per-sequence losses loss[B] and returns their sum.
 * train = 1 applies dropout with draws from rng. all_steps = 0 lets the decoder stop after
 * the longest target of the batch (same gradients, less work); 1 computes every step (for
 * comparing logits). Caches what s2s_backward needs. */
double s2s_forward(const s2s_model *m, s2s_ws *ws, const s2s_batch *bt, int train, int all_steps,
                   s2s_rng *rng, float *loss);
/* Adds d(Σ loss)/dθ into the workspace's gradient arena (m->grads unless the workspace has its
 * own; the caller zeroes it). Needs the preceding forward on the same workspace. */
void s2s_backward(s2s_model *m, s2s_ws *ws, const s2s_batch *bt);

/* Read-only views of the last forward pass (for tests and heatmaps). */
const float *s2s_ws_logits(const s2s_ws *ws);      /* [T,B,Vt] time-major after all_steps = 1;
                                                     * otherwise the non-padding positions only */
const float *s2s_ws_enc_outputs(const s2s_ws *ws); /* [T,B,H] */
void s2s_ws_enc_state(const s2s_ws *ws, int layer, const float **h); /* [B,H] */
const float *s2s_ws_attention(const s2s_ws *ws);   /* [Tdec,B,T] (attn model) */

/* ---- inference ------------------------------------------------------------------------ */
/* Greedy decoding of B sentences at once (src [B,T], src_len [B]), at most max_len steps;
 * each row stops at <eos>. out [B,max_len] ids (without <eos>), out_len [B]. attn (optional)
 * [B,max_len,T] receives each step's attention weights (attn model; zeros for plain).
 * The plain model uses the encoder's context at every step. */
int s2s_greedy(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
               int max_len, int32_t *out, int *out_len, float *attn, s2s_err *err);

/* Lower-level stepping used by greedy and beam search: encode once, then feed one token per
 * row per step and get the step's log-probabilities [B,Vt] (and attention [B,T]). */
void s2s_encode(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len);
/* Rearranges the decoder state rows: row i becomes old row from[i] (for beam search). */
void s2s_decoder_reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from);
void s2s_decode_step(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens,
                     float *logprobs, float *attn);
#endif
