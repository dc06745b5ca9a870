/* Tests for s2s_plot: heatmaps and line plots written as PNG and SVG to /tmp, checked by their
 * headers (PNG signature, IHDR size), their pixels (read back with cairo) and SVG text; plus
 * the error paths (unwritable path, bad extension, bad arguments). */
#include "harness.h"
#include "s2s_plot.h"
#include "s2s_text.h"

#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_path[256];

/* A per-process path under /tmp, so parallel test runs do not collide. */
static const char *tmp(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/s2s_test_plot_%d_%s", (int)getpid(), name);
    return tmp_path;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* PNG signature and IHDR width/height; 0 when the file is a PNG. */
static int png_size(const char *path, int *w, int *h) {
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n != 24 || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return -1;
    *w = (int)((uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19]);
    *h = (int)((uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23]);
    return 0;
}

/* How many pixels of the PNG have exactly this colour (opaque). */
static long png_count_rgb(const char *path, int r, int g, int b) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) { cairo_surface_destroy(s); return -1; }
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    uint32_t want = 0xff000000u | (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
    long count = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t px;
            memcpy(&px, d + (size_t)y * stride + 4 * (size_t)x, 4);
            count += px == want;
        }
    cairo_surface_destroy(s);
    return count;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 21];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* ------------------------------------------------------------------ heatmap */

/* d2l's example: "il est calme ." for "he's calm ." with attention mostly on the diagonal. */
enum { HR = 5, HC = 5 };
static const char *ROWS[HR] = {"il", "est", "calme", ".", "<eos>"};
static const char *COLS[HC] = {"he", "'s", "calm", ".", "<eos>"};
static void attention(float *w) {
    for (int i = 0; i < HR; i++) {
        float sum = 0;
        for (int j = 0; j < HC; j++) { w[i * HC + j] = expf(-1.5f * (float)abs(i - j)); sum += w[i * HC + j]; }
        for (int j = 0; j < HC; j++) w[i * HC + j] /= sum;
    }
}

static int test_heatmap_png(void) {
    float w[HR * HC];
    attention(w);
    s2s_err err = {{0}};
    int ew = 0, eh = 0, pw = 0, ph = 0;
    CHECK(s2s_plot_heatmap_size(HR, HC, ROWS, COLS, "attention", &ew, &eh, &err) == S2S_OK);
    const char *path = tmp("heatmap.png");
    int rc = s2s_plot_heatmap(path, w, HR, HC, ROWS, COLS, "attention", &err);
    CHECK_MSG(rc == S2S_OK, "s2s_plot_heatmap: %s", err.msg);
    CHECK(png_size(path, &pw, &ph) == 0);
    CHECK_MSG(pw == ew && ph == eh, "PNG is %dx%d, size function said %dx%d", pw, ph, ew, eh);
    CHECK(pw >= 300 && ph >= 200 && pw >= HC * 40 && ph >= HR * 40);
    /* the largest weight is drawn in Reds' darkest colour #67000d, a full 40x40 cell or more
     * (the colour bar's top end adds a few); zero is white-ish #fff5f0 (only in the bar here) */
    long dark = png_count_rgb(path, 0x67, 0x00, 0x0d);
    CHECK_MSG(dark >= 40 * 40, "%ld darkest-red pixels", dark);
    if (getenv("S2S_KEEP_PLOTS")) printf("  wrote %s\n", path); else remove(path);
    return 0;
}

static int test_heatmap_svg(void) {
    float w[HR * HC];
    attention(w);
    s2s_err err = {{0}};
    const char *path = tmp("heatmap.svg");
    int rc = s2s_plot_heatmap(path, w, HR, HC, ROWS, COLS, "Attention & co", &err);
    CHECK_MSG(rc == S2S_OK, "s2s_plot_heatmap: %s", err.msg);
    const char *svg = slurp(path);
    CHECK(svg != NULL);
    if (svg) {
        int ew, eh;
        char want[64];
        CHECK(s2s_plot_heatmap_size(HR, HC, ROWS, COLS, "Attention & co", &ew, &eh, &err) == S2S_OK);
        CHECK(strncmp(svg, "<?xml", 5) == 0);
        CHECK(strstr(svg, "<svg") != NULL);
        snprintf(want, sizeof want, "width=\"%dpx\" height=\"%dpx\"", ew, eh);
        CHECK_MSG(strstr(svg, want) != NULL, "no %s in the SVG", want);
        /* labels are in <desc>, XML-escaped; the title in <title> */
        CHECK(strstr(svg, "<title>Attention &amp; co</title>") != NULL);
        CHECK(strstr(svg, "calme") != NULL);
        CHECK(strstr(svg, "&lt;eos&gt;") != NULL);
        CHECK(strstr(svg, "</svg>") != NULL);
    }
    remove(path);
    return 0;
}

