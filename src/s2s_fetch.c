/* Corpus download (libcurl), SHA-1 check while streaming (OpenSSL EVP) and extraction of one
 * zip member (libzip), with temporary files renamed into place so a failure at any point
 * leaves nothing partial under the final name. */
#include "s2s_fetch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <zip.h>

/* ---- known corpora ---------------------------------------------------------------------- */

typedef struct corpus {
    const char *name, *url, *sha1;
    const char *zip_name;  /* name of the download, for messages and the temporary file */
    const char *member;    /* path inside the zip; also the path under the destination dir */
} corpus;

static const corpus k_corpora[] = {
    {"fra-eng", S2S_FRA_ENG_URL, S2S_FRA_ENG_SHA1, "fra-eng.zip", "fra-eng/fra.txt"},
};

static const corpus *find_corpus(const char *name, s2s_err *err) {
    for (size_t i = 0; i < sizeof k_corpora / sizeof k_corpora[0]; i++)
        if (name && !strcmp(name, k_corpora[i].name)) return &k_corpora[i];
    s2s_errf(err, "unknown corpus '%s' (known: fra-eng)", name ? name : "(null)");
    return NULL;
}

/* ---- paths -------------------------------------------------------------------------------- */

static int join(char *out, size_t n, const char *a, const char *b, s2s_err *err) {
    int w = snprintf(out, n, "%s/%s", a, b);
    if (w < 0 || (size_t)w >= n) return s2s_errf(err, "path too long: %s/%s", a, b);
    return S2S_OK;
}

/* mkdir -p with mode 0755 for every missing component. *made (if not NULL) gets the length of
 * the first directory this call created (0: none), for undo_mkdir. */
static int mkdir_p(const char *path, size_t *made, s2s_err *err) {
    char buf[4096];
    size_t len = strlen(path);
    if (made) *made = 0;
    if (len == 0 || len >= sizeof buf) return s2s_errf(err, "bad directory name '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) == 0) { if (made && !*made) *made = i; }
        else if (errno != EEXIST) return s2s_errf(err, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(path, &sb)) return s2s_errf(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return s2s_errf(err, "%s: exists but is not a directory", path);
    return S2S_OK;
}

/* Removes the directories of path that mkdir_p created (the first was `made` bytes long), deepest
 * first; rmdir leaves any that is not empty. A failed fetch leaves no empty directory. */
static void undo_mkdir(const char *path, size_t made) {
    char buf[4096];
    size_t len = strlen(path);
    if (!made || len >= sizeof buf) return;
    memcpy(buf, path, len + 1);
    while (len >= made) {
        if (rmdir(buf)) return;
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) return;
        *slash = 0;
        len = (size_t)(slash - buf);
    }
}

/* the cache directory without creating it */
static int cache_dir_name(char *buf, size_t n, s2s_err *err) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg && xdg[0] == '/') w = snprintf(buf, n, "%s/seq2seq", xdg);  /* the XDG spec ignores relative paths */
    else if (home && home[0]) w = snprintf(buf, n, "%s/.cache/seq2seq", home);
    else return s2s_errf(err, "no cache directory: neither XDG_CACHE_HOME nor HOME is set (give a directory)");
    if (w < 0 || (size_t)w >= n) return s2s_errf(err, "cache directory name too long");
    return S2S_OK;
}

int s2s_cache_dir(char *buf, size_t n, s2s_err *err) {
    if (cache_dir_name(buf, n, err)) return S2S_ERR;
    return mkdir_p(buf, NULL, err);
}

int s2s_corpus_path(const char *name, const char *dest_dir, char *out_path, size_t n, s2s_err *err) {
    const corpus *c = find_corpus(name, err);
    if (!c) return S2S_ERR;
    char dir[4096];
    if (dest_dir) {
        if (!dest_dir[0]) return s2s_errf(err, "empty destination directory");
        if (snprintf(dir, sizeof dir, "%s", dest_dir) >= (int)sizeof dir) return s2s_errf(err, "directory name too long");
    } else if (cache_dir_name(dir, sizeof dir, err)) {
        return S2S_ERR;
    }
    return join(out_path, n, dir, c->member, err);
}

/* ---- download ----------------------------------------------------------------------------- */

typedef struct sink {
    FILE *f;
    EVP_MD_CTX *md;
    int write_errno;  /* set when the temporary file could not be written */
    s2s_progress_fn progress;
    void *ctx;
} sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t n = size * nmemb;
    if (fwrite(p, 1, n, s->f) != n) { s->write_errno = errno ? errno : EIO; return 0; }
    if (!EVP_DigestUpdate(s->md, p, n)) { s->write_errno = EINVAL; return 0; }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)ultotal; (void)ulnow;
    sink *s = user;
    return s->progress((double)dlnow, (double)dltotal, s->ctx) != 0;  /* non-zero: abort */
}

