# The recipe's options at the program level: data split (the held-out rule, repeated sides left
# out of training), train with batches by tokens, --max-len, label smoothing, schedules,
# validation every N updates with early stopping, --max-time, an exact --resume, average, and
# one-line errors.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --lr 0.01"
RECIPE="--batch-tokens 60 --max-len 7 --label-smoothing 0.1 --lr-schedule inverse-sqrt --warmup 4"

# --- data split: the held-out rule, and training pairs sharing a side with a held-out one left out
{
  printf 'A0\tB0\n'; printf 'a line without a tab\n'
  for i in $(seq 1 19); do printf 'A%d\tB%d\tattribution\r\n' "$i" "$i"; done
  printf 'A5\tother\n'   # source equal to held-out pair 5's
  printf 'other\tB17\n'  # target equal to held-out pair 17's
  printf 'A5x\tB17x\n'   # neither equal
} >"$TMP/pairs.tsv"
$S2S data split "$TMP/pairs.tsv" --valid-pairs 2 --train "$TMP/tr.tsv" --valid "$TMP/va.tsv" 2>"$TMP/split.err"
# 23 pairs: held out floor(23/4) = 5 and floor(3*23/4) = 17, i.e. A5 and A17 (pair 1 is A1)
if [ "$(cut -f1 "$TMP/va.tsv" | tr '\n' ' ')" = "A5 A17 " ] && [ "$(wc -l <"$TMP/tr.tsv")" -eq 19 ] &&
   ! grep -qP '^A5\t|\tB17$|\r' "$TMP/tr.tsv" && grep -q "^A5x" "$TMP/tr.tsv" && grep -q '1 without a tab' "$TMP/split.err" &&
   grep -q '2 more left out' "$TMP/split.err"; then ok data_split_rule
else bad data_split_rule "valid: $(cat "$TMP/va.tsv" | tr '\n' '|')" "train: $(wc -l <"$TMP/tr.tsv") lines" "$(cat "$TMP/split.err")"; fi
$S2S data split "$TMP/pairs.tsv" --valid-pairs 2 --train "$TMP/tr2.tsv" --valid "$TMP/va2.tsv" --quiet 2>/dev/null
if cmp -s "$TMP/tr.tsv" "$TMP/tr2.tsv" && cmp -s "$TMP/va.tsv" "$TMP/va2.tsv"; then ok data_split_fixed
else bad data_split_fixed; fi
expect_error split_too_many 'leaves none' $S2S data split "$TMP/pairs.tsv" --valid-pairs 30 --train "$TMP/x.tsv" --valid "$TMP/y.tsv"
expect_error split_over_input 'same file' $S2S data split "$TMP/pairs.tsv" --valid-pairs 2 --train "$TMP/pairs.tsv" --valid "$TMP/y.tsv"
expect_error split_needs_outputs 'needs --valid-pairs' $S2S data split "$TMP/pairs.tsv" --valid-pairs 2

# --- training with the recipe: checks every N updates, the log, early stopping ------------------
$S2S train --data $TINY $SMALL $RECIPE --epochs 8 --valid-pairs 6 --valid-every-steps 3 --early-stop 50 \
  --out "$TMP/r.st" >"$TMP/r.out" 2>"$TMP/r.err"
if grep -qE '^update 3 \(epoch [0-9.]+\) loss [0-9.]+, lr [0-9.e-]+, valid loss [0-9.]+, valid BLEU [0-9.]+' "$TMP/r.err" &&
   grep -q 'batches of at most 60 positions by length' "$TMP/r.err" && grep -qE 'padding [0-9.]+% source' "$TMP/r.err" &&
   grep -qE 'is the model of update [0-9]+ \(best' "$TMP/r.err" && [ -s "$TMP/r.st" ] && [ -s "$TMP/r.st.last" ]; then
  ok recipe_train_log
else bad recipe_train_log "$(tail -5 "$TMP/r.err")"; fi
# the checks at multiples of 3 updates, within epochs or at their end (5 updates an epoch here)
if [ "$(grep -c '^update' "$TMP/r.err")" -ge 2 ] && ! grep '^update' "$TMP/r.err" | awk '$2 % 3' | grep -q . &&
   [ "$(grep -cE '^(update|epoch) .*valid BLEU' "$TMP/r.err")" -eq 13 ]; then
  ok checks_every_n_updates
