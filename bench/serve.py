#!/usr/bin/python3
"""Benchmarks `seq2seq serve` under bounded load on loopback against the batched CLI, on the same
model and the same sentences.

  /usr/bin/python3 bench/serve.py [--quick] [--big] [--write]      (or: make bench-serve)

The load is wrk (Debian's, one thread) with bench/serve.lua: closed-loop clients (1, 8, 64
connections), each sending POST /v1/translate with K held-out sentences (lines 1000..1999 of
d2l's fra-eng) in turn, for a fixed time per cell; the run stops by itself. Reported:
sentences/s and wrk's p50/p99 request latency, from the best of 3 rounds of each cell. The
CLI's figure is `seq2seq eval --batch 64`'s sentences/s (greedy, batched, the translation alone
timed, no scores), best of 5 rounds, for 1 and 2 threads. The server runs with --threads 1 and
2, --max-batch 64, --max-delay-ms 5 (and computes every sentence's score).
--big also runs the README's bigger model (hidden 256, trained here first: ~2 minutes).
--write records the tables in bench/SERVE.md. Run it alone: it measures speed.
"""
import argparse, os, re, shutil, signal, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'fra-eng', 'fra.txt')
S2S = os.path.join(ROOT, 'seq2seq')
LUA = os.path.join(ROOT, 'bench', 'serve.lua')
TMP = '/tmp/s2s-bench-serve'
BIG = ['--pairs', '20000', '--embed', '256', '--hidden', '256', '--layers', '2', '--dropout', '0.2',
       '--batch', '64', '--steps', '20', '--lr', '0.002', '--epochs', '12', '--threads', '2', '--seed', '1']


def sh(cmd, **kw):
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f'bench-serve: {" ".join(cmd)} failed ({p.returncode}):\n{(p.stdout + p.stderr)[-2000:]}')
    return p.stdout + p.stderr


def model(name, cfg):
    path = f'{TMP}/{name}.safetensors'
    if not os.path.exists(path):
        print(f'training the {name} model ...', flush=True)
        sh([S2S, 'train', '--data', DATA, '--quiet', '--out', path] + cfg)
    return path


def cli_sps(path, threads, rounds):
    best = 0.0
    for _ in range(rounds):
        o = sh([S2S, 'eval', '--model', path, '--data', DATA, '--from', '1000', '--count', '1000', '--batch', '64',
                '--threads', str(threads)])
        best = max(best, float(re.search(r'([\d.]+) sentences/sec', o).group(1)))
    return best


class Server:
    def __init__(self, path, threads):
        self.p = subprocess.Popen([S2S, 'serve', '--model', path, '--port', '0', '--threads', str(threads),
                                   '--max-batch', '64', '--max-delay-ms', '5', '--quiet'], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        self.url = self.p.stdout.readline().strip()
        if not self.url.startswith('http://'):
            self.stop()
            sys.exit('bench-serve: the server did not start')

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                sys.exit('bench-serve: the server did not stop on SIGTERM')
            if rc != 0:
                sys.exit(f'bench-serve: the server exited {rc} on SIGTERM')


def wrk(url, clients, seconds, inputs, k):
    o = sh(['wrk', '-t', '1', '-c', str(clients), '-d', f'{seconds}s', '--timeout', '10s', '-s', LUA, url, '--',
            inputs, str(k)])
    m = re.search(r'result requests=(\d+) seconds=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)', o)
    if not m:
        sys.exit(f'bench-serve: no result from wrk:\n{o[-1500:]}')
    req, secs, p50, p99, err = int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)), int(m.group(5))
    if err:
        sys.exit(f'bench-serve: {err} failed requests at {clients} clients')
    return dict(sps=req * k / secs, rps=req / secs, p50=p50, p99=p99)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='1 s a cell, 2 CLI rounds (a smoke run)')
    ap.add_argument('--big', action='store_true', help='also the bigger model (trains it first)')
    ap.add_argument('--write', action='store_true', help='record the results in bench/SERVE.md')
    a = ap.parse_args()
    for need in (S2S, DATA):
        if not os.path.exists(need):
            sys.exit(f'bench-serve: {need} is missing (make; ./seq2seq data fetch fra-eng)')
    if not shutil.which('wrk'):
        sys.exit('bench-serve: wrk is not installed (Debian package wrk)')
    os.makedirs(TMP, exist_ok=True)
    seconds, rounds, cell_rounds = (1, 2, 1) if a.quick else (3, 5, 3)
    inputs = f'{TMP}/inputs.txt'
    with open(DATA, encoding='utf-8') as f, open(inputs, 'w', encoding='utf-8') as o:
        lines = f.read().split('\n')[1000:2000]
        o.write(''.join(l.split('\t')[0] + '\n' for l in lines))
    models = [('d2l', model('d2l', []))] + ([('big', model('big', BIG))] if a.big else [])
    out = []
    say = lambda s: (print(s, flush=True), out.append(s))
    say(f'Run: {time.strftime("%Y-%m-%d %H:%M")}, `/usr/bin/python3 bench/serve.py{" --big" if a.big else ""}`; '
        f'best of {cell_rounds} rounds of {seconds} s of load a cell (wrk, one thread, closed loop), the CLI best '
        f'of {rounds} rounds; load average before the run {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.\n')
    for name, path in models:
        cli = {t: cli_sps(path, t, rounds) for t in (1, 2)}
        best_cli = max(cli.values())
        say(f'### {name} model: batched CLI (`eval --batch 64`) {cli[1]:,.0f} sentences/s on 1 thread, '
            f'{cli[2]:,.0f} on 2\n')
        say('| server threads | sentences a request | clients | sentences/s | requests/s | p50 ms | p99 ms | '
            'vs the CLI at its best |')
        say('| --- | --- | --- | --- | --- | --- | --- | --- |')
        for threads in (1, 2):
            srv = Server(path, threads)
            try:
                wrk(srv.url, 8, 1, inputs, 1)  # warm up
                for k in (1, 16):
                    for clients in (1, 8, 64):
                        r = max((wrk(srv.url, clients, seconds, inputs, k) for _ in range(cell_rounds)),
                                key=lambda r: r['sps'])
                        say(f'| {threads} | {k} | {clients} | {r["sps"]:,.0f} | {r["rps"]:,.0f} | {r["p50"]:.3f} | '
                            f'{r["p99"]:.3f} | {100 * r["sps"] / best_cli:.0f}% |')
            finally:
                srv.stop()
        say('')
    if a.write:
        with open(os.path.join(ROOT, 'bench', 'SERVE.md'), 'w') as f:
            f.write('# `seq2seq serve` under load\n\nWritten by `bench/serve.py --write` (`make bench-serve`); '
                    'see its header for what is measured.\n\n' + '\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
