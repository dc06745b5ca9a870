/* seq2seq: the command-line program over the s2s library. Only cli/ prints and exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "s2s_dist.h"
#include "seq2seq.h"
#include "s2s_linalg.h"

#include <cblas.h>

/* OpenBLAS starts its pool of worker threads when it is loaded, before main, with as many
 * threads as CPUs. We run our own threads (data-parallel shards, batches side by side) and call
 * BLAS from each of them on one thread (s2s_set_blas_threads), so the pool is never used; and under
 * an address-space limit (ulimit -v) its workers retry a failed 128 MiB buffer allocation
 * forever while exit waits for them: every command hung. So OpenBLAS must start no pool. Its
 * initialiser skips choosing the thread count (from OPENBLAS_NUM_THREADS etc.) when
 * blas_cpu_number is already set, and starts blas_num_threads - 1 workers; functions in
 * .preinit_array run before any shared library's initialiser, so this one sets both to 1
 * first. (A setenv here would not do: libc's own initialiser, which runs later, resets the
 * environment to the one the program started with.) The two are OpenBLAS's exported globals;
 * weak, so a BLAS without them is left alone. */
extern int blas_cpu_number __attribute__((weak));
extern int blas_num_threads __attribute__((weak));
static void blas_single_threaded(int argc, char **argv, char **envp) {
    (void)argc; (void)argv; (void)envp;
    if (&blas_cpu_number && &blas_num_threads) blas_cpu_number = blas_num_threads = 1;
}
__attribute__((section(".preinit_array"), used)) static void (*const s2s_preinit)(int, char **, char **) =
    blas_single_threaded;

/* What a bug report or a benchmark needs to know about this build. */
static int cmd_version(args *a) {
    const char *o;
    while (next_opt(a, &o)) unknown_option(a, o);
    const int g = s2s_gemm_resolve(g_gemm);
    printf("seq2seq %s\nproducts: %s\nOpenBLAS: %s (core %s)\nMPI: %s\n", s2s_version(),
           g == S2S_GEMM_OWN    ? "own AVX-512 kernel (S2S_GEMM=blas for OpenBLAS)"
           : g == S2S_GEMM_BF16 ? "own AVX-512 kernel, products in bfloat16 (S2S_GEMM=bf16)"
           : g == S2S_GEMM_INT8 ? "own AVX-512 kernel, x W^T in 8-bit integers for translation (S2S_GEMM=int8)"
                                : "OpenBLAS",
           openblas_get_config(),
           openblas_get_corename(), s2s_dist_built() ? "yes (mpirun -np N seq2seq train ...)" : "not in this build");
    return 0;
}

static int cmd_help(args *a);

typedef struct command {
    const char *name;
    int (*run)(args *a);
    const char *usage;  /* lines after "seq2seq NAME" */
} command;

