/* Pictures with cairo: attention heatmaps and training curves, PNG or SVG by file extension. */
#ifndef S2S_PLOT_H
#define S2S_PLOT_H
#include "s2s_common.h"

/* Heatmap like d2l's show_heatmaps: weights[rows*cols] row-major, rows = output tokens
 * (queries), cols = source tokens (keys); labels are UTF-8; a colour bar on the right. */
int s2s_plot_heatmap(const char *path, const float *weights, int rows, int cols,
                     const char *const *row_labels, const char *const *col_labels,
                     const char *title, s2s_err *err);

/* Line plot of one or more series against x (epochs). y values may be NAN (gap). A second
 * y axis on the right is used for series with right_axis[i] != 0 (e.g. BLEU). */
typedef struct s2s_series {
    const char *label;
    const float *x, *y;
    int n;
    int right_axis;
} s2s_series;
int s2s_plot_lines(const char *path, const s2s_series *series, int n_series,
                   const char *xlabel, const char *ylabel, const char *y2label, s2s_err *err);
#endif
