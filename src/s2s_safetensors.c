/* Safetensors reader and writer. The reader checks every length, offset, shape and dtype it
 * reads against the bytes actually present before using it (ggml's gguf reader is the model);
 * the writer produces the official layout (compact JSON, "__metadata__" first, header padded
 * with spaces to a multiple of 8) and replaces the target file atomically. */
#include "s2s_safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* the official limit (100 MB) */
#define ST_MAX_INT 9007199254740992.0        /* 2^53: larger JSON numbers lose precision as doubles */

static const char *const dtype_names[S2S_DTYPE_COUNT] = {
    "F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
static const size_t dtype_sizes[S2S_DTYPE_COUNT] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};

const char *s2s_dtype_name(s2s_dtype d) { return (unsigned)d < S2S_DTYPE_COUNT ? dtype_names[d] : "?"; }
size_t s2s_dtype_size(s2s_dtype d) { return (unsigned)d < S2S_DTYPE_COUNT ? dtype_sizes[d] : 0; }

typedef struct st_span { uint64_t begin, end; int idx; } st_span;
typedef struct st_named { const char *name; int idx; } st_named;

struct s2s_st_file {
    cJSON *root;          /* owns every name, metadata key and value string */
    int n, n_meta;
    s2s_tensor *tensors;  /* file (header) order */
    uint64_t *begin;      /* offset of each tensor in data */
    st_named *by_name;    /* sorted by name, for s2s_st_find */
    const char **meta_keys, **meta_values;
    unsigned char *data;  /* malloc'd, so aligned for any type; tensor data points into it */
    uint64_t data_len;
};

/* ---------------------------------------------------------------- small helpers */

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Valid UTF-8 with no control bytes except tab/LF/CR: JSON allows no others, and a NUL would
 * let a C string end early. Rejects overlong forms and surrogates. */
static int text_ok(const unsigned char *s, size_t n, int allow_ctl) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && !allow_ctl && c != '\t' && c != '\n' && c != '\r') return 0;
            i++;
            continue;
        }
        size_t len; unsigned cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* A name from the file, shortened and made printable so that messages stay on one line. */
static const char *show(const char *s, char buf[72]) {
    size_t i = 0;
    for (; s[i] && i < 64; i++) buf[i] = ((unsigned char)s[i] < 0x20) ? '?' : s[i];
    if (s[i]) { memcpy(buf + i, "...", 3); i += 3; }
    buf[i] = 0;
    return buf;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *it, uint64_t *out, const char **why) {
    if (!cJSON_IsNumber(it)) { *why = "is not a number"; return 0; }
    double v = it->valuedouble;
    if (v < 0) { *why = "is negative"; return 0; }
    if (!(v < ST_MAX_INT)) { *why = "is too large"; return 0; }
    if (v != (double)(uint64_t)v) { *why = "is not an integer"; return 0; }
    *out = (uint64_t)v;
    return 1;
}

static int cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

static int cmp_named(const void *a, const void *b) {
    const st_named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->idx - y->idx;
}

/* ---------------------------------------------------------------- reading */

/* Checks the 8-byte header length against the bytes that follow it. */
static int check_header_len(const char *name, uint64_t size, uint64_t n, s2s_err *err) {
    if (size < 8)
        return s2s_errf(err, "%s: truncated: file is %" PRIu64 " bytes, too short for the 8-byte header length",
                        name, size);
    if (n > size - 8)
        return s2s_errf(err, "%s: truncated: header says %" PRIu64 " bytes but only %" PRIu64 " remain",
                        name, n, size - 8);
    if (n > ST_MAX_HEADER)
        return s2s_errf(err, "%s: header length %" PRIu64 " exceeds the %u-byte limit", name, n, ST_MAX_HEADER);
    if (n < 2) return s2s_errf(err, "%s: header length %" PRIu64 " is too small for a JSON object", name, n);
    return S2S_OK;
}

