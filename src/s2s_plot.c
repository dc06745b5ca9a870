/* Plots drawn with cairo: attention heatmaps (d2l's show_heatmaps) and training curves
 * (d2l's Animator), written as PNG or SVG. Every cairo status is checked; a failure leaves
 * no half-written file and comes back as a one-line message naming the path. */
#include "s2s_plot.h"

#include <cairo.h>
#include <cairo-svg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#define FONT "sans-serif"
#define PAD 10.0

/* ------------------------------------------------------------------ output files */

enum { KIND_PNG, KIND_SVG };

/* The kind from the path's extension. */
static int plot_kind(const char *path, int *kind, s2s_err *err) {
    if (!path || !*path) return s2s_errf(err, "empty file name");
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (dot && strcasecmp(dot, ".png") == 0) { *kind = KIND_PNG; return S2S_OK; }
    if (dot && strcasecmp(dot, ".svg") == 0) { *kind = KIND_SVG; return S2S_OK; }
    if (dot) return s2s_errf(err, "%s: unsupported extension '%s' (use .png or .svg)", path, dot);
    return s2s_errf(err, "%s: no file extension (use .png or .svg)", path);
}

int s2s_plot_check_path(const char *path, s2s_err *err) {
    int kind;
    return plot_kind(path, &kind, err) || s2s_out_check(path, err) ? S2S_ERR : S2S_OK;
}

/* Growable memory the SVG surface writes into, so a <title> can be put in before saving. */
typedef struct membuf { unsigned char *p; size_t n, cap; int oom; } membuf;

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int len) {
    membuf *m = closure;
    if (m->oom) return CAIRO_STATUS_NO_MEMORY;
    if (len > m->cap - m->n) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap - m->n < len) cap *= 2;
        unsigned char *np = realloc(m->p, cap);
        if (!np) { m->oom = 1; return CAIRO_STATUS_NO_MEMORY; }
        m->p = np; m->cap = cap;
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return CAIRO_STATUS_SUCCESS;
}

static cairo_status_t file_write(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

typedef struct canvas {
    const char *path;
    int kind, w, h;
    s2s_out out;   /* the picture's temporary file, renamed over the path when complete */
    FILE *f;
    membuf svg;
    cairo_surface_t *s;
    cairo_t *cr;
} canvas;

/* Opens the output file first (so an unwritable path fails before any drawing), then a
 * w x h surface with a white background. On failure everything is released. */
static int canvas_open(canvas *c, const char *path, int kind, int w, int h, s2s_err *err) {
    memset(c, 0, sizeof *c);
    c->path = path; c->kind = kind; c->w = w; c->h = h;
    if (s2s_out_open(&c->out, path, err)) return S2S_ERR;
    c->f = c->out.f;
    if (kind == KIND_PNG) {
        c->s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    } else {
        c->s = cairo_svg_surface_create_for_stream(membuf_write, &c->svg, w, h);
        if (cairo_surface_status(c->s) == CAIRO_STATUS_SUCCESS)
            cairo_svg_surface_set_document_unit(c->s, CAIRO_SVG_UNIT_PX);
    }
    cairo_status_t st = cairo_surface_status(c->s);
    if (st == CAIRO_STATUS_SUCCESS) {
        c->cr = cairo_create(c->s);
        st = cairo_status(c->cr);
    }
    if (st != CAIRO_STATUS_SUCCESS) {
        if (c->cr) cairo_destroy(c->cr);
        cairo_surface_destroy(c->s);
        s2s_out_discard(&c->out);
        free(c->svg.p);
        return s2s_errf(err, "plot: %s: cannot create a %dx%d %s surface: %s", path, w, h,
                        kind == KIND_PNG ? "PNG" : "SVG", cairo_status_to_string(st));
    }
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    return S2S_OK;
}

/* s as XML character data: & < > " escaped; a character XML 1.0 does not allow (C0 controls
 * but TAB and newlines, even as &#x1;) or invalid UTF-8 becomes U+FFFD, so the file stays
 * well-formed whatever the text. */
static void xml_escape_put(membuf *m, const char *s) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    for (size_t i = 0; s && p[i];) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, -1, &c);
        const char *r = NULL;
        if (n <= 0) { r = "\xef\xbf\xbd"; n = 1; }
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') r = "\xef\xbf\xbd";
        else if (c == '&') r = "&amp;";
        else if (c == '<') r = "&lt;";
        else if (c == '>') r = "&gt;";
        else if (c == '"') r = "&quot;";
        if (r) membuf_write(m, (const unsigned char *)r, (unsigned)strlen(r));
        else membuf_write(m, p + i, (unsigned)n);
        i += (size_t)n;
    }
}

