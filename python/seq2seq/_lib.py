"""Loads libs2s.so with ctypes and declares the C API of include/seq2seq.h (nothing compiled).

Where the library is looked for, first found wins:
  1. $S2S_LIBRARY (a path to libs2s.so.1 or libs2s.so);
  2. the package's own folder (`pip install ./python` after `make` puts a copy there);
  3. the checkout's build/ folder, when the package is used from the source tree;
  4. the system's search path (after `make install`, with ldconfig or LD_LIBRARY_PATH).
"""
import ctypes
import ctypes.util
import os

MAJOR = 1  # the major version of the C API these declarations follow
_SONAME = f'libs2s.so.{MAJOR}'


class _Err(ctypes.Structure):
    _fields_ = [('msg', ctypes.c_char * 1024)]


class TranslatorOptions(ctypes.Structure):
    _fields_ = [('size', ctypes.c_int), ('threads', ctypes.c_int), ('max_workspaces', ctypes.c_int),
                ('gemm', ctypes.c_char_p)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


class TranslateOptions(ctypes.Structure):
    _fields_ = [('size', ctypes.c_int), ('beam', ctypes.c_int), ('nbest', ctypes.c_int), ('scores', ctypes.c_int),
                ('alpha', ctypes.c_float), ('max_len', ctypes.c_int), ('max_len_ratio', ctypes.c_float),
                ('batch', ctypes.c_int), ('threads', ctypes.c_int), ('attention', ctypes.c_int),
                ('progress', PROGRESS_FN), ('progress_ctx', ctypes.c_void_p)]


class TrainOptions(ctypes.Structure):
    _fields_ = [('size', ctypes.c_int), ('data', ctypes.c_char_p), ('src', ctypes.c_char_p),
                ('tgt', ctypes.c_char_p), ('pairs', ctypes.c_int), ('model', ctypes.c_char_p),
                ('embed', ctypes.c_int), ('hidden', ctypes.c_int), ('layers', ctypes.c_int),
                ('dropout', ctypes.c_float), ('num_steps', ctypes.c_int), ('batch', ctypes.c_int),
                ('lr', ctypes.c_float), ('seed', ctypes.c_ulonglong), ('threads', ctypes.c_int),
                ('attention', ctypes.c_char_p), ('cell', ctypes.c_char_p), ('encoder', ctypes.c_char_p),
                ('input_feed', ctypes.c_int), ('tie_embeddings', ctypes.c_int),
                ('tokenizer', ctypes.c_char_p), ('vocab_size', ctypes.c_int), ('spm_type', ctypes.c_char_p),
                ('spm_joint', ctypes.c_int), ('character_coverage', ctypes.c_double),
                ('spm_model', ctypes.c_char_p), ('spm_src', ctypes.c_char_p), ('spm_tgt', ctypes.c_char_p),
                ('batch_tokens', ctypes.c_int), ('max_len', ctypes.c_int), ('label_smoothing', ctypes.c_float),
                ('lr_schedule', ctypes.c_char_p), ('warmup', ctypes.c_int), ('clip', ctypes.c_float),
                ('gemm', ctypes.c_char_p)]


class TrainProgress(ctypes.Structure):
    _fields_ = [('epoch', ctypes.c_int), ('done', ctypes.c_int), ('total', ctypes.c_int),
                ('loss', ctypes.c_double), ('tokens', ctypes.c_double), ('seconds', ctypes.c_double)]


TRAIN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(TrainProgress))


def _candidates():
    env = os.environ.get('S2S_LIBRARY')
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, _SONAME), os.path.join(here, '..', '..', 'build', _SONAME)]
    found = ctypes.util.find_library('s2s')
    return out + ([found] if found else []) + [_SONAME]


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f'{path} (absent)')
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f'{path} ({e})')
    raise ImportError('seq2seq: cannot load libs2s: tried ' + '; '.join(tried) +
                      '. Build it (make), install it (make install), or set S2S_LIBRARY to its path.')


lib = _load()

_P, _I, _D, _S = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
_ERR = ctypes.POINTER(_Err)
_DECLS = {
    's2s_version': (_S, []),
    's2s_translator_options_init': (None, [ctypes.POINTER(TranslatorOptions)]),
    's2s_translator_open': (_I, [_S, ctypes.POINTER(TranslatorOptions), ctypes.POINTER(_P), _ERR]),
    's2s_translator_open_ensemble': (_I, [ctypes.POINTER(_S), _I, ctypes.POINTER(TranslatorOptions),
                                         ctypes.POINTER(_P), _ERR]),
    's2s_translator_close': (None, [_P]),
    's2s_translator_meta': (_S, [_P, _S]),
    's2s_translate_options_init': (None, [ctypes.POINTER(TranslateOptions)]),
    's2s_translate': (_I, [_P, ctypes.POINTER(_S), _I, ctypes.POINTER(TranslateOptions), ctypes.POINTER(_P), _ERR]),
    's2s_translation_count': (_I, [_P]),
    's2s_translation_hyps': (_I, [_P, _I]),
    's2s_translation_text': (_S, [_P, _I, _I]),
    's2s_translation_score': (_D, [_P, _I, _I]),
    's2s_translation_attention': (ctypes.POINTER(ctypes.c_float), [_P, _I, ctypes.POINTER(_I), ctypes.POINTER(_I)]),
    's2s_translation_source_token': (_S, [_P, _I, _I]),
    's2s_translation_target_token': (_S, [_P, _I, _I]),
    's2s_translation_free': (None, [_P]),
    's2s_train_options_init': (None, [ctypes.POINTER(TrainOptions)]),
    's2s_training_open': (_I, [ctypes.POINTER(TrainOptions), ctypes.POINTER(_P), _ERR]),
    's2s_training_close': (None, [_P]),
    's2s_training_epoch': (_I, [_P, TRAIN_FN, _P, ctypes.POINTER(TrainProgress), _ERR]),
    's2s_training_save': (_I, [_P, _S, _ERR]),
    's2s_training_epochs': (_I, [_P]),
    's2s_training_pairs': (_I, [_P]),
    's2s_training_vocab_size': (_I, [_P, _I]),
    's2s_training_parameters': (ctypes.c_longlong, [_P]),
    's2s_bleu_sentence': (_D, [_S, _S, _I]),
    's2s_bleu_corpus_score': (_I, [ctypes.POINTER(_S), ctypes.POINTER(_S), _I, ctypes.POINTER(_D), _ERR]),
}
for _name, (_res, _args) in _DECLS.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args

VERSION = lib.s2s_version().decode()
if int(VERSION.split('.')[0]) != MAJOR:
    raise ImportError(f'seq2seq: libs2s {VERSION} is not of the API major version {MAJOR} this package declares')

OK, ERR, ERR_INPUT = 0, -1, -2
Err = _Err
