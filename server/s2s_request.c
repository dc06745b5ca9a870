/* Parsing the translation APIs' request bodies and writing their answers (s2s_request.h). The
 * body is checked as UTF-8 before cJSON sees it (cJSON passes invalid bytes through), and
 * "\u0000" is refused (cJSON would cut the string there without a word). */
#include "s2s_request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(s2s_req_error *e, s2s_error_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(s2s_req_error *e, s2s_error_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->kind = kind;
    return S2S_ERR;
}

/* Offset of the first byte of s[0..n) that does not start a valid UTF-8 sequence (shortest
 * form, no surrogates, at most U+10FFFF), or n when all of it is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int k;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (n - i <= (size_t)k) return i;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += (size_t)k + 1;
    }
    return n;
}

/* Whether the JSON text has an escaped NUL (\u0000) inside a string: a backslash that is not
 * itself escaped, then u0000. Outside strings a backslash is a syntax error anyway. */
static int has_escaped_nul(const char *s, size_t n) {
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] != '\\') continue;
        if ((s[i + 1] == 'u' || s[i + 1] == 'U') && !memcmp(s + i + 2, "0000", 4)) return 1;
        i++;  /* skip the escaped character (so "\\u0000" is a backslash and text) */
    }
    return 0;
}

static int count_words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

/* A sentence against the length limits; `what` names it in messages ("text[3]"). */
static int check_sentence(const char *s, const char *what, const s2s_req_limits *lim, s2s_req_error *e) {
    size_t b = strlen(s);
    if (b > (size_t)lim->max_sentence_bytes)
        return fail(e, S2S_E_TOO_LONG, "%s is %zu bytes, over the limit of %d bytes a sentence", what, b,
                    lim->max_sentence_bytes);
    int w = count_words(s);
    if (w > lim->max_sentence_words)
        return fail(e, S2S_E_TOO_LONG, "%s has %d words, over the limit of %d words a sentence", what, w,
                    lim->max_sentence_words);
    return S2S_OK;
}

void s2s_request_free(s2s_request *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        if (r->text) free(r->text[i]);
        if (r->src) free(r->src[i]);
    }
    free(r->text); free(r->src); free(r->skip);
    memset(r, 0, sizeof *r);
}