/* Writes the picture and closes everything. For SVG, `title` and `desc` (may be NULL) go in as
 * <title> and <desc> right after the <svg> tag. On any failure the temporary file is removed
 * and the path is left as it was. */
static int canvas_close(canvas *c, const char *title, const char *desc, s2s_err *err) {
    cairo_status_t st = cairo_status(c->cr);
    const char *what = "drawing";
    cairo_destroy(c->cr);
    if (st == CAIRO_STATUS_SUCCESS && c->kind == KIND_PNG) {
        what = "writing PNG";
        st = cairo_surface_write_to_png_stream(c->s, file_write, c->f);
    }
    cairo_surface_finish(c->s);
    if (st == CAIRO_STATUS_SUCCESS) { what = "finishing"; st = cairo_surface_status(c->s); }
    cairo_surface_destroy(c->s);
    int werr = 0;
    if (st == CAIRO_STATUS_SUCCESS && c->kind == KIND_SVG) {
        what = "writing SVG";
        membuf head = {0};
        /* the root element's start tag ends at the first '>' after "<svg" */
        size_t cut = 0;
        for (size_t i = 0; i + 4 <= c->svg.n; i++)
            if (memcmp(c->svg.p + i, "<svg", 4) == 0) {
                const unsigned char *gt = memchr(c->svg.p + i, '>', c->svg.n - i);
                if (gt) cut = (size_t)(gt + 1 - c->svg.p);
                break;
            }
        int gt = cut > 0;
        if (gt) {
            membuf_write(&head, (const unsigned char *)"\n<title>", 8);
            xml_escape_put(&head, title ? title : "plot");
            membuf_write(&head, (const unsigned char *)"</title>\n<desc>", 15);
            xml_escape_put(&head, desc);
            membuf_write(&head, (const unsigned char *)"</desc>", 7);
        }
        if (head.oom || c->svg.oom) st = CAIRO_STATUS_NO_MEMORY;
        else if (fwrite(c->svg.p, 1, cut, c->f) != cut ||
                 fwrite(head.p, 1, head.n, c->f) != head.n ||
                 fwrite(c->svg.p + cut, 1, c->svg.n - cut, c->f) != c->svg.n - cut) werr = errno ? errno : EIO;
        free(head.p);
    }
    free(c->svg.p);
    if (st == CAIRO_STATUS_WRITE_ERROR) werr = errno ? errno : EIO;
    if (st != CAIRO_STATUS_SUCCESS || werr) {
        s2s_out_discard(&c->out);
        if (werr) return s2s_errf(err, "plot: %s: %s failed: %s", c->path, what, strerror(werr));
        return s2s_errf(err, "plot: %s: %s failed: %s", c->path, what, cairo_status_to_string(st));
    }
    return s2s_out_commit(&c->out, err);
}

/* ------------------------------------------------------------------ text and ticks */

static void font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s ? s : "", &e);
    return e.x_advance;
}

/* Draws s with its anchor point at (x, y): ax 0/0.5/1 = left/centre/right, the baseline placed
 * so the text's cap height is centred on y when ay = 0.5 (ay 0 = top at y, 1 = bottom at y).
 * angle in radians, counter-clockwise, about the anchor. */
