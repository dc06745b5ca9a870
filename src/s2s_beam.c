/* Beam search (see s2s_beam.h for the scoring, the tie rules and the stopping bound). The
 * core keeps, per step and row, the token chosen and its parent slot; hypotheses are read back
 * along these pointers at the end, so reordering costs nothing but the decoder state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_beam.h"
#include "s2s_math.h"
#include "s2s_nn.h"
#include "s2s_text.h"
#include "s2s_ws.h"

void s2s_beam_opts_default(s2s_beam_opts *o) {
    o->beam = 4; o->alpha = 1.0f; o->max_len = 10; o->max_len_ratio = 0.0f; o->nbest = 1; o->want_attn = 0;
}

void s2s_beam_result_free(s2s_beam_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_hyps; i++) { free(r->hyps[i].tokens); free(r->hyps[i].attn); }
    free(r->hyps);  /* r->attn is hyps[0].attn */
    memset(r, 0, sizeof *r);
}

/* ---- the search core --------------------------------------------------------------------- */

typedef struct cand {
    double sc;  /* parent's raw sum + lp */
    float lp;
    int slot, tok;
} cand;

/* The tie rules of s2s_beam.h: score, then lower slot, then (same slot) larger lp, lower id. */
static int better(const cand *a, const cand *b) {
    if (a->sc != b->sc) return a->sc > b->sc;
    if (a->slot != b->slot) return a->slot < b->slot;
    if (a->lp != b->lp) return a->lp > b->lp;
    return a->tok < b->tok;
}

typedef struct fin {
    double sum, score;
    int end_step, end_slot; /* last non-<eos> token: live slot after step end_step (-1: none) */
    int ended;              /* 1: followed by <eos> at step end_step + 1 */
} fin;

/* A float at most d by a margin: a log-probability x below it cannot give a score
 * parent + (double)x >= the K-th held one when d = that score - parent (the margin, 1e-5
 * relative + 1e-4, is far above the rounding of d to float and of the double sum), so such
 * candidates are skipped unseen: the same top K as looking at every one. */
static float entry_limit(double d) {
    const float l = (float)d;
    if (!(l < INFINITY)) return INFINITY;  /* beyond float: only +inf could still enter */
    return l - (fabsf(l) * 1e-5f + 1e-4f);
}

static double norm(double sum, int steps, float alpha) {
    return alpha == 0.0f ? sum : sum / pow((double)steps, (double)alpha);
}

/* Inserts f into the sorted list fl[*nf] of capacity cap (equal scores keep arrival order). */
static void fin_insert(fin *fl, int *nf, int cap, const fin *f) {
    int i = *nf;
    if (i == cap) {
        if (!(f->score > fl[cap - 1].score)) return;
        i = cap - 1;
    } else {
        (*nf)++;
    }
    while (i > 0 && f->score > fl[i - 1].score) { fl[i] = fl[i - 1]; i--; }
    fl[i] = *f;
}

/* s2s_beam_run with the log-probabilities in lp_rows ([n*K, V] floats, the caller's), or in a
 * buffer of its own (NULL). */
