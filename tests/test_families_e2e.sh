# Every model family on d2l's corpus and configuration (runs when ../shared/data/fra-eng/fra.txt
# exists): 601 pairs, d2l's sizes and schedule (250 epochs; 300 without attention, as the plain
# model in tests/test_e2e.sh), loss <= 0.03 and BLEU 1 on "go .", "i lost ." and "i'm home ."
# (d2l's chapter's quality). A family this build does not have yet is skipped.
. tests/lib.sh
FRA=../shared/data/fra-eng/fra.txt
FAMILIES="lstm-uni-bahdanau lstm-uni-none gru-bi-bahdanau lstm-bi-none gru-uni-luong-dot
gru-uni-luong-general-feed lstm-bi-luong-general-feed gru-uni-bahdanau-tied lstm-bi-luong-dot-feed-tied"
if [ ! -f "$FRA" ]; then
  for fam in $FAMILIES; do skip "e2e_$fam" "$FRA not present"; done; finish; exit
fi
refs=$(printf '%s\t%s\n' "go ." "va !" "i lost ." "j'ai perdu ." "he's calm ." "il est calme ." "i'm home ." "je suis chez moi .")

for fam in $FAMILIES; do
  f=$fam; opts="--cell ${f%%-*}"; f=${f#*-}; opts="$opts --encoder ${f%%-*}"; f=${f#*-}
  case $f in luong-dot*) att=luong-dot ;; luong-general*) att=luong-general ;; *) att=${f%%-*} ;; esac
  opts="$opts --attention $att"
  case $f in *-feed*) opts="$opts --input-feed" ;; esac
  case $f in *-tied*) opts="$opts --tie-embeddings" ;; esac
  epochs=250; [ "$att" = none ] && epochs=300
  # shellcheck disable=SC2086
  if ! $S2S train --data "$FRA" $opts --epochs $epochs --seed 1 --out "$TMP/$fam.st" --quiet >"$TMP/$fam.out" 2>"$TMP/$fam.err"; then
    if grep -q 'not in this build\|is not gru or lstm\|is not bahdanau' "$TMP/$fam.err"; then skip "e2e_$fam" "$(cat "$TMP/$fam.err")"
    else bad "e2e_$fam" "$(cat "$TMP/$fam.err")"; fi
    continue
  fi
  loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/$fam.out")
  tr=$(printf '%s\n' "$refs" | $S2S translate --model "$TMP/$fam.st" --with-ref)
  ones=$(printf '%s\n' "$tr" | grep -cE '^(go \.|i lost \.|i'"'"'m home \.) => .*, bleu 1\.000$')
  echo "  $fam: $(cat "$TMP/$fam.out")"; printf '%s\n' "$tr" | sed 's/^/    /'
  if awk -v l="$loss" 'BEGIN { exit !(l <= 0.03) }' && [ "$ones" -eq 3 ]; then ok "e2e_$fam"
  else bad "e2e_$fam" "loss $loss, $ones of 3 sentences with BLEU 1"; fi
done
finish
