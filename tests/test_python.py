"""The Python package (python/seq2seq) with Debian's python3: training equals `seq2seq train`
(the same model file, byte for byte), translations equal `seq2seq translate` (greedy, beam,
n-best with scores), errors become exceptions carrying the library's message, a closed or
missing model raises rather than crashes, threads agree with one thread, numpy is optional.
Run by tests/test_python.sh from the repository root; prints PASS/FAIL lines and 'counts: P F S'."""
import os
import subprocess
import sys
import tempfile
import threading
import traceback

sys.path.insert(0, os.path.join(os.getcwd(), 'python'))
import seq2seq  # noqa: E402

S2S = os.environ.get('S2S_BIN', './seq2seq')
TINY = 'tests/data/tiny.tsv'
TMP = tempfile.mkdtemp(prefix='s2s-py.')
OPTS = dict(pairs=0, embed=16, hidden=24, batch=8, lr=0.01, seed=3)
EPOCHS = 40
results = {'pass': 0, 'fail': 0, 'skip': 0}


def cli(*args, stdin=None):
    p = subprocess.run([S2S, *args], input=stdin, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f'{S2S} {" ".join(args)}: exit {p.returncode}: {p.stderr.strip()}')
    return p.stdout


def cli_train(out, model):
    flags = []
    for k, v in OPTS.items():
        flags += [f'--{k}', str(v)]
    return cli('train', '--data', TINY, '--model', model, '--epochs', str(EPOCHS), '--out', out, '--quiet', *flags)


def run(fn):
    try:
        fn()
        results['pass'] += 1
        print(f'PASS {fn.__name__}')
    except Exception:  # noqa: BLE001 - a failed check or an unexpected error both fail the test
        results['fail'] += 1
        print(f'FAIL {fn.__name__}')
        print('  ' + traceback.format_exc().strip().replace('\n', '\n  '))


def sentences():
    with open(TINY, encoding='utf-8') as f:
        src = [line.split('\t')[0] for line in f]
    return src + ['', 'Go!Run.', 'i lost zebra home .', ' '.join(['i'] * 15), "He's calm, isn't he?"]


PY_MODEL, CLI_MODEL, PLAIN = (os.path.join(TMP, n) for n in ('py.safetensors', 'cli.safetensors', 'plain.safetensors'))


def test_version():
    with open('include/seq2seq.h', encoding='utf-8') as f:
        want = [line.split('"')[1] for line in f if line.startswith('#define S2S_VERSION_STRING')][0]
    assert seq2seq.version() == want, (seq2seq.version(), want)


def test_train_equals_cli():
    epochs = []
    run_ = seq2seq.train(TINY, epochs=EPOCHS, callback=epochs.append, out=PY_MODEL, **OPTS)
    out = cli_train(CLI_MODEL, 'attn')
    with open(PY_MODEL, 'rb') as a, open(CLI_MODEL, 'rb') as b:
        assert a.read() == b.read(), 'the model files differ'
    assert [e.epoch for e in epochs] == list(range(1, EPOCHS + 1)) and run_.history == epochs
    assert out.startswith(f'loss {epochs[-1].loss:.3f},'), (out, epochs[-1])
    assert run_.pairs == 40 and run_.epochs == EPOCHS and run_.parameters > 1000
    run_.close()
    run_.close()  # twice is fine
    seq2seq.train(TINY, epochs=EPOCHS, out=PLAIN, model='plain', **OPTS)
    # a family option: tied embeddings (embed = hidden), as `seq2seq train --tie-embeddings`
    tied = dict(OPTS, embed=16, hidden=16)
    seq2seq.train(TINY, epochs=3, out=os.path.join(TMP, 'tied_py.st'), tie_embeddings=True, **tied)
    flags = [x for k, v in tied.items() for x in (f'--{k}', str(v))]
    cli('train', '--data', TINY, '--epochs', '3', '--tie-embeddings', '--out', os.path.join(TMP, 'tied_cli.st'),
        '--quiet', *flags)
    with open(os.path.join(TMP, 'tied_py.st'), 'rb') as a, open(os.path.join(TMP, 'tied_cli.st'), 'rb') as b:
        assert a.read() == b.read(), 'the tied model files differ'
    for f in ('tied_py.st', 'tied_cli.st', 'tied_cli.st.state'):
        if os.path.exists(os.path.join(TMP, f)):
            os.unlink(os.path.join(TMP, f))


