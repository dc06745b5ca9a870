# What a command-line user expects of every command: COMMAND --help / -h, --version, "--" ends
# the options, the documented exit statuses (0 done, 1 error, 2 usage, 130 interrupted), and
# --threads saying what it does on this machine.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01"
$S2S train --data $TINY $SMALL --epochs 20 --seed 3 --out "$TMP/m.st" --quiet >/dev/null

# --- help and version --------------------------------------------------------------------
# every command `seq2seq help` lists (so a new one is covered without editing this list)
commands=$($S2S help | awk '/^seq2seq [a-z]+ / {print $2}')
if [ "$(printf '%s\n' $commands | wc -l)" -ge 9 ]; then ok help_lists_commands; else bad help_lists_commands "$commands"; fi
for c in $commands; do
  for h in --help -h; do
    out=$($S2S $c $h 2>"$TMP/err"); rc=$?
    if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | head -1 | cut -d' ' -f1-3)" = "usage: seq2seq $c" ] && [ ! -s "$TMP/err" ]; then
      ok "help_${c}_$h"
    else bad "help_${c}_$h" "exit $rc" "$(printf '%s\n' "$out" | head -2)" "$(cat "$TMP/err")"; fi
  done
done
# --help wins wherever it is, even after other options (and nothing runs)
out=$($S2S train --data $TINY --out "$TMP/h.st" --help); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^usage: seq2seq train' && [ ! -e "$TMP/h.st" ]; then ok help_after_options
else bad help_after_options "exit $rc"; fi
if $S2S help translate | grep -q '^usage: seq2seq translate' && $S2S help | grep -q '^Exit status: 0 done, 1 error'; then
  ok help_command_and_exit_statuses
else bad help_command_and_exit_statuses; fi
if [ "$($S2S --version | head -1)" = "$($S2S version | head -1)" ] && $S2S --version | grep -q '^seq2seq [0-9]'; then
  ok version_flag
else bad version_flag "$($S2S --version 2>&1)"; fi

# --- "--" ends the options ------------------------------------------------------------------
out=$($S2S translate --model "$TMP/m.st" -- --model "-h" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ]; then ok double_dash_ends_options
else bad double_dash_ends_options "exit $rc" "$out"; fi
printf 'va !\n' >"$TMP/ref1.txt"
out=$(printf 'va !\n' | $S2S bleu --ref "$TMP/ref1.txt" -- - 2>&1)
if printf '%s\n' "$out" | grep -q ' = 0.00 \| = 100.00 '; then ok double_dash_dash_is_stdin
else bad double_dash_dash_is_stdin "$out"; fi

# --- exit statuses ----------------------------------------------------------------------------
status() {  # NAME WANT CMD...: the command's exit status is WANT
  local name=$1 want=$2; shift 2
  "$@" >/dev/null 2>"$TMP/err" </dev/null; local rc=$?
  if [ $rc -eq "$want" ]; then ok "$name"; else bad "$name" "exit $rc, want $want" "$(head -2 "$TMP/err")"; fi
}
status exit_unknown_option_2 2 $S2S translate --model "$TMP/m.st" --bogus
status exit_bad_value_2 2 $S2S eval --model "$TMP/m.st" --data $TINY --beam zero
status exit_missing_value_2 2 $S2S bleu --ref
status exit_missing_required_2 2 $S2S attention "go ." -o "$TMP/a.png"
status exit_unknown_command_2 2 $S2S trian
status exit_no_command_2 2 $S2S
status exit_two_models_2 2 $S2S info "$TMP/m.st" "$TMP/m.st"
status exit_missing_file_1 1 $S2S info "$TMP/nope.st"
status exit_ok_0 0 $S2S info "$TMP/m.st"
# interrupted while reading its input: 130, as training does
interrupt() {  # NAME SIGNAL CMD...: stdin never ends; the signal stops it with status 130
  local name=$1 sig=$2; shift 2
  mkfifo "$TMP/$name.fifo"
  ( exec 3>"$TMP/$name.fifo"; sleep 30 ) &
  local holder=$!
  "$@" <"$TMP/$name.fifo" >/dev/null 2>"$TMP/$name.err" &
  local pid=$!
  wait_catching $pid "$sig"; kill -"$sig" $pid; wait $pid; local rc=$?
  kill $holder 2>/dev/null; wait $holder 2>/dev/null
  if [ $rc -eq 130 ] && grep -q 'interrupted' "$TMP/$name.err"; then ok "$name"; else bad "$name" "exit $rc" "$(cat "$TMP/$name.err")"; fi
}
interrupt exit_translate_sigint_130 INT $S2S translate --model "$TMP/m.st"
interrupt exit_bleu_sigterm_130 TERM $S2S bleu --ref $TINY
interrupt exit_translate_sighup_130 HUP $S2S translate --model "$TMP/m.st" --output "$TMP/never.txt"
if ! ls "$TMP" | grep -q 'never.txt'; then ok interrupted_output_leaves_nothing
else bad interrupted_output_leaves_nothing "$(ls "$TMP" | grep never)"; fi

# --- a closed terminal (SIGHUP) saves the training like Ctrl-C ---------------------------------
signal_saves sighup_saves HUP --data $TINY $SMALL
signal_saves sigterm_saves TERM --data $TINY $SMALL

# --- --threads: says what it does here --------------------------------------------------------
cpus=$(nproc)
$S2S translate --model "$TMP/m.st" --threads 1024 "go ." >/dev/null 2>"$TMP/err"
if grep -q -- "--threads 1024: using $cpus" "$TMP/err"; then ok translate_threads_capped_says_so
else bad translate_threads_capped_says_so "$(cat "$TMP/err")"; fi
expect_error train_threads_over_max "--threads: 1024 is out of range \(1 .. 64\)" \
  $S2S train --data $TINY $SMALL --epochs 1 --threads 1024 --out "$TMP/t.st"
$S2S train --data $TINY $SMALL --epochs 1 --threads $((cpus + 1)) --out "$TMP/t.st" >/dev/null 2>"$TMP/err"
if grep -q -- "--threads $((cpus + 1)) on $cpus CPUs" "$TMP/err"; then ok train_threads_over_cpus_says_so
else bad train_threads_over_cpus_says_so "$(cat "$TMP/err")"; fi
finish
