#!/usr/bin/python3
"""PyTorch reference for the seq2seq project: d2l.ai's classic seq2seq / Bahdanau translator.

A clean-room re-implementation, in our own code, of the behaviour of Dive into Deep Learning's
classic (pre-2022) PyTorch seq2seq and Bahdanau-attention models and their training and greedy
prediction (https://d2l.ai; repository d2l-ai/d2l-en, d2l/torch.py and the chapters
chapter_recurrent-modern/seq2seq.md and chapter_attention-mechanisms/bahdanau-attention.md).
No d2l code is copied; what is kept on purpose, so that PyTorch draws the same random numbers
and the state_dict names match d2l's, is the public interface: module attribute names, shapes,
creation order, and the order of the tensor operations. The text pipeline lives in
tools/nmt_text.py (pure Python, shared with tools/text_ref.py).

Differences from running d2l itself: the pairs file is read from a path (UTF-8) instead of being
downloaded; each epoch's loss is printed instead of plotted; gradients are zeroed at the start
of every batch (as in d2l's final classic release); the plain model's decoder keeps a fixed
context during prediction (see PlainDecoder).

Also here: a tiny safetensors reader/writer (json + struct), model save/load, and the command
line:

  train     --data FILE --model attn|plain [--pairs 601] [--embed 32] [--hidden 32]
            [--layers 2] [--dropout 0.1] [--batch 64] [--steps 10] [--lr 0.005]
            [--epochs 250] [--seed 0] [--threads 1] --out MODEL.safetensors
  translate --model MODEL.safetensors SENTENCE...
  bench-translate --model M --data FILE [--from 0] [--count 100] [--threads 1]

--pairs N looks at lines 0..N-1 of the file, i.e. d2l's num_examples = N-1 (d2l's default
600 is --pairs 601). Lines that are not exactly `English<TAB>French` are skipped but counted,
as d2l's tokenize_nmt does.

The plain (no attention) model: d2l's Seq2SeqDecoder takes its context from the last layer of
the state it is given, which during greedy prediction is the *decoder's* evolving hidden state,
so the context drifts away from the encoder's summary after the first step. PlainDecoder keeps
context = enc_state[-1] (the encoder's last-layer final state) for every step instead. It has
exactly d2l's modules/parameters/state_dict, and under teacher forcing (training, one call over
the whole sequence) it computes exactly what d2l's decoder computes, because there the state's
last layer *is* the encoder's. PlainDecoder(fixed_context=False) is d2l's drifting behaviour
(make_fixtures.py checks the two agree under teacher forcing).

translate normalizes each sentence as d2l's preprocess_nmt does (a no-op for already spaced
input such as "go ."), then decodes greedily as d2l's predict_seq2seq does (num_steps from the
model file).
"""

import argparse
import collections
import json
import os
import struct
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from nmt_text import SPECIALS, Vocab, encode_lines, fit_length, normalize, read_text, \
    split_pairs

# Masked attention scores are set to this (not -inf) before the softmax, as in d2l.
MASK_SCORE = -1e6


# ------------------------------ data ------------------------------
def load_pairs(path, batch_size, num_steps, last_line=600):
    """Reproduces d2l's load_data_nmt on a local file.

    Both vocabularies keep tokens seen at least twice. Returns (shuffling DataLoader over
    (src ids, src valid lengths, tgt ids, tgt valid lengths), src vocab, tgt vocab); ids and
    lengths are int64 tensors."""
    sources, targets = split_pairs(normalize(read_text(path)), last_line)
    src_vocab = Vocab(sources, min_freq=2, specials=SPECIALS)
    tgt_vocab = Vocab(targets, min_freq=2, specials=SPECIALS)
    columns = []
    for lines, vocab in ((sources, src_vocab), (targets, tgt_vocab)):
        rows, _ = encode_lines(lines, vocab, num_steps)
        ids = torch.tensor(rows)
        columns += [ids, (ids != vocab['<pad>']).sum(1)]
    # Shuffled every epoch from torch's global generator, as d2l's load_array.
    loader = DataLoader(TensorDataset(*columns), batch_size, shuffle=True)
    return loader, src_vocab, tgt_vocab


# ------------------------------ modules ------------------------------
# Attribute names, shapes and creation order follow d2l, so that a given torch.manual_seed
# gives d2l's initial weights and state_dict() has d2l's keys.

