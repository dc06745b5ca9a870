/* Tests for the safetensors reader and writer: round trips, a file laid out by the official
 * writer's rules (tools/make_st_fixture.py), every truncation of a valid file, a table of
 * corrupt headers each with the message it must give, writer atomicity, and the inputs the
 * fuzzer once found (tests/fixtures/st_fuzz/). */
#define _XOPEN_SOURCE 700 /* nftw, to clean up the temporary directory */
#include "harness.h"
#include "s2s_safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/s2s_st_test_XXXXXX";

static char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static int write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static unsigned char *slurp(const char *path, size_t *n) {
    char *d; s2s_err err;
    if (s2s_read_file(path, &d, n, &err)) { fprintf(stderr, "  %s\n", err.msg); return NULL; }
    return (unsigned char *)d;
}

/* Names in tmpdir that look like leftover temporary files. */
static int count_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

static int one_line(const char *msg) { return msg[0] && !strchr(msg, '\n'); }

/* ---------------------------------------------------------------- round trips */

static int test_roundtrip(void) {
    float scalar = 2.5f, vec[5] = {1, -2, 3.5f, 1e-30f, -0.0f};
    int32_t mat[6] = {1, -1, 2147483647, -2147483647 - 1, 0, 42};
    s2s_tensor ts[5] = {
        {.name = "scalar", .dtype = S2S_F32, .ndim = 0, .data = &scalar, .nbytes = 4},
        {.name = "enc.vec", .dtype = S2S_F32, .ndim = 1, .shape = {5}, .data = vec, .nbytes = sizeof vec},
        {.name = "mat", .dtype = S2S_I32, .ndim = 2, .shape = {2, 3}, .data = mat, .nbytes = sizeof mat},
        {.name = "empty", .dtype = S2S_F32, .ndim = 2, .shape = {0, 4}, .data = NULL, .nbytes = 0},
        {.name = "alpha", .dtype = S2S_I32, .ndim = 1, .shape = {0}, .data = NULL, .nbytes = 0},
    };
    s2s_err err = {{0}};
    const char *path = tpath("rt.safetensors");
    CHECK_MSG(s2s_st_write(path, ts, 5, NULL, NULL, 0, &err) == S2S_OK, "write: %s", err.msg);
    s2s_st_file *f = NULL;
    CHECK_MSG(s2s_st_read(path, &f, &err) == S2S_OK, "read: %s", err.msg);
    if (!f) return 0;
    CHECK(s2s_st_count(f) == 5);
    CHECK(s2s_st_meta_count(f) == 0);
    for (int i = 0; i < 5 && i < s2s_st_count(f); i++) {
        const s2s_tensor *t = s2s_st_get(f, i);
        CHECK_MSG(!strcmp(t->name, ts[i].name), "tensor %d is '%s', want '%s'", i, t->name, ts[i].name);
        CHECK(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim && t->nbytes == ts[i].nbytes);
        for (int k = 0; k < t->ndim; k++) CHECK(t->shape[k] == ts[i].shape[k]);
        if (t->nbytes) CHECK(!memcmp(t->data, ts[i].data, t->nbytes));
        CHECK_MSG((uintptr_t)t->data % 4 == 0, "tensor '%s' data is not 4-byte aligned", t->name);
        CHECK(s2s_st_find(f, ts[i].name) == t);
    }
    CHECK(s2s_st_find(f, "nope") == NULL && s2s_st_get(f, 5) == NULL);
    s2s_st_free(f);

    /* the official layout: header length a multiple of 8, padded with spaces, offsets in order */
    size_t n;
    unsigned char *b = slurp(path, &n);
    if (!b) { CHECK(0); return 0; }
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | b[i];
    CHECK(h % 8 == 0 && 8 + h + 4 + sizeof vec + sizeof mat == n);
    CHECK(!memcmp(b + 8, "{\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}", 55));
    CHECK(b[8 + h - 1] == ' ' || b[8 + h - 1] == '}');
    CHECK(strstr((char *)b + 8, "\"enc.vec\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[4,24]}") != NULL);
    free(b);

    struct stat st;
    mode_t um = umask(0);
    umask(um);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~um));
    return 0;
}

