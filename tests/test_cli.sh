# End-to-end tests of the seq2seq program on the tiny corpus: training, translation, model
# files, determinism, exact resume, interruption, and one-line errors for bad input.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"

# --- training and translating ---------------------------------------------------------
if $S2S train --data $TINY $SMALL --epochs 60 --seed 3 --out "$TMP/a.st" >"$TMP/a.out" 2>"$TMP/a.err" &&
   grep -qE '^loss [0-9]+\.[0-9]{3}, [0-9.]+ tokens/sec on cpu$' "$TMP/a.out"; then ok train_tiny
else bad train_tiny "$(cat "$TMP/a.out" "$TMP/a.err" | tail -5)"; fi
loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/a.out")
if awk -v l="$loss" 'BEGIN { exit !(l < 0.5) }'; then ok train_tiny_learns; else bad train_tiny_learns "final loss $loss"; fi

out=$($S2S translate --model "$TMP/a.st" "go ." "i'm home ." 2>&1)
if [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] && [ "$(printf '%s\n' "$out" | head -1)" = "va !" ]; then ok translate_args
else bad translate_args "$out"; fi
out2=$(printf 'go .\ni'"'"'m home .\n' | $S2S translate --model "$TMP/a.st")
if [ "$out" = "$out2" ]; then ok translate_stdin; else bad translate_stdin "$out" "$out2"; fi
out=$(printf 'Go.\n' | $S2S translate --model "$TMP/a.st")
if [ "$out" = "va !" ]; then ok translate_preprocesses_input; else bad translate_preprocesses_input "$out"; fi
out=$(printf 'go .\tva !\n' | $S2S translate --model "$TMP/a.st" --with-ref)
if [ "$out" = "go . => va !, bleu 1.000" ]; then ok translate_with_ref; else bad translate_with_ref "$out"; fi

info=$($S2S info "$TMP/a.st")
if printf '%s\n' "$info" | grep -q '^model *attn' && printf '%s\n' "$info" | grep -q '^hidden *16$' &&
   printf '%s\n' "$info" | grep -qE '^parameters *[0-9]+$'; then ok info
else bad info "$info"; fi

if $S2S train --data $TINY $SMALL --model plain --epochs 40 --out "$TMP/p.st" --quiet >/dev/null &&
   $S2S translate --model "$TMP/p.st" "go ." >/dev/null; then ok train_plain
else bad train_plain; fi

# --- ensembles: --model more than once --------------------------------------------------
ens=$($S2S translate --model "$TMP/a.st" --model "$TMP/p.st" --beam 3 --nbest 2 "go ." "i lost ." 2>&1)
one=$($S2S translate --model "$TMP/a.st" --beam 3 --nbest 2 "go ." "i lost ." 2>&1)
self=$($S2S translate --model "$TMP/a.st" --model "$TMP/a.st" --beam 3 --nbest 2 "go ." "i lost ." 2>&1)
if [ "$(printf '%s\n' "$ens" | grep -cE '^-?[0-9]+\.[0-9]{4}'$'\t')" -eq 4 ] && [ "$ens" != "$one" ] && [ "$self" = "$one" ]; then
  ok ensemble_translate
else bad ensemble_translate "$ens" "$one" "$self"; fi
if $S2S eval --model "$TMP/a.st" --model "$TMP/p.st" --data $TINY --beam 2 2>&1 | grep -q '^corpus BLEU '; then ok ensemble_eval
else bad ensemble_eval; fi
$S2S train --data $TINY $SMALL --steps 7 --epochs 1 --out "$TMP/s7.st" --quiet >/dev/null 2>&1
expect_error ensemble_other_steps 'ensemble: .*a\.st and .*s7\.st differ in "num_steps"' \
  $S2S translate --model "$TMP/a.st" --model "$TMP/s7.st" "go ."
expect_error ensemble_missing_member 'nope\.st' $S2S eval --model "$TMP/a.st" --model "$TMP/nope.st" --data $TINY
nine=(); for i in 1 2 3 4 5 6 7 8 9; do nine+=(--model "$TMP/a.st"); done
$S2S translate "${nine[@]}" "go ." >/dev/null 2>"$TMP/err"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q 'more than 8 times' "$TMP/err"; then ok ensemble_at_most_8
else bad ensemble_at_most_8 "exit $rc" "$(cat "$TMP/err")"; fi