static const command k_commands[] = {
    {"train", cmd_train,
     "[--data PAIRS.tsv | --src F --tgt F] --out MODEL [--model attn|plain] [--pairs N]\n"
     "      [--cell gru|lstm] [--encoder uni|bi] [--attention bahdanau|luong-dot|luong-general|none]\n"
     "      [--input-feed] [--tie-embeddings]\n"
     "      [--embed 32] [--hidden 32] [--layers 2] [--dropout 0.1] [--batch 64] [--steps 10]\n"
     "      [--lr 0.005] [--epochs 250] [--seed S] [--threads N] [--save-every N] [--resume]\n"
     "      [--plot loss.png|.svg] [--log-every 10] [--quiet]\n"
     "      [--valid-pairs N | --valid PAIRS.tsv [--valid-count N]] [--valid-every 10] [--early-stop P]\n"
     "      [--keep-checkpoints N]\n"
     "      [--tokenizer d2l|spm] [--vocab-size 8000] [--spm-type unigram|bpe] [--spm-joint]\n"
     "      [--character-coverage 1.0] [--spm-model FILE | --spm-src FILE --spm-tgt FILE]\n"
     "      [--allreduce ordered|mpi]\n"
     "      [--batch-tokens N] [--max-len N] [--label-smoothing 0] [--lr-schedule constant|inverse-sqrt|plateau|linear]\n"
     "      [--warmup N] [--lr-patience 2] [--lr-factor 0.5] [--clip 1.0] [--valid-every-steps N] [--max-time S]\n"
     "      [--max-updates N]\n"
     "  Without --data/--src: d2l's fra-eng from the cache ($XDG_CACHE_HOME or ~/.cache/seq2seq),\n"
     "  downloaded first (override with --data-url/--sha1 or S2S_DATA_URL/S2S_DATA_SHA1).\n"
     "  --pairs N reads the first N lines of the pairs file (d2l's num_examples = N-1; 0 = all).\n"
     "  The model family: d2l's is GRU, a one-direction encoder, Bahdanau attention (--model attn) or\n"
     "  none (--model plain). --encoder bi runs hidden/2 units each way; Luong attention scores the new\n"
     "  top state (dot, or through W_a: general) and feeds tanh(W_c [context; h]) to the output layer;\n"
     "  --input-feed gives it to the next step's input too. --tie-embeddings: the output layer's weight\n"
     "  is the decoder's embedding (needs --embed = --hidden).\n"
     "  --threads N (1..64) cuts each batch into N slices trained side by side; the same seed and N give\n"
     "  the same numbers on any machine. Ctrl-C, SIGTERM and SIGHUP save and exit 130; --resume goes on.\n"
     "  --valid-pairs N holds out pairs floor((2k+1)n/2N), k < N, of the n read (the same for every\n"
     "  seed); vocabularies come from the training pairs only. Every --valid-every epochs: validation\n"
     "  loss and corpus BLEU (greedy, sacreBLEU 13a). --early-stop P stops after P checks without a\n"
     "  higher BLEU; --out is then the best model and OUT.last.safetensors (OUT minus .safetensors)\n"
     "  the latest, which --resume continues. --keep-checkpoints N keeps the weights of the last N\n"
     "  checks as OUT.updateU.safetensors (or .epochE) for seq2seq average.\n"
     "  --tokenizer spm (implied by any SentencePiece option): raw cased text, SentencePiece models\n"
     "  trained on the training pairs (one per side unless --spm-joint) or given as spm_train wrote\n"
     "  them, stored in the model file; translations come out cased and detokenized. Raise --steps:\n"
     "  subword sentences are longer than d2l's words.\n"
     "  The recipe for real data: --batch-tokens N batches by length (at most N positions, padding\n"
     "  counted; the loss is the mean per target token); --max-len N drops longer pairs (--steps N+1);\n"
     "  --label-smoothing E; --lr-schedule inverse-sqrt (linear --warmup N updates, 4000 by default) or\n"
     "  plateau (x --lr-factor after --lr-patience checks without a higher BLEU) or linear (after the\n"
     "  warm-up, straight down to 0 at the end of --max-updates or --max-time, whichever comes first);\n"
     "  --clip: gradient norm; --valid-every-steps N checks every N updates; --max-time S stops the\n"
     "  command after S seconds (SentencePiece training included), --max-updates N after update N (of\n"
     "  the whole run); either saves and exits 0.\n"
     "  mpirun -np R seq2seq train ... trains one model on R processes: each batch is cut into R x --threads\n"
     "  slices, the gradients summed in rank order (--allreduce ordered: the numbers of R x threads threads in\n"
     "  one process; mpi: MPI_Allreduce's order); rank 0 alone prints and writes; every rank needs the same\n"
     "  options and corpus.\n"},
    {"translate", cmd_translate,
     "--model MODEL [SENTENCE ... | --input FILE] [--output FILE] [--with-ref]\n"
     "      [--beam K] [--alpha 1.0] [--max-len N] [--max-len-ratio R] [--nbest N] [--batch 64] [--threads N]\n"
     "  Sentences from the arguments, --input FILE or standard input (one per line); translations to\n"
     "  --output FILE (written whole when complete; '-', /dev/stdout or a FIFO stream) or standard output.\n"
     "  --beam 1 is greedy; --nbest N prints N lines score<TAB>translation per input; --batch counts\n"
     "  sentences. --with-ref: input lines SOURCE<TAB>REFERENCE[<TAB>...], scored by d2l's bleu (k=2).\n"
     "  --model given 2..8 times: an ensemble; each step decodes with the mean of the models'\n"
     "  log-probabilities (models of one tokenizer and vocabularies; family and size may differ).\n"},
    {"attention", cmd_attention,
     "--model MODEL \"SENTENCE\" -o FILE.png|.svg\n"
     "  The attention weights of the greedy translation of one sentence, as a heatmap (of an ensemble,\n"
     "  --model more than once: the mean of its models' weights).\n"},
    {"eval", cmd_eval,
     "--model MODEL --data PAIRS.tsv [--from I] [--count N] [--beam K] [--alpha A] [--batch N] [--threads N]\n"
     "      [--max-len N] [--max-len-ratio R] [--output FILE] [--hyps FILE]\n"
     "  Corpus BLEU (sacreBLEU 13a) and d2l's mean sentence BLEU of pairs I .. I+N-1 (0-based; --input\n"
     "  is --data). --output: the report to a file instead of standard output; --hyps: the\n"
     "  translations, one per line (as 'translate' prints them), for 'seq2seq bleu'. --model more than\n"
     "  once: an ensemble, as for translate.\n"},
    {"bleu", cmd_bleu,
     "--ref REF.txt [HYP.txt] [--tokenize 13a|none] [--d2l K]\n"
     "  Corpus BLEU as sacreBLEU 2.3.1 computes it (hypotheses from standard input without HYP.txt);\n"
     "  --d2l K: the mean of d2l's sentence bleu instead.\n"},
    {"info", cmd_info, "MODEL\n  The model's configuration and sizes.\n"},
    {"tokenize", cmd_tokenize,
     "--model MODEL [--target] [--ids] [SENTENCE ...]\n"
     "  The tokens (d2l's words or SentencePiece's pieces; --ids: their ids) the model sees of each\n"
     "  sentence (arguments, or standard input one per line); --target: with the target side's tokenizer.\n"},
    {"data", cmd_data,
     "fetch|path fra-eng [--dir DIR] [--data-url URL --sha1 HEX] [--force] [--quiet]\n"
     "  fetch: download d2l's corpus into the cache (or DIR) once; path: where it is (exit 1 when it\n"
     "  is not there yet).\n"},
    {"serve", cmd_serve,
     "--model MODEL [--host 127.0.0.1] [--port 8080] [--threads 1] [--max-batch 64] [--max-delay-ms 5]\n"
     "      [--beam 1] [--nbest 1] [--alpha 1.0] [--api-key KEY | --api-key-file FILE] [--timeout 10]\n"
     "      [--max-body 1048576] [--max-sentences 1024] [--max-sentence-bytes 1024] [--max-sentence-words 200]\n"
     "      [--max-beam 16] [--max-connections 256] [--max-queue 16384] [--quiet]\n"
     "  An HTTP server and its page: GET / (the page), GET /health, GET /metrics (Prometheus), POST /translate\n"
     "  (OpenNMT-py's format, decoded with --beam/--nbest/--alpha), POST /v1/translate ({\"text\": [...], \"beam\",\n"
     "  \"nbest\", \"alpha\", \"attention\"}). Loopback only unless --host says otherwise (0.0.0.0, ::); --port 0\n"
     "  picks a free port. The address goes to standard output, log lines to standard error. Requests\n"
     "  arriving within --max-delay-ms are translated as one batch of up to --max-batch sentences on\n"
     "  --threads threads. --api-key: every request but /health and the page needs 'Authorization: Bearer\n"
     "  KEY' (--api-key-file keeps it out of the process list). Too much (body, sentence, sentences,\n"
     "  connections, queue) is refused with a JSON error; idle or slow connections close after --timeout s.\n"
     "  --model given 2..8 times: an ensemble, as for translate (/health says so). SIGHUP reloads the model\n"
     "  file(s) (a file that fails keeps the old model); SIGTERM answers the requests in flight and exits 0\n"
     "  (SIGINT: 130).\n"},
    {"average", cmd_average,
     "MODEL MODEL... --out MODEL\n"
     "  Checkpoint averaging: every weight the mean of the models' (one run's checkpoints: the same\n"
     "  configuration, vocabularies and tokenizers, else an error).\n"},
    {"data", cmd_data,
     "fetch|path fra-eng [--dir DIR] [--data-url URL --sha1 HEX] [--force] [--quiet]\n"
     "  fetch: download d2l's corpus into the cache (or DIR) once; path: where it is (exit 1 when it\n"
     "  is not there yet).\n"
     "seq2seq data split PAIRS.tsv --valid-pairs N --train TRAIN.tsv --valid VALID.tsv [--quiet]\n"
     "  Holds out pairs floor((2k+1)n/2N), k < N, of the n pairs (train's --valid-pairs rule), then\n"
     "  leaves out of TRAIN.tsv every pair whose source or target equals a held-out pair's (byte for byte).\n"},
    {"version", cmd_version, "\n  The build: version and what runs the matrix products (also 'seq2seq --version').\n"},
    {"help", cmd_help, "[COMMAND]\n  Every command's usage, or one's (also 'seq2seq COMMAND --help').\n"},
};
enum { N_COMMANDS = sizeof k_commands / sizeof k_commands[0] };

