/* The translator handle of the public API (seq2seq.h): a model opened once and shared
 * read-only, a pool of workspaces, and batched greedy or beam-search translation of raw
 * sentences, from any number of threads at once.
 *
 * A call encodes its sentences, sorts them by source length, cuts them into batches of
 * similar length and runs the batches on its threads (the calling thread and, with threads >
 * 1, more it starts), each thread on a workspace taken from the handle's pool. A sentence's
 * result depends only on the batch it falls in (rows of a batch are computed independently,
 * and every product sums in one order whatever the thread), so one thread or many, one call
 * or many at once, give the same results bit for bit. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq2seq.h"
#include "s2s_api.h"
#include "s2s_beam.h"
#include "s2s_bleu.h"
#include "s2s_checkpoint.h"
#include "s2s_linalg.h"
#include "s2s_model.h"
#include "s2s_safetensors.h"
#include "s2s_text.h"
#include "s2s_tok.h"
#include "s2s_ws.h"

enum { MAX_CALL_THREADS = 64 };

typedef struct pooled {
    s2s_ws *ws[S2S_MAX_ENSEMBLE]; /* one per model of the translator (ws[0] NULL: none) */
    int rows;                 /* their capacity (max_B) */
} pooled;

typedef struct worker worker;

/* Helper threads: a call with threads > 1 queues its extra workers (each with a workspace) and
 * runs the first itself; helpers kept by the handle run the queued ones. A queued worker that
 * no helper has started when its call's batches are all done is taken back: a call never
 * waits for a helper that is busy with another call. */
struct s2s_translator {
    s2s_model *m;             /* ms[0]: read-only after open */
    s2s_model *ms[S2S_MAX_ENSEMBLE];
    int nm;                   /* models: 1, or an ensemble's (s2s_translator_open_ensemble) */
    s2s_tok *src, *tgt;       /* the model file's tokenizers (s2s_tok.h), read-only too */
    int n_meta;
    char **meta;              /* [2 n_meta] key, value, ... (the model file's metadata) */
    int threads, max_ws;
    s2s_gemm_kind gemm;       /* the products of every workspace (s2s_translator_options.gemm) */
    pthread_mutex_t mu;       /* guards the pool, the queue and the workers' states */
    pthread_cond_t freed;     /* a workspace went back, or a slot opened */
    pthread_cond_t queued;    /* a worker was queued, or the handle is closing */
    pthread_cond_t finished;  /* a helper finished a worker */
    pooled *idle;             /* [idle_cap] workspaces not in use */
    int n_idle, idle_cap;
    int n_ws;                 /* workspaces that exist (idle or in use) */
    worker *queue;            /* workers waiting for a helper (a list through worker.next) */
    pthread_t helper[MAX_CALL_THREADS];
    int n_helpers, closing;
};

struct attn_res {
    int rows, cols;
    float *w;                 /* [rows, cols] */
    char **src, **tgt;        /* [cols], [rows] labels, each one block (pointers, then the strings);
                               * src in the entry of hypothesis 0 only (the same for all) */
};

struct s2s_translation {
    int n, nbest;
    int *n_hyps;              /* [n] */
    char **text;              /* [n * nbest] */
    double *score;            /* [n * nbest] */
    struct attn_res *att;     /* [n * nbest] (sentence i's hypothesis k at i * nbest + k) with
                               * options.attention, else NULL */
};

/* ---- text: the one place sentences become ids and ids become text ---------------------------
 * Through the model file's tokenizers (s2s_tok.h): d2l's pipeline (preprocess_nmt, split on
 * spaces, output joined by spaces) or SentencePiece (raw text in, detokenized text out). */

/* The ids [T] of one sentence and its valid length, or S2S_ERR_INPUT naming sentence i. */
static int text_encode(const s2s_translator *t, const char *s, int i, int32_t *ids, int32_t *len, s2s_err *err) {
    s2s_err e;
    int v = s2s_tok_encode_row(t->src, s, t->m->cfg.num_steps, ids, &e);
    if (v < 0) {
        const char *inner = strncmp(e.msg, "sentence: ", 10) ? e.msg : e.msg + 10;
        s2s_errf(err, "sentence %d: %s", i + 1, inner);
        return S2S_ERR_INPUT;
    }
    *len = v;
    return S2S_OK;
}

/* ids[0..n) as text (malloc'd), NULL when out of memory. */
static char *text_decode(const s2s_translator *t, const int32_t *ids, int n) {
    return s2s_tok_decode(t->tgt, ids, n, NULL);
}

/* n labels as one block: the pointers, then copies of the strings (malloc'd; NULL when out
 * of memory). */
