#!/usr/bin/env bash
# Runs every test binary in the given folder and sums their counts into one closing line.
# Each binary (and each tests/test_*.sh script) prints PASS/FAIL/SKIP lines and, last,
# "counts: P F S".
dir=${1:-build/tests}
pass=0; fail=0; skip=0
for t in "$dir"/test_* tests/test_*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t")
  case "$t" in
    *.sh) out=$(bash "$t" 2>&1); rc=$? ;;
    *) [ -x "$t" ] || continue; out=$("$t" 2>&1); rc=$? ;;
  esac
  printf '%s\n' "$out" | grep -v '^counts:'
  line=$(printf '%s\n' "$out" | grep '^counts:' | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL $name: exited $rc without a count (crash?)"; fail=$((fail + 1)); continue
  fi
  set -- $line
  pass=$((pass + $2)); fail=$((fail + $3)); skip=$((skip + $4))
  if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then echo "FAIL $name: exit $rc"; fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