def top_hidden(state):
    """The last layer's hidden state h [B, H] of an RNN state: h [L, B, H] (GRU) or (h, c)
    (LSTM; the cell state c is not a hidden state)."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


class RNNEncoder(nn.Module):
    """Reproduces d2l's classic Seq2SeqEncoder (d2l.ai): embedding, then a multi-layer GRU
    started from zeros, run over all T steps (padding included). Returns (outputs [T, B, H],
    final state: h [L, B, H] after step T). cell=nn.LSTM (tools/families_ref.py) gives the
    same encoder with LSTM cells, whose final state is (h, c)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0,
                 cell=nn.GRU):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = cell(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, tokens, *unused):
        time_major = self.embedding(tokens).permute(1, 0, 2)   # [B, T] -> [T, B, E]
        return self.rnn(time_major)


class PlainDecoder(nn.Module):
    """Reproduces d2l's classic Seq2SeqDecoder (d2l.ai): every step's GRU input is
    [embedding, context] with context = a last-layer hidden state; logits by a dense layer.

    fixed_context=True (our model): the context is the encoder's last-layer final state for
    every step. fixed_context=False: d2l's behaviour, the last layer of the state passed in.
    cell=nn.LSTM: LSTM cells, the context is the last layer's final h."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0,
                 fixed_context=True, cell=nn.GRU):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = cell(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self.fixed_context = fixed_context

    def start_state(self, encoded, *unused):
        """State = (hidden [L, B, H] or LSTM (h, c), pinned context [B, H] or None)."""
        enc_state = encoded[1]
        return (enc_state, top_hidden(enc_state) if self.fixed_context else None)

    def forward(self, tokens, state):
        hidden, pinned = state
        steps = self.embedding(tokens).permute(1, 0, 2)          # [T, B, E]
        context = top_hidden(hidden) if pinned is None else pinned   # [B, H]
        rnn_in = torch.cat((steps, context.repeat(steps.shape[0], 1, 1)), 2)
        rnn_out, hidden = self.rnn(rnn_in, hidden)
        return self.dense(rnn_out).permute(1, 0, 2), (hidden, pinned)   # [B, T, V]


def masked_softmax(scores, valid_lens):
    """Softmax over the last axis of scores [B, Q, K] where keys at positions >= the valid
    length get the score MASK_SCORE first. valid_lens: None, [B] or [B, Q]."""
    if valid_lens is None:
        return F.softmax(scores, dim=-1)
    limit = valid_lens[:, None, None] if valid_lens.dim() == 1 else valid_lens[:, :, None]
    positions = torch.arange(scores.shape[-1], device=scores.device)
    return F.softmax(scores.masked_fill(positions >= limit, MASK_SCORE), dim=-1)


class BahdanauAttention(nn.Module):
    """Reproduces d2l's AdditiveAttention (d2l.ai): score(q, k) = w_v . tanh(W_q q + W_k k),
    masked softmax over the keys, dropout on the weights, weighted sum of the values.
    last_weights keeps the weights before dropout."""

    def __init__(self, key_size, query_size, num_hiddens, dropout):
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.weight_dropout = nn.Dropout(dropout)
        self.last_weights = None

    def forward(self, queries, keys, values, valid_lens):
        # queries [B, Q, q], keys [B, K, k], values [B, K, v] -> [B, Q, v]
        q_proj = self.W_q(queries)
        k_proj = self.W_k(keys)
        pairs = q_proj.unsqueeze(2) + k_proj.unsqueeze(1)    # [B, Q, K, h] by broadcasting
        scores = self.w_v(torch.tanh(pairs)).squeeze(-1)     # [B, Q, K]
        self.last_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.weight_dropout(self.last_weights), values)


class AttentionDecoder(nn.Module):
    """Reproduces d2l's classic Seq2SeqAttentionDecoder (d2l.ai). Step by step: the query is
    the previous last-layer hidden state, the keys and values are the encoder outputs; the GRU
    input is [context, embedding]; one dense layer over all steps' outputs at the end.
    step_weights holds each step's attention weights [B, 1, K]. cell=nn.LSTM: LSTM cells, the
    query is the last layer's h."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0,
                 cell=nn.GRU):
        super().__init__()
        self.attention = BahdanauAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = cell(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self.step_weights = []

    def start_state(self, encoded, enc_valid_lens, *unused):
        """State = (encoder outputs batch-major [B, T, H], hidden [L, B, H] or LSTM (h, c),
        valid lengths)."""
        enc_outputs, enc_state = encoded
        return (enc_outputs.permute(1, 0, 2), enc_state, enc_valid_lens)

    def forward(self, tokens, state):
        memory, hidden, valid_lens = state
        steps = self.embedding(tokens).permute(1, 0, 2)      # [T, B, E]
        outs, self.step_weights = [], []
        for emb in steps.unbind(0):                          # emb [B, E]
            query = top_hidden(hidden).unsqueeze(1)           # [B, 1, H]
            context = self.attention(query, memory, memory, valid_lens)
            rnn_in = torch.cat((context, emb.unsqueeze(1)), dim=-1)     # [B, 1, H + E]
            out, hidden = self.rnn(rnn_in.permute(1, 0, 2), hidden)
            outs.append(out)
            self.step_weights.append(self.attention.last_weights)
        logits = self.dense(torch.cat(outs, dim=0))           # [T, B, V]
        return logits.permute(1, 0, 2), (memory, hidden, valid_lens)


class Translator(nn.Module):
    """Reproduces d2l's EncoderDecoder: .encoder and .decoder, forward(src, dec_in, src_valid)
    returns the decoder's (logits [B, T, V], state)."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src, dec_in, *extra):
        encoded = self.encoder(src, *extra)
        return self.decoder(dec_in, self.decoder.start_state(encoded, *extra))


def build_net(model, src_vocab_size, tgt_vocab_size, embed, hidden, layers, dropout):
    encoder = RNNEncoder(src_vocab_size, embed, hidden, layers, dropout)
    if model == 'attn':
        decoder = AttentionDecoder(tgt_vocab_size, embed, hidden, layers, dropout)
    elif model == 'plain':
        decoder = PlainDecoder(tgt_vocab_size, embed, hidden, layers, dropout)
    else:
        raise ValueError(f'unknown model {model!r} (attn or plain)')
    return Translator(encoder, decoder)


# ------------------------------ training ------------------------------
class MaskedCrossEntropy(nn.Module):
    """Reproduces d2l's MaskedSoftmaxCELoss: per-token cross-entropy of logits [B, T, V]
    against labels [B, T], zero from position valid_len on, then the mean over all T steps
    (not over the valid ones). Returns one value per sequence [B]."""

    def forward(self, logits, labels, valid_len):
        positions = torch.arange(labels.shape[1], device=labels.device)
        inside = (positions[None, :] < valid_len[:, None]).to(labels.dtype)
        per_token = F.cross_entropy(logits.permute(0, 2, 1), labels, reduction='none')
        return (per_token * inside).mean(dim=1)


def xavier_init(net):
    """d2l's initialisation before training: xavier_uniform_ on every nn.Linear weight and on
    every GRU weight matrix (biases keep PyTorch's defaults), in module order. LSTM weight
    matrices (tools/families_ref.py) are treated as the GRU's."""
    for m in net.modules():
        if type(m) is nn.Linear:
            nn.init.xavier_uniform_(m.weight)
        elif type(m) in (nn.GRU, nn.LSTM):
            for name, p in m.named_parameters(recurse=False):
                if 'weight' in name:
                    nn.init.xavier_uniform_(p)


def clip_gradients(net, theta):
    """Rescale all gradients together by theta / norm when their total L2 norm exceeds theta."""
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    norm = torch.sqrt(sum(torch.sum(g ** 2) for g in grads))
    if norm > theta:
        factor = theta / norm
        for g in grads:
            g *= factor


def train(net, loader, lr, num_epochs, tgt_vocab, device, max_batches=0):
    """Reproduces d2l's train_seq2seq: xavier init, Adam, masked cross-entropy, teacher forcing
    ('<bos>' + target without its last token), clipping at norm 1. Prints every epoch's loss
    per token, then the last epoch's loss and tokens/sec; returns those two. max_batches > 0
    (timing only, not d2l's): each epoch stops after that many batches; train.trained_tokens
    then counts the target tokens actually trained on."""
    xavier_init(net)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    criterion = MaskedCrossEntropy()
    bos = tgt_vocab['<bos>']
    net.train()
    train.trained_tokens = 0.0
    for epoch in range(num_epochs):
        started = time.time()
        loss_sum, n_tokens = 0.0, 0.0
        for k, batch in enumerate(loader):
            if max_batches and k == max_batches:
                break
            optimizer.zero_grad()
            src, src_valid, tgt, tgt_valid = (t.to(device) for t in batch)
            starts = torch.full((tgt.shape[0], 1), bos, dtype=tgt.dtype, device=device)
            dec_in = torch.cat([starts, tgt[:, :-1]], 1)
            logits, _ = net(src, dec_in, src_valid)
            losses = criterion(logits, tgt, tgt_valid)
            losses.sum().backward()
            clip_gradients(net, 1)
            optimizer.step()
            with torch.no_grad():
                loss_sum += float(losses.sum())
                n_tokens += float(tgt_valid.sum())
        train.trained_tokens += n_tokens
        print(f'epoch {epoch + 1} loss {loss_sum / n_tokens:.6f}', flush=True)
    elapsed = time.time() - started
    print(f'loss {loss_sum / n_tokens:.3f}, {n_tokens / elapsed:.1f} tokens/sec on {device}')
    return loss_sum / n_tokens, n_tokens / elapsed


def greedy_decode(net, sentence, src_vocab, tgt_vocab, num_steps, device):
    """Reproduces d2l's predict_seq2seq (greedy): the source is the lower-cased sentence cut at
    single spaces plus '<eos>', fitted to num_steps (its valid length is counted before the
    cut); decoding starts from '<bos>' and stops at '<eos>' or after num_steps tokens."""
    net.eval()
    ids = src_vocab[sentence.lower().split(' ')] + [src_vocab['<eos>']]
    return ' '.join(tgt_vocab.to_tokens(greedy_ids(net, ids, src_vocab, tgt_vocab, num_steps, device)))


def greedy_ids(net, ids, src_vocab, tgt_vocab, num_steps, device):
    """predict_seq2seq's loop on source ids (with <eos>): the output ids, without <eos>."""
    valid = torch.tensor([len(ids)], device=device)
    src = torch.tensor([fit_length(ids, num_steps, src_vocab['<pad>'])], dtype=torch.long,
                       device=device)
    state = net.decoder.start_state(net.encoder(src, valid), valid)
    prev = torch.tensor([[tgt_vocab['<bos>']]], dtype=torch.long, device=device)
    eos = tgt_vocab['<eos>']
    result = []
    for _ in range(num_steps):
        logits, state = net.decoder(prev, state)
        prev = logits.argmax(dim=2)
        token = int(prev.item())
        if token == eos:
            break
        result.append(token)
    return result


# ------------------------------ safetensors ------------------------------
_DTYPES = {torch.float32: ('F32', '<f4'), torch.int32: ('I32', '<i4'),
           torch.int64: ('I64', '<i8')}
_FROM_NAME = {'F32': torch.float32, 'I32': torch.int32, 'I64': torch.int64}


def st_write(path, tensors, metadata):
    """Write an ordered {name: tensor} dict and a {str: str} metadata dict as safetensors.

    Header: u64 little-endian length, then JSON with "__metadata__" first and the tensors in
    the given order with contiguous data_offsets, padded with spaces to a multiple of 8. Data:
    raw little-endian bytes (F32 / I32 / I64). Written to a temporary file, then renamed."""
    header = {'__metadata__': {str(k): str(v) for k, v in metadata.items()}}
    blobs, off = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in _DTYPES:
            raise TypeError(f'{name}: unsupported dtype {t.dtype}')
        b = t.numpy().astype(_DTYPES[t.dtype][1], copy=False).tobytes()
        header[name] = {'dtype': _DTYPES[t.dtype][0], 'shape': list(t.shape),
                        'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return 8 + len(h) + off


def st_read(path):
    """Return (ordered {name: tensor}, metadata dict)."""
    import numpy as np
    with open(path, 'rb') as f:
        buf = f.read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        a, b = info['data_offsets']
        dt = _FROM_NAME[info['dtype']]
        np_dt = _DTYPES[dt][1]
        arr = np.frombuffer(buf[base + a:base + b], dtype=np_dt).reshape(info['shape'])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def save_model(path, net, model, src_vocab, tgt_vocab, embed, hidden, layers, dropout,
               num_steps, extra=()):
    """Write net.state_dict() and the model's metadata. extra: (key, value) pairs added to the
    metadata after d2l's keys (tools/families_ref.py's format 2 keys); a key already there
    (format_version) keeps its place and takes the new value."""
    meta = collections.OrderedDict([
        ('format', 'seq2seq'), ('format_version', '1'), ('model', model),
        ('embed', str(embed)), ('hidden', str(hidden)), ('layers', str(layers)),
        ('dropout', str(dropout)), ('num_steps', str(num_steps)),
        ('src_vocab', json.dumps(src_vocab.tokens, ensure_ascii=False)),
        ('tgt_vocab', json.dumps(tgt_vocab.tokens, ensure_ascii=False)),
        ('preprocess', 'd2l-nmt')])
    meta.update((k, str(v)) for k, v in extra)
    return st_write(path, net.state_dict(), meta)


# A format_version 2 file (model families, tools/families_ref.py) holds d2l's model when its
# family keys have these values (model attn or plain).
D2L_FAMILY = {'cell': 'gru', 'encoder': 'uni', 'input_feed': '0', 'tie_embeddings': '0'}


def net_from_meta(meta, src_vocab_size, tgt_vocab_size):
    """The untrained model a file's metadata describes: format 1, or format 2 with d2l's
    family (anything else is refused: tools/families_ref.py reads every family)."""
    if meta['format_version'] != '1' and (
            any(meta.get(k) != v for k, v in D2L_FAMILY.items())
            or meta.get('attention') not in ('bahdanau', 'none')):
        raise ValueError('not one of d2l\'s two models (' + ', '.join(
            f'{k}={meta.get(k)}' for k in list(D2L_FAMILY) + ['attention'])
            + '): use tools/families_ref.py')
    return build_net(meta['model'], src_vocab_size, tgt_vocab_size, int(meta['embed']),
                     int(meta['hidden']), int(meta['layers']), float(meta['dropout']))


def load_model(path, make_net=net_from_meta):
    """Read a model file (format_version 1, 2, or 3: a SentencePiece tokenizer beside, which
    translate reads), build its model with make_net(meta, Vs, Vt)
    and load the file's tensors with load_state_dict(strict=True).
    Returns (net in eval mode, src vocab, tgt vocab, num_steps, metadata)."""
    tensors, meta = st_read(path)
    if meta.get('format') != 'seq2seq' or meta.get('format_version') not in ('1', '2', '3'):
        raise ValueError(f'{path}: not a seq2seq model file of format_version 1 to 3')
    src_vocab = Vocab.from_tokens(json.loads(meta['src_vocab']))
    tgt_vocab = Vocab.from_tokens(json.loads(meta['tgt_vocab']))
    net = make_net(meta, len(src_vocab), len(tgt_vocab))
    net.load_state_dict(tensors, strict=True)
    net.eval()
    return net, src_vocab, tgt_vocab, int(meta['num_steps']), meta


def translate(net, sentence, src_vocab, tgt_vocab, num_steps, meta=None):
    """normalize (d2l's preprocess_nmt), then greedy decoding (d2l's predict_seq2seq); for a
    SentencePiece model (meta['tokenizer'] == 'spm'), the raw sentence through the source
    model's pieces (looked up by name in the vocabulary), and the output pieces detokenized."""
    with torch.no_grad():
        if meta is None or meta.get('tokenizer', 'd2l') == 'd2l':
            return greedy_decode(net, normalize(sentence), src_vocab, tgt_vocab, num_steps,
                                 torch.device('cpu'))
        import base64
        import sentencepiece
        sp = [sentencepiece.SentencePieceProcessor(model_proto=base64.b64decode(meta[k]))
              for k in ('spm.src', 'spm.tgt')]
        pieces = sp[0].encode(sentence, out_type=str)
        if not pieces:  # no token at all: nothing to translate (as seq2seq)
            return ''
        ids = src_vocab[pieces] + [src_vocab['<eos>']]
        out = greedy_ids(net, ids, src_vocab, tgt_vocab, num_steps, torch.device('cpu'))
        out = [p for p in tgt_vocab.to_tokens(out) if p not in ('<pad>', '<bos>', '<eos>')]
        return sp[1].decode([sp[1].piece_to_id(p) for p in out])


# ------------------------------ command line ------------------------------
# The sub-commands read their model-specific steps from the parsed arguments (parser defaults
# set in make_parser): a.make_net(a, Vs, Vt) builds the model to train, a.extra_meta(a) gives
# the metadata keys saved beside d2l's, a.load(path) reads a model file. tools/families_ref.py
# sets its own and reuses the rest.

def net_from_args(a, src_vocab_size, tgt_vocab_size):
    return build_net(a.model, src_vocab_size, tgt_vocab_size, a.embed, a.hidden, a.layers,
                     a.dropout)


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.time()
    train_iter, src_vocab, tgt_vocab = load_pairs(a.data, a.batch, a.steps,
                                                  last_line=a.pairs - 1)
    print(f'pairs {len(train_iter.dataset)}, src vocab {len(src_vocab)}, '
          f'tgt vocab {len(tgt_vocab)}, threads {torch.get_num_threads()}', flush=True)
    net = a.make_net(a, len(src_vocab), len(tgt_vocab))
    t1 = time.time()
    train(net, train_iter, a.lr, a.epochs, tgt_vocab, torch.device('cpu'), a.max_batches)
    t2 = time.time()
    size = save_model(a.out, net, a.model, src_vocab, tgt_vocab, a.embed, a.hidden, a.layers,
                      a.dropout, a.steps, a.extra_meta(a))
    print(f'wall time {t2 - t1:.2f} s training ({a.epochs} epochs, {train.trained_tokens:.0f} target tokens), '
          f'{time.time() - t0:.2f} s total')
    print(f'wrote {a.out} ({size} bytes)')


def cmd_translate(a):
    torch.set_num_threads(a.threads)
    net, sv, tv, num_steps, meta = a.load(a.model)
    for s in a.sentence:
        print(f'{s} => {translate(net, s, sv, tv, num_steps, meta)}')


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    net, sv, tv, num_steps, _ = a.load(a.model)
    source, _ = split_pairs(normalize(read_text(a.data)))
    if not source:
        sys.exit(f'{a.data}: no sentence pairs')
    sents = [' '.join(source[(a.start + i) % len(source)]) for i in range(a.count)]
    translate(net, sents[0], sv, tv, num_steps)  # warm-up
    t0 = time.time()
    for s in sents:
        translate(net, s, sv, tv, num_steps)
    dt = time.time() - t0
    print(f'{a.count} sentences in {dt:.3f} s: {a.count / dt:.1f} sentences/sec '
          f'(threads {torch.get_num_threads()})')


def make_parser(description):
    """The command line parser; returns (parser, its sub-parsers action: .choices maps each
    sub-command to its parser, .add_parser adds one)."""
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train')
    t.add_argument('--data', required=True)
    t.add_argument('--model', choices=['attn', 'plain'], default='attn')
    t.add_argument('--pairs', type=int, default=601,
                   help='look at lines 0..N-1 (d2l num_examples = N-1)')
    t.add_argument('--embed', type=int, default=32)
    t.add_argument('--hidden', type=int, default=32)
    t.add_argument('--layers', type=int, default=2)
    t.add_argument('--dropout', type=float, default=0.1)
    t.add_argument('--batch', type=int, default=64)
    t.add_argument('--steps', type=int, default=10)
    t.add_argument('--lr', type=float, default=0.005)
    t.add_argument('--epochs', type=int, default=250)
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--threads', type=int, default=1)
    t.add_argument('--out', required=True)
    t.add_argument('--max-batches', type=int, default=0,
                   help='timing only: stop each epoch after N batches (0: the whole epoch, d2l)')
    t.set_defaults(func=cmd_train, make_net=net_from_args, extra_meta=lambda a: ())
    r = sub.add_parser('translate')
    r.add_argument('--model', required=True)
    r.add_argument('--threads', type=int, default=1)
    r.add_argument('sentence', nargs='+')
    r.set_defaults(func=cmd_translate, load=load_model)
    b = sub.add_parser('bench-translate')
    b.add_argument('--model', required=True)
    b.add_argument('--data', required=True)
    b.add_argument('--from', dest='start', type=int, default=0)
    b.add_argument('--count', type=int, default=100)
    b.add_argument('--threads', type=int, default=1)
    b.set_defaults(func=cmd_bench, load=load_model)
    return p, sub


def parse_args(p, argv):
    """Parse and check the arguments common to every model."""
    a = p.parse_args(argv)
    if getattr(a, 'pairs', 2) < 2:
        p.error('--pairs must be >= 2 (d2l treats num_examples=0 as "all lines")')
    return a


def main(argv=None):
    p, _ = make_parser(__doc__.split('\n')[0])
    a = parse_args(p, argv)
    a.func(a)


if __name__ == '__main__':
    main()