static char **pack_labels(const char *const *lab, int n) {
    size_t bytes = sizeof(char *) * (size_t)(n > 0 ? n : 1);
    for (int i = 0; i < n; i++) bytes += strlen(lab[i]) + 1;
    char **b = malloc(bytes);
    if (!b) return NULL;
    char *s = (char *)(b + (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        size_t l = strlen(lab[i]) + 1;
        memcpy(s, lab[i], l);
        b[i] = s;
        s += l;
    }
    return b;
}

/* The labels of the first nk source positions the model reads: the sentence's tokens (d2l:
 * its preprocessed words; SentencePiece: its pieces), then "<eos>" (the positions of the ids
 * text_encode gave). */
static char **text_source_labels(const s2s_translator *t, const char *s, int nk, s2s_err *err) {
    char **pieces;
    int np;
    if (s2s_tok_pieces(t->src, s, strlen(s), &pieces, &np, err)) return NULL;
    const char **lab = malloc(sizeof(char *) * (size_t)(nk > 0 ? nk : 1));
    char **out = NULL;
    if (lab) {
        int n = 0;
        for (; n < nk && n < np; n++) lab[n] = pieces[n];
        while (n < nk) lab[n++] = "<eos>";
        out = pack_labels(lab, nk);
    }
    if (!out) s2s_errf(err, "out of memory for the attention labels");
    free(lab); free(pieces);
    return out;
}

/* The labels of the output steps: the tokens ids[0..n), then "<eos>" when ended. */
static char **text_target_labels(const s2s_translator *t, const int32_t *ids, int n, int ended) {
    const char **lab = malloc(sizeof(char *) * (size_t)(n + 1));
    if (!lab) return NULL;
    for (int k = 0; k < n; k++) lab[k] = s2s_vocab_token(s2s_tok_vocab(t->tgt), ids[k]);
    if (ended) lab[n] = "<eos>";
    char **out = pack_labels(lab, n + ended);
    free(lab);
    return out;
}

/* ---- options ----------------------------------------------------------------------------- */

void s2s_translator_options_init(s2s_translator_options *o) {
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->threads = 1;
}

void s2s_translate_options_init(s2s_translate_options *o) {
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->beam = 1;
    o->nbest = 1;
    o->alpha = 1.0f;
    o->batch = 64;
}

#define BAD(...) S2S_BAD(err, __VA_ARGS__)

static int check_translate_options(const s2s_translator *t, const s2s_translate_options *o, s2s_err *err) {
    if (o->beam < 1 || o->beam > 1000) return BAD("translate: beam %d is out of range (1..1000)", o->beam);
    if (o->nbest < 1 || o->nbest > o->beam)
        return BAD("translate: nbest %d: want 1 .. the beam (%d); a beam of K returns at most K hypotheses",
                   o->nbest, o->beam);
    if (!(o->alpha >= -10.0f && o->alpha <= 10.0f)) return BAD("translate: alpha %g is out of range (-10..10)", (double)o->alpha);
    if (o->max_len < 0 || o->max_len > 100000) return BAD("translate: max_len %d is out of range (0..100000)", o->max_len);
    if (o->max_len_ratio != 0.0f && !(o->max_len_ratio >= 1e-3f && o->max_len_ratio <= 1000.0f))
        return BAD("translate: max_len_ratio %g is out of range (0, or 0.001..1000)", (double)o->max_len_ratio);
    if (o->batch < 1 || o->batch > 100000) return BAD("translate: batch %d is out of range (1..100000)", o->batch);
    if ((size_t)o->batch * (size_t)o->beam > 1000000)
        return BAD("translate: batch %d x beam %d rows is too many (at most 1000000)", o->batch, o->beam);
    if (o->threads < 0 || o->threads > 1024) return BAD("translate: threads %d is out of range (0..1024)", o->threads);
    if (o->attention && !s2s_translator_has_attention(t))
        return BAD("translate: attention weights asked of a %s, which has none",
                   t->nm > 1 ? "plain model (in the ensemble)" : "plain model");
    return S2S_OK;
}

/* ---- the handle and its pool --------------------------------------------------------------- */

/* The metadata an ensemble's models share: how text becomes ids and ids text. */
static const char *const ensemble_keys[] = {"preprocess", "tokenizer", "spm.src", "spm.tgt", "src_vocab", "tgt_vocab",
                                            "num_steps"};

/* Model k of an ensemble: read, and its text the same as the first file's (f0). */
static int open_member(s2s_translator *t, const s2s_st_file *f0, const char *path0, const char *path, int k,
                       s2s_err *err) {
    s2s_st_file *f = NULL;
    s2s_vocab *sv = NULL, *tv = NULL;
    int rc = S2S_ERR;
    if (s2s_st_read(path, &f, err) || s2s_model_from_st(f, path, &t->ms[k], &sv, &tv, err)) goto done;
    for (size_t i = 0; i < sizeof ensemble_keys / sizeof *ensemble_keys; i++) {
        const char *a = s2s_st_meta(f0, ensemble_keys[i]), *b = s2s_st_meta(f, ensemble_keys[i]);
        if ((a || b) && (!a || !b || strcmp(a, b))) {
            s2s_errf(err, "ensemble: %s and %s differ in \"%s\": an ensemble's models need one tokenizer, "
                     "vocabularies and steps", path0, path, ensemble_keys[i]);
            goto done;
        }
    }
    t->nm = k + 1;
    rc = S2S_OK;
done:
    s2s_vocab_free(sv); s2s_vocab_free(tv);
    s2s_st_free(f);
    return rc;
}

int s2s_translator_open_ensemble(const char *const *paths, int n, const s2s_translator_options *opts,
                                 s2s_translator **out, s2s_err *err) {
    if (out) *out = NULL;
    if (!paths || !out) return BAD("translator_open: %s is NULL", paths ? "out" : "paths");
    if (n < 1 || n > S2S_MAX_ENSEMBLE) return BAD("translator_open: %d models, want 1..%d", n, S2S_MAX_ENSEMBLE);
    for (int i = 0; i < n; i++)
        if (!paths[i]) return BAD("translator_open: path %d is NULL", i + 1);
    const char *path = paths[0];
    s2s_translator_options o;
    s2s_translator_options_init(&o);
    int rc = s2s_api_options(&o, sizeof o, opts, "s2s_translator_options", err);
    if (rc) return rc;
    if (o.threads < 1 || o.threads > 1024) return BAD("translator_open: threads %d is out of range (1..1024)", o.threads);
    if (o.max_workspaces < 0) return BAD("translator_open: max_workspaces %d is negative", o.max_workspaces);
    s2s_gemm_kind gemm;
    if ((rc = s2s_api_gemm(o.gemm, "translator_open", &gemm, err))) return rc;
    s2s_api_blas_once();
    s2s_translator *t = s2s_calloc(1, sizeof *t, err, "the translator");
    if (!t) return S2S_ERR;
    t->threads = o.threads;
    t->max_ws = o.max_workspaces;
    t->gemm = gemm;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->freed, NULL);
    pthread_cond_init(&t->queued, NULL);
    pthread_cond_init(&t->finished, NULL);
    s2s_st_file *f = NULL;
    s2s_vocab *sv, *tv;
    if (s2s_st_read(path, &f, err) || s2s_model_from_st(f, path, &t->ms[0], &sv, &tv, err) ||
        s2s_tok_load(f, path, sv, tv, &t->src, &t->tgt, err))
        goto fail;
    t->m = t->ms[0];
    t->nm = 1;
    for (int k = 1; k < n; k++)
        if (open_member(t, f, path, paths[k], k, err)) goto fail;
    t->n_meta = s2s_st_meta_count(f);
    if (!(t->meta = s2s_calloc(2 * (size_t)t->n_meta + 1, sizeof(char *), err, "the model's metadata"))) goto fail;
    for (int i = 0; i < t->n_meta; i++) {
        const char *k, *v;
        s2s_st_meta_at(f, i, &k, &v);
        if (!(t->meta[2 * i] = strdup(k)) || !(t->meta[2 * i + 1] = strdup(v))) {
            s2s_errf(err, "%s: out of memory copying the metadata", path);
            goto fail;
        }
    }
    s2s_st_free(f);
    *out = t;
    return S2S_OK;
fail:
    s2s_st_free(f);
    s2s_translator_close(t);
    return S2S_ERR;
}