static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay, double angle) {
    if (!s || !*s) return;
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_w(cr, s), capital = fe.ascent * 0.72;   /* DejaVu's cap height ~ 0.72 ascent */
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle);
    cairo_move_to(cr, -ax * w, capital * (1 - ay));
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

/* A round step (1, 2, 2.5 or 5 times a power of ten) giving about `want` intervals over span. */
static double nice_step(double span, int want) {
    if (!(span > 0) || !isfinite(span)) return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    double m = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
    return m * p;
}

/* Decimals needed to print multiples of step exactly (0.25 -> 2, 5 -> 0). */
static int step_decimals(double step) {
    for (int d = 0; d < 8; d++) {
        double v = step * pow(10, d);
        if (fabs(v - nearbyint(v)) < 1e-6 * fmax(1, v)) return d;
    }
    return 8;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;   /* no "-0" */
    snprintf(buf, n, "%.*f", step_decimals(step), v);
}

/* ------------------------------------------------------------------ colours */

/* matplotlib's 'Reds' is linear between these nine ColorBrewer colours (its _Reds_data). */
static const double REDS[9][3] = {
    {0xff, 0xf5, 0xf0}, {0xfe, 0xe0, 0xd2}, {0xfc, 0xbb, 0xa1}, {0xfc, 0x92, 0x72}, {0xfb, 0x6a, 0x4a},
    {0xef, 0x3b, 0x2c}, {0xcb, 0x18, 0x1d}, {0xa5, 0x0f, 0x15}, {0x67, 0x00, 0x0d},
};

static void reds(double t, double rgb[3]) {
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * 8;
    int i = (int)x;
    if (i > 7) i = 7;
    double f = x - i;
    for (int k = 0; k < 3; k++) rgb[k] = (REDS[i][k] * (1 - f) + REDS[i + 1][k] * f) / 255.0;
}

/* matplotlib's default colour cycle ('tab10'). */
static const double TAB10[10][3] = {
    {0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd},
    {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f}, {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf},
};

static void set_rgb255(cairo_t *cr, const double c[3]) {
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

/* ------------------------------------------------------------------ heatmap */

typedef struct hm_layout {
    int w, h, cell;
    int label_every;                   /* draw every k-th label when cells are small */
    int rotate_cols;
    double gx, gy, gw, gh;             /* grid */
    double bx, by, bw, bh;             /* colour bar */
    double col_h, title_h;
    double vmax, step;                 /* colour scale 0..vmax, colour-bar tick step */
    char *title;                       /* the title as drawn: cut to fit (malloc'd; NULL: none) */
} hm_layout;

#define LABEL_FS 12.0
#define CAPTION_FS 13.0
#define TITLE_FS 14.0
#define HM_MAX_SIDE 1200               /* cells per side; beyond it cells would be < 2 px */
#define HM_TITLE_W 600.0               /* a title wider than the picture and this is cut */

/* s cut at a character boundary and ended with "\u2026" so that it is at most max_w wide
 * (malloc'd; NULL when out of memory). The SVG <title> keeps the whole text. */
static char *fit_text(cairo_t *cr, const char *s, double max_w) {
    size_t n = strlen(s);
    char *out = malloc(n + 4);
    if (!out) return NULL;
    memcpy(out, s, n + 1);
    if (text_w(cr, s) <= max_w) return out;
    size_t lo = 0, hi = n;  /* the prefix of lo bytes fits, that of hi does not (widths grow with length) */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2, b = mid;
        while (b > 0 && ((unsigned char)s[b] & 0xc0) == 0x80) b--;
        memcpy(out + b, "\xe2\x80\xa6", 4);
        if (text_w(cr, out) <= max_w) lo = mid; else hi = mid;
        memcpy(out, s, n + 1);
    }
    while (lo > 0 && ((unsigned char)s[lo] & 0xc0) == 0x80) lo--;
    while (lo > 0 && s[lo - 1] == ' ') lo--;
    memcpy(out + lo, "\xe2\x80\xa6", 4);
    return out;
}

