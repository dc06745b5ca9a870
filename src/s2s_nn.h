/* The network's layers as forward/backward pairs over flat float arrays, in PyTorch's
 * conventions. Shapes: B batch, T steps, E embed, H hidden, V vocabulary, Tk keys.
 * Backward functions add into parameter gradients (+=); the caller zeroes them once, which
 * is what makes backprop through time sum the shared weights' gradients. */
#ifndef S2S_NN_H
#define S2S_NN_H
#include <stdint.h>

#include "s2s_linalg.h"  /* s2s_gemm_kind: which code computes the products (the caller's workspace says) */

/* ---- dropout ----------------------------------------------------------------------------
 * Inverted-dropout mask: mask[i] = 0 with probability p, else 1/(1-p). The draw for element i
 * is a hash of (i, key), so a mask depends only on its key (one generator step per mask) and
 * fills at vector speed; different keys give unrelated masks. */
#include <stddef.h>
void s2s_dropout_fill(float *mask, size_t n, float p, uint64_t key);

/* ---- GRU cell (rows of W are r, z, n; s2s_cell_gru.c) ----------------------------------
 * r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h = (1-z) ⊙ n + z ⊙ h_prev
 * with gi = W_ih x + b_ih (given), gh = W_hh h_prev + b_hh (computed here into gh [B,3H]). */
void s2s_gru_cell_forward(s2s_gemm_kind g, int B, int H,
                          const float *gi,      /* [B,3H] */
                          const float *h_prev,  /* [B,H] */
                          const float *W_hh,    /* [3H,H] */
                          const float *b_hh,    /* [3H] */
                          const float *W_hhT,   /* [H,3H] W_hh transposed, or NULL to use W_hh;
                                                 * both NULL: h_prev is zero (a first step), gh = b_hh */
                          float *gh,            /* [B,3H] scratch */
                          float *h,             /* [B,H] out */
                          float *r, float *z, float *n, float *ghn); /* [B,H] each, cache */

/* The cell's element-wise part (internal; the tests compare the two): from gi, gh [B,3H] and
 * h_prev [B,H], writes h and the cache r, z, n, ghn (= gh_n) [B,H]. s2s_gru_gates is the one
 * the cell uses (AVX-512 when built with it), s2s_gru_gates_ref the portable loop. */
void s2s_gru_gates(int B, int H, const float *gi, const float *gh, const float *h_prev, float *h, float *r,
                   float *z, float *n, float *ghn);
void s2s_gru_gates_ref(int B, int H, const float *gi, const float *gh, const float *h_prev, float *h, float *r,
                       float *z, float *n, float *ghn);

/* Given dh = dL/dh [B,H], writes dgi (= dL/d gi) and dgh (= dL/d gh) [B,3H] and
 * dh_prev = dh ⊙ z + dgh W_hh [B,H]. dh_prev may be the same buffer as dh. The weight
 * gradients are left to s2s_linear_wgrad over all steps at once. */
void s2s_gru_cell_backward(s2s_gemm_kind g, int B, int H, const float *dh, const float *h_prev,
                           const float *r, const float *z, const float *n, const float *ghn,
                           const float *W_hh,   /* [3H,H]; NULL: dh_prev is not wanted */
                           float *dgi, float *dgh, /* [B,3H] out */
                           float *dh_prev);     /* [B,H] out */

/* dW[rows, cols] += Dᵀ X and db[rows] += Σ D over M rows: D [M,rows] (ld ldd), X [M,cols]
 * (ld ldx), dW with leading dimension ldw (a column block of a wider matrix is allowed).
 * db may be NULL; X NULL adds only db (rows whose X is zero). */
void s2s_linear_wgrad(s2s_gemm_kind g, int M, int rows, int cols, const float *D, int ldd, const float *X, int ldx,
                      float *dW, int ldw, float *db);

/* y[M,N] = x[M,K] Wᵀ (+ b): W [N,K] with leading dimension ldw; beta 1 adds to y. */
void s2s_linear_forward(s2s_gemm_kind g, int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
                        const float *b, float beta, float *y, int ldy);
/* The same with the weight given transposed: y = x WT + b, WT [K,N] (ldwt). */
void s2s_linear_forward_t(s2s_gemm_kind g, int M, int N, int K, const float *x, int ldx, const float *WT, int ldwt,
                          const float *b, float beta, float *y, int ldy);

/* ---- additive attention, one query per row ---------------------------------------------
 * f_j = tanh(qp + KP_j), s_j = w_v · f_j (s_j = -1e6 for j >= valid), a = softmax(s),
 * a' = a ⊙ drop (drop = keep mask / (1-p), or NULL), ctx = Σ_j a'_j K_j.
 * qp = W_q q [B,H] and KP = W_k K [B,Tk,H] are computed by the caller (KP once per batch).
 * Inference drops finished rows and repeats beam rows through kv_row instead of moving the
 * rows' T x H keys. */
