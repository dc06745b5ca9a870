/* Tests for the corpus download (s2s_fetch.h) with real HTTP transfers against a tiny server
 * that the test forks on 127.0.0.1 (never any other address). It serves zips built here with
 * libzip from tests/data/tiny.tsv: a good one, a different one (checksum mismatch), a transfer
 * cut short after its Content-Length, a 404 and a redirect. Every case works in a fresh mkdtemp
 * directory and checks that no partial or temporary file is left behind. Run from the
 * repository root; the CLI checks use ./seq2seq when it has been built (or $S2S_BIN). */
#include "harness.h"
#include "s2s_fetch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zip.h>

#define TINY "tests/data/tiny.tsv"
#define MEMBER "fra-eng/fra.txt"

/* ---------------------------------------------------------------- fixtures */

typedef struct blob { char *data; size_t len; char sha1[41]; } blob;
static blob g_tiny, g_good, g_bad, g_nomember, g_notzip;

static void sha1_hex(const void *p, size_t n, char out[41]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_Digest(p, n, d, &dn, EVP_sha1(), NULL);
    for (unsigned i = 0; i < dn && i < 20; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[40] = 0;
}

static char *make_tmpdir(void) {
    char *t = strdup("/tmp/s2s_fetch_XXXXXX");
    if (!t || !mkdtemp(t)) { perror("mkdtemp"); exit(2); }
    return t;
}

static void remove_tree(char *dir) {
    char cmd[512];
    if (strncmp(dir, "/tmp/s2s_fetch_", 15) == 0) {  /* only ever our own mkdtemp directories */
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) fprintf(stderr, "  could not remove %s\n", dir);
    }
    free(dir);
}

/* A zip with one member, built in a scratch directory and read back as bytes. */
static int make_zip(const char *member, const char *content, size_t len, blob *out) {
    char *dir = make_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/x.zip", dir);
    int zerr;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) return 1;
    zip_source_t *src = zip_source_buffer(za, content, len, 0);
    if (!src || zip_dir_add(za, "fra-eng", 0) < 0 || zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8) < 0) return 1;
    if (zip_close(za)) return 1;
    s2s_err err;
    if (s2s_read_file(path, &out->data, &out->len, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sha1_hex(out->data, out->len, out->sha1);
    remove_tree(dir);
    return 0;
}

static int build_fixtures(void) {
    s2s_err err;
    if (s2s_read_file(TINY, &g_tiny.data, &g_tiny.len, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (make_zip(MEMBER, g_tiny.data, g_tiny.len, &g_good)) return 1;
    static const char other[] = "Go.\tVa !\nHi.\tBonjour !\n";  /* another corpus: a valid zip, wrong hash */
    if (make_zip(MEMBER, other, sizeof other - 1, &g_bad)) return 1;
    if (make_zip("fra-eng/eng.txt", g_tiny.data, g_tiny.len, &g_nomember)) return 1;
    g_notzip.data = strdup("<html>this is not a zip</html>\n");
    g_notzip.len = strlen(g_notzip.data);
    sha1_hex(g_notzip.data, g_notzip.len, g_notzip.sha1);
    return 0;
}

/* ---------------------------------------------------------------- the server */

typedef struct server { pid_t pid; int port; int count_fd; } server;

static void send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        c += w; n -= (size_t)w;
    }
}

static void respond(int fd, const char *path, int port) {
    char head[512];
    const blob *b = NULL;
    if (!strcmp(path, "/good.zip")) b = &g_good;
    else if (!strcmp(path, "/bad.zip")) b = &g_bad;
    else if (!strcmp(path, "/nomember.zip")) b = &g_nomember;
    else if (!strcmp(path, "/notzip")) b = &g_notzip;
    if (b) {
        int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n", b->len);
        send_all(fd, head, (size_t)n);
        send_all(fd, b->data, b->len);
    } else if (!strcmp(path, "/cut.zip")) {  /* promises the whole zip, sends half, hangs up */
        int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", g_good.len);
        send_all(fd, head, (size_t)n);
        send_all(fd, g_good.data, g_good.len / 2);
    } else if (!strcmp(path, "/stall.zip")) {  /* promises the whole zip, sends half, then waits */
        int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", g_good.len);
        send_all(fd, head, (size_t)n);
        send_all(fd, g_good.data, g_good.len / 2);
        sleep(15);  /* until the test stops the server (SIGTERM) or the alarm */
    } else if (!strcmp(path, "/redirect")) {
        int n = snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/good.zip\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n", port);
        send_all(fd, head, (size_t)n);
    } else {
        static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
        send_all(fd, nf, sizeof nf - 1);
    }
}

/* Forks a server on 127.0.0.1 (a port the kernel picks) that answers at most max_conn
 * connections and dies by alarm after 20 s whatever happens. Each request it sees is
 * reported as one byte on count_fd. */
static int server_start(server *s, int max_conn) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, p[2];
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&a, &alen) || pipe(p)) { perror("server"); return 1; }
    s->port = ntohs(a.sin_port);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) { perror("fork"); return 1; }
    if (s->pid == 0) {
        close(p[0]);
        alarm(20);
        for (int i = 0; i < max_conn; i++) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) _exit(1);
            char req[4096];
            size_t got = 0;
            while (got < sizeof req - 1) {
                ssize_t r = recv(c, req + got, sizeof req - 1 - got, 0);
                if (r <= 0) break;
                got += (size_t)r;
                req[got] = 0;
                if (strstr(req, "\r\n\r\n")) break;
            }
            req[got] = 0;
            char path[1024] = "";
            if (sscanf(req, "GET %1023s ", path) == 1) {
                if (write(p[1], "r", 1) != 1) _exit(1);
                respond(c, path, s->port);
            }
            shutdown(c, SHUT_WR);
            close(c);
        }
        _exit(0);
    }
    close(fd);
    close(p[1]);
    s->count_fd = p[0];
    return 0;
}

