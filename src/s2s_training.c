/* The training handle of the public API (seq2seq.h): `seq2seq train`'s pipeline without its
 * validation, early stopping and resume (pairs -> tokenizers (d2l's vocabularies with min_freq 2,
 * or SentencePiece's) -> dataset -> initialisation from the seed -> the trainer), one epoch per
 * call. The same options, seed
 * and threads give the program's numbers to the last digit. */
#include <stdlib.h>
#include <string.h>

#include "seq2seq.h"
#include "s2s_api.h"
#include "s2s_checkpoint.h"
#include "s2s_model.h"
#include "s2s_text.h"
#include "s2s_tok.h"
#include "s2s_train.h"

struct s2s_training {
    s2s_pairs pairs;
    s2s_tok *sv, *tv;
    s2s_dataset data;
    s2s_model *m;
    s2s_trainer *tr;
};

void s2s_train_options_init(s2s_train_options *o) {
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->pairs = 601;
    o->model = "attn";
    o->embed = 32; o->hidden = 32; o->layers = 2;
    o->dropout = 0.1f;
    o->num_steps = 10;
    o->batch = 64;
    o->lr = 0.005f;
    o->seed = 1;
    o->threads = 1;
    o->tokenizer = "d2l";
    o->vocab_size = 8000;
    o->spm_type = "unigram";
    o->character_coverage = 1.0;
    o->lr_schedule = "constant";
    o->clip = 1.0f;
}

#define BAD(...) S2S_BAD(err, __VA_ARGS__)

/* The program's ranges for the same options (cli/train.c), and the model's configuration in *c
 * (its vocabulary sizes are the corpus', set later). */
static int check_train_options(const s2s_train_options *o, s2s_config *c, s2s_err *err) {
    if (!o->data == !(o->src || o->tgt)) return BAD("training: give either data (a pairs file) or src and tgt");
    if (!o->data && !(o->src && o->tgt)) return BAD("training: src and tgt go together");
    if (!o->model || (strcmp(o->model, "attn") && strcmp(o->model, "plain")))
        return BAD("training: model '%s' is not attn or plain", o->model ? o->model : "(null)");
    const struct { const char *name; long v, lo, hi; } r[] = {
        {"pairs", o->pairs, 0, 1000000000}, {"embed", o->embed, 1, 65536}, {"hidden", o->hidden, 1, 65536},
        {"layers", o->layers, 1, S2S_MAX_LAYERS}, {"num_steps", o->num_steps, 1, S2S_MAX_STEPS},
        {"batch", o->batch, 1, 1000000}, {"threads", o->threads, 1, S2S_MAX_SHARDS},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return BAD("training: %s %ld is out of range (%ld..%ld)", r[i].name, r[i].v, r[i].lo, r[i].hi);
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f)) return BAD("training: dropout %g is not in [0, 1)", (double)o->dropout);
    if (!(o->lr >= 0.0f && o->lr <= 1e3f)) return BAD("training: lr %g is out of range (0..1000)", (double)o->lr);
    *c = s2s_config_d2l(4, 4);
    c->attention = strcmp(o->model, "attn") ? S2S_NO_ATTENTION : S2S_BAHDANAU;
    c->embed = o->embed; c->hidden = o->hidden; c->layers = o->layers; c->dropout = o->dropout;
    c->num_steps = o->num_steps;
    /* the families: attention, when given, decides the decoder (model is d2l's spelling of it) */
    if (o->attention && s2s_attention_parse(o->attention, &c->attention))
        return BAD("training: attention '%s' is not bahdanau, luong-dot, luong-general or none", o->attention);
    if (o->attention && !strcmp(o->model, "plain") && c->attention != S2S_NO_ATTENTION)
        return BAD("training: model plain and attention %s disagree (plain is attention none)", o->attention);
    if (o->cell && s2s_cell_parse(o->cell, &c->cell)) return BAD("training: cell '%s' is not gru or lstm", o->cell);
    if (o->encoder && s2s_encoder_parse(o->encoder, &c->encoder))
        return BAD("training: encoder '%s' is not uni or bi", o->encoder);
    c->input_feed = o->input_feed;
    c->tie_embeddings = o->tie_embeddings;
    s2s_err e;
    if (s2s_config_check(c, &e)) return BAD("training: %s", e.msg);
    return S2S_OK;
}

