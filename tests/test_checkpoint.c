/* Model files: exact round trip, PyTorch-written models, and every kind of bad file answered
 * with an error that names the file and the problem (never a crash). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_checkpoint.h"
#include "s2s_safetensors.h"

static char dir[] = "/tmp/s2s-ckpt-XXXXXX";

/* A small trained-looking model with real vocabularies from the tiny corpus. */
static int make_model(s2s_attention kind, s2s_model **m, s2s_vocab **sv, s2s_vocab **tv) {
    s2s_err err;
    s2s_pairs p;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err) ||
        s2s_vocab_build(p.src_tok, p.src_start[p.n], 2, sv, &err) ||
        s2s_vocab_build(p.tgt_tok, p.tgt_start[p.n], 2, tv, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    s2s_config c = {kind, s2s_vocab_size(*sv), s2s_vocab_size(*tv), 5, 6, 2, 0.1f, 8, S2S_GRU, S2S_UNI, 0, 0};
    if (s2s_model_create(&c, m, &err)) return 1;
    s2s_rng r; s2s_rng_seed(&r, 11);
    s2s_model_init(*m, &r);
    s2s_pairs_free(&p);
    return 0;
}

static void greedy(const s2s_model *m, const s2s_vocab *sv, const char *sentence, int32_t *out, int *n) {
    s2s_ws *ws; s2s_err err;
    int32_t ids[64], len;
    s2s_ws_create(m, 1, m->cfg.num_steps, &ws, &err);
    len = s2s_encode_sentence(sv, sentence, m->cfg.num_steps, ids, &err);
    s2s_greedy(m, ws, 1, ids, &len, m->cfg.num_steps, out, n, NULL, &err);
    s2s_ws_free(ws);
}

static int test_round_trip(void) {
    for (int k = 0; k < 2; k++) {
        s2s_model *m, *m2; s2s_vocab *sv, *tv, *sv2, *tv2; s2s_err err;
        if (make_model(k ? S2S_NO_ATTENTION : S2S_BAHDANAU, &m, &sv, &tv)) { CHECK(0); return 0; }
        char path[128];
        snprintf(path, sizeof path, "%s/m%d.safetensors", dir, k);
        CHECK_MSG(s2s_model_save(path, m, sv, tv, &err) == 0, "%s", err.msg);
        CHECK_MSG(s2s_model_load(path, &m2, &sv2, &tv2, &err) == 0, "%s", err.msg);
        CHECK(m2->cfg.attention == m->cfg.attention && m2->cfg.embed == 5 && m2->cfg.hidden == 6 && m2->cfg.layers == 2);
        CHECK(m2->cfg.num_steps == 8 && m2->cfg.dropout == 0.1f && m2->n_params == m->n_params);
        CHECK(memcmp(m->params, m2->params, m->n_params * sizeof(float)) == 0);
        CHECK(s2s_vocab_size(sv2) == s2s_vocab_size(sv) && s2s_vocab_size(tv2) == s2s_vocab_size(tv));
        for (int i = 0; i < s2s_vocab_size(tv); i++) CHECK(!strcmp(s2s_vocab_token(tv, i), s2s_vocab_token(tv2, i)));
        const char *sents[] = {"go .", "i'm home .", "he's calm .", "zzz unknown words ."};
        for (int s = 0; s < 4; s++) {
            int32_t a[16], b[16]; int na, nb;
            greedy(m, sv, sents[s], a, &na);
            greedy(m2, sv2, sents[s], b, &nb);
            CHECK(na == nb && !memcmp(a, b, sizeof(int32_t) * na));
        }
        s2s_model_free(m); s2s_model_free(m2);
        s2s_vocab_free(sv); s2s_vocab_free(tv); s2s_vocab_free(sv2); s2s_vocab_free(tv2);
    }
    return 0;
}

static int expect_load_error(const char *path, const char *want) {
    s2s_model *m = NULL; s2s_vocab *sv = NULL, *tv = NULL; s2s_err err = {{0}};
    int rc = s2s_model_load(path, &m, &sv, &tv, &err);
    if (rc == 0) { s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv); fprintf(stderr, "  %s: loaded, want error /%s/\n", path, want); return 1; }
    if (!strstr(err.msg, want) || !strstr(err.msg, path) || strchr(err.msg, '\n')) {
        fprintf(stderr, "  %s: message \"%s\" lacks \"%s\" or the path\n", path, err.msg, want);
        return 1;
    }
    return 0;
}