/* Stops the server and returns how many requests it saw. */
static int server_stop(server *s) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    int n = 0;
    char c;
    while (read(s->count_fd, &c, 1) == 1) n++;
    close(s->count_fd);
    return n;
}

/* a port on 127.0.0.1 with nobody listening */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &alen)) return 9;
    close(fd);
    return ntohs(a.sin_port);
}

/* ---------------------------------------------------------------- helpers */

/* entries of a directory other than . and .. (recursively), and how many are hidden temporaries */
static int count_entries(const char *dir, int *hidden) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (e->d_name[0] == '.' && hidden) (*hidden)++;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (!lstat(sub, &sb) && S_ISDIR(sb.st_mode)) n += count_entries(sub, hidden);
    }
    closedir(d);
    return n;
}

static int file_equals(const char *path, const blob *want) {
    char *data;
    size_t len;
    s2s_err err;
    if (s2s_read_file(path, &data, &len, &err)) return 0;
    int same = len == want->len && !memcmp(data, want->data, len);
    free(data);
    return same;
}

static int exists(const char *path) { struct stat sb; return stat(path, &sb) == 0; }

static void url_of(char *buf, size_t n, const server *s, const char *path) {
    snprintf(buf, n, "http://127.0.0.1:%d%s", s->port, path);
}

typedef struct prog { int calls; double last_done, last_total; } prog;
static int on_progress(double done, double total, void *ctx) {
    prog *p = ctx;
    p->calls++; p->last_done = done; p->last_total = total;
    return 0;
}

/* One fetch from the server's `path` into a fresh directory that must fail and leave that
 * directory empty; err gets the message. */
static int fetch_fails_cleanly(const char *path, const char *sha1, s2s_err *err) {
    server s;
    if (server_start(&s, 2)) return 0;
    char *dir = make_tmpdir(), url[256], out[1024], final[1024];
    url_of(url, sizeof url, &s, path);
    int rc = s2s_fetch_corpus("fra-eng", url, sha1, dir, out, sizeof out, 0, NULL, NULL, err);
    server_stop(&s);
    snprintf(final, sizeof final, "%s/" MEMBER, dir);
    CHECK_MSG(rc == S2S_ERR, "fetching %s succeeded", path);
    CHECK_MSG(!exists(final), "%s: %s exists after a failed fetch", path, final);
    int hidden = 0, n = count_entries(dir, &hidden);
    CHECK_MSG(n == 0, "%s: %d entries (%d temporary) left in %s", path, n, hidden, dir);
    remove_tree(dir);
    return rc == S2S_ERR;
}

