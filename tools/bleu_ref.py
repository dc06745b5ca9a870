#!/usr/bin/env python3
"""Reference BLEU numbers for tests/test_bleu.c, in plain Python (no sacrebleu needed).

Two scores, both our own re-implementations of documented behaviour (no code copied):
  * d2l_bleu: reproduces d2l.ai's `bleu(pred_seq, label_seq, k)` (d2l/torch.py, chapter
    "Sequence to Sequence Learning"), with a zero division mapped to 0 as s2s_bleu_d2l does.
  * corpus_bleu: follows sacreBLEU 2.3.1's tokenizer_13a and compute_bleu, i.e. corpus BLEU
    with sacreBLEU's defaults (tokenize='13a', smooth_method='exp', effective_order=False,
    lowercase=False, max order 4, one reference); sacreBLEU is github.com/mjpost/sacrebleu
    (Apache-2.0, Matt Post and contributors).

Run `python3 tools/bleu_ref.py` to print every number the C test expects.
"""
import collections
import math
import re


# ---------------------------------------------------------------- d2l
def _ngram_counts(tokens, n):
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def d2l_bleu(pred_seq, label_seq, k):
    """d2l's BLEU of one prediction against one label, both cut at single spaces.

    exp(min(0, 1 - len_label / len_pred)) times, for n = 1..k, p_n ** (1 / 2**n), where p_n
    is the clipped n-gram match count divided by the number of n-grams of the prediction.
    A prediction shorter than k tokens divides by zero there; we return 0.0 then."""
    pred, label = pred_seq.split(' '), label_seq.split(' ')
    score = math.exp(min(0, 1 - len(label) / len(pred)))
    for n in range(1, k + 1):
        clipped = _ngram_counts(pred, n) & _ngram_counts(label, n)   # min of the two counts
        n_pred = len(pred) - n + 1
        if n_pred == 0:
            return 0.0
        score *= math.pow(sum(clipped.values()) / n_pred, math.pow(0.5, n))
    return score


# ---------------------------------------------------------------- sacreBLEU 2.3.1
# 13a ("mteval-v13a") tokenization, in sacreBLEU's order of steps.
_ENTITIES = (('&quot;', '"'), ('&amp;', '&'), ('&lt;', '<'), ('&gt;', '>'))
# ASCII punctuation that is always split off: everything from ' ' to '@' except the apostrophe,
# comma, hyphen, period and digits, plus [ \ ] ^ _ ` { | } ~ (and the space itself).
_ALWAYS_SPLIT = {c: f' {c} ' for c in ' !"#$%&()*+/:;<=>?@[\\]^_`{|}~'}
_PERIOD_COMMA_AFTER_NONDIGIT = re.compile(r'(\D)([.,])', re.ASCII)
_PERIOD_COMMA_BEFORE_NONDIGIT = re.compile(r'([.,])(\D)', re.ASCII)
_DASH_AFTER_DIGIT = re.compile(r'(\d)-', re.ASCII)


def tok_13a(line):
    """sacreBLEU 2.3.1's tokenizer_13a on one line."""
    for junk, repl in (('<skipped>', ''), ('-\n', ''), ('\n', ' ')):
        line = line.replace(junk, repl)
    for entity, char in _ENTITIES:
        line = line.replace(entity, char)
    line = f' {line} '.translate(str.maketrans(_ALWAYS_SPLIT))
    # Each substitution scans left to right over non-overlapping two-character matches.
    line = _PERIOD_COMMA_AFTER_NONDIGIT.sub(lambda m: f'{m[1]} {m[2]} ', line)
    line = _PERIOD_COMMA_BEFORE_NONDIGIT.sub(lambda m: f' {m[1]} {m[2]}', line)
    line = _DASH_AFTER_DIGIT.sub(lambda m: f'{m[1]} - ', line)
    return ' '.join(line.split())


def tok_none(line):
    return line


def _all_ngrams(line, max_order=4):
    """(Counter of every 1..max_order-gram of the whitespace tokens, token count)."""
    tokens = line.split()
    grams = collections.Counter()
    for n in range(1, max_order + 1):
        grams.update(_ngram_counts(tokens, n))
    return grams, len(tokens)


def _log_or_floor(x):
    """log, except that 0 gives sacreBLEU's floor value -9999999999."""
    return math.log(x) if x != 0.0 else -9999999999


