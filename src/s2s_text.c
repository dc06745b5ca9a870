/* The d2l text pipeline up to the vocabulary: reading a pairs file, preprocess_nmt,
 * tokenize_nmt, build_array_nmt / truncate_pad, and encoding one sentence for prediction.
 *
 * Deliberate differences from d2l (everything else is meant to be byte-identical):
 * - A leading UTF-8 BOM is dropped when reading a file (d2l would keep U+FEFF in the first token).
 * - Files are read like Python's text mode: "\r\n" and a lone "\r" become "\n".
 * - Invalid UTF-8 and NUL bytes are errors naming the line; d2l would raise or keep the NUL.
 * - Lines with 3 or more tab-separated columns (newer Tatoeba files add an attribution column)
 *   are kept, using the first two; d2l keeps only exactly-2-column lines.
 * - max_lines = num_examples + 1; max_lines = 1 looks at line 0 only (d2l's num_examples = 0
 *   would mean "all").
 * - A corpus may hold no control character but TAB and newline (C0, DEL, C1: an error naming the
 *   line), and two-file corpora no TAB: a vocabulary token may hold none (s2s_vocab.c).
 * - The empty token (two spaces in a row give one in Python's split(' ')) never enters a
 *   vocabulary (s2s_vocab.c): it is <unk>, as any unknown word, where d2l would give it an id.
 *   d2l's first 601 pairs have none; the whole fra-eng file has 17, in 17 of its 194k lines.
 * - s2s_encode_sentence applies preprocess_nmt, where d2l's predict_seq2seq only lowercases;
 *   on already-spaced input ("i'm home .") the two agree, since preprocess is idempotent there.
 * Lowercasing follows Python's str.lower(): simple mappings from utf8proc, plus U+0130 ->
 * "i" U+0307 and Python's Final_Sigma rule for U+03A3. Compared with Python 3.11 (Unicode 14)
 * over every code point, alone and around a sigma: identical except for the 111 characters new
 * in Unicode 15 (utf8proc 2.8 here), which no Tatoeba text uses. */
#include "s2s_text.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- UTF-8 */

/* Decodes the code point at s[i] (i < len), strictly: no overlongs, no surrogates, nothing
 * above U+10FFFF. Returns its length in bytes, or 0 if the bytes there are not valid UTF-8. */
static int utf8_decode(const unsigned char *s, size_t len, size_t i, int32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) { *cp = (int32_t)c; return 1; }
    int n;
    unsigned lo = 0x80, hi = 0xbf;
    int32_t v;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; v = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3; v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;          /* overlong */
        if (c == 0xed) hi = 0x9f;          /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4; v = c & 0x07;
        if (c == 0xf0) lo = 0x90;          /* overlong */
        if (c == 0xf4) hi = 0x8f;          /* > U+10FFFF */
    } else return 0;
    if (len - i < (size_t)n) return 0;
    for (int k = 1; k < n; k++) {
        unsigned b = s[i + k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return 0;
        v = (v << 6) | (int32_t)(b & 0x3f);
    }
    *cp = v;
    return n;
}

int s2s_utf8_valid(const char *s, size_t len, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    int32_t cp;
    for (size_t i = 0; i < len;) {
        int n = u[i] < 0x80 ? 1 : utf8_decode(u, len, i, &cp);
        if (!n) { if (bad) *bad = i; return 0; }
        i += (size_t)n;
    }
    return 1;
}

static size_t utf8_encode(int32_t cp, char *out) {
    return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

/* Python's Case_Ignorable: Mn Me Cf Lm Sk, or Word_Break MidLetter / MidNumLet / Single_Quote. */
static int case_ignorable(int32_t c) {
    switch (c) {
    case 0x27: case 0x2e: case 0x3a: case 0xb7: case 0x387: case 0x55f: case 0x5f4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027:
    case 0xfe13: case 0xfe52: case 0xfe55: case 0xff07: case 0xff0e: case 0xff1a:
        return 1;
    }
    if (c < 0x80) return c == 0x5e || c == 0x60;   /* ^ and ` are Sk */
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        return 0;
    }
}

