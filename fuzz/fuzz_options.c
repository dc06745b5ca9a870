/* libFuzzer target: `seq2seq train`'s option parser. The input is split on NUL bytes into
 * arguments; every outcome must be a parsed configuration or a one-line error (die() returns
 * here through longjmp in this build), never a crash. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[66];
    int argc = 2;
    argv[0] = "seq2seq"; argv[1] = "train";
    for (size_t i = 0; i <= size && argc < 65;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    args a = {argc, 2, argv, "train", 0, 0};
    train_cfg c;
    if (setjmp(s2s_fuzz_jmp) == 0) {
        train_parse(&a, &c);
        /* a configuration that parsed must be one the model accepts */
        c.mc.src_vocab = c.mc.tgt_vocab = 4;
        s2s_err err;
        if (s2s_config_check(&c.mc, &err)) abort();
    }
    free(buf);
    return 0;
}