/* One tensor entry: {"dtype": .., "shape": [..], "data_offsets": [b, e]}; unknown fields are
 * ignored, as the official reader does. */
static int parse_entry(const char *name, const cJSON *e, uint64_t data_len, s2s_tensor *t,
                       uint64_t *begin, s2s_err *err) {
    char nb[72];
    const char *tn = show(t->name, nb), *why = "";
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    if (!cJSON_IsObject(e)) return s2s_errf(err, "%s: tensor '%s': entry is not a JSON object", name, tn);
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "dtype") ? &dt : !strcmp(c->string, "shape") ? &sh
                           : !strcmp(c->string, "data_offsets") ? &off : NULL;
        if (!slot) continue;
        if (*slot) return s2s_errf(err, "%s: tensor '%s': field '%s' appears twice", name, tn, c->string);
        *slot = c;
    }
    if (!dt || !sh || !off)
        return s2s_errf(err, "%s: tensor '%s': missing field '%s'", name, tn,
                        !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt)) return s2s_errf(err, "%s: tensor '%s': dtype is not a string", name, tn);
    int d = 0;
    while (d < S2S_DTYPE_COUNT && strcmp(dt->valuestring, dtype_names[d])) d++;
    if (d == S2S_DTYPE_COUNT)
        return s2s_errf(err, "%s: tensor '%s': unknown dtype '%s' (supported: F32 F64 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                        name, tn, show(dt->valuestring, (char[72]){0}));
    t->dtype = (s2s_dtype)d;
    if (!cJSON_IsArray(sh)) return s2s_errf(err, "%s: tensor '%s': shape is not an array", name, tn);
    int nd = cJSON_GetArraySize(sh);
    if (nd > S2S_ST_MAX_DIMS)
        return s2s_errf(err, "%s: tensor '%s': shape has %d dimensions, more than the %d supported",
                        name, tn, nd, S2S_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t count = 1, v;
    int k = 0, overflow = 0;
    for (const cJSON *c = sh->child; c; c = c->next, k++) {
        if (!json_uint(c, &v, &why))
            return s2s_errf(err, "%s: tensor '%s': shape[%d] %s; dimensions must be non-negative integers",
                            name, tn, k, why);
        t->shape[k] = (int64_t)v;
        overflow |= __builtin_mul_overflow(count, v, &count);
    }
    uint64_t nbytes;
    overflow |= __builtin_mul_overflow(count, (uint64_t)dtype_sizes[d], &nbytes);
    if (overflow || nbytes > SIZE_MAX)
        return s2s_errf(err, "%s: tensor '%s': shape's byte size overflows", name, tn);
    uint64_t be[2];
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return s2s_errf(err, "%s: tensor '%s': data_offsets is not a [begin, end] pair", name, tn);
    for (k = 0; k < 2; k++)
        if (!json_uint(cJSON_GetArrayItem(off, k), &be[k], &why))
            return s2s_errf(err, "%s: tensor '%s': data_offsets[%d] %s", name, tn, k, why);
    if (be[0] > be[1])
        return s2s_errf(err, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                        name, tn, be[0], be[1]);
    if (be[1] > data_len)
        return s2s_errf(err, "%s: tensor '%s': data_offsets end at %" PRIu64 ", beyond the %" PRIu64 "-byte data buffer",
                        name, tn, be[1], data_len);
    if (be[1] - be[0] != nbytes)
        return s2s_errf(err, "%s: tensor '%s': shape and dtype %s need %" PRIu64 " bytes but data_offsets span %" PRIu64,
                        name, tn, dtype_names[d], nbytes, be[1] - be[0]);
    t->nbytes = (size_t)nbytes;
    *begin = be[0];
    return S2S_OK;
}

static int parse_metadata(const char *name, cJSON *m, s2s_st_file *f, s2s_err *err) {
    char nb[72];
    if (!cJSON_IsObject(m)) return s2s_errf(err, "%s: __metadata__ is not a JSON object", name);
    int n = cJSON_GetArraySize(m);
    f->meta_keys = s2s_calloc((size_t)n, sizeof *f->meta_keys, err, "metadata keys");
    f->meta_values = s2s_calloc((size_t)n, sizeof *f->meta_values, err, "metadata values");
    if (!f->meta_keys || !f->meta_values) return S2S_ERR;
    st_named *sorted = s2s_calloc((size_t)n, sizeof *sorted, err, "metadata keys");
    if (!sorted) return S2S_ERR;
    int rc = S2S_OK;
    for (cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c)) {
            rc = s2s_errf(err, "%s: __metadata__ value for '%s' is not a string", name, show(c->string, nb));
            break;
        }
        sorted[f->n_meta] = (st_named){c->string, f->n_meta};
        f->meta_keys[f->n_meta] = c->string;
        f->meta_values[f->n_meta++] = c->valuestring;
    }
    /* sorted, not pairwise, so that a huge header cannot make this quadratic */
    qsort(sorted, (size_t)f->n_meta, sizeof *sorted, cmp_named);
    for (int i = 1; !rc && i < f->n_meta; i++)
        if (!strcmp(sorted[i - 1].name, sorted[i].name))
            rc = s2s_errf(err, "%s: __metadata__ key '%s' appears twice", name, show(sorted[i].name, nb));
    free(sorted);
    return rc;
}

