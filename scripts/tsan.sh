#!/usr/bin/env bash
# Builds the library, the public API's test (tests/test_api.c: several threads translating on
# one handle at once) and the server's (tests/test_serve.c: concurrent clients, reloads under
# load, the program's signals; the program built with ThreadSanitizer too) with clang's
# ThreadSanitizer into build-tsan/, and runs them. Any data race report fails the run. The
# translator's threads are pthreads (the handle's helpers, the server's workers), which
# ThreadSanitizer follows; OpenMP is only in training, which these tests run on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S_EXTRA_PKGS="clang libclang-rt-14-dev libomp-14-dev ${S2S_EXTRA_PKGS:-}" bash scripts/deps.sh
flags="-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
make -s WERROR=1 CC=clang CXX=clang++ CFLAGS="$flags" BUILD=build-tsan BIN=build-tsan/seq2seq build-tsan/libs2s.a build-tsan/seq2seq \
  build-tsan/tests/test_api build-tsan/tests/test_serve
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 ${TSAN_OPTIONS:-}"
export S2S_BIN=build-tsan/seq2seq
for t in test_api test_serve; do
  out=$(build-tsan/tests/$t 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out"
  if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -q 'ThreadSanitizer'; then
    echo "tsan: $t FAILED (exit $rc)" >&2
    exit 1
  fi
done
echo "tsan: no data race"