/* The tokenizer options as the program checks them (cli/train.c), into *t. */
/* The recipe's options, into the trainer's (as the program's --batch-tokens etc.). */
static int check_recipe_options(const s2s_train_options *o, s2s_train_opts *to, s2s_err *err) {
    s2s_lr_schedule sc;
    if (!o->lr_schedule || s2s_lr_schedule_parse(o->lr_schedule, &sc) || sc == S2S_LR_PLATEAU ||
        sc == S2S_LR_LINEAR)  /* their factors are driven by the program (cli/train.c) */
        return BAD("training: lr_schedule '%s' is not constant or inverse-sqrt", o->lr_schedule ? o->lr_schedule : "(null)");
    if (o->max_len < 0 || o->max_len > S2S_MAX_STEPS - 1 || (o->max_len && o->num_steps < o->max_len + 1))
        return BAD("training: max_len %d needs num_steps of at least max_len + 1 (num_steps is %d)", o->max_len, o->num_steps);
    if (o->batch_tokens < 0 || o->batch_tokens > 1000000 || (o->batch_tokens && o->batch_tokens < o->num_steps))
        return BAD("training: batch_tokens %d is out of range (0, or num_steps %d .. 1000000)", o->batch_tokens, o->num_steps);
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing < 1.0f))
        return BAD("training: label_smoothing %g is not in [0, 1)", (double)o->label_smoothing);
    if (o->warmup < 0 || (sc == S2S_LR_INVSQRT && o->warmup < 1))
        return BAD("training: warmup %d: at least 0, and 1 for inverse-sqrt", o->warmup);
    if (!(o->clip > 0.0f && o->clip <= 1e9f)) return BAD("training: clip %g is out of range (0..1e9]", (double)o->clip);
    s2s_gemm_kind g;
    int rc = s2s_api_gemm(o->gemm, "training", &g, err);
    if (rc) return rc;
    *to = (s2s_train_opts){.batch = o->batch, .lr = o->lr, .clip = o->clip, .threads = o->threads,
                           .batch_tokens = o->batch_tokens, .smoothing = o->label_smoothing, .schedule = sc,
                           .warmup = o->warmup, .gemm = g};
    return S2S_OK;
}

static int check_tokenizer_options(const s2s_train_options *o, s2s_tok_train_opts *t, s2s_err *err) {
    if (!o->tokenizer || (strcmp(o->tokenizer, "d2l") && strcmp(o->tokenizer, "spm")))
        return BAD("training: tokenizer '%s' is not d2l or spm", o->tokenizer ? o->tokenizer : "(null)");
    if (!o->spm_type || (strcmp(o->spm_type, "unigram") && strcmp(o->spm_type, "bpe")))
        return BAD("training: spm_type '%s' is not unigram or bpe", o->spm_type ? o->spm_type : "(null)");
    if (o->vocab_size < 8 || o->vocab_size > 1000000)
        return BAD("training: vocab_size %d is out of range (8..1000000)", o->vocab_size);
    if (!(o->character_coverage >= 0.98 && o->character_coverage <= 1.0))
        return BAD("training: character_coverage %g is out of range (0.98..1)", o->character_coverage);
    const int spm = !strcmp(o->tokenizer, "spm");
    if (!spm && (o->spm_model || o->spm_src || o->spm_tgt || o->spm_joint))
        return BAD("training: SentencePiece options (spm_model, spm_src, spm_tgt, spm_joint) go with "
                   "tokenizer \"spm\"");
    if (o->spm_model && (o->spm_src || o->spm_tgt))
        return BAD("training: give either spm_model or spm_src/spm_tgt");
    if (!o->spm_src != !o->spm_tgt) return BAD("training: spm_src and spm_tgt go together");
    *t = (s2s_tok_train_opts){spm, {strcmp(o->spm_type, "bpe") ? S2S_SPM_UNIGRAM : S2S_SPM_BPE, o->vocab_size,
                                    o->character_coverage, S2S_SPM_TRAIN_THREADS},
                              o->spm_joint != 0, o->spm_model, o->spm_src, o->spm_tgt};
    return S2S_OK;
}

