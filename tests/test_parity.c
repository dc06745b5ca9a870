/* Parity with PyTorch: fixtures written by tools/make_fixtures.py from d2l's own modules
 * (torch 1.13) hold inputs, weights, outputs and every gradient; the C layers and the whole
 * model must reproduce them to 1e-4 relative (absolute floor 1e-6), then five training steps
 * (clipping + Adam) must follow PyTorch's losses and end at the same weights. */
#include <stdlib.h>

#include "harness.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_nn.h"
#include "s2s_optim.h"
#include "s2s_safetensors.h"

#define RTOL 1e-4
#define ATOL 1e-6

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
static s2s_ws_opts g_opts = {.token_tables = 1};  /* the workspaces' options: token tables, products */
static int META(s2s_st_file *f, const char *k) { const char *v = s2s_st_meta(f, k); return v ? atoi(v) : -1; }

/* ---- a 2-layer GRU over time, from the cell kernels ----------------------------------------- */
static int test_gru_parity(void) {
    s2s_st_file *f = open_fixture("gru.safetensors");
    if (!f) { CHECK(0); return 0; }
    const int In = META(f, "In"), H = META(f, "H"), L = META(f, "L"), T = META(f, "T"), B = META(f, "B");
    const size_t BH = (size_t)B * H;
    float *hs[2], *gi[2], *r[2], *z[2], *n[2], *g[2], *dgi[2], *dgh[2], *dW_ih[2], *dW_hh[2], *db_ih[2], *db_hh[2];
    const float *W_ih[2], *W_hh[2], *b_ih[2], *b_hh[2];
    float *gh = calloc(3 * BH, 4), *dx = calloc((size_t)T * B * In, 4), *dy = calloc(T * BH, 4), *dh = calloc(BH, 4);
    char nm[64];
    for (int l = 0; l < L; l++) {
        int in = l ? H : In;
        snprintf(nm, 64, "weight_ih_l%d", l); W_ih[l] = F32(f, nm);
        snprintf(nm, 64, "weight_hh_l%d", l); W_hh[l] = F32(f, nm);
        snprintf(nm, 64, "bias_ih_l%d", l); b_ih[l] = F32(f, nm);
        snprintf(nm, 64, "bias_hh_l%d", l); b_hh[l] = F32(f, nm);
        hs[l] = calloc((T + 1) * BH, 4); gi[l] = calloc(3 * T * BH, 4);
        r[l] = calloc(T * BH, 4); z[l] = calloc(T * BH, 4); n[l] = calloc(T * BH, 4); g[l] = calloc(T * BH, 4);
        dgi[l] = calloc(3 * T * BH, 4); dgh[l] = calloc(3 * T * BH, 4);
        dW_ih[l] = calloc((size_t)3 * H * in, 4); dW_hh[l] = calloc((size_t)3 * H * H, 4);
        db_ih[l] = calloc(3 * H, 4); db_hh[l] = calloc(3 * H, 4);
    }
    const float *x = F32(f, "x"), *h0 = F32(f, "h0");
    for (int l = 0; l < L; l++) {
        int in = l ? H : In;
        const float *xin = l ? hs[l - 1] + BH : x;
        s2s_linear_forward(g_opts.gemm, T * B, 3 * H, in, xin, in, W_ih[l], in, b_ih[l], 0.0f, gi[l], 3 * H);
        memcpy(hs[l], h0 + l * BH, BH * 4);
        for (int t = 0; t < T; t++)
            s2s_gru_cell_forward(g_opts.gemm, B, H, gi[l] + 3 * t * BH, hs[l] + t * BH, W_hh[l], b_hh[l], NULL, gh, hs[l] + (t + 1) * BH,
                                 r[l] + t * BH, z[l] + t * BH, n[l] + t * BH, g[l] + t * BH);
    }
    CHECK_ARRAY(hs[L - 1] + BH, F32(f, "y"), T * BH, RTOL, ATOL, "y");
    for (int l = 0; l < L; l++) CHECK_ARRAY(hs[l] + T * BH, F32(f, "hn") + l * BH, BH, RTOL, ATOL, "hn");
    memcpy(dy, F32(f, "dy"), T * BH * 4);
    float *grad_h0 = calloc(L * BH, 4);
    for (int l = L - 1; l >= 0; l--) {
        int in = l ? H : In;
        memcpy(dh, F32(f, "dhn") + l * BH, BH * 4);
        for (int t = T - 1; t >= 0; t--) {
            for (size_t i = 0; i < BH; i++) dh[i] += dy[t * BH + i];
            s2s_gru_cell_backward(g_opts.gemm, B, H, dh, hs[l] + t * BH, r[l] + t * BH, z[l] + t * BH, n[l] + t * BH, g[l] + t * BH,
                                  W_hh[l], dgi[l] + 3 * t * BH, dgh[l] + 3 * t * BH, dh);
        }
        memcpy(grad_h0 + l * BH, dh, BH * 4);
        const float *xin = l ? hs[l - 1] + BH : x;
        s2s_linear_wgrad(g_opts.gemm, T * B, 3 * H, H, dgh[l], 3 * H, hs[l], H, dW_hh[l], H, db_hh[l]);
        s2s_linear_wgrad(g_opts.gemm, T * B, 3 * H, in, dgi[l], 3 * H, xin, in, dW_ih[l], in, db_ih[l]);
        s2s_gemm(g_opts.gemm, 0, 0, T * B, in, 3 * H, 1.0f, dgi[l], 3 * H, W_ih[l], in, 0.0f, l ? dy : dx, in);
    }
    CHECK_ARRAY(dx, F32(f, "grad.x"), T * B * In, RTOL, ATOL, "grad.x");
    CHECK_ARRAY(grad_h0, F32(f, "grad.h0"), L * BH, RTOL, ATOL, "grad.h0");
    for (int l = 0; l < L; l++) {
        int in = l ? H : In;
        snprintf(nm, 64, "grad.weight_ih_l%d", l); CHECK_ARRAY(dW_ih[l], F32(f, nm), 3 * H * in, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.weight_hh_l%d", l); CHECK_ARRAY(dW_hh[l], F32(f, nm), 3 * H * H, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.bias_ih_l%d", l); CHECK_ARRAY(db_ih[l], F32(f, nm), 3 * H, RTOL, ATOL, nm);
        snprintf(nm, 64, "grad.bias_hh_l%d", l); CHECK_ARRAY(db_hh[l], F32(f, nm), 3 * H, RTOL, ATOL, nm);
        free(hs[l]); free(gi[l]); free(r[l]); free(z[l]); free(n[l]); free(g[l]); free(dgi[l]); free(dgh[l]);
        free(dW_ih[l]); free(dW_hh[l]); free(db_ih[l]); free(db_hh[l]);
    }
    free(gh); free(dx); free(dy); free(dh); free(grad_h0);
    s2s_st_free(f);
    return 0;
}

