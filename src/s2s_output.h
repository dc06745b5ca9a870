/* Files the library writes (models, training state, pictures, the program's text outputs), each
 * whole or not at all: the bytes go to a temporary file in the target's directory, which is
 * flushed and fsync'd, then renamed over the target. A failure at any point removes the
 * temporary file and leaves the target as it was.
 *
 * What a path may name (one policy for every output):
 * - a regular file, or nothing yet (its directory must exist): replaced / created;
 * - a symbolic link (or a chain of them) to a regular file: written through, deliberately: the
 *   file it points to is replaced and the link stays a link; a link to nothing is refused;
 * - anything else (a directory, a device such as /dev/null, a FIFO, a socket) is refused
 *   before anything is written: rename would replace the node with a regular file.
 * A new file gets mode 0666 minus the umask; a replaced one keeps its permission bits. */
#ifndef S2S_OUTPUT_H
#define S2S_OUTPUT_H
#include <stdio.h>

#include "s2s_common.h"

typedef struct s2s_out {
    FILE *f;        /* write here between s2s_out_open and s2s_out_close */
    char *path;     /* the path as given (for messages) */
    char *target;   /* the regular file that s2s_out_commit replaces (symbolic links resolved) */
    char *tmp;      /* the temporary file beside it */
} s2s_out;

/* Resolves `path` as above and creates the temporary file. On failure nothing is left behind
 * and *o is zeroed (s2s_out_discard on it is a no-op). Messages start with the path. */
int s2s_out_open(s2s_out *o, const char *path, s2s_err *err);
/* Flushes, fsyncs and closes the temporary file: its bytes are durable, the target is not yet
 * touched. Any write error since the open (a full disk, a file-size limit) is reported here.
 * On failure the temporary file is removed. */
int s2s_out_close(s2s_out *o, s2s_err *err);
/* Closes (if not closed yet), renames the temporary file over the target and fsyncs the
 * directory. After it, success or not, *o holds nothing (no temporary file is left). */
int s2s_out_commit(s2s_out *o, s2s_err *err);
/* Commits a set of files that belong together (a training state and the weights it describes):
 * closes them all first, then renames them in the order given back to back, then fsyncs their
 * directories, so the time in which a crash leaves some renamed and others not is that of the
 * renames alone (no fsync, no write between them). Entries with no temporary file are skipped.
 * After it, success or not, every o[i] holds nothing; on a failed close nothing is renamed. */
int s2s_out_commit_all(s2s_out *o, int n, s2s_err *err);
/* Removes the temporary file and frees everything; a no-op on a zeroed or committed s2s_out. */
void s2s_out_discard(s2s_out *o);
/* Everything a later s2s_out_open + commit of `path` needs, checked now without touching the
 * target: a non-empty name, the kind of node above, the directory exists, the name fits the
 * file system, and a temporary file can be created there (it is, and removed at once). */
int s2s_out_check(const char *path, s2s_err *err);

#endif