static int test_metadata(void) {
    /* a long JSON array kept as a string, as the project stores vocabularies */
    size_t cap = 1 << 16, len = 0;
    char *big = malloc(cap);
    len += (size_t)snprintf(big + len, cap - len, "[");
    for (int i = 0; i < 500; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s\"tok\\\"%d\\\" caf\u00e9 \u65e5\u672c \U0001F600 \\\\ \\n\"",
                                i ? "," : "", i);
    snprintf(big + len, cap - len, "]");
    const char *keys[] = {"vocab", "format", "cl\u00e9 \"q\"", "empty"};
    const char *vals[] = {big, "pt", "tab\there\nnewline \x01 ctl", ""};
    float x = 1;
    s2s_tensor t = {.name = "x", .dtype = S2S_F32, .ndim = 1, .shape = {1}, .data = &x, .nbytes = 4};
    s2s_err err = {{0}};
    const char *path = tpath("meta.safetensors");
    CHECK_MSG(s2s_st_write(path, &t, 1, keys, vals, 4, &err) == S2S_OK, "write: %s", err.msg);
    s2s_st_file *f = NULL;
    CHECK_MSG(s2s_st_read(path, &f, &err) == S2S_OK, "read: %s", err.msg);
    if (f) {
        CHECK(s2s_st_meta_count(f) == 4);
        for (int i = 0; i < 4; i++) {
            const char *k, *v;
            s2s_st_meta_at(f, i, &k, &v);
            CHECK_MSG(k && !strcmp(k, keys[i]), "meta key %d differs", i);
            CHECK_MSG(v && !strcmp(v, vals[i]), "meta value %d differs", i);
            CHECK(s2s_st_meta(f, keys[i]) == v);
        }
        CHECK(s2s_st_meta(f, "absent") == NULL);
        CHECK(s2s_st_count(f) == 1 && *(const float *)s2s_st_get(f, 0)->data == 1.0f);
        s2s_st_free(f);
    }
    size_t n;
    unsigned char *b = slurp(path, &n);
    CHECK(b && !memcmp(b + 8, "{\"__metadata__\":{\"vocab\":\"[", 27));
    free(b);
    free(big);
    return 0;
}

