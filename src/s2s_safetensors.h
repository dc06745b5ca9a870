/* Reading and writing safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header, then the raw tensor bytes. The reader trusts
 * nothing it reads: every length, offset, shape and dtype is checked before use. */
#ifndef S2S_SAFETENSORS_H
#define S2S_SAFETENSORS_H
#include "s2s_common.h"
#include "s2s_output.h"

typedef enum s2s_dtype {
    S2S_F32 = 0, S2S_F64, S2S_F16, S2S_BF16, S2S_I64, S2S_I32, S2S_I16, S2S_I8, S2S_U8, S2S_BOOL,
    S2S_DTYPE_COUNT
} s2s_dtype;
const char *s2s_dtype_name(s2s_dtype d);   /* "F32", ... */
size_t s2s_dtype_size(s2s_dtype d);

#define S2S_ST_MAX_DIMS 8
typedef struct s2s_tensor {
    const char *name;
    s2s_dtype dtype;
    int ndim;
    int64_t shape[S2S_ST_MAX_DIMS];
    const void *data;      /* reader: points into the file's buffer; writer: caller's bytes.
                            * The reader's buffer is malloc'd, so data is aligned to its element
                            * size whenever its data offset is a multiple of that size: always for
                            * the official writer (it orders tensors by alignment) and for
                            * s2s_st_write when larger dtypes come first. Otherwise memcpy. */
    size_t nbytes;
} s2s_tensor;

typedef struct s2s_st_file s2s_st_file;

/* Limits: header at most 100 MB (as the official reader), at most S2S_ST_MAX_DIMS dimensions,
 * integers in the header below 2^53 (cJSON holds numbers as doubles). Tensors must tile the
 * data buffer exactly, as the official reader requires; names must be non-empty and unique.
 *
 * Reads and validates a whole file. On error, the message names the file and the problem
 * (truncated, bad header length, bad JSON, offsets out of range or overlapping, shape/size
 * mismatch, unknown dtype...). The caller frees with s2s_st_free. */
int s2s_st_read(const char *path, s2s_st_file **out, s2s_err *err);
/* The same from memory (copied); `name` is used in messages. Used by the fuzz target. */
int s2s_st_parse(const void *buf, size_t len, const char *name, s2s_st_file **out, s2s_err *err);
void s2s_st_free(s2s_st_file *f);
int s2s_st_count(const s2s_st_file *f);
const s2s_tensor *s2s_st_get(const s2s_st_file *f, int i);          /* in file order */
const s2s_tensor *s2s_st_find(const s2s_st_file *f, const char *name); /* NULL if absent */
const char *s2s_st_meta(const s2s_st_file *f, const char *key);       /* NULL if absent */
int s2s_st_meta_count(const s2s_st_file *f);
void s2s_st_meta_at(const s2s_st_file *f, int i, const char **key, const char **value);

/* Writes tensors (in the given order, data contiguous in that order, no alignment padding) and
 * string metadata ("__metadata__" first; omitted when n_meta is 0) atomically, as every
 * s2s_out file (s2s_output.h: temporary file beside the target, fsync, rename; symbolic links
 * written through; a directory, device or FIFO refused). On any failure the temporary file is
 * removed and an existing `path` is left untouched. */
int s2s_st_write(const char *path, const s2s_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int n_meta,
                 s2s_err *err);
/* The same up to the rename: on success the file is written in full and synced under a
 * temporary name, and the caller finishes with s2s_out_commit(o) (or s2s_out_discard(o)), so
 * that several files can change together. On failure nothing is left and *o is zeroed. */
int s2s_st_stage(s2s_out *o, const char *path, const s2s_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int n_meta, s2s_err *err);

#endif
