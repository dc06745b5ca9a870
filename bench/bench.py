#!/usr/bin/python3
"""Benchmarks seq2seq (C) against the PyTorch reference (tools/d2l_ref.py: d2l's model in
torch) on the same data, configuration, machine and thread count, alternating the two.

  /usr/bin/python3 bench/bench.py [--quick] [--write]      (or: make bench)

Prints a table of target tokens/sec (training) and sentences/sec (greedy translation), the
ratios, peak resident memory (/usr/bin/time -v), and achieved GFLOP/s against the machine's
peak; --write also records it in bench/RESULTS.md. Needs Debian's python3-torch and time.
"""
import argparse, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'fra-eng', 'fra.txt')
S2S = os.path.join(ROOT, 'seq2seq')
REF = [sys.executable, os.path.join(ROOT, 'tools', 'd2l_ref.py')]
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
    ap.add_argument('--env', action='append', default=[], metavar='NAME=VALUE',
                    help='set in the environment of both programs (e.g. OPENBLAS_CORETYPE=SkylakeX)')
    ap.add_argument('--results', default='RESULTS.md', help='file under bench/ that --write writes')
    a = ap.parse_args()
    for kv in a.env:
        k, _, v = kv.partition('=')
        ENV[k] = v
    if not os.path.exists(DATA):
        sys.exit(f'bench: {DATA} not found (the fra-eng corpus; see README)')
    os.makedirs(TMP, exist_ok=True)
    mc = machine()  # (runs two short trainings under perf stat for the clock)
    mc['blas'] = ENV.get('OPENBLAS_CORETYPE', 'auto')
    rows, lines = [], []
    say = lambda s: (print(s, flush=True), lines.append(s))

    d2l = ['--model', 'attn', '--pairs', '601', '--embed', '32', '--hidden', '32', '--layers', '2',
           '--dropout', '0.1', '--batch', '64', '--steps', '10', '--lr', '0.005']
    big = ['--model', 'attn', '--pairs', '20000', '--embed', '256', '--hidden', '256', '--layers', '2',
           '--dropout', '0.1', '--batch', '64', '--steps', '20', '--lr', '0.005']
    ep_ours, ep_ref, reps = (30, 10, 1) if a.quick else (250, 40, 2)
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
    if a.write:
        path = os.path.join(ROOT, 'bench', a.results)
        with open(path, 'w') as f:
            f.write('# Benchmark results\n\nWritten by `bench/bench.py --write`; see bench/README.md for what is measured.\n\n')
            f.write('\n'.join(lines) + '\n')
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
