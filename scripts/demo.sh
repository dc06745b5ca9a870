#!/usr/bin/env bash
# The chapter's run: train d2l's attention model on the first 601 English-French pairs,
# translate the four sentences with BLEU (k=2), draw the loss curve and an attention heatmap.
# Usage: scripts/demo.sh [PAIRS.tsv]   (default: the fra-eng corpus, fetched if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-}
if [ -z "$data" ]; then
  if [ -f ../shared/data/fra-eng/fra.txt ]; then data=../shared/data/fra-eng/fra.txt
  else data=$(./seq2seq data fetch fra-eng); fi  # downloads d2l's fra-eng.zip into ~/.cache/seq2seq once
fi
mkdir -p out
echo "== training d2l's Bahdanau-attention model on $data (601 pairs, 250 epochs)"
./seq2seq train --data "$data" --model attn --epochs 250 --out out/attn.safetensors --plot out/loss.png
echo "== translating"
printf '%s\t%s\n' "go ." "va !" "i lost ." "j'ai perdu ." "he's calm ." "il est calme ." "i'm home ." "je suis chez moi ." \
  | ./seq2seq translate --model out/attn.safetensors --with-ref
./seq2seq attention --model out/attn.safetensors "i'm home ." -o out/attention.png >/dev/null
echo "== pictures: out/loss.png (training loss), out/attention.png (attention heatmap)"
