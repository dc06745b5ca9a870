#!/usr/bin/python3
"""Write the model-family parity fixtures tests/fixtures/fam_*.safetensors (issue 13; each
file's tensors and metadata are listed in tools/README.md).

Run with PyTorch's Python:  /usr/bin/python3 tools/make_family_fixtures.py
It runs tools/families_ref.py's self-checks first and stops if one fails. Everything is seeded
and runs on one thread with dropout 0; two runs give identical bytes on the same machine.
"""
import collections
import os
import sys

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import d2l_ref as ref  # noqa: E402
import families_ref as fam  # noqa: E402
from make_fixtures import batch_tensors, i32, make_ids, write  # noqa: E402

OD = collections.OrderedDict

# Whole models: file stem -> family (cell, encoder, attention, input_feed, tie).
MODELS = OD([
    ('fam_lstm_uni_bahdanau', ('lstm', 'uni', 'bahdanau', False, False)),
    ('fam_lstm_uni_none', ('lstm', 'uni', 'none', False, False)),
    ('fam_gru_bi_bahdanau', ('gru', 'bi', 'bahdanau', False, False)),
    ('fam_lstm_bi_none', ('lstm', 'bi', 'none', False, False)),
    ('fam_gru_uni_luong_dot', ('gru', 'uni', 'luong-dot', False, False)),
    ('fam_gru_uni_luong_general_feed', ('gru', 'uni', 'luong-general', True, False)),
    ('fam_lstm_bi_luong_general_feed', ('lstm', 'bi', 'luong-general', True, False)),
    ('fam_gru_uni_bahdanau_tied', ('gru', 'uni', 'bahdanau', False, True)),
    ('fam_lstm_bi_luong_dot_feed_tied', ('lstm', 'bi', 'luong-dot', True, True)),
])


def fixture_model(stem, family, seed):
    """One batch through a whole model of the family: see batch_tensors (make_fixtures.py);
    Luong models also give out.attentional [T, B, H] (h~ of every step)."""
    Vs, Vt, H, L, B, T = 7, 9, 4, 2, 3, 6
    E = H if family[4] else 5
    torch.manual_seed(seed)
    net = fam.build_net(*family, Vs, Vt, E, H, L, 0.0)
    ref.xavier_init(net)
    gen = torch.Generator().manual_seed(seed + 1)
    X_valid_len, Y_valid_len = torch.tensor([4, 6, 2]), torch.tensor([5, 2, 6])
    X = make_ids(X_valid_len.tolist(), T, Vs, gen)
    Y = make_ids(Y_valid_len.tolist(), T, Vt, gen)
    dec_input = torch.cat([torch.full((B, 1), 2), Y[:, :-1]], 1)

    def attentional(net):
        if isinstance(net.decoder, fam.LuongDecoder):
            return [('out.attentional', net.decoder.attentional.detach().clone())]
        return []

    t = batch_tensors(net, X, X_valid_len, dec_input, Y, Y_valid_len, attentional)
    cell, encoder, attention, input_feed, tie = family
    meta = OD(kind='family', cell=cell, encoder=encoder, attention=attention,
              input_feed=int(input_feed), tie_embeddings=int(tie), Vs=Vs, Vt=Vt, E=E, H=H,
              L=L, B=B, T=T, bos=2, pad=1, eos=3, adam_lr='0.005', adam_steps=5, clip_theta=1)
    return write(stem + '.safetensors', t, meta)


def fixture_rnn(name, cell, bidirectional, seed):
    """One nn.GRU / nn.LSTM (PyTorch's default init, In=5, L=2, T=6, B=3) and the gradients
    of loss = (y*dy).sum() + (hn*dhn).sum() [+ (cn*dcn).sum()].

    Unidirectional (H=4): from given h0 (and c0) over all T steps. Bidirectional (H=3 per
    direction): from zeros over pack_padded_sequence(x, lengths, enforce_sorted=False), y back
    to T steps by pad_packed_sequence (zero at padding); hn in PyTorch's [2L, B, H] layout."""
    torch.manual_seed(seed)
    In, L, T, B = 5, 2, 6, 3
    H = 3 if bidirectional else 4
    lstm = cell is nn.LSTM
    rnn = cell(In, H, L, dropout=0, bidirectional=bidirectional)
    x = torch.randn(T, B, In, requires_grad=True)
    t = OD(rnn.state_dict())
    t['x'] = x
    states = 2 if lstm else 1
    if bidirectional:
        lengths = torch.tensor([4, 6, 2])
        packed, last = rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
        y, _ = pad_packed_sequence(packed, total_length=T)
        t['lengths'] = i32(lengths)
        start = []
    else:
        start = [torch.randn(L, B, H, requires_grad=True) for _ in range(states)]
        y, last = rnn(x, tuple(start) if lstm else start[0])
        t.update(zip(('h0', 'c0'), start))
    last = last if lstm else (last,)
    ups = [torch.randn(y.shape)] + [torch.randn(s.shape) for s in last]
    sum((o * u).sum() for o, u in zip((y,) + last, ups)).backward()
    t.update(zip(('y', 'hn', 'cn'), (y,) + last))
    t.update(zip(('dy', 'dhn', 'dcn'), ups))
    t['grad.x'] = x.grad
    t.update(('grad.' + n, s.grad) for n, s in zip(('h0', 'c0'), start))
    for n, p in rnn.named_parameters():
        t['grad.' + n] = p.grad
    meta = OD(kind=cell.__name__.lower(), bidirectional=int(bidirectional), In=In, H=H, L=L,
              T=T, B=B)
    return write(name, t, meta)


def fixture_luong(general, seed):
    """LuongAttention(H=4) alone, one query per row (as attention.safetensors): keys are
    also the values (one tensor), loss = (attentional * dattentional).sum()."""
    torch.manual_seed(seed)
    H, B, Tk = 4, 3, 5
    att = fam.LuongAttention(H, general, dropout=0)
    queries = torch.randn(B, 1, H, requires_grad=True)
    keys = torch.randn(B, Tk, H, requires_grad=True)
    valid_lens = torch.tensor([5, 2, 3])
    out = att(queries, att.keys(keys), keys, valid_lens)
    dout = torch.randn(B, 1, H)
    (out * dout).sum().backward()
    t = OD(att.state_dict())
    t.update([('queries', queries), ('keys', keys), ('valid_lens', i32(valid_lens)),
              ('context', att.last_context), ('attention_weights', att.last_weights),
              ('attentional', out), ('dattentional', dout),
              ('grad.queries', queries.grad), ('grad.keys', keys.grad)])
    for n, p in att.named_parameters():
        t['grad.' + n] = p.grad
    score = 'general' if general else 'dot'
    return write(f'fam_luong_{score}.safetensors', t,
                 OD(kind='luong', score=score, H=H, B=B, Tq=1, Tk=Tk))


def main():
    torch.set_num_threads(1)
    if fam.self_check():
        sys.exit('make_family_fixtures: a self-check failed; no fixture written')
    total = fixture_rnn('fam_lstm.safetensors', nn.LSTM, False, 301)
    total += fixture_rnn('fam_bigru_packed.safetensors', nn.GRU, True, 302)
    total += fixture_rnn('fam_bilstm_packed.safetensors', nn.LSTM, True, 303)
    total += fixture_luong(False, 304)
    total += fixture_luong(True, 305)
    for i, (stem, family) in enumerate(MODELS.items()):
        total += fixture_model(stem, family, 310 + 2 * i)
    print(f'total {total} bytes')


if __name__ == '__main__':
    main()
