/* The model families (issue 13) beside d2l's two: every combination of cell (GRU, LSTM),
 * encoder (one direction, two), decoder (none, Bahdanau, Luong dot / general, with or without
 * input feeding) and tied embeddings the fixtures cover, against PyTorch (tools/families_ref.py,
 * fixtures by tools/make_family_fixtures.py: logits, loss, every gradient and five Adam steps
 * to 1e-4 relative); central-difference gradient checks of the whole model for every family;
 * the token tables against the per-position products; inference steps against the training
 * pass. A fixture whose family this build does not have yet is skipped, saying so. */
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_checkpoint.h"
#include "s2s_cell.h"
#include "s2s_decoder.h"
#include "s2s_kernel.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_nn.h"
#include "s2s_optim.h"
#include "s2s_rng.h"
#include "s2s_safetensors.h"

#define RTOL 1e-4
#define ATOL 1e-6

static s2s_ws_opts g_opts = {.token_tables = 1};  /* token tables on or off; the products (gemm) */

static s2s_st_file *open_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    s2s_st_file *f = NULL;
    s2s_err err;
    if (s2s_st_read(path, &f, &err)) { fprintf(stderr, "  %s\n", err.msg); return NULL; }
    return f;
}
static const float *F32(s2s_st_file *f, const char *name) {
    const s2s_tensor *t = s2s_st_find(f, name);
    if (!t || t->dtype != S2S_F32) { fprintf(stderr, "  fixture lacks F32 tensor %s\n", name); exit(1); }
    return t->data;
}
static const int32_t *I32(s2s_st_file *f, const char *name) {
    const s2s_tensor *t = s2s_st_find(f, name);
    if (!t || t->dtype != S2S_I32) { fprintf(stderr, "  fixture lacks I32 tensor %s\n", name); exit(1); }
    return t->data;
}
static int META(s2s_st_file *f, const char *k) { const char *v = s2s_st_meta(f, k); return v ? atoi(v) : -1; }

/* A family by its parts; the config of that family with the given sizes. */
typedef struct family { s2s_cell_kind cell; s2s_enc_kind enc; s2s_attention att; int feed, tie; } family;
static s2s_config family_config(family fa, int Vs, int Vt, int E, int H, int L, float dropout, int T) {
    return (s2s_config){fa.att, Vs, Vt, E, H, L, dropout, T, fa.cell, fa.enc, fa.feed, fa.tie};
}
static const char *family_name(family fa, char *buf, size_t n) {
    snprintf(buf, n, "%s-%s-%s%s%s", s2s_cell_name(fa.cell) ? s2s_cell_name(fa.cell) : "?",
             s2s_encoder_name(fa.enc), s2s_attention_name(fa.att) ? s2s_attention_name(fa.att) : "?",
             fa.feed ? "-feed" : "", fa.tie ? "-tied" : "");
    return buf;
}
/* 1 when this build has the family (else says why, for a skip). */
static int available(const s2s_config *c) {
    s2s_err err;
    if (s2s_config_check(c, &err) == 0) return 1;
    printf("  not in this build: %s\n", err.msg);
    return 0;
}

/* ---- whole models against PyTorch ----------------------------------------------------------- */

/* The fixture's batch-major [B,T,D] as time-major [T,B,D] (or back). */
static void swap_bt(float *dst, const float *src, int B, int T, int D, int to_time) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t bm = ((size_t)b * T + t) * D, tm = ((size_t)t * B + b) * D;
            memcpy(dst + (to_time ? tm : bm), src + (to_time ? bm : tm), sizeof(float) * D);
        }
}

static int model_fixture(const char *name) {
    s2s_st_file *f = open_fixture(name);
    if (!f) { CHECK(0); return 0; }
    const int B = META(f, "B"), T = META(f, "T"), H = META(f, "H"), L = META(f, "L"), Vt = META(f, "Vt");
    /* by name here, not through the tables: a family this build lacks is then skipped */
    family fa = {0};
    static const char *const att_names[] = {[S2S_BAHDANAU] = "bahdanau", [S2S_NO_ATTENTION] = "none",
                                            [S2S_LUONG_DOT] = "luong-dot", [S2S_LUONG_GENERAL] = "luong-general"};
    fa.cell = !strcmp(s2s_st_meta(f, "cell"), "lstm") ? S2S_LSTM : S2S_GRU;
    fa.enc = !strcmp(s2s_st_meta(f, "encoder"), "bi") ? S2S_BI : S2S_UNI;
    for (int i = 0; i < 4; i++) if (!strcmp(s2s_st_meta(f, "attention"), att_names[i])) fa.att = (s2s_attention)i;
    fa.feed = META(f, "input_feed"); fa.tie = META(f, "tie_embeddings");
    s2s_config cfg = family_config(fa, META(f, "Vs"), Vt, META(f, "E"), H, L, 0.0f, T);
    if (!available(&cfg)) { s2s_st_free(f); return 1; }
    s2s_model *m; s2s_ws *ws; s2s_err err;
    if (s2s_model_create(&cfg, &m, &err) || s2s_ws_create_opts(m, B, T, &g_opts, &ws, &err)) {
        CHECK_MSG(0, "%s", err.msg); s2s_st_free(f); return 0;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor *t = s2s_st_find(f, m->tensors[i].name);
        CHECK_MSG(t && t->nbytes == m->tensors[i].size * 4, "fixture tensor %s missing or misshapen", m->tensors[i].name);
        if (t && !m->tensors[i].alias) memcpy(m->params + m->tensors[i].offset, t->data, t->nbytes);
        if (t && m->tensors[i].alias)
            CHECK_MSG(!memcmp(m->params + m->tensors[i].offset, t->data, t->nbytes), "%s differs from its tied twin",
                      m->tensors[i].name);
    }
    s2s_batch bt = {B, T, I32(f, "in.X"), I32(f, "in.X_valid_len"), I32(f, "in.dec_input"), I32(f, "in.Y"), I32(f, "in.Y_valid_len"), 0, 0, 0};
    float loss[64];
    s2s_model_zero_grad(m);
    double total = s2s_forward(m, ws, &bt, 0, 1, NULL, loss);
    CHECK_ARRAY(loss, F32(f, "out.loss"), B, RTOL, ATOL, "out.loss");
    float *bm = calloc((size_t)B * T * (Vt > H ? Vt : H), 4);
    swap_bt(bm, s2s_ws_logits(ws), B, T, Vt, 0);
    CHECK_ARRAY(bm, F32(f, "out.logits"), B * T * Vt, RTOL, ATOL, "out.logits");
    CHECK_ARRAY(s2s_ws_enc_outputs(ws), F32(f, "out.enc_outputs"), T * B * H, RTOL, ATOL, "out.enc_outputs");
    for (int l = 0; l < L; l++) {
        const float *h, *c;
        s2s_ws_enc_state(ws, l, &h);
        s2s_ws_enc_cell_state(ws, l, &c);
        CHECK_ARRAY(h, F32(f, "out.enc_state") + (size_t)l * B * H, B * H, RTOL, ATOL, "out.enc_state");
        if (fa.cell == S2S_LSTM) CHECK_ARRAY(c, F32(f, "out.enc_state_c") + (size_t)l * B * H, B * H, RTOL, ATOL, "out.enc_state_c");
    }
    if (fa.att != S2S_NO_ATTENTION)
        CHECK_ARRAY(s2s_ws_attention(ws), F32(f, "out.attention_weights"), T * B * T, RTOL, ATOL, "attention");
    if (s2s_st_find(f, "out.attentional"))
        CHECK_ARRAY(ws->dec_ops->outputs(ws), F32(f, "out.attentional"), T * B * H, RTOL, ATOL, "out.attentional");
    s2s_backward(m, ws, &bt);
    char nm[96];
    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m->tensors[i].name);
        CHECK_ARRAY(m->grads + m->tensors[i].offset, F32(f, nm), (long)m->tensors[i].size, RTOL, ATOL, nm);
    }
    /* the decoder may stop after the longest target: same loss and gradients */
    float *g_full = malloc(m->n_params * 4);
    memcpy(g_full, m->grads, m->n_params * 4);
    s2s_model_zero_grad(m);
    double total_short = s2s_forward(m, ws, &bt, 0, 0, NULL, NULL);
    s2s_backward(m, ws, &bt);
    CHECK_NEAR(total_short, total, 1e-6, 0);
    CHECK_ARRAY(m->grads, g_full, (long)m->n_params, 1e-5, 1e-7, "gradients with the early stop");
    /* five steps of d2l's training loop on this batch */
    const int steps = META(f, "adam_steps");
    s2s_adam adam = {0.005f, 0.9f, 0.999f, 1e-8f, 0, calloc(m->n_params, 4), calloc(m->n_params, 4), m->n_params, 1};
    const float *ref_loss = F32(f, "adam.loss_sum"), *ref_norm = F32(f, "adam.grad_norm");
    for (int s = 0; s < steps; s++) {
        s2s_model_zero_grad(m);
        double l = s2s_forward(m, ws, &bt, 1, 0, NULL, NULL);  /* train mode, dropout 0 */
        s2s_backward(m, ws, &bt);
        double norm = s2s_clip_grad_norm(m->grads, m->n_params, 1.0);
        s2s_adam_step(&adam, m->params, m->grads);
        CHECK_NEAR(l, ref_loss[s], RTOL, ATOL);
        CHECK_NEAR(norm, ref_norm[s], RTOL, ATOL);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(nm, sizeof nm, "after.%s", m->tensors[i].name);
        CHECK_ARRAY(m->params + m->tensors[i].offset, F32(f, nm), (long)m->tensors[i].size, RTOL, 1e-5, nm);
    }
    free(adam.m); free(adam.v); free(bm); free(g_full);
    s2s_ws_free(ws); s2s_model_free(m); s2s_st_free(f);
    return 0;
}
static int test_lstm_uni_bahdanau(void) { return model_fixture("fam_lstm_uni_bahdanau.safetensors"); }
static int test_lstm_uni_none(void) { return model_fixture("fam_lstm_uni_none.safetensors"); }
static int test_gru_bi_bahdanau(void) { return model_fixture("fam_gru_bi_bahdanau.safetensors"); }
static int test_lstm_bi_none(void) { return model_fixture("fam_lstm_bi_none.safetensors"); }
static int test_gru_uni_luong_dot(void) { return model_fixture("fam_gru_uni_luong_dot.safetensors"); }
static int test_gru_uni_luong_general_feed(void) { return model_fixture("fam_gru_uni_luong_general_feed.safetensors"); }
static int test_lstm_bi_luong_general_feed(void) { return model_fixture("fam_lstm_bi_luong_general_feed.safetensors"); }
static int test_gru_uni_bahdanau_tied(void) { return model_fixture("fam_gru_uni_bahdanau_tied.safetensors"); }
static int test_lstm_bi_luong_dot_feed_tied(void) { return model_fixture("fam_lstm_bi_luong_dot_feed_tied.safetensors"); }

