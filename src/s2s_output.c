/* Whole-or-nothing output files: path checks, a temporary file beside the target, rename. */
#include "s2s_output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *node_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* The directory part of `file` (".", "/", or everything before the last '/'), malloc'd. */
static char *dir_of(const char *file) {
    const char *slash = strrchr(file, '/');
    if (!slash) return strdup(".");
    size_t n = slash == file ? 1 : (size_t)(slash - file);
    char *d = malloc(n + 1);
    if (d) { memcpy(d, file, n); d[n] = 0; }
    return d;
}

/* The file a write to `path` replaces, by the policy in the header; *mode gets the permission
 * bits the new file should have. */
static int resolve(const char *path, char **target, mode_t *mode, s2s_err *err) {
    *target = NULL;
    if (!path || !path[0]) return s2s_errf(err, "empty file name");
    size_t len = strlen(path);
    if (path[len - 1] == '/') return s2s_errf(err, "%s: names a directory; give a file name", path);
    struct stat lsb, sb;
    if (lstat(path, &lsb) == 0) {
        if (S_ISLNK(lsb.st_mode)) {
            if (stat(path, &sb))
                return s2s_errf(err, "%s: is a symbolic link to a file that cannot be reached: %s", path, strerror(errno));
            if (!S_ISREG(sb.st_mode))
                return s2s_errf(err, "%s: is a symbolic link to %s, not to a regular file", path, node_kind(sb.st_mode));
            if (!(*target = realpath(path, NULL))) return s2s_errf(err, "%s: cannot resolve the link: %s", path, strerror(errno));
        } else if (!S_ISREG(lsb.st_mode)) {
            return s2s_errf(err, "%s: is %s, not a regular file; give a file name", path, node_kind(lsb.st_mode));
        } else {
            sb = lsb;
            if (!(*target = strdup(path))) return s2s_errf(err, "%s: out of memory", path);
        }
        *mode = sb.st_mode & 07777;
        return S2S_OK;
    }
    if (errno == ENAMETOOLONG) return s2s_errf(err, "%s: file name too long", path);
    if (errno == ENOTDIR) return s2s_errf(err, "%s: a part of the path is not a directory", path);
    if (errno != ENOENT) return s2s_errf(err, "%s: %s", path, strerror(errno));
    mode_t um = umask(0);  /* umask can only be read by setting it */
    umask(um);
    *mode = 0666 & ~um;
    if (!(*target = strdup(path))) return s2s_errf(err, "%s: out of memory", path);
    return S2S_OK;
}

int s2s_out_open(s2s_out *o, const char *path, s2s_err *err) {
    memset(o, 0, sizeof *o);
    char *target, *dir = NULL, *tmp = NULL;
    mode_t mode = 0600;
    if (resolve(path, &target, &mode, err)) return S2S_ERR;
    int fd = -1;
    if (!(dir = dir_of(target))) { s2s_errf(err, "%s: out of memory", path); goto fail; }
    struct stat ds;
    if (stat(dir, &ds)) {
        if (errno == ENOENT) s2s_errf(err, "%s: directory %s does not exist", path, dir);
        else s2s_errf(err, "%s: directory %s: %s", path, dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(ds.st_mode)) { s2s_errf(err, "%s: %s is not a directory", path, dir); goto fail; }
    const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0) name_max = 255;
    if ((long)strlen(base) > name_max) {
        s2s_errf(err, "%s: file name too long (%zu bytes; this file system allows %ld)", path, strlen(base), name_max);
        goto fail;
    }
    /* PATH.tmpXXXXXX, or a short name in the same directory when that would be too long */
    size_t tn = strlen(target) + strlen(dir) + 32;
    if (!(tmp = malloc(tn))) { s2s_errf(err, "%s: out of memory", path); goto fail; }
    if ((long)strlen(base) + 10 <= name_max) snprintf(tmp, tn, "%s.tmpXXXXXX", target);
    else snprintf(tmp, tn, "%s/.seq2seq.tmpXXXXXX", dir);
    if ((fd = mkstemp(tmp)) < 0) {
        s2s_errf(err, "%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, mode) || !(o->f = fdopen(fd, "wb"))) {
        s2s_errf(err, "%s: cannot set up the temporary file %s: %s", path, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto fail;
    }
    if (!(o->path = strdup(path))) { s2s_errf(err, "%s: out of memory", path); fclose(o->f); unlink(tmp); goto fail; }
    o->target = target; o->tmp = tmp;
    free(dir);
    return S2S_OK;
fail:
    free(target); free(dir); free(tmp);
    memset(o, 0, sizeof *o);
    return S2S_ERR;
}

int s2s_out_close(s2s_out *o, s2s_err *err) {
    if (!o->f) return o->tmp ? S2S_OK : s2s_errf(err, "output not open");
    FILE *f = o->f;
    o->f = NULL;
    const char *step = "write";
    int e = 0;
    if (fflush(f) || ferror(f)) e = errno ? errno : EIO;
    else if (fsync(fileno(f))) { step = "fsync"; e = errno; }
    if (fclose(f) && !e) { step = "close"; e = errno ? errno : EIO; }
    if (!e) return S2S_OK;
    s2s_errf(err, "%s: cannot %s the temporary file: %s", o->path, step, strerror(e));
    s2s_out_discard(o);
    return S2S_ERR;
}

int s2s_out_commit(s2s_out *o, s2s_err *err) {
    if (!o->tmp) return s2s_errf(err, "output not open");
    return s2s_out_commit_all(o, 1, err);
}

int s2s_out_commit_all(s2s_out *o, int n, s2s_err *err) {
    int rc = S2S_OK;
    for (int i = 0; i < n && !rc; i++)
        if (o[i].tmp && s2s_out_close(&o[i], err)) rc = S2S_ERR;
    for (int i = 0; i < n && !rc; i++) {
        if (!o[i].tmp) continue;
        if (rename(o[i].tmp, o[i].target)) {
            rc = s2s_errf(err, "%s: cannot rename the temporary file into place: %s", o[i].path, strerror(errno));
            break;
        }
        free(o[i].tmp);
        o[i].tmp = NULL;  /* renamed: nothing left to remove */
    }
    /* make the renames durable (best effort: some file systems refuse to sync a directory; a
     * directory synced again for a second file has nothing left to write) */
    for (int i = 0; i < n; i++) {
        if (!o[i].target || o[i].tmp) continue;  /* not renamed */
        char *dir = dir_of(o[i].target);
        int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
        if (dfd >= 0) { fsync(dfd); close(dfd); }
        free(dir);
    }
    for (int i = 0; i < n; i++) s2s_out_discard(&o[i]);
    return rc;
}

void s2s_out_discard(s2s_out *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp); free(o->target); free(o->path);
    memset(o, 0, sizeof *o);
}

int s2s_out_check(const char *path, s2s_err *err) {
    s2s_out o;
    if (s2s_out_open(&o, path, err)) return S2S_ERR;
    s2s_out_discard(&o);
    return S2S_OK;
}
