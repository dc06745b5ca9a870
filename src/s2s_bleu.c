/* BLEU scores: d2l's sentence-level bleu() for the chapter's examples, and corpus BLEU-4 as
 * sacreBLEU 2.3.1 computes it by default (13a tokenizer, 'exp' smoothing, no effective order),
 * so numbers printed by the CLI can be compared with published sacreBLEU scores.
 * The sacreBLEU parts follow its sources (github.com/mjpost/sacrebleu, Apache-2.0):
 * tokenizers/tokenizer_13a.py, tokenizers/tokenizer_re.py, metrics/bleu.py (compute_bleu),
 * metrics/base.py (_cache_references). tools/bleu_ref.py is the same algorithm in Python. */
#include "s2s_bleu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SACREBLEU_VERSION "2.3.1"

/* ------------------------------------------------------------------ growable byte buffer */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;          /* sticky: set once an append failed, later appends do nothing */
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->oom) return;
    if (extra > SIZE_MAX - b->n - 1) { b->oom = 1; return; }
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *np = realloc(b->p, cap);
    if (!np) { b->oom = 1; return; }
    b->p = np; b->cap = cap;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_putc(sbuf *b, char c) { sb_put(b, &c, 1); }

static void sb_clear(sbuf *b) { b->n = 0; if (b->p) b->p[0] = 0; }

static void sb_free(sbuf *b) { free(b->p); b->p = NULL; b->n = b->cap = 0; b->oom = 0; }

static void sb_swap(sbuf *a, sbuf *b) { sbuf t = *a; *a = *b; *b = t; }

/* ------------------------------------------------------------------ Python's whitespace */

/* Length in bytes of the whitespace character at s[0..n), 0 if none. This is the set Python's
 * str.split() / str.strip() use (Py_UNICODE_ISSPACE), read from UTF-8; sacreBLEU relies on
 * them, and a no-break space inside a French sentence must split the same way here. */
static size_t ws_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
    if (c == 0xC2 && n >= 2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (n >= 3) {
        unsigned c1 = s[1], c2 = s[2];
        if (c == 0xE1 && c1 == 0x9A && c2 == 0x80) return 3;                   /* U+1680 */
        if (c == 0xE2 && c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 ||
                                        c2 == 0xA9 || c2 == 0xAF)) return 3;   /* U+2000..200A, 2028, 2029, 202F */
        if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) return 3;                   /* U+205F */
        if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) return 3;                   /* U+3000 */
    }
    return 0;
}

/* Length of s[0..n) without trailing whitespace: Python's str.rstrip(). */
static size_t rstrip_len(const char *s, size_t n) {
    size_t i = 0, end = 0;
    while (i < n) {
        size_t w = ws_len((const unsigned char *)s + i, n - i);
        if (w) i += w;
        else end = ++i;
    }
    return end;
}

/* ------------------------------------------------------------------ tokens */

typedef struct tok_span { size_t start, end; } tok_span;  /* byte offsets into a line */

typedef struct tok_list {
    tok_span *t;
    long n, cap;
} tok_list;

static int toks_push(tok_list *l, size_t start, size_t end) {
    if (l->n == l->cap) {
        long cap = l->cap ? l->cap * 2 : 32;
        tok_span *nt = realloc(l->t, (size_t)cap * sizeof *nt);
        if (!nt) return S2S_ERR;
        l->t = nt; l->cap = cap;
    }
    l->t[l->n].start = start;
    l->t[l->n].end = end;
    l->n++;
    return S2S_OK;
}

/* Python's ' '.join(s.split()): out gets the tokens of s[0..n) joined by single spaces and
 * toks their spans in out, so an n-gram is one contiguous byte range of out. */
static int split_ws(const char *s, size_t n, sbuf *out, tok_list *toks) {
    sb_clear(out);
    toks->n = 0;
    size_t i = 0;
    while (i < n) {
        size_t w = ws_len((const unsigned char *)s + i, n - i);
        if (w) { i += w; continue; }
        size_t j = i;
        while (j < n && !ws_len((const unsigned char *)s + j, n - j)) j++;
        if (out->n) sb_putc(out, ' ');
        size_t at = out->n;
        sb_put(out, s + i, j - i);
        if (out->oom || toks_push(toks, at, at + (j - i))) return S2S_ERR;
        i = j;
    }
    sb_put(out, "", 0);   /* an empty line still gets a valid "" buffer */
    return out->oom ? S2S_ERR : S2S_OK;
}

/* ------------------------------------------------------------------ n-gram counting */

/* Open-addressing table from an n-gram (a byte range of a joined line) to a count. */
typedef struct ng_slot {
    const char *p;    /* NULL: empty slot */
    size_t len;
    uint64_t h;
    long count;
} ng_slot;