/* ---- one layer of a cell against PyTorch's (nn.GRU / nn.LSTM, 2 layers, from h0 and c0) -------- */

/* Runs the fixture's 2-layer RNN through the cell interface, forward and backward, and
 * compares outputs, final states and every gradient (x, h0, c0, the weights). */
static int layer_fixture(const char *name, s2s_cell_kind kind) {
    const s2s_cell_ops *cell = s2s_cell_of(kind);
    if (!cell) SKIP("no %s cell in this build", name);
    s2s_st_file *f = open_fixture(name);
    if (!f) { CHECK(0); return 0; }
    const int In = META(f, "In"), H = META(f, "H"), L = META(f, "L"), T = META(f, "T"), B = META(f, "B");
    const int G = cell->gates, S = cell->states, P = cell->planes;
    const size_t BH = (size_t)B * H, plane = T * BH;
    char nm[64];
    float *hs[2][2], *gi[2], *cache[2], *dgi[2], *dgh[2], *dW_ih[2], *dW_hh[2], *db_ih[2], *db_hh[2];
    const float *W_ih[2], *W_hh[2], *b_ih[2], *b_hh[2];
    float *gh = calloc((size_t)G * BH, 4), *dx = calloc((size_t)T * B * In, 4), *dy = calloc(T * BH, 4);
    float *dh = calloc(BH, 4), *dc = calloc(BH, 4), *g_h0 = calloc(L * BH, 4), *g_c0 = calloc(L * BH, 4);
    for (int l = 0; l < L; l++) {
        const int in = l ? H : In;
        snprintf(nm, 64, "weight_ih_l%d", l); W_ih[l] = F32(f, nm);
        snprintf(nm, 64, "weight_hh_l%d", l); W_hh[l] = F32(f, nm);
        snprintf(nm, 64, "bias_ih_l%d", l); b_ih[l] = F32(f, nm);
        snprintf(nm, 64, "bias_hh_l%d", l); b_hh[l] = F32(f, nm);
        for (int s = 0; s < 2; s++) hs[l][s] = calloc((T + 1) * BH, 4);
        gi[l] = calloc((size_t)G * T * BH, 4); cache[l] = calloc((size_t)P * T * BH, 4);
        dgi[l] = calloc((size_t)G * T * BH, 4); dgh[l] = calloc((size_t)G * T * BH, 4);
        dW_ih[l] = calloc((size_t)G * H * in, 4); dW_hh[l] = calloc((size_t)G * H * H, 4);
        db_ih[l] = calloc((size_t)G * H, 4); db_hh[l] = calloc((size_t)G * H, 4);
    }
    const float *x = F32(f, "x");
    for (int l = 0; l < L; l++) {
        const int in = l ? H : In;
        const float *xin = l ? hs[l - 1][0] + BH : x;
        s2s_linear_forward(g_opts.gemm, T * B, G * H, in, xin, in, W_ih[l], in, b_ih[l], 0.0f, gi[l], G * H);
        memcpy(hs[l][0], F32(f, "h0") + l * BH, BH * 4);
        if (S > 1) memcpy(hs[l][1], F32(f, "c0") + l * BH, BH * 4);
        for (int t = 0; t < T; t++) {
            const size_t o = t * BH;
            const s2s_cell_fwd a = {B, H, gi[l] + G * o, hs[l][0] + o, hs[l][1] + o, W_hh[l], NULL, b_hh[l], 0, gh,
                                    hs[l][0] + o + BH, hs[l][1] + o + BH, cache[l] + o, plane, g_opts.gemm, NULL};
            cell->forward(&a);
        }
    }
    CHECK_ARRAY(hs[L - 1][0] + BH, F32(f, "y"), T * BH, RTOL, ATOL, "y");
    for (int l = 0; l < L; l++) {
        CHECK_ARRAY(hs[l][0] + T * BH, F32(f, "hn") + l * BH, BH, RTOL, ATOL, "hn");
        if (S > 1) CHECK_ARRAY(hs[l][1] + T * BH, F32(f, "cn") + l * BH, BH, RTOL, ATOL, "cn");
    }
    memcpy(dy, F32(f, "dy"), T * BH * 4);
    for (int l = L - 1; l >= 0; l--) {
        const int in = l ? H : In;
        memcpy(dh, F32(f, "dhn") + l * BH, BH * 4);
        if (S > 1) memcpy(dc, F32(f, "dcn") + l * BH, BH * 4);
        for (int t = T - 1; t >= 0; t--) {
            const size_t o = t * BH;
            for (size_t i = 0; i < BH; i++) dh[i] += dy[o + i];
            const s2s_cell_bwd a = {B, H, dh, dc, hs[l][0] + o, hs[l][1] + o, cache[l] + o, plane, W_hh[l],
                                    dgi[l] + G * o, (cell->own_dgh ? dgh[l] : dgi[l]) + G * o, dh, dc, g_opts.gemm};
            cell->backward(&a);
        }
        memcpy(g_h0 + l * BH, dh, BH * 4);
        memcpy(g_c0 + l * BH, dc, BH * 4);
        const float *xin = l ? hs[l - 1][0] + BH : x, *dG = cell->own_dgh ? dgh[l] : dgi[l];
        s2s_linear_wgrad(g_opts.gemm, T * B, G * H, H, dG, G * H, hs[l][0], H, dW_hh[l], H, db_hh[l]);
        s2s_linear_wgrad(g_opts.gemm, T * B, G * H, in, dgi[l], G * H, xin, in, dW_ih[l], in, db_ih[l]);
        s2s_gemm(g_opts.gemm, 0, 0, T * B, in, G * H, 1.0f, dgi[l], G * H, W_ih[l], in, 0.0f, l ? dy : dx, in);
    }
    CHECK_ARRAY(dx, F32(f, "grad.x"), T * B * In, RTOL, ATOL, "grad.x");
    CHECK_ARRAY(g_h0, F32(f, "grad.h0"), L * BH, RTOL, ATOL, "grad.h0");
    if (S > 1) CHECK_ARRAY(g_c0, F32(f, "grad.c0"), L * BH, RTOL, ATOL, "grad.c0");
    for (int l = 0; l < L; l++) {
        const int in = l ? H : In;
        snprintf(nm, 64, "grad.weight_ih_l%d", l); CHECK_ARRAY(dW_ih[l], F32(f, nm), G * H * in, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.weight_hh_l%d", l); CHECK_ARRAY(dW_hh[l], F32(f, nm), G * H * H, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.bias_ih_l%d", l); CHECK_ARRAY(db_ih[l], F32(f, nm), G * H, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.bias_hh_l%d", l); CHECK_ARRAY(db_hh[l], F32(f, nm), G * H, RTOL, ATOL, nm);
        free(hs[l][0]); free(hs[l][1]); free(gi[l]); free(cache[l]); free(dgi[l]); free(dgh[l]);
        free(dW_ih[l]); free(dW_hh[l]); free(db_ih[l]); free(db_hh[l]);
    }
    free(gh); free(dx); free(dy); free(dh); free(dc); free(g_h0); free(g_c0);
    s2s_st_free(f);
    return 0;
}
static int test_lstm_layer(void) { return layer_fixture("fam_lstm.safetensors", S2S_LSTM); }

/* Luong's attention layer alone (tools/make_family_fixtures.py fixture_luong: one query h_t per
 * row, the encoder outputs K as keys and values) through the s2s_nn kernels the decoder runs:
 * KP = K W_a^T (general) or K, scores, masked softmax, context c, h~ = tanh(W_c [c; h_t]); and
 * back from dh~ to dq, dK (the values' and the keys' shares), dW_a, dW_c. */
static int luong_layer(const char *name, int general) {
    s2s_st_file *f = open_fixture(name);
    if (!f) { CHECK(0); return 0; }
    const int H = META(f, "H"), B = META(f, "B"), Tk = META(f, "Tk");
    CHECK(META(f, "Tq") == 1);
    const float *q = F32(f, "queries"), *K = F32(f, "keys"), *Wc = F32(f, "W_c.weight");
    const float *Wa = general ? F32(f, "W_a.weight") : NULL;
    const int32_t *valid = I32(f, "valid_lens");
    float *KPb = calloc((size_t)B * Tk * H, 4), *A = calloc((size_t)B * Tk, 4), *ctx = calloc((size_t)B * H, 4);
    float *z = calloc((size_t)B * H, 4), *ht = calloc((size_t)B * H, 4), *dz = calloc((size_t)B * H, 4);
    float *dctx = calloc((size_t)B * H, 4), *dq = calloc((size_t)B * H, 4), *dA = calloc((size_t)B * Tk, 4);
    float *dK = calloc((size_t)B * Tk * H, 4), *dKP = calloc((size_t)B * Tk * H, 4);
    float *dWc = calloc((size_t)2 * H * H, 4), *dWa = calloc((size_t)H * H, 4);
    if (general) s2s_linear_forward(g_opts.gemm, B * Tk, H, H, K, H, Wa, H, NULL, 0.0f, KPb, H);
    const float *KP = general ? KPb : K;
    s2s_dot_scores(B, Tk, H, q, KP, NULL, valid, A);
    s2s_masked_softmax(B, Tk, valid, A);
    s2s_attn_context(B, Tk, H, A, NULL, K, NULL, ctx);
    s2s_linear_forward(g_opts.gemm, B, H, H, ctx, H, Wc, 2 * H, NULL, 0.0f, z, H);
    s2s_linear_forward(g_opts.gemm, B, H, H, q, H, Wc + H, 2 * H, NULL, 1.0f, z, H);
    s2s_tanh((size_t)B * H, z, ht);
    CHECK_ARRAY(A, F32(f, "attention_weights"), B * Tk, RTOL, ATOL, "attention_weights");
    CHECK_ARRAY(ctx, F32(f, "context"), B * H, RTOL, ATOL, "context");
    CHECK_ARRAY(ht, F32(f, "attentional"), B * H, RTOL, ATOL, "attentional");
    s2s_tanh_backward((size_t)B * H, ht, F32(f, "dattentional"), NULL, dz);
    s2s_linear_wgrad(g_opts.gemm, B, H, H, dz, H, ctx, H, dWc, 2 * H, NULL);
    s2s_linear_wgrad(g_opts.gemm, B, H, H, dz, H, q, H, dWc + H, 2 * H, NULL);
    s2s_gemm(g_opts.gemm, 0, 0, B, H, H, 1.0f, dz, H, Wc, 2 * H, 0.0f, dctx, H);
    s2s_gemm(g_opts.gemm, 0, 0, B, H, H, 1.0f, dz, H, Wc + H, 2 * H, 0.0f, dq, H);
    s2s_attn_context_backward(B, Tk, H, dctx, A, NULL, K, dK, dA);
    s2s_masked_softmax_backward(B, Tk, valid, A, dA, dA);
    s2s_dot_scores_backward(B, Tk, H, dA, q, KP, valid, dq, general ? dKP : dK);
    if (general) {
        s2s_linear_wgrad(g_opts.gemm, B * Tk, H, H, dKP, H, K, H, dWa, H, NULL);
        s2s_gemm(g_opts.gemm, 0, 0, B * Tk, H, H, 1.0f, dKP, H, Wa, H, 1.0f, dK, H);
        CHECK_ARRAY(dWa, F32(f, "grad.W_a.weight"), H * H, RTOL, ATOL, "grad.W_a");
    }
    CHECK_ARRAY(dq, F32(f, "grad.queries"), B * H, RTOL, ATOL, "grad.queries");
    CHECK_ARRAY(dK, F32(f, "grad.keys"), B * Tk * H, RTOL, ATOL, "grad.keys");
    CHECK_ARRAY(dWc, F32(f, "grad.W_c.weight"), 2 * H * H, RTOL, ATOL, "grad.W_c");
    free(KPb); free(A); free(ctx); free(z); free(ht); free(dz); free(dctx); free(dq); free(dA); free(dK); free(dKP);
    free(dWc); free(dWa);
    s2s_st_free(f);
    return 0;
}
static int test_luong_dot_layer(void) { return luong_layer("fam_luong_dot.safetensors", 0); }
static int test_luong_general_layer(void) { return luong_layer("fam_luong_general.safetensors", 1); }

/* A 2-layer bidirectional nn.GRU / nn.LSTM over packed sequences, as the encoder computes it:
 * the fixture's inputs x [T,B,In] become the rows of an embedding (position (t, b) is token
 * t*B + b), its parameters the encoder's; then outputs (zero at padding), final states (both
 * directions side by side), and from upstream dy, dhn every weight's gradient and grad.x (the
 * embedding's rows). With pad > 0 the batch has pad more steps, padding in every row (the
 * encoder skips them): the same results, zero outputs there, and their dy (ones) ignored. */
static int packed_fixture(const char *name, int pad) {
    s2s_st_file *f = open_fixture(name);
    if (!f) { CHECK(0); return 0; }
    const int In = META(f, "In"), Hd = META(f, "H"), L = META(f, "L"), T = META(f, "T"), B = META(f, "B"), H = 2 * Hd;
    const int Tw = T + pad;
    const s2s_cell_kind kind = !strcmp(s2s_st_meta(f, "kind"), "lstm") ? S2S_LSTM : S2S_GRU;
    s2s_config cfg = family_config((family){kind, S2S_BI, S2S_NO_ATTENTION, 0, 0}, T * B, 4, In, H, L, 0.0f, Tw);
    if (!available(&cfg)) { s2s_st_free(f); return 1; }
    s2s_model *m; s2s_ws *ws; s2s_err err;
    if (s2s_model_create(&cfg, &m, &err) || s2s_ws_create_opts(m, B, Tw, &g_opts, &ws, &err)) {
        CHECK_MSG(0, "%s", err.msg); s2s_st_free(f); return 0;
    }
    const int S = ws->S;
    const size_t BH = (size_t)B * H, BHd = (size_t)B * Hd;
    char nm[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const char *tn = m->tensors[i].name;
        if (strncmp(tn, "encoder.rnn.", 12)) continue;
        const s2s_tensor *t = s2s_st_find(f, tn + 12);
        CHECK_MSG(t && t->nbytes == m->tensors[i].size * 4, "fixture tensor %s missing or misshapen", tn + 12);
        if (t) memcpy(m->params + m->tensors[i].offset, t->data, t->nbytes);
    }
    memcpy(m->p.enc_emb, F32(f, "x"), sizeof(float) * T * B * In);
    int32_t src[96], len[8];
    for (int b = 0; b < B; b++) {
        len[b] = I32(f, "lengths")[b];
        for (int t = 0; t < Tw; t++) src[b * Tw + t] = t < T ? t * B + b : 0;
    }
    s2s_enc_forward(m, ws, B, src, len, 0, NULL);
    CHECK_ARRAY(ws->enc_out[L - 1], F32(f, "y"), T * BH, RTOL, ATOL, "y");
    for (size_t i = T * BH; i < Tw * BH; i++) CHECK_MSG(ws->enc_out[L - 1][i] == 0.0f, "padding output %zu", i);
    float *want = calloc(BH, 4), *up = calloc((size_t)S * L * BH, 4);
    for (int st = 0; st < S; st++) {
        const float *hn = F32(f, st ? "cn" : "hn"), *dhn = F32(f, st ? "dcn" : "dhn");
        for (int l = 0; l < L; l++) {
            for (int b = 0; b < B; b++)
                for (int d = 0; d < 2; d++) {
                    memcpy(want + b * H + d * Hd, hn + (2 * l + d) * BHd + b * Hd, sizeof(float) * Hd);
                    memcpy(up + ((size_t)st * L + l) * BH + b * H + d * Hd, dhn + (2 * l + d) * BHd + b * Hd, sizeof(float) * Hd);
                }
            CHECK_ARRAY(ws->enc_final[st][l], want, BH, RTOL, ATOL, st ? "cn" : "hn");
        }
    }
    s2s_model_zero_grad(m);
    memcpy(ws->enc_dy, F32(f, "dy"), sizeof(float) * T * BH);
    for (size_t i = T * BH; i < Tw * BH; i++) ws->enc_dy[i] = 1.0f;
    memcpy(ws->enc_dstate, up, sizeof(float) * S * L * BH);
    s2s_enc_backward(m, ws, src);
    CHECK_ARRAY(m->g.enc_emb, F32(f, "grad.x"), T * B * In, RTOL, ATOL, "grad.x");
    for (int i = 0; i < m->n_tensors; i++) {
        const char *tn = m->tensors[i].name;
        if (strncmp(tn, "encoder.rnn.", 12)) continue;
        snprintf(nm, sizeof nm, "grad.%s", tn + 12);
        CHECK_ARRAY(m->grads + m->tensors[i].offset, F32(f, nm), (long)m->tensors[i].size, RTOL, ATOL, nm);
    }
    free(want); free(up);
    s2s_ws_free(ws); s2s_model_free(m); s2s_st_free(f);
    return 0;
}
static int test_bigru_packed(void) { return packed_fixture("fam_bigru_packed.safetensors", 0); }
static int test_bilstm_packed(void) { return packed_fixture("fam_bilstm_packed.safetensors", 0); }
static int test_bigru_packed_padded(void) { return packed_fixture("fam_bigru_packed.safetensors", 3); }
static int test_bilstm_packed_padded(void) { return packed_fixture("fam_bilstm_packed.safetensors", 3); }
static int test_gru_layer(void) { return layer_fixture("gru.safetensors", S2S_GRU); }

/* Every cell's forward and backward against its reference (the element-wise part in portable
 * loops): bit for bit (the AVX-512 code makes the same operations), over row lengths around the
 * vector width and with a first step's zero state. */
static int test_cells_match_reference(void) {
    static const int widths[] = {1, 5, 15, 16, 17, 32, 37};
    s2s_rng r; s2s_rng_seed(&r, 21);
    int cells = 0;
    for (int k = 0; k < S2S_N_CELLS; k++) {
        const s2s_cell_ops *cell = s2s_cell_of(k);
        if (!cell) continue;
        cells++;
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            const int B = 3, H = widths[w], G = cell->gates, P = cell->planes;
            const size_t BH = (size_t)B * H;
            float *buf = calloc((size_t)(4 * G + 2 * G) * BH + (size_t)G * H * (H + 1), 4);
            float *gi = buf, *hp = gi + G * BH, *cp = hp + BH, *W = cp + BH, *b = W + (size_t)G * H * H;
            for (size_t i = 0; i < G * BH + 2 * BH + (size_t)G * H * (H + 1); i++) buf[i] = 2.0f * s2s_rng_normal(&r);
            float *out[2] = {calloc((size_t)(G + 2 + P) * BH, 4), calloc((size_t)(G + 2 + P) * BH, 4)};
            for (int zero = 0; zero < 2; zero++) {
                for (int ref = 0; ref < 2; ref++) {
                    float *gh = out[ref], *h = gh + G * BH, *c = h + BH, *cache = c + BH;
                    const s2s_cell_fwd a = {B, H, gi, hp, cp, W, NULL, b, zero, gh, h, c, cache, BH, g_opts.gemm, NULL};
                    (ref ? cell->forward_ref : cell->forward)(&a);
                }
                long bad = 0;
                for (size_t i = G * BH; i < (size_t)(G + 2 + P) * BH; i++)
                    if (memcmp(&out[0][i], &out[1][i], 4) && bad++ < 3)
                        fprintf(stderr, "  %s H=%d: element %zu: %.9g vs reference %.9g\n", cell->name, H, i, out[0][i], out[1][i]);
                CHECK_MSG(bad == 0, "%s, H = %d, zero state %d: %ld elements differ from the reference", cell->name, H,
                          zero, bad);
            }
            /* backward, in place as the encoder and decoder call it (dh_prev = dh, dc_prev = dc),
             * from the forward's cache and upstream gradients; W_hh NULL: a first step */
            float *cache = out[0] + (G + 2) * BH, *up = calloc(2 * BH, 4);
            for (size_t i = 0; i < 2 * BH; i++) up[i] = s2s_rng_normal(&r);
            float *bo[2] = {calloc((size_t)(2 * G + 2) * BH, 4), calloc((size_t)(2 * G + 2) * BH, 4)};
            for (int zero = 0; zero < 2; zero++) {
                for (int ref = 0; ref < 2; ref++) {
                    float *dgi = bo[ref], *dgh = dgi + G * BH, *dh = dgh + G * BH, *dc = dh + BH;
                    memcpy(dh, up, sizeof(float) * 2 * BH);
                    const s2s_cell_bwd a = {B, H, dh, dc, hp, cp, cache, BH, zero ? NULL : W, dgi,
                                            cell->own_dgh ? dgh : dgi, dh, dc, g_opts.gemm};
                    (ref ? cell->backward_ref : cell->backward)(&a);
                }
                long bad = 0;
                for (size_t i = 0; i < (size_t)(2 * G + 2) * BH; i++)
                    if (memcmp(&bo[0][i], &bo[1][i], 4) && bad++ < 3)
                        fprintf(stderr, "  %s H=%d backward: element %zu: %.9g vs reference %.9g\n", cell->name, H, i,
                                bo[0][i], bo[1][i]);
                CHECK_MSG(bad == 0, "%s, H = %d, first step %d: %ld backward elements differ from the reference",
                          cell->name, H, zero, bad);
            }
            free(bo[0]); free(bo[1]); free(up);
            free(out[0]); free(out[1]); free(buf);
        }
    }
    printf("  %d cells\n", cells);
    return 0;
}

