# Validation during training: the held-out split (disjoint, spread, seed-independent, kept on
# --resume), validation loss and BLEU lines, early stopping that keeps the best model (checked
# against `seq2seq eval`), the plot, and one-line errors.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"
nums() { tr ' ' '\n' | grep -v '^$'; }
# epoch lines without the run length and the speed: "E loss[, valid loss L, valid BLEU B[ (best, saved)]]"
vlines() { grep -h '^epoch' "$@" | sed -E 's#^epoch ([0-9]+)/[0-9]+ loss ([0-9.]+), [0-9.]+ tokens/sec#\1 \2#'; }

# --- --valid-pairs: the run reports validation loss and BLEU ----------------------------
S2S_DEBUG_SPLIT=1 $S2S train --data $TINY $SMALL --epochs 10 --valid-pairs 8 --valid-every 5 --seed 1 \
  --out "$TMP/v.st" --plot "$TMP/v.svg" >"$TMP/v.out" 2>"$TMP/v.err"
lines=$(grep -cE '^epoch (5|10)/10 loss [0-9.]+, [0-9.]+ tokens/sec, valid loss [0-9]+\.[0-9]{3}, valid BLEU [0-9]+\.[0-9]{2}$' "$TMP/v.err")
if [ "$lines" -eq 2 ] && grep -q 'validation on 8 pairs' "$TMP/v.err" && grep -q '^loss ' "$TMP/v.out"; then ok valid_lines
else bad valid_lines "$(cat "$TMP/v.err" | tail -6)"; fi

# --- the split: 8 + 32 = all 40 pairs, disjoint, spread over the file ----------------------
grep '^split valid:' "$TMP/v.err" | cut -d: -f2 | nums >"$TMP/sv"
grep '^split train:' "$TMP/v.err" | cut -d: -f2 | nums >"$TMP/st"
both=$(sort -n "$TMP/sv" "$TMP/st" | uniq -d | wc -l)
union=$(sort -n -u "$TMP/sv" "$TMP/st" | tr '\n' ' ')
if [ "$(wc -l <"$TMP/sv")" -eq 8 ] && [ "$(wc -l <"$TMP/st")" -eq 32 ] && [ "$both" -eq 0 ] &&
   [ "$union" = "$(seq 0 39 | tr '\n' ' ')" ]; then ok split_disjoint
else bad split_disjoint "valid: $(echo $(cat "$TMP/sv"))" "train: $(echo $(cat "$TMP/st"))"; fi
# d2l's corpus is sorted by length: the held-out pairs must not all sit at one end
if [ "$(head -1 "$TMP/sv")" -lt 8 ] && [ "$(tail -1 "$TMP/sv")" -ge 32 ]; then ok split_spread
else bad split_spread "valid: $(echo $(cat "$TMP/sv"))"; fi

S2S_DEBUG_SPLIT=1 $S2S train --data $TINY $SMALL --epochs 1 --valid-pairs 8 --seed 9 --out "$TMP/v9.st" --quiet \
  >/dev/null 2>"$TMP/v9.err"
if [ -s "$TMP/sv" ] && diff <(grep '^split' "$TMP/v.err") <(grep '^split' "$TMP/v9.err") >/dev/null; then ok split_same_for_other_seed
else bad split_same_for_other_seed "$(grep '^split' "$TMP/v9.err")"; fi

# --- vocabularies come from the training pairs only ------------------------------------------
awk 'NR == FNR { keep[$1 + 1] = 1; next } keep[FNR]' "$TMP/st" $TINY >"$TMP/train_only.tsv"
$S2S train --data "$TMP/train_only.tsv" $SMALL --epochs 0 --out "$TMP/to.st" --quiet >/dev/null 2>&1
a=$($S2S info "$TMP/v.st" | grep vocab); b=$($S2S info "$TMP/to.st" | grep vocab)
$S2S train --data $TINY $SMALL --epochs 0 --out "$TMP/all.st" --quiet >/dev/null 2>&1
c=$($S2S info "$TMP/all.st" | grep vocab)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]; then ok vocab_from_training_pairs
else bad vocab_from_training_pairs "split: $(echo $a)" "train lines: $(echo $b)" "all: $(echo $c)"; fi

# --- validation does not disturb training: the same weights whatever --valid-every ------------
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --valid-pairs 8 --valid-every 1 --seed 4 --out "$TMP/w1.st" --quiet >/dev/null 2>&1
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --valid-pairs 8 --valid-every 6 --seed 4 --out "$TMP/w6.st" --quiet >/dev/null 2>&1
if [ -s "$TMP/w1.st" ] && cmp -s "$TMP/w1.st" "$TMP/w6.st"; then ok validation_leaves_training_alone
else bad validation_leaves_training_alone; fi

