/* The encoder-decoder model: configuration, parameters (one arena in PyTorch state_dict()
 * order, reached through named views), initialisation as d2l's xavier_init_weights, and the
 * training/inference passes over a workspace sized once. */
#ifndef S2S_MODEL_H
#define S2S_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "s2s_common.h"
#include "s2s_linalg.h"
#include "s2s_rng.h"

#define S2S_MAX_LAYERS 16
#define S2S_MAX_STEPS 4096
#define S2S_MAX_ATT 4       /* tensors a decoder may add under decoder.attention */

/* The model family is three independent choices, each a table entry (s2s_families.c). */
typedef enum s2s_attention {   /* the decoder (--attention) */
    S2S_BAHDANAU = 0,          /* d2l's Seq2SeqAttentionDecoder ("attn") */
    S2S_NO_ATTENTION = 1,      /* d2l's Seq2SeqDecoder ("plain"): the encoder's state as context */
    S2S_LUONG_DOT = 2,         /* Luong et al. 2015, score h_t . h_s, input feeding optional */
    S2S_LUONG_GENERAL = 3,     /* score h_t . W_a h_s */
    S2S_N_ATTENTION
} s2s_attention;
typedef enum s2s_cell_kind { S2S_GRU = 0, S2S_LSTM = 1, S2S_N_CELLS } s2s_cell_kind;  /* --cell */
typedef enum s2s_enc_kind { S2S_UNI = 0, S2S_BI = 1, S2S_N_ENCODERS } s2s_enc_kind;  /* --encoder */

/* An encoder kind's table entry (s2s_families.c): what differs between the kinds, read by the
 * model code instead of comparing kinds. */
typedef struct s2s_encoder_ops {
    const char *name;  /* as --encoder and the model file spell it */
    int dirs;          /* directions; each runs hidden/dirs units (hidden must be a multiple, and the
                        * encoder's RNN biases are U(±1/√(hidden/dirs)), PyTorch's for that many) */
    int packed;        /* 1: PyTorch's packed sequences: results do not depend on the padding, so a
                        * batch runs only to its longest source; 0: d2l's, over all num_steps */
    const char *title; /* in words, for messages */
} s2s_encoder_ops;

typedef struct s2s_config {
    s2s_attention attention;
    int src_vocab, tgt_vocab;  /* Vs, Vt */
    int embed, hidden, layers; /* E, H, L */
    float dropout;
    int num_steps;             /* T used for truncate_pad in training and prediction */
    s2s_cell_kind cell;
    s2s_enc_kind encoder;      /* S2S_BI: H/2 units per direction */
    int input_feed;            /* Luong: h~_{t-1} beside the embedding in layer 0's input */
    int tie_embeddings;        /* the output layer's weight is the decoder's embedding (E = H) */
} s2s_config;

/* The d2l configuration's defaults (attention, embed 32, hidden 32, 2 layers, dropout 0.1,
 * 10 steps, GRU, one direction) with the given vocabulary sizes. */
s2s_config s2s_config_d2l(int src_vocab, int tgt_vocab);
/* Names as the command line and the model file spell them; NULL for an unknown value. */
const char *s2s_attention_name(s2s_attention a);  /* "bahdanau", "none", "luong-dot", "luong-general" */
const char *s2s_cell_name(s2s_cell_kind c);       /* "gru", "lstm" */
const char *s2s_encoder_name(s2s_enc_kind e);     /* "uni", "bi" */
/* Reverse lookups: 0 and *out set when the name is known, -1 otherwise. */
int s2s_attention_parse(const char *s, s2s_attention *out);
int s2s_cell_parse(const char *s, s2s_cell_kind *out);
int s2s_encoder_parse(const char *s, s2s_enc_kind *out);
/* d2l's spelling of the decoder (--model, metadata "model"): "attn" (Bahdanau), "plain"
 * (none), "luong" (either Luong scoring). */
const char *s2s_model_kind_name(s2s_attention a);
/* The decoder in words ("Bahdanau attention", "plain", "Luong attention, dot score", ...; NULL
 * for an unknown value) and whether it takes input feeding (config input_feed = 1: Luong's). */