/* ---- the families checked here without PyTorch ------------------------------------------------ */

static const family families[] = {
    {S2S_GRU, S2S_UNI, S2S_BAHDANAU, 0, 1},
    {S2S_LSTM, S2S_UNI, S2S_BAHDANAU, 0, 0},
    {S2S_LSTM, S2S_UNI, S2S_NO_ATTENTION, 0, 0},
    {S2S_GRU, S2S_BI, S2S_BAHDANAU, 0, 0},
    {S2S_GRU, S2S_BI, S2S_NO_ATTENTION, 0, 0},
    {S2S_LSTM, S2S_BI, S2S_NO_ATTENTION, 0, 1},
    {S2S_GRU, S2S_UNI, S2S_LUONG_DOT, 0, 0},
    {S2S_GRU, S2S_UNI, S2S_LUONG_GENERAL, 1, 0},
    {S2S_LSTM, S2S_BI, S2S_LUONG_GENERAL, 1, 0},
    {S2S_LSTM, S2S_BI, S2S_LUONG_DOT, 1, 1},
    {S2S_GRU, S2S_BI, S2S_LUONG_DOT, 0, 1},
};
enum { N_FAMILIES = sizeof families / sizeof families[0] };

/* A toy batch over vocabularies Vs = 9, Vt = 11 (ids 4.. words; 1 pad, 2 <bos>, 3 <eos>), rows
 * sorted by target length as the trainer sorts them; source lengths mixed, some padded. */