static int test_heatmap_shapes(void) {
    s2s_err err = {{0}};
    int w, h, pw, ph;
    /* 1x1 without labels: the minimum size */
    float one = 0.5f;
    CHECK(s2s_plot_heatmap_size(1, 1, NULL, NULL, NULL, &w, &h, &err) == S2S_OK);
    CHECK(w == 300 && h == 200);
    const char *path = tmp("one.png");
    CHECK(s2s_plot_heatmap(path, &one, 1, 1, NULL, NULL, NULL, &err) == S2S_OK);
    CHECK(png_size(path, &pw, &ph) == 0 && pw == 300 && ph == 200);
    remove(path);
    /* long UTF-8 column labels are rotated: the picture gets taller, not wider per cell */
    const char *rows[2] = {"\xc3\xa9t\xc3\xa9", "<eos>"};
    const char *cols[3] = {"extraordinairement", "d\xc3\xa9j\xc3\xa0", "<eos>"};
    float w6[6] = {0.1f, 0.7f, 0.2f, NAN, 0.5f, 0.5f};
    int wl, hl, ws, hs;
    CHECK(s2s_plot_heatmap_size(2, 3, rows, cols, NULL, &wl, &hl, &err) == S2S_OK);
    CHECK(s2s_plot_heatmap_size(2, 3, rows, NULL, NULL, &ws, &hs, &err) == S2S_OK);
    CHECK(hl > hs && hl >= 2 * 40 + 100);   /* "extraordinairement" is > 100 px long */
    path = tmp("long.png");
    CHECK_MSG(s2s_plot_heatmap(path, w6, 2, 3, rows, cols, NULL, &err) == S2S_OK, "%s", err.msg);
    CHECK(png_size(path, &pw, &ph) == 0 && pw == wl && ph == hl);
    if (getenv("S2S_KEEP_PLOTS")) printf("  wrote %s\n", path); else remove(path);
    /* a big matrix shrinks its cells instead of making a huge picture */
    enum { B = 300 };
    float *big = malloc(sizeof(float) * B * B);
    for (int i = 0; i < B * B; i++) big[i] = (float)(i % 17) / 16.0f;
    CHECK(s2s_plot_heatmap_size(B, B, NULL, NULL, NULL, &w, &h, &err) == S2S_OK);
    CHECK(w < 3000 && h < 3000);
    path = tmp("big.png");
    CHECK(s2s_plot_heatmap(path, big, B, B, NULL, NULL, NULL, &err) == S2S_OK);
    CHECK(png_size(path, &pw, &ph) == 0 && pw == w && ph == h);
    remove(path);
    free(big);
    return 0;
}

/* ------------------------------------------------------------------ lines */

static int test_lines(void) {
    enum { N = 30 };
    float x[N], loss[N], bleu[N], one_x = 5, one_y = 0.3f;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i + 1) * 10;
        loss[i] = 0.2f + 2.5f * expf(-0.012f * x[i]);
        bleu[i] = i % 5 == 4 ? 0.05f + 0.6f * (1 - expf(-0.01f * x[i])) : NAN;   /* every 5th */
    }
    loss[12] = NAN;   /* a gap */
    s2s_series s[3] = {
        {"train loss", x, loss, N, 0},
        {"BLEU", x, bleu, N, 1},
        {"one point", &one_x, &one_y, 1, 0},
    };
    s2s_err err = {{0}};
    int pw, ph;
    const char *path = tmp("lines.png");
    int rc = s2s_plot_lines(path, s, 3, "epoch", "loss", "BLEU", &err);
    CHECK_MSG(rc == S2S_OK, "s2s_plot_lines: %s", err.msg);
    CHECK(png_size(path, &pw, &ph) == 0 && pw == S2S_PLOT_LINES_W && ph == S2S_PLOT_LINES_H);
    /* the curves are drawn in matplotlib's blue, orange and green */
    CHECK(png_count_rgb(path, 0x1f, 0x77, 0xb4) > 100);
    CHECK(png_count_rgb(path, 0xff, 0x7f, 0x0e) > 20);
    CHECK(png_count_rgb(path, 0x2c, 0xa0, 0x2c) > 10);
    if (getenv("S2S_KEEP_PLOTS")) printf("  wrote %s\n", path); else remove(path);

    path = tmp("lines.svg");
    rc = s2s_plot_lines(path, s, 3, "epoch", "loss", "BLEU", &err);
    CHECK_MSG(rc == S2S_OK, "s2s_plot_lines: %s", err.msg);
    const char *svg = slurp(path);
    CHECK(svg && strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg") != NULL);
    CHECK(svg && strstr(svg, "width=\"640px\" height=\"400px\"") != NULL);
    CHECK(svg && strstr(svg, "train loss") != NULL);
    remove(path);

    /* a single series of one point, and no series at all, still draw axes */
    path = tmp("single.png");
    CHECK(s2s_plot_lines(path, s + 2, 1, NULL, NULL, NULL, &err) == S2S_OK);
    CHECK(png_count_rgb(path, 0x1f, 0x77, 0xb4) > 10);   /* the dot, in the first colour */
    CHECK(s2s_plot_lines(path, NULL, 0, "x", "y", NULL, &err) == S2S_OK);
    CHECK(png_size(path, &pw, &ph) == 0 && pw == 640);
    remove(path);
    return 0;
}