static int alloc_sentences(s2s_request *r, int n, s2s_req_error *e) {
    r->text = calloc((size_t)n, sizeof(char *));
    if (r->api == S2S_API_ONMT) {
        r->src = calloc((size_t)n, sizeof(char *));
        r->skip = calloc((size_t)n, sizeof(int));
    }
    if (!r->text || (r->api == S2S_API_ONMT && (!r->src || !r->skip)))
        return fail(e, S2S_E_INTERNAL, "out of memory for a request of %d sentences", n);
    r->n = n;
    return S2S_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* An integer field in [lo, hi]. */
static int get_int(const cJSON *v, const char *name, int lo, int hi, int *out, s2s_req_error *e) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return fail(e, S2S_E_BAD_VALUE, "\"%s\" must be a whole number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return fail(e, S2S_E_BAD_VALUE, "\"%s\" is %g, out of range (%d .. %d)", name, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return S2S_OK;
}

/* The object's fields must be distinct and among `known` (NULL-terminated). */
static int check_fields(const cJSON *obj, const char *const *known, const char *where, s2s_req_error *e) {
    for (const cJSON *f = obj->child; f; f = f->next) {
        int k = 0;
        while (known[k] && strcmp(known[k], f->string)) k++;
        if (!known[k]) {
            char list[128] = "";
            for (int j = 0; known[j]; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", j ? ", " : "", known[j]);
            return fail(e, S2S_E_UNKNOWN_FIELD, "%sunknown field \"%.64s\" (known: %s)", where, f->string, list);
        }
        for (const cJSON *g = obj->child; g != f; g = g->next)
            if (!strcmp(g->string, f->string))
                return fail(e, S2S_E_BAD_JSON, "%sfield \"%s\" appears twice", where, f->string);
    }
    return S2S_OK;
}

static int parse_onmt(const cJSON *root, const s2s_req_limits *lim, s2s_request *r, s2s_req_error *e) {
    static const char *const known[] = {"src", "id", NULL};
    if (!cJSON_IsArray(root))
        return fail(e, S2S_E_BAD_JSON, "the body must be a JSON array of {\"src\": ..., \"id\": ...} objects");
    int n = cJSON_GetArraySize(root);
    if (n == 0) return fail(e, S2S_E_BAD_VALUE, "the request has no sentences");
    if (n > lim->max_sentences)
        return fail(e, S2S_E_TOO_LONG, "%d sentences in one request, over the limit of %d", n, lim->max_sentences);
    if (alloc_sentences(r, n, e)) return S2S_ERR;
    int i = 0;
    for (const cJSON *it = root->child; it; it = it->next, i++) {
        char where[48];
        snprintf(where, sizeof where, "[%d]: ", i);
        if (!cJSON_IsObject(it)) return fail(e, S2S_E_BAD_JSON, "[%d] must be an object {\"src\": ...}", i);
        if (check_fields(it, known, where, e)) return S2S_ERR;
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "src");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!src) return fail(e, S2S_E_BAD_VALUE, "[%d] has no \"src\"", i);
        if (!cJSON_IsString(src)) return fail(e, S2S_E_BAD_VALUE, "[%d].src must be a string", i);
        if (id && !cJSON_IsNumber(id)) return fail(e, S2S_E_BAD_VALUE, "[%d].id must be a number (a model id)", i);
        snprintf(where, sizeof where, "[%d].src", i);
        if (check_sentence(src->valuestring, where, lim, e)) return S2S_ERR;
        const char *s = src->valuestring, *end = s + strlen(s);
        while (s < end && is_space(*s)) s++;
        while (end > s && is_space(end[-1])) end--;
        r->src[i] = strdup(src->valuestring);
        r->text[i] = strndup(s, (size_t)(end - s));
        r->skip[i] = s == end;
        if (!r->src[i] || !r->text[i]) return fail(e, S2S_E_INTERNAL, "out of memory");
    }
    return S2S_OK;
}

static int parse_v1(const cJSON *root, const s2s_req_limits *lim, s2s_request *r, s2s_req_error *e) {
    static const char *const known[] = {"text", "beam", "nbest", "alpha", "attention", NULL};
    if (!cJSON_IsObject(root))
        return fail(e, S2S_E_BAD_JSON, "the body must be a JSON object {\"text\": [...], ...}");
    if (check_fields(root, known, "", e)) return S2S_ERR;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
    if (!text) return fail(e, S2S_E_BAD_VALUE, "\"text\" is missing (an array of sentences)");
    if (!cJSON_IsArray(text) && !cJSON_IsString(text))
        return fail(e, S2S_E_BAD_VALUE, "\"text\" must be an array of strings (or one string)");
    s2s_decode_opts *o = &r->opts;
    const cJSON *v;
    int beam_given = 0;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "beam"))) {
        if (get_int(v, "beam", 1, lim->max_beam, &o->beam, e)) return S2S_ERR;
        beam_given = 1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "nbest"))) {
        if (get_int(v, "nbest", 1, lim->max_beam, &o->nbest, e)) return S2S_ERR;
    } else if (o->nbest > o->beam) {
        o->nbest = o->beam;  /* the server's default n-best never exceeds the request's beam */
    }
    if (o->nbest > o->beam)
        return fail(e, S2S_E_BAD_VALUE, "\"nbest\" %d is more than the %s beam %d can return", o->nbest,
                    beam_given ? "request's" : "default", o->beam);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "alpha"))) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return fail(e, S2S_E_BAD_VALUE, "\"alpha\" must be a number");
        if (v->valuedouble < -10 || v->valuedouble > 10)
            return fail(e, S2S_E_BAD_VALUE, "\"alpha\" is %g, out of range (-10 .. 10)", v->valuedouble);
        o->alpha = (float)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "attention"))) {
        if (!cJSON_IsBool(v)) return fail(e, S2S_E_BAD_VALUE, "\"attention\" must be true or false");
        o->attention = cJSON_IsTrue(v);
    }
    int n = cJSON_IsString(text) ? 1 : cJSON_GetArraySize(text);
    if (n == 0) return fail(e, S2S_E_BAD_VALUE, "\"text\" has no sentences");
    if (n > lim->max_sentences)
        return fail(e, S2S_E_TOO_LONG, "%d sentences in one request, over the limit of %d", n, lim->max_sentences);
    if (alloc_sentences(r, n, e)) return S2S_ERR;
    const cJSON *it = cJSON_IsString(text) ? text : text->child;
    for (int i = 0; i < n; i++, it = it->next) {
        char where[32];
        snprintf(where, sizeof where, "text[%d]", i);
        if (!cJSON_IsString(it)) return fail(e, S2S_E_BAD_VALUE, "text[%d] must be a string", i);
        if (check_sentence(it->valuestring, where, lim, e)) return S2S_ERR;
        if (!(r->text[i] = strdup(it->valuestring))) return fail(e, S2S_E_INTERNAL, "out of memory");
    }
    return S2S_OK;
}

