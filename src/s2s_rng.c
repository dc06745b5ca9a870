/* xoshiro256** (Blackman & Vigna, public domain reference algorithm). */
#include "s2s_rng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void s2s_rng_seed(s2s_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {  /* splitmix64 spreads any seed, 0 included, over the state */
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = z ^ (z >> 31);
    }
}

uint64_t s2s_rng_next(s2s_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

float s2s_rng_uniform(s2s_rng *r) { return (float)(s2s_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float s2s_rng_normal(s2s_rng *r) {
    double u1 = ((s2s_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double u2 = (s2s_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t s2s_rng_below(s2s_rng *r, uint32_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  /* reject the biased tail */
    uint64_t x;
    do x = s2s_rng_next(r); while (x >= limit);
    return (uint32_t)(x % n);
}

void s2s_rng_shuffle(s2s_rng *r, int32_t *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)s2s_rng_below(r, (uint32_t)i + 1);
        int32_t t = a[i]; a[i] = a[j]; a[j] = t;
    }
}