/* A title as wide as the whole sentence does not make the picture as wide (100 words were
 * 4515 px, mostly blank; 1000 words were an error): it is cut to fit. An SVG stays well-formed
 * XML whatever characters the title holds; invalid UTF-8 is an error (cairo cannot draw it). */
static int test_heatmap_title(void) {
    s2s_err err = {{0}};
    float w4[4] = {0.1f, 0.9f, 0.5f, 0.5f};
    const char *rl[2] = {"a", "b"}, *cl[2] = {"x", "y"};
    int w0, h0, w1, h1;
    char *title = malloc(1000 * 9 + 1);
    title[0] = 0;
    for (int i = 0; i < 1000; i++) strcat(title, "bonjour ");
    title[100 * 8] = 0;
    CHECK(s2s_plot_heatmap_size(2, 2, rl, cl, NULL, &w0, &h0, &err) == S2S_OK);
    CHECK_MSG(s2s_plot_heatmap_size(2, 2, rl, cl, title, &w1, &h1, &err) == S2S_OK, "%s", err.msg);
    CHECK_MSG(w1 <= 600 && w1 >= w0, "100-word title: %d px wide", w1);
    title[100 * 8] = 'b';
    const char *path = tmp("title.png");
    CHECK_MSG(s2s_plot_heatmap(path, w4, 2, 2, rl, cl, title, &err) == S2S_OK, "1000 words: %s", err.msg);
    int pw, ph;
    CHECK(png_size(path, &pw, &ph) == 0 && pw <= 600);
    remove(path);
    const char *svgp = tmp("ctl.svg");
    CHECK(s2s_plot_heatmap(svgp, w4, 2, 2, rl, cl, "a \xff", &err) == S2S_ERR && strstr(err.msg, "UTF-8"));
    CHECK_MSG(s2s_plot_heatmap(svgp, w4, 2, 2, rl, cl, "a\x01" "b\x1b[2J <&> \xc2\x85 \xc3\xa9", &err) == S2S_OK, "%s", err.msg);
    char *svg = slurp(svgp);
    int bad = 0;
    for (const unsigned char *p = (const unsigned char *)svg; svg && *p; p++) bad += *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r';
    CHECK_MSG(svg && !bad && strstr(svg, "<title>a\xef\xbf\xbd" "b\xef\xbf\xbd[2J &lt;&amp;&gt; \xc2\x85 \xc3\xa9</title>"),
              "%d control bytes; title: %.80s", bad, svg && strstr(svg, "<title>") ? strstr(svg, "<title>") : "none");
    CHECK(svg && s2s_utf8_valid(svg, strlen(svg), NULL));
    remove(svgp);
    free(title);
    return 0;
}

/* ------------------------------------------------------------------ errors */

static int test_errors(void) {
    float w[4] = {0.1f, 0.9f, 0.5f, 0.5f};
    s2s_err err = {{0}};
    s2s_series s = {"loss", w, w, 4, 0};
    /* unwritable: a directory that does not exist; the message names the path */
    CHECK(s2s_plot_heatmap("/nonexistent-s2s-dir/h.png", w, 2, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "/nonexistent-s2s-dir/h.png") != NULL, "message: %s", err.msg);
    CHECK(s2s_plot_lines("/nonexistent-s2s-dir/l.svg", &s, 1, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "does not exist") != NULL, "message: %s", err.msg);
    /* unsupported extension: named in the message, and no file is created */
    const char *jpg = tmp("h.jpg");
    CHECK(s2s_plot_heatmap(jpg, w, 2, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "'.jpg'") != NULL, "message: %s", err.msg);
    CHECK(!file_exists(jpg));
    CHECK(s2s_plot_lines(tmp("noext"), &s, 1, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "extension") != NULL, "message: %s", err.msg);
    /* upper-case extensions are fine */
    const char *up = tmp("UP.PNG");
    CHECK(s2s_plot_heatmap(up, w, 2, 2, NULL, NULL, NULL, &err) == S2S_OK);
    remove(up);
    /* bad shapes and data */
    CHECK(s2s_plot_heatmap(tmp("z.png"), w, 0, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK(s2s_plot_heatmap(tmp("z.png"), NULL, 2, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK(s2s_plot_heatmap(tmp("z.png"), w, 5000, 2, NULL, NULL, NULL, &err) == S2S_ERR);
    s2s_series bad = {"bad", NULL, NULL, 3, 0};
    CHECK(s2s_plot_lines(tmp("z.png"), &bad, 1, NULL, NULL, NULL, &err) == S2S_ERR);
    CHECK_MSG(strstr(err.msg, "bad") != NULL, "message: %s", err.msg);
    CHECK(!file_exists(tmp("z.png")));
    return 0;
}

int main(void) {
    RUN(test_heatmap_png);
    RUN(test_heatmap_svg);
    RUN(test_heatmap_shapes);
    RUN(test_lines);
    RUN(test_heatmap_title);
    RUN(test_errors);
    TEST_END();
}