static const command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, k_commands[i].name)) return &k_commands[i];
    return NULL;
}

void command_usage(const char *cmd, FILE *f) {
    const command *c = cmd ? find_command(cmd) : NULL;
    if (c) { fprintf(f, "usage: seq2seq %s %s", c->name, c->usage); return; }
    fputs("usage: seq2seq COMMAND [options]   (options end at '--'; 'seq2seq COMMAND --help' for one)\n", f);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "\nseq2seq %s %s", k_commands[i].name, k_commands[i].usage);
    fputs("\nExit status: 0 done, 1 error (bad input, a failed write), 2 usage (unknown option, bad value),\n"
          "130 interrupted (train saves first). Every output is checked before any work and written whole;\n"
          "none may be a file the same run reads.\n"
          "Environment: S2S_GEMM chooses the matrix products: own (our AVX-512 kernel, the default where the\n"
          "build has it), blas (OpenBLAS), or for translate, eval and serve bf16 / int8 (every decoder step's\n"
          "products in bfloat16 / 8-bit integers: faster, not float's numbers; int8 is fastest with --batch 16\n"
          "at beam 5). train takes bf16 too (every product in bfloat16 with float sums and float weights:\n"
          "about 1.5x the updates an hour at --hidden 384), not int8.\n", f);
}