/* Parses the n-byte header (hdr has a NUL after it) and checks it against a data buffer of
 * data_len bytes. Leaves data pointers for the caller to set once the buffer is loaded. */
static int parse_header(const char *name, const char *hdr, size_t n, uint64_t data_len,
                        s2s_st_file *f, s2s_err *err) {
    char nb[72];
    if (!text_ok((const unsigned char *)hdr, n, 0))
        return s2s_errf(err, "%s: header is not valid UTF-8 JSON text (bad or control byte)", name);
    long nul = s2s_json_nul_escape(hdr, n);
    if (nul >= 0)  /* cJSON would cut that name or value short at the NUL, silently */
        return s2s_errf(err, "%s: header has an escaped NUL (\\u0000) at byte %ld: no name or value may hold one", name, nul);
    /* cJSON may read one byte past the given length (DaveGamble/cJSON#804), hence the NUL. */
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (!f->root)
        return s2s_errf(err, "%s: header is not valid JSON (error near byte %td of %zu)", name,
                        end ? end - hdr : (ptrdiff_t)0, n);
    for (; end < hdr + n; end++)
        if (!strchr(" \t\r\n", *end))
            return s2s_errf(err, "%s: header has data after the JSON object at byte %td", name, end - hdr);
    if (!cJSON_IsObject(f->root)) return s2s_errf(err, "%s: header is not a JSON object", name);

    int total = cJSON_GetArraySize(f->root);
    f->tensors = s2s_calloc((size_t)total, sizeof *f->tensors, err, "tensor table");
    f->begin = s2s_calloc((size_t)total, sizeof *f->begin, err, "tensor offsets");
    f->by_name = s2s_calloc((size_t)total, sizeof *f->by_name, err, "tensor names");
    st_span *spans = s2s_calloc((size_t)total, sizeof *spans, err, "tensor spans");
    int rc = S2S_ERR, seen_meta = 0;
    if (!f->tensors || !f->begin || !f->by_name || !spans) goto out;
    for (cJSON *c = f->root->child; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            if (seen_meta++) { s2s_errf(err, "%s: __metadata__ appears twice", name); goto out; }
            if (parse_metadata(name, c, f, err)) goto out;
            continue;
        }
        if (!c->string[0]) { s2s_errf(err, "%s: a tensor has an empty name", name); goto out; }
        s2s_tensor *t = &f->tensors[f->n];
        t->name = c->string;
        if (parse_entry(name, c, data_len, t, &f->begin[f->n], err)) goto out;
        spans[f->n] = (st_span){f->begin[f->n], f->begin[f->n] + t->nbytes, f->n};
        f->by_name[f->n] = (st_named){t->name, f->n};
        f->n++;
    }
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_named);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->by_name[i - 1].name, f->by_name[i].name)) {
            s2s_errf(err, "%s: tensor name '%s' appears twice", name, show(f->by_name[i].name, nb));
            goto out;
        }
    /* Like the official reader: sorted by offset, each tensor must start where the last ended,
     * and the last must end at the end of the buffer. */
    qsort(spans, (size_t)f->n, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        if (spans[i].begin != at) {
            s2s_errf(err, "%s: tensor '%s' starts at data offset %" PRIu64 " but the previous one ends at %" PRIu64 " (%s)",
                     name, show(f->tensors[spans[i].idx].name, nb), spans[i].begin, at,
                     spans[i].begin < at ? "overlap" : "gap");
            goto out;
        }
        at = spans[i].end;
    }
    if (at != data_len) {
        s2s_errf(err, "%s: tensors cover %" PRIu64 " bytes of the %" PRIu64 "-byte data buffer; the rest is unaccounted for",
                 name, at, data_len);
        goto out;
    }
    rc = S2S_OK;