static double hm_vmax(const float *weights, long n) {
    double m = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(weights[i]) && weights[i] > m) m = weights[i];
    return m > 0 ? m : 1;
}

/* Measures the labels with cr and fills L (vmax must be set). */
static void hm_layout_compute(cairo_t *cr, int rows, int cols, const char *const *row_labels,
                              const char *const *col_labels, const char *title, hm_layout *L) {
    int side = rows > cols ? rows : cols;
    L->cell = side * 40 <= 2400 ? 40 : 2400 / side;
    if (L->cell < 2) L->cell = 2;
    L->label_every = L->cell >= 15 ? 1 : (15 + L->cell - 1) / L->cell;
    font(cr, LABEL_FS, 0);
    double row_w = 0, col_w = 0;
    for (int i = 0; row_labels && i < rows; i++) row_w = fmax(row_w, text_w(cr, row_labels[i]));
    for (int j = 0; col_labels && j < cols; j++) col_w = fmax(col_w, text_w(cr, col_labels[j]));
    L->rotate_cols = col_w > L->cell * L->label_every - 4;
    L->col_h = !col_labels ? 0 : L->rotate_cols ? col_w : LABEL_FS * 1.2;
    L->step = nice_step(L->vmax, 5);
    char buf[32];
    /* room for "0.000" whatever the maximum, so the size does not depend on the weights */
    double tick_w = text_w(cr, "0.000");
    for (double v = 0; v <= L->vmax * (1 + 1e-9); v += L->step) {
        fmt_tick(buf, sizeof buf, v, L->step);
        tick_w = fmax(tick_w, text_w(cr, buf));
    }
    double cap_h = CAPTION_FS * 1.3;
    double left = PAD + cap_h + 6 + row_w + (row_labels ? 6 : 0);
    double top = PAD + L->title_h;
    L->gw = (double)cols * L->cell;
    L->gh = (double)rows * L->cell;
    L->bw = 14;
    L->bh = fmax(L->gh, 120);
    double right = 20 + L->bw + 4 + 4 + tick_w + PAD;
    double below = 6 + L->col_h + 6 + cap_h + PAD;
    /* the title takes the picture's width, or HM_TITLE_W if wider; a longer one is cut */
    font(cr, TITLE_FS, 1);
    L->title_h = title && *title ? TITLE_FS * 1.6 : 0;
    free(L->title);
    L->title = title && *title ? fit_text(cr, title, fmax(left + L->gw + right, HM_TITLE_W) - 2 * PAD) : NULL;
    double title_w = L->title ? text_w(cr, L->title) : 0;
    double content_w = fmax(left + L->gw + right, title_w + 2 * PAD);
    double content_h = fmax(top + L->gh + below, top + L->bh + LABEL_FS + PAD);
    L->w = (int)ceil(fmax(300, content_w));
    L->h = (int)ceil(fmax(200, content_h));
    /* centre the content when the minimum size leaves room; whole pixels keep cell edges sharp */
    double ox = floor((L->w - content_w) / 2), oy = floor((L->h - content_h) / 2);
    L->gx = floor(ox + left);
    L->gy = floor(oy + top);
    L->bx = L->gx + L->gw + 20;
    L->by = L->gy;
}

static int hm_check(int rows, int cols, s2s_err *err) {
    if (rows <= 0 || cols <= 0) return s2s_errf(err, "heatmap: empty matrix (%d x %d)", rows, cols);
    if (rows > HM_MAX_SIDE || cols > HM_MAX_SIDE)
        return s2s_errf(err, "heatmap: %d x %d is too large to draw (at most %d per side)", rows,
                        cols, HM_MAX_SIDE);
    return S2S_OK;
}