/* Python's Cased, from what utf8proc exposes: Lu Ll Lt, anything with a case mapping, and the
 * Other_Lowercase/Other_Uppercase code points without one that are not Lm (Lm is skipped as
 * case-ignorable anyway): ª º and the squared/circled/negative Latin capitals (So).
 * Checked against Python 3.11 over every code point (only characters new in Unicode 15 differ). */
static int cased(int32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == 0xaa || c == 0xba) return 1;
    if ((c >= 0x1f130 && c <= 0x1f149) || (c >= 0x1f150 && c <= 0x1f169) || (c >= 0x1f170 && c <= 0x1f189))
        return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        return 1;
    default:
        return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
    }
}

/* Python's Final_Sigma test for the U+03A3 at s[i .. i+2): a cased letter before it and none
 * after it, skipping case-ignorable code points both ways. Bytes before i are already validated;
 * an invalid sequence after it ends the scan (the caller reports it when it gets there). */
static int final_sigma(const unsigned char *s, size_t len, size_t i) {
    int32_t c = 0;
    int found = 0;
    size_t j = i;
    while (j > 0) {
        size_t k = j - 1;
        while (k > 0 && (s[k] & 0xc0) == 0x80) k--;
        utf8_decode(s, len, k, &c);
        j = k;
        if (!case_ignorable(c)) { found = 1; break; }
    }
    if (!found || !cased(c)) return 0;
    for (j = i + 2; j < len;) {
        int n = utf8_decode(s, len, j, &c);
        if (n == 0) return 1;
        if (!case_ignorable(c)) return !cased(c);
        j += (size_t)n;
    }
    return 1;
}

static int32_t lower_ascii(int32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Which control characters a text may hold: anything but NUL (a sentence to translate), TAB
 * and newline (a pairs file), newline only (one sentence per line). */
typedef enum { CTL_ANY, CTL_PAIRS, CTL_LINES } ctl_rule;

/* The character at s[i] (n bytes, code point c; n = 0: not UTF-8) when it is invalid UTF-8, NUL,
 * or a control character `ctl` does not allow: a one-line error naming the line and byte.
 * Returns S2S_OK for a character the text may hold. Shared by preprocess_into and check_text. */
static int bad_char(const unsigned char *s, size_t i, int n, int32_t c, ctl_rule ctl, const char *where, long line,
                    size_t line_start, s2s_err *err) {
    if (n == 0)
        return s2s_errf(err, "%s%sline %ld: invalid UTF-8 (byte 0x%02x at byte %zu of the line); "
                        "convert the file to UTF-8", where ? where : "", where ? ": " : "",
                        line, s[i], i - line_start + 1);
    if (c == 0)
        return s2s_errf(err, "%s%sline %ld: NUL byte at byte %zu of the line; the text must not contain NUL",
                        where ? where : "", where ? ": " : "", line, i - line_start + 1);
    if (!(ctl == CTL_ANY || c == '\n' || (c == '\t' && ctl == CTL_PAIRS)))
        return s2s_errf(err, "%s%sline %ld: control character U+%04X at byte %zu of the line%s",
                        where ? where : "", where ? ": " : "", line, (unsigned)c, i - line_start + 1,
                        c == '\t' ? " (one sentence per line: a TAB cannot be in one)" : "");
    return S2S_OK;
}

/* preprocess_nmt of in[0..len) into o, which holds at least 2 len + 1 bytes (the worst case:
 * an ASCII , . ! ? gains a space; a 2-byte letter lowercases to at most 3 bytes (U+0130 ->
 * "i" U+0307), a 3-byte one to at most 4); *out_len = the text's length, NUL not counted. */
static int preprocess_into(const char *in, size_t len, const char *where, ctl_rule ctl, char *o, size_t *out_len,
                           s2s_err *err) {
    const unsigned char *s = (const unsigned char *)in;
    size_t w = 0;
    long line = 1;
    size_t line_start = 0;
    int have_prev = 0;
    int32_t prev = 0;   /* previous code point of the lowercased text, as d2l's text[i - 1] */
    for (size_t i = 0; i < len;) {
        int32_t c;
        int n = s[i] < 0x80 ? (c = s[i], 1) : utf8_decode(s, len, i, &c);
        if ((n == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0)) &&  /* rare, but for TAB and newline */
            bad_char(s, i, n, c, ctl, where, line, line_start, err))
            return S2S_ERR;
        if (c == 0x202f || c == 0xa0) c = ' ';
        int32_t low[2];
        int nlow = 1;
        if (c < 0x80) low[0] = lower_ascii(c);
        else if (c == 0x130) { low[0] = 'i'; low[1] = 0x307; nlow = 2; }
        else if (c == 0x3a3) low[0] = final_sigma(s, len, i) ? 0x3c2 : 0x3c3;
        else low[0] = utf8proc_tolower(c);
        for (int k = 0; k < nlow; k++) {
            int32_t l = low[k];
            if (have_prev && prev != ' ' && (l == ',' || l == '.' || l == '!' || l == '?')) o[w++] = ' ';
            w += utf8_encode(l, o + w);
            prev = l;
            have_prev = 1;
        }
        if (c == '\n') { line++; line_start = i + 1; }
        i += (size_t)n;
    }
    o[w] = 0;
    *out_len = w;
    return S2S_OK;
}

