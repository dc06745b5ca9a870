/* Getting the training corpus as d2l users do: download d2l's zip once into a cache directory,
 * check its SHA-1, unzip the one member we need. Nothing under the final name is ever partial:
 * the download and the extracted file go to temporary files beside it and are renamed into
 * place only when complete and verified. The library never prints; progress goes through an
 * optional callback. */
#ifndef S2S_FETCH_H
#define S2S_FETCH_H
#include "s2s_common.h"

#define S2S_FRA_ENG_URL  "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip"
#define S2S_FRA_ENG_SHA1 "94646ad1522d915e7b0f9296181140edcf86a4f5"

/* Called now and then during a download (at least once a second, even while no data comes):
 * bytes received so far and the expected total (0 while the server has not said). Returning
 * non-zero stops the download: the fetch then fails with an "interrupted" message and leaves
 * nothing behind. */
typedef int (*s2s_progress_fn)(double done, double total, void *ctx);

enum {
    S2S_FETCH_REFRESH = 1 << 0,  /* download again even if the corpus is present; the present file
                                    is replaced only by a verified new one */
};

/* Writes the cache directory, $XDG_CACHE_HOME/seq2seq (XDG_CACHE_HOME only if absolute),
 * else $HOME/.cache/seq2seq, into buf (no trailing slash) and creates it with its parents
 * (mode 0755). */
int s2s_cache_dir(char *buf, size_t n, s2s_err *err);

/* Writes where corpus `name` is or would be: DIR/fra-eng/fra.txt for "fra-eng", with DIR =
 * dest_dir, or the cache directory when dest_dir is NULL. Creates nothing. */
int s2s_corpus_path(const char *name, const char *dest_dir, char *out_path, size_t n, s2s_err *err);

/* Makes sure corpus `name` (only "fra-eng" is known) is present under dest_dir (NULL = the
 * cache directory, created if missing) and writes its path into out_path. If the file is
 * already there it is returned without any network access (unless flags has
 * S2S_FETCH_REFRESH). Otherwise the zip is downloaded from url (NULL: $S2S_DATA_URL, else
 * d2l's URL), its SHA-1 checked against sha1_hex (40 hex digits; NULL: $S2S_DATA_SHA1, else
 * d2l's hash, also for a URL override, so a mirror must serve the same bytes or name its
 * hash), and the member extracted. progress may be NULL. On failure no file is left under the
 * final name that was not there before, and no temporary file is left behind. */
int s2s_fetch_corpus(const char *name, const char *url, const char *sha1_hex, const char *dest_dir,
                     char *out_path, size_t n, unsigned flags, s2s_progress_fn progress, void *ctx,
                     s2s_err *err);
#endif