# --- same seed, same threads: the same numbers -----------------------------------------
$S2S train --data $TINY $SMALL --epochs 12 --seed 5 --log-every 1 --out "$TMP/d1.st" >"$TMP/d1.out" 2>"$TMP/d1.err"
$S2S train --data $TINY $SMALL --epochs 12 --seed 5 --log-every 1 --out "$TMP/d2.st" >"$TMP/d2.out" 2>"$TMP/d2.err"
if diff <(awk '{print $1, $2, $3, $4}' "$TMP/d1.err") <(awk '{print $1, $2, $3, $4}' "$TMP/d2.err") >/dev/null &&
   cmp -s "$TMP/d1.st" "$TMP/d2.st"; then ok deterministic
else bad deterministic "$(diff "$TMP/d1.err" "$TMP/d2.err" | head -4)"; fi
$S2S train --data $TINY $SMALL --epochs 12 --seed 6 --out "$TMP/d3.st" --quiet >/dev/null
if ! cmp -s "$TMP/d1.st" "$TMP/d3.st"; then ok seed_changes_run; else bad seed_changes_run; fi

# --- threads: data-parallel shards compute the same mathematics ----------------------------
$S2S train --data $TINY $SMALL --dropout 0 --epochs 8 --seed 9 --log-every 1 --threads 1 --out "$TMP/t1.st" 2>"$TMP/t1.err" >/dev/null
$S2S train --data $TINY $SMALL --dropout 0 --epochs 8 --seed 9 --log-every 1 --threads 2 --out "$TMP/t2.st" 2>"$TMP/t2.err" >/dev/null
$S2S train --data $TINY $SMALL --dropout 0 --epochs 8 --seed 9 --log-every 1 --threads 2 --out "$TMP/t3.st" 2>"$TMP/t3.err" >/dev/null
l1=$(grep '^epoch' "$TMP/t1.err" | awk '{print $4}'); l2=$(grep '^epoch' "$TMP/t2.err" | awk '{print $4}')
if [ -n "$l1" ] && [ "$l1" = "$l2" ]; then ok threads_same_losses; else bad threads_same_losses "$(echo $l1)" "$(echo $l2)"; fi
if cmp -s "$TMP/t2.st" "$TMP/t3.st"; then ok threads_deterministic; else bad threads_deterministic; fi

# --- exact resume: 6 epochs == 3 + 3 ---------------------------------------------------
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --seed 7 --log-every 1 --out "$TMP/r6.st" --plot "$TMP/r6.svg" 2>"$TMP/r6.err" >/dev/null
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 3 --seed 7 --log-every 1 --out "$TMP/r3.st" 2>"$TMP/r3a.err" >/dev/null
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --seed 7 --log-every 1 --out "$TMP/r3.st" --resume --plot "$TMP/r3.svg" 2>"$TMP/r3b.err" >/dev/null
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --seed 7 --log-every 1 --threads 2 --out "$TMP/q6.st" 2>/dev/null >/dev/null
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 3 --seed 7 --log-every 1 --threads 2 --out "$TMP/q3.st" 2>/dev/null >/dev/null
$S2S train --data $TINY $SMALL --dropout 0.2 --epochs 6 --seed 7 --log-every 1 --threads 2 --out "$TMP/q3.st" --resume 2>/dev/null >/dev/null
if cmp -s "$TMP/q6.st" "$TMP/q3.st"; then ok resume_exact_two_threads; else bad resume_exact_two_threads; fi
full=$(grep '^epoch' "$TMP/r6.err" | awk '{sub("/.*", "", $2); print $2, $4}')
split=$(cat "$TMP/r3a.err" "$TMP/r3b.err" | grep '^epoch' | awk '{sub("/.*", "", $2); print $2, $4}')
if [ -n "$full" ] && [ "$full" = "$split" ] && cmp -s "$TMP/r6.st" "$TMP/r3.st"; then ok resume_exact
else bad resume_exact "full: $(echo $full)" "split: $(echo $split)"; fi
# the loss curve of a resumed run includes the epochs before the resume: the same picture
# (but for cairo's count of surfaces drawn by the process)
if [ -s "$TMP/r6.svg" ] && cmp -s <(sed 's/surface[0-9]*/surface/g' "$TMP/r6.svg") <(sed 's/surface[0-9]*/surface/g' "$TMP/r3.svg")
then ok resume_plot_whole_run
else bad resume_plot_whole_run "$(ls -l "$TMP"/r6.svg "$TMP"/r3.svg 2>&1)"; fi
expect_error resume_other_options "started with --hidden 16" \
  $S2S train --data $TINY --embed 16 --hidden 24 --batch 8 --epochs 6 --seed 7 --out "$TMP/r3.st" --resume
