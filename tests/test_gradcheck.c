/* Finite-difference gradient checks: every layer kernel and the whole model (both kinds,
 * with and without dropout), central differences on tiny shapes. Products run through the
 * double-accumulating reference gemm so the differences are not drowned in rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_nn.h"
#include "s2s_rng.h"

static void randn(float *x, int n, s2s_rng *r, float s) { for (int i = 0; i < n; i++) x[i] = s * s2s_rng_normal(r); }
static double dot(const float *a, const float *b, int n) { double s = 0; for (int i = 0; i < n; i++) s += (double)a[i] * b[i]; return s; }

/* Compares an analytic gradient with central differences of f at every coordinate of x. */
typedef double (*fd_fn)(void *ctx);
static double fd_atol = 1e-3;
static int fd_check(const char *what, float *x, const float *grad, int n, fd_fn f, void *ctx, double eps) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + (float)eps; double fp = f(ctx);
        x[i] = keep - (float)eps; double fm = f(ctx);
        x[i] = keep;
        double num = (fp - fm) / (2 * eps);
        if (!(fabs(num - grad[i]) <= fd_atol + 1e-2 * fabs(num))) {
            if (bad++ < 3) fprintf(stderr, "  %s[%d]: analytic %.6g vs numeric %.6g\n", what, i, grad[i], num);
        }
    }
    return bad;
}

/* ---- GRU cell -------------------------------------------------------------------------- */
enum { CB = 3, CH = 4 };
typedef struct { float gi[CB * 3 * CH], hp[CB * CH], W[3 * CH * CH], b[3 * CH], up[CB * CH]; } cell_ctx;
static double cell_loss(void *p) {
    cell_ctx *c = p; float gh[CB * 3 * CH], h[CB * CH], r[CB * CH], z[CB * CH], n[CB * CH], g[CB * CH];
    s2s_gru_cell_forward(S2S_GEMM_REF, CB, CH, c->gi, c->hp, c->W, c->b, NULL, gh, h, r, z, n, g);
    return dot(h, c->up, CB * CH);
}
static int test_gru_cell_grad(void) {
    s2s_rng r; s2s_rng_seed(&r, 1);
    cell_ctx c;
    randn(c.gi, CB * 3 * CH, &r, 1); randn(c.hp, CB * CH, &r, 1); randn(c.W, 3 * CH * CH, &r, 0.5f);
    randn(c.b, 3 * CH, &r, 0.5f); randn(c.up, CB * CH, &r, 1);
    float gh[CB * 3 * CH], h[CB * CH], rr[CB * CH], z[CB * CH], n[CB * CH], g[CB * CH];
    float dgi[CB * 3 * CH], dgh[CB * 3 * CH], dhp[CB * CH], dW[3 * CH * CH] = {0}, db[3 * CH] = {0};
    s2s_gru_cell_forward(S2S_GEMM_REF, CB, CH, c.gi, c.hp, c.W, c.b, NULL, gh, h, rr, z, n, g);
    s2s_gru_cell_backward(S2S_GEMM_REF, CB, CH, c.up, c.hp, rr, z, n, g, c.W, dgi, dgh, dhp);
    s2s_linear_wgrad(S2S_GEMM_REF, CB, 3 * CH, CH, dgh, 3 * CH, c.hp, CH, dW, CH, db);
    CHECK(fd_check("dgi", c.gi, dgi, CB * 3 * CH, cell_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dh_prev", c.hp, dhp, CB * CH, cell_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dW_hh", c.W, dW, 3 * CH * CH, cell_loss, &c, 1e-2) == 0);
    CHECK(fd_check("db_hh", c.b, db, 3 * CH, cell_loss, &c, 1e-2) == 0);
    return 0;
}