void s2s_attn_forward(int B, int Tk, int H, const float *qp, const float *KP, const float *K,
                      const int32_t *kv_row, /* [B]: row b reads row kv_row[b] of K, KP (NULL: b) */
                      const int32_t *valid, const float *w_v, const float *drop,
                      float *F,     /* [B,Tk,H] cache */
                      float *A,     /* [B,Tk] weights before dropout (the heatmap) */
                      float *ctx);  /* [B,H] */
/* Given dctx [B,H]: dK += a' dctx (the values' share), dKP += du, dqp = Σ_j du_j (written),
 * dw_v += Σ_j ds_j f_j. The keys' share dK += du W_k and dW_k, dW_q are the caller's. dS [B,Tk]
 * is scratch (the weights' and the scores' gradients: s2s_attn_context_backward, then
 * s2s_masked_softmax_backward, below). */
void s2s_attn_backward(int B, int Tk, int H, const float *dctx, const float *K,
                       const int32_t *valid, const float *w_v, const float *drop,
                       const float *F, const float *A, float *dS,
                       float *dK, float *dKP, float *dqp, float *dw_v);

/* ---- the steps of attention as kernels (Luong's; the masked softmax and the context are
 * also additive attention's) -------------------------------------------------------------
 * Row b of a batch of queries q [B,H] attends over Tk keys: row b reads row kv_row[b] of the
 * key and value arrays [.,Tk,H] (kv_row NULL: row b; inference shares and drops rows through
 * it; the backward kernels are training's and read row b). Scores and weights are [B,Tk].
 * Dot scores: S_bj = q_b . KP_j for j < valid[b] (16 lanes, lanes_dot's order); entries at
 * j >= valid[b] are not written (the masked softmax masks them). */
void s2s_dot_scores(int B, int Tk, int H, const float *q, const float *KP, const int32_t *kv_row,
                    const int32_t *valid, float *S);
/* The same with plain sequential sums in double (the tests' reference). */
void s2s_dot_scores_ref(int B, int Tk, int H, const float *q, const float *KP, const int32_t *kv_row,
                        const int32_t *valid, float *S);
/* In place, row by row: S_bj = -1e6 for j >= valid[b] (d2l's masked_softmax value), then
 * A = softmax(S) (max shifted, fast_expf, summed in order). Masked weights come out exactly 0
 * (their exp underflows) whenever a row has a real key. */
void s2s_masked_softmax(int B, int Tk, const int32_t *valid, float *A);
/* The same with exp in double (the tests' reference). */
void s2s_masked_softmax_ref(int B, int Tk, const int32_t *valid, float *A);
/* ctx_b = Σ_j a'_bj V_j with a' = A ⊙ drop (drop [B,Tk] keep-scales, or NULL); keys with zero
 * weight add nothing (masked ones are never read). V [.,Tk,H] read through kv_row. */
void s2s_attn_context(int B, int Tk, int H, const float *A, const float *drop, const float *V,
                      const int32_t *kv_row, float *ctx);
/* Backward of the context given dctx [B,H]: dV_j += a'_j dctx (added) and dA_j = drop_j (dctx .
 * V_j) (written; 0 where a_j = 0). */
void s2s_attn_context_backward(int B, int Tk, int H, const float *dctx, const float *A, const float *drop,
                               const float *V, float *dV, float *dA);
/* Backward of the masked softmax: dS_j = a_j (dA_j - Σ_k a_k dA_k) for j < valid (written; the
 * masked scores are constants and their entries are left alone). dS may be dA. */
void s2s_masked_softmax_backward(int B, int Tk, const int32_t *valid, const float *A, const float *dA, float *dS);
/* Backward of the dot scores: dq_b += Σ_{j<valid} dS_j KP_j and dKP_j += dS_j q_b (both added;
 * dKP may be the values' gradient, Luong's dot score, where keys and values are one tensor). */
void s2s_dot_scores_backward(int B, int Tk, int H, const float *dS, const float *q, const float *KP,
                             const int32_t *valid, float *dq, float *dKP);
/* y = tanh(x) (fast_tanhf) over n; and back: dx = (dy + dy2) ⊙ (1 - y²) (dy2 NULL: dy alone). */
void s2s_tanh(size_t n, const float *x, float *y);
void s2s_tanh_backward(size_t n, const float *y, const float *dy, const float *dy2, float *dx);

/* ---- masked softmax cross-entropy (d2l's MaskedSoftmaxCELoss) -------------------------
 * logits [Tdec,B,V] time-major; y [B,ld_y] labels batch-major; len [B] valid lengths.
 * loss_b = (1/Tfull) Σ_{t<Tdec} [t < len_b] CE(logits_tb, y_bt); Tdec <= Tfull steps are
 * computed (the rest are padding for every row). Writes loss [B], returns Σ_b loss_b.
 * dlogits (may alias logits; NULL to skip) = d(Σ_b loss_b)/dlogits. */
