/* The training loop (d2l's train_seq2seq). */
#include "s2s_train.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int s2s_trainer_create(s2s_model *m, const s2s_dataset *d, const s2s_train_opts *o, const s2s_rng *rng,
                       s2s_trainer **out, s2s_err *err) {
    if (o->batch < 1) return s2s_errf(err, "batch size must be at least 1 (got %d)", o->batch);
    if (d->n < 1) return s2s_errf(err, "no training pairs");
    if (d->T != m->cfg.num_steps) return s2s_errf(err, "dataset has %d steps, model expects %d", d->T, m->cfg.num_steps);
    s2s_trainer *t = s2s_calloc(1, sizeof *t, err, "the trainer");
    if (!t) return S2S_ERR;
    t->m = m; t->data = d; t->opt = *o; t->rng = *rng;
    int B = o->batch < d->n ? o->batch : d->n, T = d->T;
    size_t n = m->n_params;
    t->adam = (s2s_adam){o->lr, 0.9f, 0.999f, 1e-8f, 0, NULL, NULL, n};
    if (!(t->adam.m = s2s_calloc(n, sizeof(float), err, "Adam's first moments")) ||
        !(t->adam.v = s2s_calloc(n, sizeof(float), err, "Adam's second moments")) ||
        !(t->perm = s2s_calloc((size_t)d->n, sizeof(int32_t), err, "the shuffle order")) ||
        !(t->bsrc = s2s_calloc((size_t)B * T * 3 + (size_t)B * 2, sizeof(int32_t), err, "batch buffers")) ||
        !(t->loss = s2s_calloc((size_t)B, sizeof(float), err, "batch losses")) ||
        s2s_ws_create(m, B, T, &t->ws, err)) {
        s2s_trainer_free(t);
        return S2S_ERR;
    }
    t->bdec = t->bsrc + (size_t)B * T; t->btgt = t->bdec + (size_t)B * T;
    t->bsrc_len = t->btgt + (size_t)B * T; t->btgt_len = t->bsrc_len + B;
    t->opt.batch = B;
    *out = t;
    return S2S_OK;
}

void s2s_trainer_free(s2s_trainer *t) {
    if (!t) return;
    free(t->adam.m); free(t->adam.v); free(t->perm); free(t->bsrc); free(t->loss);
    s2s_ws_free(t->ws);
    free(t);
}

/* Copies rows idx[0..B) of the dataset into the batch buffers, building the decoder input
 * <bos> + target shifted by one (teacher forcing). */
static void gather_batch(s2s_trainer *t, const int32_t *idx, int B, s2s_batch *bt) {
    const s2s_dataset *d = t->data;
    const int T = d->T;
    for (int b = 0; b < B; b++) {
        size_t r = (size_t)idx[b];
        memcpy(t->bsrc + (size_t)b * T, d->src + r * T, sizeof(int32_t) * T);
        memcpy(t->btgt + (size_t)b * T, d->tgt + r * T, sizeof(int32_t) * T);
        t->bdec[(size_t)b * T] = S2S_BOS;
        memcpy(t->bdec + (size_t)b * T + 1, d->tgt + r * T, sizeof(int32_t) * (T - 1));
        t->bsrc_len[b] = d->src_len[r];
        t->btgt_len[b] = d->tgt_len[r];
    }
    *bt = (s2s_batch){B, T, t->bsrc, t->bsrc_len, t->bdec, t->btgt, t->btgt_len};
}

int s2s_trainer_epoch(s2s_trainer *t, s2s_epoch_stats *st, volatile sig_atomic_t *stop, s2s_err *err) {
    (void)err;
    const int n = t->data->n;
    if (t->pos == 0) {
        for (int i = 0; i < n; i++) t->perm[i] = i;
        s2s_rng_shuffle(&t->rng, t->perm, n);
        t->ep_loss = t->ep_tokens = t->ep_seconds = 0.0;
    }
    double start = now_seconds();
    while (t->pos < n && !(stop && *stop)) {
        int B = n - t->pos < t->opt.batch ? n - t->pos : t->opt.batch;
        s2s_batch bt;
        gather_batch(t, t->perm + t->pos, B, &bt);
        s2s_model_zero_grad(t->m);
        double l = s2s_forward(t->m, t->ws, &bt, 1, 0, &t->rng, t->loss);
        s2s_backward(t->m, t->ws, &bt);
        t->last_grad_norm = s2s_clip_grad_norm(t->m->grads, t->m->n_params, t->opt.clip);
        s2s_adam_step(&t->adam, t->m->params, t->m->grads);
        t->ep_loss += l;
        for (int b = 0; b < B; b++) t->ep_tokens += bt.tgt_len[b];
        t->pos += B;
    }
    t->ep_seconds += now_seconds() - start;
    st->loss = t->ep_tokens > 0 ? t->ep_loss / t->ep_tokens : 0.0;
    st->tokens = t->ep_tokens;
    st->seconds = t->ep_seconds;
    st->complete = t->pos >= n;
    if (st->complete) { t->pos = 0; t->epoch++; }
    return S2S_OK;
}

double s2s_eval_loss(s2s_model *m, s2s_ws *ws, const s2s_dataset *d, int batch) {
    const int T = d->T;
    double loss = 0, tokens = 0;
    int32_t *dec = malloc(sizeof(int32_t) * (size_t)batch * T);
    if (!dec) return -1.0;
    for (int s = 0; s < d->n; s += batch) {
        int B = d->n - s < batch ? d->n - s : batch;
        for (int b = 0; b < B; b++) {
            dec[(size_t)b * T] = S2S_BOS;
            memcpy(dec + (size_t)b * T + 1, d->tgt + (size_t)(s + b) * T, sizeof(int32_t) * (T - 1));
            tokens += d->tgt_len[s + b];
        }
        s2s_batch bt = {B, T, d->src + (size_t)s * T, d->src_len + s, dec, d->tgt + (size_t)s * T, d->tgt_len + s};
        loss += s2s_forward(m, ws, &bt, 0, 0, NULL, NULL);
    }
    free(dec);
    return tokens > 0 ? loss / tokens : 0.0;
}
