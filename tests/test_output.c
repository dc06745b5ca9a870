/* Tests for s2s_output: every file the program writes is whole or absent, written through a
 * symbolic link, and never replaces a directory, device or FIFO; the same through the model
 * writer and the plots. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "harness.h"
#include "s2s_output.h"
#include "s2s_plot.h"
#include "s2s_safetensors.h"

static char dir[256];
static const char *at(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int write_text(const char *path, const char *text, s2s_err *err) {
    s2s_out o;
    if (s2s_out_open(&o, path, err)) return S2S_ERR;
    fputs(text, o.f);
    return s2s_out_commit(&o, err);
}

static int file_is(const char *path, const char *text) {
    char buf[256] = "";
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return !strcmp(buf, text);
}

/* Files in dir whose name contains "tmp" (temporary files left behind). */
static int leftovers(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) { if (fscanf(p, "%d", &n) != 1) n = -1; pclose(p); }
    return n;
}

static int test_regular_and_new(void) {
    s2s_err err;
    CHECK_MSG(write_text(at("a.txt"), "one", &err) == S2S_OK, "%s", err.msg);
    CHECK(file_is(at("a.txt"), "one"));
    CHECK_MSG(write_text(at("a.txt"), "two", &err) == S2S_OK, "%s", err.msg);
    CHECK(file_is(at("a.txt"), "two"));
    /* a replaced file keeps its permission bits */
    CHECK(chmod(at("a.txt"), 0640) == 0);
    CHECK_MSG(write_text(at("a.txt"), "three", &err) == S2S_OK, "%s", err.msg);
    struct stat sb;
    CHECK(stat(at("a.txt"), &sb) == 0 && (sb.st_mode & 07777) == 0640);
    /* discarded: the old content stays, no temporary file */
    s2s_out o;
    CHECK(s2s_out_open(&o, at("a.txt"), &err) == S2S_OK);
    fputs("never", o.f);
    s2s_out_discard(&o);
    s2s_out_discard(&o);  /* twice is harmless */
    CHECK(file_is(at("a.txt"), "three"));
    CHECK(leftovers() == 0);
    return 0;
}