enum { TB = 6, TT = 5 };
typedef struct { int32_t src[TB * TT], srcl[TB], dec[TB * TT], tgt[TB * TT], tgtl[TB]; } toy;
static void make_toy(toy *d) {
    static const int32_t src[TB * TT] = {4, 5, 6, 7, 3,  8, 3, 1, 1, 1,  5, 5, 3, 1, 1,  3, 1, 1, 1, 1,
                                         6, 3, 1, 1, 1,  7, 8, 4, 3, 1};
    static const int32_t srcl[TB] = {5, 2, 3, 1, 2, 4};
    static const int32_t tgt[TB * TT] = {6, 7, 8, 9, 10,  4, 5, 3, 1, 1,  10, 3, 1, 1, 1,  4, 3, 1, 1, 1,
                                         5, 3, 1, 1, 1,  3, 1, 1, 1, 1};
    static const int32_t tgtl[TB] = {5, 3, 2, 2, 2, 1};
    memcpy(d->src, src, sizeof src); memcpy(d->srcl, srcl, sizeof srcl);
    memcpy(d->tgt, tgt, sizeof tgt); memcpy(d->tgtl, tgtl, sizeof tgtl);
    for (int b = 0; b < TB; b++) { d->dec[b * TT] = 2; for (int t = 1; t < TT; t++) d->dec[b * TT + t] = tgt[b * TT + t - 1]; }
}