/* A scratch context to measure text on. */
static int hm_measure(int rows, int cols, const char *const *row_labels, const char *const *col_labels,
                      const char *title, hm_layout *L, s2s_err *err) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *cr = cairo_create(s);
    hm_layout_compute(cr, rows, cols, row_labels, col_labels, title, L);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return s2s_errf(err, "heatmap: measuring labels failed: %s", cairo_status_to_string(st));
    return S2S_OK;
}

int s2s_plot_heatmap_size(int rows, int cols, const char *const *row_labels,
                          const char *const *col_labels, const char *title, int *w, int *h,
                          s2s_err *err) {
    if (hm_check(rows, cols, err)) return S2S_ERR;
    hm_layout L = {0};
    L.vmax = 1;   /* the tick labels' width barely depends on it; see s2s_plot_heatmap */
    int rc = hm_measure(rows, cols, row_labels, col_labels, title, &L, err);
    free(L.title);
    if (rc) return S2S_ERR;
    *w = L.w; *h = L.h;
    return S2S_OK;
}

/* Labels joined for the SVG <desc>: "queries: a b c; keys: x y". */
static char *hm_desc(int rows, int cols, const char *const *rl, const char *const *cl) {
    size_t n = 32;
    for (int i = 0; rl && i < rows; i++) n += (rl[i] ? strlen(rl[i]) : 0) + 1;
    for (int j = 0; cl && j < cols; j++) n += (cl[j] ? strlen(cl[j]) : 0) + 1;
    char *d = malloc(n);
    if (!d) return NULL;
    strcpy(d, "queries:");
    for (int i = 0; rl && i < rows; i++) if (rl[i]) { strcat(d, " "); strcat(d, rl[i]); }
    strcat(d, "; keys:");
    for (int j = 0; cl && j < cols; j++) if (cl[j]) { strcat(d, " "); strcat(d, cl[j]); }
    return d;
}