out:
    free(spans);
    return rc;
}

static void attach_data(s2s_st_file *f) {
    for (int i = 0; i < f->n; i++) f->tensors[i].data = f->data + f->begin[i];
}

int s2s_st_parse(const void *buf, size_t len, const char *name, s2s_st_file **out, s2s_err *err) {
    const unsigned char *b = buf;
    *out = NULL;
    uint64_t n = len >= 8 ? le64(b) : 0;
    if (check_header_len(name, len, n, err)) return S2S_ERR;
    s2s_st_file *f = s2s_calloc(1, sizeof *f, err, "safetensors file");
    char *hdr = s2s_malloc((size_t)n + 1, err, "safetensors header");
    if (!f || !hdr) { free(f); free(hdr); return S2S_ERR; }
    memcpy(hdr, b + 8, (size_t)n);
    hdr[n] = 0;
    f->data_len = len - 8 - n;
    int rc = parse_header(name, hdr, (size_t)n, f->data_len, f, err);
    free(hdr);
    if (!rc && (f->data = s2s_malloc((size_t)f->data_len, err, "safetensors data")) == NULL) rc = S2S_ERR;
    if (rc) { s2s_st_free(f); return S2S_ERR; }
    memcpy(f->data, b + 8 + n, (size_t)f->data_len);
    attach_data(f);
    *out = f;
    return S2S_OK;
}

/* Reads exactly n bytes unless the file ends first; returns the count read, or -1 on error. */
static ssize_t read_full(int fd, void *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Reads header and data straight into their own buffers (no whole-file copy); sizes come from
 * fstat and are checked before anything is allocated. */
int s2s_st_read(const char *path, s2s_st_file **out, s2s_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return s2s_errf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    s2s_st_file *f = NULL;
    char *hdr = NULL;
    unsigned char lb[8];
    int rc = S2S_ERR;
    if (fstat(fd, &st)) { s2s_errf(err, "%s: cannot stat: %s", path, strerror(errno)); goto out; }
    if (!S_ISREG(st.st_mode)) { s2s_errf(err, "%s: not a regular file", path); goto out; }
    uint64_t size = (uint64_t)st.st_size, n = 0;
    if (size >= 8) {
        ssize_t r = read_full(fd, lb, 8);
        if (r != 8) { s2s_errf(err, "%s: cannot read the header length: %s", path, r < 0 ? strerror(errno) : "file shrank"); goto out; }
        n = le64(lb);
    }
    if (check_header_len(path, size, n, err)) goto out;
    if (size - 8 - n > SIZE_MAX) { s2s_errf(err, "%s: file too large for this machine", path); goto out; }
    if (!(f = s2s_calloc(1, sizeof *f, err, "safetensors file"))) goto out;
    if (!(hdr = s2s_malloc((size_t)n + 1, err, "safetensors header"))) goto out;
    ssize_t r = read_full(fd, hdr, (size_t)n);
    if (r != (ssize_t)n) { s2s_errf(err, "%s: cannot read the header: %s", path, r < 0 ? strerror(errno) : "file shrank"); goto out; }
    hdr[n] = 0;
    f->data_len = size - 8 - n;
    if (parse_header(path, hdr, (size_t)n, f->data_len, f, err)) goto out;
    if (!(f->data = s2s_malloc((size_t)f->data_len, err, "safetensors data"))) goto out;
    r = read_full(fd, f->data, (size_t)f->data_len);
    if (r != (ssize_t)f->data_len) { s2s_errf(err, "%s: cannot read tensor data: %s", path, r < 0 ? strerror(errno) : "file shrank"); goto out; }
    attach_data(f);
    *out = f;
    f = NULL;
    rc = S2S_OK;
out:
    free(hdr);
    s2s_st_free(f);
    close(fd);
    return rc;
}

void s2s_st_free(s2s_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->root);
    free(f->tensors); free(f->begin); free(f->by_name);
    free(f->meta_keys); free(f->meta_values); free(f->data);
    free(f);
}

