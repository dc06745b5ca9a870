# The program with every model family on the tiny corpus (tests/test_families.c checks their
# numbers): training learns, info names the family, greedy/beam/n-best/batched translation on
# several threads agree, exact resume (also with two threads), validation, attention heatmaps
# (Luong's weights too) and eval; and the one-line refusals of options that do not go together.
# A family this build does not have yet is skipped, saying so.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"
# the fixtures' families (tests/fixtures/fam_*): every option at least once
FAMILIES="lstm-uni-bahdanau lstm-uni-none gru-bi-bahdanau lstm-bi-none gru-uni-luong-dot
gru-uni-luong-general-feed lstm-bi-luong-general-feed gru-uni-bahdanau-tied lstm-bi-luong-dot-feed-tied"
cut -f1 $TINY | sort -u > "$TMP/src.txt"

# CELL-ENCODER-ATTENTION[-feed][-tied] -> train options
family_opts() {
  local f=$1 opts
  opts="--cell ${f%%-*}"; f=${f#*-}
  opts="$opts --encoder ${f%%-*}"; f=${f#*-}
  case $f in luong-dot*) opts="$opts --attention luong-dot"; f=${f#luong-dot} ;;
             luong-general*) opts="$opts --attention luong-general"; f=${f#luong-general} ;;
             *) opts="$opts --attention ${f%%-*}"; f=${f#"${f%%-*}"} ;; esac
  case $f in *-feed*) opts="$opts --input-feed" ;; esac
  case $f in *-tied*) opts="$opts --tie-embeddings" ;; esac
  echo "$opts"
}

for fam in $FAMILIES; do
  opts=$(family_opts "$fam")
  # shellcheck disable=SC2086
  if ! $S2S train --data $TINY $SMALL $opts --epochs 60 --seed 3 --out "$TMP/$fam.st" >"$TMP/$fam.out" 2>"$TMP/$fam.err"; then
    if grep -q 'not in this build\|is not gru or lstm\|is not bahdanau' "$TMP/$fam.err"; then
      skip "family_$fam" "$(cat "$TMP/$fam.err")"; continue
    fi
    bad "family_$fam" "train failed: $(cat "$TMP/$fam.err")"; continue
  fi
  problems=()
  loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/$fam.out")
  awk -v l="$loss" 'BEGIN { exit !(l < 0.5) }' || problems+=("final loss $loss")
  info=$($S2S info "$TMP/$fam.st")
  att=${opts#*--attention }; att=${att%% *}
  enc=${fam#*-}; enc=${enc%%-*}
  feed=0; case $fam in *-feed*) feed=1 ;; esac
  tied=0; case $fam in *-tied) tied=1 ;; esac
  for want in "cell *${fam%%-*}" "encoder *$enc" "attention *$att" "input_feed *$feed" "tie_embeddings *$tied"; do
    printf '%s\n' "$info" | grep -q "^$want$" || { problems+=("info lacks '$want': $info"); break; }
  done
  # greedy = beam 1; batched on 2 threads = one at a time
  g1=$($S2S translate --model "$TMP/$fam.st" --input "$TMP/src.txt" --batch 1 --threads 1)
  g2=$($S2S translate --model "$TMP/$fam.st" --input "$TMP/src.txt" --batch 5 --threads 2)
  b1=$($S2S translate --model "$TMP/$fam.st" --input "$TMP/src.txt" --beam 1 --batch 3)
  [ -n "$g1" ] && [ "$g1" = "$g2" ] && [ "$g1" = "$b1" ] || problems+=("greedy one at a time / batched / beam 1 differ")
  nb=$($S2S translate --model "$TMP/$fam.st" --beam 3 --nbest 2 "i'm home ." "go ." | wc -l)
  [ "$nb" -eq 4 ] || problems+=("beam 3 nbest 2 gave $nb lines")
  ev=$($S2S eval --model "$TMP/$fam.st" --data $TINY --count 20 --beam 2 2>&1)
  printf '%s\n' "$ev" | grep -qi 'bleu' || problems+=("eval: $ev")
  if [ "$att" = none ]; then
    $S2S attention --model "$TMP/$fam.st" "i'm home ." -o "$TMP/$fam.png" 2>/dev/null && problems+=("attention of a plain model")
  else
    $S2S attention --model "$TMP/$fam.st" "i'm home ." -o "$TMP/$fam.png" >/dev/null 2>&1 && [ -s "$TMP/$fam.png" ] ||
      problems+=("no attention heatmap")
  fi
  # exact resume, one and two threads: 6 epochs = 3 + 3
  for th in 1 2; do
    # shellcheck disable=SC2086
    $S2S train --data $TINY $SMALL $opts --dropout 0.2 --epochs 6 --seed 7 --threads $th --out "$TMP/r6.st" --quiet >/dev/null &&
    $S2S train --data $TINY $SMALL $opts --dropout 0.2 --epochs 3 --seed 7 --threads $th --out "$TMP/r3.st" --quiet >/dev/null &&
    $S2S train --data $TINY $SMALL $opts --dropout 0.2 --epochs 6 --seed 7 --threads $th --out "$TMP/r3.st" --resume --quiet >/dev/null &&
    cmp -s "$TMP/r6.st" "$TMP/r3.st" || problems+=("resume on $th thread(s) is not exact")
  done
  # validation
  # shellcheck disable=SC2086
  $S2S train --data $TINY $SMALL $opts --epochs 10 --valid-pairs 6 --valid-every 5 --out "$TMP/v.st" 2>"$TMP/v.err" >/dev/null &&
    [ "$(grep -c '^epoch .*valid BLEU' "$TMP/v.err")" -eq 2 ] || problems+=("validation: $(tail -3 "$TMP/v.err")")
  if [ ${#problems[@]} -eq 0 ]; then ok "family_$fam"; else bad "family_$fam" "${problems[@]}"; fi
done

# options that do not go together, and a resume with another family
expect_error input_feed_needs_luong "--input-feed needs Luong attention" $S2S train --data $TINY --input-feed --out "$TMP/x.st"
expect_error tie_needs_embed_eq_hidden "--tie-embeddings needs --embed equal to --hidden" \
  $S2S train --data $TINY --tie-embeddings --embed 8 --hidden 16 --out "$TMP/x.st"
expect_error bi_needs_even_hidden "--encoder bi needs a --hidden divisible by 2" $S2S train --data $TINY --encoder bi --hidden 15 --out "$TMP/x.st"
expect_error model_attention_disagree "--model plain and --attention bahdanau disagree" \
  $S2S train --data $TINY --model plain --attention bahdanau --out "$TMP/x.st"
expect_error unknown_cell "--cell: 'rnn' is not gru or lstm" $S2S train --data $TINY --cell rnn --out "$TMP/x.st"
$S2S train --data $TINY $SMALL --epochs 2 --seed 7 --out "$TMP/g.st" --quiet >/dev/null
expect_error resume_other_cell "started with --cell gru, now lstm" \
  $S2S train --data $TINY $SMALL --cell lstm --epochs 4 --seed 7 --out "$TMP/g.st" --resume
finish