int s2s_plot_heatmap(const char *path, const float *weights, int rows, int cols,
                     const char *const *row_labels, const char *const *col_labels,
                     const char *title, s2s_err *err) {
    int kind;
    if (plot_kind(path, &kind, err) || hm_check(rows, cols, err)) return S2S_ERR;
    if (!weights) return s2s_errf(err, "heatmap %s: weights is NULL", path);
    hm_layout L = {0};
    /* The size is laid out with vmax = 1 so it matches s2s_plot_heatmap_size; the layout keeps
     * room for tick labels as wide as "0.000", which covers any maximum below 100000. */
    L.vmax = 1;
    if (hm_measure(rows, cols, row_labels, col_labels, title, &L, err)) { free(L.title); return S2S_ERR; }
    if (title && *title && !L.title) return s2s_errf(err, "heatmap %s: out of memory for the title", path);
    L.vmax = hm_vmax(weights, (long)rows * cols);
    L.step = nice_step(L.vmax, 5);
    canvas c;
    if (canvas_open(&c, path, kind, L.w, L.h, err)) { free(L.title); return S2S_ERR; }
    cairo_t *cr = c.cr;

    /* cells */
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);   /* no seams between neighbouring cells */
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float v = weights[(long)i * cols + j];
            double rgb[3] = {0.75, 0.75, 0.75};
            if (isfinite(v)) reds(v / L.vmax, rgb);
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_rectangle(cr, L.gx + j * L.cell, L.gy + i * L.cell, L.cell, L.cell);
            cairo_fill(cr);
        }
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, L.gx - 0.5, L.gy - 0.5, L.gw + 1, L.gh + 1);
    cairo_stroke(cr);

    /* token labels */
    font(cr, LABEL_FS, 0);
    for (int i = 0; row_labels && i < rows; i += L.label_every)
        text_at(cr, row_labels[i], L.gx - 6, L.gy + (i + 0.5) * L.cell, 1, 0.5, 0);
    for (int j = 0; col_labels && j < cols; j += L.label_every) {
        double x = L.gx + (j + 0.5) * L.cell, y = L.gy + L.gh + 6;
        if (L.rotate_cols) text_at(cr, col_labels[j], x, y, 1, 0.5, M_PI / 2);
        else text_at(cr, col_labels[j], x, y, 0.5, 0, 0);
    }

    /* captions and title, as d2l's show_heatmaps labels its axes */
    font(cr, CAPTION_FS, 0);
    text_at(cr, "Keys", L.gx + L.gw / 2, L.gy + L.gh + 6 + L.col_h + 6, 0.5, 0, 0);
    double row_w = 0;
    font(cr, LABEL_FS, 0);
    for (int i = 0; row_labels && i < rows; i++) row_w = fmax(row_w, text_w(cr, row_labels[i]));
    font(cr, CAPTION_FS, 0);
    text_at(cr, "Queries", L.gx - 6 - row_w - (row_labels ? 6 : 0), L.gy + L.gh / 2, 0.5, 1, M_PI / 2);
    if (L.title) {  /* centred over the grid, but inside the picture when it is wider than the grid */
        font(cr, TITLE_FS, 1);
        double tw = text_w(cr, L.title), tx = fmin(fmax(L.gx + L.gw / 2, PAD + tw / 2), L.w - PAD - tw / 2);
        text_at(cr, L.title, tx, L.gy - L.title_h / 2, 0.5, 0.5, 0);
    }

    /* colour bar: the colormap is piecewise linear, so a gradient with its nine stops is exact */
    cairo_pattern_t *g = cairo_pattern_create_linear(0, L.by + L.bh, 0, L.by);
    for (int k = 0; k < 9; k++)
        cairo_pattern_add_color_stop_rgb(g, k / 8.0, REDS[k][0] / 255, REDS[k][1] / 255, REDS[k][2] / 255);
    cairo_set_source(cr, g);
    cairo_rectangle(cr, L.bx, L.by, L.bw, L.bh);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L.bx - 0.5, L.by - 0.5, L.bw + 1, L.bh + 1);
    cairo_stroke(cr);
    font(cr, LABEL_FS, 0);
    char buf[32];
    for (int k = 0;; k++) {
        double v = k * L.step;
        if (v > L.vmax * (1 + 1e-9)) break;
        double y = floor(L.by + L.bh - v / L.vmax * L.bh) + 0.5;
        cairo_move_to(cr, L.bx + L.bw, y);
        cairo_line_to(cr, L.bx + L.bw + 4, y);
        cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, L.step);
        text_at(cr, buf, L.bx + L.bw + 7, y, 0, 0.5, 0);
    }

    char *desc = hm_desc(rows, cols, row_labels, col_labels);
    int rc = canvas_close(&c, title && *title ? title : "attention heatmap", desc, err);
    free(desc);
    free(L.title);
    return rc;
}

/* ------------------------------------------------------------------ line plot */

typedef struct axis { double lo, hi, step; int used; } axis;

/* Range of the finite values seen, widened to whole ticks when `snap` (y axes), else by 3% on
 * each side (x axis) so points at the ends are not cut in half by the frame. */
static void axis_finish(axis *a, int snap) {
    if (!a->used) { a->lo = 0; a->hi = 1; }
    if (a->hi - a->lo < 1e-12 * fmax(1, fabs(a->hi))) {
        double d = a->lo == 0 ? 1 : fabs(a->lo) * 0.1;
        a->lo -= d; a->hi += d;
    } else if (!snap) {
        double d = (a->hi - a->lo) * 0.03;
        a->lo -= d; a->hi += d;
    }
    a->step = nice_step(a->hi - a->lo, snap ? 5 : 7);
    if (snap) {
        a->lo = floor(a->lo / a->step + 1e-9) * a->step;
        a->hi = ceil(a->hi / a->step - 1e-9) * a->step;
    }
}

static void axis_add(axis *a, double v) {
    if (!isfinite(v)) return;
    if (!a->used) { a->lo = a->hi = v; a->used = 1; }
    else { a->lo = fmin(a->lo, v); a->hi = fmax(a->hi, v); }
}