/* ---------------------------------------------------------------- tests */

static int test_cache_dir(void) {
    char *xdg = make_tmpdir(), *home = make_tmpdir(), buf[1024], want[1024];
    char *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    s2s_err err;
    mode_t old_mask = umask(022);
    setenv("XDG_CACHE_HOME", xdg, 1);
    CHECK(s2s_cache_dir(buf, sizeof buf, &err) == S2S_OK);
    snprintf(want, sizeof want, "%s/seq2seq", xdg);
    CHECK_MSG(!strcmp(buf, want), "cache dir %s, want %s", buf, want);
    struct stat sb;
    CHECK(stat(want, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0755);
    CHECK(s2s_corpus_path("fra-eng", NULL, buf, sizeof buf, &err) == S2S_OK);
    snprintf(want, sizeof want, "%s/seq2seq/" MEMBER, xdg);
    CHECK_MSG(!strcmp(buf, want), "corpus path %s, want %s", buf, want);

    setenv("XDG_CACHE_HOME", "relative/ignored", 1);  /* the XDG spec says: ignore relative paths */
    setenv("HOME", home, 1);
    CHECK(s2s_cache_dir(buf, sizeof buf, &err) == S2S_OK);
    snprintf(want, sizeof want, "%s/.cache/seq2seq", home);
    CHECK_MSG(!strcmp(buf, want), "cache dir %s, want %s", buf, want);
    CHECK(stat(want, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0755);
    CHECK(!exists("relative"));

    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(s2s_cache_dir(buf, sizeof buf, &err) == S2S_ERR);
    CHECK(strstr(err.msg, "HOME") != NULL);

    if (old_xdg) setenv("XDG_CACHE_HOME", old_xdg, 1); else unsetenv("XDG_CACHE_HOME");
    if (old_home) setenv("HOME", old_home, 1); else unsetenv("HOME");
    free(old_xdg); free(old_home);
    umask(old_mask);
    remove_tree(xdg); remove_tree(home);
    return 0;
}

static int test_good_checksum(void) {
    server s;
    if (server_start(&s, 2)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024], want[1024];
    url_of(url, sizeof url, &s, "/good.zip");
    s2s_err err;
    prog p = {0, 0, 0};
    int rc = s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, 0, on_progress, &p, &err);
    int requests = server_stop(&s);
    CHECK_MSG(rc == S2S_OK, "fetch failed: %s", err.msg);
    snprintf(want, sizeof want, "%s/" MEMBER, dir);
    CHECK_MSG(!strcmp(out, want), "path %s, want %s", out, want);
    CHECK_MSG(file_equals(want, &g_tiny), "%s differs from %s", want, TINY);
    struct stat sb;
    CHECK(stat(want, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    int hidden = 0;
    CHECK_MSG(count_entries(dir, &hidden) == 2 && hidden == 0, "%d temporary files left", hidden);
    CHECK(requests == 1);
    CHECK(p.calls > 0);
    CHECK_NEAR(p.last_done, (double)g_good.len, 0, 0);
    CHECK_NEAR(p.last_total, (double)g_good.len, 0, 0);
    remove_tree(dir);
    return 0;
}

static int test_redirect_followed(void) {
    server s;
    if (server_start(&s, 3)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024];
    url_of(url, sizeof url, &s, "/redirect");
    s2s_err err;
    int rc = s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, 0, NULL, NULL, &err);
    CHECK(server_stop(&s) == 2);
    CHECK_MSG(rc == S2S_OK, "fetch failed: %s", err.msg);
    CHECK(file_equals(out, &g_tiny));
    remove_tree(dir);
    return 0;
}

static int test_bad_checksum(void) {
    s2s_err err;
    if (!fetch_fails_cleanly("/bad.zip", g_good.sha1, &err)) return 0;
    CHECK_MSG(strstr(err.msg, "sha1") != NULL, "message: %s", err.msg);
    CHECK_MSG(strstr(err.msg, g_good.sha1) != NULL, "message lacks the expected hash: %s", err.msg);
    CHECK_MSG(strstr(err.msg, g_bad.sha1) != NULL, "message lacks the actual hash: %s", err.msg);
    CHECK_MSG(strstr(err.msg, "/bad.zip") != NULL, "message lacks the URL: %s", err.msg);
    /* an upper-case hash is the same hash */
    char upper[41];
    for (int i = 0; i < 41; i++) upper[i] = (char)(g_good.sha1[i] >= 'a' ? g_good.sha1[i] - 32 : g_good.sha1[i]);
    server s;
    if (server_start(&s, 1)) return 0;
    char *dir = make_tmpdir(), url[256], out[1024];
    url_of(url, sizeof url, &s, "/good.zip");
    CHECK_MSG(s2s_fetch_corpus("fra-eng", url, upper, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    server_stop(&s);
    remove_tree(dir);
    return 0;
}

static int test_cut_mid_transfer(void) {
    s2s_err err;
    if (!fetch_fails_cleanly("/cut.zip", g_good.sha1, &err)) return 0;
    CHECK_MSG(strstr(err.msg, "failed") != NULL, "message: %s", err.msg);
    return 0;
}

static int test_http_404(void) {
    s2s_err err;
    if (!fetch_fails_cleanly("/missing", g_good.sha1, &err)) return 0;
    CHECK_MSG(strstr(err.msg, "404") != NULL, "message: %s", err.msg);
    return 0;
}

static int test_bad_zips(void) {
    s2s_err err;
    if (fetch_fails_cleanly("/nomember.zip", g_nomember.sha1, &err))
        CHECK_MSG(strstr(err.msg, "no member " MEMBER) != NULL, "message: %s", err.msg);
    if (fetch_fails_cleanly("/notzip", g_notzip.sha1, &err))
        CHECK_MSG(strstr(err.msg, "zip") != NULL, "message: %s", err.msg);
    return 0;
}

static int test_existing_file_kept(void) {
    server s;
    if (server_start(&s, 8)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024];
    s2s_err err;
    url_of(url, sizeof url, &s, "/good.zip");
    CHECK_MSG(s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    const char *bad[] = {"/bad.zip", "/cut.zip", "/missing", "/nomember.zip"};
    for (int i = 0; i < 4; i++) {
        url_of(url, sizeof url, &s, bad[i]);
        const char *sha = i == 3 ? g_nomember.sha1 : g_good.sha1;
        int rc = s2s_fetch_corpus("fra-eng", url, sha, dir, out, sizeof out, S2S_FETCH_REFRESH, NULL, NULL, &err);
        CHECK_MSG(rc == S2S_ERR, "refresh from %s succeeded", bad[i]);
        CHECK_MSG(file_equals(out, &g_tiny), "refresh from %s changed the good file", bad[i]);
        int hidden = 0;
        CHECK_MSG(count_entries(dir, &hidden) == 2 && hidden == 0, "%s: temporary files left", bad[i]);
    }
    /* a refresh that works replaces the file */
    url_of(url, sizeof url, &s, "/good.zip");
    CHECK(s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, S2S_FETCH_REFRESH, NULL, NULL, &err) == S2S_OK);
    CHECK(server_stop(&s) == 6);
    CHECK(file_equals(out, &g_tiny));
    remove_tree(dir);
    return 0;
}

static int test_present_no_download(void) {
    server s;
    if (server_start(&s, 2)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024], out2[1024];
    s2s_err err;
    url_of(url, sizeof url, &s, "/good.zip");
    CHECK_MSG(s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    /* the same server again: must not be asked */
    CHECK(s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out2, sizeof out2, 0, NULL, NULL, &err) == S2S_OK);
    CHECK(server_stop(&s) == 1);
    /* nobody listening at all: still fine */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/good.zip", closed_port());
    CHECK_MSG(s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out2, sizeof out2, 0, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    CHECK(!strcmp(out, out2));
    CHECK(file_equals(out2, &g_tiny));
    remove_tree(dir);
    return 0;
}

static int test_no_network_message(void) {
    char *dir = make_tmpdir(), url[256], out[1024], final[1024];
    s2s_err err;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fra-eng.zip", closed_port());
    snprintf(final, sizeof final, "%s/" MEMBER, dir);
    CHECK(s2s_fetch_corpus("fra-eng", url, NULL, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "download") && strstr(err.msg, "failed"), "message: %s", err.msg);
    CHECK_MSG(strstr(err.msg, "onnect"), "message lacks curl's reason: %s", err.msg);
    CHECK_MSG(strstr(err.msg, "unzip") && strstr(err.msg, final) && strstr(err.msg, url) && strstr(err.msg, "--data"),
              "message lacks how to place the file by hand: %s", err.msg);
    CHECK(count_entries(dir, NULL) == 0);
    remove_tree(dir);
    return 0;
}

static int test_bad_arguments(void) {
    char *dir = make_tmpdir(), out[1024], small[8];
    s2s_err err;
    CHECK(s2s_fetch_corpus("deu-eng", "http://127.0.0.1:9/x", NULL, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "unknown corpus"), "message: %s", err.msg);
    CHECK(s2s_fetch_corpus("fra-eng", "http://127.0.0.1:9/x", "abc", dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "40 hexadecimal"), "message: %s", err.msg);
    CHECK(s2s_fetch_corpus("fra-eng", "http://127.0.0.1:9/x", NULL, dir, small, sizeof small, 0, NULL, NULL, &err) == S2S_ERR);
    CHECK(s2s_fetch_corpus("fra-eng", "file:///etc/passwd", g_good.sha1, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_ERR);
    CHECK(count_entries(dir, NULL) == 0);
    remove_tree(dir);
    return 0;
}

/* A download the progress callback stops (Ctrl-C in the program) fails as interrupted and
 * leaves nothing behind. */
static int stop_on_data(double done, double total, void *ctx) {
    (void)total;
    ++*(int *)ctx;
    return done > 0;
}

static int test_interrupted_download(void) {
    server s;
    if (server_start(&s, 1)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024];
    s2s_err err;
    int calls = 0;
    url_of(url, sizeof url, &s, "/stall.zip");
    int rc = s2s_fetch_corpus("fra-eng", url, g_good.sha1, dir, out, sizeof out, 0, stop_on_data, &calls, &err);
    server_stop(&s);
    CHECK(rc == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "interrupted") != NULL, "message: %s", err.msg);
    int hidden = 0, n = count_entries(dir, &hidden);
    CHECK_MSG(n == 0, "%d entries (%d temporary) left after an interrupted download", n, hidden);
    remove_tree(dir);
    return 0;
}

/* The program: Ctrl-C during a download exits 130 with one line and leaves no temporary file. */
static int test_cli_interrupt(void) {
    const char *cli = getenv("S2S_BIN") ? getenv("S2S_BIN") : "./seq2seq";
    if (access(cli, X_OK)) SKIP("%s is not built", cli);
    server s;
    if (server_start(&s, 1)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), *work = make_tmpdir(), url[256], errpath[1024], line[1024] = "";
    url_of(url, sizeof url, &s, "/stall.zip");
    snprintf(errpath, sizeof errpath, "%s/stderr", work);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644), o = open("/dev/null", O_WRONLY);
        dup2(e, 2); dup2(o, 1);
        execl(cli, cli, "data", "fetch", "fra-eng", "--dir", dir, "--data-url", url, "--sha1", g_good.sha1, (char *)NULL);
        _exit(127);
    }
    char c;
    CHECK(read(s.count_fd, &c, 1) == 1);  /* the request has arrived: the handler is in place */
    usleep(200000);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    server_stop(&s);
    FILE *f = fopen(errpath, "r");
    if (f) { while (fgets(line, sizeof line, f)) {} fclose(f); }  /* the last line: after "fetching ..." */
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d (signal %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    CHECK_MSG(strstr(line, "interrupted") && strstr(line, "nothing saved"), "stderr: %s", line);
    int hidden = 0, n = count_entries(dir, &hidden);
    CHECK_MSG(n == 0, "%d entries (%d temporary) left after Ctrl-C", n, hidden);
    remove_tree(dir);
    remove_tree(work);
    return 0;
}

static int test_env_overrides(void) {
    server s;
    if (server_start(&s, 2)) SKIP("cannot start a server on 127.0.0.1");
    char *dir = make_tmpdir(), url[256], out[1024];
    s2s_err err;
    url_of(url, sizeof url, &s, "/good.zip");
    setenv("S2S_DATA_URL", url, 1);
    setenv("S2S_DATA_SHA1", g_good.sha1, 1);
    CHECK_MSG(s2s_fetch_corpus("fra-eng", NULL, NULL, dir, out, sizeof out, 0, NULL, NULL, &err) == S2S_OK, "%s", err.msg);
    CHECK(file_equals(out, &g_tiny));
    /* arguments win over the environment: the default hash does not match our zip */
    CHECK(s2s_fetch_corpus("fra-eng", NULL, S2S_FRA_ENG_SHA1, dir, out, sizeof out, S2S_FETCH_REFRESH, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, S2S_FRA_ENG_SHA1), "message: %s", err.msg);
    unsetenv("S2S_DATA_URL");
    unsetenv("S2S_DATA_SHA1");
    CHECK(server_stop(&s) == 2);
    CHECK(file_equals(out, &g_tiny));
    remove_tree(dir);
    return 0;
}

/* runs a shell command, returns its exit status and its first stdout / stderr lines */
static int run(const char *cmd, const char *dir, char *out, char *errline, size_t n) {
    char full[2048], path[512];
    snprintf(full, sizeof full, "%s >%s/stdout 2>%s/stderr", cmd, dir, dir);
    int st = system(full);
    for (int k = 0; k < 2; k++) {
        char *dst = k ? errline : out;
        snprintf(path, sizeof path, "%s/%s", dir, k ? "stderr" : "stdout");
        FILE *f = fopen(path, "r");
        dst[0] = 0;
        if (f) { if (fgets(dst, (int)n, f)) dst[strcspn(dst, "\n")] = 0; fclose(f); }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int test_cli(void) {
    const char *cli = getenv("S2S_BIN") ? getenv("S2S_BIN") : "./seq2seq";
    if (access(cli, X_OK)) SKIP("%s is not built", cli);
    server s;
    if (server_start(&s, 4)) SKIP("cannot start a server on 127.0.0.1");
    char *cache = make_tmpdir(), *work = make_tmpdir(), url[256], cmd[1024], out[1024], errl[1024], want[1024];
    char *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    setenv("XDG_CACHE_HOME", cache, 1);
    snprintf(want, sizeof want, "%s/seq2seq/" MEMBER, cache);

    /* not fetched yet: said, with the path, and a non-zero status */
    snprintf(cmd, sizeof cmd, "%s data path fra-eng", cli);
    CHECK(run(cmd, work, out, errl, sizeof out) == 1);
    CHECK_MSG(out[0] == 0 && strstr(errl, "fra-eng is not there yet") && strstr(errl, want), "stderr: %s", errl);
    CHECK(!exists(want));

    url_of(url, sizeof url, &s, "/missing");
    snprintf(cmd, sizeof cmd, "%s data fetch fra-eng --quiet --data-url %s --sha1 %s", cli, url, g_good.sha1);
    CHECK(run(cmd, work, out, errl, sizeof out) == 1);
    CHECK_MSG(!strncmp(errl, "seq2seq: ", 9) && strstr(errl, "404"), "stderr: %s", errl);
    CHECK(!exists(want));
    char made[1100];  /* a failed fetch leaves no directory it made (the cache's seq2seq/) */
    snprintf(made, sizeof made, "%s/seq2seq", cache);
    CHECK_MSG(!exists(made), "%s was left behind", made);

    /* train without --data: fetches the corpus (URL and hash from the environment) and trains on it */
    url_of(url, sizeof url, &s, "/good.zip");
    setenv("S2S_DATA_URL", url, 1);
    setenv("S2S_DATA_SHA1", g_good.sha1, 1);
    snprintf(cmd, sizeof cmd, "%s train --out %s/m.st --epochs 1 --quiet", cli, work);
    CHECK_MSG(run(cmd, work, out, errl, sizeof out) == 0, "train: %s", errl);
    CHECK_MSG(errl[0] == 0, "train --quiet printed '%s'", errl);  /* not even the fetching line */
    CHECK(file_equals(want, &g_tiny));
    snprintf(cmd, sizeof cmd, "%s/m.st", work);
    CHECK(exists(cmd));
    unsetenv("S2S_DATA_URL");
    unsetenv("S2S_DATA_SHA1");

    snprintf(cmd, sizeof cmd, "%s data path fra-eng", cli);
    CHECK(run(cmd, work, out, errl, sizeof out) == 0);
    CHECK_MSG(!strcmp(out, want), "data path printed '%s', want '%s'", out, want);

    /* present: printed without asking any server */
    snprintf(cmd, sizeof cmd, "%s data fetch fra-eng --data-url http://127.0.0.1:%d/x", cli, closed_port());
    CHECK_MSG(run(cmd, work, out, errl, sizeof out) == 0, "fetch: %s", errl);
    CHECK_MSG(!strcmp(out, want), "data fetch printed '%s', want '%s'", out, want);

    /* --dir */
    url_of(url, sizeof url, &s, "/good.zip");
    snprintf(cmd, sizeof cmd, "%s data fetch fra-eng --dir %s/d --data-url %s --sha1 %s", cli, work, url, g_good.sha1);
    CHECK_MSG(run(cmd, work, out, errl, sizeof out) == 0, "fetch --dir: %s", errl);
    snprintf(want, sizeof want, "%s/d/" MEMBER, work);
    CHECK_MSG(!strcmp(out, want), "data fetch --dir printed '%s', want '%s'", out, want);
    CHECK(file_equals(want, &g_tiny));

    snprintf(cmd, sizeof cmd, "%s data fetch deu-eng", cli);
    CHECK(run(cmd, work, out, errl, sizeof out) == 1);
    CHECK_MSG(strstr(errl, "unknown corpus"), "stderr: %s", errl);
    snprintf(cmd, sizeof cmd, "%s data", cli);
    CHECK(run(cmd, work, out, errl, sizeof out) == 2);  /* a usage error */
    CHECK_MSG(strstr(errl, "seq2seq data --help"), "stderr: %s", errl);

    CHECK(server_stop(&s) == 3);
    if (old_xdg) setenv("XDG_CACHE_HOME", old_xdg, 1); else unsetenv("XDG_CACHE_HOME");
    free(old_xdg);
    remove_tree(cache); remove_tree(work);
    return 0;
}

int main(void) {
    if (build_fixtures()) { printf("FAIL fixtures: cannot build the test zips from %s\n", TINY); th_fail++; TEST_END(); }
    RUN(test_cache_dir);
    RUN(test_good_checksum);
    RUN(test_redirect_followed);
    RUN(test_bad_checksum);
    RUN(test_cut_mid_transfer);
    RUN(test_interrupted_download);
    RUN(test_http_404);
    RUN(test_bad_zips);
    RUN(test_existing_file_kept);
    RUN(test_present_no_download);
    RUN(test_no_network_message);
    RUN(test_bad_arguments);
    RUN(test_env_overrides);
    RUN(test_cli);
    RUN(test_cli_interrupt);
    free(g_tiny.data); free(g_good.data); free(g_bad.data); free(g_nomember.data); free(g_notzip.data);
    TEST_END();
}
