/* The transposed copies of the weights the per-step products read (s2s_wt in s2s_ws.h): which
 * copies a model's configuration has, their buffers, making them, and lending one set to a
 * workspace. */
#include "s2s_decoder.h"
#include "s2s_nn.h"

int s2s_wt_jobs(const s2s_config *c, const s2s_params *p, s2s_wt *wt, s2s_wt_job *jobs) {
    const int H = c->hidden, L = c->layers, dirs = s2s_encoder_of(c->encoder)->dirs, Hd = H / dirs;
    const int G = s2s_cell_of(c->cell)->gates;
    const s2s_decoder_ops *dec = s2s_decoder_of(c->attention);
    int n = 0;
    for (int l = 0; l < L; l++)
        for (int d = 0; d < dirs; d++)
            jobs[n++] = (s2s_wt_job){&wt->enc_hh[l][d], p ? p->enc[l][d].w_hh : NULL, G * Hd, Hd, Hd};
    for (int l = 0; l < L; l++) {
        jobs[n++] = (s2s_wt_job){&wt->dec_hh[l], p ? p->dec[l].w_hh : NULL, G * H, H, H};
        if (l > 0) jobs[n++] = (s2s_wt_job){&wt->dec_ih[l], p ? p->dec[l].w_ih : NULL, G * H, H, H};
    }
    if (dec->transposed) n += dec->transposed(c, p, wt->fam, jobs + n);
    return n;
}

void s2s_wt_carve(const s2s_config *c, s2s_wt *wt, s2s_carve *cv) {
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(c, NULL, wt, jobs);
    for (int i = 0; i < n; i++) *jobs[i].dst = s2s_take(cv, (size_t)jobs[i].rows * jobs[i].cols);
}

size_t s2s_wt_floats(const s2s_config *c) {
    s2s_wt wt;
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(c, NULL, &wt, jobs);
    size_t f = 0;
    for (int i = 0; i < n; i++) f += (size_t)jobs[i].rows * jobs[i].cols;
    return f;
}

void s2s_wt_make(const s2s_model *m, s2s_wt *wt, int part, int parts) {
    s2s_wt_job jobs[S2S_WT_JOBS];
    const int n = s2s_wt_jobs(&m->cfg, &m->p, wt, jobs);
    for (int i = 0; i < n; i++) {  /* columns [k0, k1) of W are rows [k0, k1) of the copy */
        const s2s_wt_job *j = &jobs[i];
        const int k0 = (int)((long)j->cols * part / parts), k1 = (int)((long)j->cols * (part + 1) / parts);
        if (k1 > k0) s2s_transpose(*j->dst + (size_t)k0 * j->rows, j->W + k0, j->rows, k1 - k0, j->ldw);
    }
}

void s2s_ws_lend_wt(s2s_ws *ws, const s2s_wt *wt) { ws->wt = wt ? wt : &ws->own_wt; }