/* s2s_preprocess with a rule for control characters. */
static int preprocess_alloc(const char *in, size_t len, const char *where, ctl_rule ctl, char **out, size_t *out_len,
                            s2s_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (len > (SIZE_MAX - 1) / 2) return s2s_errf(err, "%s: input too large", where ? where : "text");
    char *o = s2s_malloc(2 * len + 1, err, "preprocessed text");
    size_t w;
    if (!o) return S2S_ERR;
    if (preprocess_into(in, len, where, ctl, o, &w, err)) { free(o); return S2S_ERR; }
    char *shrunk = realloc(o, w + 1);
    *out = shrunk ? shrunk : o;
    if (out_len) *out_len = w;
    return S2S_OK;
}

int s2s_preprocess(const char *in, size_t len, const char *where, char **out, size_t *out_len, s2s_err *err) {
    return preprocess_alloc(in, len, where, CTL_ANY, out, out_len, err);
}

/* The checks of preprocess_into without the preprocessing (raw text for other tokenizers). */
static int check_text(const char *in, size_t len, const char *where, ctl_rule ctl, s2s_err *err) {
    const unsigned char *s = (const unsigned char *)in;
    long line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        int n = s[i] < 0x80 ? (c = s[i], 1) : utf8_decode(s, len, i, &c);
        if ((n == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0)) && bad_char(s, i, n, c, ctl, where, line, line_start, err))
            return S2S_ERR;
        if (c == '\n') { line++; line_start = i + 1; }
        i += (size_t)n;
    }
    return S2S_OK;
}

int s2s_utf8_check(const char *in, size_t len, const char *where, s2s_err *err) {
    return check_text(in, len, where, CTL_ANY, err);
}

/* ---------------------------------------------------------------- reading */

/* A file's text as Python's text mode would see it: a leading BOM dropped, "\r\n" and a lone
 * "\r" as "\n"; then preprocess_nmt (S2S_TEXT_D2L), or only checked (S2S_TEXT_RAW). Consumes
 * raw (freed, or handed back as *text); *text is the caller's. */
