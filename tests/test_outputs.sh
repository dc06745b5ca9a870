# Every file the program writes: checked before any work, never a device, FIFO or directory
# (refused, and left as it was), written through a symbolic link, whole or not at all (a model
# and its training state together), a failing --plot only a warning; and standard output
# checked at exit as coreutils do.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"
$S2S train --data $TINY $SMALL --epochs 20 --seed 3 --out "$TMP/m.st" --quiet >/dev/null


# --- outputs that are not regular files are refused up front and left alone ------------------
mkfifo "$TMP/fifo"
expect_error out_fifo_refused "--out .*fifo: is a FIFO" timeout 20 $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/fifo"
if [ -p "$TMP/fifo" ]; then ok out_fifo_kept; else bad out_fifo_kept "$(ls -l "$TMP/fifo")"; fi
mkfifo "$TMP/fifo.png"
expect_error plot_fifo_refused "--plot .*fifo.png: is a FIFO" timeout 20 $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/x.st" --plot "$TMP/fifo.png"
expect_error attention_fifo_refused "-o .*fifo.png: is a FIFO" timeout 20 $S2S attention --model "$TMP/m.st" "go ." -o "$TMP/fifo.png"
if [ -p "$TMP/fifo.png" ]; then ok attention_fifo_kept; else bad attention_fifo_kept; fi
# as root a device node can be made where the user can name it (a careless --out dev/null)
if mknod "$TMP/null" c 1 3 2>/dev/null && mknod "$TMP/full.png" c 1 7 2>/dev/null; then
  expect_error out_device_refused "--out .*null: is a character device" $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/null"
  expect_error attention_device_refused "-o .*full.png: is a character device" $S2S attention --model "$TMP/m.st" "go ." -o "$TMP/full.png"
  if [ -c "$TMP/null" ] && [ -c "$TMP/full.png" ]; then ok device_nodes_kept; else bad device_nodes_kept "$(ls -l "$TMP/null" "$TMP/full.png")"; fi
else
  skip out_device_refused "mknod needs root"
fi

# --- a symbolic link is written through: the file it names is replaced, the link stays --------
cp "$TMP/m.st" "$TMP/real.st"; ln -s real.st "$TMP/link.st"; ln -s real.svg "$TMP/link.svg"; : >"$TMP/real.svg"
if $S2S train --data $TINY $SMALL --epochs 3 --seed 4 --out "$TMP/link.st" --plot "$TMP/link.svg" --quiet >/dev/null &&
   [ -L "$TMP/link.st" ] && [ -L "$TMP/link.svg" ] && ! cmp -s "$TMP/m.st" "$TMP/real.st" &&
   $S2S info "$TMP/real.st" >/dev/null && grep -q '<svg' "$TMP/real.svg"; then ok out_symlink_written_through
else bad out_symlink_written_through "$(ls -l "$TMP"/link.* "$TMP"/real.*)"; fi
ln -s nowhere/m.st "$TMP/dangling.st"
expect_error out_dangling_symlink "--out .*dangling.st: is a symbolic link" $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/dangling.st"

# --- every output is checked before the work starts (expect_error's one line on stderr: not
# even the corpus line was printed) ---------------------------------------------------------
expect_error out_empty_name "--out: empty file name" $S2S train --data $TINY $SMALL --epochs 2 --out ""
long=$(printf 'n%.0s' $(seq 300))
expect_error out_name_too_long "--out .*: file name too long" $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/$long.st"
expect_error plot_unsupported_extension "--plot .*loss.jpg.*unsupported extension '.jpg'" \
  $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/jpg.st" --plot "$TMP/loss.jpg"
if [ ! -e "$TMP/jpg.st" ]; then ok plot_extension_no_model_file; else bad plot_extension_no_model_file; fi
expect_error plot_dir_missing "--plot .*: directory .*nodir does not exist" \
  $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/x.st" --plot "$TMP/nodir/loss.png"
# the cache corpus is not even fetched when the output is wrong
expect_error out_checked_before_download "--out: empty file name" env XDG_CACHE_HOME="$TMP/nocache" HOME="$TMP" \
  S2S_DATA_URL=http://127.0.0.1:9/none.zip $S2S train --out ""
