/* A program using the installed library: translates its arguments with a model file.
 *   cc translate.c $(pkg-config --cflags --libs seq2seq) -o translate
 *   ./translate attn.safetensors "Go." "I'm home."        (beam 4, two hypotheses each) */
#include <stdio.h>

#include <seq2seq.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL SENTENCE...   (libs2s %s)\n", argv[0], s2s_version());
        return 2;
    }
    s2s_err err;
    s2s_translator *t;
    if (s2s_translator_open(argv[1], NULL, &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    s2s_translate_options o;
    s2s_translate_options_init(&o);  /* greedy, batches of 64, one thread */
    o.beam = 4;
    o.nbest = 2;
    s2s_translation *r;
    const int n = argc - 2;
    if (s2s_translate(t, (const char *const *)(argv + 2), n, &o, &r, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        s2s_translator_close(t);
        return 1;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < s2s_translation_hyps(r, i); k++)
            printf("%.4f\t%s\n", s2s_translation_score(r, i, k), s2s_translation_text(r, i, k));
    s2s_translation_free(r);
    s2s_translator_close(t);
    return 0;
}