static int normalise_preprocess(char *raw, size_t n, const char *path, s2s_text_mode mode, ctl_rule ctl, char **text,
                                size_t *len, s2s_err *err) {
    size_t r = 0, w = 0;
    if (n >= 3 && memcmp(raw, "\xef\xbb\xbf", 3) == 0) r = 3;
    for (; r < n; r++) {
        if (raw[r] == '\r') {
            raw[w++] = '\n';
            if (r + 1 < n && raw[r + 1] == '\n') r++;
        } else raw[w++] = raw[r];
    }
    if (mode == S2S_TEXT_RAW) {
        if (check_text(raw, w, path, ctl, err)) { free(raw); *text = NULL; return S2S_ERR; }
        raw[w] = 0;
        *text = raw;
        *len = w;
        return S2S_OK;
    }
    int rc = preprocess_alloc(raw, w, path, ctl, text, len, err);
    free(raw);
    return rc;
}

/* The first max_lines lines of a file (<= 0: all; the rest is not even read), preprocessed
 * (or only checked, raw). */
static int read_preprocessed(const char *path, int max_lines, s2s_text_mode mode, ctl_rule ctl, char **text,
                             size_t *len, s2s_err *err) {
    char *raw;
    size_t n;
    if (s2s_read_file_head(path, max_lines, &raw, &n, err)) return S2S_ERR;
    return normalise_preprocess(raw, n, path, mode, ctl, text, len, err);
}

/* Number of lines as a reader sees them: "a\nb\n" and "a\nb" have 2, "" has 0. */
static long count_lines(const char *t, size_t len) {
    long n = 0;
    for (const char *p = t, *end = t + len; p < end; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) { n++; break; }
        p = nl + 1;
    }
    return n;
}

/* Growable token list for one side of the pairs. */
typedef struct { char **tok; int n, cap; int *start; int n_start, cap_start; } tok_list;

/* Grows *arr (of *cap elements of `elem` bytes) so that it holds at least n + 1. */
static void *grow(void *arr, int n, int *cap, size_t elem, s2s_err *err) {
    if (n < *cap) return arr;
    if (*cap > INT_MAX / 2) { s2s_errf(err, "too many tokens (more than %d)", *cap); return NULL; }
    int nc = *cap ? *cap * 2 : 1024;
    void *na = realloc(arr, (size_t)nc * elem);
    if (!na) { s2s_errf(err, "out of memory growing the token list to %d entries", nc); return NULL; }
    *cap = nc;
    return na;
}

static int push_tok(tok_list *l, char *t, s2s_err *err) {
    char **a = grow(l->tok, l->n, &l->cap, sizeof *a, err);
    if (!a) return S2S_ERR;
    l->tok = a;
    l->tok[l->n++] = t;
    return S2S_OK;
}

/* Splits text[b, e) on single spaces in place (separators and text[e] become NUL), as
 * Python's str.split(' '): "a  b" gives "a", "", "b". */
static int split_spaces(char *b, char *e, tok_list *l, s2s_err *err) {
    for (;;) {
        char *sp = memchr(b, ' ', (size_t)(e - b));
        char *te = sp ? sp : e;
        if (push_tok(l, b, err)) return S2S_ERR;
        *te = 0;
        if (!sp) return S2S_OK;
        b = sp + 1;
    }
}

/* One side of a pair, text[b, e), as its tokens: split on spaces (d2l), or the whole text as
 * one token (raw); text[e] becomes NUL. */
static int side_tokens(char *b, char *e, s2s_text_mode mode, tok_list *l, s2s_err *err) {
    if (mode == S2S_TEXT_D2L) return split_spaces(b, e, l, err);
    *e = 0;
    return push_tok(l, b, err);
}

/* Records where the next pair's tokens begin. */
static int start_pair(tok_list *l, s2s_err *err) {
    int *a = grow(l->start, l->n_start, &l->cap_start, sizeof *a, err);
    if (!a) return S2S_ERR;
    l->start = a;
    l->start[l->n_start++] = l->n;
    return S2S_OK;
}