const char *s2s_attention_title(s2s_attention a);
int s2s_attention_feeds(s2s_attention a);
/* The encoder kind's entry; NULL for an unknown value. */
const s2s_encoder_ops *s2s_encoder_of(int kind);

/* Checks sizes are positive and sane and the choices go together; the message names the bad
 * field. */
int s2s_config_check(const s2s_config *c, s2s_err *err);

/* One recurrent layer (one direction) in PyTorch's layout: G gate blocks of Hd rows (G = 3 for
 * the GRU, 4 for the LSTM). */
typedef struct s2s_rnn_params {
    float *w_ih, *w_hh, *b_ih, *b_hh; /* [G*Hd,In], [G*Hd,Hd], [G*Hd], [G*Hd] */
} s2s_rnn_params;

/* Named views into one arena (parameters, gradients or Adam moments share this layout). */
typedef struct s2s_params {
    float *enc_emb;                         /* [Vs,E] encoder.embedding.weight */
    s2s_rnn_params enc[S2S_MAX_LAYERS][2];  /* encoder.rnn.*_l{k}[_reverse]: [layer][direction],
                                             * In = E for k = 0 else H */
    float *att[S2S_MAX_ATT];                /* decoder.attention.*, in the decoder's order */
    float *dec_emb;                         /* [Vt,E] decoder.embedding.weight */
    s2s_rnn_params dec[S2S_MAX_LAYERS];     /* decoder.rnn.*, In = the decoder's layer-0 width
                                             * for k = 0 else H */
    float *dense_w, *dense_b;               /* [Vt,H], [Vt] decoder.dense.* (dense_w = dec_emb
                                             * when the embeddings are tied) */
} s2s_params;