static int valid_sha1(const char *h) {
    if (strlen(h) != 40) return 0;
    for (int i = 0; i < 40; i++) if (!isxdigit((unsigned char)h[i])) return 0;
    return 1;
}

/* Downloads url into the open file f (at its start), checking HTTP status and SHA-1. Network
 * failures say how to place the file by hand: zip_name from url, unzipped so `final` exists. */
#define HINT_FMT "to do it by hand, download %s from %s and unzip it so that %s exists, or pass --data FILE"
static int download(const char *url, const char *sha1, FILE *f, s2s_progress_fn progress, void *ctx,
                    const char *zip_name, const char *final, s2s_err *err) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return s2s_errf(err, "cannot initialise libcurl");
    CURL *h = curl_easy_init();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = S2S_ERR;
    if (!h || !md || !EVP_DigestInit_ex(md, EVP_sha1(), NULL)) {
        s2s_errf(err, "cannot initialise libcurl or SHA-1");
        goto done;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    sink s = {f, md, 0, progress, ctx};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a server that stops sending (under 1 byte/s for 30 s) ends the transfer instead of hanging */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "seq2seq (libcurl)");
    if (progress) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_WRITE_ERROR && s.write_errno) {
        s2s_errf(err, "downloading %s: cannot write the temporary file: %s", url, strerror(s.write_errno));
        goto done;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        s2s_errf(err, "download of %s interrupted", url);
        goto done;
    }
    if (cc == CURLE_HTTP_RETURNED_ERROR || status >= 400) {
        s2s_errf(err, "download of %s failed: the server answered HTTP %ld; " HINT_FMT, url, status, zip_name, url, final);
        goto done;
    }
    if (cc != CURLE_OK) {
        s2s_errf(err, "download of %s failed: %s; " HINT_FMT, url, cerr[0] ? cerr : curl_easy_strerror(cc), zip_name,
                 url, final);
        goto done;
    }
    if (fflush(f) || ferror(f)) {
        s2s_errf(err, "downloading %s: cannot write the temporary file: %s", url, strerror(errno));
        goto done;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    char got[2 * EVP_MAX_MD_SIZE + 1];
    if (!EVP_DigestFinal_ex(md, d, &dn)) { s2s_errf(err, "SHA-1 computation failed"); goto done; }
    for (unsigned i = 0; i < dn; i++) snprintf(got + 2 * i, 3, "%02x", d[i]);
    got[2 * dn] = 0;
    if (strcasecmp(got, sha1)) {
        s2s_errf(err, "%s: sha1 mismatch: expected %s, got %s (a changed or damaged download; "
                      "give the right hash with --sha1 / S2S_DATA_SHA1 if the file is known to be good)", url, sha1, got);
        goto done;
    }
    rc = S2S_OK;
done:
    EVP_MD_CTX_free(md);
    if (h) curl_easy_cleanup(h);
    curl_global_cleanup();
    return rc;
}

/* ---- extraction --------------------------------------------------------------------------- */