static int cmd_help(args *a) {
    const char *o, *which = NULL;
    while (next_opt(a, &o)) {
        if (!a->positional) unknown_option(a, o);
        if (which) usage_error(a, "give one command");
        if (!find_command(o)) usage_error(a, "unknown command '%s'", o);
        which = o;
    }
    command_usage(which, stdout);
    return 0;
}

/* Interrupted outside training and downloads (which save or clean up first): exit 130. */
static void on_interrupt(int sig) {
    (void)sig;
    unlink_staged();
    static const char msg[] = "seq2seq: interrupted\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) _exit(EXIT_INTERRUPTED);
    _exit(EXIT_INTERRUPTED);
}

int main(int argc, char **argv) {
    /* a file-size limit (or a full quota) should fail the write with EFBIG and a message, and
     * leave the previous model in place, not kill us */
    signal(SIGXFSZ, SIG_IGN);
    /* Output to a file or pipe in 64 KiB blocks rather than stdio's 4 KiB: fewer writes, and a
     * failure of a shorter output (help, info, a report) surfaces at close_stdout, which can
     * still name its cause (a failure in an earlier block leaves only "I/O error") */
    static char out_buf[1 << 16];
    static int buffered;  /* once: before any output (the option fuzzer calls main many times) */
    if (!buffered++ && !isatty(STDOUT_FILENO)) setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (argc < 2) { command_usage(NULL, stderr); return EXIT_USAGE; }
    const char *gemm = getenv("S2S_GEMM");  /* the products' code, passed in every object's options */
    g_gemm = S2S_GEMM_DEFAULT;
    g_gemm_name = NULL;
    if (gemm && s2s_gemm_parse(gemm, &g_gemm)) {
        fprintf(stderr, "seq2seq: S2S_GEMM must be 'own', 'blas', 'bf16' or 'int8' (got '%s')\n", gemm);
        return EXIT_USAGE;
    }
    if (gemm) g_gemm_name = s2s_gemm_name(g_gemm);
    if (s2s_gemm_resolve(g_gemm) < 0) {
        fprintf(stderr, "seq2seq: S2S_GEMM=%s, but this build has no %s kernel (built without it)\n", gemm,
                s2s_gemm_needs(g_gemm));
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version")) name = "version";
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "seq2seq: unknown command '%s' (see 'seq2seq help')\n", name);
        return EXIT_USAGE;
    }
    args a = {argc, 2, argv, c->name, 0, 0};
    return close_stdout(c->run(&a));
}
