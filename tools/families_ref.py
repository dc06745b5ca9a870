#!/usr/bin/python3
"""PyTorch reference for seq2seq's model families (issue 13): GRU or LSTM cells, a
unidirectional or bidirectional encoder, and no attention (d2l's plain decoder), d2l's Bahdanau
attention or Luong's global attention (dot or general score, optional input feeding), with the
decoder's embedding optionally tied to its output layer.

Built on tools/d2l_ref.py, which it extends rather than copies: d2l's encoder and two decoders
take a `cell` (nn.GRU or PyTorch's own nn.LSTM), and the training loop, loss, clipping,
initialisation, greedy decoding, safetensors I/O and command line are d2l_ref's. New here: the
packed bidirectional encoder, Luong attention and its decoder, tying, build_net over the
family options, format 2 model files, and `check` (self-checks, among them that d2l's two
configurations built here are exactly d2l_ref's).

  train     --data FILE [--model attn|plain] [--cell gru|lstm] [--encoder uni|bi]
            [--attention bahdanau|luong-dot|luong-general|none] [--input-feed]
            [--tie-embeddings] [d2l_ref.py's train options] --out MODEL.safetensors
  translate --model MODEL.safetensors SENTENCE...       (format 1 and 2 files)
  bench-translate --model M --data FILE [--from 0] [--count 100] [--threads 1]
  check     (self-checks; prints one line per check, exits non-zero on a failure)

--attention, when given, overrides --model (attn = bahdanau, plain = none). Conventions
(tensor names, state layout, what each option computes) are in tools/README.md.
"""

import os
import sys

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import d2l_ref as ref  # noqa: E402

CELLS = {'gru': nn.GRU, 'lstm': nn.LSTM}
ENCODERS = ('uni', 'bi')
ATTENTIONS = ('bahdanau', 'luong-dot', 'luong-general', 'none')
FORMAT_VERSION = '2'


# ------------------------------ encoder ------------------------------
def join_directions(state):
    """A bidirectional RNN's final state h [2L, B, H/2] (layer-major, forward then backward,
    PyTorch's h_n layout) as [L, B, H] = per layer [forward final; backward final]
    (OpenNMT-py's brnn). LSTM: (h, c), each joined alike."""
    if isinstance(state, tuple):
        return tuple(join_directions(s) for s in state)
    layers, batch, half = state.shape[0] // 2, state.shape[1], state.shape[2]
    both = state.view(layers, 2, batch, half)
    return torch.cat((both[:, 0], both[:, 1]), dim=2)


