/* Tests for s2s_bleu: d2l's sentence BLEU on the chapter's translations and sacreBLEU-style
 * corpus BLEU on hand-worked cases. Every expected number was worked out by hand below and
 * checked with tools/bleu_ref.py (the same algorithms in Python). */
#include "harness.h"
#include "s2s_bleu.h"

#include <stdlib.h>

#define TIGHT 1e-12   /* the C code does the same float operations in the same order */

/* ------------------------------------------------------------------ d2l */

static int test_d2l_chapter_examples(void) {
    /* d2l prints these four for its fra-eng model; exact matches score 1 */
    CHECK_NEAR(s2s_bleu_d2l("va !", "va !", 2), 1.0, TIGHT, 0);
    CHECK_NEAR(s2s_bleu_d2l("j'ai perdu .", "j'ai perdu .", 2), 1.0, TIGHT, 0);
    CHECK_NEAR(s2s_bleu_d2l("je suis chez moi .", "je suis chez moi .", 2), 1.0, TIGHT, 0);
    /* 4 vs 4 tokens: no brevity penalty; unigrams il est . match: p1 = 3/4; bigrams
     * "il est" matches, "est bon", "bon ." do not: p2 = 1/3.
     * (3/4)^(1/2) * (1/3)^(1/4) = 0.8660254 * 0.7598357 = 0.658037 (d2l prints 0.658) */
    CHECK_NEAR(s2s_bleu_d2l("il est bon .", "il est calme .", 2), 0.65803700647624619, TIGHT, 0);
    return 0;
}

static int test_d2l_edge_cases(void) {
    /* "" splits to one empty token: p1 = 0/1 -> score 0 (and at n=2 Python would divide by 0) */
    CHECK(s2s_bleu_d2l("", "va !", 2) == 0.0);
    CHECK(s2s_bleu_d2l("", "", 2) == 0.0);
    /* k = 3 > 2 pred tokens: d2l raises ZeroDivisionError at n = 3; we return 0 */
    CHECK(s2s_bleu_d2l("va !", "va !", 3) == 0.0);
    /* short pred: exp(1 - 4/2) = e^-1 = 0.36787944; p1 = 2/2, p2 = 1/1 */
    CHECK_NEAR(s2s_bleu_d2l("il est", "il est calme .", 2), 0.36787944117144233, TIGHT, 0);
    /* clipping: label "a a" has two "a" and one "a a". pred "a a a a": p1 = 2/4, p2 = 1/3;
     * no brevity penalty (label shorter): (1/2)^(1/2) * (1/3)^(1/4) = 0.70711 * 0.75984 */
    CHECK_NEAR(s2s_bleu_d2l("a a a a", "a a", 2), 0.537284965911771, TIGHT, 0);
    /* double space keeps an empty token, the same on both sides: still a perfect match */
    CHECK_NEAR(s2s_bleu_d2l("a  b", "a  b", 2), 1.0, TIGHT, 0);
    /* swapped words: 4-grams of 5 tokens all differ -> p4 = 0 -> 0 */
    CHECK(s2s_bleu_d2l("je suis chez moi .", "je suis moi chez .", 4) == 0.0);
    /* k = 0: only the brevity factor is left */
    CHECK_NEAR(s2s_bleu_d2l("a", "a b", 0), exp(1.0 - 2.0), TIGHT, 0);
    CHECK(isnan(s2s_bleu_d2l(NULL, "a", 2)));
    return 0;
}

static int test_d2l_long_sentence(void) {
    /* 3000 tokens from a 7-word vocabulary: lots of repeated n-grams in the hash table */
    enum { N = 3000 };
    static const char *w[] = {"le", "chat", "est", "sur", "la", "table", "."};
    char *a = malloc(N * 8), *b = malloc(N * 8);
    size_t na = 0, nb = 0;
    for (int i = 0; i < N; i++) {
        na += (size_t)sprintf(a + na, "%s%s", i ? " " : "", w[(i * 5 + i / 7) % 7]);
        nb += (size_t)sprintf(b + nb, "%s%s", i ? " " : "", w[(i * 3) % 7]);
    }
    CHECK_NEAR(s2s_bleu_d2l(a, a, 4), 1.0, TIGHT, 0);
    double s = s2s_bleu_d2l(a, b, 4);
    CHECK(s >= 0.0 && s < 1.0);
    free(a); free(b);
    return 0;
}