int s2s_st_count(const s2s_st_file *f) { return f->n; }
const s2s_tensor *s2s_st_get(const s2s_st_file *f, int i) { return i >= 0 && i < f->n ? &f->tensors[i] : NULL; }

const s2s_tensor *s2s_st_find(const s2s_st_file *f, const char *name) {
    int lo = 0, hi = f->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid].name, name);
        if (!c) return &f->tensors[f->by_name[mid].idx];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

const char *s2s_st_meta(const s2s_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}
int s2s_st_meta_count(const s2s_st_file *f) { return f->n_meta; }
void s2s_st_meta_at(const s2s_st_file *f, int i, const char **key, const char **value) {
    int ok = i >= 0 && i < f->n_meta;
    if (key) *key = ok ? f->meta_keys[i] : NULL;
    if (value) *value = ok ? f->meta_values[i] : NULL;
}

/* ---------------------------------------------------------------- writing */

/* Checks the tensors and builds the unpadded JSON header (caller frees with cJSON_free). */
static char *build_header(const char *path, const s2s_tensor *ts, int n, const char *const *keys,
                          const char *const *vals, int n_meta, s2s_err *err) {
    char nb[72], raw[64 + 24 * S2S_ST_MAX_DIMS];
    cJSON *root = cJSON_CreateObject(), *meta = NULL;
    int ok = root != NULL;
    if (ok && n_meta > 0) ok = (meta = cJSON_AddObjectToObject(root, "__metadata__")) != NULL;
    for (int i = 0; ok && i < n_meta; i++) {
        if (!keys[i] || !vals[i] || !text_ok((const unsigned char *)keys[i], strlen(keys[i]), 1)
            || !text_ok((const unsigned char *)vals[i], strlen(vals[i]), 1)) {
            s2s_errf(err, "%s: metadata entry %d is NULL or not valid UTF-8", path, i);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(keys[i], keys[j])) { s2s_errf(err, "%s: metadata key '%s' given twice", path, show(keys[i], nb)); goto fail; }
        ok = cJSON_AddStringToObject(meta, keys[i], vals[i]) != NULL;
    }
    uint64_t at = 0;
    for (int i = 0; ok && i < n; i++) {
        const s2s_tensor *t = &ts[i];
        if (!t->name || !t->name[0] || !strcmp(t->name, "__metadata__")
            || !text_ok((const unsigned char *)t->name, strlen(t->name), 1)) {
            s2s_errf(err, "%s: tensor %d has an empty, reserved or non-UTF-8 name", path, i);
            goto fail;
        }
        const char *tn = show(t->name, nb);
        for (int j = 0; j < i; j++)
            if (!strcmp(t->name, ts[j].name)) { s2s_errf(err, "%s: tensor name '%s' given twice", path, tn); goto fail; }
        if ((unsigned)t->dtype >= S2S_DTYPE_COUNT || t->ndim < 0 || t->ndim > S2S_ST_MAX_DIMS) {
            s2s_errf(err, "%s: tensor '%s': bad dtype %d or ndim %d", path, tn, (int)t->dtype, t->ndim);
            goto fail;
        }
        uint64_t count = 1;
        int len = snprintf(raw, sizeof raw, "["), overflow = 0;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0) { s2s_errf(err, "%s: tensor '%s': negative shape[%d]", path, tn, k); goto fail; }
            overflow |= __builtin_mul_overflow(count, (uint64_t)t->shape[k], &count);
            len += snprintf(raw + len, sizeof raw - (size_t)len, "%s%" PRId64, k ? "," : "", t->shape[k]);
        }
        snprintf(raw + len, sizeof raw - (size_t)len, "]");
        overflow |= __builtin_mul_overflow(count, (uint64_t)dtype_sizes[t->dtype], &count);
        if (overflow || count != t->nbytes || (t->nbytes && !t->data)) {
            s2s_errf(err, "%s: tensor '%s': nbytes %zu does not match its shape and dtype %s (or data is NULL)",
                     path, tn, t->nbytes, dtype_names[t->dtype]);
            goto fail;
        }
        if ((double)at + (double)t->nbytes >= ST_MAX_INT) { s2s_errf(err, "%s: tensors too large", path); goto fail; }
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        ok = e && cJSON_AddStringToObject(e, "dtype", dtype_names[t->dtype]) && cJSON_AddRawToObject(e, "shape", raw);
        snprintf(raw, sizeof raw, "[%" PRIu64 ",%" PRIu64 "]", at, at + t->nbytes);
        ok = ok && cJSON_AddRawToObject(e, "data_offsets", raw);
        at += t->nbytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (!json) { s2s_errf(err, "%s: out of memory building the header", path); goto fail; }
    cJSON_Delete(root);
    return json;