static int test_every_truncation(void) {
    s2s_model *m; s2s_vocab *sv, *tv; s2s_err err;
    if (make_model(S2S_BAHDANAU, &m, &sv, &tv)) { CHECK(0); return 0; }
    char path[128], cut[128];
    snprintf(path, sizeof path, "%s/full.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    s2s_model_save(path, m, sv, tv, &err);
    char *data; size_t len;
    CHECK(s2s_read_file(path, &data, &len, &err) == 0);
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        FILE *f = fopen(cut, "wb");
        fwrite(data, 1, n, f); fclose(f);
        s2s_model *m2 = NULL; s2s_vocab *a = NULL, *b = NULL;
        if (s2s_model_load(cut, &m2, &a, &b, &err) == 0) { bad++; s2s_model_free(m2); s2s_vocab_free(a); s2s_vocab_free(b); }
        else if (!strstr(err.msg, cut)) bad++;
    }
    CHECK_MSG(bad == 0, "%d of %zu truncations loaded or gave a message without the path", bad, len);
    free(data);
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return 0;
}

/* Rewrites a good file with one change: drop tensor `drop`, add an extra tensor, change a
 * shape, a dtype, one metadata value, or make the last element of tensor `nan` a NaN. */
typedef struct { const char *drop, *extra, *reshape, *retype, *meta_key, *meta_val, *nan; } edit;
static void write_edited(const char *good, const char *out, edit e) {
    s2s_st_file *f; s2s_err err;
    if (s2s_st_read(good, &f, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    int n = s2s_st_count(f), k = 0;
    s2s_tensor ts[64];
    static double f64[4096];
    for (int i = 0; i < n; i++) {
        s2s_tensor t = *s2s_st_get(f, i);
        if (e.drop && !strcmp(t.name, e.drop)) continue;
        if (e.reshape && !strcmp(t.name, e.reshape)) { t.shape[0] = 1; t.shape[1] = (int64_t)(t.nbytes / 4); }
        if (e.retype && !strcmp(t.name, e.retype)) {
            for (size_t j = 0; j < t.nbytes / 4; j++) f64[j] = ((const float *)t.data)[j];
            t.dtype = S2S_F64; t.data = f64; t.nbytes *= 2;
        }
        static float copy[4096];
        if (e.nan && !strcmp(t.name, e.nan) && t.nbytes <= sizeof copy) {
            memcpy(copy, t.data, t.nbytes);
            copy[t.nbytes / 4 - 1] = NAN;
            t.data = copy;
        }
        ts[k++] = t;
    }
    static float zero[8];
    if (e.extra) ts[k++] = (s2s_tensor){e.extra, S2S_F32, 1, {8}, zero, sizeof zero};
    const char *keys[32], *vals[32];
    int nm = s2s_st_meta_count(f), km = 0;
    for (int i = 0; i < nm; i++) {
        s2s_st_meta_at(f, i, &keys[km], &vals[km]);
        if (e.meta_key && !strcmp(keys[km], e.meta_key)) { if (!e.meta_val) continue; vals[km] = e.meta_val; }
        km++;
    }
    if (s2s_st_write(out, ts, k, keys, vals, km, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    s2s_st_free(f);
}

static int test_bad_files(void) {
    s2s_model *m; s2s_vocab *sv, *tv; s2s_err err;
    if (make_model(S2S_BAHDANAU, &m, &sv, &tv)) { CHECK(0); return 0; }
    char good[128], bad[128];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    s2s_model_save(good, m, sv, tv, &err);
    struct { edit e; const char *want; } cases[] = {
        {{.drop = "decoder.attention.W_q.weight"}, "tensor decoder.attention.W_q.weight is missing"},
        {{.extra = "decoder.bogus"}, "unexpected tensor decoder.bogus"},
        {{.reshape = "decoder.rnn.weight_hh_l1"}, "decoder.rnn.weight_hh_l1 has shape [1,108], expected [18,6]"},
        {{.retype = "decoder.dense.bias"}, "decoder.dense.bias is F64, expected F32"},
        {{.meta_key = "format", .meta_val = "gguf"}, "not a seq2seq model"},
        {{.meta_key = "format"}, "not a seq2seq model"},
        {{.meta_key = "format_version", .meta_val = "7"}, "format version 7 is newer"},
        {{.meta_key = "model", .meta_val = "transformer"}, "\"model\" must be attn or plain"},
        {{.meta_key = "hidden", .meta_val = "six"}, "\"hidden\" = \"six\" is not a whole number"},
        /* strtol would take these; a value must read back as written, and messages stay on one line */
        {{.meta_key = "hidden", .meta_val = "\n6"}, "\"hidden\" = \"\\x0a6\" is not a whole number"},
        {{.meta_key = "hidden", .meta_val = "+6"}, "\"hidden\" = \"+6\" is not a whole number"},
        {{.meta_key = "attention", .meta_val = "bahdanau\x1b[2J"}, "\"attention\" is \"bahdanau\\x1b[2J\"; this"},
        {{.meta_key = "dropout", .meta_val = "\r0.5x"}, "\"dropout\" = \"\\x0d0.5x\" is not in [0, 1)"},
        {{.meta_key = "format", .meta_val = "seq2seq\t"}, "(metadata \"format\" is \"seq2seq\\x09\")"},
        {{.meta_key = "hidden", .meta_val = "7"}, "expected [21"},
        {{.meta_key = "layers", .meta_val = "99"}, "\"layers\" = \"99\""},
        {{.meta_key = "dropout", .meta_val = "2"}, "\"dropout\" = \"2\" is not in [0, 1)"},
        {{.meta_key = "src_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"a\"]"}, "encoder.embedding.weight has shape"},
        {{.meta_key = "tgt_vocab", .meta_val = "{\"a\": 1}"}, "\"tgt_vocab\" is not a JSON array"},
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",3]"}, "tgt_vocab[4] is not a string"},
        {{.meta_key = "src_vocab", .meta_val = "[\"a\",\"b\",\"c\",\"d\"]"}, "src_vocab"},
        {{.meta_key = "src_vocab"}, "metadata has no \"src_vocab\""},
        /* tokens are printed one line per sentence: none may break a line, reach the terminal as
         * an escape sequence, be cut at a NUL, be empty or come twice */
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"a\\nb\"]"},
         "tgt_vocab: vocabulary: token 4 (\"a\\x0ab\") holds the control character U+000A"},
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"\\u001b[2J\"]"},
         "holds the control character U+001B"},
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"x\\u0085\"]"},
         "holds the control character U+0085"},
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"a\\u0000b\"]"},
         "tgt_vocab holds a token with an escaped NUL"},
        {{.meta_key = "tgt_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"a\\\\u0000b\",\"\"]"},
         "token 5 is empty"},  /* an escaped backslash before u0000 is text, not a NUL */
        {{.meta_key = "src_vocab", .meta_val = "[\"<unk>\",\"<pad>\",\"<bos>\",\"<eos>\",\"go\",\"go\"]"},
         "token \"go\" appears twice (ids 4 and 5)"},
        /* a text pipeline this program does not have is refused, not run as d2l's */
        {{.meta_key = "preprocess", .meta_val = "sentencepiece-v9"},
         "\"preprocess\" is \"sentencepiece-v9\", a text pipeline this program does not have (known: d2l-nmt, sentencepiece)"},
        {{.meta_key = "preprocess"}, "metadata has no \"preprocess\" (known: d2l-nmt, sentencepiece)"},
        {{.nan = "decoder.dense.bias"}, "tensor decoder.dense.bias holds a NaN value at element"},
        /* a small file can claim a huge model: named, before anything that size is allocated */
        {{.meta_key = "hidden", .meta_val = "65536"}, "claims embed 5, hidden 65536, layers 2 and vocabularies of"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_edited(good, bad, cases[i].e);
        CHECK_MSG(expect_load_error(bad, cases[i].want) == 0, "case %zu", i);
    }
    CHECK(expect_load_error("tests/data/tiny.tsv", "tests/data/tiny.tsv") == 0);
    CHECK(expect_load_error("/nonexistent/model.safetensors", "cannot open") == 0);
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return 0;
}

