/* Pictures with cairo: attention heatmaps and training curves, PNG or SVG by file extension
 * (".png" / ".svg", any case; anything else is an error). SVG files carry a <title> and a <desc>
 * naming the labels, since cairo draws text there as glyph outlines. */
#ifndef S2S_PLOT_H
#define S2S_PLOT_H
#include "s2s_common.h"
#include "s2s_output.h"

/* Pictures are written as every s2s_out file (s2s_output.h): whole or not at all, through a
 * symbolic link, never over a directory or device. This checks now what a later write needs:
 * a .png or .svg name, and s2s_out_check. */
int s2s_plot_check_path(const char *path, s2s_err *err);

/* Heatmap like d2l's show_heatmaps: weights[rows*cols] row-major, rows = output tokens
 * (queries), cols = source tokens (keys); labels are UTF-8; a colour bar on the right.
 * Colours are matplotlib's 'Reds' from 0 (white) to the largest weight (dark red); a NAN cell
 * is grey. row_labels, col_labels, any single label and title may be NULL (not drawn).
 * The file is written whole or not at all (a failed write removes it); errors name the path. */
int s2s_plot_heatmap(const char *path, const float *weights, int rows, int cols,
                     const char *const *row_labels, const char *const *col_labels,
                     const char *title, s2s_err *err);

/* The pixel size s2s_plot_heatmap gives the same arguments: about 40 px per cell (less for
 * very large matrices) plus room for the labels, at least 300 x 200. */
int s2s_plot_heatmap_size(int rows, int cols, const char *const *row_labels,
                          const char *const *col_labels, const char *title, int *w, int *h,
                          s2s_err *err);

/* Line plot of one or more series against x (epochs). y values may be NAN (gap). A second
 * y axis on the right is used for series with right_axis[i] != 0 (e.g. BLEU). */
typedef struct s2s_series {
    const char *label;
    const float *x, *y;
    int n;
    int right_axis;
} s2s_series;
/* Axes, grid and ticks at round numbers, a legend above the plot (series on the right axis are
 * dashed), labels may be NULL. A run of one finite point between gaps (or n == 1) is a dot.
 * Always S2S_PLOT_LINES_W x S2S_PLOT_LINES_H pixels. */
enum { S2S_PLOT_LINES_W = 640, S2S_PLOT_LINES_H = 400 };
int s2s_plot_lines(const char *path, const s2s_series *series, int n_series,
                   const char *xlabel, const char *ylabel, const char *y2label, s2s_err *err);
#endif