else bad checks_every_n_updates "$(grep '^update' "$TMP/r.err")"; fi

# --keep-checkpoints 2: the weights of the last two checks (updates 36 and 39 of 40) stay beside --out
$S2S train --data $TINY $SMALL $RECIPE --epochs 8 --valid-pairs 6 --valid-every-steps 3 --keep-checkpoints 2 \
  --out "$TMP/k.safetensors" --quiet >/dev/null 2>"$TMP/k.err"
kept=$(cd "$TMP" && ls k.*.safetensors | tr '\n' ' ')
if [ "$kept" = "k.update36.safetensors k.update39.safetensors " ] &&
   $S2S average "$TMP/k.update36.safetensors" "$TMP/k.update39.safetensors" --out "$TMP/k.avg.safetensors" 2>>"$TMP/k.err" &&
   ! cmp -s "$TMP/k.update39.safetensors" "$TMP/k.safetensors" &&
   [ "$($S2S translate --model "$TMP/k.avg.safetensors" 'go .' 2>>"$TMP/k.err" | wc -l)" -eq 1 ]; then
  ok keep_checkpoints
else bad keep_checkpoints "kept: $kept" "$(tail -3 "$TMP/k.err")"; fi
# checks by updates: the closing line names the best check's update and the last one, not epochs
$S2S train --data $TINY $SMALL $RECIPE --epochs 4 --valid-pairs 6 --valid-every-steps 3 --out "$TMP/v.safetensors" \
  >/dev/null 2>"$TMP/v.err"
last=$(grep '^update' "$TMP/v.err" | tail -1 | awk '{print $2}')
said=$(sed -n 's/^seq2seq: best valid BLEU [0-9.]* at update \([0-9]*\); .*v.safetensors is the model of update \([0-9]*\) (the last)$/\1 \2/p' "$TMP/v.err")
best=${said% *}
if [ -n "$said" ] && [ $((best % 3)) -eq 0 ] && [ "$best" -le "${said#* }" ] && [ "${said#* }" -ge "$last" ]; then
  ok best_check_named_by_update
else bad best_check_named_by_update "$(tail -2 "$TMP/v.err")"; fi
expect_error keep_needs_valid 'keep-checkpoints needs a validation set' $S2S train --data $TINY --keep-checkpoints 2 --out "$TMP/e.st"

# --- Luong attention with input feeding under batches by tokens: trains, translates the same in
# any batch (beam search moves its fed-back rows with the hypotheses), greedy and beam ------------
$S2S train --data $TINY $SMALL $RECIPE --encoder bi --attention luong-general --input-feed --epochs 6 --threads 2 \
  --out "$TMP/l.st" --quiet >/dev/null 2>"$TMP/l.err"
cut -f1 $TINY | head -40 >"$TMP/l.in"
for k in 1 4; do
  $S2S translate --model "$TMP/l.st" --input "$TMP/l.in" --beam $k --batch 64 >"$TMP/l.$k.a" 2>>"$TMP/l.err"
  $S2S translate --model "$TMP/l.st" --input "$TMP/l.in" --beam $k --batch 3 --threads 2 >"$TMP/l.$k.b" 2>>"$TMP/l.err"
done
if [ -s "$TMP/l.st" ] && [ "$(wc -l <"$TMP/l.1.a")" -eq 40 ] && [ "$(wc -l <"$TMP/l.4.a")" -eq 40 ] &&
   cmp -s "$TMP/l.1.a" "$TMP/l.1.b" && cmp -s "$TMP/l.4.a" "$TMP/l.4.b" && [ "$(sort -u "$TMP/l.4.a" | wc -l)" -gt 3 ]; then
  ok luong_feed_by_tokens
else bad luong_feed_by_tokens "$(tail -3 "$TMP/l.err")" "$(diff "$TMP/l.4.a" "$TMP/l.4.b" | head -4)"; fi