static int beam_run(int n, int V, int Ta, const int *max_len, const s2s_beam_opts *o, s2s_beam_step_fn step,
                    void *ctx, float *lp_rows, s2s_beam_result *out, s2s_err *err) {
    const int K = o->beam, nbest = o->nbest;
    const float alpha = o->alpha;
    for (int j = 0; j < n; j++) memset(&out[j], 0, sizeof out[j]);
    if (n <= 0) return S2S_OK;
    if (K < 1) return s2s_errf(err, "beam search: beam size %d, want >= 1", K);
    if (nbest < 1 || nbest > K) return s2s_errf(err, "beam search: nbest %d, want 1 .. beam size %d", nbest, K);
    if (!isfinite(alpha)) return s2s_errf(err, "beam search: alpha is not finite");
    if (V < 1 || (o->want_attn && Ta < 1)) return s2s_errf(err, "beam search: vocabulary %d, attention width %d", V, Ta);
    int maxT = 0;
    for (int j = 0; j < n; j++) {
        if (max_len[j] < 1) return s2s_errf(err, "beam search: sentence %d has max_len %d, want >= 1", j, max_len[j]);
        if (max_len[j] > maxT) maxT = max_len[j];
    }
    const size_t RS = (size_t)n * K;  /* rows at most; history is kept by (sentence, slot): j*K + slot */
    float *lp = lp_rows ? lp_rows : s2s_malloc(sizeof(float) * RS * V, err, "beam log-probabilities");
    float *at = o->want_attn ? s2s_malloc(sizeof(float) * RS * Ta, err, "beam attention") : NULL;
    float *at_hist = o->want_attn ? s2s_malloc(sizeof(float) * maxT * RS * Ta, err, "beam attention history") : NULL;
    int32_t *tok_hist = s2s_malloc(sizeof(int32_t) * maxT * RS, err, "beam tokens");
    int *par_hist = s2s_malloc(sizeof(int) * maxT * RS, err, "beam parents");
    int32_t *tokens = s2s_malloc(sizeof(int32_t) * RS, err, "beam inputs");
    int *from = s2s_malloc(sizeof(int) * RS, err, "beam reorder");
    double *sum = s2s_malloc(sizeof(double) * RS, err, "beam sums"), *nsum = s2s_malloc(sizeof(double) * K, err, "beam sums");
    int *live = s2s_calloc((size_t)n, sizeof(int), err, "beam live counts");
    int *done = s2s_calloc((size_t)n, sizeof(int), err, "beam flags");
    int *nf = s2s_calloc((size_t)n, sizeof(int), err, "beam finished counts");
    int *base = s2s_malloc(sizeof(int) * 2 * (size_t)n, err, "beam rows"), *nbase = base ? base + n : NULL;
    fin *fl = s2s_malloc(sizeof(fin) * n * nbest, err, "beam finished");
    cand *top = s2s_malloc(sizeof(cand) * K, err, "beam candidates");
    int rc = S2S_OK;
    if (!lp || (o->want_attn && (!at || !at_hist)) || !tok_hist || !par_hist || !tokens || !from || !sum ||
        !nsum || !live || !done || !nf || !base || !fl || !top) { rc = S2S_ERR; goto out; }

    /* the first step: one live hypothesis (<bos>) per sentence, sentence j on row j */
    for (int j = 0; j < n; j++) { live[j] = 1; base[j] = j; sum[(size_t)j * K] = 0.0; tokens[j] = S2S_BOS; }
    int rows = n, reorder = 0;  /* rows of this step; from[] is not the identity */
    for (int t = 0; t < maxT && rows > 0; t++) {
        step(ctx, rows, reorder ? from : NULL, tokens, lp, at);
        int next = 0;  /* the next step's rows: the continuing sentences' live hypotheses */
        reorder = 0;
        for (int j = 0; j < n; j++) {
            if (done[j]) continue;
            const size_t r0 = (size_t)j * K;
            if (at) s2s_copy_block(live[j], Ta, at + (size_t)base[j] * Ta, Ta, at_hist + ((size_t)t * RS + r0) * Ta, Ta);
            /* the top K of the live slots' candidates, best first; once K are held, only the
             * log-probabilities at or above entry_limit are looked at */
            int nt = 0;
            for (int s = 0; s < live[j]; s++) {
                const float *x = lp + (size_t)(base[j] + s) * V;
                const double ps = sum[r0 + s];
                float lim = nt == K ? entry_limit(top[K - 1].sc - ps) : -INFINITY;
                for (int v = lanes_next_ge(x, V, 0, lim); v < V; v = lanes_next_ge(x, V, v + 1, lim)) {
                    if (!(x[v] > -INFINITY)) continue;  /* -inf and NaN are never candidates */
                    cand c = {ps + (double)x[v], x[v], s, v};
                    if (nt == K && !better(&c, &top[K - 1])) continue;
                    int i = nt < K ? nt++ : K - 1;
                    while (i > 0 && better(&c, &top[i - 1])) { top[i] = top[i - 1]; i--; }
                    top[i] = c;
                    if (nt == K) lim = entry_limit(top[K - 1].sc - ps);
                }
            }
            fin *F = fl + (size_t)j * nbest;
            int nl = 0;
            for (int i = 0; i < nt; i++) {
                if (top[i].tok == S2S_EOS) {
                    fin f = {top[i].sc, norm(top[i].sc, t + 1, alpha), t - 1, top[i].slot, 1};
                    fin_insert(F, &nf[j], nbest, &f);
                    continue;
                }
                tok_hist[(size_t)t * RS + r0 + nl] = top[i].tok;
                par_hist[(size_t)t * RS + r0 + nl] = top[i].slot;
                top[nl] = top[i];  /* the live ones, in slot order, for the rows below */
                nsum[nl] = top[i].sc;
                nl++;
            }
            memcpy(sum + r0, nsum, sizeof(double) * nl);
            live[j] = nl;
            const int l = t + 1;  /* tokens of every live hypothesis now */
            if (nl == 0) { done[j] = 1; continue; }
            if (l == max_len[j]) {  /* cut: the live hypotheses finish as they are */
                for (int s = 0; s < nl; s++) {
                    fin f = {sum[r0 + s], norm(sum[r0 + s], l, alpha), t, s, 0};
                    fin_insert(F, &nf[j], nbest, &f);
                }
                done[j] = 1; live[j] = 0;
                continue;
            }
            if (nf[j] == nbest) {
                double bound = -INFINITY;
                for (int s = 0; s < nl; s++) {
                    double a = norm(sum[r0 + s], l + 1, alpha), b = norm(sum[r0 + s], max_len[j], alpha);
                    if (a > bound) bound = a;
                    if (b > bound) bound = b;
                }
                if (F[nbest - 1].score >= bound) { done[j] = 1; live[j] = 0; continue; }
            }
            /* still searching: its hypotheses take the next rows, from their parents' rows */
            nbase[j] = next;
            for (int s = 0; s < nl; s++, next++) {
                from[next] = base[j] + top[s].slot;
                tokens[next] = top[s].tok;
                reorder |= from[next] != next;
            }
        }
        for (int j = 0; j < n; j++) base[j] = nbase[j];
        rows = next;
    }

    /* read the hypotheses back along the parent pointers */
    for (int j = 0; j < n; j++) {
        const fin *F = fl + (size_t)j * nbest;
        s2s_beam_result *res = &out[j];
        res->hyps = s2s_calloc((size_t)nf[j], sizeof(s2s_beam_hyp), err, "beam hypotheses");
        if (!res->hyps) { rc = S2S_ERR; goto out; }
        res->n_hyps = nf[j];
        for (int h = 0; h < nf[j]; h++) {
            s2s_beam_hyp *y = &res->hyps[h];
            const int len = F[h].end_step + 1, steps = len + F[h].ended;
            y->len = len; y->ended = F[h].ended; y->logprob = F[h].sum; y->score = F[h].score;
            y->tokens = s2s_malloc(sizeof(int32_t) * (len ? len : 1), err, "beam tokens");
            float *A = NULL;
            if (o->want_attn) {
                A = y->attn = s2s_malloc(sizeof(float) * steps * Ta, err, "beam attention");
                if (!A) { rc = S2S_ERR; goto out; }
                if (h == 0) { res->attn = A; res->attn_steps = steps; res->attn_T = Ta; }
            }
            if (!y->tokens) { rc = S2S_ERR; goto out; }
            int slot = F[h].end_slot;
            /* the <eos> step was computed by the row of the last live slot */
            if (A && F[h].ended)
                s2s_copy(A + (size_t)len * Ta, at_hist + ((size_t)len * RS + (size_t)j * K + slot) * Ta, Ta);
            for (int t = F[h].end_step; t >= 0; t--) {
                const size_t at_r = (size_t)t * RS + (size_t)j * K + slot;
                y->tokens[t] = tok_hist[at_r];
                slot = par_hist[at_r];
                if (A) s2s_copy(A + (size_t)t * Ta, at_hist + ((size_t)t * RS + (size_t)j * K + slot) * Ta, Ta);
            }
        }
    }
out:
    if (rc != S2S_OK)
        for (int j = 0; j < n; j++) s2s_beam_result_free(&out[j]);
    if (!lp_rows) free(lp);
    free(at); free(at_hist); free(tok_hist); free(par_hist); free(tokens); free(from);
    free(sum); free(nsum); free(live); free(done); free(nf); free(base); free(fl); free(top);
    return rc;
}