# a model file and a state file from different points (a save interrupted between the two)
$S2S train --data $TINY $SMALL --epochs 2 --seed 7 --out "$TMP/m2.st" --quiet >/dev/null
$S2S train --data $TINY $SMALL --epochs 3 --seed 7 --out "$TMP/m3.st" --quiet >/dev/null
cp "$TMP/m3.st" "$TMP/m2.st"
expect_error resume_mismatched_state "saved with other weights than the model file holds" \
  $S2S train --data $TINY $SMALL --epochs 6 --seed 7 --out "$TMP/m2.st" --resume

# --- Ctrl-C saves and resumes ----------------------------------------------------------
signal_saves sigint_saves INT --data $TINY $SMALL

# --- bad input: one line, non-zero exit, never a crash ---------------------------------
printf 'no tab here\nnor here\n' >"$TMP/notab.tsv"
: >"$TMP/empty.tsv"
printf 'go .\tva !\n\xff\xfe bad\tx\n' >"$TMP/badutf8.tsv"
expect_error missing_corpus "nope.tsv.*(No such file|cannot open)" $S2S train --data "$TMP/nope.tsv" --out "$TMP/x.st"
expect_error corpus_without_tabs "no sentence pairs" $S2S train --data "$TMP/notab.tsv" --out "$TMP/x.st"
expect_error empty_corpus "empty|no sentence pairs" $S2S train --data "$TMP/empty.tsv" --out "$TMP/x.st"
expect_error invalid_utf8 "line 2" $S2S train --data "$TMP/badutf8.tsv" --out "$TMP/x.st"
expect_error unknown_option "unknown option '--bogus'" $S2S train --data $TINY --out "$TMP/x.st" --bogus
expect_error missing_value "--out: missing value" $S2S train --data $TINY --out
expect_error non_numeric "--epochs: 'ten' is not a whole number" $S2S train --data $TINY --out "$TMP/x.st" --epochs ten
expect_error batch_zero "--batch: 0 is out of range" $S2S train --data $TINY --out "$TMP/x.st" --batch 0
expect_error hidden_negative "--hidden: -3 is out of range" $S2S train --data $TINY --out "$TMP/x.st" --hidden -3
expect_error lr_nan "--lr: 'nan' is not a finite number" $S2S train --data $TINY --out "$TMP/x.st" --lr nan
expect_error dropout_too_big "--dropout: 1.5 is out of range" $S2S train --data $TINY --out "$TMP/x.st" --dropout 1.5
expect_error no_out "--out MODEL is required" $S2S train --data $TINY
expect_error too_big_for_memory "needs [0-9.]+ [KMGTP]iB of memory" $S2S train --data $TINY --out "$TMP/x.st" --hidden 65536 --embed 65536 --batch 100000 --steps 4096
expect_error unknown_command "unknown command 'trian'" $S2S trian
expect_error bad_gemm_env "S2S_GEMM must be 'own', 'blas', 'bf16' or 'int8' \(got 'fast'\)" env S2S_GEMM=fast $S2S train --data $TINY --out "$TMP/x.st"