typedef struct ng_table {
    ng_slot *slot;
    size_t mask;
} ng_table;

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211ull; }
    return h;
}

/* Empty table with room for `items` keys at load <= 1/2. */
static int ng_init(ng_table *t, long items) {
    size_t cap = 16;
    while (cap < (size_t)items * 2) cap *= 2;
    t->slot = calloc(cap, sizeof *t->slot);
    t->mask = cap - 1;
    return t->slot ? S2S_OK : S2S_ERR;
}

static void ng_clear(ng_table *t) { memset(t->slot, 0, (t->mask + 1) * sizeof *t->slot); }

/* The slot holding key p[0..len), or the empty slot where it would go. */
static ng_slot *ng_find(ng_table *t, const char *p, size_t len, uint64_t h) {
    size_t i = (size_t)h & t->mask;
    for (;;) {
        ng_slot *s = &t->slot[i];
        if (!s->p || (s->h == h && s->len == len && memcmp(s->p, p, len) == 0)) return s;
        i = (i + 1) & t->mask;
    }
}

/* Matches of pred's n-grams against label's, each label n-gram usable as often as it occurs
 * in the label (d2l's "count and decrement" = sacreBLEU's min(hyp_count, ref_count) summed).
 * Tokens are spans of single-space-joined lines, so an n-gram is the range from the start of
 * its first token to the end of its last. tab must have room for label's n-grams. */
static long clipped_matches(const char *pb, const tok_list *pt, const char *lb, const tok_list *lt,
                            int n, ng_table *tab) {
    ng_clear(tab);
    for (long i = 0; i + n <= lt->n; i++) {
        const char *p = lb + lt->t[i].start;
        size_t len = lt->t[i + n - 1].end - lt->t[i].start;
        uint64_t h = fnv1a(p, len);
        ng_slot *s = ng_find(tab, p, len, h);
        if (!s->p) { s->p = p; s->len = len; s->h = h; }
        s->count++;
    }
    long matches = 0;
    for (long i = 0; i + n <= pt->n; i++) {
        const char *p = pb + pt->t[i].start;
        size_t len = pt->t[i + n - 1].end - pt->t[i].start;
        ng_slot *s = ng_find(tab, p, len, fnv1a(p, len));
        if (s->p && s->count > 0) { matches++; s->count--; }
    }
    return matches;
}

/* ------------------------------------------------------------------ d2l's bleu */

/* Python's s.split(' '): every single space separates, so "" and "a  b" keep empty tokens. */
static int split_space(const char *s, tok_list *toks) {
    toks->n = 0;
    size_t start = 0, i = 0;
    for (; s[i]; i++)
        if (s[i] == ' ') {
            if (toks_push(toks, start, i)) return S2S_ERR;
            start = i + 1;
        }
    return toks_push(toks, start, i);
}

double s2s_bleu_d2l(const char *pred, const char *label, int k) {
    if (!pred || !label) return NAN;
    tok_list pt = {0}, lt = {0};
    ng_table tab = {0};
    double score = NAN;
    if (split_space(pred, &pt) || split_space(label, &lt) || ng_init(&tab, lt.n)) goto done;
    long len_pred = pt.n, len_label = lt.n;
    score = exp(fmin(0.0, 1.0 - (double)len_label / (double)len_pred));
    for (int n = 1; n <= k; n++) {
        long denom = len_pred - n + 1;
        /* Python raises ZeroDivisionError at denom == 0, which comes before any negative one */
        if (denom <= 0) { score = 0; break; }
        long matches = clipped_matches(pred, &pt, label, &lt, n, &tab);
        score *= pow((double)matches / (double)denom, pow(0.5, n));
    }
done:
    free(pt.t); free(lt.t); free(tab.slot);
    return score;
}

/* ------------------------------------------------------------------ sacreBLEU's 13a tokenizer */

/* out = in with every occurrence of pat replaced by rep, scanning left to right without
 * overlaps: Python's str.replace. */
static void replace_all(const sbuf *in, const char *pat, const char *rep, sbuf *out) {
    size_t pl = strlen(pat), rl = strlen(rep), i = 0;
    sb_clear(out);
    while (i < in->n) {
        if (in->n - i >= pl && memcmp(in->p + i, pat, pl) == 0) {
            sb_put(out, rep, rl);
            i += pl;
        } else {
            sb_putc(out, in->p[i++]);
        }
    }
    sb_put(out, "", 0);
}