/* ---- additive attention ------------------------------------------------------------------ */
enum { AB = 3, AT = 5, AH = 4 };
typedef struct { float qp[AB * AH], KP[AB * AT * AH], K[AB * AT * AH], wv[AH], drop[AB * AT], up[AB * AH]; int32_t valid[AB]; int use_drop; } att_ctx;
static double att_loss(void *p) {
    att_ctx *c = p; float F[AB * AT * AH], A[AB * AT], ctx[AB * AH];
    s2s_attn_forward(AB, AT, AH, c->qp, c->KP, c->K, NULL, c->valid, c->wv, c->use_drop ? c->drop : NULL, F, A, ctx);
    return dot(ctx, c->up, AB * AH);
}
static int attn_case(int use_drop) {
    s2s_rng r; s2s_rng_seed(&r, 2);
    att_ctx c;
    randn(c.qp, AB * AH, &r, 1); randn(c.KP, AB * AT * AH, &r, 1); randn(c.K, AB * AT * AH, &r, 1);
    randn(c.wv, AH, &r, 1); randn(c.up, AB * AH, &r, 1);
    for (int i = 0; i < AB * AT; i++) c.drop[i] = s2s_rng_uniform(&r) < 0.3f ? 0.0f : 1.0f / 0.7f;
    c.valid[0] = 5; c.valid[1] = 2; c.valid[2] = 3; c.use_drop = use_drop;
    float F[AB * AT * AH], A[AB * AT], ctx[AB * AH], dK[AB * AT * AH] = {0}, dKP[AB * AT * AH] = {0}, dqp[AB * AH], dwv[AH] = {0};
    float dS[AB * AT];
    s2s_attn_forward(AB, AT, AH, c.qp, c.KP, c.K, NULL, c.valid, c.wv, use_drop ? c.drop : NULL, F, A, ctx);
    for (int b = 0; b < AB; b++) {  /* weights sum to one, masked keys get none */
        double s = 0;
        for (int j = 0; j < AT; j++) { s += A[b * AT + j]; if (j >= c.valid[b]) CHECK(A[b * AT + j] == 0.0f); }
        CHECK_NEAR(s, 1.0, 1e-6, 1e-6);
    }
    s2s_attn_backward(AB, AT, AH, c.up, c.K, c.valid, c.wv, use_drop ? c.drop : NULL, F, A, dS, dK, dKP, dqp, dwv);
    CHECK(fd_check("dqp", c.qp, dqp, AB * AH, att_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dKP", c.KP, dKP, AB * AT * AH, att_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dK(values)", c.K, dK, AB * AT * AH, att_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dw_v", c.wv, dwv, AH, att_loss, &c, 1e-2) == 0);
    return 0;
}
static int test_attention_grad(void) { return attn_case(0); }
static int test_attention_dropout_grad(void) { return attn_case(1); }

/* ---- dot-product attention (Luong's steps: scores, masked softmax, context) ------------------
 * loss = up . ctx with S = dot_scores(q, KP), A = masked_softmax(S), ctx = context(A ⊙ drop, K);
 * the backward kernels in the order the decoder runs them. */
typedef struct { float q[AB * AH], KP[AB * AT * AH], K[AB * AT * AH], drop[AB * AT], up[AB * AH]; int32_t valid[AB]; int use_drop; } dot_ctx;
static void dot_forward(const dot_ctx *c, float *A, float *ctx) {
    s2s_dot_scores(AB, AT, AH, c->q, c->KP, NULL, c->valid, A);
    s2s_masked_softmax(AB, AT, c->valid, A);
    s2s_attn_context(AB, AT, AH, A, c->use_drop ? c->drop : NULL, c->K, NULL, ctx);
}
static double dot_loss(void *p) {
    dot_ctx *c = p; float A[AB * AT], ctx[AB * AH];
    dot_forward(c, A, ctx);
    return dot(ctx, c->up, AB * AH);
}
static int dot_attn_case(int use_drop) {
    s2s_rng r; s2s_rng_seed(&r, 3);
    dot_ctx c;
    randn(c.q, AB * AH, &r, 1); randn(c.KP, AB * AT * AH, &r, 1); randn(c.K, AB * AT * AH, &r, 1);
    randn(c.up, AB * AH, &r, 1);
    for (int i = 0; i < AB * AT; i++) c.drop[i] = s2s_rng_uniform(&r) < 0.3f ? 0.0f : 1.0f / 0.7f;
    c.valid[0] = 5; c.valid[1] = 2; c.valid[2] = 3; c.use_drop = use_drop;
    float A[AB * AT], ctx[AB * AH], dA[AB * AT], dK[AB * AT * AH] = {0}, dKP[AB * AT * AH] = {0}, dq[AB * AH] = {0};
    dot_forward(&c, A, ctx);
    for (int b = 0; b < AB; b++) {  /* weights sum to one, masked keys get none */
        double s = 0;
        for (int j = 0; j < AT; j++) { s += A[b * AT + j]; if (j >= c.valid[b]) CHECK(A[b * AT + j] == 0.0f); }
        CHECK_NEAR(s, 1.0, 1e-6, 1e-6);
    }
    s2s_attn_context_backward(AB, AT, AH, c.up, A, use_drop ? c.drop : NULL, c.K, dK, dA);
    s2s_masked_softmax_backward(AB, AT, c.valid, A, dA, dA);
    s2s_dot_scores_backward(AB, AT, AH, dA, c.q, c.KP, c.valid, dq, dKP);
    CHECK(fd_check("dq", c.q, dq, AB * AH, dot_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dKP", c.KP, dKP, AB * AT * AH, dot_loss, &c, 1e-2) == 0);
    CHECK(fd_check("dK(values)", c.K, dK, AB * AT * AH, dot_loss, &c, 1e-2) == 0);
    return 0;
}
static int test_dot_attention_grad(void) { return dot_attn_case(0); }
static int test_dot_attention_dropout_grad(void) { return dot_attn_case(1); }

/* The fast scores and softmax against their plain references (double sums, exp in double), over
 * odd widths (lanes_dot's tail), masked keys and rows read through kv_row. */
static int test_dot_attention_reference(void) {
    enum { B = 4, T = 7, H = 37 };
    s2s_rng r; s2s_rng_seed(&r, 4);
    static float q[B * H], KP[B * T * H], S[B * T], R[B * T];
    randn(q, B * H, &r, 1); randn(KP, B * T * H, &r, 0.3f);
    const int32_t valid[B] = {7, 1, 4, 6}, kv_row[B] = {2, 2, 0, 3};
    for (int i = 0; i < B * T; i++) S[i] = R[i] = 123.0f;  /* masked entries are left alone */
    s2s_dot_scores(B, T, H, q, KP, kv_row, valid, S);
    s2s_dot_scores_ref(B, T, H, q, KP, kv_row, valid, R);
    CHECK_ARRAY(S, R, B * T, 1e-5, 1e-5, "dot scores");
    for (int b = 0; b < B; b++)
        for (int j = valid[b]; j < T; j++) CHECK(S[b * T + j] == 123.0f);
    s2s_masked_softmax(B, T, valid, S);
    s2s_masked_softmax_ref(B, T, valid, R);
    CHECK_ARRAY(S, R, B * T, 1e-6, 1e-7, "masked softmax");
    for (int b = 0; b < B; b++)
        for (int j = valid[b]; j < T; j++) CHECK(S[b * T + j] == 0.0f && R[b * T + j] == 0.0f);
    return 0;
}

/* ---- raw memory kernels: the index kernels against their adjoints, and direct checks --------- */
static int test_row_kernels(void) {
    enum { N = 6, D = 5, R = 9 };
    s2s_rng r; s2s_rng_seed(&r, 5);
    float x[R * D], y[N * D], tx[N * D], py[R * D] = {0};
    randn(x, R * D, &r, 1); randn(y, N * D, &r, 1);
    const int32_t idx[N] = {3, 0, 3, 8, 1, 3};  /* repeats: put_add sums them */
    s2s_rows_take(tx, x, D, idx, N);
    s2s_rows_put_add(py, y, D, idx, N);
    CHECK_NEAR(dot(tx, y, N * D), dot(x, py, R * D), 1e-5, 1e-5);  /* <take x, y> = <x, put_add y> */
    for (int k = 0; k < N; k++) CHECK(!memcmp(tx + k * D, x + idx[k] * D, sizeof(float) * D));
    int32_t ids[N] = {10, 11, 12, 13, 14, 15};
    const int from[N] = {5, 5, 0, 2, 1, 4};
    s2s_ids_permute(ids, N, from);
    for (int k = 0; k < N; k++) CHECK(ids[k] == 10 + from[k]);
    float b[N * D], row[D];
    randn(row, D, &r, 1);
    s2s_rows_broadcast(b, row, N, D);
    for (int k = 0; k < N; k++) CHECK(!memcmp(b + k * D, row, sizeof row));
    float lp[N * D];
    memcpy(lp, y, sizeof lp);
    s2s_log_softmax_rows(N, D, lp);
    for (int k = 0; k < N; k++) {
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < D; v++) mx = fmax(mx, y[k * D + v]);
        for (int v = 0; v < D; v++) z += exp(y[k * D + v] - mx);
        for (int v = 0; v < D; v++) CHECK_NEAR(lp[k * D + v], y[k * D + v] - mx - log(z), 1e-6, 1e-6);
    }
    return 0;
}

/* ---- masked cross-entropy ----------------------------------------------------------------- */
enum { LB = 3, LT = 4, LV = 6 };
typedef struct { float logits[LT * LB * LV]; int32_t y[LB * LT], len[LB]; } ce_ctx;
static double ce_loss(void *p) {
    ce_ctx *c = p; float loss[LB];
    return s2s_masked_ce(LT, LT, LB, LV, c->logits, c->y, LT, c->len, loss, NULL);
}
static int test_masked_ce_grad(void) {
    s2s_rng r; s2s_rng_seed(&r, 3);
    ce_ctx c;
    randn(c.logits, LT * LB * LV, &r, 2);
    for (int i = 0; i < LB * LT; i++) c.y[i] = (int32_t)s2s_rng_below(&r, LV);
    c.len[0] = 4; c.len[1] = 0; c.len[2] = 2;
    float loss[LB], d[LT * LB * LV];
    s2s_masked_ce(LT, LT, LB, LV, c.logits, c.y, LT, c.len, loss, d);
    CHECK(loss[1] == 0.0f);
    CHECK(fd_check("dlogits", c.logits, d, LT * LB * LV, ce_loss, &c, 1e-2) == 0);
    return 0;
}

/* ---- label-smoothed cross-entropy ----------------------------------------------------------- */
enum { SN = 5, SV = 7 };
typedef struct { float logits[SN * SV]; int32_t y[SN]; float eps, w; } sce_ctx;
static double sce_loss(void *p) {
    sce_ctx *c = p; float loss[SN];
    return s2s_smoothed_ce(SN, SV, c->logits, c->y, c->eps, c->w, loss, NULL);
}
/* The plain formula in double: w Σ_c -q_c log softmax(x)_c with q = (1-eps) onehot + eps/V. */
static double sce_ref(const float *x, int y, float eps, float w) {
    double mx = x[0], s = 0, l = 0;
    for (int v = 1; v < SV; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < SV; v++) s += exp((double)x[v] - mx);
    for (int v = 0; v < SV; v++) l -= ((v == y ? 1.0 - eps : 0.0) + (double)eps / SV) * ((double)x[v] - mx - log(s));
    return w * l;
}
static int smoothed_case(float eps, float w) {
    s2s_rng r; s2s_rng_seed(&r, 4);
    sce_ctx c;
    randn(c.logits, SN * SV, &r, 2);
    for (int i = 0; i < SN; i++) c.y[i] = (int32_t)s2s_rng_below(&r, SV);
    c.eps = eps; c.w = w;
    float loss[SN], d[SN * SV];
    double total = s2s_smoothed_ce(SN, SV, c.logits, c.y, eps, w, loss, d), sum = 0;
    for (int i = 0; i < SN; i++) {
        CHECK_NEAR(loss[i], sce_ref(c.logits + i * SV, c.y[i], eps, w), 1e-5, 1e-6);
        sum += loss[i];
    }
    CHECK_NEAR(total, sum, 1e-6, 1e-7);
    CHECK(fd_check("dlogits", c.logits, d, SN * SV, sce_loss, &c, 1e-2) == 0);
    /* eps 0, weight 1/T is d2l's masked cross-entropy of one step */
    if (eps == 0.0f) {
        float l2[SN], d2[SN * SV];
        int32_t one[SN];
        for (int i = 0; i < SN; i++) one[i] = 1;
        s2s_smoothed_ce(SN, SV, c.logits, c.y, 0.0f, 1.0f, loss, d);
        s2s_masked_ce(1, 1, SN, SV, c.logits, c.y, 1, one, l2, d2);
        CHECK_ARRAY(loss, l2, SN, 1e-6, 1e-7, "loss vs masked_ce");
        CHECK_ARRAY(d, d2, SN * SV, 1e-6, 1e-7, "grad vs masked_ce");
    }
    return 0;
}
static int test_smoothed_ce_grad(void) { return smoothed_case(0.1f, 1.0f); }
static int test_smoothed_ce_weight_grad(void) { return smoothed_case(0.3f, 0.25f); }
static int test_smoothed_ce_plain(void) { return smoothed_case(0.0f, 1.0f); }

/* ---- whole model ---------------------------------------------------------------------------- */
typedef struct { s2s_model *m; s2s_ws *ws; s2s_batch bt; int train; } model_ctx;
/* the workspaces' options: token tables on or off; the products (the reference loop, then the fast ones) */
static s2s_ws_opts g_opts = {.token_tables = 1, .gemm = S2S_GEMM_REF};
static float g_smoothing, g_weight;  /* the batches' loss: d2l's (0, 0) or label-smoothed per token */
static double model_loss(void *p) {
    model_ctx *c = p; s2s_rng r; s2s_rng_seed(&r, 99);  /* same dropout masks every time */
    return s2s_forward(c->m, c->ws, &c->bt, c->train, 0, &r, NULL);
}
static int model_case(s2s_attention kind, float dropout, int layers) {
    enum { B = 6, T = 5 };  /* more than 4 rows: the steps' products use transposed weights */
    s2s_config cfg = {kind, 9, 11, 3, 4, layers, dropout, T, S2S_GRU, S2S_UNI, 0, 0};
    s2s_model *m; s2s_ws *ws; s2s_err err;
    if (s2s_model_create(&cfg, &m, &err) || s2s_ws_create_opts(m, B, T, &g_opts, &ws, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_rng r; s2s_rng_seed(&r, 7);
    s2s_model_init(m, &r);
    static const int32_t src[B * T] = {4, 5, 6, 7, 3,  8, 3, 1, 1, 1,  5, 5, 3, 1, 1,  3, 1, 1, 1, 1,
                                       6, 3, 1, 1, 1,  7, 8, 4, 3, 1};
    static const int32_t srcl[B] = {5, 2, 3, 1, 2, 4};
    static const int32_t tgt[B * T] = {4, 5, 3, 1, 1,  6, 7, 8, 9, 10, 10, 3, 1, 1, 1,  4, 3, 1, 1, 1,
                                       5, 6, 3, 1, 1,  3, 1, 1, 1, 1};
    static const int32_t tgtl[B] = {3, 5, 2, 2, 3, 1};
    int32_t dec[B * T];
    for (int b = 0; b < B; b++) { dec[b * T] = 2; for (int t = 1; t < T; t++) dec[b * T + t] = tgt[b * T + t - 1]; }
    fd_atol = 2e-4;
    model_ctx c = {m, ws, {B, T, src, srcl, dec, tgt, tgtl, g_smoothing, g_weight, 0}, dropout > 0};
    s2s_model_zero_grad(m);
    model_loss(&c);
    s2s_backward(m, ws, &c.bt);
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        int n = (int)t->size, bad = 0;
        /* every coordinate for small tensors, a spread of them for embeddings and dense */
        int stride = n > 40 ? n / 40 : 1;
        for (int k = 0; k < n; k += stride)
            bad += fd_check(t->name, m->params + t->offset + k, m->grads + t->offset + k, 1, model_loss, &c, 1e-2);
        CHECK_MSG(bad == 0, "%s: %d coordinates disagree (kind %s, dropout %g)", t->name, bad, s2s_attention_name(kind), dropout);
    }
    s2s_ws_free(ws); s2s_model_free(m);
    return 0;
}
static int test_model_attn_grad(void) { return model_case(S2S_BAHDANAU, 0.0f, 2); }
static int test_model_plain_grad(void) { return model_case(S2S_NO_ATTENTION, 0.0f, 2); }
static int test_model_attn_dropout_grad(void) { return model_case(S2S_BAHDANAU, 0.3f, 2); }
static int test_model_plain_dropout_grad(void) { return model_case(S2S_NO_ATTENTION, 0.3f, 3); }
static int test_model_attn_one_layer_grad(void) { return model_case(S2S_BAHDANAU, 0.0f, 1); }
/* the recipe's loss: label smoothing, each target token weighted 1/16 (the batch's 16 tokens) */
static int test_model_smoothed_grad(void) {
    g_smoothing = 0.1f; g_weight = 1.0f / 16;
    int rc = model_case(S2S_BAHDANAU, 0.3f, 2);
    g_smoothing = g_weight = 0.0f;
    return rc;
}

int main(void) {
    RUN(test_gru_cell_grad);
    RUN(test_attention_grad);
    RUN(test_attention_dropout_grad);
    RUN(test_dot_attention_grad);
    RUN(test_dot_attention_dropout_grad);
    RUN(test_dot_attention_reference);
    RUN(test_row_kernels);
    RUN(test_masked_ce_grad);
    RUN(test_smoothed_ce_grad);
    RUN(test_smoothed_ce_weight_grad);
    RUN(test_smoothed_ce_plain);
    RUN(test_model_attn_grad);
    RUN(test_model_plain_grad);
    RUN(test_model_attn_dropout_grad);
    RUN(test_model_plain_dropout_grad);
    RUN(test_model_attn_one_layer_grad);
    RUN(test_model_smoothed_grad);
    g_opts.token_tables = 0;  /* the per-position input projections */
    printf("  (per-position input projections)\n");
    RUN(test_model_attn_grad);
    RUN(test_model_plain_grad);
    g_opts.token_tables = 1;
    /* the whole model again with the fast products (our kernel, else BLAS) in float */
    g_opts.gemm = S2S_GEMM_DEFAULT;
    printf("  (fast products)\n");
    RUN(test_model_attn_grad);
    RUN(test_model_plain_dropout_grad);
    TEST_END();
}
