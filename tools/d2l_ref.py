#!/usr/bin/python3
"""PyTorch reference for the seq2seq project: d2l.ai's classic seq2seq / Bahdanau code.

Everything between the "BEGIN d2l" and "END d2l" markers is copied from Dive into Deep
Learning (https://d2l.ai), repository d2l-ai/d2l-en, file d2l/torch.py and the chapters
chapter_recurrent-modern/seq2seq.md and chapter_attention-mechanisms/bahdanau-attention.md
(classic, pre-2022 API). d2l's sample code is released by Amazon.com, Inc. or its affiliates
under the modified MIT licence in d2l-en's LICENSE-SAMPLECODE (MIT-0, no attribution
required; we credit it anyway). Copyright 2019 Amazon.com, Inc. or its affiliates.

Minimal edits to d2l's code, and nothing else:
  * read_data_nmt / load_data_nmt take the path of the pairs file instead of downloading it
    (files are read as UTF-8);
  * train_seq2seq: the nested xavier_init_weights is lifted to module level (same body) so that
    the fixture generator can call it; the matplotlib Animator is replaced by a print of every
    epoch's loss; optimizer.zero_grad() at the start of each batch as in d2l's final classic
    release (older copies forgot it); it returns the final (loss, tokens/sec);
  * the d2l.xxx aliases (tensor, concat, reduce_sum, astype, int32) are defined at the bottom
    as d2l defines them; Timer and Accumulator are copied as-is.

Our own additions (after "END d2l"): a tiny safetensors reader/writer (json + struct), model
save/load, Seq2SeqDecoderFixedContext (see below), and the command line:

  train     --data FILE --model attn|plain [--pairs 601] [--embed 32] [--hidden 32]
            [--layers 2] [--dropout 0.1] [--batch 64] [--steps 10] [--lr 0.005]
            [--epochs 250] [--seed 0] [--threads 1] --out MODEL.safetensors
  translate --model MODEL.safetensors SENTENCE...
  bench-translate --model M --data FILE [--from 0] [--count 100] [--threads 1]

--pairs N looks at lines 0..N-1 of the file, i.e. d2l's num_examples = N-1 (d2l's default
600 is --pairs 601). Lines that are not exactly `English<TAB>French` are skipped but counted,
as tokenize_nmt does.

The plain (no attention) model: d2l's Seq2SeqDecoder takes its context from state[-1], which
during greedy prediction is the *decoder's* evolving hidden state, so the context drifts away
from the encoder's summary after the first step. We keep context = enc_state[-1] (the encoder's
last-layer final state) fixed for every step instead. Seq2SeqDecoderFixedContext does this; it
has exactly the same modules/parameters/state_dict as d2l's Seq2SeqDecoder, and under teacher
forcing (training, one call over the whole sequence) it computes exactly the same thing,
because there state[-1] *is* the encoder's state. Only step-by-step decoding differs.

translate runs d2l's preprocess_nmt on each sentence first (a no-op for already spaced input
such as "go ."), then d2l's predict_seq2seq (greedy, num_steps from the model file).
"""

import argparse
import json
import os
import struct
import sys
import time

# ============================== BEGIN d2l ==============================
import collections
import math
import torch
from torch import nn
from torch.utils import data

d2l = sys.modules[__name__]


class Timer:
    """Record multiple running times."""
    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer and record the time in a list."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of time."""
        return sum(self.times)