if [ ! -e "$TMP/nocache" ]; then ok out_checked_before_download_nothing_made; else bad out_checked_before_download_nothing_made; fi
expect_error attention_bad_extension "-o .*a.jpg.*'.jpg'" $S2S attention --model "$TMP/m.st" "go ." -o "$TMP/a.jpg"
expect_error translate_output_dir_missing "--output .*nodir/t.txt: directory .* does not exist" \
  $S2S translate --model "$TMP/m.st" --output "$TMP/nodir/t.txt" "go ."
expect_error eval_hyps_is_data "--hyps .*tiny.tsv is the same file as --data" \
  $S2S eval --model "$TMP/m.st" --data $TINY --hyps ./$TINY

# --- a plot that fails during training is a warning; the model is still saved ----------------
# (a 30 KiB file-size limit: the small model and its state fit, the SVG of the curves does not)
bash -c "ulimit -f 30; exec $S2S train --data $TINY --embed 4 --hidden 4 --batch 8 --epochs 3 --out $TMP/pf.st \
  --plot $TMP/pf.svg --quiet" >"$TMP/pf.out" 2>"$TMP/pf.err"; rc=$?
if [ $rc -eq 0 ] && grep -q 'warning: .*pf.svg.*File too large' "$TMP/pf.err" && $S2S info "$TMP/pf.st" >/dev/null &&
   [ -f "$TMP/pf.st.state" ] && [ ! -e "$TMP/pf.svg" ] && ! ls "$TMP" | grep -q 'pf.svg.tmp'; then ok plot_failure_is_warning
else bad plot_failure_is_warning "exit $rc" "$(cat "$TMP/pf.err")"; fi

# --- the model and its training state change together or not at all --------------------------
# A 50 KiB limit lets the model (38 KB) be written but not its state (73 KB): both stay as they were.
$S2S train --data $TINY $SMALL --epochs 2 --seed 7 --out "$TMP/pair.st" --quiet >/dev/null
cp "$TMP/pair.st" "$TMP/pair.keep"; cp "$TMP/pair.st.state" "$TMP/pair.state.keep"
expect_error pair_save_fails "pair.st.state: cannot write the temporary file: File too large" \
  bash -c "ulimit -f 50; exec $S2S train --data $TINY $SMALL --epochs 4 --seed 7 --out $TMP/pair.st --resume --quiet"
if cmp -s "$TMP/pair.st" "$TMP/pair.keep" && cmp -s "$TMP/pair.st.state" "$TMP/pair.state.keep" &&
   ! ls "$TMP" | grep -q 'pair.st.*tmp'; then ok pair_unchanged_together
else bad pair_unchanged_together "the model or its state changed"; fi
if $S2S train --data $TINY $SMALL --epochs 4 --seed 7 --out "$TMP/pair.st" --resume --quiet >/dev/null; then ok pair_resumes_after_failure
else bad pair_resumes_after_failure; fi

# --- translate and eval write files, whole, or stream ---------------------------------------
printf 'go .\ni lost .\n' >"$TMP/in.txt"
want=$($S2S translate --model "$TMP/m.st" <"$TMP/in.txt")
$S2S translate --model "$TMP/m.st" --input "$TMP/in.txt" --output "$TMP/t.txt" >"$TMP/t.stdout"
if [ "$(cat "$TMP/t.txt")" = "$want" ] && [ ! -s "$TMP/t.stdout" ]; then ok translate_input_output_files
else bad translate_input_output_files "$(cat "$TMP/t.txt")" "want: $want"; fi
got=$($S2S translate --model "$TMP/m.st" --input "$TMP/in.txt" --output /dev/stdout)
if [ "$got" = "$want" ]; then ok translate_output_streams_to_device; else bad translate_output_streams_to_device "$got"; fi
got=$($S2S translate --model "$TMP/m.st" --input "$TMP/in.txt" --output -)
if [ "$got" = "$want" ]; then ok translate_output_dash_is_stdout; else bad translate_output_dash_is_stdout "$got"; fi
expect_error translate_output_is_input "--output .*in.txt is the same file as --input" \
  $S2S translate --model "$TMP/m.st" --input "$TMP/in.txt" --output "$TMP/in.txt"
expect_error translate_output_is_model "--output .*m.st is the same file as --model" \
  $S2S translate --model "$TMP/m.st" --output "$TMP/m.st" "go ."
expect_error translate_input_and_args "give sentences as arguments or --input FILE, not both" \
  $S2S translate --model "$TMP/m.st" --input "$TMP/in.txt" "go ."
