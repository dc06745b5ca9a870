#!/usr/bin/env bash
# Builds the library, the program and every test with clang's AddressSanitizer (leaks
# included) and UndefinedBehaviorSanitizer into build-asan/, and runs the whole test suite on
# that build. Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S_EXTRA_PKGS="clang libclang-rt-14-dev libomp-14-dev ${S2S_EXTRA_PKGS:-}" bash scripts/deps.sh
# -fno-sanitize=vptr: the C++ file's vptr checks would need the C++ runtime of UBSan, and the
# program is linked by the C driver; that file has no casts of its own to check.
flags="-O1 -g -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
tests=$(for t in tests/test_*.c; do b=$(basename "$t" .c); printf 'build-asan/tests/%s ' "$b"; done)
# shellcheck disable=SC2086
make -s WERROR=1 CC=clang CXX=clang++ CFLAGS="$flags" BUILD=build-asan BIN=build-asan/seq2seq build-asan/libs2s.a build-asan/seq2seq $tests
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export S2S_BIN=build-asan/seq2seq
bash tests/run.sh build-asan/tests
# The build above has no -march=native, so our AVX-512 kernel and the packed bfloat16 and 8-bit
# products (S2S_GEMM=bf16, int8) never run under the sanitizers there. Where this CPU has
# AVX-512, their tests again in a build for this CPU: the kernels' own (test_kernel) and every
# family's inference steps through them (test_families).
if grep -q '^flags.* avx512f' /proc/cpuinfo; then
  # shellcheck disable=SC2086
  make -s WERROR=1 CC=clang CXX=clang++ CFLAGS="$flags -march=native" BUILD=build-asan-native \
      BIN=build-asan-native/seq2seq build-asan-native/tests/test_kernel build-asan-native/tests/test_families
  build-asan-native/tests/test_kernel | tail -n 1
  build-asan-native/tests/test_families | tail -n 1
fi
