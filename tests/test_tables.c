/* Token tables (s2s_tokproj.c) against the per-position products: the same losses, gradients
 * and translations, on batches sorted by target length (the trainer's order, where the
 * decoder's later steps run only a prefix of the rows) with repeated tokens and padding. */
#include <stdlib.h>

#include "harness.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_rng.h"

enum { B = 12, T = 6, VS = 9, VT = 11 };

typedef struct { int32_t src[B * T], srcl[B], dec[B * T], tgt[B * T], tgtl[B]; } toy;

/* Random sentences over the toy vocabularies (ids 4.. are words; 1 pad, 2 <bos>, 3 <eos>),
 * rows sorted by target length, longest first. */
static void make_toy(toy *d, s2s_rng *r) {
    for (int b = 0; b < B; b++) {
        d->tgtl[b] = T - b / 3;  /* 6,6,6,5,5,5,4,... */
        d->srcl[b] = 1 + (int)s2s_rng_below(r, T);
        for (int t = 0; t < T; t++) {
            d->src[b * T + t] = t < d->srcl[b] - 1 ? 4 + (int)s2s_rng_below(r, VS - 4) : t == d->srcl[b] - 1 ? 3 : 1;
            d->tgt[b * T + t] = t < d->tgtl[b] - 1 ? 4 + (int)s2s_rng_below(r, VT - 4) : t == d->tgtl[b] - 1 ? 3 : 1;
        }
        d->dec[b * T] = 2;
        for (int t = 1; t < T; t++) d->dec[b * T + t] = d->tgt[b * T + t - 1];
    }
}

/* A small model of the kind, initialised from seed, its two workspaces for the toy batch
 * (ws[0] per position, ws[1] with token tables), and the batch (drawn after the weights); 0
 * when creating them failed (reported). */
static s2s_gemm_kind g_gemm;  /* the workspaces' products */

static int setup(s2s_attention kind, float dropout, uint64_t seed, s2s_model **m, s2s_ws **ws, toy *d) {
    s2s_config cfg = {kind, VS, VT, 5, 7, 2, dropout, T, S2S_GRU, S2S_UNI, 0, 0};
    s2s_err err;
    if (s2s_model_create(&cfg, m, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    for (int on = 0; on < 2; on++) {
        s2s_ws_opts o = {.token_tables = on, .gemm = g_gemm};
        if (s2s_ws_create_opts(*m, B, T, &o, &ws[on], &err)) {
            CHECK_MSG(0, "%s", err.msg);
            if (on) s2s_ws_free(ws[0]);
            s2s_model_free(*m);
            return 0;
        }
    }
    s2s_rng r; s2s_rng_seed(&r, seed);
    s2s_model_init(*m, &r);
    make_toy(d, &r);
    return 1;
}

/* Loss and every gradient of one training pass, with tables on and off. */
static int pass_case(s2s_attention kind, float dropout) {
    s2s_model *m; s2s_ws *ws[2];
    toy d;
    if (!setup(kind, dropout, 11, &m, ws, &d)) return 0;
    s2s_batch bt = {B, T, d.src, d.srcl, d.dec, d.tgt, d.tgtl, 0, 0, 0};
    float *g[2];
    double loss[2];
    for (int on = 0; on < 2; on++) {
        s2s_rng dr; s2s_rng_seed(&dr, 5);  /* the same dropout masks */
        s2s_model_zero_grad(m);
        loss[on] = s2s_forward(m, ws[on], &bt, dropout > 0, 0, &dr, NULL);
        s2s_backward(m, ws[on], &bt);
        g[on] = malloc(sizeof(float) * m->n_params);
        memcpy(g[on], m->grads, sizeof(float) * m->n_params);
    }
    CHECK_NEAR(loss[1], loss[0], 1e-6, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const s2s_tensor_info *t = &m->tensors[i];
        CHECK_ARRAY(g[1] + t->offset, g[0] + t->offset, (long)t->size, 1e-5, 1e-7, t->name);
    }
    free(g[0]); free(g[1]);
    s2s_ws_free(ws[0]); s2s_ws_free(ws[1]); s2s_model_free(m);
    return 0;
}
static int test_tables_attn(void) { return pass_case(S2S_BAHDANAU, 0.0f); }
static int test_tables_plain(void) { return pass_case(S2S_NO_ATTENTION, 0.0f); }
static int test_tables_attn_dropout(void) { return pass_case(S2S_BAHDANAU, 0.3f); }

/* Greedy translation of a batch with more sentences than target words (the decoder's whole
 * vocabulary table) and of a single sentence: the same tokens with tables on and off. */
static int test_tables_greedy(void) {
    for (int kind = 0; kind < 2; kind++) {
        s2s_model *m; s2s_ws *ws[2]; s2s_err err;
        toy d;
        if (!setup(kind ? S2S_NO_ATTENTION : S2S_BAHDANAU, 0.0f, 3, &m, ws, &d)) return 0;
        for (int rows = 1; rows <= B; rows += B - 1) {
            int32_t out[2][B * T];
            int len[2][B];
            float att[2][B * T * T];
            for (int on = 0; on < 2; on++)
                CHECK(s2s_greedy(m, ws[on], rows, d.src, d.srcl, T, out[on], len[on], att[on], &err) == 0);
            for (int b = 0; b < rows; b++) {
                CHECK(len[0][b] == len[1][b]);
                for (int k = 0; k < len[0][b] && k < len[1][b]; k++) CHECK(out[0][b * T + k] == out[1][b * T + k]);
            }
            CHECK_ARRAY(att[1], att[0], (long)rows * T * T, 1e-5, 1e-7, "attention");
        }
        s2s_ws_free(ws[0]); s2s_ws_free(ws[1]); s2s_model_free(m);
    }
    return 0;
}

int main(void) {
    g_gemm = S2S_GEMM_REF;
    RUN(test_tables_attn);
    RUN(test_tables_plain);
    RUN(test_tables_attn_dropout);
    RUN(test_tables_greedy);
    g_gemm = S2S_GEMM_DEFAULT;
    printf("  (fast products)\n");
    RUN(test_tables_attn);
    RUN(test_tables_greedy);
    TEST_END();
}