/* ------------------------------------------------------------------ 13a tokenizer */

static int tok_is(const char *in, const char *want) {
    s2s_err err = {{0}};
    char *out = NULL;
    if (s2s_bleu_tokenize_13a(in, &out, &err)) { fprintf(stderr, "  %s\n", err.msg); return 0; }
    int ok = strcmp(out, want) == 0;
    if (!ok) fprintf(stderr, "  13a(\"%s\") = \"%s\", want \"%s\"\n", in, out, want);
    free(out);
    return ok;
}

static int test_tokenize_13a(void) {
    /* entities decoded, quotes and commas split off, final period split off */
    CHECK(tok_is("He said &quot;hi&quot;, then left.", "He said \" hi \" , then left ."));
    /* digits keep their . and , ; a dash after a digit is split; $ ( ) are punctuation */
    CHECK(tok_is("Tom &amp; Jerry (1940) cost $3.50-4.", "Tom & Jerry ( 1940 ) cost $ 3.50 - 4 ."));
    /* replacements run one after another like str.replace: &amp;quot; -> &quot; (kept);
     * <skipped> vanishes; "-\n" joins; tab and double spaces collapse */
    CHECK(tok_is("&amp;quot; a<skipped>b  x-\ny\tz ", "& quot ; ab xy z"));
    /* apostrophes stay inside words; UTF-8 letters next to a period */
    CHECK(tok_is("l'homme, 1,000.5 \xc3\xa9t\xc3\xa9.", "l'homme , 1,000.5 \xc3\xa9t\xc3\xa9 ."));
    /* a period between letters, or after a digit but before a letter, is split off */
    CHECK(tok_is("x.y 1.c 2,a", "x . y 1 . c 2 , a"));
    CHECK(tok_is("", ""));
    CHECK(tok_is("...", ". . ."));
    return 0;
}

/* ------------------------------------------------------------------ corpus BLEU */

static int corpus(const char *const *h, const char *const *r, int n, s2s_bleu_tok tok,
                  s2s_corpus_bleu *out) {
    s2s_err err = {{0}};
    char sig[128];
    int rc = s2s_bleu_corpus(h, r, n, tok, out, sig, sizeof sig, &err);
    if (rc) fprintf(stderr, "  s2s_bleu_corpus: %s\n", err.msg);
    return rc;
}