static int point_ok(const s2s_series *s, int i) { return isfinite(s->x[i]) && isfinite(s->y[i]); }

int s2s_plot_lines(const char *path, const s2s_series *series, int n_series,
                   const char *xlabel, const char *ylabel, const char *y2label, s2s_err *err) {
    int kind;
    if (plot_kind(path, &kind, err)) return S2S_ERR;
    if (n_series < 0 || (n_series > 0 && !series))
        return s2s_errf(err, "line plot %s: bad series list (%d series)", path, n_series);
    for (int k = 0; k < n_series; k++)
        if (series[k].n < 0 || (series[k].n > 0 && (!series[k].x || !series[k].y)))
            return s2s_errf(err, "line plot %s: series %d (%s) has n = %d but no data", path, k,
                            series[k].label ? series[k].label : "unnamed", series[k].n);

    axis ax = {0}, ay = {0}, ay2 = {0};
    int has_right = 0;
    for (int k = 0; k < n_series; k++) {
        const s2s_series *s = &series[k];
        has_right |= s->right_axis != 0;
        for (int i = 0; i < s->n; i++) {
            if (!point_ok(s, i)) continue;
            axis_add(&ax, s->x[i]);
            axis_add(s->right_axis ? &ay2 : &ay, s->y[i]);
        }
    }
    axis_finish(&ax, 0);
    axis_finish(&ay, 1);
    if (has_right) axis_finish(&ay2, 1);

    const int W = S2S_PLOT_LINES_W, H = S2S_PLOT_LINES_H;
    canvas c;
    if (canvas_open(&c, path, kind, W, H, err)) return S2S_ERR;
    cairo_t *cr = c.cr;

    /* legend rows above the plot: a line sample and the label per series, wrapped to width */
    font(cr, LABEL_FS, 0);
    double left = 72, right = W - (has_right ? 72 : 24);
    double lx = left, ly = PAD + 6;
    double entry_x[64], entry_y[64];
    int n_legend = n_series < 64 ? n_series : 64;
    for (int k = 0; k < n_legend; k++) {
        double ew = 22 + 4 + text_w(cr, series[k].label) + 18;
        if (lx + ew > right && lx > left) { lx = left; ly += LABEL_FS * 1.4; }
        entry_x[k] = lx; entry_y[k] = ly;
        lx += ew;
    }
    double top = n_legend ? ly + LABEL_FS + 8 : 24, bottom = H - 52;

    double px0 = left, px1 = right, py0 = top, py1 = bottom;
#define X(v) (px0 + ((v) - ax.lo) / (ax.hi - ax.lo) * (px1 - px0))
#define Y(a, v) (py1 - ((v) - (a).lo) / ((a).hi - (a).lo) * (py1 - py0))

    /* grid and ticks */
    char buf[32];
    cairo_set_line_width(cr, 1);
    for (int pass = 0; pass < 2; pass++) {   /* grid first, then tick marks and labels */
        long k0 = (long)ceil(ax.lo / ax.step - 1e-9), k1 = (long)floor(ax.hi / ax.step + 1e-9);
        for (long k = k0; k <= k1; k++) {
            double x = floor(X(k * ax.step)) + 0.5;
            if (pass == 0) {
                cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
                cairo_move_to(cr, x, py0); cairo_line_to(cr, x, py1); cairo_stroke(cr);
            } else {
                cairo_set_source_rgb(cr, 0, 0, 0);
                cairo_move_to(cr, x, py1); cairo_line_to(cr, x, py1 + 4); cairo_stroke(cr);
                fmt_tick(buf, sizeof buf, k * ax.step, ax.step);
                text_at(cr, buf, x, py1 + 7, 0.5, 0, 0);
            }
        }
        for (int side = 0; side < 1 + has_right; side++) {
            axis *a = side ? &ay2 : &ay;
            long j0 = (long)ceil(a->lo / a->step - 1e-9), j1 = (long)floor(a->hi / a->step + 1e-9);
            for (long k = j0; k <= j1; k++) {
                double y = floor(Y(*a, k * a->step)) + 0.5;
                if (pass == 0) {
                    if (side) continue;   /* one grid is enough; the right axis gets ticks only */
                    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
                    cairo_move_to(cr, px0, y); cairo_line_to(cr, px1, y); cairo_stroke(cr);
                } else {
                    cairo_set_source_rgb(cr, 0, 0, 0);
                    double x = side ? px1 : px0, d = side ? 4 : -4;
                    cairo_move_to(cr, x, y); cairo_line_to(cr, x + d, y); cairo_stroke(cr);
                    fmt_tick(buf, sizeof buf, k * a->step, a->step);
                    text_at(cr, buf, x + (side ? 7 : -7), y, side ? 0 : 1, 0.5, 0);
                }
            }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, floor(px0) + 0.5, floor(py0) + 0.5, floor(px1) - floor(px0), floor(py1) - floor(py0));
    cairo_stroke(cr);

    /* axis captions */
    font(cr, CAPTION_FS, 0);
    if (xlabel) text_at(cr, xlabel, (px0 + px1) / 2, H - PAD, 0.5, 1, 0);
    if (ylabel) text_at(cr, ylabel, PAD, (py0 + py1) / 2, 0.5, 0, M_PI / 2);
    if (y2label && has_right) text_at(cr, y2label, W - PAD, (py0 + py1) / 2, 0.5, 0, -M_PI / 2);

    /* series: NAN breaks a line; a run of one point is a dot */
    cairo_save(cr);
    cairo_rectangle(cr, px0 - 4, py0 - 4, px1 - px0 + 8, py1 - py0 + 8);   /* room for end dots */
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.8);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int k = 0; k < n_series; k++) {
        const s2s_series *s = &series[k];
        const axis *a = s->right_axis ? &ay2 : &ay;
        static const double dash[] = {6, 4};
        set_rgb255(cr, TAB10[k % 10]);
        cairo_set_dash(cr, dash, s->right_axis ? 2 : 0, 0);
        for (int i = 0; i < s->n;) {
            if (!point_ok(s, i)) { i++; continue; }
            int j = i;
            while (j < s->n && point_ok(s, j)) j++;
            if (j - i == 1) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, X(s->x[i]), Y(*a, s->y[i]), 3, 0, 2 * M_PI);
                cairo_fill(cr);
            } else {
                cairo_move_to(cr, X(s->x[i]), Y(*a, s->y[i]));
                for (int t = i + 1; t < j; t++) cairo_line_to(cr, X(s->x[t]), Y(*a, s->y[t]));
                cairo_stroke(cr);
            }
            i = j;
        }
    }
    cairo_restore(cr);

    /* legend */
    font(cr, LABEL_FS, 0);
    cairo_set_line_width(cr, 1.8);
    for (int k = 0; k < n_legend; k++) {
        static const double dash[] = {6, 4};
        double y = entry_y[k] + LABEL_FS * 0.5;
        set_rgb255(cr, TAB10[k % 10]);
        cairo_set_dash(cr, dash, series[k].right_axis ? 2 : 0, 0);
        cairo_move_to(cr, entry_x[k], y);
        cairo_line_to(cr, entry_x[k] + 22, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, dash, 0, 0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, series[k].label, entry_x[k] + 26, y, 0, 0.5, 0);
    }
#undef X
#undef Y

    /* <desc>: the series names, so the SVG can be searched */
    size_t dn = 16;
    for (int k = 0; k < n_series; k++) dn += (series[k].label ? strlen(series[k].label) : 0) + 2;
    char *desc = malloc(dn);
    if (desc) {
        strcpy(desc, "series:");
        for (int k = 0; k < n_series; k++)
            if (series[k].label) { strcat(desc, " "); strcat(desc, series[k].label); }
    }
    int rc = canvas_close(&c, ylabel ? ylabel : "line plot", desc, err);
    free(desc);
    return rc;
}