int s2s_beam_run(int n, int V, int Ta, const int *max_len, const s2s_beam_opts *o, s2s_beam_step_fn step,
                 void *ctx, s2s_beam_result *out, s2s_err *err) {
    return beam_run(n, V, Ta, max_len, o, step, ctx, NULL, out, err);
}

/* ---- the models' step ---------------------------------------------------------------------- */

typedef struct model_ctx {
    const s2s_model *const *m;
    s2s_ws *const *ws;
    int nm;
    float *lp, *at;  /* nm > 1: one model's log-probabilities [rows,V] and attention [rows,Ta] */
} model_ctx;

/* One model: its step writes the search's rows directly. An ensemble: each model steps on its
 * own workspace, and the search gets the mean of their log-probabilities (and of their
 * attention weights), summed in model order. */
static void model_step(void *p, int rows, const int *from, const int32_t *tokens, float *logprobs, float *attn) {
    model_ctx *c = p;
    for (int k = 0; k < c->nm; k++) {
        if (from) s2s_decoder_reorder(c->m[k], c->ws[k], rows, from);
        s2s_decode_step(c->m[k], c->ws[k], rows, tokens, k ? c->lp : logprobs, k && attn ? c->at : attn);
        if (!k) continue;
        const size_t nv = (size_t)rows * c->ws[k]->Vt, na = (size_t)rows * c->ws[k]->T;
        for (size_t i = 0; i < nv; i++) logprobs[i] += c->lp[i];
        for (size_t i = 0; attn && i < na; i++) attn[i] += c->at[i];
    }
    if (c->nm > 1) {
        const float s = 1.0f / (float)c->nm;
        const size_t nv = (size_t)rows * c->ws[0]->Vt, na = (size_t)rows * c->ws[0]->T;
        for (size_t i = 0; i < nv; i++) logprobs[i] *= s;
        for (size_t i = 0; attn && i < na; i++) attn[i] *= s;
    }
}

