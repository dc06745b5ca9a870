#!/usr/bin/env bash
# MPI data parallelism (`mpirun -np R seq2seq train`), on loopback TCP: the same numbers as
# R threads in one process (-np 2, and -np 3 for an uneven split of the batch), resume, Ctrl-C on
# mpirun, a killed rank, rank 0 alone writing and printing, and the start-up refusals
# (options, corpus, unreadable corpus). Skips when mpirun is missing or the build has no MPI.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --dropout 0.2 --seed 5"

if ! command -v mpirun >/dev/null; then skip mpi "mpirun is not installed"; finish; exit; fi
if ! $S2S version | grep -q '^MPI: yes'; then skip mpi "this build has no MPI (make MPI=1)"; finish; exit; fi
# mpirun refuses root unless told; one machine, loopback only, no help banners
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun -q --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
# the sanitizer build: full stacks, so that Open MPI's own leaks at exit are recognised (lsan.supp)
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
# wait_for FILE PID: until FILE exists (the job is training), at most 60 s or while PID lives
wait_for() { for _ in $(seq 600); do [ -e "$1" ] && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.1; done; return 1; }

# --- the numbers of R threads in one process -------------------------------------------
for R in 2 3; do
  $S2S train --data $TINY $SMALL --epochs 6 --log-every 1 --threads $R --out "$TMP/t$R.st" >/dev/null 2>"$TMP/t$R.err"
  "${MPIRUN[@]}" -np $R $S2S train --data $TINY $SMALL --epochs 6 --log-every 1 --out "$TMP/m$R.st" \
    >"$TMP/m$R.out" 2>"$TMP/m$R.err"; rc=$?
  a=$(grep '^epoch' "$TMP/t$R.err" | cut -d, -f1); b=$(grep '^epoch' "$TMP/m$R.err" | cut -d, -f1)
  if [ $rc -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ] && cmp -s "$TMP/t$R.st" "$TMP/m$R.st"; then ok "np${R}_equals_threads$R"
  else bad "np${R}_equals_threads$R" "exit $rc" "threads: $(echo $a)" "mpirun: $(echo $b)" "$(head -c 600 "$TMP/m$R.err")"; fi
done
# --max-updates stops every rank at the same update, and --lr-schedule linear falls on the same line
LIN="--lr-schedule linear --warmup 2 --max-updates 7 --epochs 100"
$S2S train --data $TINY $SMALL $LIN --threads 2 --out "$TMP/lt.st" >/dev/null 2>&1
"${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL $LIN --out "$TMP/lm.st" >/dev/null 2>"$TMP/lm.err"; rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/lt.st" ] && cmp -s "$TMP/lt.st" "$TMP/lm.st" && grep -q 'max-updates 7 reached' "$TMP/lm.err"; then
  ok np2_max_updates_linear
else bad np2_max_updates_linear "exit $rc" "$(tail -3 "$TMP/lm.err")"; fi
# rank 0 alone prints: one closing line, one log; one set of files
if [ "$(grep -c '^loss' "$TMP/m3.out")" -eq 1 ] && [ "$(grep -c '^epoch 6/6' "$TMP/m3.err")" -eq 1 ] &&
   [ "$(grep -c 'parameters$' "$TMP/m3.err")" -eq 1 ]; then ok rank0_prints_once
else bad rank0_prints_once "$(cat "$TMP/m3.out" "$TMP/m3.err" | head -20)"; fi
# the other ranks write nothing: rank 1 given another --out (paths may differ between ranks)
"${MPIRUN[@]}" -np 1 $S2S train --data $TINY $SMALL --epochs 2 --plot "$TMP/p0.svg" --out "$TMP/w0.st" : \
  -np 1 $S2S train --data $TINY $SMALL --epochs 2 --plot "$TMP/p1.svg" --out "$TMP/w1.st" >/dev/null 2>&1; rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/w0.st" ] && [ -s "$TMP/w0.st.state" ] && [ -s "$TMP/p0.svg" ] &&
   [ ! -e "$TMP/w1.st" ] && [ ! -e "$TMP/w1.st.state" ] && [ ! -e "$TMP/p1.svg" ]; then ok rank0_writes_alone
