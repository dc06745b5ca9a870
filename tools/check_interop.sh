#!/usr/bin/env bash
# Checks that model files move both ways between seq2seq and d2l's model in PyTorch
# (needs Debian's python3-torch; not part of CI, which uses the committed PyTorch-written
# model in tests/test_checkpoint.c instead):
#  1. seq2seq trains attention and plain models and saves them;
#  2. tools/d2l_ref.py loads each into d2l's modules with load_state_dict(strict=True) and
#     translates a list of sentences greedily;
#  3. seq2seq translates the same sentences from the same files: the outputs must be identical.
# Usage: tools/check_interop.sh [PAIRS.tsv]   (default: ../shared/data/fra-eng/fra.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/fra-eng/fra.txt}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sentences=("go ." "i lost ." "he's calm ." "i'm home ." "i'm sad ." "he ran ." "we won ." "i'm ok ."
           "help me ." "get out !" "i can swim ." "who are you ?" "it's me ." "be nice ." "i'm tired .")
status=0
for kind in attn plain; do
  epochs=250; [ $kind = plain ] && epochs=300
  ./seq2seq train --data "$data" --model $kind --epochs $epochs --out "$tmp/$kind.safetensors" --quiet >/dev/null
  ours=$(./seq2seq translate --model "$tmp/$kind.safetensors" "${sentences[@]}")
  theirs=$(/usr/bin/python3 tools/d2l_ref.py translate --model "$tmp/$kind.safetensors" "${sentences[@]}" | sed 's/^.* => //')
  if [ "$ours" = "$theirs" ]; then
    echo "$kind: PyTorch (strict load) and seq2seq agree on all ${#sentences[@]} sentences"
  else
    echo "$kind: outputs differ:"; diff <(echo "$ours") <(echo "$theirs") || true; status=1
  fi
done
exit $status
