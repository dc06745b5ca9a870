#!/usr/bin/python3
"""Write the PyTorch parity fixtures to tests/fixtures/ (see tools/README.md).

Run from anywhere with PyTorch's Python:  /usr/bin/python3 tools/make_fixtures.py
Everything is seeded (torch.manual_seed) and runs with one thread; all modules use dropout 0
except the trained tiny model (d2l's dropout 0.1 during training, eval mode when translating).
"""
import collections
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import d2l_ref as ref  # noqa: E402

OUT = os.path.join(ROOT, 'tests', 'fixtures')
OD = collections.OrderedDict


def i32(t):
    return t.to(torch.int32)


def write(name, tensors, meta):
    path = os.path.join(OUT, name)
    size = ref.st_write(path, tensors, meta)
    print(f'{name:34s} {size:8d} bytes, {len(tensors)} tensors')
    return size


def fixture_gru():
    torch.manual_seed(101)
    In, H, L, T, B = 5, 4, 2, 6, 3
    gru = nn.GRU(In, H, L, dropout=0)
    x = torch.randn(T, B, In, requires_grad=True)
    h0 = torch.randn(L, B, H, requires_grad=True)
    y, hn = gru(x, h0)
    dy, dhn = torch.randn(T, B, H), torch.randn(L, B, H)
    ((y * dy).sum() + (hn * dhn).sum()).backward()
    t = OD(gru.state_dict())
    t.update([('x', x), ('h0', h0), ('y', y), ('hn', hn), ('dy', dy), ('dhn', dhn),
              ('grad.x', x.grad), ('grad.h0', h0.grad)])
    for n, p in gru.named_parameters():
        t['grad.' + n] = p.grad
    return write('gru.safetensors', t, OD(kind='gru', In=In, H=H, L=L, T=T, B=B))


def fixture_attention():
    torch.manual_seed(102)
    H, B, Tk = 4, 3, 5
    att = ref.BahdanauAttention(H, H, H, dropout=0)
    queries = torch.randn(B, 1, H, requires_grad=True)
    keys = torch.randn(B, Tk, H, requires_grad=True)
    valid_lens = torch.tensor([5, 2, 3])
    ctx = att(queries, keys, keys, valid_lens)   # keys and values are the same tensor
    dctx = torch.randn(B, 1, H)
    (ctx * dctx).sum().backward()
    t = OD(att.state_dict())
    t.update([('queries', queries), ('keys', keys), ('valid_lens', i32(valid_lens)),
              ('context', ctx), ('attention_weights', att.last_weights), ('dctx', dctx),
              ('grad.queries', queries.grad), ('grad.keys', keys.grad)])
    for n, p in att.named_parameters():
        t['grad.' + n] = p.grad
    return write('attention.safetensors', t, OD(kind='attention', H=H, B=B, Tq=1, Tk=Tk))


def fixture_loss():
    torch.manual_seed(103)
    B, T, V = 3, 4, 6
    logits = torch.randn(B, T, V, requires_grad=True)
    labels = torch.randint(0, V, (B, T))
    valid_len = torch.tensor([2, 0, 4])
    loss = ref.MaskedCrossEntropy()(logits, labels, valid_len)
    loss.sum().backward()
    t = OD([('logits', logits), ('labels', i32(labels)), ('valid_len', i32(valid_len)),
            ('loss', loss), ('grad.logits', logits.grad)])
    return write('loss.safetensors', t, OD(kind='loss', B=B, T=T, V=V))


def fixture_smoothed_loss():
    """The recipe's loss: nn.CrossEntropyLoss(label_smoothing=0.1) per target token, the batch's
    mean (each token weighted 1/N) backpropagated."""
    torch.manual_seed(104)
    N, V, eps = 7, 11, 0.1
    logits = (2 * torch.randn(N, V)).requires_grad_(True)
    labels = torch.randint(0, V, (N,))
    loss = nn.CrossEntropyLoss(reduction='none', label_smoothing=eps)(logits, labels)
    loss.mean().backward()
    t = OD([('logits', logits), ('labels', i32(labels)), ('loss', loss), ('grad.logits', logits.grad)])
    return write('smoothed_loss.safetensors', t, OD(kind='smoothed_loss', N=N, V=V, eps=eps))


