/* The one seedable random generator (xoshiro256**, seeded by splitmix64) used for
 * initialisation, shuffling and dropout. Its whole state is 32 bytes, so training state
 * can be saved and resumed exactly. */
#ifndef S2S_RNG_H
#define S2S_RNG_H
#include <stdint.h>

typedef struct s2s_rng {
    uint64_t s[4];
} s2s_rng;

void s2s_rng_seed(s2s_rng *r, uint64_t seed);
uint64_t s2s_rng_next(s2s_rng *r);
float s2s_rng_uniform(s2s_rng *r);              /* [0, 1), 24 random bits */
float s2s_rng_normal(s2s_rng *r);               /* N(0, 1), Box-Muller */
uint32_t s2s_rng_below(s2s_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
void s2s_rng_shuffle(s2s_rng *r, int32_t *a, int n);

#endif