else bad rank0_writes_alone "exit $rc" "$(ls "$TMP")"; fi
# MPI_Allreduce instead of the ordered sum: two ranks add a + b either way
"${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs 6 --allreduce mpi --out "$TMP/a2.st" >/dev/null 2>&1
if cmp -s "$TMP/a2.st" "$TMP/t2.st"; then ok allreduce_mpi; else bad allreduce_mpi; fi

# --- resume: 3 + 3 epochs are 6 epochs; and with another -np the run goes on ---------------
"${MPIRUN[@]}" -np 3 $S2S train --data $TINY $SMALL --epochs 3 --out "$TMP/r.st" --quiet >/dev/null 2>&1
"${MPIRUN[@]}" -np 3 $S2S train --data $TINY $SMALL --epochs 6 --out "$TMP/r.st" --resume --quiet >/dev/null 2>&1
if cmp -s "$TMP/r.st" "$TMP/m3.st"; then ok resume_exact_np3; else bad resume_exact_np3; fi
"${MPIRUN[@]}" -np 3 $S2S train --data $TINY $SMALL --epochs 3 --out "$TMP/r2.st" --quiet >/dev/null 2>&1
"${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs 6 --out "$TMP/r2.st" --resume --log-every 1 >/dev/null 2>"$TMP/r2.err"; rc=$?
if [ $rc -eq 0 ] && grep -q 'saved with 3 slices per batch.*now 2' "$TMP/r2.err" && grep -q '^epoch 6/6' "$TMP/r2.err"
then ok resume_other_np
else bad resume_other_np "exit $rc" "$(head -c 600 "$TMP/r2.err")"; fi

# --- Ctrl-C on mpirun: rank 0 saves once; the run resumes to the numbers of an unbroken one --
"${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs 100000 --save-every 50 --out "$TMP/int.st" \
  >/dev/null 2>"$TMP/int.err" &
mp=$!
wait_for "$TMP/int.st.state" $mp; sleep 0.5; kill -INT $mp; wait $mp
n=$(grep -c 'interrupted: saved' "$TMP/int.err")
if [ "$n" -eq 1 ] && $S2S info "$TMP/int.st" >/dev/null && [ -s "$TMP/int.st.state" ]; then ok ctrl_c_saves_once
else bad ctrl_c_saves_once "$n save lines" "$(tail -5 "$TMP/int.err")"; fi
# where it stopped: epoch E + P pairs; an unbroken run to epoch E+1 must equal the resumed one
e=$(sed -n 's/.*saved .* at epoch \([0-9]*\) .*/\1/p' "$TMP/int.err")
if [ -n "$e" ]; then
  "${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs $((e + 1)) --out "$TMP/int.st" --resume --quiet >/dev/null 2>&1
  "${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs $((e + 1)) --out "$TMP/full.st" --quiet >/dev/null 2>&1
fi
if [ -n "$e" ] && cmp -s "$TMP/int.st" "$TMP/full.st"; then ok ctrl_c_resume_exact
else bad ctrl_c_resume_exact "stopped at epoch '$e'"; fi

