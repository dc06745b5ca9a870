#!/usr/bin/env bash
# Builds the library and the public API's test (tests/test_api.c: several threads translating
# on one handle at once) with clang's ThreadSanitizer into build-tsan/, and runs it. Any data
# race report fails the run. The translator's threads are pthreads (the handle's helpers), which
# ThreadSanitizer follows; OpenMP is only in training, which this test runs on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S_EXTRA_PKGS="clang libclang-rt-14-dev libomp-14-dev ${S2S_EXTRA_PKGS:-}" bash scripts/deps.sh
flags="-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
make -s CC=clang CFLAGS="$flags" BUILD=build-tsan build-tsan/libs2s.a build-tsan/tests/test_api
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 ${TSAN_OPTIONS:-}"
out=$(build-tsan/tests/test_api 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -q 'ThreadSanitizer'; then
  echo "tsan: FAILED (exit $rc)" >&2
  exit 1
fi
echo "tsan: no data race"