# --- --resume with batches by tokens: the same weights as an unbroken run -----------------------
$S2S train --data $TINY $SMALL $RECIPE --epochs 6 --threads 2 --seed 3 --out "$TMP/u.st" --quiet >/dev/null 2>&1
$S2S train --data $TINY $SMALL $RECIPE --epochs 3 --threads 2 --seed 3 --out "$TMP/h.st" --quiet >/dev/null 2>&1
$S2S train --data $TINY $SMALL $RECIPE --epochs 6 --threads 2 --seed 3 --out "$TMP/h.st" --quiet --resume >/dev/null 2>&1
if [ -s "$TMP/u.st" ] && cmp -s "$TMP/u.st" "$TMP/h.st"; then ok resume_by_tokens_exact
else bad resume_by_tokens_exact; fi
expect_error resume_other_budget 'started with --batch-tokens 60, now 80' \
  $S2S train --data $TINY $SMALL $RECIPE --batch-tokens 80 --epochs 7 --threads 2 --seed 3 --out "$TMP/h.st" --resume
expect_error resume_without_budget 'started with --batch-tokens 60, now 0' \
  $S2S train --data $TINY $SMALL --max-len 7 --label-smoothing 0.1 --lr-schedule inverse-sqrt --warmup 4 --epochs 7 \
  --threads 2 --seed 3 --out "$TMP/h.st" --resume
$S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/d.st" --quiet >/dev/null 2>&1
expect_error resume_d2l_with_budget 'started without --batch-tokens' \
  $S2S train --data $TINY $SMALL --batch-tokens 60 --epochs 3 --out "$TMP/d.st" --resume

# --- --max-len drops and counts; the model's num_steps follows it --------------------------------
$S2S train --data $TINY $SMALL --max-len 3 --epochs 1 --out "$TMP/m.st" 2>"$TMP/m.err" >/dev/null
if grep -qE 'max-len 3: dropped [0-9]+ pairs with a longer side' "$TMP/m.err" && $S2S info "$TMP/m.st" | grep -qE '^num_steps +4$'; then
  ok max_len_drops
else bad max_len_drops "$(cat "$TMP/m.err" | head -3)"; fi

# --- --max-time stops between batches and saves --------------------------------------------------
$S2S train --data $TINY $SMALL --batch 2 --epochs 100000 --max-time 1 --out "$TMP/t.st" 2>"$TMP/t.err" >/dev/null
if [ $? -eq 0 ] && grep -q 'max-time 1 s reached' "$TMP/t.err" && [ -s "$TMP/t.st" ]; then ok max_time_stops
else bad max_time_stops "$(tail -2 "$TMP/t.err")"; fi

