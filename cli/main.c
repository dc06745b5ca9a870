/* seq2seq: the command-line program over the s2s library. Only cli/ prints and exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "s2s_linalg.h"

#include <cblas.h>

#define S2S_VERSION "0.2.0"

/* What a bug report or a benchmark needs to know about this build. */
static int cmd_version(void) {
    int own = s2s_gemm_backend(-1) == S2S_GEMM_OWN;
    printf("seq2seq %s\nproducts: %s\nOpenBLAS: %s (core %s)\n", S2S_VERSION,
           own ? "own AVX-512 kernel (S2S_GEMM=blas for OpenBLAS)" : "OpenBLAS", openblas_get_config(),
           openblas_get_corename());
    return 0;
}

static void usage(FILE *f) {
    fputs("usage: seq2seq COMMAND [options]\n"
          "  train      [--data PAIRS.tsv | --src F --tgt F] --out MODEL [--model attn|plain] [--pairs N]\n"
          "             [--embed 32] [--hidden 32] [--layers 2] [--dropout 0.1] [--batch 64] [--steps 10]\n"
          "             [--lr 0.005] [--epochs 250] [--seed S] [--threads N] [--save-every N] [--resume]\n"
          "             [--plot loss.png] [--log-every 10] [--quiet]\n"
          "             [--valid-pairs N | --valid PAIRS.tsv [--valid-count N]] [--valid-every 10] [--early-stop P]\n"
          "  translate  --model MODEL [--with-ref] [--max-len N] [--batch N] [SENTENCE ...]  (stdin if none)\n"
          "             [--beam K] [--alpha 1.0] [--max-len-ratio R] [--nbest N]  (beam 1 = greedy; --nbest\n"
          "             prints N lines score<TAB>translation per input; --batch counts sentences)\n"
          "  attention  --model MODEL \"SENTENCE\" -o FILE.png|.svg\n"
          "  eval       --model MODEL --data PAIRS.tsv [--from I] [--count N] [--beam K] [--alpha A] [--batch N] [--threads N]\n"
          "  bleu       --ref REF.txt [HYP.txt] [--tokenize 13a|none] [--d2l K]\n"
          "  info       MODEL\n"
          "  data       fetch|path fra-eng [--dir DIR] [--data-url URL --sha1 HEX] [--force] [--quiet]\n"
          "  version    the build: version and what runs the matrix products\n"
          "train without --data/--src uses d2l's fra-eng from the cache ($XDG_CACHE_HOME or ~/.cache/seq2seq),\n"
          "downloading it first (override with --data-url/--sha1 or S2S_DATA_URL/S2S_DATA_SHA1).\n"
          "--pairs N reads the first N lines of the pairs file (d2l's num_examples = N-1; 0 = all).\n"
          "--valid-pairs N holds out pairs floor((2k+1)n/2N), k < N, of the n read (spread over the file, the same\n"
          "for every seed); vocabularies come from the training pairs only. Every --valid-every epochs: validation\n"
          "loss and corpus BLEU (greedy, sacreBLEU 13a). --early-stop P stops after P checks without a higher BLEU;\n"
          "--out is then the best model and OUT.last.safetensors (OUT minus .safetensors) the latest, which --resume continues.\n", f);
}

int main(int argc, char **argv) {
    /* a file-size limit (or a full quota) should fail the write with EFBIG and a message, and
     * leave the previous model in place, not kill us */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) { usage(stderr); return 2; }
    const char *gemm = getenv("S2S_GEMM");
    if (gemm && strcmp(gemm, "blas") && strcmp(gemm, "own")) {
        fprintf(stderr, "seq2seq: S2S_GEMM must be 'own' or 'blas' (got '%s')\n", gemm);
        return 2;
    }
    if (gemm && !strcmp(gemm, "own") && s2s_gemm_backend(S2S_GEMM_OWN) < 0) {
        fprintf(stderr, "seq2seq: S2S_GEMM=own, but this build has no AVX-512 kernel (built without AVX-512)\n");
        return 2;
    }
    const char *cmd = argv[1];
    args a = {argc, 2, argv, cmd};
    if (!strcmp(cmd, "train")) return cmd_train(&a);
    if (!strcmp(cmd, "translate")) return cmd_translate(&a);
    if (!strcmp(cmd, "attention")) return cmd_attention(&a);
    if (!strcmp(cmd, "info")) return cmd_info(&a);
    if (!strcmp(cmd, "bleu")) return cmd_bleu(&a);
    if (!strcmp(cmd, "eval")) return cmd_eval(&a);
    if (!strcmp(cmd, "data")) return cmd_data(&a);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cmd_version();
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) { usage(stdout); return 0; }
    fprintf(stderr, "seq2seq: unknown command '%s' (see 'seq2seq help')\n", cmd);
    return 2;
}