/* Copies zip member `member` of zip_path into the open descriptor fd and syncs it. */
static int extract(const char *zip_path, const char *member, const char *url, int fd, s2s_err *err) {
    int zerr = 0;
    zip_t *za = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        s2s_errf(err, "%s: not a readable zip file: %s", url, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return S2S_ERR;
    }
    int rc = S2S_ERR;
    zip_stat_t st;
    zip_file_t *zf = NULL;
    if (zip_stat(za, member, 0, &st) || !(st.valid & ZIP_STAT_SIZE)) {
        s2s_errf(err, "%s: the zip has no member %s", url, member);
        goto done;
    }
    if (!(zf = zip_fopen(za, member, 0))) {
        s2s_errf(err, "%s: cannot open member %s: %s", url, member, zip_strerror(za));
        goto done;
    }
    char buf[1 << 16];
    zip_uint64_t total = 0;
    for (;;) {
        zip_int64_t got = zip_fread(zf, buf, sizeof buf);
        if (got < 0) { s2s_errf(err, "%s: member %s: %s", url, member, zip_file_strerror(zf)); goto done; }
        if (got == 0) break;
        for (zip_int64_t off = 0; off < got;) {
            ssize_t w = write(fd, buf + off, (size_t)(got - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) { s2s_errf(err, "writing %s: %s", member, strerror(errno)); goto done; }
            off += w;
        }
        total += (zip_uint64_t)got;
    }
    if (total != st.size) {
        s2s_errf(err, "%s: member %s is %llu bytes, the zip says %llu", url, member,
                 (unsigned long long)total, (unsigned long long)st.size);
        goto done;
    }
    if (fsync(fd)) { s2s_errf(err, "writing %s: %s", member, strerror(errno)); goto done; }
    rc = S2S_OK;
done:
    if (zf) zip_fclose(zf);
    zip_discard(za);
    return rc;
}

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* ---- the whole fetch ---------------------------------------------------------------------- */

int s2s_fetch_corpus(const char *name, const char *url, const char *sha1_hex, const char *dest_dir,
                     char *out_path, size_t n, unsigned flags, s2s_progress_fn progress, void *ctx,
                     s2s_err *err) {
    const corpus *c = find_corpus(name, err);
    if (!c) return S2S_ERR;
    char dir[4096], final[4096], sub[4096];
    if (dest_dir) {
        if (!dest_dir[0]) return s2s_errf(err, "empty destination directory");
        if (snprintf(dir, sizeof dir, "%s", dest_dir) >= (int)sizeof dir) return s2s_errf(err, "directory name too long");
    } else if (cache_dir_name(dir, sizeof dir, err)) {
        return S2S_ERR;
    }
    if (join(final, sizeof final, dir, c->member, err)) return S2S_ERR;
    if (strlen(final) >= n) return s2s_errf(err, "output buffer too small for %s", final);

    struct stat sb;
    if (!(flags & S2S_FETCH_REFRESH) && stat(final, &sb) == 0) {
        if (!S_ISREG(sb.st_mode)) return s2s_errf(err, "%s exists but is not a regular file", final);
        memcpy(out_path, final, strlen(final) + 1);
        return S2S_OK;
    }

    if (!url || !url[0]) url = getenv("S2S_DATA_URL");
    if (!url || !url[0]) url = c->url;
    if (!sha1_hex || !sha1_hex[0]) sha1_hex = getenv("S2S_DATA_SHA1");
    if (!sha1_hex || !sha1_hex[0]) sha1_hex = c->sha1;
    if (!valid_sha1(sha1_hex)) return s2s_errf(err, "sha1 '%s' (--sha1 or S2S_DATA_SHA1) is not 40 hexadecimal digits", sha1_hex);

    size_t made_dir = 0, made_sub = 0;  /* directories this fetch created: removed if it fails */
    if (mkdir_p(dir, &made_dir, err)) return S2S_ERR;
    char tmp_zip[4096] = "", tmp_out[4096] = "";
    int rc = S2S_ERR, ofd = -1;
    /* 1. the zip, into a temporary file in the destination directory */
    if (snprintf(tmp_zip, sizeof tmp_zip, "%s/.%s.XXXXXX", dir, c->zip_name) >= (int)sizeof tmp_zip) {
        tmp_zip[0] = 0;
        s2s_errf(err, "directory name too long");
        goto done;
    }
    int zfd = mkstemp(tmp_zip);
    if (zfd < 0) { s2s_errf(err, "%s: cannot create a temporary file: %s", dir, strerror(errno)); tmp_zip[0] = 0; goto done; }
    FILE *zf = fdopen(zfd, "w+b");
    if (!zf) { close(zfd); s2s_errf(err, "%s: %s", tmp_zip, strerror(errno)); goto done; }
    rc = download(url, sha1_hex, zf, progress, ctx, c->zip_name, final, err);
    fclose(zf);
    if (rc) goto done;
    rc = S2S_ERR;

    /* 2. the member, into a temporary file beside the final name, then renamed over it */
    if (join(sub, sizeof sub, dir, c->member, err)) goto done;
    *strrchr(sub, '/') = 0;
    if (mkdir_p(sub, &made_sub, err)) goto done;
    const char *base = strrchr(final, '/') + 1;
    if (snprintf(tmp_out, sizeof tmp_out, "%s/.%s.XXXXXX", sub, base) >= (int)sizeof tmp_out) {
        tmp_out[0] = 0;
        s2s_errf(err, "directory name too long");
        goto done;
    }
    if ((ofd = mkstemp(tmp_out)) < 0) {
        s2s_errf(err, "%s: cannot create a temporary file: %s", sub, strerror(errno));
        tmp_out[0] = 0;
        goto done;
    }
    rc = extract(tmp_zip, c->member, url, ofd, err);
    if (!rc && fchmod(ofd, 0644)) rc = s2s_errf(err, "%s: %s", tmp_out, strerror(errno));
    if (close(ofd) && !rc) rc = s2s_errf(err, "%s: %s", tmp_out, strerror(errno));
    if (!rc && rename(tmp_out, final)) rc = s2s_errf(err, "cannot rename %s to %s: %s", tmp_out, final, strerror(errno));
done:
    if (tmp_zip[0]) unlink(tmp_zip);
    if (rc) {
        if (tmp_out[0]) unlink(tmp_out);
        if (made_sub) undo_mkdir(sub, made_sub);
        undo_mkdir(dir, made_dir);
        return S2S_ERR;
    }
    sync_dir(sub);
    memcpy(out_path, final, strlen(final) + 1);
    return S2S_OK;
}