# --- --lr-schedule linear: straight down to 0 at --max-updates (the rate of update k is lr (1 -
# (k-1)/N)), the same line through a --resume; and at --max-time, a resumed command from the
# factor it was saved with --------------------------------------------------------------------
LIN="$SMALL --batch-tokens 60 --max-len 7 --lr 0.004 --lr-schedule linear --warmup 0 --valid-pairs 6 --valid-every-steps 2"
$S2S train --data $TINY $LIN --max-updates 8 --epochs 100 --out "$TMP/lin.st" >/dev/null 2>"$TMP/lin.err"
rc=$?
rates=$(sed -n 's/^update \([0-9]*\) .*, lr \([0-9.e-]*\),.*/\1:\2/p' "$TMP/lin.err" | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$rates" = "2:0.0035 4:0.0025 6:0.0015 8:0.0005 " ] &&
   grep -q 'max-updates 8 reached' "$TMP/lin.err" && [ -s "$TMP/lin.st" ]; then ok linear_to_zero_at_max_updates
else bad linear_to_zero_at_max_updates "rates: $rates" "$(tail -2 "$TMP/lin.err")"; fi
$S2S train --data $TINY $LIN --max-updates 8 --epochs 1 --out "$TMP/lin2.st" --quiet >/dev/null 2>&1
$S2S train --data $TINY $LIN --max-updates 8 --epochs 100 --out "$TMP/lin2.st" --resume --quiet >/dev/null 2>&1
if cmp -s "$TMP/lin.st" "$TMP/lin2.st"; then ok linear_resume_exact
else bad linear_resume_exact; fi
expect_error resume_past_max_updates 'at update 8, --max-updates is 8' \
  $S2S train --data $TINY $LIN --max-updates 8 --epochs 100 --out "$TMP/lin2.st" --resume
lin_rates() { sed -n 's/^update [0-9]* .*, lr \([0-9.e-]*\),.*/\1/p' "$1"; }
# by time: Ctrl-C half way through a 2 s budget, then a resumed 1 s command; the rates fall
# through the first (never rising) and the second's are at most the first's last (it goes on
# from the factor saved at the interruption), none 0
LT="$LIN --batch-tokens 20 --valid-every-steps 20 --epochs 100000 --out $TMP/lt.st"
timeout --preserve-status -s INT 1 $S2S train --data $TINY $LT --max-time 2 >/dev/null 2>"$TMP/lt.err"; rc=$?
$S2S train --data $TINY $LT --max-time 1 --resume >/dev/null 2>"$TMP/lt2.err"
if [ $rc -eq 130 ] &&
   lin_rates "$TMP/lt.err" | awk 'NR == 1 { f = $1 } { if (NR > 1 && $1 > p) bad = 1; p = $1 } END { exit !(NR >= 2 && !bad && p < f) }' &&
   last=$(lin_rates "$TMP/lt.err" | tail -1) && [ -n "$(lin_rates "$TMP/lt2.err")" ] &&
   lin_rates "$TMP/lt2.err" | awk -v l="$last" '$1 > l || $1 <= 0 { bad = 1 } END { exit bad }'; then ok linear_by_time
else bad linear_by_time "exit $rc" "$(lin_rates "$TMP/lt.err" | head -3 | tr '\n' ' ') .. $(lin_rates "$TMP/lt.err" | tail -2 | tr '\n' ' ')" \
  "resumed: $(lin_rates "$TMP/lt2.err" | head -3 | tr '\n' ' ')" "$(tail -2 "$TMP/lt2.err")"; fi
# the resumed command ran its budget out: the rate is 0, and by time nothing is left
expect_error linear_spent 'rate reached 0' $S2S train --data $TINY $LT --max-time 1 --resume
expect_error linear_needs_budget 'needs --max-updates N or --max-time S' $S2S train --data $TINY --lr-schedule linear --out "$TMP/e.st"

# --- average --------------------------------------------------------------------------------
$S2S average "$TMP/u.st" "$TMP/u.st" --out "$TMP/avg.st" 2>"$TMP/avg.err"
if cmp -s "$TMP/u.st" "$TMP/avg.st"; then ok average_of_one_model_is_itself
else bad average_of_one_model_is_itself "$(cat "$TMP/avg.err")"; fi
$S2S average "$TMP/u.st" "$TMP/h.st" "$TMP/r.st" --out "$TMP/avg3.st" 2>/dev/null
if [ "$(LC_ALL=C $S2S translate --model "$TMP/avg3.st" 'go .' 2>&1 | wc -l)" -eq 1 ]; then ok average_translates
else bad average_translates; fi
$S2S train --data $TINY --embed 16 --hidden 8 --epochs 1 --out "$TMP/o.st" --quiet >/dev/null 2>&1
expect_error average_other_config 'differ in "hidden"' $S2S average "$TMP/u.st" "$TMP/o.st" --out "$TMP/x.st"
expect_error average_over_input 'same file' $S2S average "$TMP/u.st" "$TMP/o.st" --out "$TMP/o.st"
printf 'not a model' >"$TMP/junk.st"
expect_error average_not_a_model 'junk.st' $S2S average "$TMP/u.st" "$TMP/junk.st" --out "$TMP/x.st"

# --- option errors ------------------------------------------------------------------------------
expect_error tokens_below_steps 'less than --steps' $S2S train --data $TINY --batch-tokens 5 --out "$TMP/e.st"
expect_error max_len_vs_steps 'steps must be at least 8' $S2S train --data $TINY --max-len 7 --steps 5 --out "$TMP/e.st"
expect_error bad_schedule 'not constant, inverse-sqrt, plateau or linear' $S2S train --data $TINY --lr-schedule cosine --out "$TMP/e.st"
expect_error invsqrt_no_warmup 'warmup of at least 1' $S2S train --data $TINY --lr-schedule inverse-sqrt --warmup 0 --out "$TMP/e.st"
expect_error plateau_needs_valid 'needs --valid-pairs' $S2S train --data $TINY --lr-schedule plateau --out "$TMP/e.st"
expect_error steps_need_valid 'needs a validation set' $S2S train --data $TINY --valid-every-steps 5 --out "$TMP/e.st"
expect_error epochs_or_steps 'not both' $S2S train --data $TINY --valid-pairs 4 --valid-every 2 --valid-every-steps 5 --out "$TMP/e.st"
expect_error smoothing_range 'label-smoothing' $S2S train --data $TINY --label-smoothing 1 --out "$TMP/e.st"
finish
