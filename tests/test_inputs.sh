# What the program reads, besides corpora (tests/test_cli.sh) and model files (test_checkpoint.c):
# references and hypotheses, sentences on the command line and on standard input; each bad
# input named by where it is (the file and 1-based line, or the argument).
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"
$S2S train --data $TINY $SMALL --epochs 60 --seed 3 --out "$TMP/m.st" --quiet >/dev/null

# --- translate --with-ref scores as eval does: the reference preprocessed, a third column ignored
awk -F'\t' '{print $1 "\t" $2 "\tCC-BY 2.0 (France) Attribution: tatoeba.org #" NR}' $TINY >"$TMP/three.tsv"
$S2S translate --model "$TMP/m.st" --with-ref <"$TMP/three.tsv" >"$TMP/wr.out"
mean=$(awk '{s += $NF} END {printf "%.4f", s / NR}' "$TMP/wr.out")
want=$($S2S eval --model "$TMP/m.st" --data "$TMP/three.tsv" --count 40 | awk '/^mean sentence BLEU/ {print $NF}')
# (each line shows 3 decimals: the mean of those is within 0.0005 of eval's)
if [ "$(wc -l <"$TMP/wr.out")" -eq 40 ] && [ -n "$want" ] && awk -v a="$mean" -v b="$want" 'BEGIN { exit !(a - b <= 0.0005 && b - a <= 0.0005) }'
then ok with_ref_scores_as_eval
else bad with_ref_scores_as_eval "translate --with-ref mean $mean, eval $want" "$(head -3 "$TMP/wr.out")"; fi
out=$(printf 'Go.\tVa !\tCC-BY 2.0\n' | $S2S translate --model "$TMP/m.st" --with-ref)
if [ "$out" = "Go. => va !, bleu 1.000" ]; then ok with_ref_reference_preprocessed; else bad with_ref_reference_preprocessed "$out"; fi
expect_error with_ref_no_tab "standard input: line 2 has no TAB" \
  bash -c "printf 'go .\tva !\nhello\n' | $S2S translate --model $TMP/m.st --with-ref"

# --- invalid UTF-8: named where it is ------------------------------------------------------------
expect_error utf8_argument "translate: argument 'a\\\\xff' is not valid UTF-8 \(byte 0xff at byte 2\)" \
  $S2S translate --model "$TMP/m.st" "go ." $'a\xff'
expect_error utf8_stdin "standard input: line 2: invalid UTF-8 \(byte 0xff at byte 1" \
  bash -c "printf 'go .\n\xff\n' | $S2S translate --model $TMP/m.st"
printf 'go .\n\xffx\n' >"$TMP/bad.txt"
expect_error utf8_input_file "bad.txt: line 2: invalid UTF-8" $S2S translate --model "$TMP/m.st" --input "$TMP/bad.txt"
expect_error utf8_attention_argument "attention: argument 'x\\\\xc3' is not valid UTF-8" \
  $S2S attention --model "$TMP/m.st" $'x\xc3' -o "$TMP/a.png"
printf 'va !\nbonjour\n' >"$TMP/ref.txt"
printf 'va !\n\xc3\x28\n' >"$TMP/hyp.txt"
expect_error utf8_bleu_hypotheses "hyp.txt: line 2: invalid UTF-8 \(byte 0xc3 at byte 1" $S2S bleu --ref "$TMP/ref.txt" "$TMP/hyp.txt"
expect_error utf8_bleu_reference "hyp.txt: line 2: invalid UTF-8" $S2S bleu --ref "$TMP/hyp.txt" "$TMP/ref.txt"

printf 'va !\n\nbonjour\n' >"$TMP/ref_empty.txt"
expect_error bleu_empty_reference_named "ref_empty.txt: line 2 is empty" \
  bash -c "printf 'a\nb\nc\n' | $S2S bleu --ref $TMP/ref_empty.txt"

# an empty target is no reference: named by file and line, in eval and in validation
printf 'go .\tva !\nhi .\t\nrun !\tcours !\n' >"$TMP/empty_target.tsv"
expect_error eval_empty_reference_named "eval: .*empty_target.tsv: line 2: the target is empty" \
  $S2S eval --model "$TMP/m.st" --data "$TMP/empty_target.tsv"
expect_error valid_empty_reference_named "validation: .*empty_target.tsv: line 2: the target is empty" \
  $S2S train --data $TINY $SMALL --epochs 1 --valid "$TMP/empty_target.tsv" --out "$TMP/v.st"

# --- corpora: no control characters (they would become vocabulary tokens printed raw) ----------
printf 'go .\tva !\nhi\033[2J .\tsalut !\n' >"$TMP/ctl.tsv"
expect_error corpus_control_character "ctl.tsv: line 2: control character U\+001B at byte 3" \
  $S2S train --data "$TMP/ctl.tsv" --out "$TMP/c.st"

# --- training state: every option recorded, the epoch within the run --------------------------
$S2S train --data $TINY $SMALL --epochs 4 --seed 7 --out "$TMP/r.st" --quiet >/dev/null
cp "$TMP/r.st.state" "$TMP/r.state.keep"
# an option the state does not record could change unnoticed (same-length edit of the key)
LC_ALL=C sed -i 's/"opt\.lr"/"opt\.xx"/' "$TMP/r.st.state"
expect_error resume_missing_option 'r.st.state has no "opt.lr"' \
  $S2S train --data $TINY $SMALL --epochs 6 --seed 7 --lr 0.5 --out "$TMP/r.st" --resume
cp "$TMP/r.state.keep" "$TMP/r.st.state"
expect_error resume_past_epochs "r.st.state is at epoch 4, past --epochs 2" \
  $S2S train --data $TINY $SMALL --epochs 2 --seed 7 --out "$TMP/r.st" --resume

# --- attention: a long sentence's title does not make the picture as wide ---------------------
long=$(printf 'go . %.0s' $(seq 100))
if $S2S attention --model "$TMP/m.st" "$long" -o "$TMP/long.png" >/dev/null 2>"$TMP/err"; then
  width=$(od -An -tu1 -j16 -N4 "$TMP/long.png" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
  if [ "$width" -le 600 ]; then ok attention_long_title_cut; else bad attention_long_title_cut "$width px wide"; fi
else bad attention_long_title_cut "$(cat "$TMP/err")"; fi

# --- one positional file where one is meant -------------------------------------------------------
expect_error bleu_two_hypothesis_files "give one hypothesis file" $S2S bleu --ref "$TMP/ref.txt" "$TMP/ref.txt" "$TMP/hyp.txt"
expect_error info_two_models "give one model file" $S2S info "$TMP/m.st" "$TMP/m.st"
finish
