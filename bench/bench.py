#!/usr/bin/python3
"""Benchmarks seq2seq (C) against the PyTorch reference (tools/d2l_ref.py: d2l's model in
torch) on the same data, configuration, machine and thread count, alternating the two.

  /usr/bin/python3 bench/bench.py [--quick] [--write]      (or: make bench)
  /usr/bin/python3 bench/bench.py --families [all|FAMILY,...] [--quick] [--write]

Prints a table of target tokens/sec (training) and sentences/sec (greedy translation), the
ratios, peak resident memory (/usr/bin/time -v), and achieved GFLOP/s against the machine's
peak; --write also records it in bench/RESULTS.md. Needs Debian's python3-torch and time.
--families instead measures the model families' training (tools/families_ref.py as PyTorch)
on the d2l-size and the big configuration, each program at 1 and 2 threads, into
bench/FAMILIES.md.
"""
import argparse, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'fra-eng', 'fra.txt')
S2S = os.path.join(ROOT, 'seq2seq')
REF = [sys.executable, os.path.join(ROOT, 'tools', 'd2l_ref.py')]
FAM_REF = [sys.executable, os.path.join(ROOT, 'tools', 'families_ref.py')]
# d2l's two, then the families of tests/fixtures/fam_*: every option at least once
FAMILIES = ['gru-uni-bahdanau', 'gru-uni-none', 'lstm-uni-bahdanau', 'lstm-uni-none', 'gru-bi-bahdanau',
            'lstm-bi-none', 'gru-uni-luong-dot', 'gru-uni-luong-general-feed', 'lstm-bi-luong-general-feed',
            'gru-uni-bahdanau-tied', 'lstm-bi-luong-dot-feed-tied']
TMP = '/tmp/s2s-bench'


ENV = dict(os.environ)


def run(cmd):
    """Runs cmd under /usr/bin/time -v; returns (stdout+stderr text, peak RSS in MiB, seconds)."""
    t0 = time.time()
    p = subprocess.run(['/usr/bin/time', '-v'] + cmd, cwd=ROOT, capture_output=True, text=True, env=ENV)
    dt = time.time() - t0
    out = p.stdout + p.stderr
    if p.returncode != 0:
        sys.exit(f'bench: {" ".join(cmd)} failed ({p.returncode}):\n{out[-2000:]}')
    rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', out).group(1)) / 1024
    return out, rss, dt


def ours_train(cfg, threads, epochs, out):
    o, rss, _ = run([S2S, 'train', '--data', DATA] + cfg + ['--epochs', str(epochs), '--threads', str(threads),
                                                        '--out', out, '--log-every', '1000000'])
    m = re.search(r'(\d+) epochs, (\d+) target tokens in ([\d.]+) s of training: ([\d.]+) tokens/sec, ([\d.]+) GFLOP/s', o)
    return dict(tokens=int(m.group(2)), seconds=float(m.group(3)), tps=float(m.group(4)), gflops=float(m.group(5)),
                rss=rss, epochs=int(m.group(1)))


def ref_train(cfg, threads, epochs, out, tokens_per_epoch):
    o, rss, _ = run(REF + ['train', '--data', DATA] + cfg + ['--epochs', str(epochs), '--threads', str(threads),
                                                          '--out', out])
    secs = float(re.search(r'wall time ([\d.]+) s training', o).group(1))
    return dict(seconds=secs, tps=tokens_per_epoch * epochs / secs, rss=rss)


def ours_translate(model, start, count, batch, threads):
    o, rss, _ = run([S2S, 'eval', '--model', model, '--data', DATA, '--from', str(start), '--count', str(count),
                     '--batch', str(batch), '--threads', str(threads)])
    return dict(sps=float(re.search(r'([\d.]+) sentences/sec', o).group(1)), rss=rss)


def ref_translate(model, start, count, threads):
    o, rss, _ = run(REF + ['bench-translate', '--model', model, '--data', DATA, '--from', str(start),
                           '--count', str(count), '--threads', str(threads)])
    return dict(sps=float(re.search(r'([\d.]+) sentences/sec', o).group(1)), rss=rss)