static int test_corpus_perfect(void) {
    /* 6 tokens, all n-grams match: precisions 100, BP 1 -> 100 (Python gives 100.00000000000004
     * from exp(4*log(100)/4); we follow the same arithmetic) */
    const char *h[] = {"the cat sat on the mat"}, *r[] = {"the cat sat on the mat"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK_NEAR(b.score, 100.0, 1e-13, 0);
    CHECK(b.sys_len == 6 && b.ref_len == 6);
    CHECK(b.correct[0] == 6 && b.correct[3] == 3 && b.total[3] == 3);
    CHECK(b.bp == 1.0);
    s2s_err err = {{0}};
    char sig[128];
    CHECK(s2s_bleu_corpus(h, r, 1, S2S_TOK_13A, &b, sig, sizeof sig, &err) == S2S_OK);
    CHECK(strcmp(sig, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.3.1|impl:seq2seq-" S2S_VERSION_STRING) == 0);
    CHECK(s2s_bleu_corpus(h, r, 1, S2S_TOK_NONE, &b, sig, sizeof sig, &err) == S2S_OK);
    CHECK(strcmp(sig, "nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|version:2.3.1|impl:seq2seq-" S2S_VERSION_STRING) == 0);
    return 0;
}

static int test_corpus_one_4gram(void) {
    /* hyp "the cat sat on a mat" / ref "the cat sat on the mat":
     * 1-grams 5/6 (a), 2-grams 3/5 (the cat, cat sat, sat on), 3-grams 2/4, 4-grams 1/3.
     * exp((ln 83.333 + ln 60 + ln 50 + ln 33.333)/4) = (8333333.3)^(1/4) = 53.7285 */
    const char *h[] = {"the cat sat on a mat"}, *r[] = {"the cat sat on the mat"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK_NEAR(b.score, 53.728496591177098, TIGHT, 0);
    CHECK_NEAR(b.precisions[3], 100.0 / 3.0, TIGHT, 0);
    return 0;
}

static int test_corpus_exp_smoothing(void) {
    /* hyp "the cat a sat on a mat" (7 tokens) / ref "the cat sat on the mat" (6):
     * 1-grams: the cat sat on mat match, a a do not -> 5/7;  2-grams: "the cat", "sat on" -> 2/6;
     * 3-grams 0/5 and 4-grams 0/4: 'exp' smoothing gives the first empty order 1/2 match and the
     * next 1/4: p3 = 100/(2*5) = 10, p4 = 100/(4*4) = 6.25.  BP = 1 (7 >= 6).
     * score = (71.428571 * 33.333333 * 10 * 6.25)^(1/4) = 148809.52^(1/4) = 19.6407 */
    const char *h[] = {"the cat a sat on a mat"}, *r[] = {"the cat sat on the mat"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.correct[0] == 5 && b.correct[1] == 2 && b.correct[2] == 0 && b.correct[3] == 0);
    CHECK(b.total[0] == 7 && b.total[1] == 6 && b.total[2] == 5 && b.total[3] == 4);
    CHECK_NEAR(b.precisions[2], 10.0, TIGHT, 0);
    CHECK_NEAR(b.precisions[3], 6.25, TIGHT, 0);
    CHECK_NEAR(b.score, 19.64073254502566, TIGHT, 0);
    return 0;
}

static int test_corpus_empty_and_short(void) {
    /* empty hypothesis: sys_len 0 -> BP 0 and no matches at all -> 0 */
    const char *h[] = {""}, *r[] = {"the cat sat on the mat"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.score == 0.0 && b.bp == 0.0 && b.sys_len == 0 && b.ref_len == 6);
    /* 3-token corpus: no 4-grams in the hypothesis (total[3] == 0): sacreBLEU stops there and
     * p4 stays 0, so log(0) -> -9999999999 and the score is 0 even though all matches */
    const char *h2[] = {"a b c"}, *r2[] = {"a b c"};
    CHECK(corpus(h2, r2, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.score == 0.0 && b.total[3] == 0 && b.precisions[2] == 100.0);
    return 0;
}

static int test_corpus_brevity(void) {
    /* hyp is the first 5 tokens of a 6-token ref: all precisions 100,
     * BP = exp(1 - 6/5) = exp(-0.2) = 0.818731 -> 81.8731 */
    const char *h[] = {"the cat sat on the"}, *r[] = {"the cat sat on the mat"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK_NEAR(b.bp, exp(-0.2), TIGHT, 0);
    CHECK_NEAR(b.score, 81.873075307798231, TIGHT, 0);
    return 0;
}

static int test_corpus_sums_not_averages(void) {
    /* sentence 1 is perfect (6 tokens: 6/5/4/3 of 6/5/4/3).
     * sentence 2 "a dog ran in the park today" (7) / "the dog ran in the park" (6):
     * 1-grams dog ran in the park = 5/7, 2-grams 4/6, 3-grams 3/5, 4-grams 2/4.
     * corpus: 11/13, 9/11, 7/9, 5/7, lengths 13 vs 12 -> BP 1;
     * (84.615 * 81.818 * 77.778 * 71.429)^(1/4) = 78.7511.
     * Averaging the sentence scores instead would give (100 + 61.4788)/2 = 80.7394. */
    const char *h[] = {"the cat sat on the mat", "a dog ran in the park today"};
    const char *r[] = {"the cat sat on the mat", "the dog ran in the park"};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 2, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.correct[0] == 11 && b.correct[1] == 9 && b.correct[2] == 7 && b.correct[3] == 5);
    CHECK(b.total[0] == 13 && b.total[1] == 11 && b.total[2] == 9 && b.total[3] == 7);
    CHECK(b.sys_len == 13 && b.ref_len == 12);
    CHECK_NEAR(b.score, 78.751106211026823, TIGHT, 0);
    s2s_corpus_bleu s2;
    CHECK(corpus(h + 1, r + 1, 1, S2S_TOK_13A, &s2) == S2S_OK);
    CHECK_NEAR(s2.score, 61.47881529512643, TIGHT, 0);
    CHECK(fabs(b.score - (100.0 + s2.score) / 2) > 1.0);
    return 0;
}

static int test_corpus_13a_vs_none(void) {
    /* 13a decodes &quot; and splits the quotes, comma and period off, so the hypothesis
     * written with entities equals the plain reference: 9 tokens, 100 */
    const char *h[] = {"He said &quot;hi&quot;, then left."}, *r[] = {"He said \"hi\", then left."};
    s2s_corpus_bleu b;
    CHECK(corpus(h, r, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.sys_len == 9);
    CHECK_NEAR(b.score, 100.0, 1e-13, 0);
    const char *h2[] = {"Tom &amp; Jerry (1940) cost $3.50-4."};
    const char *r2[] = {"Tom & Jerry (1940) cost $3.50 - 4."};
    CHECK(corpus(h2, r2, 1, S2S_TOK_13A, &b) == S2S_OK);
    CHECK(b.sys_len == 12 && b.ref_len == 12);
    CHECK_NEAR(b.score, 100.0, 1e-13, 0);
    /* tok none splits on whitespace only: hyp He|said|"hi",|then|left. (5) vs
     * He|said|"hi"|,|then|left|. (7): 1-grams He said then = 3/5, 2-grams "He said" = 1/4,
     * 3-grams 0/3 -> 100/(2*3), 4-grams 0/2 -> 100/(4*2); BP = exp(1 - 7/5) = 0.67032.
     * 0.67032 * (60 * 25 * 16.667 * 12.5)^(1/4) = 0.67032 * 23.6435 = 15.8487 */
    const char *h3[] = {"He said \"hi\", then left."}, *r3[] = {"He said \"hi\" , then left ."};
    CHECK(corpus(h3, r3, 1, S2S_TOK_NONE, &b) == S2S_OK);
    CHECK(b.sys_len == 5 && b.ref_len == 7);
    CHECK_NEAR(b.score, 15.848738972120703, TIGHT, 0);
    /* Python's split() also splits on a no-break space (U+00A0), and rstrip drops a newline */
    const char *h4[] = {"a\xc2\xa0" "b c d\n"}, *r4[] = {"a b c d"};
    CHECK(corpus(h4, r4, 1, S2S_TOK_NONE, &b) == S2S_OK);
    CHECK(b.sys_len == 4);
    CHECK_NEAR(b.score, 100.0, 1e-13, 0);
    return 0;
}

static int test_corpus_errors(void) {
    s2s_corpus_bleu b;
    s2s_err err = {{0}};
    const char *h[] = {"a b c d", "x"}, *r[] = {"a b c d", ""};
    CHECK(s2s_bleu_corpus(h, r, 2, S2S_TOK_13A, &b, NULL, 0, &err) == S2S_ERR);
    CHECK(strstr(err.msg, "reference 2 (counting from 1) is empty") != NULL);
    CHECK(s2s_bleu_corpus(h, r, 0, S2S_TOK_13A, &b, NULL, 0, &err) == S2S_ERR);
    const char *hn[] = {NULL};
    CHECK(s2s_bleu_corpus(hn, r, 1, S2S_TOK_13A, &b, NULL, 0, &err) == S2S_ERR);
    CHECK(strstr(err.msg, "hypothesis 1 (counting from 1)") != NULL);
    /* a short signature buffer is truncated, never overrun */
    char sig[8];
    CHECK(s2s_bleu_corpus(h, r, 1, S2S_TOK_13A, &b, sig, sizeof sig, &err) == S2S_OK);
    CHECK(strcmp(sig, "nrefs:1") == 0);
    return 0;
}

int main(void) {
    RUN(test_d2l_chapter_examples);
    RUN(test_d2l_edge_cases);
    RUN(test_d2l_long_sentence);
    RUN(test_tokenize_13a);
    RUN(test_corpus_perfect);
    RUN(test_corpus_one_4gram);
    RUN(test_corpus_exp_smoothing);
    RUN(test_corpus_empty_and_short);
    RUN(test_corpus_brevity);
    RUN(test_corpus_sums_not_averages);
    RUN(test_corpus_13a_vs_none);
    RUN(test_corpus_errors);
    TEST_END();
}
