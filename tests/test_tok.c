/* Tokenizers (s2s_tok.h): d2l's is the d2l pipeline unchanged; SentencePiece models trained on
 * the tiny corpus (deterministic: trained here, twice) encode and decode cased text, map any
 * spm_train model's ids (tests/fixtures/spm_foreign.model: spm_train's own ids <unk>=0 <s>=1
 * </s>=2, no <pad>, a user-defined piece, byte fallback, identity normalisation; made with
 * `spm_train --input=<both sides of tiny.tsv> --model_prefix=spm_foreign --vocab_size=320
 * --model_type=bpe --normalization_rule_name=identity --character_coverage=1.0
 * --byte_fallback=true --user_defined_symbols='<sep>'`), travel inside model files, and turn
 * every bad input (unseen characters, empty and very long lines, invalid UTF-8, corrupt or
 * foreign models in a file) into ids or a one-line error. */
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_checkpoint.h"
#include "s2s_safetensors.h"
#include "s2s_tok.h"

static char dir[] = "/tmp/s2s-tok-XXXXXX";

/* The raw sides of the tiny corpus: side[0] English, side[1] French. */
static s2s_pairs raw;
static const char **side[2];

static int load_raw(void) {
    s2s_err err;
    if (s2s_pairs_read_as("tests/data/tiny.tsv", 0, S2S_TEXT_RAW, &raw, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int s = 0; s < 2; s++) {
        side[s] = malloc(sizeof(char *) * (size_t)raw.n);
        for (int i = 0; i < raw.n; i++) side[s][i] = (s ? raw.tgt_tok[raw.tgt_start[i]] : raw.src_tok[raw.src_start[i]]);
    }
    return 0;
}

static s2s_spm_train_opts small = {S2S_SPM_UNIGRAM, 100, 1.0, 4};

static s2s_tok *train_side(int s, s2s_spm_train_opts o) {
    s2s_tok *t;
    s2s_err err;
    if (s2s_tok_spm_train(side[s], (size_t)raw.n, &o, &t, &err)) { fprintf(stderr, "  %s\n", err.msg); return NULL; }
    return t;
}

/* Text with every run of Unicode spaces (U+0020, U+00A0, U+202F) as one ASCII space: what
 * NFKC and SentencePiece's whitespace handling make of it. */
static void squash_spaces(const char *s, char *o) {
    int sp = 0;
    for (; *s; s++) {
        int w = *s == ' ' ? 1 : !strncmp(s, "\xc2\xa0", 2) ? 2 : !strncmp(s, "\xe2\x80\xaf", 3) ? 3 : 0;
        if (w) { sp = 1; s += w - 1; continue; }
        if (sp) *o++ = ' ';
        sp = 0;
        *o++ = *s;
    }
    *o = 0;
}

/* ---- d2l: the same ids, tokens and text as the d2l pipeline -------------------------------- */

static int test_d2l_is_the_pipeline(void) {
    s2s_err err;
    s2s_pairs p;
    s2s_vocab *sv;
    s2s_tok *t;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err) || s2s_vocab_build(p.src_tok, p.src_start[p.n], 1, &sv, &err) ||
        s2s_tok_d2l_new(sv, &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(!strcmp(s2s_tok_name(t), "d2l") && s2s_tok_text_mode(t) == S2S_TEXT_D2L);
    const char *sents[] = {"Go.", "I'm home.", "i'm home .", "He's calm!\n", "zzz unknown, words?", "", "a  b",
                           "Ünïcödé İstanbul ΣΑΣ."};
    for (int k = 0; k < 8; k++) {
        int32_t a[12], b[12];
        int va = s2s_encode_sentence(s2s_tok_vocab(t), sents[k], 12, a, &err);
        int vb = s2s_tok_encode_row(t, sents[k], 12, b, &err);
        CHECK(va == vb && !memcmp(a, b, sizeof a));
        /* the pieces are the preprocessed words, one per id */
        char **pc, *pre;
        int np;
        size_t plen;
        int32_t ids[64];
        int n = s2s_tok_encode(t, sents[k], strlen(sents[k]), ids, 64, &err);
        CHECK(s2s_tok_pieces(t, sents[k], strlen(sents[k]), &pc, &np, &err) == S2S_OK && np == n);
        s2s_preprocess(sents[k], strcspn(sents[k], "\n"), NULL, &pre, &plen, &err);
        for (int i = 0; i < np && i < 64; i++) CHECK(ids[i] == s2s_vocab_id(s2s_tok_vocab(t), pc[i]));
        /* joining the pieces with spaces gives the preprocessed text back */
        char joined[256] = "";
        for (int i = 0; i < np; i++) { if (i) strcat(joined, " "); strcat(joined, pc[i]); }
        CHECK_MSG(!strcmp(joined, pre), "\"%s\" vs \"%s\"", joined, pre);
        free(pc); free(pre);
    }
    /* decoding joins the tokens with single spaces, as d2l's ' '.join */
    int32_t ids[4] = {4, 5, S2S_UNK, 6};
    char *txt = s2s_tok_decode(t, ids, 4, &err);
    char want[256];
    snprintf(want, sizeof want, "%s %s <unk> %s", s2s_vocab_token(sv, 4), s2s_vocab_token(sv, 5), s2s_vocab_token(sv, 6));
    CHECK(txt && !strcmp(txt, want));
    free(txt);
    /* invalid UTF-8 is the pipeline's one-line error */
    CHECK(s2s_tok_encode(t, "caf\xe9", 4, ids, 4, &err) == S2S_ERR && strstr(err.msg, "invalid UTF-8"));
    s2s_tok *c;
    CHECK(s2s_tok_clone(t, &c, &err) == S2S_OK && s2s_tok_size(c) == s2s_tok_size(t));
    s2s_tok_free(c);
    s2s_tok_free(t);
    s2s_pairs_free(&p);
    return 0;
}

/* A d2l model saved through the tokenizer interface is byte for byte the file s2s_model_save
 * writes (no new keys), and loads back as d2l. */
static int test_d2l_file_unchanged(void) {
    s2s_err err;
    s2s_pairs p;
    s2s_vocab *sv, *tv, *sv2, *tv2;
    s2s_tok *st, *tt;
    s2s_model *m, *m2;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &p, &err) || s2s_vocab_build(p.src_tok, p.src_start[p.n], 2, &sv, &err) ||
        s2s_vocab_build(p.tgt_tok, p.tgt_start[p.n], 2, &tv, &err) || s2s_vocab_build(p.src_tok, p.src_start[p.n], 2, &sv2, &err) ||
        s2s_vocab_build(p.tgt_tok, p.tgt_start[p.n], 2, &tv2, &err) || s2s_tok_d2l_new(sv2, &st, &err) ||
        s2s_tok_d2l_new(tv2, &tt, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    s2s_config c = s2s_config_d2l(s2s_vocab_size(sv), s2s_vocab_size(tv));
    c.embed = 4; c.hidden = 5; c.layers = 1; c.num_steps = 6;
    s2s_rng r;
    s2s_rng_seed(&r, 3);
    s2s_model_create(&c, &m, &err);
    s2s_model_init(m, &r);
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/d2l_a.safetensors", dir);
    snprintf(b, sizeof b, "%s/d2l_b.safetensors", dir);
    CHECK_MSG(s2s_model_save(a, m, sv, tv, &err) == S2S_OK, "%s", err.msg);
    CHECK_MSG(s2s_model_save_tok(b, m, st, tt, &err) == S2S_OK, "%s", err.msg);
    char *da = NULL, *db = NULL;
    size_t na, nb;
    CHECK(!s2s_read_file(a, &da, &na, &err) && !s2s_read_file(b, &db, &nb, &err) && na == nb && !memcmp(da, db, na));
    free(da); free(db);
    s2s_tok *ls, *lt;
    CHECK_MSG(s2s_model_load_tok(b, &m2, &ls, &lt, &err) == S2S_OK, "%s", err.msg);
    if (m2) {
        CHECK(!strcmp(s2s_tok_name(ls), "d2l") && s2s_tok_size(lt) == s2s_vocab_size(tv));
        s2s_model_free(m2); s2s_tok_free(ls); s2s_tok_free(lt);
    }
    /* the PyTorch-written fixture (no "tokenizer" key) is a d2l model */
    CHECK_MSG(s2s_model_load_tok("tests/fixtures/torch_tiny_attn.safetensors", &m2, &ls, &lt, &err) == S2S_OK, "%s", err.msg);
    if (m2) { CHECK(!strcmp(s2s_tok_name(ls), "d2l")); s2s_model_free(m2); s2s_tok_free(ls); s2s_tok_free(lt); }
    s2s_model_free(m); s2s_vocab_free(sv); s2s_vocab_free(tv); s2s_tok_free(st); s2s_tok_free(tt);
    s2s_pairs_free(&p);
    return 0;
}

/* ---- SentencePiece ------------------------------------------------------------------------ */

/* Training twice gives the same model bytes; the reserved ids are ours and the vocabulary is
 * SentencePiece's pieces in id order. */
static int test_spm_train(void) {
    s2s_err err;
    char *p1, *p2;
    size_t n1, n2;
    CHECK_MSG(s2s_spm_train(side[1], (size_t)raw.n, &small, &p1, &n1, &err) == S2S_OK, "%s", err.msg);
    CHECK_MSG(s2s_spm_train(side[1], (size_t)raw.n, &small, &p2, &n2, &err) == S2S_OK, "%s", err.msg);
    CHECK(n1 == n2 && n1 > 0 && !memcmp(p1, p2, n1));
    s2s_spm *sp;
    CHECK_MSG(s2s_spm_load(p1, n1, &sp, &err) == S2S_OK, "%s", err.msg);
    s2s_tok *t;
    CHECK_MSG(s2s_tok_spm_new(p1, n1, "model", &t, &err) == S2S_OK, "%s", err.msg);
    const char *names[4] = {"<unk>", "<pad>", "<bos>", "<eos>"};
    size_t len;
    for (int i = 0; i < 4; i++) CHECK(!strcmp(s2s_spm_piece(sp, i, &len), names[i]));
    CHECK(s2s_spm_unk(sp) == 0 && s2s_spm_kind_of(sp, 0) == S2S_SPM_UNKNOWN && s2s_spm_kind_of(sp, 3) == S2S_SPM_CONTROL);
    const s2s_vocab *v = s2s_tok_vocab(t);
    CHECK(s2s_vocab_size(v) == s2s_spm_size(sp) && s2s_tok_size(t) == s2s_spm_size(sp));
    CHECK(s2s_spm_size(sp) > 20 && s2s_spm_size(sp) <= 100);
    for (int i = 0; i < s2s_vocab_size(v); i++) CHECK(!strcmp(s2s_vocab_token(v, i), s2s_spm_piece(sp, i, &len)));
    CHECK(!strcmp(s2s_tok_name(t), "spm") && s2s_tok_text_mode(t) == S2S_TEXT_RAW);
    /* bpe trains too, and a vocabulary larger than the corpus allows is an upper bound */
    s2s_tok *b = train_side(0, (s2s_spm_train_opts){S2S_SPM_BPE, 8000, 1.0, 4});
    CHECK(b && s2s_tok_size(b) > 20 && s2s_tok_size(b) < 8000);
    s2s_tok_free(b);
    /* a corpus without text is the trainer's error, not a crash */
    const char *empty[2] = {"", ""};
    CHECK(s2s_tok_spm_train(empty, 2, &small, &b, &err) == S2S_ERR && b == NULL && !strncmp(err.msg, "SentencePiece", 13));
    free(p1); free(p2);
    s2s_spm_free(sp);
    s2s_tok_free(t);
    return 0;
}

/* Every French sentence comes back cased and detokenized (spaces normalised by NFKC). */
static int test_spm_round_trip(void) {
    s2s_tok *t = train_side(1, small);
    if (!t) { CHECK(0); return 0; }
    s2s_err err;
    for (int i = 0; i < raw.n; i++) {
        int32_t ids[64];
        int n = s2s_tok_encode(t, side[1][i], strlen(side[1][i]), ids, 64, &err);
        CHECK(n > 0 && n <= 64);
        for (int k = 0; k < n; k++) CHECK(ids[k] > S2S_EOS);  /* every character was seen */
        char *back = s2s_tok_decode(t, ids, n, &err), want[256];
        squash_spaces(side[1][i], want);
        CHECK_MSG(back && !strcmp(back, want), "\"%s\" came back as \"%s\"", want, back ? back : err.msg);
        char **pc;
        int np;
        CHECK(s2s_tok_pieces(t, side[1][i], strlen(side[1][i]), &pc, &np, &err) == S2S_OK && np == n);
        for (int k = 0; k < np && k < n; k++) CHECK(!strcmp(pc[k], s2s_vocab_token(s2s_tok_vocab(t), ids[k])));
        free(pc);
        free(back);
    }
    /* <pad> <bos> <eos> print nothing; the capitals stay */
    int32_t ids[64];
    int n = s2s_tok_encode(t, "Je suis calme.", 14, ids, 60, &err);
    memmove(ids + 2, ids, sizeof(int32_t) * (size_t)n);
    ids[0] = S2S_BOS; ids[1] = S2S_PAD; ids[n + 2] = S2S_EOS;
    char *txt = s2s_tok_decode(t, ids, n + 3, &err);
    CHECK_MSG(txt && !strcmp(txt, "Je suis calme."), "%s", txt ? txt : err.msg);
    free(txt);
    /* an id outside the vocabulary is an error, not a read out of bounds */
    ids[0] = 1 << 20;
    CHECK(s2s_tok_decode(t, ids, 1, &err) == NULL && strstr(err.msg, "outside the vocabulary"));
    s2s_tok_free(t);
    return 0;
}

/* Unseen characters, empty and very long lines, invalid UTF-8, a trailing newline. */
static int test_spm_bad_input(void) {
    s2s_tok *t = train_side(1, small);
    if (!t) { CHECK(0); return 0; }
    s2s_err err;
    int32_t ids[16];
    /* characters never seen: <unk>, decoded as SentencePiece's " ⁇ " */
    int n = s2s_tok_encode(t, "Je \xe2\x98\x83 \xe6\x97\xa5", 10, ids, 16, &err);
    int unk = 0;
    for (int k = 0; k < n; k++) unk += ids[k] == S2S_UNK;
    CHECK(n > 0 && unk == 2);
    char *txt = s2s_tok_decode(t, ids, n, &err);
    CHECK(txt && strstr(txt, "\xe2\x81\x87"));  /* U+2047 */
    free(txt);
    char **pc;
    int np;
    CHECK(s2s_tok_pieces(t, "\xe2\x98\x83", 3, &pc, &np, &err) == S2S_OK && np >= 1 && strstr(pc[np - 1], "\xe2\x98\x83"));
    free(pc);
    /* empty: no ids, a row of <eos> and padding */
    CHECK(s2s_tok_encode(t, "", 0, ids, 16, &err) == 0);
    CHECK(s2s_tok_encode_row(t, "\n", 4, ids, &err) == 1 && ids[0] == S2S_EOS && ids[1] == S2S_PAD && ids[3] == S2S_PAD);
    /* 10,000 characters: all counted, the row cut at T */
    char *big = malloc(20001);
    for (int i = 0; i < 10000; i++) { big[2 * i] = "abcdefghij"[i % 10]; big[2 * i + 1] = i % 7 ? 'e' : ' '; }
    big[20000] = 0;
    n = s2s_tok_encode(t, big, 20000, ids, 16, &err);
    CHECK(n > 1000);
    CHECK(s2s_tok_encode_row(t, big, 10, ids, &err) == 10 && ids[9] != S2S_EOS && ids[9] != S2S_PAD);
    free(big);
    /* invalid UTF-8 and NUL: the pipeline's one-line errors */
    CHECK(s2s_tok_encode(t, "caf\xc3", 4, ids, 16, &err) == S2S_ERR && strstr(err.msg, "invalid UTF-8") && !strchr(err.msg, '\n'));
    CHECK(s2s_tok_encode(t, "a\0b", 3, ids, 16, &err) == S2S_ERR && strstr(err.msg, "NUL"));
    CHECK(s2s_tok_pieces(t, "\xff", 1, &pc, &np, &err) == S2S_ERR && pc == NULL);
    /* a final newline is dropped, as for d2l */
    int32_t a[16], b[16];
    CHECK(s2s_tok_encode(t, "Il nage.\r\n", 10, a, 16, &err) == s2s_tok_encode(t, "Il nage.", 8, b, 16, &err));
    s2s_tok_free(t);
    return 0;
}

/* A model spm_train wrote with its own ids: mapped onto <unk> <pad> <bos> <eos> + pieces. */
static int test_spm_foreign_model(void) {
    s2s_err err;
    s2s_tok *t;
    if (s2s_tok_spm_open("tests/fixtures/spm_foreign.model", &t, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    const s2s_vocab *v = s2s_tok_vocab(t);
    /* spm's <s> and </s> are control pieces: not tokens; <unk> is ours; the rest in order */
    CHECK(s2s_vocab_size(v) == s2s_tok_size(t) + 4 - 3);
    CHECK(!strcmp(s2s_vocab_token(v, 4), "<sep>") && !strcmp(s2s_vocab_token(v, 5), "<0x00>"));
    CHECK(s2s_vocab_id(v, "<s>") == S2S_UNK && s2s_vocab_id(v, "</s>") == S2S_UNK);
    const char *s = "Je suis chez moi. \xe2\x98\x83 <sep>";
    int32_t ids[64];
    int n = s2s_tok_encode(t, s, strlen(s), ids, 64, &err);
    CHECK(n > 10 && n < 64);
    int sep = 0;
    for (int k = 0; k < n; k++) { CHECK(ids[k] > S2S_EOS && ids[k] < s2s_vocab_size(v)); sep += ids[k] == 4; }
    CHECK(sep == 1);
    /* byte fallback: the snowman survives as three byte pieces */
    char *txt = s2s_tok_decode(t, ids, n, &err);
    CHECK_MSG(txt && !strcmp(txt, s), "%s", txt ? txt : err.msg);
    free(txt);
    /* a model file that is not one */
    s2s_tok *bad;
    char path[128];
    snprintf(path, sizeof path, "%s/garbage.model", dir);
    FILE *f = fopen(path, "wb");
    fputs("this is not a protobuf\xff\xff\xff\xff", f);
    fclose(f);
    CHECK(s2s_tok_spm_open(path, &bad, &err) == S2S_ERR && bad == NULL && strstr(err.msg, path) &&
          strstr(err.msg, "not a SentencePiece model"));
    CHECK(s2s_tok_spm_open("tests/data/tiny.tsv", &bad, &err) == S2S_ERR && bad == NULL);
    CHECK(s2s_tok_spm_open("/nonexistent/m.model", &bad, &err) == S2S_ERR && strstr(err.msg, "/nonexistent/m.model"));
    CHECK(s2s_tok_spm_new("", 0, "empty", &bad, &err) == S2S_ERR && strstr(err.msg, "empty"));
    /* a truncated model */
    char *data;
    size_t len;
    if (!s2s_read_file("tests/fixtures/spm_foreign.model", &data, &len, &err)) {
        for (size_t cut = 1; cut < len; cut += 97) {
            if (s2s_tok_spm_new(data, cut, "cut", &bad, &err) == S2S_OK) s2s_tok_free(bad);
            else CHECK(strlen(err.msg) > 0 && !strchr(err.msg, '\n'));
        }
        free(data);
    }
    s2s_tok_free(t);
    return 0;
}

/* ---- model files -------------------------------------------------------------------------- */

/* A copy of model file `in` as `out` with metadata `key` set to `value` (NULL: removed). */
static int rewrite(const char *in, const char *out, const char *key, const char *value) {
    s2s_st_file *f;
    s2s_err err;
    if (s2s_st_read(in, &f, &err)) return 1;
    int n = s2s_st_count(f), nm = s2s_st_meta_count(f), k = 0, found = 0;
    s2s_tensor *ts = malloc(sizeof *ts * (size_t)n);
    const char **keys = malloc(sizeof *keys * ((size_t)nm + 1)), **vals = malloc(sizeof *vals * ((size_t)nm + 1));
    for (int i = 0; i < n; i++) ts[i] = *s2s_st_get(f, i);
    for (int i = 0; i < nm; i++) {
        s2s_st_meta_at(f, i, &keys[k], &vals[k]);
        if (!strcmp(keys[k], key)) { found = 1; if (!value) continue; vals[k] = value; }
        k++;
    }
    if (!found && value) { keys[k] = key; vals[k++] = value; }
    int rc = s2s_st_write(out, ts, n, keys, vals, k, &err);
    free(ts); free(keys); free(vals);
    s2s_st_free(f);
    return rc;
}

static void save_spm_model(const char *path, s2s_model **mo, s2s_tok **so, s2s_tok **to) {
    s2s_err err;
    *so = train_side(0, small);
    *to = train_side(1, small);
    s2s_config c = s2s_config_d2l(s2s_tok_size(*so), s2s_tok_size(*to));
    c.embed = 4; c.hidden = 5; c.layers = 1; c.num_steps = 12;
    s2s_rng r;
    s2s_rng_seed(&r, 5);
    s2s_model_create(&c, mo, &err);
    s2s_model_init(*mo, &r);
    if (s2s_model_save_tok(path, *mo, *so, *to, &err)) fprintf(stderr, "  %s\n", err.msg);
}

static int test_model_file_holds_tokenizer(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/spm.safetensors", dir);
    s2s_model *m, *m2;
    s2s_tok *st, *tt, *ls, *lt;
    s2s_err err;
    save_spm_model(path, &m, &st, &tt);
    if (!st || !tt) { CHECK(0); return 0; }
    s2s_st_file *f;
    if (s2s_st_read(path, &f, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    CHECK(!strcmp(s2s_st_meta(f, "tokenizer"), "spm") && !strcmp(s2s_st_meta(f, "preprocess"), "sentencepiece"));
    CHECK(!strcmp(s2s_st_meta(f, "format_version"), "3"));
    CHECK(strlen(s2s_st_meta(f, "spm.src")) % 4 == 0 && strlen(s2s_st_meta(f, "spm.tgt")) > 1000);
    s2s_st_free(f);
    CHECK_MSG(s2s_model_load_tok(path, &m2, &ls, &lt, &err) == S2S_OK, "%s", err.msg);
    if (!m2) return 0;
    CHECK(!strcmp(s2s_tok_name(ls), "spm") && s2s_tok_size(ls) == s2s_tok_size(st) && s2s_tok_size(lt) == s2s_tok_size(tt));
    /* the file's tokenizers encode and decode as the originals */
    for (int i = 0; i < raw.n; i++) {
        int32_t a[64], b[64];
        int na = s2s_tok_encode(tt, side[1][i], strlen(side[1][i]), a, 64, &err);
        int nb = s2s_tok_encode(lt, side[1][i], strlen(side[1][i]), b, 64, &err);
        CHECK(na == nb && na > 0 && !memcmp(a, b, sizeof(int32_t) * (size_t)na));
    }
    /* saving what was loaded gives the same file */
    char again[160];
    snprintf(again, sizeof again, "%s/spm2.safetensors", dir);
    CHECK(s2s_model_save_tok(again, m2, ls, lt, &err) == S2S_OK);
    char *da = NULL, *db = NULL;
    size_t na, nb;
    CHECK(!s2s_read_file(path, &da, &na, &err) && !s2s_read_file(again, &db, &nb, &err) && na == nb && !memcmp(da, db, na));
    free(da); free(db);
    /* the weights alone still load as before (s2s_model_load ignores the extra keys) */
    s2s_model *m3;
    s2s_vocab *v1, *v2;
    CHECK(s2s_model_load(path, &m3, &v1, &v2, &err) == S2S_OK);
    if (m3) { CHECK(!memcmp(m3->params, m->params, m->n_params * sizeof(float))); s2s_model_free(m3); s2s_vocab_free(v1); s2s_vocab_free(v2); }
    /* a source and a target tokenizer of different kinds are refused */
    s2s_tok *d;
    s2s_vocab *dv;
    const char *four[4] = {"<unk>", "<pad>", "<bos>", "<eos>"};
    s2s_vocab_from_list(four, 4, &dv, &err);
    s2s_tok_d2l_new(dv, &d, &err);
    CHECK(s2s_model_save_tok(again, m, st, d, &err) == S2S_ERR && strstr(err.msg, "one kind"));
    s2s_tok_free(d);
    s2s_model_free(m); s2s_model_free(m2);
    s2s_tok_free(st); s2s_tok_free(tt); s2s_tok_free(ls); s2s_tok_free(lt);
    return 0;
}

/* Corrupt, foreign or inconsistent tokenizers inside a model file: one-line errors. */
static int test_model_file_bad_tokenizer(void) {
    char path[128], bad[160];
    snprintf(path, sizeof path, "%s/spmb.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    s2s_model *m, *m2;
    s2s_tok *st, *tt, *ls, *lt;
    s2s_err err;
    save_spm_model(path, &m, &st, &tt);
    s2s_st_file *f;
    if (!st || s2s_st_read(path, &f, &err)) { CHECK(0); return 0; }
    char *tgt_b64 = strdup(s2s_st_meta(f, "spm.tgt"));
    s2s_st_free(f);
    char *foreign, *fb64 = NULL;
    size_t flen;
    if (!s2s_read_file("tests/fixtures/spm_foreign.model", &foreign, &flen, &err)) {
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        fb64 = malloc((flen + 2) / 3 * 4 + 1);
        size_t w = 0;
        for (size_t i = 0; i < flen; i += 3) {
            unsigned v = (unsigned char)foreign[i] << 16 | (i + 1 < flen ? (unsigned char)foreign[i + 1] << 8 : 0) |
                         (i + 2 < flen ? (unsigned char)foreign[i + 2] : 0);
            fb64[w++] = a[v >> 18 & 63]; fb64[w++] = a[v >> 12 & 63];
            fb64[w++] = i + 1 < flen ? a[v >> 6 & 63] : '='; fb64[w++] = i + 2 < flen ? a[v & 63] : '=';
        }
        fb64[w] = 0;
        free(foreign);
    }
    struct { const char *key, *value, *want; } cases[] = {
        {"spm.src", "!!!!", "not base64"},
        {"spm.src", "QUJD", "not a SentencePiece model"},             /* "ABC" */
        {"spm.src", "QUJDRA=", "not base64"},                          /* bad length */
        {"spm.src", "QU=D", "not base64"},                             /* '=' inside */
        {"spm.src", tgt_b64, "does not give the stored src_vocab"},   /* the other side's model */
        {"spm.src", fb64, "does not give the stored src_vocab"},      /* a foreign model */
        {"spm.tgt", NULL, "no \"spm.tgt\""},
        {"tokenizer", "bpe-magic", "not one this program knows"},
        {"tokenizer", NULL, "preprocess"},                             /* spm text read as d2l's */
        {"preprocess", "d2l-nmt", "preprocess"},
        {"preprocess", NULL, "preprocess"},
        {"format_version", "4", "newer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!cases[i].value && i != 6 && i != 8 && i != 10) continue;  /* fixture missing */
        if (rewrite(path, bad, cases[i].key, cases[i].value)) { CHECK(0); continue; }
        m2 = NULL;
        int rc = s2s_model_load_tok(bad, &m2, &ls, &lt, &err);
        CHECK_MSG(rc == S2S_ERR && m2 == NULL && ls == NULL && lt == NULL && strstr(err.msg, cases[i].want) &&
                  strstr(err.msg, bad) && !strchr(err.msg, '\n'),
                  "case %zu (%s): rc %d, \"%s\"", i, cases[i].key, rc, err.msg);
    }
    free(tgt_b64); free(fb64);
    s2s_model_free(m); s2s_tok_free(st); s2s_tok_free(tt);
    return 0;
}

/* Raw pairs: the same lines as d2l's reader, each side the untouched sentence. */
static int test_raw_pairs(void) {
    s2s_err err;
    s2s_pairs d;
    if (s2s_pairs_read("tests/data/tiny.tsv", 0, &d, &err)) { CHECK(0); return 0; }
    CHECK(raw.n == d.n && raw.lines_read == d.lines_read && raw.skipped == d.skipped);
    CHECK(!strcmp(side[0][0], "Go.") && !strcmp(side[1][0], "Va !") && !strcmp(side[1][5], "\xc3\x87" "a alors !"));
    CHECK(!strcmp(side[1][2], "Cours\xe2\x80\xaf!"));  /* U+202F stays (d2l makes it a space) */
    for (int i = 0; i < raw.n; i++) CHECK(raw.src_start[i + 1] - raw.src_start[i] == 1 && raw.tgt_start[i + 1] - raw.tgt_start[i] == 1);
    s2s_pairs_free(&d);
    /* CRLF, BOM, a third column, a line without a tab; invalid UTF-8 names the line */
    const char text[] = "\xef\xbb\xbfHello World.\tBonjour le Monde.\tCC-BY\r\nno tab here\r\nA\tB\r\n";
    s2s_pairs p;
    CHECK(s2s_pairs_parse_as(text, sizeof text - 1, "t", 0, S2S_TEXT_RAW, &p, &err) == S2S_OK);
    CHECK(p.n == 2 && p.skipped == 1 && !strcmp(p.src_tok[0], "Hello World.") && !strcmp(p.tgt_tok[0], "Bonjour le Monde."));
    s2s_pairs_free(&p);
    const char badtext[] = "a\tb\nc\t\xc3\x28\n";
    CHECK(s2s_pairs_parse_as(badtext, sizeof badtext - 1, "t.tsv", 0, S2S_TEXT_RAW, &p, &err) == S2S_ERR &&
          strstr(err.msg, "t.tsv: line 2: invalid UTF-8"));
    /* s2s_dataset_encode: ids + <eos>, padded; the counts */
    s2s_tok *st = train_side(0, small), *tt = train_side(1, small);
    s2s_dataset ds;
    s2s_encode_stats es;
    if (!st || !tt || s2s_dataset_encode(&raw, st, tt, 6, &ds, &es, &err)) { CHECK_MSG(0, "%s", err.msg); return 0; }
    int cut = 0;
    double tok[2] = {0, 0};
    for (int i = 0; i < raw.n; i++) {
        int32_t row[64];
        int n[2];
        for (int s = 0; s < 2; s++) {
            n[s] = s2s_tok_encode(s ? tt : st, side[s][i], strlen(side[s][i]), row, 64, &err);
            tok[s] += n[s];
            const int32_t *got = (s ? ds.tgt : ds.src) + i * 6;
            for (int k = 0; k < 6; k++) CHECK(got[k] == (k < n[s] ? row[k] : k == n[s] ? S2S_EOS : S2S_PAD));
            CHECK((s ? ds.tgt_len : ds.src_len)[i] == (n[s] + 1 < 6 ? n[s] + 1 : 6));
        }
        cut += n[0] >= 6 || n[1] >= 6;
    }
    CHECK(es.cut == cut && cut > 0 && es.tokens[0] == tok[0] && es.tokens[1] == tok[1] && es.longest[1] >= 6);
    s2s_dataset_free(&ds);
    s2s_tok_free(st); s2s_tok_free(tt);
    return 0;
}

int main(void) {
    if (!mkdtemp(dir) || load_raw()) { printf("counts: 0 1 0\n"); return 1; }
    RUN(test_d2l_is_the_pipeline);
    RUN(test_d2l_file_unchanged);
    RUN(test_raw_pairs);
    RUN(test_spm_train);
    RUN(test_spm_round_trip);
    RUN(test_spm_bad_input);
    RUN(test_spm_foreign_model);
    RUN(test_model_file_holds_tokenizer);
    RUN(test_model_file_bad_tokenizer);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    free(side[0]); free(side[1]);
    s2s_pairs_free(&raw);
    TEST_END();
}
