"""d2l's chapter "Bahdanau Attention" (Dive into Deep Learning, PyTorch edition), cell by cell,
with the seq2seq package in place of PyTorch: the same model, configuration and numbers, ~1 s of
training instead of minutes. Each `# %%` block is one of the chapter's cells (run it as a script,
or cell by cell in an editor that knows the markers).

    python3 python/examples/d2l_seq2seq.py [--data fra.txt] [--out DIR] [--model attn|plain]

--data defaults to d2l's fra-eng corpus in the cache (`./seq2seq data fetch fra-eng` gets it);
pictures (loss curve, attention heatmap) go to --out when matplotlib is installed."""
# %% imports: where d2l imports torch and d2l, we import seq2seq
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))  # the package of this checkout, when not installed
import seq2seq  # noqa: E402

try:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
except ImportError:  # optional: everything but the pictures still runs
    plt = None

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--data', default=os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'),
                                               'seq2seq', 'fra-eng', 'fra.txt'))
ap.add_argument('--out', default='out')
ap.add_argument('--model', default='attn', choices=['attn', 'plain'])
ap.add_argument('--epochs', type=int, default=250)
args = ap.parse_args()
if not os.path.exists(args.data):
    sys.exit(f'{args.data}: not found; fetch d2l\'s corpus with ./seq2seq data fetch fra-eng, or give --data')
os.makedirs(args.out, exist_ok=True)

# %% hyperparameters (d2l: embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1;
#    batch_size, num_steps = 64, 10; lr, num_epochs = 0.005, 250), and d2l.load_data_nmt's
#    num_examples=600: the first 601 lines of the pairs file
embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
batch_size, num_steps = 64, 10
lr, num_epochs = 0.005, args.epochs

# %% train_seq2seq: the encoder, the Bahdanau decoder and d2l's loop (teacher forcing, masked
#    softmax cross-entropy, clipping, Adam). The callback gets each epoch's loss, as d2l's
#    animator does every 10 epochs.
losses = []


def on_epoch(e):
    losses.append(e.loss)
    if e.epoch % 50 == 0:
        print(f'epoch {e.epoch}: loss {e.loss:.3f}', flush=True)


run = seq2seq.train(args.data, epochs=num_epochs, callback=on_epoch, pairs=601, model=args.model, embed=embed_size,
                    hidden=num_hiddens, layers=num_layers, dropout=dropout, num_steps=num_steps, batch=batch_size,
                    lr=lr, seed=1)
last = run.history[-1]
print(f'loss {last.loss:.3f}, {last.tokens_per_sec:.1f} tokens/sec on cpu')
print(f'({run.pairs} pairs, vocabularies {run.vocab_sizes[0]} / {run.vocab_sizes[1]}, {run.parameters} parameters)')
if plt is not None:
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_xlabel('epoch'), ax.set_ylabel('loss'), ax.set_yscale('log')
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, 'loss.png'))
    print(f'{os.path.join(args.out, "loss.png")}: the loss curve')

# %% predict_seq2seq on the chapter's four sentences, with d2l's bleu (k=2)
net = run.translator(os.path.join(args.out, f'{args.model}.safetensors'))
engs = ['go .', 'i lost .', 'he\'s calm .', 'i\'m home .']
fras = ['va !', 'j\'ai perdu .', 'il est calme .', 'je suis chez moi .']
for eng, fra in zip(engs, fras):
    translation = net.translate(eng)
    print(f'{eng} => {translation}, bleu {seq2seq.bleu(translation, fra, k=2):.3f}')

# %% the attention weights of the last sentence: queries (output steps) against keys (the source
#    tokens and <eos>), as d2l.show_heatmaps draws them
if args.model == 'attn':
    att = net.attention(engs[-1])
    print(f'attention of "{engs[-1]}": {len(att.target)} output steps x {len(att.source)} source positions')
    if plt is not None:
        fig, ax = plt.subplots(figsize=(3.5, 3.5))
        im = ax.imshow(att.weights, cmap='Reds')
        ax.set_xticks(range(len(att.source)), att.source), ax.set_yticks(range(len(att.target)), att.target)
        ax.set_xlabel('Key positions'), ax.set_ylabel('Query positions')
        fig.colorbar(im, ax=ax, shrink=0.7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, 'attention.png'))
        print(f'{os.path.join(args.out, "attention.png")}: the heatmap')
net.close()
run.close()
