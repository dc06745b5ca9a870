# Resource limits: under an address-space limit (ulimit -v) no command hangs (OpenBLAS's idle
# thread pool used to retry a 128 MiB buffer forever at exit), and memory that does not fit is a
# one-line error naming what needed it and the limit. Each command runs under `timeout`, so a
# hang fails the test instead of the CI.
. tests/lib.sh
TINY=tests/data/tiny.tsv
case "$S2S" in
  *asan*|*tsan*) skip limits "a sanitizer's shadow memory needs more address space than the limits tested"; finish; exit ;;
esac
$S2S train --data $TINY --embed 16 --hidden 16 --batch 8 --epochs 5 --out "$TMP/m.st" --quiet >/dev/null
LIMIT=200000  # KiB, as the issue found it: the program needs ~100 MiB of address space to start

limited() { bash -c "ulimit -v $LIMIT; exec timeout 30 \"\$@\"" limited "$@"; }

limited $S2S help >/dev/null 2>"$TMP/err"; rc=$?
if [ $rc -eq 0 ]; then ok ulimit_v_help_exits; else bad ulimit_v_help_exits "exit $rc (124: hung)" "$(cat "$TMP/err")"; fi
out=$(limited $S2S translate --model "$TMP/m.st" "go ." 2>"$TMP/err"); rc=$?
if [ $rc -eq 0 ] && [ -n "$out" ]; then ok ulimit_v_translate; else bad ulimit_v_translate "exit $rc" "$(cat "$TMP/err")"; fi
limited $S2S train --data $TINY --embed 16 --hidden 16 --batch 8 --epochs 2 --threads 2 --out "$TMP/t.st" --quiet >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ]; then ok ulimit_v_train_two_threads; else bad ulimit_v_train_two_threads "exit $rc" "$(cat "$TMP/err")"; fi
# too big for the limit: said before training, with the limit named
expect_error ulimit_v_train_too_big "needs [0-9.]+ [KMGT]iB of memory .*address-space limit \(ulimit -v\) is" \
  limited $S2S train --data $TINY --embed 512 --hidden 4096 --epochs 1 --out "$TMP/big.st"
finish