def family_opts(name):
    """CELL-ENCODER-ATTENTION[-feed][-tied] as both programs' options."""
    cell, enc, rest = name.split('-', 2)
    att = next(a for a in ('luong-general', 'luong-dot', 'bahdanau', 'none') if rest.startswith(a))
    return (['--cell', cell, '--encoder', enc, '--attention', att] + (['--input-feed'] if '-feed' in rest else []) +
            (['--tie-embeddings'] if '-tied' in rest else []))


def fam_ref_train(cfg, threads, epochs, out, max_batches):
    """PyTorch's families_ref.py: tokens/s over the batches it trained (max_batches per epoch, 0 = all)."""
    o, rss, _ = run(FAM_REF + ['train', '--data', DATA] + cfg + ['--epochs', str(epochs), '--threads', str(threads),
                                                              '--max-batches', str(max_batches), '--out', out])
    m = re.search(r'wall time ([\d.]+) s training \(\d+ epochs, (\d+) target tokens\)', o)
    return dict(seconds=float(m.group(1)), tps=int(m.group(2)) / float(m.group(1)), rss=rss)


def bench_families(a, mc, names):
    """Training throughput of every family in both programs, 1 and 2 threads each, alternating;
    the ratio is seq2seq at its best thread count over PyTorch at its best."""
    d2l = ['--pairs', '601', '--embed', '32', '--hidden', '32', '--layers', '2', '--dropout', '0.1', '--batch', '64',
           '--steps', '10', '--lr', '0.005']
    big = ['--pairs', '20000', '--embed', '256', '--hidden', '256', '--layers', '2', '--dropout', '0.1',
           '--batch', '64', '--steps', '20', '--lr', '0.005']
    # per size and thread count (1, 2): (our epochs, PyTorch's epochs, PyTorch's batches per epoch, 0 = all).
    # PyTorch's big epoch (313 batches) lasts many minutes, so it trains on its first batches; on 2
    # threads, where it is slowest, on fewer epochs or batches. Our big run is always one whole epoch.
    runs = {'d2l': ((30, 2, 0), (30, 1, 0)) if a.quick else ((250, 10, 0), (250, 3, 0)),
            'big': ((1, 1, 4), (1, 1, 2)) if a.quick else ((1, 1, 10), (1, 1, 3))}
    sizes = [('d2l', d2l)] + ([] if a.skip_big else [('big', big)])
    # d2l's two models on the big configuration are `make bench`'s (bench/RESULTS.md): skipped here
    # unless named, to keep the run under ~40 minutes on 2 cores
    big_names = [n for n in names if a.families != 'all' or n not in FAMILIES[:2]]
    lines = []
    say = lambda s: (print(s, flush=True), lines.append(s))
    res = {}
    t0, started, load0 = time.time(), time.strftime('%Y-%m-%d %H:%M'), os.getloadavg()[0]
    for name in names:
        cfg = family_opts(name)
        for size, base in sizes:
            if size == 'big' and name not in big_names:
                continue
            for th in (1, 2):
                eo, er, mb = runs[size][th - 1]
                o = ours_train(base + cfg, th, eo, f'{TMP}/fam_ours.safetensors')
                r = fam_ref_train(base + cfg, th, er, f'{TMP}/fam_ref.safetensors', mb)
                res[(name, size, th)] = (o, r)
                print(f'  {name} {size} threads {th}: ours {o["tps"]:.0f} tok/s, '
                      f'PyTorch {r["tps"]:.0f} tok/s (load {os.getloadavg()[0]:.1f})', flush=True)
    args = ''.join(f' --env {kv}' for kv in a.env) + (' --quick' if a.quick else '')
    args += '' if a.families == 'all' else f' {a.families}'
    d, b = runs['d2l'], runs['big']
    say(f'Machine: {mc["name"]}, {mc["cores"]} cores; our products: {gemm_backend()}; OpenBLAS core type {mc["blas"]}.')
    say(f'Run: {started}, `/usr/bin/python3 bench/bench.py --families{args}` ({(time.time() - t0) / 60:.0f} min); '
        f'load average (1 min) {load0:.1f} before it and {os.getloadavg()[0]:.1f} after, on {mc["cores"]} CPUs: '
        'other jobs shared the machine. One run per cell, the two programs alternating.')
    say(f'Training throughput in target tokens/s. d2l-size: the d2l configuration (601 pairs, embed and hidden 32, '
        f'2 layers, batch 64, 10 steps), seq2seq {d[0][0]} epochs, PyTorch (tools/families_ref.py) {d[0][1]} epochs '
        f'on 1 thread and {d[1][1]} on 2; big: 20,000 pairs, embed and hidden 256, 20 steps, seq2seq one epoch '
        f'(313 batches), PyTorch its first {b[0][2]} batches on 1 thread and {b[1][2]} on 2 (its whole epoch lasts '
        'many minutes). The ratio is each program at its best thread count; goals 20x (d2l-size) and 3x (big). '
        + ('' if big_names == names else
           'd2l\'s two models on the big configuration: `make bench` (bench/RESULTS.md).'))
    say('')
    head = '| family |'
    for size, _ in sizes:
        head += f' {size}: seq2seq 1 / 2 threads | PyTorch 1 / 2 threads | ratio |'
    say(head)
    say('|' + ' --- |' * (1 + 3 * len(sizes)))
    for name in names:
        row = f'| {name} |'
        for size, _ in sizes:
            if (name, size, 1) not in res:
                row += ' | | see RESULTS.md |'
                continue
            o1, r1 = res[(name, size, 1)]; o2, r2 = res[(name, size, 2)]
            ob, rb = max(o1['tps'], o2['tps']), max(r1['tps'], r2['tps'])
            goal = 20 if size == 'd2l' else 3
            row += (f' {o1["tps"]:,.0f} / {o2["tps"]:,.0f} | {r1["tps"]:,.0f} / {r2["tps"]:,.0f} | '
                    f'{ob / rb:.1f}x{"" if ob / rb >= goal else " (below " + str(goal) + "x)"} |')
        say(row)
    if a.write:
        path = os.path.join(ROOT, 'bench', a.families_results)
        with open(path, 'w') as f:
            f.write('# Benchmark results: the model families\n\nWritten by `bench/bench.py --families --write`; '
                    'see bench/README.md for what is measured.\n\n')
            f.write('\n'.join(lines) + '\n')
        print(f'wrote {path}')


