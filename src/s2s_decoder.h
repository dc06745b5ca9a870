/* Internal: the decoder interface. A decoder family (d2l's plain and Bahdanau decoders, Luong's)
 * says what it adds to the parameters and the workspace, prepares what it needs once per batch
 * (the attention keys), runs one step forward and one step backward, and reorders its
 * per-row state for inference. The recurrent layers, the embedding, the dense layer and the
 * loss are common (s2s_decoder.c, s2s_forward.c); a new decoder is one file and one entry in
 * s2s_families.c.
 *
 * Layer 0's input is the family's: [context, embedding] (Bahdanau), [embedding, context]
 * (plain), the embedding or [embedding, h~_{t-1}] (Luong). The common code projects the
 * embedding's columns (plus b_ih) into dec[0].gi; the family adds the projection of its other
 * columns before the layers run. */
#ifndef S2S_DECODER_H
#define S2S_DECODER_H
#include "s2s_ws.h"

/* One decoder step over rows [0, B). Training: step t of the pass, states in the caches.
 * Inference: t = 0, the states in ws->inf_now/inf_next. */
typedef struct s2s_dec_step {
    int t, B;
    int infer;
    const float *prev[S2S_MAX_LAYERS][2];  /* [B,H] each layer's h (and c) before the step */
    float *next[S2S_MAX_LAYERS][2];        /* [B,H] after */
} s2s_dec_step;

/* A tensor the decoder adds under "decoder.attention." (suffix and shape). */
typedef struct s2s_tensor_decl { const char *name; int rows, cols, ndim; } s2s_tensor_decl;

typedef struct s2s_decoder_ops {
    const char *name;                  /* as --attention spells it */
    const char *kind;                  /* metadata "model": d2l's "attn", "plain"; "luong" */
    int has_attention;                 /* weights for heatmaps */
    /* Its tensors under decoder.attention, in state_dict order (att[0..n) in s2s_params). */
    int (*tensors)(const s2s_config *c, s2s_tensor_decl *out);
    int (*in0)(const s2s_config *c);   /* width of layer 0's input */
    int (*emb_col)(const s2s_config *c); /* first column of the embedding in it */
    /* Takes its buffers from the carve (for w->max_B rows, w->T steps); returns its own struct,
     * NULL while counting. */
    void *(*carve)(const s2s_ws *w, s2s_carve *c);
    /* Once per batch, after the encoder and the common decoder set-up (ws->Tdec, the initial
     * states, the layers' dropout masks): keys, attention dropout. */
    void (*prepare)(const s2s_model *m, s2s_ws *ws, const int32_t *src_len, int train, s2s_rng *rng);
    /* One step: adds its share to layer 0's projection, runs the layers (s2s_dec_layers), and
     * returns the step's output rows [B,H] for the dense layer. */
    const float *(*step)(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s);
    /* The outputs of all steps of a training pass [Tdec,B,H]. */
    const float *(*outputs)(const s2s_ws *ws);
    /* Backward of step t over rows [0, Bt): from ws->d_out at t and its own carried gradients,
     * through the layers (s2s_dec_layers_backward), leaving ws->dh/dc on the previous states. */
    void (*step_backward)(s2s_model *m, s2s_ws *ws, int t, int Bt);
    /* After the steps: its weights' gradients over all steps, and the encoder's share: it writes
     * enc_dy [T,B,H] (the top outputs' gradient) and may add to enc_dstate. */
    void (*finish_backward)(s2s_model *m, s2s_ws *ws);
    /* Inference: row i of its per-row state becomes old row from[i]. */
    void (*reorder)(const s2s_model *m, s2s_ws *ws, int B, const int *from);
    /* Attention weights before dropout [Tdec,B,T] (training; step 0 in inference), or NULL. */
    const float *(*attention)(const s2s_ws *ws);
    /* Operations of its products for the last pass given the decoder rows computed (see
     * s2s_ws_forward_flops). */
    double (*flops)(const s2s_model *m, const s2s_ws *ws, double rows);
    const char *title;                 /* what `seq2seq info` calls it */
    int feeds;                         /* takes --input-feed (h~_{t-1} beside the embedding) */
    /* The weights its steps read transposed (s2s_wt): at most S2S_WT_FAM copies into fam[0..n),
     * W from p (NULL: shapes only); returns n. NULL: none. Made before the pass (s2s_wt_make),
     * read through ws->wt->fam while ws->wt_on. */
    int (*transposed)(const s2s_config *c, const s2s_params *p, float **fam, s2s_wt_job *out);
} s2s_decoder_ops;

/* The table (s2s_families.c): NULL for an unknown kind. */
const s2s_decoder_ops *s2s_decoder_of(int kind);

/* ---- common parts (s2s_decoder.c) -------------------------------------------------------- */

/* The layers of one step: layer 0 from dec[0].gi at step t (complete), layer l >= 1 from layer
 * l-1's new h (dropped out in training). */
void s2s_dec_layers(const s2s_model *m, s2s_ws *ws, const s2s_dec_step *s);
/* Rows [0, Bt) of training step t: on entry ws->dh[l] (dc[l]) hold the gradients on each
 * layer's state after the step; on return, on its state before. Fills dgi/dgh at t (the other
 * rows zeroed, so products over all steps may include them). */
void s2s_dec_layers_backward(s2s_model *m, s2s_ws *ws, int t, int Bt);
/* Layer 0's weight columns [col, col + width) of decoder.rnn.weight_ih_l0. */
const float *s2s_dec_ih0(const s2s_model *m, int col);

/* Attention memory shared by the attention decoders: the encoder's top outputs batch-major as
 * keys and values, their projection, and their gradients. */
typedef struct s2s_keys {
    float *K, *KP;       /* [B,T,H] keys/values; projected keys (the decoder fills KP) */
    float *dK, *dKP;     /* [B,T,H] gradients */
    int32_t *valid;      /* [B] min(source length, T): keys j >= valid are masked */
    int32_t *kv_row;     /* [B] inference: the row of K/KP each decoder row reads */
} s2s_keys;
void s2s_keys_carve(s2s_keys *k, s2s_carve *c, const s2s_ws *w);
/* K from the encoder's top outputs, valid lengths, kv_row = identity. */
void s2s_keys_prepare(const s2s_ws *ws, s2s_keys *k, const int32_t *src_len);
/* enc_dy (time-major) = dK. */
void s2s_keys_backward(s2s_ws *ws, const s2s_keys *k);
/* Rows point at their keys: the keys stay where they are. */
void s2s_keys_reorder(s2s_keys *k, int B, const int *from);
#endif