static int test_symlink_written_through(void) {
    s2s_err err;
    CHECK(write_text(at("real.txt"), "old", &err) == S2S_OK);
    CHECK(symlink("real.txt", at("link.txt")) == 0);
    CHECK(symlink("link.txt", at("link2.txt")) == 0);
    CHECK_MSG(write_text(at("link2.txt"), "new", &err) == S2S_OK, "%s", err.msg);
    struct stat sb;
    CHECK(lstat(at("link.txt"), &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(lstat(at("link2.txt"), &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(file_is(at("real.txt"), "new"));
    /* a link to nothing is refused (writing would create a file somewhere unexpected) */
    CHECK(symlink("nowhere/x.txt", at("dangling.txt")) == 0);
    CHECK(write_text(at("dangling.txt"), "x", &err) == S2S_ERR && strstr(err.msg, "symbolic link"));
    CHECK(lstat(at("dangling.txt"), &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(leftovers() == 0);
    return 0;
}

/* Nodes that are not regular files are refused before anything is written, and stay what they
 * were (rename would turn a device node into a regular file). */
static int test_not_regular_refused(void) {
    s2s_err err;
    struct stat sb;
    CHECK(mkfifo(at("fifo"), 0600) == 0);
    CHECK(s2s_out_check(at("fifo"), &err) == S2S_ERR && strstr(err.msg, "FIFO"));
    CHECK(write_text(at("fifo"), "x", &err) == S2S_ERR);
    CHECK(lstat(at("fifo"), &sb) == 0 && S_ISFIFO(sb.st_mode));
    CHECK(mkdir(at("sub"), 0755) == 0);
    CHECK(s2s_out_check(at("sub"), &err) == S2S_ERR && strstr(err.msg, "is a directory"));
    CHECK(s2s_out_check("/dev/null", &err) == S2S_ERR && strstr(err.msg, "character device"));
    CHECK(symlink("/dev/null", at("to_null")) == 0);
    CHECK(s2s_out_check(at("to_null"), &err) == S2S_ERR && strstr(err.msg, "character device"));
    /* as root a device node can be made: the picture writers refuse it and leave it alone */
    if (mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
        float w[4] = {1, 0, 0, 1};
        CHECK(s2s_plot_heatmap(at("null"), w, 2, 2, NULL, NULL, NULL, &err) == S2S_ERR);
        CHECK(s2s_plot_check_path(at("null.png"), &err) == S2S_OK);
        CHECK(lstat(at("null"), &sb) == 0 && S_ISCHR(sb.st_mode));
    }
    float w[4] = {1, 0, 0, 1};
    CHECK(s2s_plot_heatmap(at("fifo"), w, 2, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    s2s_tensor t = {.name = "x", .dtype = S2S_F32, .ndim = 1, .shape = {1}, .data = w, .nbytes = 4};
    CHECK(s2s_st_write(at("fifo"), &t, 1, NULL, NULL, 0, &err) == S2S_ERR && strstr(err.msg, "FIFO"));
    CHECK(lstat(at("fifo"), &sb) == 0 && S_ISFIFO(sb.st_mode));
    CHECK(leftovers() == 0);
    return 0;
}

static int test_names_checked(void) {
    s2s_err err;
    CHECK(s2s_out_check("", &err) == S2S_ERR && strstr(err.msg, "empty file name"));
    CHECK(s2s_out_check(at("nodir/x.txt"), &err) == S2S_ERR && strstr(err.msg, "does not exist"));
    CHECK(s2s_out_check(at("a.txt/x"), &err) == S2S_ERR && strstr(err.msg, "not a directory"));
    CHECK(s2s_out_check(at("newdir/"), &err) == S2S_ERR && strstr(err.msg, "names a directory"));
    char name[400];
    memset(name, 'n', sizeof name);
    name[300] = 0;
    CHECK(s2s_out_check(at(name), &err) == S2S_ERR && strstr(err.msg, "too long"));
    /* a name that fits, but not with the temporary file's suffix: still written */
    long max = pathconf(dir, _PC_NAME_MAX);
    if (max > 10 && max < (long)sizeof name) {
        name[max - 2] = 0;
        CHECK_MSG(write_text(at(name), "long", &err) == S2S_OK, "%s", err.msg);
        CHECK(file_is(at(name), "long"));
        unlink(at(name));
    }
    CHECK(s2s_plot_check_path(at("loss.jpg"), &err) == S2S_ERR && strstr(err.msg, "'.jpg'"));
    CHECK(s2s_plot_check_path(at("loss.svg"), &err) == S2S_OK);
    CHECK(access(at("loss.svg"), F_OK) != 0);  /* checking creates nothing */
    CHECK(leftovers() == 0);
    return 0;
}

/* A write that fails (here the file-size limit of a full disk) leaves the old file whole. */
static int test_failed_write_keeps_old(void) {
    s2s_err err;
    CHECK(write_text(at("keep.txt"), "old", &err) == S2S_OK);
    s2s_out o;
    CHECK(s2s_out_open(&o, at("keep.txt"), &err) == S2S_OK);
    fclose(o.f);  /* writes into a closed descriptor fail */
    o.f = fopen("/dev/full", "wb");
    if (!o.f) { s2s_out_discard(&o); SKIP("no /dev/full"); }
    fputs("new", o.f);
    CHECK(s2s_out_commit(&o, &err) == S2S_ERR && strstr(err.msg, "keep.txt: cannot write"));
    CHECK(file_is(at("keep.txt"), "old"));
    CHECK(leftovers() == 0);
    return 0;
}

/* A set committed together: all renamed in order, or (one of them failing to write) none of
 * them, every old file whole and no temporary file left; unopened entries are skipped. */
static int test_commit_all(void) {
    s2s_err err;
    CHECK(write_text(at("set.state"), "old state", &err) == S2S_OK);
    CHECK(write_text(at("set.model"), "old model", &err) == S2S_OK);
    s2s_out o[3] = {{0}};
    CHECK(s2s_out_open(&o[0], at("set.state"), &err) == S2S_OK);
    CHECK(s2s_out_open(&o[1], at("set.model"), &err) == S2S_OK);
    fputs("new state", o[0].f);
    fputs("new model", o[1].f);
    CHECK_MSG(s2s_out_commit_all(o, 3, &err) == S2S_OK, "%s", err.msg);
    CHECK(file_is(at("set.state"), "new state") && file_is(at("set.model"), "new model"));
    CHECK(!o[0].tmp && !o[1].tmp && !o[0].f);
    CHECK(leftovers() == 0);
    /* the second file cannot be written: neither is replaced */
    CHECK(s2s_out_open(&o[0], at("set.state"), &err) == S2S_OK);
    CHECK(s2s_out_open(&o[1], at("set.model"), &err) == S2S_OK);
    fputs("newer state", o[0].f);
    fclose(o[1].f);
    o[1].f = fopen("/dev/full", "wb");
    if (!o[1].f) { s2s_out_discard(&o[0]); s2s_out_discard(&o[1]); SKIP("no /dev/full"); }
    fputs("newer model", o[1].f);
    CHECK(s2s_out_commit_all(o, 2, &err) == S2S_ERR && strstr(err.msg, "set.model: cannot write"));
    CHECK(file_is(at("set.state"), "new state") && file_is(at("set.model"), "new model"));
    CHECK(leftovers() == 0);
    return 0;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/s2s_test_output_%d", (int)getpid());
    if (mkdir(dir, 0700)) { perror(dir); return 1; }
    RUN(test_regular_and_new);
    RUN(test_symlink_written_through);
    RUN(test_not_regular_refused);
    RUN(test_names_checked);
    RUN(test_failed_write_keeps_old);
    RUN(test_commit_all);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    TEST_END();
}