/* r'([\{-\~\[-\` -\&\(-\+\:-\@\/])': all ASCII punctuation and space except ' , - . */
static int is_13a_punct(unsigned char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* The four regex substitutions of sacreBLEU's TokenizerRegexp, each a full pass like re.sub.
 * The regexes see code points, this sees UTF-8 bytes; that gives the same result because
 * every character the patterns name is ASCII: a multi-byte character only ever plays the
 * part of [^0-9], and then only its last byte (before . or ,) or first byte (after . or ,)
 * sits next to the ASCII character, and none of its bytes can start another match. */
static void regex_13a(sbuf *a, sbuf *b) {
    /* r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 ' */
    sb_clear(b);
    for (size_t i = 0; i < a->n; i++) {
        unsigned char c = (unsigned char)a->p[i];
        if (is_13a_punct(c)) { char t[3] = {' ', (char)c, ' '}; sb_put(b, t, 3); }
        else sb_putc(b, (char)c);
    }
    sb_swap(a, b);
    /* r'([^0-9])([\.,])' -> r'\1 \2 ' */
    sb_clear(b);
    for (size_t i = 0; i < a->n;) {
        unsigned char c = (unsigned char)a->p[i];
        if (i + 1 < a->n && !is_digit(c) && (a->p[i + 1] == '.' || a->p[i + 1] == ',')) {
            char t[4] = {(char)c, ' ', a->p[i + 1], ' '};
            sb_put(b, t, 4); i += 2;
        } else { sb_putc(b, (char)c); i++; }
    }
    sb_swap(a, b);
    /* r'([\.,])([^0-9])' -> r' \1 \2' */
    sb_clear(b);
    for (size_t i = 0; i < a->n;) {
        char c = a->p[i];
        if (i + 1 < a->n && (c == '.' || c == ',') && !is_digit((unsigned char)a->p[i + 1])) {
            char t[4] = {' ', c, ' ', a->p[i + 1]};
            sb_put(b, t, 4); i += 2;
        } else { sb_putc(b, c); i++; }
    }
    sb_swap(a, b);
    /* r'([0-9])(-)' -> r'\1 \2 ' */
    sb_clear(b);
    for (size_t i = 0; i < a->n;) {
        unsigned char c = (unsigned char)a->p[i];
        if (i + 1 < a->n && is_digit(c) && a->p[i + 1] == '-') {
            char t[4] = {(char)c, ' ', '-', ' '};
            sb_put(b, t, 4); i += 2;
        } else { sb_putc(b, (char)c); i++; }
    }
    sb_swap(a, b);
}

/* Tokenizer13a on s[0..n): the result, before the final whitespace split, is left in *a
 * (b is scratch). */
static void tok13a_raw(const char *s, size_t n, sbuf *a, sbuf *b) {
    sb_clear(a);
    sb_put(a, s, n);
    replace_all(a, "<skipped>", "", b); sb_swap(a, b);
    replace_all(a, "-\n", "", b);       sb_swap(a, b);
    replace_all(a, "\n", " ", b);       sb_swap(a, b);
    if (!a->oom && memchr(a->p, '&', a->n)) {
        replace_all(a, "&quot;", "\"", b); sb_swap(a, b);
        replace_all(a, "&amp;", "&", b);   sb_swap(a, b);
        replace_all(a, "&lt;", "<", b);    sb_swap(a, b);
        replace_all(a, "&gt;", ">", b);    sb_swap(a, b);
    }
    sb_clear(b);
    sb_putc(b, ' '); sb_put(b, a->p, a->n); sb_putc(b, ' ');
    sb_swap(a, b);
    regex_13a(a, b);
    if (b->oom) a->oom = 1;
}

int s2s_bleu_tokenize_13a(const char *line, char **out, s2s_err *err) {
    if (!line) return s2s_errf(err, "s2s_bleu_tokenize_13a: line is NULL");
    sbuf a = {0}, b = {0}, c = {0};
    tok_list toks = {0};
    tok13a_raw(line, strlen(line), &a, &b);
    int rc = a.oom ? S2S_ERR : split_ws(a.p, a.n, &c, &toks);
    sb_free(&a); sb_free(&b); free(toks.t);
    if (rc) { sb_free(&c); return s2s_errf(err, "s2s_bleu_tokenize_13a: out of memory"); }
    *out = c.p;
    return S2S_OK;
}

/* ------------------------------------------------------------------ corpus BLEU */

/* sacreBLEU's BLEU._preprocess_segment: rstrip, then tokenize; leaves the tokens joined by
 * single spaces in *line with their spans in toks. */
static int preprocess(const char *s, s2s_bleu_tok tok, sbuf *line, sbuf *s1, sbuf *s2,
                      tok_list *toks) {
    size_t n = rstrip_len(s, strlen(s));
    if (tok == S2S_TOK_13A) {
        tok13a_raw(s, n, s1, s2);
        if (s1->oom) return S2S_ERR;
        return split_ws(s1->p, s1->n, line, toks);
    }
    return split_ws(s, n, line, toks);
}

/* sacreBLEU's `my_log`: log that maps 0 to a huge negative number instead of -inf. */
static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

/* BLEU.compute_bleu with smooth_method='exp', effective_order=False, max order 4. */
static void compute_bleu(s2s_corpus_bleu *r) {
    const int order = 4;
    if (r->sys_len < r->ref_len)
        r->bp = r->sys_len > 0 ? exp(1.0 - (double)r->ref_len / (double)r->sys_len) : 0.0;
    else
        r->bp = 1.0;
    for (int i = 0; i < order; i++) r->precisions[i] = 0.0;
    r->score = 0.0;
    int any = 0;
    for (int i = 0; i < order; i++) any |= r->correct[i] != 0;
    if (!any) return;   /* sacreBLEU's early stop (#141): no matches at all scores 0 */
    double smooth_mteval = 1.0;
    for (int n = 1; n <= order; n++) {
        /* no hypothesis n-grams of this order (every sentence too short): the precision
         * stays 0 and so do all higher ones, which makes the score 0 below */
        if (r->total[n - 1] == 0) break;
        if (r->correct[n - 1] == 0) {
            /* NIST's smoothing: 1/2, 1/4, ... of a match, halving at each empty order */
            smooth_mteval *= 2;
            r->precisions[n - 1] = 100.0 / (smooth_mteval * (double)r->total[n - 1]);
        } else {
            r->precisions[n - 1] = 100.0 * (double)r->correct[n - 1] / (double)r->total[n - 1];
        }
    }
    double sum = 0;   /* summed in order like Python's sum() so the last bits agree */
    for (int i = 0; i < order; i++) sum += my_log(r->precisions[i]);
    r->score = r->bp * exp(sum / order);
}

int s2s_bleu_corpus(const char *const *hyps, const char *const *refs, int n, s2s_bleu_tok tok,
                    s2s_corpus_bleu *out, char *signature, size_t sig_len, s2s_err *err) {
    if (n <= 0) return s2s_errf(err, "corpus BLEU: no sentences (n = %d)", n);
    if (!hyps || !refs || !out) return s2s_errf(err, "corpus BLEU: NULL hyps, refs or out");
    if (tok != S2S_TOK_13A && tok != S2S_TOK_NONE)
        return s2s_errf(err, "corpus BLEU: unknown tokenizer %d", (int)tok);
    for (int i = 0; i < n; i++) {
        if (!hyps[i]) return s2s_errf(err, "corpus BLEU: hypothesis %d (counting from 1) is NULL", i + 1);
        if (!refs[i]) return s2s_errf(err, "corpus BLEU: reference %d (counting from 1) is NULL", i + 1);
        if (!refs[i][0])
            return s2s_errf(err, "corpus BLEU: reference %d (counting from 1) is empty (sacreBLEU refuses empty "
                            "references; drop that pair)", i + 1);
    }
    s2s_corpus_bleu r;
    memset(&r, 0, sizeof r);
    sbuf hl = {0}, rl = {0}, s1 = {0}, s2 = {0};
    tok_list ht = {0}, rt = {0};
    ng_table tab = {0};
    long tab_items = -1;
    int rc = S2S_OK;
    for (int i = 0; i < n && rc == S2S_OK; i++) {
        if (preprocess(hyps[i], tok, &hl, &s1, &s2, &ht) ||
            preprocess(refs[i], tok, &rl, &s1, &s2, &rt)) { rc = S2S_ERR; break; }
        if (rt.n > tab_items) {   /* grow the table only when a longer reference comes */
            free(tab.slot);
            if (ng_init(&tab, rt.n)) { rc = S2S_ERR; break; }
            tab_items = rt.n;
        }
        r.sys_len += ht.n;
        r.ref_len += rt.n;   /* one reference: it is the "closest" length */
        for (int g = 1; g <= 4; g++) {
            if (ht.n >= g) r.total[g - 1] += ht.n - g + 1;
            r.correct[g - 1] += clipped_matches(hl.p, &ht, rl.p, &rt, g, &tab);
        }
    }
    sb_free(&hl); sb_free(&rl); sb_free(&s1); sb_free(&s2);
    free(ht.t); free(rt.t); free(tab.slot);
    if (rc) return s2s_errf(err, "corpus BLEU: out of memory tokenizing %d sentences", n);
    compute_bleu(&r);
    *out = r;
    if (signature && sig_len)
        snprintf(signature, sig_len, "nrefs:1|case:mixed|eff:no|tok:%s|smooth:exp|version:%s|impl:seq2seq-%s",
                 tok == S2S_TOK_13A ? "13a" : "none", SACREBLEU_VERSION, S2S_VERSION_STRING);
    return S2S_OK;
}