def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator."""
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)


class Accumulator:
    """For accumulating sums over `n` variables."""
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Vocab:
    """Vocabulary for text."""
    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        if tokens is None:
            tokens = []
        if reserved_tokens is None:
            reserved_tokens = []
        # Sort according to frequencies
        counter = count_corpus(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[1],
                                  reverse=True)
        # The index for the unknown token is 0
        self.unk, uniq_tokens = 0, ['<unk>'] + reserved_tokens
        uniq_tokens += [token for token, freq in self.token_freqs
                        if freq >= min_freq and token not in uniq_tokens]
        self.idx_to_token, self.token_to_idx = [], dict()
        for token in uniq_tokens:
            self.idx_to_token.append(token)
            self.token_to_idx[token] = len(self.idx_to_token) - 1

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        if not isinstance(indices, (list, tuple)):
            return self.idx_to_token[indices]
        return [self.idx_to_token[index] for index in indices]


def count_corpus(tokens):
    """Count token frequencies."""
    # Here `tokens` is a 1D list or 2D list
    if len(tokens) == 0 or isinstance(tokens[0], list):
        # Flatten a list of token lists into a list of tokens
        tokens = [token for line in tokens for token in line]
    return collections.Counter(tokens)


def grad_clipping(net, theta):
    """Clip the gradient."""
    if isinstance(net, nn.Module):
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        params = net.params
    norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm


def read_data_nmt(data_file):
    """Load the English-French dataset."""
    # (edit: read the given file instead of downloading fra-eng.zip)
    with open(data_file, 'r', encoding='utf-8') as f:
        return f.read()


def preprocess_nmt(text):
    """Preprocess the English-French dataset."""
    def no_space(char, prev_char):
        return char in set(',.!?') and prev_char != ' '

    # Replace non-breaking space with space, and convert uppercase letters to
    # lowercase ones
    text = text.replace('\u202f', ' ').replace('\xa0', ' ').lower()
    # Insert space between words and punctuation marks
    out = [' ' + char if i > 0 and no_space(char, text[i - 1]) else char
           for i, char in enumerate(text)]
    return ''.join(out)


def tokenize_nmt(text, num_examples=None):
    """Tokenize the English-French dataset."""
    source, target = [], []
    for i, line in enumerate(text.split('\n')):
        if num_examples and i > num_examples:
            break
        parts = line.split('\t')
        if len(parts) == 2:
            source.append(parts[0].split(' '))
            target.append(parts[1].split(' '))
    return source, target


def truncate_pad(line, num_steps, padding_token):
    """Truncate or pad sequences."""
    if len(line) > num_steps:
        return line[:num_steps]  # Truncate
    return line + [padding_token] * (num_steps - len(line))  # Pad


def build_array_nmt(lines, vocab, num_steps):
    """Transform text sequences of machine translation into minibatches."""
    lines = [vocab[l] for l in lines]
    lines = [l + [vocab['<eos>']] for l in lines]
    array = d2l.tensor([truncate_pad(
        l, num_steps, vocab['<pad>']) for l in lines])
    valid_len = d2l.reduce_sum(
        d2l.astype(array != vocab['<pad>'], d2l.int32), 1)
    return array, valid_len


def load_data_nmt(batch_size, num_steps, num_examples=600, data_file=None):
    """Return the iterator and the vocabularies of the translation dataset."""
    text = preprocess_nmt(read_data_nmt(data_file))
    source, target = tokenize_nmt(text, num_examples)
    src_vocab = d2l.Vocab(source, min_freq=2,
                          reserved_tokens=['<pad>', '<bos>', '<eos>'])
    tgt_vocab = d2l.Vocab(target, min_freq=2,
                          reserved_tokens=['<pad>', '<bos>', '<eos>'])
    src_array, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
    tgt_array, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
    data_arrays = (src_array, src_valid_len, tgt_array, tgt_valid_len)
    data_iter = d2l.load_array(data_arrays, batch_size)
    return data_iter, src_vocab, tgt_vocab


class Encoder(nn.Module):
    """The base encoder interface for the encoder-decoder architecture."""
    def __init__(self, **kwargs):
        super(Encoder, self).__init__(**kwargs)

    def forward(self, X, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    """The base decoder interface for the encoder-decoder architecture."""
    def __init__(self, **kwargs):
        super(Decoder, self).__init__(**kwargs)

    def init_state(self, enc_outputs, *args):
        raise NotImplementedError

    def forward(self, X, state):
        raise NotImplementedError


class EncoderDecoder(nn.Module):
    """The base class for the encoder-decoder architecture."""
    def __init__(self, encoder, decoder, **kwargs):
        super(EncoderDecoder, self).__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args):
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


class Seq2SeqEncoder(d2l.Encoder):
    """The RNN encoder for sequence to sequence learning."""
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers,
                 dropout=0, **kwargs):
        super(Seq2SeqEncoder, self).__init__(**kwargs)
        # Embedding layer
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers,
                          dropout=dropout)

    def forward(self, X, *args):
        # The output `X` shape: (`batch_size`, `num_steps`, `embed_size`)
        X = self.embedding(X)
        # In RNN models, the first axis corresponds to time steps
        X = X.permute(1, 0, 2)
        # When state is not mentioned, it defaults to zeros
        output, state = self.rnn(X)
        # `output` shape: (`num_steps`, `batch_size`, `num_hiddens`)
        # `state` shape: (`num_layers`, `batch_size`, `num_hiddens`)
        return output, state


class Seq2SeqDecoder(d2l.Decoder):
    """The RNN decoder for sequence to sequence learning."""
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers,
                 dropout=0, **kwargs):
        super(Seq2SeqDecoder, self).__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers,
                          dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, *args):
        return enc_outputs[1]

    def forward(self, X, state):
        # The output `X` shape: (`num_steps`, `batch_size`, `embed_size`)
        X = self.embedding(X).permute(1, 0, 2)
        # Broadcast `context` so it has the same `num_steps` as `X`
        context = state[-1].repeat(X.shape[0], 1, 1)
        X_and_context = torch.cat((X, context), 2)
        output, state = self.rnn(X_and_context, state)
        output = self.dense(output).permute(1, 0, 2)
        # `output` shape: (`batch_size`, `num_steps`, `vocab_size`)
        # `state` shape: (`num_layers`, `batch_size`, `num_hiddens`)
        return output, state


def sequence_mask(X, valid_len, value=0):
    """Mask irrelevant entries in sequences."""
    maxlen = X.size(1)
    mask = torch.arange((maxlen), dtype=torch.float32,
                        device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    """The softmax cross-entropy loss with masks."""
    # `pred` shape: (`batch_size`, `num_steps`, `vocab_size`)
    # `label` shape: (`batch_size`, `num_steps`)
    # `valid_len` shape: (`batch_size`,)
    def forward(self, pred, label, valid_len):
        weights = torch.ones_like(label)
        weights = sequence_mask(weights, valid_len)
        self.reduction='none'
        unweighted_loss = super(MaskedSoftmaxCELoss, self).forward(
            pred.permute(0, 2, 1), label)
        weighted_loss = (unweighted_loss * weights).mean(dim=1)
        return weighted_loss


def xavier_init_weights(m):
    # (edit: lifted out of train_seq2seq, body unchanged)
    if type(m) == nn.Linear:
        torch.nn.init.xavier_uniform_(m.weight)
    if type(m) == nn.GRU:
        for param in m._flat_weights_names:
            if "weight" in param:
                torch.nn.init.xavier_uniform_(m._parameters[param])


def train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device):
    """Train a model for sequence to sequence."""
    net.apply(xavier_init_weights)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss = MaskedSoftmaxCELoss()
    net.train()
    for epoch in range(num_epochs):
        timer = d2l.Timer()
        metric = d2l.Accumulator(2)  # Sum of training loss, no. of tokens
        for batch in data_iter:
            optimizer.zero_grad()
            X, X_valid_len, Y, Y_valid_len = [x.to(device) for x in batch]
            bos = torch.tensor([tgt_vocab['<bos>']] * Y.shape[0],
                               device=device).reshape(-1, 1)
            dec_input = d2l.concat([bos, Y[:, :-1]], 1)  # Teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)
            l.sum().backward()  # Make the loss scalar for `backward`
            d2l.grad_clipping(net, 1)
            num_tokens = Y_valid_len.sum()
            optimizer.step()
            with torch.no_grad():
                metric.add(l.sum(), num_tokens)
        # (edit: print instead of the matplotlib animator)
        print(f'epoch {epoch + 1} loss {metric[0] / metric[1]:.6f}', flush=True)
    print(f'loss {metric[0] / metric[1]:.3f}, {metric[1] / timer.stop():.1f} '
          f'tokens/sec on {str(device)}')
    return metric[0] / metric[1], metric[1] / timer.times[-1]


def predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps,
                    device, save_attention_weights=False):
    """Predict for sequence to sequence."""
    # Set `net` to eval mode for inference
    net.eval()
    src_tokens = src_vocab[src_sentence.lower().split(' ')] + [
        src_vocab['<eos>']]
    enc_valid_len = torch.tensor([len(src_tokens)], device=device)
    src_tokens = d2l.truncate_pad(src_tokens, num_steps, src_vocab['<pad>'])
    # Add the batch axis
    enc_X = torch.unsqueeze(
        torch.tensor(src_tokens, dtype=torch.long, device=device), dim=0)
    enc_outputs = net.encoder(enc_X, enc_valid_len)
    dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
    # Add the batch axis
    dec_X = torch.unsqueeze(torch.tensor(
        [tgt_vocab['<bos>']], dtype=torch.long, device=device), dim=0)
    output_seq, attention_weight_seq = [], []
    for _ in range(num_steps):
        Y, dec_state = net.decoder(dec_X, dec_state)
        # We use the token with the highest prediction likelihood as the input
        # of the decoder at the next time step
        dec_X = Y.argmax(dim=2)
        pred = dec_X.squeeze(dim=0).type(torch.int32).item()
        # Save attention weights (to be covered later)
        if save_attention_weights:
            attention_weight_seq.append(net.decoder.attention_weights)
        # Once the end-of-sequence token is predicted, the generation of the
        # output sequence is complete
        if pred == tgt_vocab['<eos>']:
            break
        output_seq.append(pred)
    return ' '.join(tgt_vocab.to_tokens(output_seq)), attention_weight_seq


def masked_softmax(X, valid_lens):
    """Perform softmax operation by masking elements on the last axis."""
    # `X`: 3D tensor, `valid_lens`: 1D or 2D tensor
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    else:
        shape = X.shape
        if valid_lens.dim() == 1:
            valid_lens = torch.repeat_interleave(valid_lens, shape[1])
        else:
            valid_lens = valid_lens.reshape(-1)
        # On the last axis, replace masked elements with a very large negative
        # value, whose exponentiation outputs 0
        X = d2l.sequence_mask(X.reshape(-1, shape[-1]), valid_lens,
                              value=-1e6)
        return nn.functional.softmax(X.reshape(shape), dim=-1)


class AdditiveAttention(nn.Module):
    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super(AdditiveAttention, self).__init__(**kwargs)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys = self.W_q(queries), self.W_k(keys)
        # After dimension expansion, shape of `queries`: (`batch_size`, no. of
        # queries, 1, `num_hiddens`) and shape of `keys`: (`batch_size`, 1,
        # no. of key-value pairs, `num_hiddens`). Sum them up with
        # broadcasting
        features = queries.unsqueeze(2) + keys.unsqueeze(1)
        features = torch.tanh(features)
        # There is only one output of `self.w_v`, so we remove the last
        # one-dimensional entry from the shape. Shape of `scores`:
        # (`batch_size`, no. of queries, no. of key-value pairs)
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        # Shape of `values`: (`batch_size`, no. of key-value pairs, value
        # dimension)
        return torch.bmm(self.dropout(self.attention_weights), values)


class AttentionDecoder(d2l.Decoder):
    """The base attention-based decoder interface."""
    def __init__(self, **kwargs):
        super(AttentionDecoder, self).__init__(**kwargs)

    def init_state(self, enc_outputs, *args):
        raise NotImplementedError

    def forward(self, X, state):
        raise NotImplementedError

    @property
    def attention_weights(self):
        raise NotImplementedError


class Seq2SeqAttentionDecoder(AttentionDecoder):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers,
                 dropout=0, **kwargs):
        super(Seq2SeqAttentionDecoder, self).__init__(**kwargs)
        self.attention = d2l.AdditiveAttention(
            num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(
            embed_size + num_hiddens, num_hiddens, num_layers,
            dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        # Shape of `outputs`: (`num_steps`, `batch_size`, `num_hiddens`).
        # Shape of `hidden_state[0]`: (`num_layers`, `batch_size`,
        # `num_hiddens`)
        outputs, hidden_state = enc_outputs
        return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

    def forward(self, X, state):
        # Shape of `enc_outputs`: (`batch_size`, `num_steps`, `num_hiddens`).
        # Shape of `hidden_state[0]`: (`num_layers`, `batch_size`,
        # `num_hiddens`)
        enc_outputs, hidden_state, enc_valid_lens = state
        # Shape of the output `X`: (`num_steps`, `batch_size`, `embed_size`)
        X = self.embedding(X).permute(1, 0, 2)
        outputs, self._attention_weights = [], []
        for x in X:
            # Shape of `query`: (`batch_size`, 1, `num_hiddens`)
            query = torch.unsqueeze(hidden_state[-1], dim=1)
            # Shape of `context`: (`batch_size`, 1, `num_hiddens`)
            context = self.attention(
                query, enc_outputs, enc_outputs, enc_valid_lens)
            # Concatenate on the feature dimension
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            # Reshape `x` as (1, `batch_size`, `embed_size` + `num_hiddens`)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        # After fully-connected layer transformation, shape of `outputs`:
        # (`num_steps`, `batch_size`, `vocab_size`)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state,
                                          enc_valid_lens]

    @property
    def attention_weights(self):
        return self._attention_weights


# d2l's framework aliases (d2l/torch.py, end of file)
tensor = torch.tensor
concat = torch.cat
int32 = torch.int32
reduce_sum = lambda x, *args, **kwargs: x.sum(*args, **kwargs)
astype = lambda x, *args, **kwargs: x.type(*args, **kwargs)
# =============================== END d2l ===============================


class Seq2SeqDecoderFixedContext(Seq2SeqDecoder):
    """d2l's Seq2SeqDecoder with the context pinned to the encoder's final last-layer state.

    Same modules and state_dict as Seq2SeqDecoder. The state is (hidden, context) with context
    = enc_state[-1] fixed at init_state. Under teacher forcing (one call over the whole target)
    this is exactly d2l's computation; during greedy decoding it avoids d2l's drifting context.
    """
    def init_state(self, enc_outputs, *args):
        return (enc_outputs[1], enc_outputs[1][-1])

    def forward(self, X, state):
        hidden, context0 = state
        X = self.embedding(X).permute(1, 0, 2)
        context = context0.repeat(X.shape[0], 1, 1)
        X_and_context = torch.cat((X, context), 2)
        output, hidden = self.rnn(X_and_context, hidden)
        output = self.dense(output).permute(1, 0, 2)
        return output, (hidden, context0)


def build_net(model, src_vocab_size, tgt_vocab_size, embed, hidden, layers, dropout):
    encoder = Seq2SeqEncoder(src_vocab_size, embed, hidden, layers, dropout)
    if model == 'attn':
        decoder = Seq2SeqAttentionDecoder(tgt_vocab_size, embed, hidden, layers, dropout)
    elif model == 'plain':
        decoder = Seq2SeqDecoderFixedContext(tgt_vocab_size, embed, hidden, layers, dropout)
    else:
        raise ValueError(f'unknown model {model!r} (attn or plain)')
    return EncoderDecoder(encoder, decoder)


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


def vocab_from_list(tokens):
    v = Vocab()
    v.idx_to_token = list(tokens)
    v.token_to_idx = {t: i for i, t in enumerate(v.idx_to_token)}
    return v


def save_model(path, net, model, src_vocab, tgt_vocab, embed, hidden, layers, dropout,
               num_steps):
    meta = collections.OrderedDict([
        ('format', 'seq2seq'), ('format_version', '1'), ('model', model),
        ('embed', str(embed)), ('hidden', str(hidden)), ('layers', str(layers)),
        ('dropout', str(dropout)), ('num_steps', str(num_steps)),
        ('src_vocab', json.dumps(src_vocab.idx_to_token, ensure_ascii=False)),
        ('tgt_vocab', json.dumps(tgt_vocab.idx_to_token, ensure_ascii=False)),
        ('preprocess', 'd2l-nmt')])
    return st_write(path, net.state_dict(), meta)


def load_model(path):
    tensors, meta = st_read(path)
    if meta.get('format') != 'seq2seq' or meta.get('format_version') != '1':
        raise ValueError(f'{path}: not a seq2seq format_version 1 model file')
    src_vocab = vocab_from_list(json.loads(meta['src_vocab']))
    tgt_vocab = vocab_from_list(json.loads(meta['tgt_vocab']))
    net = build_net(meta['model'], len(src_vocab), len(tgt_vocab), int(meta['embed']),
                    int(meta['hidden']), int(meta['layers']), float(meta['dropout']))
    net.load_state_dict(tensors, strict=True)
    net.eval()
    return net, src_vocab, tgt_vocab, int(meta['num_steps']), meta


def translate(net, sentence, src_vocab, tgt_vocab, num_steps):
    """preprocess_nmt, then d2l's greedy predict_seq2seq."""
    with torch.no_grad():
        out, _ = predict_seq2seq(net, preprocess_nmt(sentence), src_vocab, tgt_vocab,
                                 num_steps, torch.device('cpu'))
    return out