static int finish(tok_list *src, tok_list *tgt, int n, char *arena, int *line, s2s_pairs *out, s2s_err *err) {
    if (start_pair(src, err) || start_pair(tgt, err)) return S2S_ERR;
    out->n = n;
    out->line = line;
    out->src_start = src->start; out->src_tok = src->tok;
    out->tgt_start = tgt->start; out->tgt_tok = tgt->tok;
    out->arena = arena;
    return S2S_OK;
}

static void tok_list_free(tok_list *l) { free(l->tok); free(l->start); }

static int pairs_from_text(char *text, size_t len, const char *path, int max_lines, s2s_text_mode mode,
                           s2s_pairs *out, s2s_err *err);

int s2s_pairs_read_as(const char *path, int max_lines, s2s_text_mode mode, s2s_pairs *out, s2s_err *err) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    if (read_preprocessed(path, max_lines, mode, CTL_PAIRS, &text, &len, err)) return S2S_ERR;
    return pairs_from_text(text, len, path, max_lines, mode, out, err);
}

int s2s_pairs_read(const char *path, int max_lines, s2s_pairs *out, s2s_err *err) {
    return s2s_pairs_read_as(path, max_lines, S2S_TEXT_D2L, out, err);
}

int s2s_pairs_parse_as(const char *data, size_t size, const char *name, int max_lines, s2s_text_mode mode,
                       s2s_pairs *out, s2s_err *err) {
    memset(out, 0, sizeof *out);
    char *raw = s2s_malloc(size + 1, err, "the corpus"), *text;
    size_t len;
    if (!raw) return S2S_ERR;
    memcpy(raw, data, size);
    raw[size] = 0;
    if (normalise_preprocess(raw, size, name, mode, CTL_PAIRS, &text, &len, err)) return S2S_ERR;
    return pairs_from_text(text, len, name, max_lines, mode, out, err);
}

int s2s_pairs_parse(const char *data, size_t size, const char *name, int max_lines, s2s_pairs *out, s2s_err *err) {
    return s2s_pairs_parse_as(data, size, name, max_lines, S2S_TEXT_D2L, out, err);
}

/* Takes ownership of text (the preprocessed corpus), which becomes the tokens' arena. */
static int pairs_from_text(char *text, size_t len, const char *path, int max_lines, s2s_text_mode mode,
                           s2s_pairs *out, s2s_err *err) {
    tok_list src = {0}, tgt = {0};
    int n = 0, lines = 0, skipped = 0, *line = NULL, line_cap = 0;
    char *p = text, *end = text + len;
    /* d2l: for i, line in enumerate(text.split('\n')). The empty piece after a final newline is
     * not a line of the file, so it is neither looked at nor counted as skipped. */
    while (p < end && (max_lines <= 0 || lines < max_lines)) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        if (lines == INT_MAX) break;
        lines++;
        char *tab = memchr(p, '\t', (size_t)(le - p));
        if (!tab) skipped++;
        else {
            char *tab2 = memchr(tab + 1, '\t', (size_t)(le - tab - 1));
            char *te = tab2 ? tab2 : le;
            int *ln = grow(line, n, &line_cap, sizeof *line, err);
            if (!ln || start_pair(&src, err) || start_pair(&tgt, err) ||
                side_tokens(p, tab, mode, &src, err) || side_tokens(tab + 1, te, mode, &tgt, err))
                goto fail;
            line = ln;
            line[n++] = lines;
        }
        p = le + 1;
    }
    if (n == 0) {
        s2s_errf(err, "%s: no sentence pairs (%d lines, none with a tab)", path, lines);
        goto fail;
    }
    if (finish(&src, &tgt, n, text, line, out, err)) goto fail;
    out->arena_bytes = len + 1;
    out->lines_read = lines;
    out->skipped = skipped;
    return S2S_OK;