/* A model trained and saved by PyTorch (tools/d2l_ref.py, d2l's modules) translates in C as it
 * did in PyTorch: tests/fixtures/torch_tiny_attn.expected.tsv holds PyTorch's greedy outputs. */
static int test_pytorch_model(void) {
    s2s_model *m; s2s_vocab *sv, *tv; s2s_err err;
    if (s2s_model_load("tests/fixtures/torch_tiny_attn.safetensors", &m, &sv, &tv, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    FILE *f = fopen("tests/fixtures/torch_tiny_attn.expected.tsv", "r");
    if (!f) { CHECK(0); return 0; }
    char line[1024];
    int n = 0, same = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        int32_t out[64]; int no;
        greedy(m, sv, line, out, &no);
        char got[1024] = "", *p = got;
        for (int k = 0; k < no; k++) p += sprintf(p, k ? " %s" : "%s", s2s_vocab_token(tv, out[k]));
        n++;
        if (!strcmp(got, tab + 1)) same++;
        else fprintf(stderr, "  %s: C \"%s\", PyTorch \"%s\"\n", line, got, tab + 1);
    }
    fclose(f);
    CHECK(n >= 40);
    CHECK(same == n);
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv);
    return 0;
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    RUN(test_round_trip);
    RUN(test_every_truncation);
    RUN(test_bad_files);
    RUN(test_pytorch_model);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    TEST_END();
}