def make_ids(valid, T, V, gen):
    """Random ids from {<unk>=0} U [4, V), <eos>=3 at valid-1, <pad>=1 after."""
    rows = []
    for n in valid:
        r = torch.randint(3, V, (T,), generator=gen)
        r[r == 3] = 0
        r[n - 1] = 3
        r[n:] = 1
        rows.append(r)
    return torch.stack(rows)


def grad_norm(net):
    params = [p for p in net.parameters() if p.requires_grad]
    return torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))


def fixture_batch(kind, seed):
    Vs, Vt, E, H, L, B, T = 11, 13, 8, 6, 2, 4, 7
    torch.manual_seed(seed)
    net = ref.build_net(kind, Vs, Vt, E, H, L, 0)
    ref.xavier_init(net)
    gen = torch.Generator().manual_seed(seed + 1)
    X_valid_len = torch.tensor([7, 3, 5, 1])
    Y_valid_len = torch.tensor([4, 7, 2, 6])
    X = make_ids(X_valid_len.tolist(), T, Vs, gen)
    Y = make_ids(Y_valid_len.tolist(), T, Vt, gen)
    dec_input = torch.cat([torch.tensor([2] * B).reshape(-1, 1), Y[:, :-1]], 1)
    if kind == 'plain':
        # Our fixed-context decoder must be d2l's drifting-context one under teacher forcing.
        drift = ref.PlainDecoder(Vt, E, H, L, 0, fixed_context=False)
        drift.load_state_dict(net.decoder.state_dict(), strict=True)
        with torch.no_grad():
            a, _ = drift(dec_input, drift.start_state(net.encoder(X, X_valid_len)))
            b, _ = net(X, dec_input, X_valid_len)
        assert torch.equal(a, b), 'fixed-context decoder differs from d2l under teacher forcing'
    t = batch_tensors(net, X, X_valid_len, dec_input, Y, Y_valid_len)
    meta = OD(kind=kind, Vs=Vs, Vt=Vt, E=E, H=H, L=L, B=B, T=T, bos=2, pad=1, eos=3,
              adam_lr='0.005', adam_steps=5, clip_theta=1)
    return write(f'{kind}_batch.safetensors', t, meta)


def batch_tensors(net, X, X_valid_len, dec_input, Y, Y_valid_len, extra_outputs=None):
    """The tensors of a whole-model batch fixture (tools/README.md) for net (dropout 0, its
    weights as they are): state_dict, in.*, out.* (out.enc_state_c for an LSTM encoder,
    out.attention_weights when the decoder has step_weights), then extra_outputs(net)'s
    (name, tensor) pairs, grad.<name> for every state_dict name (tied names share one
    gradient), then 5 steps of d2l's train_seq2seq (adam.*, after.*)."""
    t = OD((n, v.clone()) for n, v in net.state_dict().items())
    t['in.X'], t['in.X_valid_len'] = i32(X), i32(X_valid_len)
    t['in.dec_input'], t['in.Y'], t['in.Y_valid_len'] = i32(dec_input), i32(Y), i32(Y_valid_len)

    net.train()  # as train_seq2seq; dropout is 0 so train/eval are the same
    with torch.no_grad():
        enc_outputs, enc_state = net.encoder(X, X_valid_len)

    loss_fn = ref.MaskedCrossEntropy()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.005)
    params = net.state_dict(keep_vars=True)
    loss_sums, norms = [], []
    for step in range(5):
        optimizer.zero_grad()
        Y_hat, _ = net(X, dec_input, X_valid_len)
        l = loss_fn(Y_hat, Y, Y_valid_len)
        l.sum().backward()
        if step == 0:
            t['out.logits'] = Y_hat.detach().clone()
            t['out.loss'] = l.detach().clone()
            t['out.enc_outputs'] = enc_outputs
            if isinstance(enc_state, tuple):
                t['out.enc_state'], t['out.enc_state_c'] = enc_state
            else:
                t['out.enc_state'] = enc_state
            if getattr(net.decoder, 'step_weights', None):
                w = torch.stack(net.decoder.step_weights)   # [T, B, 1, Tk]
                t['out.attention_weights'] = w.squeeze(2).detach().clone()
            t.update(extra_outputs(net) if extra_outputs else ())
            for n, p in params.items():
                t['grad.' + n] = p.grad.detach().clone()
        loss_sums.append(float(l.sum()))
        norms.append(float(grad_norm(net)))
        ref.clip_gradients(net, 1)
        optimizer.step()
    t['adam.loss_sum'] = torch.tensor(loss_sums, dtype=torch.float32)
    t['adam.grad_norm'] = torch.tensor(norms, dtype=torch.float32)
    for n, v in net.state_dict().items():
        t['after.' + n] = v.clone()
    return t