/* ---- additive attention with masking ------------------------------------------------------- */
static int test_attention_parity(void) {
    s2s_st_file *f = open_fixture("attention.safetensors");
    if (!f) { CHECK(0); return 0; }
    const int H = META(f, "H"), B = META(f, "B"), Tk = META(f, "Tk");
    const float *Wk = F32(f, "W_k.weight"), *Wq = F32(f, "W_q.weight"), *wv = F32(f, "w_v.weight");
    const float *q = F32(f, "queries"), *K = F32(f, "keys");
    const int32_t *valid = I32(f, "valid_lens");
    float *qp = calloc(B * H, 4), *KP = calloc(B * Tk * H, 4), *F = calloc(B * Tk * H, 4), *A = calloc(B * Tk, 4);
    float *ctx = calloc(B * H, 4), *dK = calloc(B * Tk * H, 4), *dKP = calloc(B * Tk * H, 4), *dqp = calloc(B * H, 4);
    float *dwv = calloc(H, 4), *dWk = calloc(H * H, 4), *dWq = calloc(H * H, 4), *dq = calloc(B * H, 4);
    s2s_linear_forward(g_opts.gemm, B, H, H, q, H, Wq, H, NULL, 0.0f, qp, H);
    s2s_linear_forward(g_opts.gemm, B * Tk, H, H, K, H, Wk, H, NULL, 0.0f, KP, H);
    s2s_attn_forward(B, Tk, H, qp, KP, K, NULL, valid, wv, NULL, F, A, ctx);
    CHECK_ARRAY(ctx, F32(f, "context"), B * H, RTOL, ATOL, "context");
    CHECK_ARRAY(A, F32(f, "attention_weights"), B * Tk, RTOL, ATOL, "attention_weights");
    float *dS = calloc(B * Tk, 4);
    s2s_attn_backward(B, Tk, H, F32(f, "dctx"), K, valid, wv, NULL, F, A, dS, dK, dKP, dqp, dwv);
    free(dS);
    s2s_gemm(g_opts.gemm, 0, 0, B * Tk, H, H, 1.0f, dKP, H, Wk, H, 1.0f, dK, H);
    s2s_linear_wgrad(g_opts.gemm, B * Tk, H, H, dKP, H, K, H, dWk, H, NULL);
    s2s_linear_wgrad(g_opts.gemm, B, H, H, dqp, H, q, H, dWq, H, NULL);
    s2s_gemm(g_opts.gemm, 0, 0, B, H, H, 1.0f, dqp, H, Wq, H, 0.0f, dq, H);
    CHECK_ARRAY(dq, F32(f, "grad.queries"), B * H, RTOL, ATOL, "grad.queries");
    CHECK_ARRAY(dK, F32(f, "grad.keys"), B * Tk * H, RTOL, ATOL, "grad.keys");
    CHECK_ARRAY(dWk, F32(f, "grad.W_k.weight"), H * H, RTOL, ATOL, "grad.W_k");
    CHECK_ARRAY(dWq, F32(f, "grad.W_q.weight"), H * H, RTOL, ATOL, "grad.W_q");
    CHECK_ARRAY(dwv, F32(f, "grad.w_v.weight"), H, RTOL, ATOL, "grad.w_v");
    free(qp); free(KP); free(F); free(A); free(ctx); free(dK); free(dKP); free(dqp); free(dwv); free(dWk); free(dWq); free(dq);
    s2s_st_free(f);
    return 0;
}