fail:
    tok_list_free(&src); tok_list_free(&tgt);
    free(text); free(line);
    memset(out, 0, sizeof *out);
    return S2S_ERR;
}

int s2s_pairs_read2(const char *src_path, const char *tgt_path, int max_lines, s2s_pairs *out, s2s_err *err) {
    return s2s_pairs_read2_as(src_path, tgt_path, max_lines, S2S_TEXT_D2L, out, err);
}

int s2s_pairs_read2_as(const char *src_path, const char *tgt_path, int max_lines, s2s_text_mode mode,
                       s2s_pairs *out, s2s_err *err) {
    memset(out, 0, sizeof *out);
    char *a = NULL, *b = NULL, *arena = NULL;
    int *line = NULL;
    size_t la, lb;
    tok_list src = {0}, tgt = {0};
    if (read_preprocessed(src_path, max_lines, mode, CTL_LINES, &a, &la, err) ||
        read_preprocessed(tgt_path, max_lines, mode, CTL_LINES, &b, &lb, err))
        goto fail;
    long na = count_lines(a, la), nb = count_lines(b, lb);
    if (na != nb) {
        s2s_errf(err, "%s has %ld lines but %s has %ld; the two files must be line-aligned",
                 src_path, na, tgt_path, nb);
        goto fail;
    }
    if (na == 0) { s2s_errf(err, "%s: no sentence pairs (0 lines)", src_path); goto fail; }
    if (na > INT_MAX) { s2s_errf(err, "%s: too many lines (%ld)", src_path, na); goto fail; }
    /* One arena owns both texts, as s2s_pairs has a single owner pointer. */
    arena = s2s_malloc(la + lb + 2, err, "pairs text");
    line = s2s_malloc(sizeof(int) * (size_t)na, err, "pair line numbers");
    if (!arena || !line) goto fail;
    memcpy(arena, a, la + 1);
    memcpy(arena + la + 1, b, lb + 1);
    free(a); free(b); a = b = NULL;
    char *pa = arena, *ea = arena + la, *pb = arena + la + 1, *eb = pb + lb;
    int n = 0;
    while (n < na && (max_lines <= 0 || n < max_lines)) {
        char *nla = memchr(pa, '\n', (size_t)(ea - pa)), *nlb = memchr(pb, '\n', (size_t)(eb - pb));
        char *lea = nla ? nla : ea, *leb = nlb ? nlb : eb;
        if (start_pair(&src, err) || start_pair(&tgt, err) ||
            side_tokens(pa, lea, mode, &src, err) || side_tokens(pb, leb, mode, &tgt, err))
            goto fail;
        line[n] = n + 1;
        n++;
        pa = lea + 1; pb = leb + 1;
    }
    if (finish(&src, &tgt, n, arena, line, out, err)) goto fail;
    out->arena_bytes = la + lb + 2;
    out->lines_read = n;
    out->skipped = 0;
    return S2S_OK;
fail:
    tok_list_free(&src); tok_list_free(&tgt);
    free(a); free(b); free(arena); free(line);
    memset(out, 0, sizeof *out);
    return S2S_ERR;
}

size_t s2s_pairs_bytes(const s2s_pairs *p) {
    size_t tokens = (size_t)p->src_start[p->n] + (size_t)p->tgt_start[p->n];
    return p->arena_bytes + tokens * sizeof(char *) + 3 * ((size_t)p->n + 1) * sizeof(int);
}

void s2s_pairs_free(s2s_pairs *p) {
    if (!p) return;
    free(p->src_start); free(p->src_tok);
    free(p->tgt_start); free(p->tgt_tok);
    free(p->arena); free(p->line);
    memset(p, 0, sizeof *p);
}