int s2s_request_parse(s2s_api api, const char *body, size_t len, const s2s_decode_opts *defaults,
                      const s2s_req_limits *lim, s2s_request *out, s2s_req_error *e) {
    memset(out, 0, sizeof *out);
    out->api = api;
    out->opts = *defaults;
    size_t bad = utf8_invalid_at((const unsigned char *)body, len);
    if (bad < len)
        return fail(e, S2S_E_BAD_UTF8, "the body is not valid UTF-8 (byte 0x%02x at offset %zu)",
                    (unsigned char)body[bad], bad);
    if (memchr(body, 0, len)) return fail(e, S2S_E_BAD_UTF8, "the body contains a NUL byte");
    if (has_escaped_nul(body, len)) return fail(e, S2S_E_BAD_UTF8, "a string contains a NUL character (\\u0000)");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        const char *ep = cJSON_GetErrorPtr();
        if (ep && ep >= body && ep <= body + len) at = (size_t)(ep - body);
        return fail(e, S2S_E_BAD_JSON, "the body is not valid JSON (near offset %zu)", at);
    }
    while (end < body + len && is_space(*end)) end++;
    int rc;
    if (end < body + len)
        rc = fail(e, S2S_E_BAD_JSON, "the body has data after the JSON value (offset %zu)", (size_t)(end - body));
    else rc = api == S2S_API_ONMT ? parse_onmt(root, lim, out, e) : parse_v1(root, lim, out, e);
    cJSON_Delete(root);
    if (rc) s2s_request_free(out);
    return rc;
}

/* ---- answers ------------------------------------------------------------------------------ */

/* A score with 9 significant digits (cJSON would print 17), or an attention weight as the
 * shortest text that reads back as the same float; null when not finite. */
static cJSON *num(double v, int weight) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char s[40];
    if (!weight) snprintf(s, sizeof s, "%.9g", v);
    else
        for (int p = 6; p <= 9; p++) {
            snprintf(s, sizeof s, "%.*g", p, v);
            if ((float)strtod(s, NULL) == (float)v) break;
        }
    return cJSON_CreateRaw(s);
}