# --- a file it writes is never one the user gave it to read --------------------------------
cp $TINY "$TMP/corpus.tsv"; cp $TINY "$TMP/valid.tsv"; cp $TINY "$TMP/corpus.tsv.state"; ln -sf corpus.tsv "$TMP/link.tsv"
mkdir -p "$TMP/sub"
expect_error out_is_data "--out .*corpus.tsv is the same file as --data" $S2S train --data "$TMP/corpus.tsv" --out "$TMP/corpus.tsv" --epochs 1
expect_error out_is_data_other_path "same file as --data" $S2S train --data "$TMP/corpus.tsv" --out "$TMP/sub/../corpus.tsv" --epochs 1
expect_error plot_is_data_link "--plot .* is the same file as --data .*link.tsv" $S2S train --data "$TMP/link.tsv" --out "$TMP/x.st" --plot "$TMP/corpus.tsv" --epochs 1
expect_error out_is_valid "same file as --valid" $S2S train --data "$TMP/corpus.tsv" --valid "$TMP/valid.tsv" --out "$TMP/valid.tsv" --epochs 1
expect_error state_is_data "the state file .* is the same file as --data" $S2S train --data "$TMP/corpus.tsv.state" --out "$TMP/corpus.tsv" --epochs 1
expect_error plot_is_out "--plot .*x.png is the same file as --out" $S2S train --data "$TMP/corpus.tsv" --out "$TMP/x.png" --plot "$TMP/x.png" --epochs 1
cp "$TMP/a.st" "$TMP/model.png"
expect_error attention_over_model "-o .*model.png is the same file as --model" $S2S attention --model "$TMP/model.png" "go ." -o "$TMP/model.png"
if cmp -s $TINY "$TMP/corpus.tsv" && cmp -s $TINY "$TMP/valid.tsv" && cmp -s $TINY "$TMP/corpus.tsv.state" &&
   cmp -s "$TMP/a.st" "$TMP/model.png"; then ok clobber_refused_files_kept
else bad clobber_refused_files_kept "a corpus was changed"; fi