# --- --valid-pairs and --resume: the same split, the same validation numbers -----------------
$S2S train --data $TINY $SMALL --epochs 5 --valid-pairs 8 --valid-every 5 --seed 1 --out "$TMP/r.st" >/dev/null 2>"$TMP/r1.err"
S2S_DEBUG_SPLIT=1 $S2S train --data $TINY $SMALL --epochs 10 --valid-pairs 8 --valid-every 5 --seed 1 --out "$TMP/r.st" \
  --resume --plot "$TMP/r.svg" >/dev/null 2>"$TMP/r2.err"
if diff <(grep '^split' "$TMP/v.err") <(grep '^split' "$TMP/r2.err") >/dev/null && grep -q resuming "$TMP/r2.err" &&
   [ "$(vlines "$TMP/r2.err" | wc -l)" -eq 1 ] && [ "$(vlines "$TMP/v.err")" = "$(vlines "$TMP/r1.err" "$TMP/r2.err")" ] &&
   cmp -s "$TMP/v.st" "$TMP/r.st"; then ok resume_same_split
else bad resume_same_split "uninterrupted: $(echo $(vlines "$TMP/v.err"))" "resumed: $(echo $(vlines "$TMP/r1.err" "$TMP/r2.err"))" \
  "$(grep '^split valid' "$TMP/r2.err")"; fi
# the resumed run's picture has the training and validation curves from epoch 1, as the
# uninterrupted run's (but for cairo's count of surfaces drawn by the process)
if [ -s "$TMP/v.svg" ] && cmp -s <(sed 's/surface[0-9]*/surface/g' "$TMP/v.svg") <(sed 's/surface[0-9]*/surface/g' "$TMP/r.svg")
then ok resume_plot_with_validation; else bad resume_plot_with_validation "$(ls -l "$TMP"/v.svg "$TMP"/r.svg 2>&1)"; fi
expect_error resume_other_valid_pairs "started with --valid-pairs 8, now 7" \
  $S2S train --data $TINY $SMALL --epochs 10 --valid-pairs 7 --valid-every 5 --seed 1 --out "$TMP/r.st" --resume

# --- early stopping keeps the best model -------------------------------------------------------
# Validating on the training file itself makes BLEU climb fast and then wobble; lr 0.05 makes
# it wobble early, so with patience 2 the run must stop long before 200 epochs.
ES="--data $TINY $SMALL --lr 0.05 --epochs 200 --valid $TINY --valid-every 5 --early-stop 2 --seed 1"
$S2S train $ES --out "$TMP/es.safetensors" >/dev/null 2>"$TMP/es.err"
last=$(grep '^epoch' "$TMP/es.err" | tail -1 | awk '{sub("/.*", "", $2); print $2}')
stop=$(sed -n 's/.*early stop at epoch \([0-9]*\):.*/\1/p' "$TMP/es.err")
if [ -n "$stop" ] && [ "$stop" = "$last" ] && [ "$stop" -lt 200 ]; then ok early_stop_stops
else bad early_stop_stops "stop '$stop', last epoch '$last'" "$(tail -3 "$TMP/es.err")"; fi
# the best check: highest BLEU, the first of equals (a tie is no improvement)
best=$(grep 'valid BLEU' "$TMP/es.err" | awk '{sub("/.*", "", $2); b = $NF; if ($NF ~ /saved\)/) b = $(NF-2);
  if (n == 0 || b + 0 > bb + 0) { bb = b; be = $2 } n++ } END { print be, bb }')
