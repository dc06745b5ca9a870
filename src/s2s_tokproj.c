/* Token tables: the first layer's input projection of a batch, through its distinct tokens.
 *
 * The encoder's layer 0 reads x = emb[token] (and the decoder's layer 0 reads emb[token] in
 * its embedding columns), so x W^T + b takes one of at most V values. A batch has far fewer
 * distinct tokens than positions (d2l's: 640 source positions, under 140 distinct; padding and
 * <eos> repeat), so each distinct token is projected once, P = X_u W^T + b with X_u the
 * distinct tokens' embeddings, and the positions copy their row of P. The backward pass is
 * the same sums grouped by token: dP[u] = Σ dgi over u's positions, then dW += dP^T X_u,
 * db += Σ_u dP[u], demb[u] += dP[u] W. The per-position products (a workspace created with
 * s2s_ws_opts.token_tables = 0) are the reference the tests compare with. */
#include <string.h>

#include "s2s_linalg.h"
#include "s2s_nn.h"
#include "s2s_ws.h"

void s2s_tab_build(s2s_ws *ws, s2s_tok_table *tb, const int32_t *ids, int B, int T, int steps, const int *rows) {
    int n = 0;
    for (int t = 0; t < steps; t++) {
        const int nb = rows ? rows[t] : B;
        for (int b = 0; b < nb; b++) {
            const int32_t id = ids[(size_t)b * T + t];
            if (!ws->seen[id]) { tb->uniq[n] = id; ws->seen[id] = ++n; }
            tb->slot[(size_t)t * B + b] = ws->seen[id] - 1;
        }
    }
    for (int i = 0; i < n; i++) ws->seen[tb->uniq[i]] = 0;  /* the map is all zeros between uses */
    tb->n = n;
}

void s2s_tab_full(s2s_tok_table *tb, int V) {
    for (int v = 0; v < V; v++) tb->uniq[v] = v;
    tb->n = V;
}

void s2s_tab_project(s2s_tok_table *tb, const float *emb, int E, int N, const float *W, int ldw, const float *b) {
    s2s_rows_take(tb->X, emb, E, tb->uniq, tb->n);
    s2s_linear_forward(tb->gemm, tb->n, N, E, tb->X, E, W, ldw, b, 0.0f, tb->P, N);
}

void s2s_tab_gather(const s2s_tok_table *tb, int N, float *gi, int B, int steps, const int *rows) {
    for (int t = 0; t < steps; t++)  /* step t's rows still going: a prefix of B */
        s2s_rows_take(gi + (size_t)t * B * N, tb->P, N, tb->slot + (size_t)t * B, rows ? rows[t] : B);
}

void s2s_tab_backward(s2s_tok_table *tb, int E, int N, const float *dgi, int B, int steps, const int *rows,
                      const float *W, int ldw, float *dW, float *db, float *demb) {
    const int n = tb->n;
    s2s_zero(tb->dP, (size_t)n * N);
    for (int t = 0; t < steps; t++)
        s2s_rows_put_add(tb->dP, dgi + (size_t)t * B * N, N, tb->slot + (size_t)t * B, rows ? rows[t] : B);
    s2s_linear_wgrad(tb->gemm, n, N, E, tb->dP, N, tb->X, E, dW, ldw, db);
    s2s_gemm(tb->gemm, 0, 0, n, E, N, 1.0f, tb->dP, N, W, ldw, 0.0f, tb->dX, E);
    s2s_rows_put_add(demb, tb->dX, E, tb->uniq, n);
}
