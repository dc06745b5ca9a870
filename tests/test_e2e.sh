# The chapter's results on the real corpus (runs when ../shared/data/fra-eng/fra.txt exists):
# d2l's attention configuration reaches loss <= 0.03 and translates "go .", "i lost ." and
# "i'm home ." with BLEU 1; the plain model (300 epochs) reaches loss <= 0.03.
. tests/lib.sh
FRA=../shared/data/fra-eng/fra.txt
if [ ! -f "$FRA" ]; then
  skip e2e_attention "$FRA not present"; skip e2e_plain "$FRA not present"; finish; exit
fi
refs=$(printf '%s\t%s\n' "go ." "va !" "i lost ." "j'ai perdu ." "he's calm ." "il est calme ." "i'm home ." "je suis chez moi .")

$S2S train --data "$FRA" --model attn --epochs 250 --seed 1 --out "$TMP/attn.st" --quiet >"$TMP/attn.out"
loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/attn.out")
tr=$(printf '%s\n' "$refs" | $S2S translate --model "$TMP/attn.st" --with-ref)
echo "  attention: $(cat "$TMP/attn.out")"; printf '%s\n' "$tr" | sed 's/^/  /'
ones=$(printf '%s\n' "$tr" | grep -cE '^(go \.|i lost \.|i'"'"'m home \.) => .*, bleu 1\.000$')
if awk -v l="$loss" 'BEGIN { exit !(l <= 0.03) }' && [ "$ones" -eq 3 ]; then ok e2e_attention
else bad e2e_attention "loss $loss, $ones of 3 sentences with BLEU 1"; fi

$S2S train --data "$FRA" --model plain --epochs 300 --seed 1 --out "$TMP/plain.st" --quiet >"$TMP/plain.out"
loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/plain.out")
echo "  plain: $(cat "$TMP/plain.out")"
printf '%s\n' "$refs" | $S2S translate --model "$TMP/plain.st" --with-ref | sed 's/^/  /'
if awk -v l="$loss" 'BEGIN { exit !(l <= 0.03) }'; then ok e2e_plain; else bad e2e_plain "loss $loss"; fi

# another language pair, no code change: English-German
DEU=../shared/data/deu-eng/deu.txt
if [ -f "$DEU" ]; then
  $S2S train --data "$DEU" --epochs 150 --seed 1 --threads 2 --out "$TMP/deu.st" --quiet >"$TMP/deu.out"
  loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/deu.out")
  vs=$($S2S info "$TMP/deu.st" | awk '/^src_vocab/ {print $2}'); vt=$($S2S info "$TMP/deu.st" | awk '/^tgt_vocab/ {print $2}')
  out=$($S2S translate --model "$TMP/deu.st" "hi ." "i'm home .")
  echo "  deu: $(cat "$TMP/deu.out"), vocab $vs/$vt:"; printf '%s\n' "$out" | sed 's/^/    /'
  if [ "$vs" = 175 ] && [ "$vt" = 197 ] && awk -v l="$loss" 'BEGIN { exit !(l <= 0.05) }' && [ -n "$out" ]; then ok e2e_german
  else bad e2e_german "loss $loss, vocab $vs/$vt"; fi
else
  skip e2e_german "$DEU not present"
fi
finish