fail:
    cJSON_Delete(root);
    return NULL;
}

/* Writes the file's bytes into o->f (the header and tensors are already checked). */
static int write_body(s2s_out *o, const char *json, size_t hlen, const s2s_tensor *tensors, int n, s2s_err *err) {
    size_t jlen = strlen(json);
    unsigned char lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    FILE *fp = o->f;
    int ok = fwrite(lb, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen;
    for (size_t i = jlen; ok && i < hlen; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < n; i++)
        ok = !tensors[i].nbytes || fwrite(tensors[i].data, 1, tensors[i].nbytes, fp) == tensors[i].nbytes;
    if (!ok) return s2s_errf(err, "%s: cannot write the temporary file: %s", o->path, strerror(errno ? errno : EIO));
    return S2S_OK;
}

int s2s_st_stage(s2s_out *o, const char *path, const s2s_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int n_meta, s2s_err *err) {
    memset(o, 0, sizeof *o);
    if (n < 0 || n_meta < 0 || (n && !tensors) || (n_meta && (!meta_keys || !meta_values)))
        return s2s_errf(err, "%s: bad tensor or metadata arguments", path);
    char *json = build_header(path, tensors, n, meta_keys, meta_values, n_meta, err);
    if (!json) return S2S_ERR;
    size_t hlen = (strlen(json) + 7) / 8 * 8;
    int rc = S2S_ERR;
    if (hlen > ST_MAX_HEADER) s2s_errf(err, "%s: header of %zu bytes exceeds the limit", path, hlen);
    else if (!s2s_out_open(o, path, err)) {
        errno = 0;
        if (write_body(o, json, hlen, tensors, n, err) || s2s_out_close(o, err)) s2s_out_discard(o);
        else rc = S2S_OK;
    }
    cJSON_free(json);
    return rc;
}

int s2s_st_write(const char *path, const s2s_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int n_meta,
                 s2s_err *err) {
    s2s_out o;
    if (s2s_st_stage(&o, path, tensors, n, meta_keys, meta_values, n_meta, err)) return S2S_ERR;
    return s2s_out_commit(&o, err);
}
