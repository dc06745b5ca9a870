/* The model families' tables: which file implements each cell and each decoder, and what each
 * encoder kind is. Adding a cell or a decoder is its file plus one line here (and its enum value
 * in s2s_model.h); an encoder kind is its line here (the encoder's code reads dirs, packed). */
#include <string.h>

#include "s2s_decoder.h"

extern const s2s_cell_ops s2s_cell_gru, s2s_cell_lstm;
static const s2s_cell_ops *const cells[S2S_N_CELLS] = {
    [S2S_GRU] = &s2s_cell_gru,
    [S2S_LSTM] = &s2s_cell_lstm,
};

extern const s2s_decoder_ops s2s_dec_bahdanau, s2s_dec_plain, s2s_dec_luong_dot, s2s_dec_luong_general;
static const s2s_decoder_ops *const decoders[S2S_N_ATTENTION] = {
    [S2S_BAHDANAU] = &s2s_dec_bahdanau,
    [S2S_NO_ATTENTION] = &s2s_dec_plain,
    [S2S_LUONG_DOT] = &s2s_dec_luong_dot,
    [S2S_LUONG_GENERAL] = &s2s_dec_luong_general,
};

static const s2s_encoder_ops encoders[S2S_N_ENCODERS] = {
    [S2S_UNI] = {"uni", 1, 0, "one direction"},
    [S2S_BI] = {"bi", 2, 1, "bidirectional"},
};

const s2s_cell_ops *s2s_cell_of(int kind) { return kind >= 0 && kind < S2S_N_CELLS ? cells[kind] : NULL; }
const s2s_decoder_ops *s2s_decoder_of(int kind) {
    return kind >= 0 && kind < S2S_N_ATTENTION ? decoders[kind] : NULL;
}

const char *s2s_cell_name(s2s_cell_kind c) { return s2s_cell_of(c) ? cells[c]->name : NULL; }
const char *s2s_attention_name(s2s_attention a) { return s2s_decoder_of(a) ? decoders[a]->name : NULL; }
const char *s2s_model_kind_name(s2s_attention a) { return s2s_decoder_of(a) ? decoders[a]->kind : NULL; }
const char *s2s_attention_title(s2s_attention a) { return s2s_decoder_of(a) ? decoders[a]->title : NULL; }
int s2s_attention_feeds(s2s_attention a) { return s2s_decoder_of(a) ? decoders[a]->feeds : 0; }
const s2s_encoder_ops *s2s_encoder_of(int kind) {
    return kind >= 0 && kind < S2S_N_ENCODERS ? &encoders[kind] : NULL;
}
const char *s2s_encoder_name(s2s_enc_kind e) { return s2s_encoder_of(e) ? encoders[e].name : NULL; }

int s2s_cell_parse(const char *s, s2s_cell_kind *out) {
    for (int i = 0; i < S2S_N_CELLS; i++)
        if (cells[i] && !strcmp(s, cells[i]->name)) { *out = (s2s_cell_kind)i; return 0; }
    return -1;
}
int s2s_attention_parse(const char *s, s2s_attention *out) {
    for (int i = 0; i < S2S_N_ATTENTION; i++)
        if (decoders[i] && !strcmp(s, decoders[i]->name)) { *out = (s2s_attention)i; return 0; }
    return -1;
}
int s2s_encoder_parse(const char *s, s2s_enc_kind *out) {
    for (int i = 0; i < S2S_N_ENCODERS; i++)
        if (!strcmp(s, encoders[i].name)) { *out = (s2s_enc_kind)i; return 0; }
    return -1;
}