# ---- the recipe for real data (issue 14): bench/RECIPE.md's configuration against d2l's word-level
# pipeline at the same hidden size, both on the whole training split of fra-eng

RECIPE = ['--tokenizer', 'spm', '--vocab-size', '8000', '--spm-joint', '--encoder', 'bi', '--cell', 'gru',
          '--attention', 'bahdanau', '--embed', '256', '--hidden', '256', '--layers', '2', '--dropout', '0.2',
          '--batch-tokens', '4000', '--max-len', '50', '--label-smoothing', '0.1', '--lr', '0.003',
          '--lr-schedule', 'inverse-sqrt', '--warmup', '500']
WORD = ['--model', 'attn', '--embed', '256', '--hidden', '256', '--layers', '2', '--dropout', '0.2', '--batch', '64',
        '--steps', '20', '--lr', '0.002']


def split_data():
    """The held-out rule of bench/RECIPE.md: 2,000 pairs, repeated sides left out of training."""
    train, valid = f'{TMP}/fra.train.tsv', f'{TMP}/fra.valid.tsv'
    if not (os.path.exists(train) and os.path.exists(valid)):
        run([S2S, 'data', 'split', DATA, '--valid-pairs', '2000', '--train', train, '--valid', valid, '--quiet'])
    return train, valid


def timed_train(cfg, train, seconds, out, gemm=None):
    """Trains for `seconds` of wall time (--max-time; SentencePiece's own training comes first and is
    not in the training loop's figures); the loop's target tokens/s and pairs/s. gemm: S2S_GEMM's value
    (None: the default, float)."""
    pre = ['env', f'S2S_GEMM={gemm}'] if gemm else []
    o, rss, _ = run(pre + [S2S, 'train', '--data', train, '--pairs', '0', '--threads', '2', '--epochs', '1000',
                     '--max-time', str(seconds), '--out', out, '--log-every', '1000000'] + cfg)
    m = re.search(r'target tokens in ([\d.]+) s of training: ([\d.]+) tokens/sec, ([\d.]+) GFLOP/s.*, ([\d.]+) pairs/sec', o)
    return dict(seconds=float(m.group(1)), tps=float(m.group(2)), gflops=float(m.group(3)), pps=float(m.group(4)),
                rss=rss)