double s2s_masked_ce(int Tdec, int Tfull, int B, int V, const float *logits, const int32_t *y,
                     int ld_y, const int32_t *len, float *loss, float *dlogits);

/* ---- label-smoothed cross-entropy over rows (PyTorch's CrossEntropyLoss(label_smoothing=eps))
 * n rows of logits [n,V] with labels y[n]; the target distribution is q = (1-eps) onehot(y) +
 * eps/V over all V classes, and row k's loss is w (logsumexp(x_k) - Σ_c q_c x_kc), i.e. w times
 * (1-eps) CE(x_k, y_k) + eps mean_c(-log softmax(x_k)_c). eps = 0 is the plain cross-entropy.
 * Writes loss[n] and returns Σ_k loss_k; dlogits (may alias logits; NULL to skip) =
 * w (softmax(x_k) - q). */
double s2s_smoothed_ce(int n, int V, const float *logits, const int32_t *y, float eps, float w, float *loss,
                       float *dlogits);

/* ---- raw memory work (the passes' gathers, scatters, copies, masked products) -------------
 * Row-major throughout; "time-major" is [T,B,D] (step t's rows contiguous), "batch-major"
 * [B,T,D]. Kept here so that another backend replaces kernels, not model code. */
/* dst [steps,B,D] time-major: dst[t,b] = table[ids[b*ld + t]] (ids batch-major). */
void s2s_rows_gather(float *dst, const float *table, int D, const int32_t *ids, int B, int ld, int steps);
/* Rows of D by an index list: dst[k] = src[idx[k]] (take), dst[idx[k]] = src[k] (put),
 * dst[idx[k]] += src[k] in order of k (put_add: take's adjoint; idx may repeat), k < n. */
void s2s_rows_take(float *dst, const float *src, int D, const int32_t *idx, int n);
void s2s_rows_put(float *dst, const float *src, int D, const int32_t *idx, int n);
void s2s_rows_put_add(float *dst, const float *src, int D, const int32_t *idx, int n);
/* An index list's rows follow a permutation: a[i] becomes old a[from[i]], i < B. */
void s2s_ids_permute(int32_t *a, int B, const int *from);
/* The adjoint: table[ids[b*ld + t]] += src[t,b] over t < steps, b < B. */
void s2s_rows_scatter_add(float *table, int D, const float *src, const int32_t *ids, int B, int ld, int steps);
/* dst [cols,rows] = W^T for W [rows,cols] with row stride ldw. */
void s2s_transpose(float *dst, const float *W, int rows, int cols, int ldw);
/* [T,B,D] -> [B,T,D] and back. */
void s2s_time_to_batch(float *dst, const float *src, int T, int B, int D);
void s2s_batch_to_time(float *dst, const float *src, int T, int B, int D);
/* y = a ⊙ b; y ⊙= b; y += x; y += x ⊙ mask (mask NULL: y += x); x[0..n) = v. */
void s2s_mul(size_t n, const float *a, const float *b, float *y);
void s2s_scale(size_t n, const float *b, float *y);
void s2s_add(size_t n, const float *x, float *y);
void s2s_add_masked(size_t n, const float *x, const float *mask, float *y);
void s2s_fill(float *x, size_t n, float v);
/* x[0..n) = 0; dst[0..n) = src[0..n) (no overlap); each of B rows of dst [B,n] = row [n]. */
void s2s_zero(float *x, size_t n);
void s2s_copy(float *dst, const float *src, size_t n);
void s2s_rows_broadcast(float *dst, const float *row, int B, size_t n);
/* Each of B rows of V in place: x -= logsumexp(x) (lanes_max, lanes_exp_sum's order). */
void s2s_log_softmax_rows(int B, int V, float *x);
/* Rows of `row` floats: row i becomes old row from[i] (scratch [B,row] unless the move is a
 * rising one, finished rows dropped, which goes in place). */
void s2s_rows_permute(float *a, float *scratch, int B, size_t row, const int *from);
/* An M x n block between row strides: dst = src, dst += src. */
void s2s_copy_block(int M, int n, const float *src, int lds, float *dst, int ldd);
void s2s_add_block(int M, int n, const float *src, int lds, float *dst, int ldd);
/* Rows b with p >= len[b] (padding at position p): dst[b] = src[b]; x[b] = 0. Rows of D. */
void s2s_rows_hold(int B, int D, const int32_t *len, int p, const float *src, float *dst);
void s2s_rows_zero_past(int B, int D, const int32_t *len, int p, float *x);
/* Reverses the order of T blocks of `block` floats in place (a time-major buffer's steps). */
void s2s_time_reverse(float *x, int T, size_t block);

#endif