int s2s_training_open(const s2s_train_options *opts, s2s_training **out, s2s_err *err) {
    if (!out) return BAD("training_open: out is NULL");
    *out = NULL;
    s2s_train_options o;
    s2s_train_options_init(&o);
    s2s_config c;
    s2s_tok_train_opts tok;
    s2s_train_opts to;
    int rc = s2s_api_options(&o, sizeof o, opts, "s2s_train_options", err);
    if (rc || (rc = check_train_options(&o, &c, err)) || (rc = check_tokenizer_options(&o, &tok, err)) ||
        (rc = check_recipe_options(&o, &to, err)))
        return rc;
    s2s_api_blas_once();
    s2s_training *t = s2s_calloc(1, sizeof *t, err, "the training run");
    if (!t) return S2S_ERR;
    rc = S2S_ERR;
    const s2s_text_mode mode = tok.spm ? S2S_TEXT_RAW : S2S_TEXT_D2L;
    if (o.data ? s2s_pairs_read_as(o.data, o.pairs, mode, &t->pairs, err)
               : s2s_pairs_read2_as(o.src, o.tgt, o.pairs, mode, &t->pairs, err)) {
        rc = S2S_ERR_INPUT;  /* the corpus: missing, not UTF-8, no pairs */
        goto fail;
    }
    if (s2s_tok_for_training(&t->pairs, &tok, &t->sv, &t->tv, err)) {
        if (tok.model || tok.src_model) rc = S2S_ERR_INPUT;  /* the caller's SentencePiece model files */
        goto fail;
    }
    if (s2s_dataset_for(&t->pairs, t->sv, t->tv, o.num_steps, &t->data, NULL, err)) goto fail;
    if (o.max_len && s2s_dataset_drop_long(&t->data, o.max_len) && t->data.n == 0) {
        rc = BAD("training: max_len %d: no training pair is that short", o.max_len);
        goto fail;
    }
    c.src_vocab = s2s_vocab_size(s2s_tok_vocab(t->sv));
    c.tgt_vocab = s2s_vocab_size(s2s_tok_vocab(t->tv));
    double need, have;
    const char *bound;
    char nb[32], hb[32];
    s2s_memory_limit(&bound);
    if (!s2s_trainer_fits_opts(&c, &to, t->data.n, &need, &have)) {
        rc = BAD("training: this configuration needs %s of memory (parameters, gradients, Adam moments and "
                 "one batch's activations), and %s %s; lower batch, hidden, embed, num_steps or pairs",
                 s2s_bytes_shown(need, nb), bound, s2s_bytes_shown(have, hb));
        goto fail;
    }
    s2s_rng rng;
    s2s_rng_seed(&rng, o.seed);
    if (s2s_model_create(&c, &t->m, err)) goto fail;
    s2s_model_init(t->m, &rng);
    if (s2s_trainer_create(t->m, &t->data, &to, &rng, &t->tr, err)) goto fail;
    *out = t;
    return S2S_OK;
fail:
    s2s_training_close(t);
    return rc;
}

void s2s_training_close(s2s_training *t) {
    if (!t) return;
    s2s_trainer_free(t->tr);
    s2s_model_free(t->m);
    s2s_dataset_free(&t->data);
    s2s_tok_free(t->sv); s2s_tok_free(t->tv);
    s2s_pairs_free(&t->pairs);
    free(t);
}

typedef struct hook {
    s2s_train_callback cb;
    void *ctx;
    int pairs;  /* the training pairs (an epoch's total) */
} hook;

static s2s_train_progress progress_of(const s2s_trainer *tr, int epoch, int pairs) {
    double loss, tokens, seconds;
    s2s_trainer_epoch_sums(tr, &loss, &tokens, &seconds);
    return (s2s_train_progress){epoch, s2s_trainer_position(tr), pairs, tokens > 0 ? loss / tokens : 0.0, tokens,
                                seconds};
}

static int on_batch(void *ctx, const s2s_trainer *tr) {
    const hook *h = ctx;
    s2s_train_progress p = progress_of(tr, s2s_trainer_epochs_done(tr) + 1, h->pairs);
    return h->cb(h->ctx, &p);
}

int s2s_training_epoch(s2s_training *t, s2s_train_callback cb, void *ctx, s2s_train_progress *out, s2s_err *err) {
    if (!t) return BAD("training_epoch: the training run is NULL");
    hook h = {cb, ctx, t->data.n};
    s2s_trainer_set_on_batch(t->tr, cb ? on_batch : NULL, &h);
    s2s_epoch_stats st;  /* every OpenMP region of the epoch takes the run's threads (s2s_train_opts) */
    int rc = s2s_trainer_epoch(t->tr, &st, NULL, err);
    s2s_trainer_set_on_batch(t->tr, NULL, NULL);
    if (rc) return S2S_ERR;
    if (out) {  /* a complete epoch has moved the trainer to the next one, with pos back at 0 */
        *out = progress_of(t->tr, s2s_trainer_epochs_done(t->tr) + !st.complete, t->data.n);
        if (st.complete) out->done = out->total;
        out->loss = st.loss; out->tokens = st.tokens; out->seconds = st.seconds;
    }
    return S2S_OK;
}

int s2s_training_save(const s2s_training *t, const char *path, s2s_err *err) {
    if (!t || !path) return BAD("training_save: %s is NULL", t ? "path" : "the training run");
    return s2s_model_save_tok(path, t->m, t->sv, t->tv, err);
}

int s2s_training_epochs(const s2s_training *t) { return t ? s2s_trainer_epochs_done(t->tr) : 0; }
int s2s_training_pairs(const s2s_training *t) { return t ? t->data.n : 0; }
int s2s_training_vocab_size(const s2s_training *t, int side) {
    const s2s_tok *k = !t ? NULL : side == 0 ? t->sv : side == 1 ? t->tv : NULL;
    return k ? s2s_vocab_size(s2s_tok_vocab(k)) : 0;
}
long long s2s_training_parameters(const s2s_training *t) { return t ? (long long)t->m->n_params : 0; }