# ------------------------------ command line ------------------------------
def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.time()
    train_iter, src_vocab, tgt_vocab = load_data_nmt(
        a.batch, a.steps, num_examples=a.pairs - 1, data_file=a.data)
    print(f'pairs {len(train_iter.dataset)}, src vocab {len(src_vocab)}, '
          f'tgt vocab {len(tgt_vocab)}, threads {torch.get_num_threads()}', flush=True)
    net = build_net(a.model, len(src_vocab), len(tgt_vocab), a.embed, a.hidden, a.layers,
                    a.dropout)
    t1 = time.time()
    train_seq2seq(net, train_iter, a.lr, a.epochs, tgt_vocab, torch.device('cpu'))
    t2 = time.time()
    size = save_model(a.out, net, a.model, src_vocab, tgt_vocab, a.embed, a.hidden, a.layers,
                      a.dropout, a.steps)
    print(f'wall time {t2 - t1:.2f} s training ({a.epochs} epochs), '
          f'{time.time() - t0:.2f} s total')
    print(f'wrote {a.out} ({size} bytes)')


def cmd_translate(a):
    torch.set_num_threads(a.threads)
    net, sv, tv, num_steps, _ = load_model(a.model)
    for s in a.sentence:
        print(f'{s} => {translate(net, s, sv, tv, num_steps)}')


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    net, sv, tv, num_steps, _ = load_model(a.model)
    text = preprocess_nmt(read_data_nmt(a.data))
    source, _ = tokenize_nmt(text)
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
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
    t.set_defaults(func=cmd_train)
    r = sub.add_parser('translate')
    r.add_argument('--model', required=True)
    r.add_argument('--threads', type=int, default=1)
    r.add_argument('sentence', nargs='+')
    r.set_defaults(func=cmd_translate)
    b = sub.add_parser('bench-translate')
    b.add_argument('--model', required=True)
    b.add_argument('--data', required=True)
    b.add_argument('--from', dest='start', type=int, default=0)
    b.add_argument('--count', type=int, default=100)
    b.add_argument('--threads', type=int, default=1)
    b.set_defaults(func=cmd_bench)
    a = p.parse_args(argv)
    if getattr(a, 'pairs', 2) < 2:
        p.error('--pairs must be >= 2 (d2l treats num_examples=0 as "all lines")')
    a.func(a)


if __name__ == '__main__':
    main()