/* ---- masked softmax cross-entropy ----------------------------------------------------------- */
static int test_loss_parity(void) {
    s2s_st_file *f = open_fixture("loss.safetensors");
    if (!f) { CHECK(0); return 0; }
    const int B = META(f, "B"), T = META(f, "T"), V = META(f, "V");
    const float *lg = F32(f, "logits"), *glg = F32(f, "grad.logits");
    float *tm = calloc(T * B * V, 4), *d = calloc(T * B * V, 4), *dbm = calloc(T * B * V, 4), loss[16];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) memcpy(tm + ((size_t)t * B + b) * V, lg + ((size_t)b * T + t) * V, V * 4);
    s2s_masked_ce(T, T, B, V, tm, I32(f, "labels"), T, I32(f, "valid_len"), loss, d);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) memcpy(dbm + ((size_t)b * T + t) * V, d + ((size_t)t * B + b) * V, V * 4);
    CHECK_ARRAY(loss, F32(f, "loss"), B, RTOL, ATOL, "loss");
    CHECK_ARRAY(dbm, glg, B * T * V, RTOL, ATOL, "grad.logits");
    free(tm); free(d); free(dbm);
    s2s_st_free(f);
    return 0;
}

/* ---- the recipe's loss: label-smoothed cross-entropy, the batch's mean per token ------------- */
static int test_smoothed_loss_parity(void) {
    s2s_st_file *f = open_fixture("smoothed_loss.safetensors");
    if (!f) { CHECK(0); return 0; }
    const int N = META(f, "N"), V = META(f, "V");
    const float eps = (float)atof(s2s_st_meta(f, "eps"));
    float *d = calloc((size_t)N * V, 4), loss[16];
    s2s_smoothed_ce(N, V, F32(f, "logits"), I32(f, "labels"), eps, 1.0f / N, loss, d);
    for (int k = 0; k < N; k++) loss[k] *= N;  /* PyTorch's per-token losses, unweighted */
    CHECK_ARRAY(loss, F32(f, "loss"), N, RTOL, ATOL, "loss");
    CHECK_ARRAY(d, F32(f, "grad.logits"), N * V, RTOL, ATOL, "grad.logits");
    free(d);
    s2s_st_free(f);
    return 0;
}