# --- a killed rank: one line naming it; the saved model and state still resume ----------
# killed NAME VICTIM [RANK ...]: a 3-rank job (the listed ranks with S2S_DIST_FAULT=stall: an
# exchange that sees the loss spins as Open MPI's progress engine can, so the watchdog thread
# must report), rank VICTIM killed once training; one line naming VICTIM alone, exit non-zero
killed() {
  local name=$1 victim=$2 r app=()
  shift 2
  for r in 0 1 2; do
    app+=(-np 1)
    case " $* " in *" $r "*) app+=(env S2S_DIST_FAULT=stall) ;; esac
    app+=($S2S train --data $TINY $SMALL --epochs 100000 --save-every 20 --out "$TMP/k.st" --quiet)
    [ $r -lt 2 ] && app+=(:)
  done
  rm -f "$TMP"/k.st*
  "${MPIRUN[@]}" "${app[@]}" >/dev/null 2>"$TMP/k.err" &
  local mp=$! pid="" p
  wait_for "$TMP/k.st.state" $mp
  for p in $(pgrep -P $mp); do
    [ "$(tr '\0' '\n' </proc/$p/environ 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')" = "$victim" ] && pid=$p
  done
  [ -n "$pid" ] && kill -KILL "$pid"
  wait $mp; local rc=$?
  # (mpirun merges the ranks' streams: Open MPI's own line about the broken socket may be cut
  # by ours, so ours is looked for anywhere in a line)
  local lines=$(grep -o 'seq2seq: ' "$TMP/k.err" | wc -l)
  if [ -n "$pid" ] && [ $rc -ne 0 ] && [ "$lines" -eq 1 ] &&
     grep -q "seq2seq: rank $victim of 3 stopped answering.*k.st and its state hold epoch" "$TMP/k.err"; then
    ok "$name"
  else bad "$name" "pid '$pid' exit $rc, $lines line(s):" "$(tail -5 "$TMP/k.err")"; fi
}
killed stalled_ranks_named 2 0 1    # both survivors stuck: the watchdogs agree on rank 2
killed stalled_rank_beside_leaver 2 0   # rank 1 finds the loss and leaves; rank 0's watchdog names 2 alone
killed stalled_rank_speaks 0 1 2    # rank 0 gone: stuck rank 1 speaks
killed killed_rank2_named 2
killed killed_rank0_named 0
e=$(sed -n 's/.*hold epoch \([0-9]*\).*/\1/p' "$TMP/k.err")
"${MPIRUN[@]}" -np 3 $S2S train --data $TINY $SMALL --epochs $((${e:-0} + 1)) --save-every 20 --out "$TMP/k.st" --resume \
  >/dev/null 2>"$TMP/k2.err"; rc=$?
if [ -n "$e" ] && [ $rc -eq 0 ] && grep -q "resuming .* at epoch $e\$" "$TMP/k2.err" &&
   grep -q "^epoch $((e + 1))/$((e + 1)) " "$TMP/k2.err"; then ok killed_rank_files_resume
else bad killed_rank_files_resume "exit $rc, epoch '$e'" "$(head -c 600 "$TMP/k2.err")"; fi

# --- refused at start: one line from rank 0, every rank exits --------------------------
head -30 $TINY >"$TMP/other.tsv"
expect_error ranks_other_options "rank 1 was started with --hidden 24, rank 0 with --hidden 16" \
  "${MPIRUN[@]}" -np 1 $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/x.st" : \
  -np 1 $S2S train --data $TINY $SMALL --hidden 24 --epochs 2 --out "$TMP/x.st"
expect_error ranks_other_corpus "rank 1 read other training data than rank 0" \
  "${MPIRUN[@]}" -np 1 $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/x.st" : \
  -np 1 $S2S train --data "$TMP/other.tsv" $SMALL --epochs 2 --out "$TMP/x.st"
expect_error rank_cannot_read_corpus "rank 2: .*nope.tsv: cannot open" \
  "${MPIRUN[@]}" -np 2 $S2S train --data $TINY $SMALL --epochs 2 --out "$TMP/x.st" : \
  -np 1 $S2S train --data "$TMP/nope.tsv" $SMALL --epochs 2 --out "$TMP/x.st"
expect_error ranks_more_than_rows "a batch of 2 rows cannot feed 3 ranks" \
  "${MPIRUN[@]}" -np 3 $S2S train --data $TINY $SMALL --batch 2 --epochs 2 --out "$TMP/x.st"
if [ ! -e "$TMP/x.st" ]; then ok refused_runs_write_nothing; else bad refused_runs_write_nothing; fi
finish