int s2s_translator_open(const char *path, const s2s_translator_options *opts, s2s_translator **out, s2s_err *err) {
    if (out) *out = NULL;
    if (!path || !out) return BAD("translator_open: %s is NULL", path ? "out" : "path");
    return s2s_translator_open_ensemble(&path, 1, opts, out, err);
}

void s2s_translator_close(s2s_translator *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->closing = 1;
    pthread_cond_broadcast(&t->queued);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < t->n_helpers; i++) pthread_join(t->helper[i], NULL);
    for (int i = 0; i < t->n_idle; i++)
        for (int k = 0; k < t->nm; k++) s2s_ws_free(t->idle[i].ws[k]);
    free(t->idle);
    if (t->meta)
        for (int i = 0; i < 2 * t->n_meta; i++) free(t->meta[i]);
    free(t->meta);
    for (int k = 0; k < S2S_MAX_ENSEMBLE; k++) s2s_model_free(t->ms[k]);  /* t->m is ms[0] */
    s2s_tok_free(t->src); s2s_tok_free(t->tgt);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->freed);
    pthread_cond_destroy(&t->queued);
    pthread_cond_destroy(&t->finished);
    free(t);
}

const char *s2s_translator_meta(const s2s_translator *t, const char *key) {
    if (!t || !key) return NULL;
    for (int i = 0; i < t->n_meta; i++)
        if (!strcmp(t->meta[2 * i], key)) return t->meta[2 * i + 1];
    return NULL;
}

int s2s_translator_has_attention(const s2s_translator *t) {
    if (!t) return 0;
    for (int k = 0; k < t->nm; k++)
        if (t->ms[k]->cfg.attention == S2S_NO_ATTENTION) return 0;
    return 1;
}

/* Takes a workspace of at least `rows` rows into *ws: an idle one (the smallest that fits),
 * else a new one; at the bound, an idle one too small is replaced, and otherwise the call
 * waits for one (wait = 1) or gets *ws = NULL (wait = 0). */
