"""Text side of the seq2seq reference, in plain Python (no PyTorch needed).

Our own re-implementation of the behaviour of d2l.ai's classic English-French data pipeline
(preprocess_nmt, tokenize_nmt, Vocab with count_corpus, truncate_pad, build_array_nmt from
d2l-ai/d2l-en's d2l/torch.py; Dive into Deep Learning, https://d2l.ai). It gives the same
strings, token lists, vocabulary orders and id rows; the C side (src/s2s_text.c,
src/s2s_vocab.c) is checked against it. Used by tools/d2l_ref.py and tools/text_ref.py.
"""
import collections

# The tokens every vocabulary carries right after '<unk>' (id 0): ids 1, 2, 3.
SPECIALS = ['<pad>', '<bos>', '<eos>']
UNK = '<unk>'

# Punctuation that gets detached from the word in front of it.
_DETACH = frozenset(',.!?')


def read_text(path):
    """The whole file as one string (UTF-8, text mode: CRLF reads as LF)."""
    with open(path, 'r', encoding='utf-8') as f:
        return f.read()


def normalize(text):
    """Reproduces d2l's preprocess_nmt.

    U+202F and U+00A0 turn into ordinary spaces, then the text is lower-cased (Python's full
    Unicode mapping). A space is put in front of every ',', '.', '!' or '?' whose neighbour on
    the left, in that lower-cased text, exists and is not a space."""
    text = text.replace('\u202f', ' ').replace('\xa0', ' ').lower()
    pieces = []
    left = None
    for ch in text:
        if left is not None and left != ' ' and ch in _DETACH:
            pieces.append(' ')
        pieces.append(ch)
        left = ch
    return ''.join(pieces)


def split_pairs(text, last_line=None):
    """Reproduces d2l's tokenize_nmt(text, num_examples=last_line).

    Looks at the '\\n'-separated lines 0..last_line (every line when last_line is None or 0).
    A line counts only if it has exactly one tab; both sides are cut at every single space,
    so doubled spaces leave empty tokens. Returns (source token lists, target token lists)."""
    lines = text.split('\n')
    if last_line:
        lines = lines[:max(last_line + 1, 0)]
    sources, targets = [], []
    for line in lines:
        fields = line.split('\t')
        if len(fields) == 2:
            sources.append(fields[0].split(' '))
            targets.append(fields[1].split(' '))
    return sources, targets


class Vocab:
    """Token <-> id table with the ordering of d2l's Vocab.

    Id 0 is '<unk>', then the given special tokens, then every corpus token seen at least
    min_freq times, most frequent first; equal counts keep the order in which the tokens
    first appear in the corpus. Corpus tokens equal to '<unk>' or a special are not added
    twice. Unknown tokens look up as 0."""

    def __init__(self, sentences=(), min_freq=0, specials=()):
        sentences = list(sentences)
        if sentences and not isinstance(sentences[0], list):
            sentences = [sentences]          # one flat token list
        counts = collections.Counter()
        for sentence in sentences:
            counts.update(sentence)
        head = [UNK] + list(specials)
        taken = set(head)
        # sorted() is stable: ties stay in first-occurrence order.
        by_count = sorted(counts.items(), key=lambda item: -item[1])
        self.tokens = head + [tok for tok, n in by_count if n >= min_freq and tok not in taken]
        self.ids = {tok: i for i, tok in enumerate(self.tokens)}
        self.unk = 0

    @classmethod
    def from_tokens(cls, tokens):
        """A vocabulary whose id order is exactly `tokens` (as stored in a model file)."""
        v = cls()
        v.tokens = list(tokens)
        v.ids = {tok: i for i, tok in enumerate(v.tokens)}
        return v

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, key):
        """Id of one token, or the list of ids of a list/tuple of tokens."""
        if isinstance(key, (list, tuple)):
            return [self.ids.get(tok, self.unk) for tok in key]
        return self.ids.get(key, self.unk)

    def to_tokens(self, key):
        if isinstance(key, (list, tuple)):
            return [self.tokens[i] for i in key]
        return self.tokens[key]


def fit_length(ids, num_steps, pad_id):
    """Reproduces d2l's truncate_pad: keep the first num_steps ids, pad up to num_steps."""
    return (list(ids) + [pad_id] * num_steps)[:num_steps]


def encode_lines(lines, vocab, num_steps):
    """Reproduces d2l's build_array_nmt on plain lists.

    Every token list becomes its ids plus '<eos>', cut or padded to num_steps with '<pad>'.
    The valid length of a row is its number of ids that are not the '<pad>' id."""
    pad, eos = vocab['<pad>'], vocab['<eos>']
    rows = [fit_length(vocab[line] + [eos], num_steps, pad) for line in lines]
    valid = [sum(i != pad for i in row) for row in rows]
    return rows, valid