int s2s_beam_search(const s2s_model *m, s2s_ws *ws, int n, const int32_t *src, const int32_t *src_len,
                    const s2s_beam_opts *o, s2s_beam_result *out, s2s_err *err) {
    return s2s_beam_search_ensemble(&m, &ws, 1, n, src, src_len, o, out, err);
}

int s2s_beam_search_ensemble(const s2s_model *const *ms, s2s_ws *const *wss, int nm, int n, const int32_t *src,
                             const int32_t *src_len, const s2s_beam_opts *o, s2s_beam_result *out, s2s_err *err) {
    for (int j = 0; j < n; j++) memset(&out[j], 0, sizeof out[j]);
    const int K = o->beam;
    s2s_ws *ws = wss[0];
    const int T = ws->T;
    if (nm < 1) return s2s_errf(err, "beam search: %d models, want at least 1", nm);
    for (int k = 1; k < nm; k++)
        if (wss[k]->max_B != ws->max_B || wss[k]->T != T || wss[k]->Vt != ws->Vt)
            return s2s_errf(err, "beam search: model %d's workspace (%d rows, %d steps, %d outputs) is not model 1's "
                            "(%d, %d, %d)", k + 1, wss[k]->max_B, wss[k]->T, wss[k]->Vt, ws->max_B, T, ws->Vt);
    if (K < 1) return s2s_errf(err, "beam search: beam size %d, want >= 1", K);
    if (K > ws->max_B)
        return s2s_errf(err, "beam search: beam size %d needs a workspace of at least %d rows (it has %d); raise the batch size",
                        K, K, ws->max_B);
    if (o->max_len < 1) return s2s_errf(err, "beam search: max_len %d, want >= 1", o->max_len);
    if (!(o->max_len_ratio >= 0.0f) || !isfinite(o->max_len_ratio))
        return s2s_errf(err, "beam search: max_len_ratio %g, want a finite number >= 0", (double)o->max_len_ratio);
    const int per = ws->max_B / K;
    int *ml = s2s_malloc(sizeof(int) * (per < n ? per : (n > 0 ? n : 1)), err, "beam lengths");
    if (!ml) return S2S_ERR;
    model_ctx c = {ms, wss, nm, NULL, NULL};
    int rc = S2S_OK;
    if (nm > 1) {  /* the other models' step outputs: at most per*K rows */
        const size_t rows = (size_t)per * K;
        if (!(c.lp = s2s_malloc(sizeof(float) * rows * ws->Vt, err, "an ensemble's log-probabilities")) ||
            (o->want_attn && !(c.at = s2s_malloc(sizeof(float) * rows * T, err, "an ensemble's attention"))))
            rc = S2S_ERR;
    }
    for (int s = 0; s < n && rc == S2S_OK; s += per) {
        const int nb = n - s < per ? n - s : per;
        for (int j = 0; j < nb; j++) {
            int L = o->max_len;
            if (o->max_len_ratio > 0.0f) {
                double r = ceil((double)o->max_len_ratio * src_len[s + j]);
                if (r < L) L = r < 1 ? 1 : (int)r;
            }
            ml[j] = L;
        }
        /* encode once; the search gives each hypothesis its parent's state */
        for (int k = 0; k < nm; k++) s2s_encode(ms[k], wss[k], nb, src + (size_t)s * T, src_len + s);
        /* the log-probabilities in the workspace's logits, which no step of inference uses (a
         * fresh buffer a chunk would be a few MB of new pages each time) */
        float *lp = ws->TBd >= (size_t)nb * K ? ws->logits : NULL;
        rc = beam_run(nb, ws->Vt, T, ml, o, model_step, &c, lp, out + s, err);
    }
    if (rc != S2S_OK)
        for (int j = 0; j < n; j++) s2s_beam_result_free(&out[j]);
    free(ml); free(c.lp); free(c.at);
    return rc;
}