# --- version: the build and its products; S2S_GEMM=blas switches them -------------------
if $S2S version | grep -q '^seq2seq [0-9]' && S2S_GEMM=blas $S2S version | grep -q '^products: OpenBLAS'; then ok version
else bad version "$($S2S version 2>&1)"; fi
# S2S_GEMM=bf16 and int8: translation's step products in bfloat16 or 8-bit integers (test_kernel
# and test_families check the products and the steps); training takes bf16 (every product in
# bfloat16: a model of its own, that translates) and refuses int8
cut -f1 $TINY >"$TMP/bf.in"
$S2S translate --model "$TMP/a.st" --input "$TMP/bf.in" --beam 3 >"$TMP/bf.f32" 2>&1
for kind in bf16:bfloat16 int8:8-bit; do
  g=${kind%%:*} says=${kind#*:}
  if S2S_GEMM=$g $S2S version >/dev/null 2>&1; then
    S2S_GEMM=$g $S2S translate --model "$TMP/a.st" --input "$TMP/bf.in" --beam 3 >"$TMP/bf.$g" 2>&1; rc=$?
    same=$(awk 'NR == FNR { a[FNR] = $0; next } a[FNR] == $0' "$TMP/bf.f32" "$TMP/bf.$g" | wc -l)
    if [ $rc -eq 0 ] && [ "$(wc -l <"$TMP/bf.$g")" -eq "$(wc -l <"$TMP/bf.in")" ] && [ "$same" -ge $(($(wc -l <"$TMP/bf.in") / 2)) ] &&
       S2S_GEMM=$g $S2S version | grep -q "$says"; then ok ${g}_translates
    else bad ${g}_translates "exit $rc, $same lines as float's" "$(head -3 "$TMP/bf.$g")"; fi
    if [ $g = int8 ]; then
      expect_error int8_not_for_training "$says.* are for translation" env S2S_GEMM=$g $S2S train --data $TINY --out "$TMP/x.st"
    elif S2S_GEMM=bf16 $S2S train --data $TINY $SMALL --epochs 60 --seed 3 --out "$TMP/bf.st" >"$TMP/bf.out" 2>&1 &&
         ! cmp -s "$TMP/a.st" "$TMP/bf.st" && $S2S translate --model "$TMP/bf.st" "go ." | grep -q .; then ok bf16_trains
    else bad bf16_trains "$(tail -2 "$TMP/bf.out")"; fi
  else skip ${g}_translates "this build has no kernel for S2S_GEMM=$g"; fi
done
expect_error model_missing "nope.st.*(No such file|cannot open)" $S2S translate --model "$TMP/nope.st" "go ."
expect_error model_is_corpus "$TINY" $S2S translate --model $TINY "go ."
head -c 1000 "$TMP/a.st" >"$TMP/trunc.st"
expect_error model_truncated "trunc.st" $S2S translate --model "$TMP/trunc.st" "go ."
expect_error state_is_not_model "not a seq2seq model" $S2S info "$TMP/a.st.state"

# input formats people have, and hostile bytes
printf 'go .\tva !\0x\n' >"$TMP/nul.tsv"
expect_error corpus_nul_byte "nul.tsv.*(NUL|line 1)" $S2S train --data "$TMP/nul.tsv" --out "$TMP/x.st"
printf '\xef\xbb\xbfGo.\tVa !\r\nHi.\tSalut !\r\nGo.\tVa !\r\nHi.\tSalut !\r\n' >"$TMP/bom.tsv"
if $S2S train --data "$TMP/bom.tsv" --embed 8 --hidden 8 --epochs 2 --out "$TMP/bom.st" --quiet >/dev/null 2>&1 &&
   $S2S info "$TMP/bom.st" | grep -q '^src_vocab *7$'; then ok corpus_bom_crlf; else bad corpus_bom_crlf "$($S2S info "$TMP/bom.st" 2>&1)"; fi
awk -F'\t' '{print $1 "\t" $2 "\tCC-BY 2.0 (France) Attribution: tatoeba.org #" NR}' $TINY >"$TMP/three.tsv"
$S2S train --data $TINY $SMALL --epochs 3 --seed 2 --out "$TMP/two.st" --quiet >/dev/null
$S2S train --data "$TMP/three.tsv" $SMALL --epochs 3 --seed 2 --out "$TMP/three.st" --quiet >/dev/null
if cmp -s "$TMP/two.st" "$TMP/three.st"; then ok corpus_three_columns; else bad corpus_three_columns; fi
cut -f1 $TINY >"$TMP/src.txt"; cut -f2 $TINY >"$TMP/tgt.txt"
$S2S train --src "$TMP/src.txt" --tgt "$TMP/tgt.txt" $SMALL --epochs 3 --seed 2 --out "$TMP/aligned.st" --quiet >/dev/null
if cmp -s "$TMP/two.st" "$TMP/aligned.st"; then ok corpus_two_files; else bad corpus_two_files; fi
head -n 30 "$TMP/tgt.txt" >"$TMP/tgt30.txt"
expect_error corpus_two_files_mismatch "40.*30|30.*40" $S2S train --src "$TMP/src.txt" --tgt "$TMP/tgt30.txt" --out "$TMP/x.st"
{ cat $TINY; printf 'no tab on this line\n'; } >"$TMP/skip.tsv"
if $S2S train --data "$TMP/skip.tsv" $SMALL --epochs 1 --pairs 0 --out "$TMP/skip.st" 2>&1 >/dev/null | grep -q 'skipped 1 line without a tab'; then
  ok corpus_skipped_lines_counted; else bad corpus_skipped_lines_counted; fi
head -c 3000000 /dev/zero | tr '\0' 'a' >"$TMP/long.tsv"; printf '\tb\ngo .\tva !\n' >>"$TMP/long.tsv"
if $S2S train --data "$TMP/long.tsv" --embed 4 --hidden 4 --epochs 1 --pairs 0 --out "$TMP/long.st" --quiet >/dev/null 2>&1; then
  ok corpus_megabyte_line; else bad corpus_megabyte_line; fi

# a failed save never destroys the model already there
cp "$TMP/a.st" "$TMP/keep.st"; mkdir -p "$TMP/ro"; cp "$TMP/a.st" "$TMP/ro/m.st"
expect_error out_is_directory "$TMP/ro: is a directory" $S2S train --data $TINY $SMALL --epochs 1 --out "$TMP/ro"
expect_error out_dir_missing "directory $TMP/nodir does not exist" $S2S train --data $TINY $SMALL --epochs 1 --out "$TMP/nodir/m.st"
# a disk that fills while saving (here a 20 KiB file-size limit, under the model's size): one
# line, and the old model intact
cp "$TMP/a.st" "$TMP/full.st"
expect_error save_disk_full "full.st.*(File too large|No space)" \
  bash -c "ulimit -f 20; exec $S2S train --data $TINY $SMALL --epochs 1 --out $TMP/full.st --quiet"
if cmp -s "$TMP/a.st" "$TMP/full.st" && [ -z "$(ls "$TMP" | grep 'full.st.tmp')" ]; then ok save_disk_full_keeps_model
else bad save_disk_full_keeps_model; fi
if cmp -s "$TMP/a.st" "$TMP/keep.st"; then ok model_untouched_by_failures; else bad model_untouched_by_failures; fi

finish
