#!/usr/bin/env python3
"""Writes the expected values under tests/fixtures/ that tests/test_text.c compares against.

preprocess_nmt, tokenize_nmt, truncate_pad, build_array_nmt, Vocab and count_corpus are copied
from d2l's d2l/torch.py (d2l-ai/d2l-en, branch classic; Dive into Deep Learning, Zhang, Lipton,
Li and Smola, Apache-2.0 / CC BY-SA 4.0). The only change is in build_array_nmt, which returns
plain lists instead of torch tensors (same values), so this script needs nothing but Python 3.

Run from the repository root:  python3 tools/text_ref.py [path/to/fra.txt]
The fra.txt outputs are written only when the corpus is there (default ../shared/data/fra-eng/fra.txt).
"""
import collections
import os
import sys


# ---- copied from d2l/torch.py (classic) ----
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
    array = [truncate_pad(
        l, num_steps, vocab['<pad>']) for l in lines]
    # d2l: valid_len = reduce_sum(astype(array != vocab['<pad>'], int32), 1)
    valid_len = [sum(1 for x in row if x != vocab['<pad>']) for row in array]
    return array, valid_len


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


def count_corpus(tokens):
    """Count token frequencies."""
    # Here `tokens` is a 1D list or 2D list
    if len(tokens) == 0 or isinstance(tokens[0], list):
        # Flatten a list of token lists into a list of tokens
        tokens = [token for line in tokens for token in line]
    return collections.Counter(tokens)
# ---- end of the d2l copy ----

RESERVED = ['<pad>', '<bos>', '<eos>']
FIX = 'tests/fixtures'


def read_data(path):
    # as d2l's read_data_nmt: text mode, so "\r\n" reads as "\n"
    with open(path, 'r', encoding='utf-8') as f:
        return f.read()


def write_lines(name, lines):
    with open(os.path.join(FIX, name), 'w', encoding='utf-8', newline='\n') as f:
        for line in lines:
            assert '\n' not in line
            f.write(line + '\n')


def write_tokens(name, source, target):
    """Per pair: 'S <count>', the source tokens one a line, 'T <count>', the target tokens."""
    out = ['# pairs %d' % len(source)]
    for s, t in zip(source, target):
        out.append('S %d' % len(s))
        out.extend(s)
        out.append('T %d' % len(t))
        out.extend(t)
    write_lines(name, out)


def write_array(name, array, valid):
    write_lines(name, ['%d %s' % (v, ' '.join(map(str, row))) for row, v in zip(array, valid)])


# Inputs for s2s_preprocess beyond the corpus: Unicode lowercasing (Python's full mapping and
# Final_Sigma), the no-space rule after tabs/newlines, non-breaking spaces.
PREPROCESS_CASES = [
    'Ça alors !', 'ÉCOLE, ÊTRE, ÀÂÔ.', 'İstanbul.', 'ΟΔΟΣ.', 'ΟΔΟΣ ΣΑ Σ', "ΑΣ'.", 'Α\u0301Σ\u0301 x',
    'ΑΣΑ', 'ªΣ', 'ǅUNGLA', 'ẞ Ω K Å', 'ᎠᏴ 𐐀', 'a\u202f!b\xa0?', 'x,y.z!w?', '\t.\n,', '.start',
    'a..b', 'a  b', "I'm home .", 'i\u0307 ok', 'Ⓐⅰ',
]


def main():
    os.makedirs(FIX, exist_ok=True)
    # tiny corpus: all tokens, vocabularies with min_freq 2, arrays for T = 10
    text = preprocess_nmt(read_data('tests/data/tiny.tsv'))
    source, target = tokenize_nmt(text)
    write_tokens('tiny_tokens.txt', source, target)
    src_vocab = Vocab(source, min_freq=2, reserved_tokens=RESERVED)
    tgt_vocab = Vocab(target, min_freq=2, reserved_tokens=RESERVED)
    write_lines('tiny_vocab_src.txt', src_vocab.idx_to_token)
    write_lines('tiny_vocab_tgt.txt', tgt_vocab.idx_to_token)
    for side, lines, vocab in (('src', source, src_vocab), ('tgt', target, tgt_vocab)):
        array, valid = build_array_nmt(lines, vocab, 10)
        write_array('tiny_array_%s_T10.txt' % side, array, valid)
    # num_examples=9 -> lines 0..9, our max_lines = 10
    s10, t10 = tokenize_nmt(text, 9)
    write_lines('tiny_vocab_src_max10.txt', Vocab(s10, min_freq=1, reserved_tokens=RESERVED).idx_to_token)
    print('tiny: %d pairs, vocab %d / %d' % (len(source), len(src_vocab), len(tgt_vocab)))

    write_lines('preprocess_cases.txt',
                ['%s %s' % (s.encode().hex(), preprocess_nmt(s).encode().hex()) for s in PREPROCESS_CASES])

    fra = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/fra-eng/fra.txt'
    if not os.path.exists(fra):
        print('%s not found; fra601 fixtures not written' % fra)
        return
    text = preprocess_nmt(read_data(fra))
    source, target = tokenize_nmt(text, 600)     # d2l's load_data_nmt default
    src_vocab = Vocab(source, min_freq=2, reserved_tokens=RESERVED)
    tgt_vocab = Vocab(target, min_freq=2, reserved_tokens=RESERVED)
    write_lines('fra601_vocab_src.txt', src_vocab.idx_to_token)
    write_lines('fra601_vocab_tgt.txt', tgt_vocab.idx_to_token)
    print('fra 600: %d pairs, vocab %d / %d' % (len(source), len(src_vocab), len(tgt_vocab)))
    # the book's example: the vocabulary of the whole file
    source, target = tokenize_nmt(text)
    full = Vocab(source, min_freq=2, reserved_tokens=RESERVED)
    tgt_full = Vocab(target, min_freq=2, reserved_tokens=RESERVED)
    print('fra all: %d pairs, vocab %d / %d, truncate_pad(src_vocab[source[0]], 10) = %s' % (
        len(source), len(full), len(tgt_full), truncate_pad(full[source[0]], 10, full['<pad>'])))


if __name__ == '__main__':
    main()