static int pool_take(s2s_translator *t, int rows, int wait, pooled *ws, s2s_err *err) {
    memset(ws, 0, sizeof *ws);
    pthread_mutex_lock(&t->mu);
    for (;;) {
        int best = -1;
        for (int i = 0; i < t->n_idle; i++)
            if (t->idle[i].rows >= rows && (best < 0 || t->idle[i].rows < t->idle[best].rows)) best = i;
        if (best >= 0) {
            *ws = t->idle[best];
            t->idle[best] = t->idle[--t->n_idle];
            pthread_mutex_unlock(&t->mu);
            return S2S_OK;
        }
        if (!t->max_ws || t->n_ws < t->max_ws) {
            t->n_ws++;
            pthread_mutex_unlock(&t->mu);
            /* translation only: the decoder's buffers hold one step */
            const s2s_ws_opts wo = {.token_tables = 1, .inference = 1, .gemm = t->gemm};
            for (int k = 0; k < t->nm; k++)  /* one per model of an ensemble */
                if (s2s_ws_create_opts(t->ms[k], rows, t->m->cfg.num_steps, &wo, &ws->ws[k], err)) {
                    for (int i = 0; i < k; i++) s2s_ws_free(ws->ws[i]);
                    pthread_mutex_lock(&t->mu);
                    t->n_ws--;
                    pthread_cond_signal(&t->freed);
                    pthread_mutex_unlock(&t->mu);
                    memset(ws, 0, sizeof *ws);
                    return S2S_ERR;
                }
            ws->rows = rows;
            return S2S_OK;
        }
        if (!wait) break;
        if (t->n_idle > 0) {  /* every idle one is too small: make room for a bigger one */
            pooled old = t->idle[--t->n_idle];
            t->n_ws--;
            pthread_mutex_unlock(&t->mu);
            for (int k = 0; k < t->nm; k++) s2s_ws_free(old.ws[k]);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        pthread_cond_wait(&t->freed, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return S2S_OK;
}

static void pool_put(s2s_translator *t, pooled ws) {
    if (!ws.ws[0]) return;
    pthread_mutex_lock(&t->mu);
    if (t->n_idle == t->idle_cap) {
        int cap = t->idle_cap ? 2 * t->idle_cap : 8;
        pooled *p = realloc(t->idle, sizeof *p * (size_t)cap);
        if (p) { t->idle = p; t->idle_cap = cap; }
    }
    if (t->n_idle < t->idle_cap) t->idle[t->n_idle++] = ws;
    else {  /* no room to keep it: let it go */
        t->n_ws--;
        for (int k = 0; k < t->nm; k++) s2s_ws_free(ws.ws[k]);
    }
    pthread_cond_signal(&t->freed);
    pthread_mutex_unlock(&t->mu);
}

/* ---- one call ------------------------------------------------------------------------------ */

typedef struct len_idx { int32_t len; int i; } len_idx;
static int by_len(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->i > y->i) - (x->i < y->i);
}

typedef struct job {
    s2s_translator *t;
    s2s_translate_options o;  /* resolved */
    s2s_beam_opts bo;
    int greedy;               /* s2s_greedy_scored rather than the beam search (beam 1) */
    int n, T, n_batches;
    const int32_t *ids, *len; /* [n,T], [n] */
    const len_idx *ord;       /* [n] sentences by source length */
    char ***src_lab;          /* [n] source labels (attention) */
    s2s_translation *res;
    atomic_int next;          /* the next batch to take */
    atomic_int failed;
    pthread_mutex_t mu;       /* progress and the first error */
    int done, status;
    s2s_err err;
} job;

static void job_fail(job *j, int status, const char *msg) {
    pthread_mutex_lock(&j->mu);
    if (!j->status) { j->status = status; snprintf(j->err.msg, sizeof j->err.msg, "%s", msg); }
    pthread_mutex_unlock(&j->mu);
    atomic_store(&j->failed, 1);
}

/* One thread's share of a call: its workspace and buffers for one batch of at most `batch`
 * sentences. */
enum { W_QUEUED, W_RUNNING, W_DONE };
struct worker {
    job *j;
    pooled ws;
    int state;                   /* W_*, under the handle's mutex (helpers' workers) */
    worker *next;                /* in the handle's queue */
    int32_t *bids, *blen, *res;  /* [batch,T], [batch], [batch,max_len] */
    int *olen;                   /* [batch] */
    float *attn;                 /* [batch,max_len,T] greedy attention */
    double *logprob;             /* [batch] greedy with scores: each row's summed log p */
    s2s_beam_result *br;         /* [batch] */
};

static int worker_alloc(worker *w, s2s_err *err) {
    const job *j = w->j;
    const size_t B = (size_t)j->o.batch, T = (size_t)j->T, L = (size_t)j->bo.max_len;
    w->bids = s2s_malloc(sizeof(int32_t) * B * T, err, "a batch's ids");
    w->blen = w->bids ? s2s_malloc(sizeof(int32_t) * B, err, "a batch's lengths") : NULL;
    w->res = w->blen ? s2s_malloc(sizeof(int32_t) * B * L, err, "a batch's output") : NULL;
    w->olen = w->res ? s2s_malloc(sizeof(int) * B, err, "a batch's output lengths") : NULL;
    w->br = w->olen ? s2s_calloc(B, sizeof *w->br, err, "a batch's hypotheses") : NULL;
    if (w->br && j->greedy && j->o.attention)
        w->attn = s2s_calloc(B * L, T * sizeof(float), err, "a batch's attention weights");
    if (w->br && j->greedy && j->o.scores) w->logprob = s2s_malloc(sizeof(double) * B, err, "a batch's scores");
    return w->br && (w->attn || !j->greedy || !j->o.attention) && (w->logprob || !j->greedy || !j->o.scores)
               ? S2S_OK : S2S_ERR;
}

static void worker_free(worker *w) {
    free(w->bids); free(w->blen); free(w->res); free(w->olen); free(w->br); free(w->attn); free(w->logprob);
}

/* The attention of sentence i's hypothesis k: rows output steps of the weights w (row stride
 * ld), nk columns. */
static int keep_attention(job *j, int i, int k, const float *w, size_t ld, int rows, int nk, const int32_t *tok,
                          int ntok, int ended) {
    struct attn_res *a = &j->res->att[(size_t)i * j->res->nbest + k];
    a->rows = rows; a->cols = nk;
    a->w = malloc(sizeof(float) * (size_t)(rows > 0 ? rows : 1) * (size_t)nk);
    a->tgt = text_target_labels(j->t, tok, ntok, ended);
    if (k == 0) { a->src = j->src_lab[i]; j->src_lab[i] = NULL; }
    if (!a->w || !a->tgt || (k == 0 && !a->src)) return S2S_ERR;
    for (int r = 0; r < rows; r++) memcpy(a->w + (size_t)r * nk, w + (size_t)r * ld, sizeof(float) * nk);
    return S2S_OK;
}

/* Translates batch k: its sentences' texts, scores and attention into the result. */
static int run_batch(worker *w, int k, s2s_err *err) {
    job *j = w->j;
    s2s_translation *r = j->res;
    const int nb = r->nbest, s = k * j->o.batch, B = j->n - s < j->o.batch ? j->n - s : j->o.batch;
    const int ml = j->bo.max_len;
    /* a packed (bidirectional) encoder runs to the batch's longest source; d2l's runs over the
     * padding to num_steps, which its results depend on */
    const s2s_translator *t = j->t;
    int T = j->T, packed = 1;
    for (int k = 0; k < t->nm; k++) packed &= s2s_encoder_of(t->ms[k]->cfg.encoder)->packed;
    if (packed) {
        T = 1;
        for (int b = 0; b < B; b++) T = j->len[j->ord[s + b].i] > T ? j->len[j->ord[s + b].i] : T;
    }
    for (int k = 0; k < t->nm; k++)
        if (s2s_ws_set_steps(w->ws.ws[k], T, err)) return S2S_ERR;
    for (int b = 0; b < B; b++) {
        memcpy(w->bids + (size_t)b * T, j->ids + (size_t)j->ord[s + b].i * j->T, sizeof(int32_t) * T);
        w->blen[b] = j->len[j->ord[s + b].i];
    }
    if (j->greedy) {  /* a row's greedy tokens do not depend on max_len: cut each at its own bound */
        if (s2s_greedy_scored(t->m, w->ws.ws[0], B, w->bids, w->blen, ml, w->res, w->olen, w->attn, w->logprob, err))
            return S2S_ERR;
        for (int b = 0; b < B; b++) {
            const int i = j->ord[s + b].i, *ol = &w->olen[b];
            const int32_t *tok = w->res + (size_t)b * ml;
            int L = *ol;
            if (j->o.max_len_ratio > 0 && L > ceil((double)j->o.max_len_ratio * w->blen[b]))
                L = (int)ceil((double)j->o.max_len_ratio * w->blen[b]);
            r->n_hyps[i] = 1;
            /* a beam of one's score: the raw sum over the tokens and <eos> (if chosen), normalised */
            const int steps = *ol + (*ol < ml), alpha0 = j->o.alpha == 0.0f;
            r->score[(size_t)i * nb] = !w->logprob ? NAN
                                       : alpha0 ? w->logprob[b]
                                                : w->logprob[b] / pow((double)steps, (double)j->o.alpha);
            if (!(r->text[(size_t)i * nb] = text_decode(j->t, tok, L))) return s2s_errf(err, "out of memory for a translation");
            if (j->o.attention) {
                const int ended = *ol < ml && L == *ol;  /* the step that chose <eos> is kept */
                const float *a = w->attn + (size_t)b * ml * T;
                if (keep_attention(j, i, 0, a, T, L + ended, w->blen[b], tok, L, ended))
                    return s2s_errf(err, "out of memory for the attention weights");
            }
        }
        return S2S_OK;
    }
    if (s2s_beam_search_ensemble((const s2s_model *const *)t->ms, w->ws.ws, t->nm, B, w->bids, w->blen, &j->bo, w->br, err))
        return S2S_ERR;
    int rc = S2S_OK;
    for (int b = 0; b < B; b++) {
        const int i = j->ord[s + b].i;
        const s2s_beam_result *br = &w->br[b];
        r->n_hyps[i] = br->n_hyps;
        for (int h = 0; h < br->n_hyps && rc == S2S_OK; h++) {
            r->score[(size_t)i * nb + h] = br->hyps[h].score;
            if (!(r->text[(size_t)i * nb + h] = text_decode(j->t, br->hyps[h].tokens, br->hyps[h].len)))
                rc = s2s_errf(err, "out of memory for a translation");
        }
        for (int h = 0; rc == S2S_OK && j->o.attention && h < br->n_hyps; h++) {
            const s2s_beam_hyp *y = &br->hyps[h];
            const int steps = y->len + y->ended;
            if (keep_attention(j, i, h, y->attn, (size_t)br->attn_T, steps, w->blen[b], y->tokens, y->len, y->ended))
                rc = s2s_errf(err, "out of memory for the attention weights");
        }
    }
    for (int b = 0; b < B; b++) s2s_beam_result_free(&w->br[b]);
    return rc;
}

/* A sentence without any token (an empty or blank line for SentencePiece; d2l's always has
 * one) translates to nothing, with no attention: the model would otherwise invent a sentence
 * for the lone <eos>. */
static int empty_sources(s2s_translation *r, const int32_t *ids, const int32_t *len, int n, int T, s2s_err *err) {
    for (int i = 0; i < n; i++) {
        if (len[i] != 1 || ids[(size_t)i * T] != S2S_EOS) continue;
        char **text = r->text + (size_t)i * r->nbest;
        for (int h = 0; h < r->nbest; h++) { free(text[h]); text[h] = NULL; }
        if (!(text[0] = strdup(""))) return s2s_errf(err, "out of memory for a translation");
        r->n_hyps[i] = 1;
        r->score[(size_t)i * r->nbest] = isnan(r->score[(size_t)i * r->nbest]) ? NAN : 0.0;
        for (int h = 0; r->att && h < r->nbest; h++) r->att[(size_t)i * r->nbest + h].rows = 0;
    }
    return S2S_OK;
}

static void *work(void *p) {
    worker *w = p;
    job *j = w->j;
    s2s_err e;
    if (atomic_load(&j->next) >= j->n_batches) return NULL;  /* started late: nothing left */
    if (worker_alloc(w, &e)) { job_fail(j, S2S_ERR, e.msg); goto out; }
    for (;;) {
        if (atomic_load(&j->failed)) break;
        const int k = atomic_fetch_add(&j->next, 1);
        if (k >= j->n_batches) break;
        if (run_batch(w, k, &e)) { job_fail(j, S2S_ERR, e.msg); break; }
        if (j->o.progress) {
            const int B = j->n - k * j->o.batch < j->o.batch ? j->n - k * j->o.batch : j->o.batch;
            pthread_mutex_lock(&j->mu);
            j->done += B;
            j->o.progress(j->o.progress_ctx, j->done, j->n);
            pthread_mutex_unlock(&j->mu);
        }
    }
out:
    worker_free(w);
    return NULL;
}

static void *helper_main(void *p);

/* At least n helpers (fewer if the system refuses threads: the caller's own thread still does
 * every batch). Under the handle's mutex. */
static void start_helpers(s2s_translator *t, int n) {
    while (t->n_helpers < n && !pthread_create(&t->helper[t->n_helpers], NULL, helper_main, t)) t->n_helpers++;
}

static void *helper_main(void *p) {
    s2s_translator *t = p;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->queue && !t->closing) pthread_cond_wait(&t->queued, &t->mu);
        if (!t->queue) break;
        worker *w = t->queue;
        t->queue = w->next;
        w->state = W_RUNNING;
        pthread_mutex_unlock(&t->mu);
        work(w);
        pthread_mutex_lock(&t->mu);
        w->state = W_DONE;
        pthread_cond_broadcast(&t->finished);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Runs a call's workers: w[0] on this thread, w[1..nw) queued for the helpers (started up to
 * nw - 1 of them). Returns when every worker is done or taken back. */
static void run_workers(s2s_translator *t, worker *w, int nw) {
    pthread_mutex_lock(&t->mu);
    start_helpers(t, nw - 1);
    for (int i = nw - 1; i >= 1; i--) { w[i].state = W_QUEUED; w[i].next = t->queue; t->queue = &w[i]; }
    if (nw > 1) pthread_cond_broadcast(&t->queued);
    pthread_mutex_unlock(&t->mu);
    work(&w[0]);
    pthread_mutex_lock(&t->mu);
    for (worker **q = &t->queue; *q;) {  /* ours that no helper started: nothing left for them */
        if ((*q)->j == w[0].j) { (*q)->state = W_DONE; *q = (*q)->next; }
        else q = &(*q)->next;
    }
    for (int i = 1; i < nw; i++)
        while (w[i].state != W_DONE) pthread_cond_wait(&t->finished, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

void s2s_translation_free(s2s_translation *r) {
    if (!r) return;
    if (r->text)
        for (size_t i = 0; i < (size_t)r->n * r->nbest; i++) free(r->text[i]);
    if (r->att)
        for (size_t i = 0; i < (size_t)r->n * r->nbest; i++) {
            free(r->att[i].w); free(r->att[i].src); free(r->att[i].tgt);
        }
    free(r->n_hyps); free(r->text); free(r->score); free(r->att);
    free(r);
}

static s2s_translation *result_alloc(int n, int nbest, int attention, s2s_err *err) {
    s2s_translation *r = s2s_calloc(1, sizeof *r, err, "the translations");
    if (!r) return NULL;
    r->n = n; r->nbest = nbest;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    if (!(r->n_hyps = s2s_calloc(nn, sizeof(int), err, "the translations")) ||
        !(r->text = s2s_calloc(nn * nbest, sizeof(char *), err, "the translations")) ||
        !(r->score = s2s_calloc(nn * nbest, sizeof(double), err, "the scores")) ||
        (attention && !(r->att = s2s_calloc(nn * nbest, sizeof *r->att, err, "the attention weights")))) {
        s2s_translation_free(r);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)n * nbest; i++) r->score[i] = NAN;
    return r;
}

/* A call's workspace rows (for its largest batch, in powers of two so calls can share them)
 * and its threads (no more than batches). */
static void call_shape(const s2s_translator *t, const s2s_translate_options *o, int n, int *rows, int *threads) {
    int bsz = 1;
    while (bsz < o->batch && bsz < n) bsz *= 2;
    if (bsz > o->batch) bsz = o->batch;
    *rows = bsz * o->beam;
    int want = o->threads ? o->threads : t->threads, batches = (n + o->batch - 1) / o->batch;
    if (want > batches) want = batches;
    *threads = want < 1 ? 1 : want > MAX_CALL_THREADS ? MAX_CALL_THREADS : want;
}

int s2s_translator_prepare(s2s_translator *t, int n, const s2s_translate_options *opts, s2s_err *err) {
    if (!t) return BAD("translator_prepare: the translator is NULL");
    if (n < 1) return BAD("translator_prepare: %d sentences, want at least 1", n);
    s2s_translate_options o;
    s2s_translate_options_init(&o);
    int rc = s2s_api_options(&o, sizeof o, opts, "s2s_translate_options", err);
    if (rc || (rc = check_translate_options(t, &o, err))) return rc;
    int rows, want, got = 0;
    call_shape(t, &o, n, &rows, &want);
    pooled ws[MAX_CALL_THREADS];
    rc = pool_take(t, rows, 1, &ws[0], err);
    if (rc == S2S_OK) got = 1;
    while (rc == S2S_OK && got < want && pool_take(t, rows, 0, &ws[got], err) == S2S_OK && ws[got].ws[0]) got++;
    for (int i = 0; i < got; i++) pool_put(t, ws[i]);
    pthread_mutex_lock(&t->mu);
    start_helpers(t, got - 1);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int s2s_translate(s2s_translator *t, const char *const *sentences, int n, const s2s_translate_options *opts,
                  s2s_translation **out, s2s_err *err) {
    if (out) *out = NULL;
    if (!t || !out) return BAD("translate: %s is NULL", t ? "out" : "the translator");
    if (n < 0 || (n > 0 && !sentences)) return BAD("translate: %d sentences at %p", n, (const void *)sentences);
    for (int i = 0; i < n; i++)
        if (!sentences[i]) return BAD("translate: sentence %d is NULL", i + 1);
    job *j = s2s_calloc(1, sizeof *j, err, "a translation call");
    if (!j) return S2S_ERR;
    s2s_translate_options_init(&j->o);
    int rc = s2s_api_options(&j->o, sizeof j->o, opts, "s2s_translate_options", err);
    if (rc || (rc = check_translate_options(t, &j->o, err))) { free(j); return rc; }
    const s2s_translate_options *o = &j->o;
    const int T = t->m->cfg.num_steps;
    j->t = t; j->n = n; j->T = T;
    /* beam 1 is greedy decoding (the same tokens), and with scores greedy sums the
     * log-probabilities as a beam of one would; only a length ratio cut after decoding would
     * make those sums wrong, so that case keeps the beam search (as an ensemble does: its
     * steps are the search's) */
    j->greedy = o->beam == 1 && (!o->scores || !(o->max_len_ratio > 0)) && t->nm == 1;
    s2s_beam_opts_default(&j->bo);
    j->bo.beam = o->beam; j->bo.alpha = o->alpha; j->bo.nbest = o->nbest; j->bo.want_attn = o->attention;
    j->bo.max_len_ratio = o->max_len_ratio;
    /* max_len: as asked, else num_steps as d2l; with a ratio and no max_len, the ratio alone */
    j->bo.max_len = o->max_len ? o->max_len : o->max_len_ratio > 0 ? (int)ceil((double)o->max_len_ratio * T) : T;
    if (j->bo.max_len < 1) j->bo.max_len = 1;
    j->n_batches = (n + o->batch - 1) / o->batch;
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->next, 0);
    atomic_init(&j->failed, 0);

    int32_t *ids = s2s_malloc(sizeof(int32_t) * ((size_t)n + 1) * T, err, "the sentences' ids");
    int32_t *len = ids ? s2s_malloc(sizeof(int32_t) * ((size_t)n + 1), err, "the sentences' lengths") : NULL;
    len_idx *ord = len ? s2s_malloc(sizeof(len_idx) * ((size_t)n + 1), err, "the sentences' order") : NULL;
    char ***lab = ord && o->attention ? s2s_calloc((size_t)n + 1, sizeof(char **), err, "the attention labels") : NULL;
    worker *w = ord && (lab || !o->attention) ? s2s_calloc(MAX_CALL_THREADS, sizeof *w, err, "the call's threads") : NULL;
    j->res = w ? result_alloc(n, o->nbest, o->attention, err) : NULL;
    rc = j->res ? S2S_OK : S2S_ERR;
    for (int i = 0; i < n && rc == S2S_OK; i++) {
        rc = text_encode(t, sentences[i], i, ids + (size_t)i * T, &len[i], err);
        ord[i].len = len[i]; ord[i].i = i;
        if (rc == S2S_OK && lab && !(lab[i] = text_source_labels(t, sentences[i], len[i], err))) rc = S2S_ERR;
    }
    if (rc == S2S_OK && n > 0) {
        qsort(ord, (size_t)n, sizeof *ord, by_len);  /* similar lengths share a batch: less padding work */
        j->ids = ids; j->len = len; j->ord = ord; j->src_lab = lab;
        int rows, want;
        call_shape(t, o, n, &rows, &want);
        int nw = 0;
        rc = pool_take(t, rows, 1, &w[0].ws, err);
        if (rc == S2S_OK) nw = 1;
        while (rc == S2S_OK && nw < want) {  /* more threads only with workspaces to spare */
            s2s_err e2;
            if (pool_take(t, rows, 0, &w[nw].ws, &e2) || !w[nw].ws.ws[0]) break;
            nw++;
        }
        if (rc == S2S_OK) {
            for (int i = 0; i < nw; i++) w[i].j = j;
            run_workers(t, w, nw);
            for (int i = 0; i < nw; i++) pool_put(t, w[i].ws);
            if (j->status) {
                rc = j->status;
                if (err) snprintf(err->msg, sizeof err->msg, "%s", j->err.msg);
            }
        }
        if (rc == S2S_OK) rc = empty_sources(j->res, ids, len, n, T, err);
    }
    if (lab)
        for (int i = 0; i < n; i++) free(lab[i]);
    free(lab); free(ids); free(len); free(ord); free(w);
    pthread_mutex_destroy(&j->mu);
    if (rc == S2S_OK) *out = j->res;
    else s2s_translation_free(j->res);
    free(j);
    return rc;
}

/* ---- reading results ----------------------------------------------------------------------- */

int s2s_translation_count(const s2s_translation *r) { return r ? r->n : 0; }

int s2s_translation_hyps(const s2s_translation *r, int i) {
    return r && i >= 0 && i < r->n ? r->n_hyps[i] : 0;
}

const char *s2s_translation_text(const s2s_translation *r, int i, int k) {
    return r && i >= 0 && i < r->n && k >= 0 && k < r->n_hyps[i] ? r->text[(size_t)i * r->nbest + k] : NULL;
}

double s2s_translation_score(const s2s_translation *r, int i, int k) {
    return r && i >= 0 && i < r->n && k >= 0 && k < r->n_hyps[i] ? r->score[(size_t)i * r->nbest + k] : NAN;
}

/* Sentence i's hypothesis k's attention entry, or NULL. */
static const struct attn_res *attention_of(const s2s_translation *r, int i, int k) {
    if (!r || !r->att || i < 0 || i >= r->n || k < 0 || k >= r->n_hyps[i]) return NULL;
    return &r->att[(size_t)i * r->nbest + k];
}

const float *s2s_translation_hyp_attention(const s2s_translation *r, int i, int k, int *rows, int *cols) {
    const struct attn_res *a = attention_of(r, i, k);
    if (rows) *rows = a && a->w ? a->rows : 0;
    if (cols) *cols = a && a->w ? a->cols : 0;
    return a ? a->w : NULL;
}

const float *s2s_translation_attention(const s2s_translation *r, int i, int *rows, int *cols) {
    return s2s_translation_hyp_attention(r, i, 0, rows, cols);
}

const char *s2s_translation_source_token(const s2s_translation *r, int i, int col) {
    const struct attn_res *a = attention_of(r, i, 0);
    return a && a->src && col >= 0 && col < a->cols ? a->src[col] : NULL;
}

const char *s2s_translation_hyp_target_token(const s2s_translation *r, int i, int k, int row) {
    const struct attn_res *a = attention_of(r, i, k);
    return a && a->tgt && row >= 0 && row < a->rows ? a->tgt[row] : NULL;
}

const char *s2s_translation_target_token(const s2s_translation *r, int i, int row) {
    return s2s_translation_hyp_target_token(r, i, 0, row);
}

/* ---- scoring ------------------------------------------------------------------------------- */

double s2s_bleu_sentence(const char *pred, const char *label, int k) { return s2s_bleu_d2l(pred, label, k); }

int s2s_bleu_corpus_score(const char *const *hyps, const char *const *refs, int n, double *score, s2s_err *err) {
    s2s_corpus_bleu b;
    if (!score) return BAD("bleu: score is NULL");
    if (s2s_bleu_corpus(hyps, refs, n, S2S_TOK_13A, &b, NULL, 0, err)) return S2S_ERR_INPUT;
    *score = b.score;
    return S2S_OK;
}