int s2s_pairs_select(const s2s_pairs *p, const int *idx, int n, s2s_pairs *out, s2s_err *err) {
    memset(out, 0, sizeof *out);
    if (n < 0) return s2s_errf(err, "pairs_select: negative count %d", n);
    size_t bytes = 1;
    int nsrc = 0, ntgt = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= p->n) return s2s_errf(err, "pairs_select: index %d is outside the %d pairs", idx[i], p->n);
        for (int side = 0; side < 2; side++) {
            const int *st = side ? p->tgt_start : p->src_start;
            char *const *tok = side ? p->tgt_tok : p->src_tok;
            for (int k = st[idx[i]]; k < st[idx[i] + 1]; k++) bytes += strlen(tok[k]) + 1;
            if (side) ntgt += st[idx[i] + 1] - st[idx[i]]; else nsrc += st[idx[i] + 1] - st[idx[i]];
        }
    }
    s2s_pairs q = {0};
    q.n = n;
    if (!(q.src_start = s2s_calloc((size_t)n + 1, sizeof(int), err, "selected pairs")) ||
        !(q.tgt_start = s2s_calloc((size_t)n + 1, sizeof(int), err, "selected pairs")) ||
        !(q.src_tok = s2s_calloc((size_t)nsrc + 1, sizeof(char *), err, "selected pairs")) ||
        !(q.tgt_tok = s2s_calloc((size_t)ntgt + 1, sizeof(char *), err, "selected pairs")) ||
        !(q.line = s2s_calloc((size_t)n + 1, sizeof(int), err, "selected pairs")) ||
        !(q.arena = s2s_malloc(bytes, err, "selected pairs"))) {
        s2s_pairs_free(&q);
        return S2S_ERR;
    }
    char *a = q.arena;
    for (int i = 0; i < n; i++) q.line[i] = p->line ? p->line[idx[i]] : 0;
    for (int side = 0; side < 2; side++) {
        const int *st = side ? p->tgt_start : p->src_start;
        char *const *tok = side ? p->tgt_tok : p->src_tok;
        int *qst = side ? q.tgt_start : q.src_start;
        char **qtok = side ? q.tgt_tok : q.src_tok;
        int m = 0;
        for (int i = 0; i < n; i++) {
            qst[i] = m;
            for (int k = st[idx[i]]; k < st[idx[i] + 1]; k++) {
                size_t len = strlen(tok[k]) + 1;
                memcpy(a, tok[k], len);
                qtok[m++] = a;
                a += len;
            }
        }
        qst[n] = m;
    }
    *out = q;
    return S2S_OK;
}

/* ---------------------------------------------------------------- arrays */

/* truncate_pad(vocab[tokens] + [<eos>], T, <pad>) into row[T]; returns d2l's valid length,
 * the count of ids that are not <pad>. */
static int32_t encode_row(const s2s_vocab *v, char *const *tok, int n, int T, int32_t *row) {
    int32_t valid = 0;
    for (int t = 0; t < T; t++) {
        row[t] = t < n ? s2s_vocab_id(v, tok[t]) : t == n ? S2S_EOS : S2S_PAD;
        valid += row[t] != S2S_PAD;
    }
    return valid;
}

int s2s_dataset_alloc(int n, int T, s2s_dataset *out, s2s_err *err) {
    memset(out, 0, sizeof *out);
    if (T < 1) return s2s_errf(err, "dataset: num_steps T=%d, must be at least 1", T);
    size_t nt = (size_t)n * (size_t)T;
    out->src = s2s_calloc(nt, sizeof(int32_t), err, "source array");
    out->tgt = out->src ? s2s_calloc(nt, sizeof(int32_t), err, "target array") : NULL;
    out->src_len = out->tgt ? s2s_calloc((size_t)n, sizeof(int32_t), err, "source lengths") : NULL;
    out->tgt_len = out->src_len ? s2s_calloc((size_t)n, sizeof(int32_t), err, "target lengths") : NULL;
    if (!out->tgt_len) { s2s_dataset_free(out); return S2S_ERR; }
    out->n = n;
    out->T = T;
    return S2S_OK;
}

