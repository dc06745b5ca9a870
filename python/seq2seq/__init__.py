"""d2l's encoder-decoder translator (libs2s, plain C) from Python, through ctypes.

    import seq2seq
    run = seq2seq.train(data='fra.txt', epochs=250, callback=print)   # d2l's defaults
    run.save('attn.safetensors')
    tr = seq2seq.Translator('attn.safetensors', threads=2)
    tr.translate(['go .', "i'm home ."])              # ['va !', 'je suis chez moi .']
    tr.translate(['go .'], beam=4, nbest=2)           # [[('va !', -0.03), ('va .', -1.2)]]
    att = tr.attention("i'm home .")                  # att.source, att.target, att.weights

Errors of the library become seq2seq.Error (InputError, also a ValueError, when the input is at
fault) carrying the library's one-line message. numpy is optional: attention weights are a
numpy array when it is installed, else a list of rows. A Translator may be used from several
Python threads at once: ctypes releases the GIL during each call, and the library's handle is
thread-safe (the same results as one thread).
"""
import collections
import ctypes

from . import _lib
from ._lib import lib

__all__ = ['Translator', 'Training', 'train', 'bleu', 'corpus_bleu', 'Error', 'InputError', 'Attention',
           'Epoch', 'version']

try:
    import numpy as _np
except ImportError:  # optional
    _np = None


class Error(Exception):
    """A failure the library reported; str(e) is its message."""


class InputError(Error, ValueError):
    """The caller's input is at fault: an option out of range, text that is not UTF-8, a bad corpus."""


def _raise(status, err):
    msg = err.msg.decode('utf-8', 'replace')
    raise (InputError if status == _lib.ERR_INPUT else Error)(msg)


def _b(s, what):
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError(f'{what} must be str, not {type(s).__name__}')
    return s.encode('utf-8', 'surrogateescape')


def version():
    """The library's version, 'MAJOR.MINOR.PATCH'."""
    return _lib.VERSION


Attention = collections.namedtuple('Attention', 'translation source target weights')
Attention.__doc__ = """One sentence's attention: weights[i][j] is how much output step i (target[i]) attended to
source position j (source[j]); a numpy array [len(target), len(source)] when numpy is installed."""

Epoch = collections.namedtuple('Epoch', 'epoch loss tokens seconds tokens_per_sec')
Epoch.__doc__ = """One epoch's figures: loss per target token (d2l's printed loss), target tokens, seconds."""


