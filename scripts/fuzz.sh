#!/usr/bin/env bash
# Builds the libFuzzer targets with ASan + UBSan and runs each for a bounded time.
#   scripts/fuzz.sh [target...]     default: every target in TARGETS
#   FUZZ_SECONDS=600 scripts/fuzz.sh safetensors
# Needs clang and its fuzzer/sanitizer runtimes (Debian: clang libclang-rt-14-dev);
# scripts/deps.sh must install them for fuzzing, which this script asks it to do through
# S2S_EXTRA_PKGS (a no-op when they are already installed).
#
# A target NAME is fuzz/fuzz_NAME.c defining LLVMFuzzerTestOneInput, linked with the library
# sources in SOURCES[NAME] (src/s2s_spm.cc, the one C++ file, compiled apart with clang++) and
# the pkg-config packages in PKGS[NAME]. Its seed corpus is
# fuzz/seeds/NAME/ (copied into a working corpus under build-fuzz/, so the committed seeds do
# not grow), its dictionary fuzz/NAME.dict if present. A crash or leak stops the script with the
# input saved under build-fuzz/artifacts/NAME/; add it to the target's regression folder
# (safetensors: tests/fixtures/st_fuzz/, read by tests/test_safetensors.c).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(safetensors model corpus options request tok)
TOK="src/s2s_tok.c src/s2s_tok_d2l.c src/s2s_tok_spm.c src/s2s_spm.cc"
declare -A SOURCES=(
  [safetensors]="src/s2s_safetensors.c src/s2s_output.c src/s2s_common.c"
  [model]="$(echo src/*.c) src/s2s_spm.cc"
  [corpus]="src/s2s_text.c src/s2s_vocab.c src/s2s_common.c"
  [options]="$(echo cli/*.c src/*.c server/*.c) build-fuzz/s2s_page.c src/s2s_spm.cc"
  [request]="server/s2s_request.c server/s2s_metrics.c src/s2s_common.c"
  [tok]="src/s2s_text.c src/s2s_vocab.c src/s2s_common.c src/s2s_safetensors.c src/s2s_output.c $TOK"
)
# extra compiler flags and libraries per target (options: the CLI built with die() returning)
declare -A EXTRA=(
  [options]="-Icli -Iserver -DS2S_FUZZ -Dmain=seq2seq_main -fopenmp"
  [model]="-fopenmp"
  [request]="-Iserver"
)
declare -A LIBS=(
  [options]="-lopenblas -lm"
  [model]="-lopenblas -lm"
)
declare -A PKGS=(
  [safetensors]="libcjson"
  [model]="cairo libcurl libzip libcrypto libcjson libutf8proc sentencepiece"
  [corpus]="libutf8proc"
  [options]="cairo libcurl libzip libcrypto libcjson libutf8proc libmicrohttpd sentencepiece"
  [request]="libcjson"
  [tok]="libcjson libutf8proc sentencepiece"
)

S2S_EXTRA_PKGS="clang libclang-rt-14-dev libomp-14-dev ${S2S_EXTRA_PKGS:-}" bash scripts/deps.sh
seconds=${FUZZ_SECONDS:-60}
out=build-fuzz
[ $# -gt 0 ] && TARGETS=("$@")
mkdir -p "$out"
sh scripts/embed.sh s2s_page_html < server/page.html > "$out/s2s_page.c"  # the CLI links the server

for t in "${TARGETS[@]}"; do
  [ -n "${SOURCES[$t]:-}" ] || { echo "fuzz: unknown target '$t' (known: ${!SOURCES[*]})" >&2; exit 2; }
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  pk=${PKGS[$t]:-}
  san="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  csrc=(); cxxobj=()
  for f in ${SOURCES[$t]}; do
    case $f in
      *.cc) o="$out/$(basename "$f" .cc).o"
            clang++ -g -O1 -std=c++17 -Wall -Wextra -Werror -Iinclude -Isrc -fsanitize=fuzzer-no-link $san -c "$f" -o "$o"
            cxxobj+=("$o" -lstdc++) ;;
      *) csrc+=("$f") ;;
    esac
  done
  # shellcheck disable=SC2046,SC2086
  clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc \
    -fsanitize=fuzzer $san \
    ${EXTRA[$t]:-} $( [ -n "$pk" ] && pkg-config --cflags $pk ) \
    "fuzz/fuzz_$t.c" "${csrc[@]}" "${cxxobj[@]}" \
    $( [ -n "$pk" ] && pkg-config --libs $pk ) ${LIBS[$t]:-} -o "$out/fuzz_$t"
  [ -d "fuzz/seeds/$t" ] && cp -n "fuzz/seeds/$t"/* "$out/corpus/$t/" 2>/dev/null || true
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz: running $t for ${seconds}s" >&2
  if ! "$out/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "${dict[@]}" "$out/corpus/$t" \
       > "$out/$t.log" 2>&1; then
    tail -n 60 "$out/$t.log" >&2
    echo "fuzz: $t FAILED; reproducer in $out/artifacts/$t/ (log: $out/$t.log)" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$out/$t.log" >&2 || true
  echo "fuzz: $t ok ($(ls "$out/corpus/$t" | wc -l) corpus inputs)" >&2
done