def fixture_tiny_model():
    data = os.path.join(ROOT, 'tests', 'data', 'tiny.tsv')
    model = os.path.join(OUT, 'torch_tiny_attn.safetensors')
    print('training the tiny attention model (d2l_ref train) ...')
    ref.main(['train', '--data', data, '--model', 'attn', '--embed', '16', '--hidden', '16',
              '--layers', '2', '--steps', '10', '--dropout', '0.1', '--batch', '8',
              '--epochs', '150', '--seed', '1', '--threads', '1', '--out', model])
    net, sv, tv, num_steps, _ = ref.load_model(model)
    source, _ = ref.split_pairs(ref.normalize(ref.read_text(data)))
    sents = []
    for s in [' '.join(toks) for toks in source] + [
            "i'm calm .", "he's home .", "he's calm now .", "i swim now ."]:
        if s not in sents:
            sents.append(s)
    lines, margin = [], float('inf')
    for s in sents:
        lines.append(f'{s}\t{ref.translate(net, s, sv, tv, num_steps)}\n')
        margin = min(margin, greedy_margin(net, s, sv, tv, num_steps))
    exp = os.path.join(OUT, 'torch_tiny_attn.expected.tsv')
    with open(exp, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    print(f'{os.path.basename(model):34s} {os.path.getsize(model):8d} bytes')
    print(f'{os.path.basename(exp):34s} {os.path.getsize(exp):8d} bytes, {len(lines)} lines; '
          f'smallest top1-top2 logit gap over all greedy steps {margin:.4g}')
    return os.path.getsize(model) + os.path.getsize(exp)


def greedy_margin(net, sentence, sv, tv, num_steps):
    """Smallest gap between the best and second-best logit along the greedy path."""
    src = sv[ref.normalize(sentence).lower().split(' ')] + [sv['<eos>']]
    n = len(src)
    src = ref.fit_length(src, num_steps, sv['<pad>'])
    with torch.no_grad():
        enc_X = torch.tensor([src])
        state = net.decoder.start_state(net.encoder(enc_X, torch.tensor([n])), torch.tensor([n]))
        dec_X, gap = torch.tensor([[tv['<bos>']]]), float('inf')
        for _ in range(num_steps):
            Y, state = net.decoder(dec_X, state)
            top = Y[0, 0].topk(2).values
            gap = min(gap, float(top[0] - top[1]))
            dec_X = Y.argmax(dim=2)
            if int(dec_X) == tv['<eos>']:
                break
    return gap


FIXTURES = {'smoothed_loss': fixture_smoothed_loss}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    if len(sys.argv) > 1:  # only the named fixtures: make_fixtures.py smoothed_loss
        for name in sys.argv[1:]:
            FIXTURES[name]()
        return
    total = 0
    total += fixture_gru()
    total += fixture_attention()
    total += fixture_loss()
    total += fixture_smoothed_loss()
    total += fixture_batch('attn', 201)
    total += fixture_batch('plain', 202)
    total += fixture_tiny_model()
    print(f'total {total} bytes')


if __name__ == '__main__':
    main()