def compute_bleu(correct, total, sys_len, ref_len, max_order=4):
    """BLEU from n-gram statistics, as sacreBLEU 2.3.1's compute_bleu with smooth_method='exp'
    and effective_order=False. Returns (score, precisions in percent, brevity penalty)."""
    bp = 1.0
    if sys_len < ref_len:
        bp = 0.0 if sys_len <= 0 else math.exp(1 - ref_len / sys_len)
    precisions = [0.0] * max_order
    if not any(correct):
        return 0.0, precisions, bp
    # 'exp' smoothing: the i-th order with no match scores 100 / (2**i * total).
    halvings = 1.
    for order in range(max_order):
        if total[order] == 0:
            break                     # higher orders stay at 0 and floor the log
        if correct[order]:
            precisions[order] = 100. * correct[order] / total[order]
        else:
            halvings *= 2
            precisions[order] = 100. / (halvings * total[order])
    logs = [_log_or_floor(p) for p in precisions]
    return bp * math.exp(sum(logs) / max_order), precisions, bp


def corpus_bleu(hyps, refs, tokenize='13a'):
    """Corpus BLEU of hypotheses against one reference each (trailing whitespace removed
    before tokenizing); n-gram matches are clipped per sentence and summed over the corpus."""
    tok = tok_13a if tokenize == '13a' else tok_none
    correct, total = [0] * 4, [0] * 4
    sys_len = ref_len = 0
    for hyp, ref in zip(hyps, refs):
        if ref == '':
            raise RuntimeError('Empty or `None` reference sentence found.')
        ref_grams, n_ref = _all_ngrams(tok(ref.rstrip()))
        hyp_grams, n_hyp = _all_ngrams(tok(hyp.rstrip()))
        sys_len += n_hyp
        ref_len += n_ref
        for gram, count in hyp_grams.items():
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, ref_grams.get(gram, 0))
    score, prec, bp = compute_bleu(correct, total, sys_len, ref_len)
    return dict(score=score, precisions=prec, bp=bp, sys_len=sys_len, ref_len=ref_len,
                correct=correct, total=total)


# ---------------------------------------------------------------- the test's cases
D2L_CASES = [
    ('va !', 'va !', 2),
    ("j'ai perdu .", "j'ai perdu .", 2),
    ('il est bon .', 'il est calme .', 2),
    ('je suis chez moi .', 'je suis chez moi .', 2),
    ('', 'va !', 2),
    ('', '', 2),
    ('il est', 'il est calme .', 2),
    ('a a a a', 'a a', 2),
    ('a  b', 'a  b', 2),
    ('va !', 'va !', 3),
    ('je suis chez moi .', 'je suis moi chez .', 4),
]

CORPUS_CASES = [
    ('perfect', ['the cat sat on the mat'], ['the cat sat on the mat'], '13a'),
    ('one 4-gram', ['the cat sat on a mat'], ['the cat sat on the mat'], '13a'),
    ('no 3/4-gram', ['the cat a sat on a mat'], ['the cat sat on the mat'], '13a'),
    ('empty hyp', [''], ['the cat sat on the mat'], '13a'),
    ('brevity', ['the cat sat on the'], ['the cat sat on the mat'], '13a'),
    ('multi', ['the cat sat on the mat', 'a dog ran in the park today'],
              ['the cat sat on the mat', 'the dog ran in the park'], '13a'),
    ('13a', ['He said &quot;hi&quot;, then left.'], ['He said "hi", then left.'], '13a'),
    ('13a amp', ['Tom &amp; Jerry (1940) cost $3.50-4.'], ['Tom & Jerry (1940) cost $3.50 - 4.'], '13a'),
    ('none', ['He said "hi", then left.'], ['He said "hi" , then left .'], 'none'),
    ('short', ['a b c'], ['a b c'], '13a'),
]

TOK_CASES = [
    'He said &quot;hi&quot;, then left.',
    'Tom &amp; Jerry (1940) cost $3.50-4.',
    '&amp;quot; a<skipped>b  x-\ny\tz ',
    "l'homme, 1,000.5 été.",
]

if __name__ == '__main__':
    for p, l, k in D2L_CASES:
        print(f'd2l {p!r} vs {l!r} k={k}: {d2l_bleu(p, l, k):.17g}')
    for s in TOK_CASES:
        print(f'13a {s!r} -> {tok_13a(s)!r}')
    for name, h, r, t in CORPUS_CASES:
        res = corpus_bleu(h, r, t)
        print(f'corpus {name}: score {res["score"]:.17g} bp {res["bp"]:.17g} '
              f'sys {res["sys_len"]} ref {res["ref_len"]} correct {res["correct"]} '
              f'total {res["total"]} prec {[f"{x:.17g}" for x in res["precisions"]]}')
        if len(h) > 1:
            each = [corpus_bleu([a], [b], t)['score'] for a, b in zip(h, r)]
            print(f'  per-sentence {each}, mean {sum(each) / len(each):.17g}')
