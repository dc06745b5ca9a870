#!/usr/bin/env bash
# Checks that model files move both ways between seq2seq and the PyTorch reference (needs
# Debian's python3-torch; not part of CI, which uses the committed PyTorch-written model in
# tests/test_checkpoint.c and the fixtures instead). For each model family asked for:
#  1. seq2seq trains a model of that family on the pairs file and saves it;
#  2. the PyTorch reference loads it with load_state_dict(strict=True) and translates a list
#     of sentences greedily: tools/d2l_ref.py (d2l's modules) for attn and plain, and
#     tools/families_ref.py for every family (attn and plain too);
#  3. seq2seq translates the same sentences from the same file: the outputs must be identical.
# spm is d2l's attention model with SentencePiece (--tokenizer spm, 2000 pairs, cased
# sentences): tools/d2l_ref.py then reads the tokenizers from the file with Python's
# sentencepiece.
#
# Usage: tools/check_interop.sh [PAIRS.tsv] [FAMILY...]
#   PAIRS.tsv  default ../shared/data/fra-eng/fra.txt (d2l's first 600 pairs are used)
#   FAMILY     attn | plain | spm (d2l's two models, and attn with SentencePiece; the default: all three)
#              CELL-ENCODER-ATTENTION[-feed][-tied], e.g. lstm-uni-bahdanau, gru-bi-none,
#                gru-uni-luong-dot, lstm-bi-luong-general-feed-tied: seq2seq's options
#                --cell CELL --encoder ENCODER --attention ATTENTION [--input-feed]
#                [--tie-embeddings]
#              all: attn, plain, spm and every CELL-ENCODER-ATTENTION[-feed] combination, each
#                also -tied (51 models; about 5 s each)
# Prints one line per family and exits non-zero if any family differs or fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
data=../shared/data/fra-eng/fra.txt
families=()
for arg in "$@"; do
  if [ -f "$arg" ]; then data=$arg; else families+=("$arg"); fi
done
[ ${#families[@]} -eq 0 ] && families=(attn plain spm)
if [ "${families[*]}" = all ]; then
  families=(attn plain spm)
  for cell in gru lstm; do
    for enc in uni bi; do
      for att in none bahdanau luong-dot luong-general luong-dot-feed luong-general-feed; do
        families+=("$cell-$enc-$att" "$cell-$enc-$att-tied")
      done
    done
  done
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
d2l_sentences=("go ." "i lost ." "he's calm ." "i'm home ." "i'm sad ." "he ran ." "we won ." "i'm ok ."
               "help me ." "get out !" "i can swim ." "who are you ?" "it's me ." "be nice ." "i'm tired .")
cased=("Go." "I lost." "He's calm." "I'm home." "I'm sad." "Help me!" "Who are you?" "I'm tired." "Be nice." "")

# options FAMILY: seq2seq's training options for a family name (empty output: not a family).
options() {
  case $1 in
    attn|plain) echo "--model $1"; return ;;
    spm) echo "--tokenizer spm --pairs 2000 --vocab-size 1000 --steps 16"; return ;;
  esac
  local rest=$1 cell enc att extra=""
  case $rest in *-tied) extra="$extra --tie-embeddings"; rest=${rest%-tied} ;; esac
  case $rest in *-feed) extra="$extra --input-feed"; rest=${rest%-feed} ;; esac
  cell=${rest%%-*}; rest=${rest#*-}; enc=${rest%%-*}; att=${rest#*-}
  case "$cell/$enc/$att" in
    gru/*|lstm/*) ;;
    *) return ;;
  esac
  case $enc in uni|bi) ;; *) return ;; esac
  case $att in none|bahdanau|luong-dot|luong-general) ;; *) return ;; esac
  echo "--cell $cell --encoder $enc --attention $att$extra"
}

# compare NAME OURS THEIRS: one line saying whether two translation lists agree.
compare() {
  if [ "$2" = "$3" ]; then
    echo "$1: PyTorch (strict load) and seq2seq agree on all ${#sentences[@]} sentences"
  else
    echo "$1: outputs differ (< seq2seq, > PyTorch):"; diff <(echo "$2") <(echo "$3"); return 1
  fi
}

status=0
for family in "${families[@]}"; do
  opts=$(options "$family")
  if [ -z "$opts" ]; then echo "$family: not a family name (see the usage in $0)"; status=1; continue; fi
  model="$tmp/$family.safetensors"
  epochs=250; [ "$family" = plain ] && epochs=300
  sentences=("${d2l_sentences[@]}")
  [ "$family" = spm ] && { epochs=20; sentences=("${cased[@]}"); }
  # shellcheck disable=SC2086 # opts is a list of options
  if ! ./seq2seq train --data "$data" $opts --epochs $epochs --out "$model" --quiet >"$tmp/log" 2>&1; then
    echo "$family: seq2seq train $opts failed: $(tail -1 "$tmp/log")"; status=1; continue
  fi
  if ! ours=$(./seq2seq translate --model "$model" "${sentences[@]}" 2>"$tmp/log"); then
    echo "$family: seq2seq translate failed: $(tail -1 "$tmp/log")"; status=1; continue
  fi
  refs=(families_ref)
  case $family in attn|plain) refs=(d2l_ref families_ref) ;; spm) refs=(d2l_ref) ;; esac
  for ref in "${refs[@]}"; do
    if ! theirs=$(/usr/bin/python3 "tools/$ref.py" translate --model "$model" "${sentences[@]}" \
                  2>"$tmp/log"); then
      echo "$family: tools/$ref.py cannot load or translate it: $(tail -1 "$tmp/log")"; status=1; continue
    fi
    # shellcheck disable=SC2001 # a line-wise edit of the whole list
    compare "$family ($ref.py)" "$ours" "$(sed 's/^.* => //' <<<"$theirs")" || status=1
  done
done
exit $status