typedef struct s2s_tensor_info {
    char name[64];
    int ndim;
    int shape[2];
    size_t offset, size; /* in floats, into the arena */
    int alias;           /* 1: the storage of an earlier entry under a second name (tied weights):
                          * saved under both names, not counted, initialised or updated twice */
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
/* d2l's initialisation: Embedding N(0,1); recurrent weights and all Linear weights
 * Xavier-uniform; recurrent biases U(±1/√units) (units = H/2 per direction in a bidirectional
 * encoder); dense bias U(±1/√H) (PyTorch's defaults for what d2l leaves alone); a tied
 * decoder embedding, being the dense weight, Xavier-uniform. */
void s2s_model_init(s2s_model *m, s2s_rng *rng);
void s2s_model_zero_grad(s2s_model *m);
const s2s_tensor_info *s2s_model_find(const s2s_model *m, const char *name);

/* ---- one batch ------------------------------------------------------------------------ */
typedef struct s2s_batch {
    int B, T;                 /* rows, source steps (cfg.num_steps; for a packed encoder at least
                               * the batch's longest source); at most the workspace's */
    const int32_t *src;       /* [B,T] source ids (padded) */
    const int32_t *src_len;   /* [B] */
    const int32_t *dec_in;    /* [B,Tt] <bos> + target shifted by one (training only) */
    const int32_t *tgt;       /* [B,Tt] labels (training only) */
    const int32_t *tgt_len;   /* [B] */
    /* The loss. Both 0: d2l's masked cross-entropy, each position weighted 1/T. Otherwise
     * every target token's label-smoothed cross-entropy (s2s_smoothed_ce) times weight (0:
     * 1/T), e.g. 1 / (the whole batch's target tokens) for a mean per token. */
    float smoothing, weight;
    int Tt;                   /* target stride, at least the longest target; 0: T */
} s2s_batch;

typedef struct s2s_ws s2s_ws;
/* How a workspace computes (same mathematics either way). */
typedef struct s2s_ws_opts {
    int token_tables;  /* 1 (default): the first layers' input projections through the batch's
                        * distinct tokens (s2s_tokproj.c); 0: per position, the reference */
    long max_tokens;   /* positions (rows x steps) a pass may hold; 0 (default): max_B x T.
                        * Batches by tokens are many short rows or few long ones, never both */
    int inference;     /* 1: only inference (s2s_encode and decoder steps, never s2s_forward): the
                        * decoder's buffers hold one step of max_B rows, not a whole pass */
    s2s_gemm_kind gemm; /* which code computes the passes' products: DEFAULT (0) our AVX-512 kernel
                         * where the build has it, else BLAS; OWN (refused without the kernel),
                         * BLAS, REF (the reference loop, for tests) */
} s2s_ws_opts;
/* A workspace for passes of up to max_B rows, T steps and max_B x T positions (or
 * opts->max_tokens, at least max(max_B, T)); sized once, reused. The first form takes the
 * default options; opts NULL means the same. A pass's own steps (its time stride) are set by
 * s2s_forward from the batch, and for inference by s2s_ws_set_steps. */
int s2s_ws_create(const s2s_model *m, int max_B, int T, s2s_ws **out, s2s_err *err);
int s2s_ws_create_opts(const s2s_model *m, int max_B, int T, const s2s_ws_opts *opts, s2s_ws **out,
                       s2s_err *err);
/* Bytes a workspace for this configuration would take, and the parameter count, computed
 * without allocating (to refuse sizes that cannot fit). */
size_t s2s_ws_estimate(const s2s_config *c, int max_B, int T);
size_t s2s_ws_estimate_opts(const s2s_config *c, int max_B, int T, const s2s_ws_opts *opts);
/* The steps of the next inference pass (s2s_encode's source stride and the encoder's steps):
 * 1..the workspace's T, with rows x steps within its positions for the rows encoded. Only a
 * packed (bidirectional) encoder gives the same results for any steps that hold the sources;
 * d2l's runs over the padding, so its passes keep the model's num_steps. */
int s2s_ws_set_steps(s2s_ws *ws, int T, s2s_err *err);
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
const float *s2s_ws_enc_outputs(const s2s_ws *ws); /* [T,B,H] (zero at padding: bidirectional) */
/* A layer's final encoder state [B,H] as the decoder starts from it: h, and c for the LSTM
 * (NULL for the GRU); a bidirectional encoder's [forward final; backward final]. */
void s2s_ws_enc_state(const s2s_ws *ws, int layer, const float **h);
void s2s_ws_enc_cell_state(const s2s_ws *ws, int layer, const float **c);
const float *s2s_ws_attention(const s2s_ws *ws);   /* [Tdec,B,T] weights before dropout;
                                                     * NULL without attention */

/* ---- inference ------------------------------------------------------------------------ */
/* Greedy decoding of B sentences at once (src [B,T], src_len [B]), at most max_len steps;
 * each row stops at <eos>. out [B,max_len] ids (without <eos>), out_len [B]. attn (optional)
 * [B,max_len,T] receives each step's attention weights (zeros without attention).
 * The plain model uses the encoder's context at every step. */
int s2s_greedy(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
               int max_len, int32_t *out, int *out_len, float *attn, s2s_err *err);
/* The same, and logprob (optional) [B] receives each row's sum of the log-probabilities of the
 * tokens it chose, <eos> included, each as s2s_decode_step's log-softmax gives it and summed in
 * double in step order: a beam search of one's raw sum (s2s_beam_hyp.logprob), for one exp-sum
 * over the vocabulary per row and step instead of a whole log-softmax and a top-K. */
int s2s_greedy_scored(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len,
                      int max_len, int32_t *out, int *out_len, float *attn, double *logprob, s2s_err *err);

/* Lower-level stepping used by greedy and beam search: encode once, then feed one token per
 * row per step and get the step's log-probabilities [B,Vt] (and attention [B,T]). */
void s2s_encode(const s2s_model *m, s2s_ws *ws, int B, const int32_t *src, const int32_t *src_len);
/* Rearranges the decoder state rows: row i becomes old row from[i] (for beam search). */
void s2s_decoder_reorder(const s2s_model *m, s2s_ws *ws, int B, const int *from);
void s2s_decode_step(const s2s_model *m, s2s_ws *ws, int B, const int32_t *tokens,
                     float *logprobs, float *attn);
#endif