$S2S eval --model "$TMP/m.st" --data $TINY --from 0 --count 40 --hyps "$TMP/hyps.txt" --output "$TMP/report.txt" >"$TMP/e.stdout"
cut -f1 $TINY | $S2S translate --model "$TMP/m.st" >"$TMP/hyps.want"
corpus=$(grep -o 'corpus BLEU [0-9.]*' "$TMP/report.txt" | awk '{print $3}')
# the references eval scores against are the preprocessed targets: lower case, spaced punctuation
# (tiny.tsv's targets have no two punctuation marks in a row, and Ç and À as their only capitals
# outside ASCII)
cut -f2 $TINY | tr 'A-Z' 'a-z' | sed -E 's/Ç/ç/g; s/À/à/g; s/([^ ])([.,!?])/\1 \2/g' >"$TMP/refs.txt"
again=$($S2S bleu --ref "$TMP/refs.txt" "$TMP/hyps.txt" | awk '{print $3}')
if [ ! -s "$TMP/e.stdout" ] && cmp -s "$TMP/hyps.txt" "$TMP/hyps.want" && [ -n "$corpus" ] && [ "$corpus" = "$again" ]; then
  ok eval_hyps_and_output_files
else bad eval_hyps_and_output_files "eval: $corpus, bleu on --hyps: $again" "$(diff "$TMP/hyps.txt" "$TMP/hyps.want" | head -3)"; fi
# eval's length limits are translate's: the same hypotheses as translate with --max-len-ratio
$S2S eval --model "$TMP/m.st" --data $TINY --count 40 --beam 3 --max-len-ratio 0.5 --hyps "$TMP/hr.txt" >/dev/null
cut -f1 $TINY | $S2S translate --model "$TMP/m.st" --beam 3 --max-len-ratio 0.5 >"$TMP/hr.want"
cut -f1 $TINY | $S2S translate --model "$TMP/m.st" --beam 3 >"$TMP/hr.free"
if [ -s "$TMP/hr.txt" ] && cmp -s "$TMP/hr.txt" "$TMP/hr.want" && ! cmp -s "$TMP/hr.txt" "$TMP/hr.free"; then
  ok eval_max_len_ratio
else bad eval_max_len_ratio "$(diff "$TMP/hr.txt" "$TMP/hr.want" | head -3)"; fi

# --- standard output: a failed write is an error (coreutils' close_stdout) ---------------------
stdout_fails() {  # NAME CMD...: with stdout on /dev/full the command exits 1 with one message
  local name=$1; shift
  "$@" >/dev/full 2>"$TMP/err" </dev/null; local rc=$?
  if [ $rc -eq 1 ] && grep -q 'seq2seq: write error on standard output: No space left on device' "$TMP/err"; then ok "$name"
  else bad "$name" "exit $rc" "$(cat "$TMP/err")"; fi
}
stdout_fails stdout_full_translate $S2S translate --model "$TMP/m.st" "go ."
stdout_fails stdout_full_help $S2S help
stdout_fails stdout_full_version $S2S --version
stdout_fails stdout_full_info $S2S info "$TMP/m.st"
stdout_fails stdout_full_eval $S2S eval --model "$TMP/m.st" --data $TINY --count 5
stdout_fails stdout_full_bleu $S2S bleu --ref "$TMP/refs.txt" "$TMP/hyps.txt"
stdout_fails stdout_full_train $S2S train --data $TINY $SMALL --epochs 1 --out "$TMP/sf.st" --quiet
$S2S translate --model "$TMP/m.st" "go ." >&- 2>"$TMP/err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'write error on standard output' "$TMP/err"; then ok stdout_closed_translate
else bad stdout_closed_translate "exit $rc" "$(cat "$TMP/err")"; fi
# nothing printed, nothing lost: a closed stdout is fine for a command that prints nothing there
if $S2S translate --model "$TMP/m.st" --output "$TMP/c.txt" "go ." >&- 2>"$TMP/err"; then ok stdout_closed_unused
else bad stdout_closed_unused "$(cat "$TMP/err")"; fi

if ! ls "$TMP" | grep -q 'tmp[A-Za-z0-9]\{6\}$'; then ok no_temporary_files_left
else bad no_temporary_files_left "$(ls "$TMP" | grep tmp)"; fi
finish