best_ep=${best% *}; best_bleu=${best#* }
said=$(sed -n 's/.*es.safetensors is the model of epoch \([0-9]*\) (best valid BLEU \([0-9.]*\),.*/\1 \2/p' "$TMP/es.err")
if [ -n "$best_ep" ] && [ "$said" = "$best_ep $best_bleu" ] &&
   grep -q "^epoch $best_ep/200 .*(best, saved)$" "$TMP/es.err"; then ok early_stop_logs_best_epoch
else bad early_stop_logs_best_epoch "best by the log: '$best'" "said: '$said'"; fi
got=$($S2S eval --model "$TMP/es.safetensors" --data $TINY --count 40 | sed -n 's/^corpus BLEU \([0-9.]*\) .*/\1/p')
if [ -n "$got" ] && [ "$got" = "$best_bleu" ]; then ok early_stop_out_is_best
else bad early_stop_out_is_best "eval of --out: '$got', best logged: '$best_bleu'"; fi
lastb=$(grep '^epoch' "$TMP/es.err" | tail -1 | awk '{print $NF}')
gotl=$($S2S eval --model "$TMP/es.last.safetensors" --data $TINY --count 40 | sed -n 's/^corpus BLEU \([0-9.]*\) .*/\1/p')
if [ -f "$TMP/es.safetensors.state" ] && [ -n "$gotl" ] && [ "$gotl" = "$lastb" ] && [ "$best_ep" != "$stop" ] &&
   ! cmp -s "$TMP/es.safetensors" "$TMP/es.last.safetensors"; then ok early_stop_keeps_latest_apart
else bad early_stop_keeps_latest_apart "latest: eval '$gotl', logged '$lastb'; best epoch $best_ep, stop $stop"; fi

# resumed at the last check before the stop, the run must stop at the same epoch with the same
# best model: the best score and the count of checks without improvement survive the state file
if [ -n "$stop" ] && [ "$stop" -ge 15 ]; then
  part=$((stop - 5))
  $S2S train ${ES/--epochs 200/--epochs $part} --out "$TMP/es2.safetensors" >/dev/null 2>"$TMP/es2a.err"
  $S2S train $ES --out "$TMP/es2.safetensors" --resume >/dev/null 2>"$TMP/es2b.err"
  stop2=$(sed -n 's/.*early stop at epoch \([0-9]*\):.*/\1/p' "$TMP/es2b.err")
  if [ "$stop2" = "$stop" ] && cmp -s "$TMP/es.safetensors" "$TMP/es2.safetensors" &&
     cmp -s "$TMP/es.last.safetensors" "$TMP/es2.last.safetensors" &&
     [ "$(vlines "$TMP/es.err")" = "$(vlines "$TMP/es2a.err" "$TMP/es2b.err")" ]; then
    ok early_stop_resume
  else bad early_stop_resume "uninterrupted stop $stop, resumed stop '$stop2'" "$(tail -3 "$TMP/es2b.err")"; fi
  $S2S train $ES --out "$TMP/es2.safetensors" --resume >/dev/null 2>"$TMP/es3.err"
  if grep -q 'already stopped early' "$TMP/es3.err" && ! grep -q '^epoch' "$TMP/es3.err" &&
     cmp -s "$TMP/es.safetensors" "$TMP/es2.safetensors"; then ok early_stopped_run_stays_stopped
  else bad early_stopped_run_stays_stopped "$(cat "$TMP/es3.err")"; fi
else bad early_stop_resume "no usable stop epoch ('$stop')"; fi

# --- the plot: train loss, valid loss and valid BLEU ------------------------------------------
$S2S train --data $TINY $SMALL --epochs 4 --valid-pairs 8 --valid-every 2 --plot "$TMP/x.png" --out "$TMP/p.st" --quiet >/dev/null 2>&1
$S2S train --data $TINY $SMALL --epochs 4 --valid-pairs 8 --valid-every 2 --plot "$TMP/x.svg" --out "$TMP/p.st" --quiet >/dev/null 2>&1
if [ "$(head -c 8 "$TMP/x.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then ok plot_png
else bad plot_png "$(ls -l "$TMP/x.png" 2>&1)"; fi
if grep -q 'valid BLEU' "$TMP/x.svg" 2>/dev/null && grep -q 'valid loss' "$TMP/x.svg" && grep -q 'train loss' "$TMP/x.svg"; then
  ok plot_has_validation_series
else bad plot_has_validation_series "$(grep -o '<desc>.*</desc>' "$TMP/x.svg" 2>&1 | head -c 300)"; fi

# --- one-line errors -------------------------------------------------------------------------
expect_error valid_pairs_all "--valid-pairs 40: .*only 40 pairs.*no training pair" \
  $S2S train --data $TINY --out "$TMP/x.st" --valid-pairs 40
expect_error valid_pairs_too_many "--valid-pairs 1000: .*only 40 pairs" $S2S train --data $TINY --out "$TMP/x.st" --valid-pairs 1000
expect_error valid_pairs_with_pairs "--valid-pairs 10: .*only 10 pairs \(with --pairs 10\)" \
  $S2S train --data $TINY --out "$TMP/x.st" --pairs 10 --valid-pairs 10
expect_error valid_pairs_zero "--valid-pairs: 0 is out of range" $S2S train --data $TINY --out "$TMP/x.st" --valid-pairs 0
expect_error valid_both "either --valid-pairs N or --valid FILE" \
  $S2S train --data $TINY --out "$TMP/x.st" --valid-pairs 4 --valid $TINY
expect_error early_stop_without_valid "--early-stop needs a validation set" $S2S train --data $TINY --out "$TMP/x.st" --early-stop 2
expect_error valid_count_without_valid "--valid-count goes with --valid" $S2S train --data $TINY --out "$TMP/x.st" --valid-count 3
expect_error valid_file_missing "--valid: .*nope.tsv" $S2S train --data $TINY --out "$TMP/x.st" --valid "$TMP/nope.tsv" --epochs 1
# --- with --threads, validation runs on one shard's workspace (a slice of a batch): in slices ---
if $S2S train --data $TINY --embed 8 --hidden 8 --batch 8 --threads 2 --epochs 4 --valid-pairs 5 --valid-every 2 \
     --out "$TMP/th.st" >/dev/null 2>"$TMP/th.err" &&
   [ "$(grep -c '^epoch .*valid BLEU' "$TMP/th.err")" -eq 2 ]; then ok valid_with_threads
else bad valid_with_threads "$(tail -3 "$TMP/th.err")"; fi
finish