int s2s_dataset_build(const s2s_pairs *p, const s2s_vocab *sv, const s2s_vocab *tv, int T,
                      s2s_dataset *out, s2s_err *err) {
    if (s2s_dataset_alloc(p->n, T, out, err)) return S2S_ERR;
    for (int i = 0; i < p->n; i++) {
        out->src_len[i] = encode_row(sv, p->src_tok + p->src_start[i], p->src_start[i + 1] - p->src_start[i],
                                     T, out->src + (size_t)i * T);
        out->tgt_len[i] = encode_row(tv, p->tgt_tok + p->tgt_start[i], p->tgt_start[i + 1] - p->tgt_start[i],
                                     T, out->tgt + (size_t)i * T);
    }
    return S2S_OK;
}

/* Tokens before <eos> of a row of valid length len (more than T - 1 when truncate_pad cut it). */
static int row_tokens(const int32_t *row, int len, int T) {
    return len == T && row[T - 1] != S2S_EOS ? T : len - 1;
}

int s2s_dataset_drop_long(s2s_dataset *d, int max_len) {
    const size_t T = (size_t)d->T;
    int k = 0;
    for (int i = 0; i < d->n; i++) {
        if (row_tokens(d->src + i * T, d->src_len[i], (int)T) > max_len ||
            row_tokens(d->tgt + i * T, d->tgt_len[i], (int)T) > max_len)
            continue;
        if (k != i) {
            memcpy(d->src + k * T, d->src + i * T, T * sizeof(int32_t));
            memcpy(d->tgt + k * T, d->tgt + i * T, T * sizeof(int32_t));
            d->src_len[k] = d->src_len[i];
            d->tgt_len[k] = d->tgt_len[i];
        }
        k++;
    }
    const int dropped = d->n - k;
    d->n = k;
    return dropped;
}

void s2s_dataset_free(s2s_dataset *d) {
    if (!d) return;
    free(d->src); free(d->src_len); free(d->tgt); free(d->tgt_len);
    memset(d, 0, sizeof *d);
}

int s2s_text_ids(const s2s_vocab *v, const char *sentence, size_t len, int32_t *ids, int cap, s2s_err *err) {
    /* a sentence's text on the stack: no allocation per sentence (batched translation encodes
     * ~300k a second); a longer one on the heap */
    char stack[512], *text = stack;
    size_t tl;
    if (2 * len + 1 > sizeof stack) {
        if (s2s_preprocess(sentence, len, "sentence", &text, &tl, err)) return S2S_ERR;
    } else if (preprocess_into(sentence, len, "sentence", CTL_ANY, text, &tl, err)) {
        return S2S_ERR;
    }
    int n = 0;   /* tokens */
    for (char *b = text;;) {
        char *sp = memchr(b, ' ', (size_t)(text + tl - b));
        if (sp) *sp = 0;
        if (n < cap) ids[n] = s2s_vocab_id(v, b);
        if (n < INT_MAX - 1) n++;
        if (!sp) break;
        b = sp + 1;
    }
    if (text != stack) free(text);
    return n;
}

int s2s_encode_sentence(const s2s_vocab *v, const char *sentence, int T, int32_t *ids, s2s_err *err) {
    if (T < 1) return s2s_errf(err, "encode: num_steps T=%d, must be at least 1", T);
    size_t len = strlen(sentence);
    if (len > 0 && sentence[len - 1] == '\n') len--;
    if (len > 0 && sentence[len - 1] == '\r') len--;
    int n = s2s_text_ids(v, sentence, len, ids, T, err);   /* tokens before <eos> */
    if (n < 0) return S2S_ERR;
    for (int t = n; t < T; t++) ids[t] = t == n ? S2S_EOS : S2S_PAD;
    /* d2l passes len(src_tokens) (with <eos>, before truncation) as the valid length; past T it
     * masks nothing, which is the same as T. */
    return n + 1 < T ? n + 1 : T;
}