def with_hidden(cfg, hidden):
    """cfg with --hidden set to `hidden` (both pipelines are compared at the same hidden size)."""
    i = cfg.index('--hidden')
    return cfg[:i + 1] + [str(hidden)] + cfg[i + 2:]


def recipe_bench(a, say):
    train, valid = split_data()
    recipe, word = with_hidden(RECIPE, a.recipe_hidden), with_hidden(WORD, a.recipe_hidden)
    secs = 60 if a.quick else 180
    spm_model = f'{TMP}/recipe.safetensors'

    def has(g):
        return subprocess.run([S2S, 'version'], env=dict(ENV, S2S_GEMM=g), capture_output=True).returncode == 0
    rec, wrd, rbf = [], [], []
    for _ in range(1 if a.quick else 2):  # alternate: recipe, word-level, recipe in bf16, and again
        rec.append(timed_train(recipe, train, secs + 60, spm_model))  # + SentencePiece's 5-40 s
        wrd.append(timed_train(word, train, secs, f'{TMP}/word.safetensors'))
        if has('bf16'):  # the recipe with every training product in bfloat16 (mixed precision)
            rbf.append(timed_train(recipe, train, secs + 60, f'{TMP}/recipe_bf16.safetensors', 'bf16'))
    r, w = max(rec, key=lambda x: x['tps']), max(wrd, key=lambda x: x['tps'])
    model = a.recipe_model or spm_model
    # beam 5 as eval's defaults bound the length (the model's --steps) and at 2x the source, in float and
    # with the step products in bfloat16 or 8-bit integers (S2S_GEMM=bf16 / int8, where the CPU has them;
    # int8 in batches of 16: smaller batches keep a step's logits and the 8-bit weights in cache)
    variants = [(g, batch, ratio) for g, batch in (('float', 64), ('bf16', 64), ('int8', 16))
                if g == 'float' or has(g) for ratio in (None, '2')]
    runs = [[] for _ in variants]
    for _ in range(1 if a.quick else 3):
        for (g, batch, ratio), into in zip(variants, runs):
            pre = [] if g == 'float' else ['env', f'S2S_GEMM={g}']
            extra = ['--max-len-ratio', ratio] if ratio else []
            o, rss, _ = run(pre + [S2S, 'eval', '--model', model, '--data', valid, '--count', '2000', '--beam', '5',
                                   '--threads', '2', '--batch', str(batch)] + extra)
            into.append(dict(sps=float(re.search(r'([\d.]+) sentences/sec', o).group(1)),
                             bleu=float(re.search(r'corpus BLEU[^\d]*([\d.]+)', o).group(1)), rss=rss))
    best = [max(r, key=lambda x: x['sps']) for r in runs]
    say('')
    say(f'The recipe (bench/RECIPE.md) against d2l\'s word-level pipeline, hidden {a.recipe_hidden}, 2 threads, the whole '
        f'training split of fra-eng ({secs} s of training each; best of {len(rec)} alternating runs):')
    say('')
    say('| pipeline | target tokens/s | pairs/s | GFLOP/s | peak RSS |')
    say('| --- | --- | --- | --- | --- |')
    say(f'| recipe: SentencePiece 8,000 joint, bi-GRU, batches of 4,000 tokens | {r["tps"]:,.0f} | {r["pps"]:,.0f} | '
        f'{r["gflops"]:.1f} | {r["rss"]:.0f} MiB |')
    say(f'| d2l words (17,851-word output), batches of 64 at 20 steps | {w["tps"]:,.0f} | {w["pps"]:,.0f} | '
        f'{w["gflops"]:.1f} | {w["rss"]:.0f} MiB |')
    say(f'| ratio | {r["tps"] / w["tps"]:.2f}x | {r["pps"] / w["pps"]:.2f}x | | |')
    if rbf:
        b = max(rbf, key=lambda x: x['tps'])
        say(f'| recipe with S2S_GEMM=bf16 (every product in bfloat16) | {b["tps"]:,.0f} | {b["pps"]:,.0f} | '
            f'{b["gflops"]:.1f} | {b["rss"]:.0f} MiB |')
        say(f'| bf16 against the recipe in float; against the word-level pipeline | {b["tps"] / r["tps"]:.2f}x; '
            f'{b["tps"] / w["tps"]:.2f}x | {b["pps"] / r["pps"]:.2f}x; {b["pps"] / w["pps"]:.2f}x | | |')
    say('')
    which = a.recipe_model or f'the {secs + 60} s bench model (undertrained: compare speeds only)'
    say(f'Beam 5 (alpha 1), 2 threads, the 2,000 held-out sentences, model {which} (best of {len(runs[0])}; goal '
        '2,000 sentences/s):')
    say('')
    say('| products (S2S_GEMM) | --batch | length limit | sentences/s | corpus BLEU | peak RSS |')
    say('| --- | --- | --- | --- | --- | --- |')
    for (g, batch, ratio), t in zip(variants, best):
        limit = 'twice the source (--max-len-ratio 2)' if ratio else "the model's --steps (eval's default)"
        say(f'| {g} | {batch} | {limit} | {t["sps"]:,.0f} | {t["bleu"]:.2f} | {t["rss"]:.0f} MiB |')


