/* Dropout masks: the dropped fraction is p, kept elements are 1/(1-p), a mask depends only
 * on its key, and neighbouring elements and nearby keys are unrelated. */
#include "harness.h"
#include "s2s_nn.h"

#include <stdlib.h>

enum { N = 1 << 20 };

static int test_dropout_fraction_and_scale(void) {
    float *m = malloc(sizeof(float) * N);
    static const float ps[] = {0.1f, 0.2f, 0.5f, 0.9f};
    for (int k = 0; k < 4; k++) {
        float p = ps[k];
        s2s_dropout_fill(m, N, p, 0x1234567890abcdefULL + (uint64_t)k);
        long dropped = 0, wrong = 0;
        for (long i = 0; i < N; i++) {
            if (m[i] == 0.0f) dropped++;
            else if (m[i] != 1.0f / (1.0f - p)) wrong++;
        }
        double sd = sqrt((double)N * p * (1 - p));  /* binomial: within 5 standard deviations */
        CHECK_MSG(fabs(dropped - (double)N * p) < 5 * sd, "p %.1f: %ld of %d dropped", p, dropped, N);
        CHECK(wrong == 0);
    }
    free(m);
    return 0;
}

static int test_dropout_keys_and_neighbours(void) {
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N), *c = malloc(sizeof(float) * N);
    s2s_dropout_fill(a, N, 0.5f, 42);
    s2s_dropout_fill(b, N, 0.5f, 42);
    s2s_dropout_fill(c, N, 0.5f, 43);
    CHECK(memcmp(a, b, sizeof(float) * N) == 0);  /* same key, same mask */
    long same = 0, pairs = 0;
    for (long i = 0; i < N; i++) same += (a[i] == 0.0f) == (c[i ^ 1] == 0.0f);
    CHECK_MSG(fabs(same - N / 2.0) < 5 * sqrt(N * 0.25), "key 43 is key 42 with neighbours swapped (%ld of %d)", same, N);
    same = 0;
    for (long i = 0; i < N; i++) same += (a[i] == 0.0f) == (c[i] == 0.0f);
    for (long i = 0; i + 1 < N; i++) pairs += (a[i] == 0.0f) == (a[i + 1] == 0.0f);
    double sd = sqrt(N * 0.25);  /* independent halves agree N/2 +- sd */
    CHECK_MSG(fabs(same - N / 2.0) < 5 * sd, "keys 42 and 43 agree on %ld of %d", same, N);
    CHECK_MSG(fabs(pairs - N / 2.0) < 5 * sd, "neighbours agree on %ld of %d", pairs, N);
    free(a), free(b), free(c);
    return 0;
}

int main(void) {
    RUN(test_dropout_fraction_and_scale);
    RUN(test_dropout_keys_and_neighbours);
    TEST_END();
}