static cJSON *strings(char *const *s, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

static cJSON *onmt_answer(const s2s_request *r, const s2s_engine_result *res) {
    const int nb = r->opts.nbest;
    cJSON *root = cJSON_CreateArray();
    for (int k = 0; root && k < nb; k++) {
        cJSON *rank = cJSON_CreateArray();
        cJSON_AddItemToArray(root, rank);
        for (int i = 0; rank && i < r->n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(rank, o);
            cJSON_AddStringToObject(o, "src", r->src[i]);
            const s2s_engine_hyp *h = !r->skip[i] && k < res[i].n_hyps ? &res[i].hyps[k] : NULL;
            if (h) {  /* the whitespace around src goes back around tgt, as OpenNMT-py does */
                const char *s = r->src[i];
                size_t n = strlen(s), head = 0, tail = 0, tl = strlen(h->text);
                while (head < n && is_space(s[head])) head++;
                while (tail < n - head && is_space(s[n - 1 - tail])) tail++;
                char *tgt = malloc(head + tl + tail + 1);
                if (tgt) {
                    memcpy(tgt, s, head);
                    memcpy(tgt + head, h->text, tl);
                    memcpy(tgt + head + tl, s + n - tail, tail);
                    tgt[head + tl + tail] = 0;
                }
                cJSON_AddItemToObject(o, "tgt", tgt ? cJSON_CreateString(tgt) : NULL);
                free(tgt);
            } else {
                cJSON_AddStringToObject(o, "tgt", "");
            }
            cJSON_AddNumberToObject(o, "n_best", nb);
            cJSON *score = h ? num(h->score, 0) : r->skip[i] ? cJSON_CreateNumber(0) : cJSON_CreateNull();
            cJSON_AddItemToObject(o, "pred_score", score);
        }
    }
    return root;
}

/* A hypothesis' attention: {"tgt_tokens": [...], "weights": [[...] per target token]}; null
 * when the model has none (a plain decoder). */
static cJSON *attention(const s2s_engine_hyp *y, int n_src) {
    if (!y->attn || !n_src) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateObject(), *w;
    cJSON_AddItemToObject(a, "tgt_tokens", strings(y->tgt_tokens, y->n_tgt));
    if (!(w = cJSON_AddArrayToObject(a, "weights"))) return a;
    for (int t = 0; t < y->n_tgt; t++) {
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(w, row);
        for (int s = 0; row && s < n_src; s++) cJSON_AddItemToArray(row, num(y->attn[(size_t)t * n_src + s], 1));
    }
    return a;
}

static cJSON *v1_answer(const s2s_request *r, const s2s_engine_result *res) {
    cJSON *root = cJSON_CreateObject(), *tr = cJSON_AddArrayToObject(root, "translations");
    for (int i = 0; tr && i < r->n; i++) {
        const s2s_engine_result *x = &res[i];
        cJSON *o = cJSON_CreateObject(), *hyps;
        cJSON_AddItemToArray(tr, o);
        cJSON_AddStringToObject(o, "src", r->text[i]);
        if (r->opts.attention && x->n_src)
            cJSON_AddItemToObject(o, "src_tokens", strings(x->src_tokens, x->n_src));
        if (!(hyps = cJSON_AddArrayToObject(o, "hypotheses"))) break;
        for (int h = 0; h < x->n_hyps; h++) {
            cJSON *ho = cJSON_CreateObject();
            cJSON_AddItemToArray(hyps, ho);
            cJSON_AddStringToObject(ho, "text", x->hyps[h].text);
            cJSON_AddItemToObject(ho, "score", num(x->hyps[h].score, 0));
            if (r->opts.attention) cJSON_AddItemToObject(ho, "attention", attention(&x->hyps[h], x->n_src));
        }
    }
    return root;
}

char *s2s_response_json(const s2s_request *r, const s2s_engine_result *res, size_t *len) {
    cJSON *root = r->api == S2S_API_ONMT ? onmt_answer(r, res) : v1_answer(r, res);
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (s) *len = strlen(s);
    return s;
}

char *s2s_error_json(s2s_error_kind kind, const char *msg, size_t *len) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "error");
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddStringToObject(o, "kind", s2s_error_name(kind));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) *len = strlen(s);
    return s;
}
