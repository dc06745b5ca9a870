/* Minimal test harness: every check prints on failure, each test prints PASS/FAIL/SKIP,
 * and main ends with TEST_END, which prints "counts: P F S" for tests/run.sh and
 * returns non-zero when anything failed. Tests run from the repository root. */
#ifndef S2S_TEST_HARNESS_H
#define S2S_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int th_pass, th_fail, th_skip, th_cur_fail;
static const char *th_cur_name;

#define CHECK(cond) do { if (!(cond)) { th_cur_fail++; \
    fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) { th_cur_fail++; \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fputc('\n', stderr); } } while (0)
/* |a-b| <= atol + rtol*|b|, b the reference */
#define CHECK_NEAR(a, b, rtol, atol) do { double _a = (a), _b = (b); \
    if (!(fabs(_a - _b) <= (atol) + (rtol) * fabs(_b))) { th_cur_fail++; \
    fprintf(stderr, "  %s:%d: %s = %.9g, want %.9g\n", __FILE__, __LINE__, #a, _a, _b); } } while (0)

#define RUN(fn) do { th_cur_name = #fn; th_cur_fail = 0; int _skip = fn(); \
    if (_skip && !th_cur_fail) { th_skip++; printf("SKIP %s\n", th_cur_name); } \
    else if (th_cur_fail) { th_fail++; printf("FAIL %s\n", th_cur_name); } \
    else { th_pass++; printf("PASS %s\n", th_cur_name); } fflush(stdout); } while (0)
/* a test function returns 0 when it ran, 1 when it was skipped (say why first) */
#define SKIP(...) do { printf("  skipped: "); printf(__VA_ARGS__); printf("\n"); return 1; } while (0)

#define TEST_END() do { printf("counts: %d %d %d\n", th_pass, th_fail, th_skip); \
    return th_fail ? 1 : 0; } while (0)

/* Largest violation of |a-b| <= atol + rtol*|b| over an array, as a ratio (<= 1 passes). */
static inline double th_worst(const float *a, const float *b, long n, double rtol, double atol, long *at) {
    double worst = 0; long w = -1;
    for (long i = 0; i < n; i++) {
        double lim = atol + rtol * fabs((double)b[i]);
        double r = fabs((double)a[i] - (double)b[i]) / lim;
        if (!(r <= worst)) { worst = r; w = i; }
    }
    if (at) *at = w;
    return worst;
}
#define CHECK_ARRAY(a, b, n, rtol, atol, what) do { long _at; \
    double _w = th_worst((a), (b), (n), (rtol), (atol), &_at); \
    if (!(_w <= 1.0)) { th_cur_fail++; fprintf(stderr, "  %s:%d: %s differs at [%ld]: %.9g vs ref %.9g\n", \
        __FILE__, __LINE__, (what), _at, (double)(a)[_at], (double)(b)[_at]); } } while (0)
#endif