class _Handle:
    """A library handle: _close is the C function freeing it, _what names it in 'closed' errors."""
    _h = None

    def _handle(self):
        if not self._h:
            raise Error(f'{self._what}: closed')
        return self._h

    def close(self):
        """Frees the handle; later calls raise Error. Safe to call twice."""
        h, self._h = self._h, None
        if h:
            self._close(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the interpreter is shutting down
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Translator(_Handle):
    """A model file opened once. translate() may run from several threads at once. gemm=None (float
    products) or 'own', 'blas', or 'int8' / 'bf16' (faster, not float's numbers: every decoder
    step's products in 8-bit integers or bfloat16, where the CPU has AVX512-VNNI / AVX512-BF16).
    path may be a list of 2..8 model files: an ensemble (each step decodes with the mean of the
    models' log-probabilities; models of one tokenizer and vocabularies), as `translate --model A
    --model B`."""
    _close = staticmethod(lambda h: lib.s2s_translator_close(h))

    def __init__(self, path, threads=1, max_workspaces=0, gemm=None):
        opts = _lib.TranslatorOptions()
        lib.s2s_translator_options_init(ctypes.byref(opts))
        opts.threads, opts.max_workspaces = threads, max_workspaces
        gemm_b = None if gemm is None else _b(gemm, 'gemm')  # alive during the call
        opts.gemm = gemm_b
        err, h = _lib.Err(), ctypes.c_void_p()
        paths = [str(p) for p in path] if isinstance(path, (list, tuple)) else [str(path)]
        enc = [_b(p, 'path') for p in paths]
        arr = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        rc = lib.s2s_translator_open_ensemble(arr, len(enc), ctypes.byref(opts), ctypes.byref(h), ctypes.byref(err))
        if rc:
            _raise(rc, err)
        self._h = h
        self.path = paths[0] if len(paths) == 1 else paths
        self._what = f"{' + '.join(paths)}: the translator"

    def meta(self, key):
        """The model file's metadata value for key ('model', 'embed', 'hidden', 'num_steps', ...) or None."""
        v = lib.s2s_translator_meta(self._handle(), _b(key, 'key'))
        return v.decode() if v is not None else None

    def _run(self, sentences, beam, nbest, alpha, max_len, max_len_ratio, batch, threads, attention, scores):
        enc = [_b(s, 'each sentence') for s in sentences]
        arr = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        o = _lib.TranslateOptions()
        lib.s2s_translate_options_init(ctypes.byref(o))
        o.beam, o.nbest, o.alpha, o.max_len, o.max_len_ratio = beam, nbest, alpha, max_len, max_len_ratio
        o.batch, o.threads, o.attention, o.scores = batch, threads, int(attention), int(scores)
        err, res = _lib.Err(), ctypes.c_void_p()
        rc = lib.s2s_translate(self._handle(), arr, len(enc), ctypes.byref(o), ctypes.byref(res), ctypes.byref(err))
        if rc:
            _raise(rc, err)
        return res

    def translate(self, sentences, beam=1, nbest=1, alpha=1.0, max_len=0, max_len_ratio=0.0, batch=64,
                  threads=0, scores=False):
        """Translates a sentence (str) or a list of them, as `seq2seq translate` does.

        Returns the translation (str) of each; with nbest > 1 or scores=True, each is instead a
        list of (translation, score) pairs, best first (score: log-probability / length^alpha).
        beam=1 is greedy decoding; threads=0 uses the Translator's."""
        single = isinstance(sentences, (str, bytes))
        sents = [sentences] if single else list(sentences)
        want_scores = nbest > 1 or scores
        res = self._run(sents, beam, nbest, alpha, max_len, max_len_ratio, batch, threads, False, want_scores)
        try:
            out = []
            for i in range(len(sents)):
                hyps = [(lib.s2s_translation_text(res, i, k).decode('utf-8', 'replace'),
                         lib.s2s_translation_score(res, i, k)) for k in range(lib.s2s_translation_hyps(res, i))]
                out.append(hyps if want_scores else hyps[0][0])
        finally:
            lib.s2s_translation_free(res)
        return out[0] if single else out

    def attention(self, sentence, beam=1, alpha=1.0, max_len=0, max_len_ratio=0.0):
        """The translation of one sentence with its attention weights and tokens (attention models)."""
        res = self._run([sentence], beam, 1, alpha, max_len, max_len_ratio, 1, 0, True, beam > 1)
        try:
            rows, cols = ctypes.c_int(), ctypes.c_int()
            w = lib.s2s_translation_attention(res, 0, ctypes.byref(rows), ctypes.byref(cols))
            r, c = rows.value, cols.value
            flat = [w[i] for i in range(r * c)]
            weights = (_np.array(flat, dtype=_np.float32).reshape(r, c) if _np is not None
                       else [flat[i * c:(i + 1) * c] for i in range(r)])
            src = [lib.s2s_translation_source_token(res, 0, j).decode('utf-8', 'replace') for j in range(c)]
            tgt = [lib.s2s_translation_target_token(res, 0, i).decode('utf-8', 'replace') for i in range(r)]
            text = lib.s2s_translation_text(res, 0, 0).decode('utf-8', 'replace')
        finally:
            lib.s2s_translation_free(res)
        return Attention(text, src, tgt, weights)


class Training(_Handle):
    """A training run (d2l's train_seq2seq, as `seq2seq train` runs it, without validation or resume).

    Options (defaults are d2l's): data (pairs file) or src + tgt (line-aligned files), pairs=601
    (first lines read; 0 = all), model='attn' or 'plain', embed=32, hidden=32, layers=2,
    dropout=0.1, num_steps=10, batch=64, lr=0.005, seed=1, threads=1; the families beside d2l's:
    attention='bahdanau'|'luong-dot'|'luong-general'|'none', cell='gru'|'lstm', encoder='uni'|'bi',
    input_feed=False, tie_embeddings=False (as `seq2seq train --attention ...`); the tokenizer:
    tokenizer='d2l' or 'spm' (SentencePiece: raw cased text), and for 'spm' vocab_size=8000,
    spm_type='unigram' or 'bpe', spm_joint=False, character_coverage=1.0, or models spm_train
    wrote: spm_model (both sides) or spm_src + spm_tgt. The recipe for real data (seq2seq train's
    options): batch_tokens=0 (batches of at most N positions, by length), max_len=0 (drop longer
    pairs; num_steps >= max_len + 1), label_smoothing=0.0, lr_schedule='constant' or
    'inverse-sqrt', warmup=0, clip=1.0. gemm=None (the matrix products: 'own', our AVX-512 kernel, where
    the build has it, else 'blas'; or either by name; or 'bf16': every product with its operands in
    bfloat16 and float sums, weights and Adam in float: faster, not float's numbers)."""

    _close = staticmethod(lambda h: lib.s2s_training_close(h))
    _what = 'the training run'
    _KEYS = ('data', 'src', 'tgt', 'pairs', 'model', 'embed', 'hidden', 'layers', 'dropout', 'num_steps', 'batch',
             'lr', 'seed', 'threads', 'attention', 'cell', 'encoder', 'input_feed', 'tie_embeddings',
             'tokenizer', 'vocab_size', 'spm_type', 'spm_joint', 'character_coverage', 'spm_model', 'spm_src',
             'spm_tgt', 'batch_tokens', 'max_len', 'label_smoothing', 'lr_schedule', 'warmup', 'clip', 'gemm')
    _PATHS = ('data', 'src', 'tgt', 'spm_model', 'spm_src', 'spm_tgt')
    _TEXT = _PATHS + ('model', 'attention', 'cell', 'encoder', 'tokenizer', 'spm_type', 'lr_schedule', 'gemm')

    def __init__(self, data=None, **options):
        unknown = sorted(set(options) - set(self._KEYS))
        if unknown:
            raise TypeError(f'unknown training option(s): {", ".join(unknown)} (known: {", ".join(self._KEYS)})')
        o = _lib.TrainOptions()
        lib.s2s_train_options_init(ctypes.byref(o))
        options['data'] = data
        keep = []  # the bytes the char * fields point to, alive during the call
        for k, v in options.items():
            if v is None:
                continue
            if k in self._TEXT:
                v = _b(str(v) if k in self._PATHS else v, k)
                keep.append(v)
            elif k in ('input_feed', 'tie_embeddings', 'spm_joint'):
                v = int(bool(v))
            setattr(o, k, v)
        err, h = _lib.Err(), ctypes.c_void_p()
        rc = lib.s2s_training_open(ctypes.byref(o), ctypes.byref(h), ctypes.byref(err))
        if rc:
            _raise(rc, err)
        self._h = h
        self.history = []  # an Epoch per completed epoch

    @property
    def epochs(self):
        return lib.s2s_training_epochs(self._handle())

    @property
    def pairs(self):
        return lib.s2s_training_pairs(self._handle())

    @property
    def vocab_sizes(self):
        """(source, target) vocabulary sizes."""
        h = self._handle()
        return lib.s2s_training_vocab_size(h, 0), lib.s2s_training_vocab_size(h, 1)

    @property
    def parameters(self):
        return lib.s2s_training_parameters(self._handle())

    def epoch(self, on_batch=None):
        """Trains one epoch and returns its Epoch. on_batch(done, total, loss_so_far) is called after each
        batch; returning True stops the epoch there (the next call continues it) and returns None."""
        h, err, p = self._handle(), _lib.Err(), _lib.TrainProgress()
        raised = []

        def hook(_ctx, prog):
            try:
                q = prog.contents
                return 1 if on_batch(q.done, q.total, q.loss) else 0
            except BaseException as e:  # noqa: BLE001 - carried across the C frame, raised below
                raised.append(e)
                return 1
        cb = _lib.TRAIN_FN(hook) if on_batch else _lib.TRAIN_FN()
        rc = lib.s2s_training_epoch(h, cb, None, ctypes.byref(p), ctypes.byref(err))
        if raised:
            raise raised[0]
        if rc:
            _raise(rc, err)
        if p.done < p.total:
            return None
        e = Epoch(p.epoch, p.loss, p.tokens, p.seconds, p.tokens / p.seconds if p.seconds > 0 else 0.0)
        self.history.append(e)
        return e

    def save(self, path):
        """Writes the model file (atomically): Translator(path) and `seq2seq translate` read it."""
        err = _lib.Err()
        rc = lib.s2s_training_save(self._handle(), _b(str(path), 'path'), ctypes.byref(err))
        if rc:
            _raise(rc, err)

    def translator(self, path, threads=1):
        """Saves to path and opens a Translator on it."""
        self.save(path)
        return Translator(path, threads=threads)


def train(data=None, epochs=250, callback=None, out=None, **options):
    """Trains `epochs` epochs (d2l's defaults; options as Training's) and returns the Training.

    callback(epoch) gets each Epoch (epoch, loss, tokens, seconds, tokens_per_sec) as it ends, so a
    notebook can plot as it goes; returning True stops training. out: save the model there."""
    run = Training(data, **options)
    for _ in range(epochs):
        e = run.epoch()
        if callback is not None and callback(e):
            break
    if out is not None:
        run.save(out)
    return run


def bleu(pred, label, k=2):
    """d2l's bleu(pred_seq, label_seq, k) on space-separated tokens."""
    return lib.s2s_bleu_sentence(_b(pred, 'pred'), _b(label, 'label'), k)


def corpus_bleu(hyps, refs):
    """Corpus BLEU-4 as sacreBLEU computes it (13a, one reference each), 0..100."""
    h, r = [_b(x, 'hyps') for x in hyps], [_b(x, 'refs') for x in refs]
    if len(h) != len(r):
        raise InputError(f'corpus_bleu: {len(h)} hypotheses but {len(r)} references')
    ha, ra = (ctypes.c_char_p * max(len(h), 1))(*h), (ctypes.c_char_p * max(len(r), 1))(*r)
    err, score = _lib.Err(), ctypes.c_double()
    rc = lib.s2s_bleu_corpus_score(ha, ra, len(h), ctypes.byref(score), ctypes.byref(err))
    if rc:
        _raise(rc, err)
    return score.value