/* Written by tools/make_st_fixture.py with the official writer's layout rules. */
static int test_python_fixture(void) {
    s2s_st_file *f = NULL;
    s2s_err err = {{0}};
    if (s2s_st_read("tests/fixtures/st_python.safetensors", &f, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return 0;
    }
    const char *order[] = {"ids", "scalar", "decoder.w", "embed", "empty", "counts", "mask"};
    CHECK(s2s_st_count(f) == 7);
    for (int i = 0; i < 7 && i < s2s_st_count(f); i++)
        CHECK_MSG(!strcmp(s2s_st_get(f, i)->name, order[i]), "tensor %d is %s", i, s2s_st_get(f, i)->name);
    CHECK(s2s_st_meta_count(f) == 2);
    CHECK(s2s_st_meta(f, "format") && !strcmp(s2s_st_meta(f, "format"), "pt"));
    CHECK(s2s_st_meta(f, "note") && !strcmp(s2s_st_meta(f, "note"), "caf\u00e9 \u2713 \"quoted\""));

    const s2s_tensor *t = s2s_st_find(f, "ids");
    int64_t ids[3];
    CHECK(t && t->dtype == S2S_I64 && t->ndim == 1 && t->shape[0] == 3 && t->nbytes == 24);
    if (t) { memcpy(ids, t->data, 24); CHECK(ids[0] == -5 && ids[1] == 0 && ids[2] == (int64_t)1 << 40); }
    t = s2s_st_find(f, "scalar");
    CHECK(t && t->dtype == S2S_F64 && t->ndim == 0 && t->nbytes == 8);
    if (t) CHECK(*(const double *)t->data == 3.141592653589793);
    t = s2s_st_find(f, "decoder.w");
    CHECK(t && t->dtype == S2S_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    if (t) {
        float want[6];
        for (int i = 0; i < 6; i++) want[i] = 0.5f * i - 1.0f;
        CHECK_ARRAY((const float *)t->data, want, 6, 0, 1e-30, "decoder.w");
    }
    t = s2s_st_find(f, "embed");
    if (t) {
        float want[4] = {1.25f, -2.5f, 1e-3f, 65504.0f};
        CHECK_ARRAY((const float *)t->data, want, 4, 0, 1e-30, "embed");
    } else CHECK(0);
    t = s2s_st_find(f, "empty");
    CHECK(t && t->nbytes == 0 && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3);
    t = s2s_st_find(f, "counts");
    CHECK(t && t->dtype == S2S_I32 && t->nbytes == 16);
    if (t) {
        const int32_t *c = t->data;
        CHECK(c[0] == 1 && c[1] == -2 && c[2] == 3 && c[3] == INT32_MIN);
    }
    t = s2s_st_find(f, "mask");
    CHECK(t && t->dtype == S2S_U8 && t->nbytes == 5 && !memcmp(t->data, "\0\1\377\7\200", 5));
    for (int i = 0; i < s2s_st_count(f); i++) {
        t = s2s_st_get(f, i);
        CHECK_MSG((uintptr_t)t->data % s2s_dtype_size(t->dtype) == 0, "%s misaligned", t->name);
    }
    s2s_st_free(f);
    return 0;
}

/* ---------------------------------------------------------------- corrupt input */

/* Every prefix of a valid file must be rejected with a one-line message, from memory and from
 * a file. */
static int test_truncations(void) {
    float v[3] = {1, 2, 3};
    int32_t w[2] = {7, 8};
    s2s_tensor ts[3] = {
        {.name = "v", .dtype = S2S_F32, .ndim = 1, .shape = {3}, .data = v, .nbytes = 12},
        {.name = "w", .dtype = S2S_I32, .ndim = 2, .shape = {1, 2}, .data = w, .nbytes = 8},
        {.name = "z", .dtype = S2S_F32, .ndim = 1, .shape = {0}, .data = NULL, .nbytes = 0},
    };
    const char *k = "k", *val = "value";
    s2s_err err = {{0}};
    const char *path = tpath("trunc_src.safetensors"), *cut = tpath("trunc.safetensors");
    CHECK_MSG(s2s_st_write(path, ts, 3, &k, &val, 1, &err) == S2S_OK, "%s", err.msg);
    size_t n;
    unsigned char *b = slurp(path, &n);
    if (!b) { CHECK(0); return 0; }
    s2s_st_file *f = NULL;
    CHECK_MSG(s2s_st_parse(b, n, "full", &f, &err) == S2S_OK, "%s", err.msg);
    s2s_st_free(f);
    for (size_t len = 0; len < n; len++) {
        f = NULL;
        err.msg[0] = 0;
        int rc = s2s_st_parse(b, len, "mem", &f, &err);
        CHECK_MSG(rc == S2S_ERR && !f && one_line(err.msg) && !strncmp(err.msg, "mem: ", 5),
                  "prefix of %zu bytes: rc %d, message '%s'", len, rc, err.msg);
        s2s_st_free(f);
        if (write_bytes(cut, b, len)) { CHECK(0); break; }
        f = NULL;
        err.msg[0] = 0;
        rc = s2s_st_read(cut, &f, &err);
        CHECK_MSG(rc == S2S_ERR && !f && one_line(err.msg) && strstr(err.msg, cut) == err.msg,
                  "file of %zu bytes: rc %d, message '%s'", len, rc, err.msg);
        s2s_st_free(f);
    }
    free(b);
    return 0;
}

/* A file with the given 8-byte header length, header bytes and data_len bytes of data. */
static unsigned char *mkfile(uint64_t hlen, const char *hdr, size_t hdr_bytes, size_t data_len, size_t *n) {
    *n = 8 + hdr_bytes + data_len;
    unsigned char *b = malloc(*n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, hdr, hdr_bytes);
    for (size_t i = 0; i < data_len; i++) b[8 + hdr_bytes + i] = (unsigned char)i;
    return b;
}

#define E1(name, shape, b, e) "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"

static int test_corrupt_headers(void) {
    static const struct { const char *hdr; size_t data; const char *want; } cases[] = {
        {"{" E1("a", "[2]", "0", "8") "}", 8, NULL}, /* the valid base the others spoil */
        {"{}", 0, NULL},
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not valid JSON"},
        {"hello world", 0, "not valid JSON"},
        {"{} x", 0, "data after the JSON"},
        {"{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F8'"},
        {"{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is not a string"},
        {"{" E1("a", "[3]", "0", "8") "}", 8, "need 12 bytes but data_offsets span 8"},
        {"{" E1("a", "[2]", "0", "8") "," E1("b", "[2]", "4", "12") "}", 12, "(overlap)"},
        {"{" E1("a", "[1]", "0", "4") "," E1("b", "[1]", "8", "12") "}", 12, "(gap)"},
        {"{" E1("a", "[1]", "4", "8") "}", 8, "(gap)"},
        {"{" E1("a", "[2]", "0", "8") "}", 4, "beyond the 4-byte data buffer"},
        {"{" E1("a", "[2]", "0", "8") "}", 12, "cover 8 bytes of the 12-byte"},
        {"{" E1("a", "[2]", "8", "0") "}", 8, "end before they begin"},
        {"{" E1("a", "[2]", "-8", "0") "}", 8, "data_offsets[0] is negative"},
        {"{" E1("a", "[2]", "0", "1e300") "}", 8, "data_offsets[1] is too large"},
        {"{" E1("a", "[-2]", "0", "8") "}", 8, "shape[0] is negative"},
        {"{" E1("a", "[2.5]", "0", "10") "}", 10, "shape[0] is not an integer"},
        {"{" E1("a", "[\"2\"]", "0", "8") "}", 8, "shape[0] is not a number"},
        {"{" E1("a", "[67108864,67108864,67108864]", "0", "8") "}", 8, "overflows"},
        {"{" E1("a", "[4503599627370496,4503599627370496]", "0", "8") "}", 8, "overflows"},
        {"{" E1("a", "[0,18446744073709551616]", "0", "0") "}", 0, "shape[1] is too large"},
        {"{" E1("a", "[1,1,1,1,1,1,1,1,1]", "0", "4") "}", 4, "9 dimensions"},
        {"{" E1("a", "2", "0", "8") "}", 8, "shape is not an array"},
        {"{" E1("a", "[1]", "0", "4") "," E1("a", "[1]", "4", "8") "}", 8, "name 'a' appears twice"},
        {"{" E1("", "[2]", "0", "8") "}", 8, "empty name"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing field 'data_offsets'"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'dtype' appears twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "[begin, end] pair"},
        {"{\"a\":3}", 0, "entry is not a JSON object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "value for 'k' is not a string"},
        {"{\"__metadata__\":{\"k\":null}}", 0, "value for 'k' is not a string"},
        {"{\"__metadata__\":\"x\"}", 0, "__metadata__ is not a JSON object"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "key 'k' appears twice"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice"},
        {"{\"__metadata__\":{\"k\":\"\xff\"}}", 0, "not valid UTF-8"},
        {"{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, "not valid UTF-8"},   /* overlong '/' */
        {"{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, "not valid UTF-8"}, /* surrogate */
        {"{\"__metadata__\":{\"k\":\"a\x01\"}}", 0, "control byte"},
        {"{\"a\\n\\u0001b\":3}", 0, "tensor 'a??b': entry is not"},  /* names print on one line */
        /* a parser turns \u0000 into a NUL that silently cuts a name or value short */
        {"{\"__metadata__\":{\"k\":\"ab\\u0000cd\"}}", 0, "escaped NUL (\\u0000) at byte 24"},
        {"{\"__metadata__\":{\"k\":\"ab\\\\u0000cd\"}}", 0, NULL},  /* an escaped backslash, then text */
    };
    int ncase = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < ncase; i++) {
        size_t n, hl = strlen(cases[i].hdr);
        unsigned char *b = mkfile(hl, cases[i].hdr, hl, cases[i].data, &n);
        s2s_st_file *f = NULL;
        s2s_err err = {{0}};
        int rc = s2s_st_parse(b, n, "mem", &f, &err);
        if (!cases[i].want)
            CHECK_MSG(rc == S2S_OK, "case %d should parse: %s", i, err.msg);
        else
            CHECK_MSG(rc == S2S_ERR && !f && strstr(err.msg, cases[i].want) && one_line(err.msg)
                      && !strncmp(err.msg, "mem: ", 5),
                      "case %d (%s): rc %d, message '%s', want '%s'", i, cases[i].hdr, rc, err.msg, cases[i].want);
        s2s_st_free(f);
        free(b);
    }

    /* header lengths that disagree with the file */
    const char *good = "{" E1("a", "[2]", "0", "8") "}";
    size_t gl = strlen(good);
    static const struct { uint64_t hlen; const char *want; } lens[] = {
        {1000, "truncated: header says 1000 bytes but only 62 remain"},
        {UINT64_MAX, "truncated: header says 18446744073709551615 bytes"},
        {20, "not valid JSON"},
        {0, "too small"},
        {60, "header is not valid UTF-8"},  /* header swallows data bytes 0..5 */
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n;
        unsigned char *b = mkfile(lens[i].hlen, good, gl, 8, &n);
        s2s_st_file *f = NULL;
        s2s_err err = {{0}};
        int rc = s2s_st_parse(b, n, "mem", &f, &err);
        CHECK_MSG(rc == S2S_ERR && strstr(err.msg, lens[i].want), "header length %llu: '%s'",
                  (unsigned long long)lens[i].hlen, err.msg);
        s2s_st_free(f);
        free(b);
    }

    /* a NUL inside the header, and nesting deep enough to exhaust a naive recursive parser */
    size_t n;
    unsigned char *b = mkfile(4, "{\0}", 4, 0, &n);
    s2s_st_file *f = NULL;
    s2s_err err = {{0}};
    CHECK(s2s_st_parse(b, n, "mem", &f, &err) == S2S_ERR && strstr(err.msg, "control byte"));
    free(b);
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 32);
    size_t dl = (size_t)sprintf(deep, "{\"__metadata__\":");
    memset(deep + dl, '[', depth);
    memset(deep + dl + depth, ']', depth);
    dl += 2 * depth;
    deep[dl++] = '}';
    b = mkfile(dl, deep, dl, 0, &n);
    CHECK(s2s_st_parse(b, n, "mem", &f, &err) == S2S_ERR && strstr(err.msg, "not valid JSON"));
    free(b);
    free(deep);
    return 0;
}

/* The reader must refuse a header length above 100 MB before allocating anything for it, and
 * must not read directories or missing files. A sparse file keeps this cheap. */
static int test_reader_limits(void) {
    const char *path = tpath("sparse.safetensors");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    unsigned char lb[8] = {0};
    uint64_t h = 200000000;
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(h >> (8 * i));
    CHECK(fd >= 0 && write(fd, lb, 8) == 8 && ftruncate(fd, 300000000) == 0);
    if (fd >= 0) close(fd);
    s2s_st_file *f = NULL;
    s2s_err err = {{0}};
    CHECK(s2s_st_read(path, &f, &err) == S2S_ERR && strstr(err.msg, "exceeds the 100000000-byte limit"));
    unlink(path);
    CHECK(s2s_st_read(tmpdir, &f, &err) == S2S_ERR && strstr(err.msg, "not a regular file"));
    CHECK(s2s_st_read(tpath("missing"), &f, &err) == S2S_ERR && strstr(err.msg, "cannot open"));
    return 0;
}

/* ---------------------------------------------------------------- writer */

static int read_first_float(const char *path, const char *name, float *out) {
    s2s_st_file *f = NULL;
    s2s_err err;
    if (s2s_st_read(path, &f, &err)) { fprintf(stderr, "  %s\n", err.msg); return -1; }
    const s2s_tensor *t = s2s_st_find(f, name);
    int rc = t && t->nbytes >= 4 ? (memcpy(out, t->data, 4), s2s_st_count(f)) : -1;
    s2s_st_free(f);
    return rc;
}

static int test_writer_atomic(void) {
    float v1[3] = {1, 2, 3}, v2 = 9;
    s2s_tensor t1[2] = {
        {.name = "a", .dtype = S2S_F32, .ndim = 1, .shape = {3}, .data = v1, .nbytes = 12},
        {.name = "b", .dtype = S2S_F32, .ndim = 1, .shape = {3}, .data = v1, .nbytes = 12},
    };
    s2s_tensor t2 = {.name = "c", .dtype = S2S_F32, .ndim = 0, .data = &v2, .nbytes = 4};
    s2s_err err = {{0}};
    const char *path = tpath("model.safetensors");
    float x = 0;
    CHECK_MSG(s2s_st_write(path, t1, 2, NULL, NULL, 0, &err) == S2S_OK, "%s", err.msg);
    CHECK(read_first_float(path, "a", &x) == 2 && x == 1);

    /* target is a directory: refused before anything is written (tests/test_output.c has the rest) */
    const char *sub = tpath("sub");
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(s2s_st_write(sub, &t2, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, sub) == err.msg
          && strstr(err.msg, "is a directory") && one_line(err.msg));
    CHECK_MSG(count_tmp_files() == 0, "a temporary file was left in %s", tmpdir);

    /* missing directory */
    CHECK(s2s_st_write(tpath("no/such/dir.st"), &t2, 1, NULL, NULL, 0, &err) == S2S_ERR
          && strstr(err.msg, "no/such does not exist"));

    /* bad input: nothing written, old file intact */
    s2s_tensor bad = t2;
    bad.nbytes = 8;
    CHECK(s2s_st_write(path, &bad, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "does not match"));
    bad = t2;
    bad.name = "__metadata__";
    CHECK(s2s_st_write(path, &bad, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "reserved"));
    s2s_tensor dup[2] = {t2, t2};
    CHECK(s2s_st_write(path, dup, 2, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "given twice"));
    bad = t1[0];
    bad.shape[0] = -3;
    CHECK(s2s_st_write(path, &bad, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "negative"));
    CHECK(read_first_float(path, "a", &x) == 2 && x == 1);

    /* unwritable directory: only meaningful when permissions apply (not as root) */
    if (geteuid() != 0) {
        CHECK(chmod(tmpdir, 0555) == 0);
        CHECK(s2s_st_write(path, &t2, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "Permission denied"));
        CHECK(chmod(tmpdir, 0700) == 0);
        CHECK(read_first_float(path, "a", &x) == 2 && x == 1);
    } else {
        printf("  note: running as root, so the read-only-directory case is replaced by the ones above\n");
    }

    /* a successful overwrite with a smaller file replaces the content completely */
    CHECK_MSG(s2s_st_write(path, &t2, 1, NULL, NULL, 0, &err) == S2S_OK, "%s", err.msg);
    CHECK(read_first_float(path, "c", &x) == 1 && x == 9);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 8 + 56 + 4);
    CHECK(count_tmp_files() == 0);
    return 0;
}

/* Inputs from fuzzing (scripts/fuzz.sh; see the folder's README.md); each must be handled
 * without a crash, and tensors of a successful parse must lie inside the input. */
static int test_fuzz_regressions(void) {
    const char *dir = "tests/fixtures/st_fuzz";
    DIR *d = opendir(dir);
    if (!d) SKIP("%s does not exist", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' || (nl > 3 && !strcmp(e->d_name + nl - 3, ".md"))) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        unsigned char *b = slurp(path, &len);
        if (!b) { CHECK(0); continue; }
        s2s_st_file *f = NULL;
        s2s_err err = {{0}};
        if (s2s_st_parse(b, len, path, &f, &err) == S2S_OK) {
            for (int i = 0; i < s2s_st_count(f); i++) CHECK(s2s_st_get(f, i)->nbytes < len);
        } else {
            CHECK_MSG(one_line(err.msg), "%s: bad message '%s'", path, err.msg);
        }
        s2s_st_free(f);
        free(b);
        n++;
    }
    closedir(d);
    printf("  %d fuzz regression inputs\n", n);
    return 0;
}

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *ftw) {
    (void)s; (void)flag; (void)ftw;
    return remove(p);
}

int main(void) {
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    RUN(test_roundtrip);
    RUN(test_metadata);
    RUN(test_python_fixture);
    RUN(test_truncations);
    RUN(test_corrupt_headers);
    RUN(test_reader_limits);
    RUN(test_writer_atomic);
    RUN(test_fuzz_regressions);
    chmod(tmpdir, 0700);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_END();
}