def measured_ghz(threads):
    """The clock the cores actually run at under our load: cycles / task-clock from perf stat over
    a short d2l training run (None when perf cannot count cycles here)."""
    cmd = ['perf', 'stat', '-x,', '-e', 'cycles,task-clock', S2S, 'train', '--data', DATA, '--epochs', '60',
           '--threads', str(threads), '--out', f'{TMP}/clock.safetensors', '--quiet']
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=ENV)
    except OSError:
        return None
    cycles = msec = None
    for line in p.stderr.splitlines():
        f = line.split(',')
        if len(f) > 2 and f[2].startswith('cycles') and f[0].replace('.', '').isdigit():
            cycles = float(f[0])
        if len(f) > 2 and f[2].startswith('task-clock') and f[0].replace('.', '').isdigit():
            msec = float(f[0])
    return cycles / (msec * 1e6) if p.returncode == 0 and cycles and msec else None


def machine():
    name = 'unknown'
    with open('/proc/cpuinfo') as f:
        info = f.read()
    m = re.search(r'model name\s*: (.*)', info)
    if m:
        name = m.group(1).strip()
    mhz = float(re.search(r'cpu MHz\s*: ([\d.]+)', info).group(1))
    flags = re.search(r'flags\s*: (.*)', info).group(1).split()
    fam = re.search(r'cpu family\s*: (\d+)', info)
    width = 16 if 'avx512f' in flags else 8 if 'avx2' in flags else 4
    cores = os.cpu_count()
    ghz = {th: measured_ghz(th) for th in (1, 2)}
    clock = {th: ghz[th] or mhz / 1000 for th in (1, 2)}
    # cores x FMA units x SIMD floats x 2 x GHz, at the clock measured with that many threads busy
    peak = {th: th * 2 * width * 2 * clock[th] for th in (1, 2)}
    return dict(name=name, family=fam.group(1) if fam else '?', mhz=mhz, cores=cores, width=width,
                ghz=ghz, clock=clock, peak=peak, machine_peak=cores * 2 * width * 2 * clock[2])