def test_recipe_equals_cli():
    # the recipe's options, as `seq2seq train --batch-tokens ...`: the same model file, byte for byte
    rec = dict(OPTS, batch_tokens=60, label_smoothing=0.1, warmup=4, clip=2.0)
    py, cl = os.path.join(TMP, 'rec_py.st'), os.path.join(TMP, 'rec_cli.st')
    seq2seq.train(TINY, epochs=3, out=py, max_len=7, num_steps=8, lr_schedule='inverse-sqrt', **rec)
    flags = [x for k, v in rec.items() for x in (f'--{k.replace("_", "-")}', str(v))]
    cli('train', '--data', TINY, '--epochs', '3', '--max-len', '7', '--lr-schedule', 'inverse-sqrt', '--out', cl,
        '--quiet', *flags)
    with open(py, 'rb') as a, open(cl, 'rb') as b:
        assert a.read() == b.read(), 'the recipe model files differ'
    try:
        seq2seq.train(TINY, epochs=1, lr_schedule='plateau')
        assert False, 'plateau without validation was accepted'
    except seq2seq.InputError as e:
        assert 'plateau' in str(e), str(e)


def test_callback_stops():
    seen = []
    r = seq2seq.train(TINY, epochs=10, callback=lambda e: seen.append(e) or e.epoch == 3, **OPTS)
    assert len(seen) == 3 and r.epochs == 3
    calls = []
    assert r.epoch(on_batch=lambda done, total, loss: calls.append(done) or done >= 16) is None  # stopped
    e = r.epoch(on_batch=lambda done, total, loss: calls.append(done) and False)             # continued
    assert calls == [8, 16, 24, 32, 40] and e.epoch == 4 and r.epochs == 4, (calls, e)

    def boom(done, total, loss):
        raise KeyError('from the callback')
    try:
        r.epoch(on_batch=boom)
        raise AssertionError('no exception')
    except KeyError:
        pass


def test_translate_equals_cli():
    tr = seq2seq.Translator(CLI_MODEL, threads=2)
    sents = sentences()
    stdin = '\n'.join(sents) + '\n'
    got = tr.translate(sents)
    want = cli('translate', '--model', CLI_MODEL, stdin=stdin).splitlines()
    assert got == want, [(g, w) for g, w in zip(got, want) if g != w][:5]
    assert sum(1 for g in got if g) > len(got) // 2, 'the model is not trained'
    for beam, nbest, alpha in ((4, 2, 1.0), (3, 3, 0.5), (1, 1, 1.0)):
        hyps = tr.translate(sents, beam=beam, nbest=nbest, alpha=alpha, scores=True)
        flat = [f'{s:.4f}\t{t}' for h in hyps for t, s in h]
        want = cli('translate', '--model', CLI_MODEL, '--beam', str(beam), '--nbest', str(nbest), '--alpha', str(alpha),
                   stdin=stdin).splitlines()
        assert flat == want, (beam, nbest, [(g, w) for g, w in zip(flat, want) if g != w][:5])
    ratio = tr.translate(sents, max_len_ratio=0.8, batch=5)
    assert ratio == cli('translate', '--model', CLI_MODEL, '--max-len-ratio', '0.8', '--batch', '5',
                        stdin=stdin).splitlines()
    assert tr.translate('Go.') == got[0] and tr.meta('model') == 'attn' and tr.meta('nope') is None
    tr.close()


def test_ensemble_equals_cli():
    """Translator([A, B]) is `translate --model A --model B`; a model with itself is the model."""
    sents = sentences()
    stdin = '\n'.join(sents) + '\n'
    with seq2seq.Translator([CLI_MODEL, PLAIN], threads=2) as tr:
        hyps = tr.translate(sents, beam=3, nbest=2, scores=True)
        assert tr.path == [CLI_MODEL, PLAIN]
    flat = [f'{s:.4f}\t{t}' for h in hyps for t, s in h]
    want = cli('translate', '--model', CLI_MODEL, '--model', PLAIN, '--beam', '3', '--nbest', '2', stdin=stdin).splitlines()
    assert flat == want, [(g, w) for g, w in zip(flat, want) if g != w][:5]
    alone = cli('translate', '--model', CLI_MODEL, '--beam', '3', '--nbest', '2', stdin=stdin).splitlines()
    assert flat != alone, 'the ensemble gave the first model\'s scores'
    with seq2seq.Translator((CLI_MODEL, CLI_MODEL)) as tr:
        assert [f'{s:.4f}\t{t}' for h in tr.translate(sents, beam=3, nbest=2, scores=True) for t, s in h] == alone
    try:
        seq2seq.Translator([CLI_MODEL, os.path.join(TMP, 'nope.safetensors')])
        raise AssertionError('a missing member opened')
    except seq2seq.Error as e:
        assert 'nope.safetensors' in str(e), e