/* ---- the whole encoder-decoder ------------------------------------------------------------ */
static int model_parity(const char *fixture, s2s_attention kind) {
    s2s_st_file *f = open_fixture(fixture);
    if (!f) { CHECK(0); return 0; }
    const int B = META(f, "B"), T = META(f, "T"), H = META(f, "H"), L = META(f, "L"), Vt = META(f, "Vt");
    s2s_config cfg = {kind, META(f, "Vs"), Vt, META(f, "E"), H, L, 0.0f, T, S2S_GRU, S2S_UNI, 0, 0};
    s2s_model *m; s2s_ws *ws; s2s_err err;
    if (s2s_model_create(&cfg, &m, &err) || s2s_ws_create_opts(m, B, T, &g_opts, &ws, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor *t = s2s_st_find(f, m->tensors[i].name);
        CHECK_MSG(t && t->nbytes == m->tensors[i].size * 4, "fixture tensor %s missing or misshapen", m->tensors[i].name);
        if (t) memcpy(m->params + m->tensors[i].offset, t->data, t->nbytes);
    }
    s2s_batch bt = {B, T, I32(f, "in.X"), I32(f, "in.X_valid_len"), I32(f, "in.dec_input"), I32(f, "in.Y"), I32(f, "in.Y_valid_len"), 0, 0, 0};
    float loss[64];
    s2s_model_zero_grad(m);
    double total = s2s_forward(m, ws, &bt, 0, 1, NULL, loss);
    CHECK_ARRAY(loss, F32(f, "out.loss"), B, RTOL, ATOL, "out.loss");
    const float *ref_logits = F32(f, "out.logits"), *lg = s2s_ws_logits(ws);
    float *bm = calloc((size_t)B * T * Vt, 4);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) memcpy(bm + ((size_t)b * T + t) * Vt, lg + ((size_t)t * B + b) * Vt, Vt * 4);
    CHECK_ARRAY(bm, ref_logits, B * T * Vt, RTOL, ATOL, "out.logits");
    CHECK_ARRAY(s2s_ws_enc_outputs(ws), F32(f, "out.enc_outputs"), T * B * H, RTOL, ATOL, "out.enc_outputs");
    for (int l = 0; l < L; l++) {
        const float *h;
        s2s_ws_enc_state(ws, l, &h);
        CHECK_ARRAY(h, F32(f, "out.enc_state") + (size_t)l * B * H, B * H, RTOL, ATOL, "out.enc_state");
    }
    if (kind == S2S_BAHDANAU) CHECK_ARRAY(s2s_ws_attention(ws), F32(f, "out.attention_weights"), T * B * T, RTOL, ATOL, "attention");
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
static int test_attn_model_parity(void) { return model_parity("attn_batch.safetensors", S2S_BAHDANAU); }
static int test_plain_model_parity(void) { return model_parity("plain_batch.safetensors", S2S_NO_ATTENTION); }

int main(void) {
    static const char *names[] = {"our kernel's", "BLAS", "reference", "reference, per-position input"};
    for (int pass = 0; pass < 4; pass++) {  /* our kernel, BLAS, the reference loop; then without token tables */
        if (pass == 0 && s2s_gemm_resolve(S2S_GEMM_OWN) < 0) continue;  /* not in this build */
        g_opts.gemm = pass == 0 ? S2S_GEMM_OWN : pass == 1 ? S2S_GEMM_BLAS : S2S_GEMM_REF;
        g_opts.token_tables = pass < 3;
        printf("  (%s products)\n", names[pass]);
        RUN(test_gru_parity);
        RUN(test_attention_parity);
        RUN(test_loss_parity);
        RUN(test_smoothed_loss_parity);
        RUN(test_attn_model_parity);
        RUN(test_plain_model_parity);
    }
    TEST_END();
}
