#!/usr/bin/python3
"""One family's d2l-size training, best of N alternating rounds (for a shared, noisy machine, where
bench.py --families's one run per cell catches load spikes):

  /usr/bin/python3 bench/families_best.py FAMILY ROUNDS [OLD_SEQ2SEQ]

Each round trains ours (./seq2seq, 250 epochs) at 1 and 2 threads, OLD_SEQ2SEQ (another build,
optional) the same, and PyTorch (tools/families_ref.py, 10 epochs on 1 thread, 3 on 2); the
options are bench.py's. Prints every run, each program's best, and the ratio of the bests (each
program at its best thread count), as bench.py does for one run."""
import sys, os, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as bb
fam, rounds = sys.argv[1], int(sys.argv[2])
old = sys.argv[3] if len(sys.argv) > 3 else None
d2l = ['--pairs', '601', '--embed', '32', '--hidden', '32', '--layers', '2', '--dropout', '0.1', '--batch', '64',
       '--steps', '10', '--lr', '0.005']
cfg = d2l + bb.family_opts(fam)
os.makedirs(bb.TMP, exist_ok=True)
best = {}
def put(k, v):
    best.setdefault(k, []).append(v)
load0 = os.getloadavg()[0]
for r in range(rounds):
    for th in (1, 2):
        put(('new', th), bb.ours_train(cfg, th, 250, f'{bb.TMP}/b_new.st')['tps'])
        if old:
            s = bb.S2S; bb.S2S = old
            put(('old', th), bb.ours_train(cfg, th, 250, f'{bb.TMP}/b_old.st')['tps'])
            bb.S2S = s
        put(('torch', th), bb.fam_ref_train(cfg, th, 10 if th == 1 else 3, f'{bb.TMP}/b_ref.st', 0)['tps'])
for k in sorted(best): print(fam, k, 'best %.0f' % max(best[k]), 'all', ' '.join('%.0f' % x for x in best[k]))
bn = max(max(best[('new', 1)]), max(best[('new', 2)]))
bt = max(max(best[('torch', 1)]), max(best[('torch', 2)]))
line = f'{fam}: best ours {bn:,.0f}, best PyTorch {bt:,.0f}: {bn / bt:.1f}x'
if old:
    bo = max(max(best[('old', 1)]), max(best[('old', 2)]))
    line += f'; old build best {bo:,.0f} ({bo / bt:.1f}x), new/old {bn / bo:.2f}'
print(line, f'(load {load0:.1f} before, {os.getloadavg()[0]:.1f} after, {time.strftime("%H:%M")})')