def test_packed_products_equal_cli():
    """gemm='bf16' / 'int8' (where the build has them) translate as S2S_GEMM=bf16 / int8 does."""
    sents = sentences()
    stdin = '\n'.join(sents) + '\n'
    ran = 0
    for g in ('bf16', 'int8'):
        env = dict(os.environ, S2S_GEMM=g)
        if subprocess.run([S2S, 'version'], env=env, capture_output=True).returncode != 0:
            continue
        with seq2seq.Translator(CLI_MODEL, threads=2, gemm=g) as tr:
            hyps = tr.translate(sents, beam=4, nbest=2, scores=True)
        flat = [f'{s:.4f}\t{t}' for h in hyps for t, s in h]
        p = subprocess.run([S2S, 'translate', '--model', CLI_MODEL, '--beam', '4', '--nbest', '2'], input=stdin,
                           env=env, capture_output=True, text=True)
        assert p.returncode == 0 and flat == p.stdout.splitlines(), (g, p.stderr)
        ran += 1
    try:
        seq2seq.Translator(CLI_MODEL, gemm='fast')
        raise AssertionError("gemm='fast' was taken")
    except seq2seq.Error as e:
        assert "gemm 'fast' is not own, blas, bf16 or int8" in str(e), str(e)
    print(f'  {ran} packed kinds in this build')


