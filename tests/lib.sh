# Shell test helpers: ok/bad/skip record results; finish prints "counts: P F S".
# Tests run from the repository root with ./seq2seq built.
T_PASS=0; T_FAIL=0; T_SKIP=0
S2S=${S2S_BIN:-./seq2seq}
TMP=$(mktemp -d /tmp/s2s-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
ok()   { T_PASS=$((T_PASS + 1)); echo "PASS $1"; }
bad()  { T_FAIL=$((T_FAIL + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "  $l"; done; }
skip() { T_SKIP=$((T_SKIP + 1)); echo "SKIP $1"; echo "  skipped: $2"; }
finish() { echo "counts: $T_PASS $T_FAIL $T_SKIP"; [ "$T_FAIL" -eq 0 ]; }
# expect_error NAME PATTERN CMD...: the command must exit with 1..125 (no signal) and print
# exactly one line on stderr that starts with "seq2seq:" and matches PATTERN.
expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; local rc=$?
  local lines; lines=$(wc -l <"$TMP/err")
  if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && [ "$lines" -eq 1 ] && grep -q '^seq2seq: ' "$TMP/err" && grep -qE -- "$pat" "$TMP/err"; then
    ok "$name"
  else
    bad "$name" "exit $rc, $lines stderr line(s), wanted /$pat/:" "$(head -c 600 "$TMP/err")"
  fi
}
# wait_catching PID SIGNAL: wait (up to 30 s) until process PID runs the program (not the shell that
# forks it) and has its handler for SIGNAL installed, so that a signal sent next is the program's to
# handle: a fixed sleep lost that race on a loaded machine (the signal came before the handler).
# The program is checked first and its SigCgt read after: read the other way round, the mask can
# be the forked shell's (which catches some signals) just before the exec, and the signal then
# comes before the program's handler.
wait_catching() {
  local pid=$1 n m; n=$(kill -l "$2")
  for _ in $(seq 300); do
    [ -e "/proc/$pid" ] || return 1
    if [ "$(readlink "/proc/$pid/exe")" != "$(readlink /proc/$$/exe)" ]; then
      m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
      [ -n "$m" ] || return 1
      (( (16#$m >> (n - 1)) & 1 )) && return 0
    fi
    sleep 0.1
  done
  return 1
}
# signal_saves NAME SIGNAL TRAIN-OPTIONS...: a long training stopped by SIGNAL saves its model and
# state (TMP/NAME.st) and exits 130.
signal_saves() {
  local name=$1 sig=$2; shift 2
  $S2S train "$@" --epochs 100000 --out "$TMP/$name.st" --quiet >/dev/null 2>"$TMP/$name.err" &
  local pid=$!
  wait_catching $pid "$sig"; sleep 1.5; kill -"$sig" $pid; wait $pid; local rc=$?
  if [ $rc -eq 130 ] && $S2S info "$TMP/$name.st" >/dev/null && [ -f "$TMP/$name.st.state" ] &&
     grep -q 'interrupted: saved' "$TMP/$name.err"; then ok "$name"
  else bad "$name" "exit $rc" "$(cat "$TMP/$name.err")"; fi
}
