#!/usr/bin/env python3
"""Reference BLEU numbers for tests/test_bleu.c, in plain Python (no sacrebleu needed).

Two scores:
  * d2l_bleu: d2l.ai's `bleu(pred_seq, label_seq, k)` (d2l/torch.py, chapter "Sequence to
    Sequence Learning"), with ZeroDivisionError mapped to 0 as s2s_bleu_d2l does.
  * corpus_bleu: sacreBLEU 2.3.1's corpus BLEU with its defaults (tokenize='13a',
    smooth_method='exp', effective_order=False, lowercase=False, max order 4, one reference).
    Re-implemented from sacreBLEU's sources (github.com/mjpost/sacrebleu, Apache-2.0,
    (c) Matt Post and contributors): tokenizers/tokenizer_13a.py, tokenizers/tokenizer_re.py,
    metrics/helpers.py (extract_all_word_ngrams), metrics/bleu.py (compute_bleu,
    _compute_segment_statistics), metrics/base.py (_cache_references), utils.py (my_log).

Run `python3 tools/bleu_ref.py` to print every number the C test expects.
"""
import collections
import math
import re


# ---------------------------------------------------------------- d2l
def d2l_bleu(pred_seq, label_seq, k):
    pred_tokens, label_tokens = pred_seq.split(' '), label_seq.split(' ')
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[' '.join(label_tokens[i: i + n])] += 1
        for i in range(len_pred - n + 1):
            if label_subs[' '.join(pred_tokens[i: i + n])] > 0:
                num_matches += 1
                label_subs[' '.join(pred_tokens[i: i + n])] -= 1
        try:
            score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
        except ZeroDivisionError:
            return 0.0
    return score


# ---------------------------------------------------------------- sacreBLEU 2.3.1
_RE_13A = [
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),  # most ASCII punctuation
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),  # period/comma not after a digit
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),  # period/comma not before a digit
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),       # dash after a digit
]


def tok_13a(line):
    line = line.replace('<skipped>', '')
    line = line.replace('-\n', '')
    line = line.replace('\n', ' ')
    if '&' in line:
        line = line.replace('&quot;', '"')
        line = line.replace('&amp;', '&')
        line = line.replace('&lt;', '<')
        line = line.replace('&gt;', '>')
    line = ' ' + line + ' '
    for rx, repl in _RE_13A:
        line = rx.sub(repl, line)
    return ' '.join(line.strip().split())


def tok_none(line):
    return line


def _ngrams(line, max_order=4):
    tokens = line.split()
    grams = []
    for n in range(1, max_order + 1):
        for i in range(0, len(tokens) - n + 1):
            grams.append(tuple(tokens[i:i + n]))
    return collections.Counter(grams), len(tokens)


def _my_log(x):
    return -9999999999 if x == 0.0 else math.log(x)


def compute_bleu(correct, total, sys_len, ref_len, max_order=4):
    """sacreBLEU's BLEU.compute_bleu with smooth_method='exp', effective_order=False."""
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    else:
        bp = 1.0
    precisions = [0.0] * max_order
    if not any(correct):
        return 0.0, precisions, bp
    smooth_mteval = 1.
    eff_order = max_order
    for n in range(1, max_order + 1):
        if total[n - 1] == 0:
            break
        if correct[n - 1] == 0:
            smooth_mteval *= 2
            precisions[n - 1] = 100. / (smooth_mteval * total[n - 1])
        else:
            precisions[n - 1] = 100. * correct[n - 1] / total[n - 1]
    score = bp * math.exp(sum([_my_log(p) for p in precisions[:eff_order]]) / eff_order)
    return score, precisions, bp


def corpus_bleu(hyps, refs, tokenize='13a'):
    tok = tok_13a if tokenize == '13a' else tok_none
    correct, total = [0] * 4, [0] * 4
    sys_len = ref_len = 0
    for hyp, ref in zip(hyps, refs):
        if ref == '':
            raise RuntimeError('Empty or `None` reference sentence found.')
        ref_ngrams, rlen = _ngrams(tok(ref.rstrip()))
        hyp_ngrams, hlen = _ngrams(tok(hyp.rstrip()))
        sys_len += hlen
        ref_len += rlen
        for g, c in hyp_ngrams.items():
            total[len(g) - 1] += c
            if g in ref_ngrams:
                correct[len(g) - 1] += min(c, ref_ngrams[g])
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
