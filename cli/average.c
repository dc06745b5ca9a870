/* seq2seq average: checkpoint averaging (the mean of several model files of one run). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "s2s_checkpoint.h"

int cmd_average(args *a) {
    const char *out = NULL, *o;
    const char **in = calloc((size_t)a->argc + 1, sizeof *in);
    if (!in) die("out of memory");
    int n = 0;
    while (next_opt(a, &o)) {
        if (a->positional) in[n++] = o;
        else if (!strcmp(o, "--out")) out = val(a, o);
        else unknown_option(a, o);
    }
    if (!out) usage_error(a, "--out MODEL is required");
    if (n < 1) usage_error(a, "give the model files to average");
    io_file *inf = calloc((size_t)n, sizeof *inf);
    if (!inf) die("out of memory");
    for (int i = 0; i < n; i++) inf[i] = (io_file){"the model", in[i], 0};
    const io_file outf[] = {{"--out", out, OUT_FILE}};
    check_files("average", outf, 1, inf, n);
    s2s_err err;
    if (s2s_model_average(in, n, out, &err)) die("%s", err.msg);
    free(inf);
    free(in);
    return 0;
}
