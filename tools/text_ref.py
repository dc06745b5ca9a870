#!/usr/bin/env python3
"""Writes the expected values under tests/fixtures/ that tests/test_text.c compares against.

The pipeline itself is tools/nmt_text.py: our own re-implementation of the behaviour of
d2l.ai's classic preprocess_nmt, tokenize_nmt, Vocab (count_corpus), truncate_pad and
build_array_nmt (d2l-ai/d2l-en, d2l/torch.py; Dive into Deep Learning, Zhang, Lipton, Li and
Smola), on plain lists, so this script needs nothing but Python 3.

Run from the repository root:  python3 tools/text_ref.py [path/to/fra.txt]
The fra.txt outputs are written only when the corpus is there (default ../shared/data/fra-eng/fra.txt).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nmt_text import SPECIALS, Vocab, encode_lines, fit_length, normalize, read_text, \
    split_pairs  # noqa: E402

RESERVED = SPECIALS
FIX = 'tests/fixtures'


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
    text = normalize(read_text('tests/data/tiny.tsv'))
    source, target = split_pairs(text)
    write_tokens('tiny_tokens.txt', source, target)
    src_vocab = Vocab(source, min_freq=2, specials=RESERVED)
    tgt_vocab = Vocab(target, min_freq=2, specials=RESERVED)
    write_lines('tiny_vocab_src.txt', src_vocab.tokens)
    write_lines('tiny_vocab_tgt.txt', tgt_vocab.tokens)
    for side, lines, vocab in (('src', source, src_vocab), ('tgt', target, tgt_vocab)):
        array, valid = encode_lines(lines, vocab, 10)
        write_array('tiny_array_%s_T10.txt' % side, array, valid)
    # num_examples=9 -> lines 0..9, our max_lines = 10
    s10, t10 = split_pairs(text, 9)
    write_lines('tiny_vocab_src_max10.txt', Vocab(s10, min_freq=1, specials=RESERVED).tokens)
    print('tiny: %d pairs, vocab %d / %d' % (len(source), len(src_vocab), len(tgt_vocab)))

    write_lines('preprocess_cases.txt',
                ['%s %s' % (s.encode().hex(), normalize(s).encode().hex()) for s in PREPROCESS_CASES])

    fra = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/fra-eng/fra.txt'
    if not os.path.exists(fra):
        print('%s not found; fra601 fixtures not written' % fra)
        return
    text = normalize(read_text(fra))
    source, target = split_pairs(text, 600)     # d2l's load_data_nmt default
    src_vocab = Vocab(source, min_freq=2, specials=RESERVED)
    tgt_vocab = Vocab(target, min_freq=2, specials=RESERVED)
    write_lines('fra601_vocab_src.txt', src_vocab.tokens)
    write_lines('fra601_vocab_tgt.txt', tgt_vocab.tokens)
    print('fra 600: %d pairs, vocab %d / %d' % (len(source), len(src_vocab), len(tgt_vocab)))
    # the book's example: the vocabulary of the whole file
    source, target = split_pairs(text)
    full = Vocab(source, min_freq=2, specials=RESERVED)
    tgt_full = Vocab(target, min_freq=2, specials=RESERVED)
    print('fra all: %d pairs, vocab %d / %d, truncate_pad(src_vocab[source[0]], 10) = %s' % (
        len(source), len(full), len(tgt_full), fit_length(full[source[0]], 10, full['<pad>'])))


if __name__ == '__main__':
    main()