def gemm_backend():
    if ENV.get('S2S_GEMM') == 'blas':
        return 'OpenBLAS (S2S_GEMM=blas)'
    with open('/proc/cpuinfo') as f:
        avx512 = 'avx512f' in f.read()
    return 'our AVX-512 kernel (src/s2s_kernel.c)' if avx512 else 'OpenBLAS (no AVX-512 here)'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true', help='fewer epochs and sentences (a smoke run)')
    ap.add_argument('--write', action='store_true', help='record the results in bench/RESULTS.md')
    ap.add_argument('--skip-big', action='store_true')
    ap.add_argument('--skip-recipe', action='store_true', help='leave out the recipe (issue 14) section')
    ap.add_argument('--recipe-only', action='store_true', help='only the recipe section')
    ap.add_argument('--recipe-model', help='a trained recipe model for the translation figure (bench/RECIPE.md)')
    ap.add_argument('--recipe-hidden', type=int, default=256,
                    help='the hidden size of both pipelines in the recipe section (256: bench/RECIPE.md\'s run)')
    ap.add_argument('--env', action='append', default=[], metavar='NAME=VALUE',
                    help='set in the environment of both programs (e.g. OPENBLAS_CORETYPE=SkylakeX)')
    ap.add_argument('--results', default='RESULTS.md', help='file under bench/ that --write writes')
    ap.add_argument('--families', nargs='?', const='all', metavar='all|FAMILY,...',
                    help='benchmark the model families\' training instead (CELL-ENCODER-ATTENTION[-feed][-tied])')
    ap.add_argument('--families-results', default='FAMILIES.md', help='file under bench/ that --families --write writes')
    a = ap.parse_args()
    for kv in a.env:
        k, _, v = kv.partition('=')
        ENV[k] = v
    if not os.path.exists(DATA):
        sys.exit(f'bench: {DATA} not found (the fra-eng corpus; see README)')
    os.makedirs(TMP, exist_ok=True)
    mc = machine()  # (runs two short trainings under perf stat for the clock)
    mc['blas'] = ENV.get('OPENBLAS_CORETYPE', 'auto')
    if a.families:
        names = FAMILIES if a.families == 'all' else a.families.split(',')
        for n in names:  # a bad name stops here, before any run
            try:
                family_opts(n)
            except (ValueError, StopIteration):
                sys.exit(f'bench: --families: {n!r} is not CELL-ENCODER-ATTENTION[-feed][-tied]')
        return bench_families(a, mc, names)
    rows, lines = [], []
    say = lambda s: (print(s, flush=True), lines.append(s))

    d2l = ['--model', 'attn', '--pairs', '601', '--embed', '32', '--hidden', '32', '--layers', '2',
           '--dropout', '0.1', '--batch', '64', '--steps', '10', '--lr', '0.005']
    big = ['--model', 'attn', '--pairs', '20000', '--embed', '256', '--hidden', '256', '--layers', '2',
           '--dropout', '0.1', '--batch', '64', '--steps', '20', '--lr', '0.005']
    ep_ours, ep_ref, reps = (30, 10, 1) if a.quick else (250, 40, 2)
    if not a.recipe_only:
        results = {}
        for name, cfg, eo, er, rp in [('d2l', d2l, ep_ours, ep_ref, reps)] + ([] if a.skip_big else [('big', big, 1, 1, 1)]):
            for th in (1, 2):
                o_runs, r_runs = [], []
                for _ in range(rp):  # alternate: ours, PyTorch, ours, PyTorch
                    o = ours_train(cfg, th, eo, f'{TMP}/{name}_ours_t{th}.safetensors')
                    o_runs.append(o)
                    r_runs.append(ref_train(cfg, th, er, f'{TMP}/{name}_ref_t{th}.safetensors', o['tokens'] / o['epochs']))
                o = max(o_runs, key=lambda r: r['tps']); r = max(r_runs, key=lambda r: r['tps'])
                results[(name, th)] = (o, r)
                print(f'  {name} threads {th}: ours {o["tps"]:.0f} tok/s ({o["gflops"]:.1f} GFLOP/s, {o["rss"]:.0f} MiB), '
                      f'PyTorch {r["tps"]:.0f} tok/s ({r["rss"]:.0f} MiB)', flush=True)
        # translation: the same trained weights (our d2l model file) in both programs, held-out lines
        model = f'{TMP}/d2l_ours_t1.safetensors'
        count = 200 if a.quick else 1000
        tr = {}
        # a batched run of 1,000 sentences lasts a few milliseconds: best of 5 alternating rounds
        # (PyTorch's one-at-a-time runs last ~0.5 s: best of its first 3)
        reps_tr = 1 if a.quick else 5
        best = lambda runs: max(runs, key=lambda r: r['sps'])
        for th in (1, 2):
            ones, refs, bats = [], [], []
            for k in range(reps_tr):
                ones.append(ours_translate(model, 1000, count, 1, th))
                if k < 3:
                    refs.append(ref_translate(model, 1000, count, th))
                bats.append(ours_translate(model, 1000, count, 256, th))
            one, ref, batched = best(ones), best(refs), best(bats)
            tr[th] = (one, ref, batched)
            print(f'  translate threads {th}: ours one-by-one {one["sps"]:.0f}/s, batched {batched["sps"]:.0f}/s, '
                  f'PyTorch {ref["sps"]:.0f}/s', flush=True)

        clk = ('measured by perf stat under our training load: ' +
               ', '.join(f'{mc["ghz"][th]:.2f} GHz with {th} busy' for th in (1, 2))
               if mc['ghz'][1] and mc['ghz'][2] else 'perf cannot count cycles here: nominal clock used')
        say(f'Machine: {mc["name"]} (family {mc["family"]}), {mc["cores"]} cores, {mc["mhz"]:.0f} MHz nominal '
            f'({clk}); OpenBLAS core type {mc["blas"]}; our products: {gemm_backend()}.')
        say(f'Peak = cores x 2 FMA units x {mc["width"]} floats x 2 x clock = {mc["machine_peak"]:.1f} GFLOP/s for the '
            f'machine ({mc["peak"][1]:.1f} for one core); the GFLOP/s column compares with the peak of the cores the run used.')
        args = ''.join(f' --env {kv}' for kv in a.env) + (' --quick' if a.quick else '')
        say(f'Run: {time.strftime("%Y-%m-%d %H:%M")}, `/usr/bin/python3 bench/bench.py{args}`; '
            f'best of {reps} alternating runs per cell.')
        say('')
        say('| config | threads | seq2seq tokens/s | PyTorch tokens/s | ratio | ratio vs PyTorch best threads | seq2seq GFLOP/s (% of peak) | peak RSS seq2seq / PyTorch |')
        say('| --- | --- | --- | --- | --- | --- | --- | --- |')
        for name in ('d2l', 'big'):
            if (name, 1) not in results:
                continue
            best_ref = max(results[(name, th)][1]['tps'] for th in (1, 2))
            for th in (1, 2):
                o, r = results[(name, th)]
                say(f'| {name} | {th} | {o["tps"]:,.0f} | {r["tps"]:,.0f} | {o["tps"] / r["tps"]:.1f}x | '
                    f'{o["tps"] / best_ref:.1f}x | {o["gflops"]:.1f} ({100 * o["gflops"] / mc["peak"][th]:.0f}% of '
                    f'{th} core{"s" if th > 1 else ""}; {100 * o["gflops"] / mc["machine_peak"]:.0f}% of the machine) | '
                    f'{o["rss"]:.0f} / {r["rss"]:.0f} MiB |')
        say('')
        say(f'Greedy translation of {count} held-out sentences (lines 1000..{999 + count}), the same weights in both; '
            f'best of {reps_tr} alternating rounds (PyTorch: of {min(reps_tr, 3)}):')
        say('')
        say('| threads | seq2seq one at a time | seq2seq batched (256) | PyTorch one at a time (d2l predict_seq2seq) | ratio one-by-one | batched / one-by-one | batched / PyTorch |')
        say('| --- | --- | --- | --- | --- | --- | --- |')
        best_ref = max(tr[th][1]['sps'] for th in (1, 2))
        for th in (1, 2):
            one, ref, b = tr[th]
            say(f'| {th} | {one["sps"]:,.0f}/s | {b["sps"]:,.0f}/s | {ref["sps"]:,.0f}/s | {one["sps"] / ref["sps"]:.1f}x '
                f'(vs best threads {one["sps"] / best_ref:.1f}x) | {b["sps"] / one["sps"]:.1f}x | '
                f'{b["sps"] / ref["sps"]:.0f}x (vs best threads {b["sps"] / best_ref:.0f}x) |')
    if not a.skip_recipe:
        recipe_bench(a, say)
    if a.write:
        path = os.path.join(ROOT, 'bench', a.results)
        with open(path, 'w') as f:
            f.write('# Benchmark results\n\nWritten by `bench/bench.py --write`; see bench/README.md for what is measured.\n\n')
            f.write('\n'.join(lines) + '\n')
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