def test_train_bf16_equals_cli():
    """train(gemm='bf16') (where the build has it) is `S2S_GEMM=bf16 seq2seq train` byte for byte, and
    not float's model; gemm='int8' is refused for training."""
    py, cl = os.path.join(TMP, 'bf_py.st'), os.path.join(TMP, 'bf_cli.st')
    env = dict(os.environ, S2S_GEMM='bf16')
    if subprocess.run([S2S, 'version'], env=env, capture_output=True).returncode == 0:
        seq2seq.train(TINY, epochs=EPOCHS, out=py, model='attn', gemm='bf16', **OPTS)
        flags = [x for k, v in OPTS.items() for x in (f'--{k}', str(v))]
        p = subprocess.run([S2S, 'train', '--data', TINY, '--model', 'attn', '--epochs', str(EPOCHS), '--out', cl,
                            '--quiet', *flags], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(py, 'rb') as a, open(cl, 'rb') as b, open(CLI_MODEL, 'rb') as f:
            mine = a.read()
            assert mine == b.read(), 'the bf16 model files differ'
            assert mine != f.read(), "bf16 training gave float's model"
        for f in (py, cl, cl + '.state', py + '.state'):
            if os.path.exists(f):
                os.unlink(f)
    try:
        seq2seq.train(TINY, epochs=1, gemm='int8', **OPTS)
        raise AssertionError("gemm='int8' was taken for training")
    except seq2seq.Error as e:
        assert '8-bit integers are for translation' in str(e), str(e)


def test_attention():
    with seq2seq.Translator(CLI_MODEL) as tr:
        a = tr.attention("i lost .")
        assert a.translation == tr.translate("i lost .")
        assert a.source == ['i', 'lost', '.', '<eos>'] and a.target[-1] == '<eos>'
        assert a.target[:-1] == a.translation.split(), a
        assert len(a.weights) == len(a.target) and all(len(r) == len(a.source) for r in a.weights)
        assert all(abs(float(sum(r)) - 1) < 1e-5 for r in a.weights)
        if seq2seq._np is not None:
            assert a.weights.shape == (len(a.target), len(a.source)) and a.weights.dtype == seq2seq._np.float32
        b = tr.attention("i lost .", beam=3)
        assert len(b.weights[0]) == 4


def test_attention_without_numpy():
    code = ('import sys; sys.modules["numpy"] = None; sys.path.insert(0, "python"); import seq2seq; '
            f'a = seq2seq.Translator({CLI_MODEL!r}).attention("i lost ."); '
            'print(type(a.weights).__name__, len(a.weights), [round(sum(r), 4) for r in a.weights])')
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    kind, rows = p.stdout.split()[0], int(p.stdout.split()[1])
    with seq2seq.Translator(CLI_MODEL) as tr:
        assert kind == 'list' and rows == len(tr.attention("i lost .").target), p.stdout


def test_errors():
    def raises(exc, fn, *want):
        try:
            fn()
        except exc as e:
            for w in want:
                assert w in str(e), (str(e), w)
            return e
        raise AssertionError(f'{fn} did not raise {exc.__name__}')
    e = raises(seq2seq.Error, lambda: seq2seq.Translator(os.path.join(TMP, 'missing.st')), 'missing.st', 'cannot open')
    assert not isinstance(e, seq2seq.InputError)
    raises(seq2seq.Error, lambda: seq2seq.Translator(TINY), 'tiny.tsv')
    with open(CLI_MODEL, 'rb') as f, open(os.path.join(TMP, 'cut.st'), 'wb') as g:
        g.write(f.read()[:300])
    raises(seq2seq.Error, lambda: seq2seq.Translator(os.path.join(TMP, 'cut.st')), 'cut.st')
    tr = seq2seq.Translator(CLI_MODEL)
    e = raises(seq2seq.InputError, lambda: tr.translate('go .', beam=0), 'beam 0')
    assert isinstance(e, ValueError)
    raises(seq2seq.InputError, lambda: tr.translate(['go .', b'va\xff .']), 'sentence 2', 'UTF-8')
    raises(seq2seq.InputError, lambda: tr.translate('go .', beam=2, nbest=3), 'nbest 3')
    raises(TypeError, lambda: tr.translate([3]))
    tr.close()
    raises(seq2seq.Error, lambda: tr.translate('go .'), 'closed')
    raises(seq2seq.Error, lambda: tr.attention('go .'), 'closed')
    raises(seq2seq.Error, lambda: tr.meta('model'), 'closed')
    tr.close()
    with seq2seq.Translator(PLAIN) as p:
        raises(seq2seq.InputError, lambda: p.attention('go .'), 'plain')
        assert isinstance(p.translate('go .'), str)
    raises(seq2seq.InputError, lambda: seq2seq.Training(os.path.join(TMP, 'none.tsv')), 'none.tsv')
    raises(seq2seq.InputError, lambda: seq2seq.Training(TINY, model='lstm'), "'lstm'")
    raises(seq2seq.InputError, lambda: seq2seq.Training(TINY, embed=0), 'embed 0')
    raises(TypeError, lambda: seq2seq.Training(TINY, hiden=3), 'hiden')
    r = seq2seq.Training(TINY, **OPTS)
    raises(seq2seq.Error, lambda: r.save(os.path.join(TMP, 'no', 'dir', 'm.st')), 'no/dir')
    r.close()
    raises(seq2seq.Error, lambda: r.epoch(), 'closed')
    raises(seq2seq.InputError, lambda: seq2seq.corpus_bleu(['a'], []), '1 hypotheses but 0')


def test_threads():
    sents = sentences() * 3
    with seq2seq.Translator(CLI_MODEL) as tr:
        want = tr.translate(sents, beam=3, nbest=2, batch=7)
        got, errors = [None] * 6, []

        def work(i):
            try:
                got[i] = tr.translate(sents, beam=3, nbest=2, batch=7, threads=1 + i % 2)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors and all(g == want for g in got), errors


def test_bleu_equals_cli():
    with open(TINY, encoding='utf-8') as f:
        pairs = [line.rstrip('\n').split('\t') for line in f]
    with seq2seq.Translator(CLI_MODEL) as tr:
        hyps = tr.translate([p[0] for p in pairs])
    refs = [p[1] for p in pairs]
    for name, lines in (('hyp.txt', hyps), ('ref.txt', refs)):
        with open(os.path.join(TMP, name), 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
    out = cli('bleu', '--ref', os.path.join(TMP, 'ref.txt'), os.path.join(TMP, 'hyp.txt'))
    assert f'= {seq2seq.corpus_bleu(hyps, refs):.2f} ' in out, (out, seq2seq.corpus_bleu(hyps, refs))
    out = cli('bleu', '--ref', os.path.join(TMP, 'ref.txt'), os.path.join(TMP, 'hyp.txt'), '--d2l', '2')
    mean = sum(seq2seq.bleu(h, r) for h, r in zip(hyps, refs)) / len(refs)
    assert f'= {mean:.4f}' in out, (out, mean)
    assert seq2seq.bleu('je suis chez moi .', 'je suis chez moi .') == 1.0


def test_example():
    """python/examples/d2l_seq2seq.py runs (on the tiny corpus, a few epochs) and prints d2l's lines."""
    out = os.path.join(TMP, 'ex')
    p = subprocess.run([sys.executable, 'python/examples/d2l_seq2seq.py', '--data', TINY, '--epochs', '5',
                        '--out', out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(line.startswith('loss ') and line.endswith('tokens/sec on cpu') for line in lines), p.stdout
    import re
    four = [line for line in lines if re.match(r"^(go \.|i lost \.|he's calm \.|i'm home \.) => .*, bleu [01]\.\d{3}$", line)]
    assert len(four) == 4, p.stdout
    try:
        import matplotlib  # noqa: F401
        assert os.path.exists(os.path.join(out, 'loss.png')) and os.path.exists(os.path.join(out, 'attention.png'))
    except ImportError:
        pass
    for n in os.listdir(out):
        os.unlink(os.path.join(out, n))
    os.rmdir(out)


for t in (test_example, test_version, test_train_equals_cli, test_recipe_equals_cli, test_callback_stops, test_translate_equals_cli,
          test_ensemble_equals_cli, test_packed_products_equal_cli, test_train_bf16_equals_cli, test_attention,
          test_attention_without_numpy, test_errors, test_threads, test_bleu_equals_cli):
    run(t)
for n in os.listdir(TMP):
    os.unlink(os.path.join(TMP, n))
os.rmdir(TMP)
print(f'counts: {results["pass"]} {results["fail"]} {results["skip"]}')
sys.exit(1 if results['fail'] else 0)