class BiEncoder(nn.Module):
    """Embedding, then a bidirectional multi-layer GRU/LSTM with H/2 units per direction, run
    over pack_padded_sequence(valid lengths, enforce_sorted=False): the forward direction stops
    and the backward direction starts at each sentence's last real token (valid_len - 1;
    lengths above T count as T). Returns (outputs [T, B, H] = [forward; backward] per step,
    zero at padding; final state joined per layer, see join_directions)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0,
                 cell=nn.GRU):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = cell(embed_size, num_hiddens // 2, num_layers, dropout=dropout,
                        bidirectional=True)

    def forward(self, tokens, valid_lens):
        time_major = self.embedding(tokens).permute(1, 0, 2)     # [B, T] -> [T, B, E]
        steps = time_major.shape[0]
        lengths = valid_lens.clamp(max=steps).cpu()
        packed, state = self.rnn(pack_padded_sequence(time_major, lengths,
                                                      enforce_sorted=False))
        outputs, _ = pad_packed_sequence(packed, total_length=steps)
        return outputs, join_directions(state)


# ------------------------------ Luong attention ------------------------------
class LuongAttention(nn.Module):
    """Luong et al. 2015's global attention, written plainly. For queries h_t [B, Q, H] (the
    decoder RNN's new top-layer states) and the encoder outputs h_s [B, K, H]:
    score = h_t . h_s (dot) or h_t . W_a h_s (general; W_a [H, H], no bias), keys at positions
    >= the valid length masked as d2l's masked_softmax (-1e6), weights a = softmax(score),
    dropout on a as d2l's Bahdanau attention, context c_t = sum_s a_s h_s, and the attentional
    state h~_t = tanh(W_c [c_t; h_t]) (W_c [H, 2H], no bias: its first H columns take c_t).
    last_weights keeps a before dropout [B, Q, K], last_context c_t [B, Q, H]."""

    def __init__(self, num_hiddens, general, dropout):
        super().__init__()
        if general:
            self.W_a = nn.Linear(num_hiddens, num_hiddens, bias=False)
        self.W_c = nn.Linear(2 * num_hiddens, num_hiddens, bias=False)
        self.general = general
        self.weight_dropout = nn.Dropout(dropout)
        self.last_weights = self.last_context = None

    def keys(self, memory):
        """What the queries are dotted with: h_s (dot) or W_a h_s (general), [B, K, H]."""
        return self.W_a(memory) if self.general else memory

    def forward(self, queries, keys, values, valid_lens):
        scores = torch.bmm(queries, keys.transpose(1, 2))                 # [B, Q, K]
        self.last_weights = ref.masked_softmax(scores, valid_lens)
        context = torch.bmm(self.weight_dropout(self.last_weights), values)   # [B, Q, H]
        self.last_context = context
        return torch.tanh(self.W_c(torch.cat((context, queries), dim=-1)))


class LuongDecoder(nn.Module):
    """Luong's decoder: per step the RNN (GRU/LSTM, L layers) runs first on the step's input,
    its top layer's new h_t queries the encoder outputs (LuongAttention), and the attentional
    state h~_t goes to the output layer (dense). Layer 0's input is [embedding; h~_{t-1}]
    (E + H, h~_0 = 0) with input feeding, the embedding alone (E) without. The initial RNN
    state is the encoder's final state. step_weights: each step's weights [B, 1, K] (dropout
    not applied); attentional: the last call's h~ for every step [T, B, H]."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0,
                 cell=nn.GRU, general=False, input_feed=False):
        super().__init__()
        self.attention = LuongAttention(num_hiddens, general, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        feed_size = num_hiddens if input_feed else 0
        self.rnn = cell(embed_size + feed_size, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self.input_feed = input_feed
        self.step_weights, self.attentional = [], None

    def start_state(self, encoded, enc_valid_lens, *unused):
        """State = (encoder outputs batch-major [B, K, H], their keys [B, K, H], RNN state,
        valid lengths [B], h~ of the last step [B, H] (zeros at the start))."""
        enc_outputs, enc_state = encoded
        memory = enc_outputs.permute(1, 0, 2)
        feed = memory.new_zeros(memory.shape[0], memory.shape[2])
        return (memory, self.attention.keys(memory), enc_state, enc_valid_lens, feed)

    def forward(self, tokens, state):
        memory, keys, hidden, valid_lens, feed = state
        steps = self.embedding(tokens).permute(1, 0, 2)                   # [T, B, E]
        if self.input_feed:      # step by step: h~_{t-1} is part of step t's input
            outs, self.step_weights = [], []
            for emb in steps.unbind(0):
                top, hidden = self.rnn(torch.cat((emb, feed), dim=-1).unsqueeze(0), hidden)
                feed = self.attention(top.permute(1, 0, 2), keys, memory, valid_lens)[:, 0]
                outs.append(feed)
                self.step_weights.append(self.attention.last_weights)
            attentional = torch.stack(outs)                                # [T, B, H]
        else:                    # the RNN over all steps, then all queries at once
            tops, hidden = self.rnn(steps, hidden)                         # [T, B, H]
            attentional = self.attention(tops.permute(1, 0, 2), keys, memory, valid_lens)
            self.step_weights = list(self.attention.last_weights.split(1, dim=1))
            feed = attentional[:, -1]
            attentional = attentional.permute(1, 0, 2)
        self.attentional = attentional
        logits = self.dense(attentional)                                   # [T, B, V]
        return logits.permute(1, 0, 2), (memory, keys, hidden, valid_lens, feed)


# ------------------------------ the whole model ------------------------------
def check_family(cell, encoder, attention, input_feed, tie, embed, hidden):
    """Raise ValueError saying what is wrong with a family's options."""
    if cell not in CELLS or encoder not in ENCODERS or attention not in ATTENTIONS:
        raise ValueError(f'unknown family {cell}/{encoder}/{attention}')
    if input_feed and not attention.startswith('luong'):
        raise ValueError('input feeding needs Luong attention (luong-dot or luong-general)')
    if tie and embed != hidden:
        raise ValueError(f'tied embeddings need embed == hidden (here {embed} and {hidden})')
    if encoder == 'bi' and hidden % 2:
        raise ValueError(f'a bidirectional encoder needs an even hidden size, not {hidden}')


def build_net(cell, encoder, attention, input_feed, tie, src_vocab_size, tgt_vocab_size,
              embed, hidden, layers, dropout):
    """The translator for one family (d2l_ref.Translator: .encoder, .decoder).

    cell gru|lstm; encoder uni (d2l's: all T steps, padding included) or bi (BiEncoder);
    attention none (d2l's plain decoder), bahdanau (d2l's attention decoder), luong-dot or
    luong-general (LuongDecoder); input_feed only with Luong; tie: decoder.dense.weight is
    decoder.embedding.weight (one Parameter, needs embed == hidden). Modules are created in
    d2l's order, so gru/uni/bahdanau and gru/uni/none draw d2l's initial weights."""
    check_family(cell, encoder, attention, input_feed, tie, embed, hidden)
    rnn = CELLS[cell]
    enc_class = ref.RNNEncoder if encoder == 'uni' else BiEncoder
    enc = enc_class(src_vocab_size, embed, hidden, layers, dropout, cell=rnn)
    if attention == 'none':
        dec = ref.PlainDecoder(tgt_vocab_size, embed, hidden, layers, dropout, cell=rnn)
    elif attention == 'bahdanau':
        dec = ref.AttentionDecoder(tgt_vocab_size, embed, hidden, layers, dropout, cell=rnn)
    else:
        dec = LuongDecoder(tgt_vocab_size, embed, hidden, layers, dropout, cell=rnn,
                           general=attention == 'luong-general', input_feed=input_feed)
    if tie:
        dec.dense.weight = dec.embedding.weight
    return ref.Translator(enc, dec)


D2L_MODELS = {'attn': 'bahdanau', 'plain': 'none'}


def family_of(meta):
    """The family (cell, encoder, attention, input_feed, tie) a model file's metadata names:
    format 1 files are d2l's GRU models (model attn|plain)."""
    if meta.get('format_version') == '1':
        return 'gru', 'uni', D2L_MODELS[meta['model']], False, False
    flag = {'0': False, '1': True}
    return (meta['cell'], meta['encoder'], meta['attention'], flag[meta['input_feed']],
            flag[meta['tie_embeddings']])


def family_meta(cell, encoder, attention, input_feed, tie):
    """The metadata keys a format 2 file adds to format 1's (model stays: attn for bahdanau,
    plain for none, luong for Luong)."""
    return [('format_version', FORMAT_VERSION),
            ('model', {'bahdanau': 'attn', 'none': 'plain'}.get(attention, 'luong')),
            ('cell', cell), ('encoder', encoder), ('attention', attention),
            ('input_feed', int(input_feed)), ('tie_embeddings', int(tie))]


def net_from_meta(meta, src_vocab_size, tgt_vocab_size):
    return build_net(*family_of(meta), src_vocab_size, tgt_vocab_size, int(meta['embed']),
                     int(meta['hidden']), int(meta['layers']), float(meta['dropout']))


def load_model(path):
    """A format 1 or 2 model file, loaded with load_state_dict(strict=True); returns
    d2l_ref.load_model's tuple."""
    return ref.load_model(path, make_net=net_from_meta)


def save_model(path, net, family, src_vocab, tgt_vocab, embed, hidden, layers, dropout,
               num_steps):
    """Format 2 model file: d2l_ref.save_model's layout and keys plus family_meta's."""
    extra = family_meta(*family)
    model = dict(extra)['model']
    return ref.save_model(path, net, model, src_vocab, tgt_vocab, embed, hidden, layers,
                          dropout, num_steps, extra)


# ------------------------------ command line ------------------------------
def family_from_args(a):
    attention = a.attention or D2L_MODELS[a.model]
    return a.cell, a.encoder, attention, a.input_feed, a.tie_embeddings


def net_from_args(a, src_vocab_size, tgt_vocab_size):
    return build_net(*family_from_args(a), src_vocab_size, tgt_vocab_size, a.embed, a.hidden,
                     a.layers, a.dropout)


# ------------------------------ self-checks ------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = [(c, e, a, f, False) for c in CELLS for e in ENCODERS for a in ATTENTIONS
            for f in ((False, True) if a.startswith('luong') else (False,))]


def toy_batch(gen, src_valid, tgt_valid, steps, src_vocab, tgt_vocab):
    """Source ids, target ids and decoder input (<bos> = 2 + target[:-1]) for the valid
    lengths given: ids in [4, V) then <eos> = 3 at valid - 1 and <pad> = 1 after."""
    rows = []
    for valid, vocab in ((src_valid, src_vocab), (tgt_valid, tgt_vocab)):
        ids = torch.randint(4, vocab, (len(valid), steps), generator=gen)
        for b, n in enumerate(valid):
            ids[b, n - 1], ids[b, n:] = 3, 1
        rows.append(ids)
    dec_in = torch.cat([torch.full((len(tgt_valid), 1), 2), rows[1][:, :-1]], 1)
    return rows[0], torch.tensor(src_valid), dec_in, rows[1], torch.tensor(tgt_valid)


def check_d2l_equal():
    """gru/uni/bahdanau and gru/uni/none built here are d2l_ref's attn and plain models: same
    initial weights for a seed, same logits, loss and gradients (torch.equal, dropout 0.1)."""
    gen = torch.Generator().manual_seed(7)
    X, X_len, dec_in, Y, Y_len = toy_batch(gen, [7, 3, 5], [4, 7, 2], 7, 11, 13)
    for model, attention in D2L_MODELS.items():
        nets, outs = [], []
        for build in (lambda: ref.build_net(model, 11, 13, 8, 6, 2, 0.1),
                      lambda: build_net('gru', 'uni', attention, False, False, 11, 13, 8, 6,
                                        2, 0.1)):
            torch.manual_seed(11)
            net = build()
            ref.xavier_init(net)
            net.train()
            logits, _ = net(X, dec_in, X_len)
            loss = ref.MaskedCrossEntropy()(logits, Y, Y_len)
            loss.sum().backward()
            nets.append(net)
            outs.append([logits, loss] + [p.grad for p in net.parameters()])
        a, b = (n.state_dict() for n in nets)
        if list(a) != list(b) or not all(torch.equal(a[k], b[k]) for k in a):
            return f'{model}: state_dict differs'
        if not all(torch.equal(x, y) for x, y in zip(*outs)):
            return f'{model}: outputs or gradients differ'
    return None


def check_d2l_training():
    """Training a d2l model through this CLI writes d2l_ref's weights to the last bit."""
    import tempfile
    data = os.path.join(ROOT, 'tests', 'data', 'tiny.tsv')
    args = ['--data', data, '--embed', '8', '--hidden', '8', '--batch', '8', '--epochs', '3',
            '--seed', '3']
    with tempfile.TemporaryDirectory() as tmp:
        for model in D2L_MODELS:
            files = [os.path.join(tmp, f'{model}{i}.safetensors') for i in (1, 2)]
            quiet = open(os.devnull, 'w')
            saved, sys.stdout = sys.stdout, quiet
            try:
                ref.main(['train', '--model', model, '--out', files[0]] + args)
                main(['train', '--model', model, '--out', files[1]] + args)
            finally:
                sys.stdout = saved
                quiet.close()
            (a, _), (b, meta_b) = ref.st_read(files[0]), ref.st_read(files[1])
            if list(a) != list(b) or not all(torch.equal(a[k], b[k]) for k in a):
                return f'{model}: trained weights differ'
            if meta_b['format_version'] != FORMAT_VERSION or family_of(meta_b)[:3] != (
                    'gru', 'uni', D2L_MODELS[model]) or meta_b['model'] != model:
                return f'{model}: metadata {meta_b}'
            if list(ref.load_model(files[1])[0].state_dict()) != list(a):
                return f'{model}: d2l_ref.py does not load the format 2 file'
    return None


def check_packing():
    """The packed bidirectional encoder equals running its RNN on each sentence alone (no
    padding at all): outputs at real tokens, zeros at padding, joined final states."""
    gen = torch.Generator().manual_seed(8)
    X, X_len, _, _, _ = toy_batch(gen, [2, 6, 4], [1, 1, 1], 6, 9, 9)
    for cell in CELLS.values():
        torch.manual_seed(12)
        enc = BiEncoder(9, 5, 6, 2, 0.0, cell=cell)
        outputs, state = enc(X, X_len)
        for b, n in enumerate(X_len.tolist()):
            alone, s_alone = enc.rnn(enc.embedding(X[b:b + 1, :n]).permute(1, 0, 2))
            if not torch.allclose(outputs[:n, b:b + 1], alone, atol=1e-6) or \
                    torch.count_nonzero(outputs[n:, b]):
                return f'{cell.__name__}: outputs of sentence {b}'
            joined, mine = join_directions(s_alone), state
            if cell is nn.LSTM:
                joined, mine = torch.cat(joined, 2), torch.cat(mine, 2)
            if not torch.allclose(mine[:, b:b + 1], joined, atol=1e-6):
                return f'{cell.__name__}: final state of sentence {b}'
    return None


def check_luong_by_hand():
    """LuongAttention against its formula written with explicit sums over one query."""
    torch.manual_seed(13)
    H, K = 4, 5
    for general in (False, True):
        att = LuongAttention(H, general, 0.0)
        q, mem = torch.randn(2, 1, H), torch.randn(2, K, H)
        valid = torch.tensor([5, 3])
        out = att(q, att.keys(mem), mem, valid)
        for b in range(2):
            h = q[b, 0]
            W_a = att.W_a.weight if general else torch.eye(H)
            s = [float(h @ (W_a @ mem[b, k])) if k < valid[b] else -1e6 for k in range(K)]
            a = torch.softmax(torch.tensor(s), 0)
            c = sum(a[k] * mem[b, k] for k in range(K))
            want = torch.tanh(att.W_c.weight[:, :H] @ c + att.W_c.weight[:, H:] @ h)
            if not torch.allclose(out[b, 0], want, atol=1e-6):
                return f'general={general}: row {b}'
            if not torch.allclose(att.last_weights[b, 0], a, atol=1e-7):
                return f'general={general}: weights of row {b}'
    return None


def check_step_by_step():
    """For every family: the teacher-forced forward over T steps gives the logits of T
    one-token calls passing the state on (what greedy decoding does), both with dropout 0."""
    gen = torch.Generator().manual_seed(9)
    X, X_len, dec_in, _, _ = toy_batch(gen, [6, 2, 4], [3, 6, 5], 6, 7, 9)
    for family in FAMILIES + [('lstm', 'bi', 'luong-general', True, True)]:
        torch.manual_seed(14)
        net = build_net(*family, 7, 9, 6, 6, 2, 0.0)
        ref.xavier_init(net)
        net.eval()
        with torch.no_grad():
            whole, _ = net(X, dec_in, X_len)
            state = net.decoder.start_state(net.encoder(X, X_len), X_len)
            steps = []
            for t in range(dec_in.shape[1]):
                logits, state = net.decoder(dec_in[:, t:t + 1], state)
                steps.append(logits)
        if not torch.allclose(whole, torch.cat(steps, 1), atol=1e-5):
            return '/'.join(map(str, family))
    return None


def check_files():
    """Every family (and a tied one) saved as format 2 loads strictly and computes the same;
    tying shares one Parameter under both names; the committed format 1 model translates as
    its expected file says; bad option sets are refused."""
    import tempfile
    gen = torch.Generator().manual_seed(10)
    X, X_len, dec_in, _, _ = toy_batch(gen, [6, 2, 4], [3, 6, 5], 6, 7, 9)
    sv, tv = ref.Vocab.from_tokens(list('abcdefg')), ref.Vocab.from_tokens(list('ABCDEFGHI'))
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES + [('gru', 'uni', 'bahdanau', False, True),
                                  ('lstm', 'bi', 'luong-dot', True, True)]:
            torch.manual_seed(15)
            net = build_net(*family, 7, 9, 6, 6, 2, 0.0)
            path = os.path.join(tmp, 'm.safetensors')
            save_model(path, net, family, sv, tv, 6, 6, 2, 0.0, 6)
            back, _, _, _, meta = load_model(path)
            if family_of(meta) != family:
                return f'{family}: metadata {meta}'
            net.eval()
            with torch.no_grad():
                if not torch.equal(net(X, dec_in, X_len)[0], back(X, dec_in, X_len)[0]):
                    return f'{family}: logits after loading'
            is_d2l = family in [('gru', 'uni', a, False, False) for a in D2L_MODELS.values()]
            try:
                ref.load_model(path)
                d2l_loads = True
            except ValueError:
                d2l_loads = False
            if d2l_loads != is_d2l:
                return f'{family}: d2l_ref.py {"loads" if d2l_loads else "refuses"} it'
            dec = back.decoder
            if family[4] != (dec.dense.weight is dec.embedding.weight) or \
                    'decoder.dense.weight' not in back.state_dict():
                return f'{family}: tying'
    model = os.path.join(ROOT, 'tests', 'fixtures', 'torch_tiny_attn.safetensors')
    net, sv, tv, num_steps, _ = load_model(model)
    with open(model.replace('.safetensors', '.expected.tsv'), encoding='utf-8') as f:
        for line in f:
            src, want = line.rstrip('\n').split('\t')
            if ref.translate(net, src, sv, tv, num_steps) != want:
                return f'format 1 model translates {src!r} otherwise'
    for bad in (('gru', 'uni', 'bahdanau', True, False, 6, 6),
                ('gru', 'uni', 'none', False, True, 5, 6),
                ('gru', 'bi', 'none', False, False, 6, 5)):
        try:
            check_family(*bad)
            return f'{bad} accepted'
        except ValueError:
            pass
    return None


def self_check():
    """Run the checks above; print PASS/FAIL lines and return the number of failures."""
    torch.set_num_threads(1)
    failed = 0
    for check in (check_d2l_equal, check_d2l_training, check_packing, check_luong_by_hand,
                  check_step_by_step, check_files):
        problem = check()
        print(f'{"FAIL" if problem else "PASS"} {check.__name__}'
              f'{": " + problem if problem else ""}')
        failed += bool(problem)
    print(f'{6 - failed} passed, {failed} failed')
    return failed


def main(argv=None):
    p, sub = ref.make_parser(__doc__.split('\n')[0])
    t = sub.choices['train']
    t.add_argument('--cell', choices=sorted(CELLS), default='gru')
    t.add_argument('--encoder', choices=ENCODERS, default='uni')
    t.add_argument('--attention', choices=ATTENTIONS, default=None,
                   help='overrides --model (attn = bahdanau, plain = none)')
    t.add_argument('--input-feed', action='store_true')
    t.add_argument('--tie-embeddings', action='store_true')
    t.set_defaults(make_net=net_from_args,
                   extra_meta=lambda a: family_meta(*family_from_args(a)))
    for name in ('translate', 'bench-translate'):
        sub.choices[name].set_defaults(load=load_model)
    sub.add_parser('check').set_defaults(func=lambda a: sys.exit(1 if self_check() else 0))
    a = ref.parse_args(p, argv)
    if a.func is ref.cmd_train:
        try:
            check_family(*family_from_args(a), a.embed, a.hidden)
        except ValueError as e:
            p.error(str(e))
    a.func(a)


if __name__ == '__main__':
    main()