/* A model of the family (tied: E = H) with d2l's initialisation from seed, and a workspace. */
static int make_model(family fa, int H, int layers, float dropout, int rows, uint64_t seed, s2s_model **m, s2s_ws **ws) {
    s2s_config cfg = family_config(fa, 9, 11, fa.tie ? H : 3, H, layers, dropout, TT);
    s2s_err err;
    if (s2s_model_create(&cfg, m, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    if (s2s_ws_create_opts(*m, rows, TT, &g_opts, ws, &err)) { CHECK_MSG(0, "%s", err.msg); s2s_model_free(*m); return 0; }
    s2s_rng r; s2s_rng_seed(&r, seed);
    s2s_model_init(*m, &r);
    return 1;
}

/* Central differences of the summed loss at a spread of every tensor's coordinates. */
typedef struct { s2s_model *m; s2s_ws *ws; s2s_batch bt; int train; } model_ctx;
static double model_loss(model_ctx *c) {
    s2s_rng r; s2s_rng_seed(&r, 99);  /* the same dropout masks every time */
    return s2s_forward(c->m, c->ws, &c->bt, c->train, 0, &r, NULL);
}
static int grad_case(family fa, float dropout) {
    char nm[64];
    s2s_config probe = family_config(fa, 9, 11, 4, 4, 2, dropout, TT);
    if (!available(&probe)) return -1;
    s2s_model *m; s2s_ws *ws;
    if (!make_model(fa, 4, 2, dropout, TB, 7, &m, &ws)) return 0;
    toy d;
    make_toy(&d);
    model_ctx c = {m, ws, {TB, TT, d.src, d.srcl, d.dec, d.tgt, d.tgtl, 0, 0, 0}, dropout > 0};
    s2s_model_zero_grad(m);
    model_loss(&c);
    s2s_backward(m, ws, &c.bt);
    const double eps = 1e-2, atol = 2e-4;
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        if (t->alias) continue;  /* the same coordinates as its first name */
        int n = (int)t->size, bad = 0, stride = n > 40 ? n / 40 : 1;
        for (int k = 0; k < n; k += stride) {
            float *x = m->params + t->offset + k, keep = *x;
            *x = keep + (float)eps; double fp = model_loss(&c);
            *x = keep - (float)eps; double fm = model_loss(&c);
            *x = keep;
            double num = (fp - fm) / (2 * eps), ana = m->grads[t->offset + k];
            if (!(fabs(num - ana) <= atol + 1e-2 * fabs(num)) && bad++ < 3)
                fprintf(stderr, "  %s[%d]: analytic %.6g vs numeric %.6g\n", t->name, k, ana, num);
        }
        CHECK_MSG(bad == 0, "%s: %d coordinates disagree (%s, dropout %g)", t->name, bad,
                  family_name(fa, nm, sizeof nm), dropout);
    }
    s2s_ws_free(ws); s2s_model_free(m);
    return 1;
}
static int test_family_gradients(void) {
    int ran = 0;
    for (int i = 0; i < N_FAMILIES; i++)
        for (int drop = 0; drop < 2; drop++) ran += grad_case(families[i], drop ? 0.3f : 0.0f) > 0;
    if (!ran) SKIP("no family beside d2l's in this build");
    printf("  %d family/dropout cases\n", ran);
    return 0;
}

/* One training pass of each family with token tables against per-position products (the
 * reference), and greedy translation likewise. */
static int test_family_tables(void) {
    int ran = 0;
    toy d;
    make_toy(&d);
    s2s_batch bt = {TB, TT, d.src, d.srcl, d.dec, d.tgt, d.tgtl, 0, 0, 0};
    for (int i = 0; i < N_FAMILIES; i++) {
        s2s_config probe = family_config(families[i], 9, 11, 6, 6, 2, 0.0f, TT);
        if (!available(&probe)) continue;
        s2s_model *m; s2s_ws *ws[2];
        float *g[2], att[2][TB * TT * TT];
        double loss[2];
        int32_t out[2][TB * TT];
        int len[2][TB];
        s2s_err err;
        g_opts.token_tables = 0;
        const int made = make_model(families[i], 6, 2, 0.2f, TB, 11, &m, &ws[0]);
        g_opts.token_tables = 1;
        if (!made) return 0;
        if (s2s_ws_create_opts(m, TB, TT, &g_opts, &ws[1], &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
        for (int on = 0; on < 2; on++) {
            s2s_rng dr; s2s_rng_seed(&dr, 5);
            s2s_model_zero_grad(m);
            loss[on] = s2s_forward(m, ws[on], &bt, 1, 0, &dr, NULL);
            s2s_backward(m, ws[on], &bt);
            g[on] = malloc(sizeof(float) * m->n_params);
            memcpy(g[on], m->grads, sizeof(float) * m->n_params);
            CHECK(s2s_greedy(m, ws[on], TB, d.src, d.srcl, TT, out[on], len[on], att[on], &err) == 0);
        }
        CHECK_NEAR(loss[1], loss[0], 1e-6, 0);
        for (int k = 0; k < m->n_tensors; k++)
            CHECK_ARRAY(g[1] + m->tensors[k].offset, g[0] + m->tensors[k].offset, (long)m->tensors[k].size, 1e-5, 1e-7,
                        m->tensors[k].name);
        for (int b = 0; b < TB; b++) {
            CHECK(len[0][b] == len[1][b]);
            for (int k = 0; k < len[0][b] && k < len[1][b]; k++) CHECK(out[0][b * TT + k] == out[1][b * TT + k]);
        }
        CHECK_ARRAY(att[1], att[0], (long)TB * TT * TT, 1e-5, 1e-7, "attention");
        free(g[0]); free(g[1]);
        s2s_ws_free(ws[0]); s2s_ws_free(ws[1]); s2s_model_free(m);
        ran++;
    }
    if (!ran) SKIP("no family beside d2l's in this build");
    return 0;
}

/* Inference steps (s2s_encode + s2s_decode_step fed the teacher's tokens) give the training
 * pass's log-probabilities and attention weights, every row, every step; rows reordered by
 * s2s_decoder_reorder carry their whole state (including a family's own, as Luong's fed-back
 * h~). */
static int family_steps(s2s_gemm_kind packed) {
    const int bf16 = packed == S2S_GEMM_BF16, int8 = packed == S2S_GEMM_INT8;
    const double tol = int8 ? 0.03 : bf16 ? 0.005 : 0.0;
    int ran = 0;
    toy d;
    make_toy(&d);
    s2s_batch bt = {TB, TT, d.src, d.srcl, d.dec, d.tgt, d.tgtl, 0, 0, 0};
    for (int i = 0; i < N_FAMILIES; i++) {
        s2s_config probe = family_config(families[i], 9, 11, 6, 6, 2, 0.0f, TT);
        if (!available(&probe)) continue;
        s2s_model *m; s2s_ws *ws, *inf;
        s2s_err err;
        if (!make_model(families[i], 6, 2, 0.0f, TB, 13, &m, &ws)) return 0;
        const s2s_ws_opts o = {.token_tables = 1, .inference = 1, .gemm = packed};
        if (s2s_ws_create_opts(m, TB, TT, packed ? &o : NULL, &inf, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
        s2s_forward(m, ws, &bt, 0, 1, NULL, NULL);
        const float *lg = s2s_ws_logits(ws), *A = s2s_ws_attention(ws);
        /* rows in reverse order after the first step: row i decodes sentence TB-1-i */
        int from[TB];
        for (int b = 0; b < TB; b++) from[b] = TB - 1 - b;
        s2s_encode(m, inf, TB, d.src, d.srcl);
        float lp[TB * 11], at[TB * TT];
        int32_t tok[TB];
        for (int t = 0; t < TT; t++) {
            const int rev = t > 0;
            if (t == 1) s2s_decoder_reorder(m, inf, TB, from);
            for (int b = 0; b < TB; b++) tok[b] = d.dec[(rev ? from[b] : b) * TT + t];
            s2s_decode_step(m, inf, TB, tok, lp, at);
            for (int b = 0; b < TB; b++) {
                const int s = rev ? from[b] : b;
                const float *x = lg + ((size_t)t * TB + s) * 11;
                float mx = x[0], ref[11];
                double sum = 0;
                for (int v = 1; v < 11; v++) mx = x[v] > mx ? x[v] : mx;
                for (int v = 0; v < 11; v++) sum += exp((double)x[v] - mx);
                for (int v = 0; v < 11; v++) ref[v] = (float)(x[v] - mx - log(sum));
                CHECK_ARRAY(lp + b * 11, ref, 11, packed ? tol : 1e-4, packed ? tol : 1e-5, "log-probabilities");
                if (A) CHECK_ARRAY(at + b * TT, A + ((size_t)t * TB + s) * TT, TT, packed ? tol : 1e-4, packed ? tol / 30 : 1e-6,
                                   "attention");
            }
        }
        if (packed) {  /* every product of a step went through a packed copy */
            CHECK_MSG(inf->pk && inf->pk->n >= 4 && inf->pk->misses == 0, "family %d: %d copies, %d left to float",
                      i, inf->pk ? inf->pk->n : -1, inf->pk ? inf->pk->misses : -1);
        }
        s2s_ws_free(ws); s2s_ws_free(inf); s2s_model_free(m);
        ran++;
    }
    if (!ran) SKIP("no family beside d2l's in this build");
    return 0;
}
static int test_family_steps(void) { return family_steps(S2S_GEMM_DEFAULT); }

/* The same under S2S_GEMM_BF16 and INT8 (translation's products from copies the workspace
 * packs): within the format's rounding of the training pass in float (log-probabilities within
 * 0.005 in bfloat16 and 0.03 in 8-bit integers; measured: below 0.001 and 0.01), with every step
 * product through a copy (its beta-1 sums too: Bahdanau's context columns), none left to float. */
static int test_family_steps_bf16(void) {
    if (!s2s_kernel_bf16_available()) SKIP("this build has no AVX512-BF16 kernel");
    return family_steps(S2S_GEMM_BF16);
}
static int test_family_steps_int8(void) {
    if (!s2s_kernel_int8_available()) SKIP("this build has no AVX512-VNNI kernel");
    return family_steps(S2S_GEMM_INT8);
}

/* Training in bfloat16 (a trainer's workspace with S2S_GEMM_BF16: every product through
 * s2s_bf16_gemm): each family's loss and every tensor's gradient within bfloat16's rounding of
 * float's (loss within 1%, each tensor's gradient within 3% in norm; measured below 0.3% and
 * 1.5%), and not float's bits (the products did run in bfloat16). */
static int test_family_training_bf16(void) {
    if (s2s_gemm_resolve(S2S_GEMM_BF16) < 0) SKIP("this build has no AVX512-BF16 kernel");
    toy d;
    make_toy(&d);
    s2s_batch bt = {TB, TT, d.src, d.srcl, d.dec, d.tgt, d.tgtl, 0, 0, 0};
    int ran = 0;
    double worst_loss = 0, worst_grad = 0;
    for (int i = 0; i < N_FAMILIES; i++) {
        s2s_config probe = family_config(families[i], 9, 11, 16, 16, 2, 0.0f, TT);
        if (!available(&probe)) continue;
        s2s_model *m; s2s_ws *ws, *wb;
        s2s_err err;
        if (!make_model(families[i], 16, 2, 0.0f, TB, 17, &m, &ws)) return 0;
        const s2s_ws_opts o = {.token_tables = 1, .gemm = S2S_GEMM_BF16};
        if (s2s_ws_create_opts(m, TB, TT, &o, &wb, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
        float *gf = malloc(m->n_params * 4);
        s2s_model_zero_grad(m);
        const double lf = s2s_forward(m, ws, &bt, 1, 0, NULL, NULL);
        s2s_backward(m, ws, &bt);
        memcpy(gf, m->grads, m->n_params * 4);
        s2s_model_zero_grad(m);
        const double lb = s2s_forward(m, wb, &bt, 1, 0, NULL, NULL);
        s2s_backward(m, wb, &bt);
        const double dl = fabs(lb - lf) / fabs(lf);
        worst_loss = dl > worst_loss ? dl : worst_loss;
        CHECK_MSG(dl <= 0.01, "family %d: loss %.6g in bfloat16, %.6g in float", i, lb, lf);
        CHECK_MSG(memcmp(gf, m->grads, m->n_params * 4) != 0, "family %d: float's gradients to the bit", i);
        for (int t = 0; t < m->n_tensors; t++) {
            const s2s_tensor_info *ti = &m->tensors[t];
            double e = 0, n = 0;
            for (size_t k = 0; k < ti->size; k++) {
                const double a = gf[ti->offset + k], b = m->grads[ti->offset + k];
                e += (a - b) * (a - b), n += a * a;
            }
            const double rel = n > 0 ? sqrt(e / n) : sqrt(e);
            worst_grad = rel > worst_grad ? rel : worst_grad;
            CHECK_MSG(rel <= 0.03, "family %d: %s's gradient %.3g from float's in norm", i, ti->name, rel);
        }
        free(gf);
        s2s_ws_free(ws); s2s_ws_free(wb); s2s_model_free(m);
        ran++;
    }
    if (!ran) SKIP("no family beside d2l's in this build");
    printf("  %d families: loss within %.2g, gradients within %.2g of float's\n", ran, worst_loss, worst_grad);
    return 0;
}

/* Model files: every family saves and loads back exactly (format 2 names it in the metadata);
 * a tied model's file holds both names with equal data, and a file where they differ is
 * refused. */
/* The tables name every cell and decoder both ways, and what the options check asks of a
 * decoder (input feeding) comes from its entry, not from a list of families. */
static int test_family_names(void) {
    for (int a = 0; a < S2S_N_ATTENTION; a++) {
        const char *name = s2s_attention_name((s2s_attention)a);
        s2s_attention back = (s2s_attention)-1;
        CHECK_MSG(name && s2s_attention_title((s2s_attention)a) && s2s_model_kind_name((s2s_attention)a),
                  "decoder %d lacks a name, title or kind", a);
        if (!name) continue;
        CHECK_MSG(s2s_attention_parse(name, &back) == 0 && back == (s2s_attention)a,
                  "%s does not parse back", name);
        s2s_config c = s2s_config_d2l(9, 11);
        c.attention = (s2s_attention)a;
        c.input_feed = 1;
        s2s_err err;
        const int feeds = s2s_attention_feeds((s2s_attention)a);
        CHECK_MSG((s2s_config_check(&c, &err) == S2S_OK) == (feeds != 0),
                  "%s: input feeding %s, its table entry says %d", name, feeds ? "refused" : "accepted", feeds);
    }
    for (int k = 0; k < S2S_N_CELLS; k++) {
        const char *name = s2s_cell_name((s2s_cell_kind)k);
        s2s_cell_kind back = (s2s_cell_kind)-1;
        CHECK_MSG(name && s2s_cell_parse(name, &back) == 0 && back == (s2s_cell_kind)k,
                  "cell %d does not parse back", k);
    }
    for (int e = 0; e < S2S_N_ENCODERS; e++) {  /* each kind's entry: its name, and what the model reads */
        const s2s_encoder_ops *en = s2s_encoder_of(e);
        s2s_enc_kind back = (s2s_enc_kind)-1;
        CHECK_MSG(en && en->name && en->title && s2s_encoder_parse(en->name, &back) == 0 && back == (s2s_enc_kind)e,
                  "encoder %d lacks an entry or does not parse back", e);
        if (!en) continue;
        s2s_config c = s2s_config_d2l(9, 11);
        c.encoder = (s2s_enc_kind)e;
        c.hidden = 6 * en->dirs + 1;  /* not a multiple of the directions unless there is one */
        s2s_err err;
        CHECK_MSG((s2s_config_check(&c, &err) == S2S_OK) == (en->dirs == 1), "%s: hidden %d", en->name, c.hidden);
    }
    CHECK(s2s_encoder_of(S2S_UNI)->dirs == 1 && !s2s_encoder_of(S2S_UNI)->packed);  /* d2l's */
    CHECK(s2s_encoder_of(S2S_BI)->dirs == 2 && s2s_encoder_of(S2S_BI)->packed);
    CHECK(!s2s_encoder_of(S2S_N_ENCODERS) && !s2s_encoder_of(-1) && !s2s_encoder_name((s2s_enc_kind)S2S_N_ENCODERS));
    CHECK(!s2s_attention_title((s2s_attention)S2S_N_ATTENTION) && !s2s_attention_feeds((s2s_attention)-1));
    s2s_attention none;
    CHECK(s2s_attention_parse("luong", &none) == -1);
    CHECK(!strcmp(s2s_attention_title(S2S_NO_ATTENTION), "plain") && s2s_attention_feeds(S2S_LUONG_DOT) &&
          s2s_attention_feeds(S2S_LUONG_GENERAL) && !s2s_attention_feeds(S2S_BAHDANAU));
    return 0;
}

static int test_family_files(void) {
    char dir[] = "/tmp/s2s-fam-XXXXXX", path[64], bad[64];
    if (!mkdtemp(dir)) { CHECK(0); return 0; }
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    const char *const src_tok[] = {"<unk>", "<pad>", "<bos>", "<eos>", "a", "b", "c", "d", "e"};
    const char *const tgt_tok[] = {"<unk>", "<pad>", "<bos>", "<eos>", "v", "w", "x", "y", "z", "zz", "zzz"};
    s2s_vocab *sv, *tv;
    s2s_err err;
    if (s2s_vocab_from_list(src_tok, 9, &sv, &err) || s2s_vocab_from_list(tgt_tok, 11, &tv, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int ran = 0;
    for (int i = 0; i < N_FAMILIES; i++) {
        s2s_config probe = family_config(families[i], 9, 11, 6, 6, 2, 0.0f, TT);
        if (!available(&probe)) continue;
        s2s_model *m, *m2; s2s_ws *ws; s2s_vocab *sv2, *tv2;
        if (!make_model(families[i], 6, 2, 0.1f, 1, 17, &m, &ws)) return 0;
        CHECK(s2s_model_save(path, m, sv, tv, &err) == 0);
        if (s2s_model_load(path, &m2, &sv2, &tv2, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
        const s2s_config *a = &m->cfg, *b = &m2->cfg;
        CHECK(a->cell == b->cell && a->encoder == b->encoder && a->attention == b->attention &&
              a->input_feed == b->input_feed && a->tie_embeddings == b->tie_embeddings && a->hidden == b->hidden);
        CHECK(m2->n_params == m->n_params && !memcmp(m2->params, m->params, m->n_params * sizeof(float)));
        s2s_st_file *f;
        CHECK(s2s_st_read(path, &f, &err) == 0);
        CHECK(!strcmp(s2s_st_meta(f, "format_version"), "2") && !strcmp(s2s_st_meta(f, "cell"), s2s_cell_name(a->cell)) &&
              !strcmp(s2s_st_meta(f, "attention"), s2s_attention_name(a->attention)));
        if (a->tie_embeddings) {  /* both names, equal; then a file where they differ */
            const s2s_tensor *e = s2s_st_find(f, "decoder.embedding.weight"), *d = s2s_st_find(f, "decoder.dense.weight");
            CHECK(e && d && e->nbytes == d->nbytes && !memcmp(e->data, d->data, e->nbytes));
            int n = s2s_st_count(f), nm = s2s_st_meta_count(f);
            s2s_tensor *ts = calloc((size_t)n, sizeof *ts);
            const char **k = calloc((size_t)nm, sizeof *k), **v = calloc((size_t)nm, sizeof *v);
            float *changed = malloc(d->nbytes);
            memcpy(changed, d->data, d->nbytes);
            changed[3] += 0.5f;
            for (int j = 0; j < n; j++) {
                ts[j] = *s2s_st_get(f, j);
                if (!strcmp(ts[j].name, "decoder.dense.weight")) ts[j].data = changed;
            }
            for (int j = 0; j < nm; j++) s2s_st_meta_at(f, j, &k[j], &v[j]);
            CHECK(s2s_st_write(bad, ts, n, k, v, nm, &err) == 0);
            s2s_model *m3; s2s_vocab *s3, *t3;
            CHECK(s2s_model_load(bad, &m3, &s3, &t3, &err) != 0);
            CHECK_MSG(strstr(err.msg, "decoder.dense.weight differs from decoder.embedding.weight"), "%s", err.msg);
            free(ts); free(k); free(v); free(changed);
        }
        s2s_st_free(f);
        s2s_model_free(m2); s2s_vocab_free(sv2); s2s_vocab_free(tv2);
        s2s_ws_free(ws); s2s_model_free(m);
        ran++;
    }
    remove(path); remove(bad); rmdir(dir);
    s2s_vocab_free(sv); s2s_vocab_free(tv);
    if (!ran) SKIP("no family beside d2l's in this build");
    return 0;
}

int main(void) {
    static const char *names[] = {"our kernel's", "BLAS", "reference", "reference, per-position input"};
    for (int pass = 0; pass < 4; pass++) {
        if (pass == 0 && s2s_gemm_resolve(S2S_GEMM_OWN) < 0) continue;  /* not in this build */
        g_opts.gemm = pass == 0 ? S2S_GEMM_OWN : pass == 1 ? S2S_GEMM_BLAS : S2S_GEMM_REF;
        g_opts.token_tables = pass < 3;
        printf("  (%s products)\n", names[pass]);
        RUN(test_lstm_uni_bahdanau);
        RUN(test_lstm_uni_none);
        RUN(test_gru_bi_bahdanau);
        RUN(test_lstm_bi_none);
        RUN(test_gru_uni_luong_dot);
        RUN(test_gru_uni_luong_general_feed);
        RUN(test_lstm_bi_luong_general_feed);
        RUN(test_gru_uni_bahdanau_tied);
        RUN(test_lstm_bi_luong_dot_feed_tied);
        RUN(test_bigru_packed);
        RUN(test_bilstm_packed);
        RUN(test_bigru_packed_padded);
        RUN(test_bilstm_packed_padded);
    }
    g_opts.token_tables = 1;
    g_opts.gemm = S2S_GEMM_DEFAULT;
    RUN(test_lstm_layer);
    RUN(test_gru_layer);
    RUN(test_luong_dot_layer);
    RUN(test_luong_general_layer);
    RUN(test_cells_match_reference);
    g_opts.gemm = S2S_GEMM_REF;
    RUN(test_family_gradients);
    RUN(test_family_tables);
    g_opts.gemm = S2S_GEMM_DEFAULT;
    RUN(test_family_steps);
    RUN(test_family_steps_bf16);
    RUN(test_family_steps_int8);
    RUN(test_family_training_bf16);
    RUN(test_family_files);
    RUN(test_family_names);
    TEST_END();
}
