#!/usr/bin/env bash
# make install PREFIX=...: the files, the shared library's SONAME and exports (the public API
# only: every S2S_API function of include/seq2seq.h, nothing else), and a program built from the
# installed header and pkg-config file alone (examples/translate.c), linked against the shared
# and the static library, that translates as the installed seq2seq does. The header also
# compiles as C++.
source tests/lib.sh
if [ "$S2S" != "./seq2seq" ] || [ ! -e build/libs2s.so ]; then
  skip install "runs on the default build (make test), not on $S2S"; finish; exit
fi
P="$TMP/prefix"
if make -s install PREFIX="$P" >"$TMP/log" 2>&1; then ok install_runs; else bad install_runs "$(tail -5 "$TMP/log")"; fi
ver=$(sed -n 's/^#define S2S_VERSION_STRING "\(.*\)"/\1/p' include/seq2seq.h)
missing=""
for f in bin/seq2seq include/seq2seq.h lib/libs2s.a "lib/libs2s.so.$ver" "lib/libs2s.so.${ver%%.*}" lib/libs2s.so \
         lib/pkgconfig/seq2seq.pc lib/pkgconfig/seq2seq-static.pc; do
  [ -e "$P/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok install_files; else bad install_files "missing:$missing"; fi
soname=$(readelf -d "$P/lib/libs2s.so.$ver" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libs2s.so.${ver%%.*}" ]; then ok soname; else bad soname "SONAME '$soname'"; fi
nm -D --defined-only "$P/lib/libs2s.so.$ver" | awk '$2 ~ /[TDB]/ {print $3}' | sort >"$TMP/exported"
sed -n 's/^S2S_API [^(]*[ *]\(s2s_[a-z0-9_]*\)(.*/\1/p' include/seq2seq.h | sort >"$TMP/declared"
if [ -s "$TMP/declared" ] && cmp -s "$TMP/exported" "$TMP/declared"; then ok exports_public_api_only
else bad exports_public_api_only "$(diff "$TMP/declared" "$TMP/exported" | head -8)"; fi
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
if pkg-config --modversion seq2seq 2>/dev/null | grep -qx "$ver"; then ok pkg_config_version
else bad pkg_config_version "$(pkg-config --modversion seq2seq 2>&1)"; fi
MODEL=tests/fixtures/torch_tiny_attn.safetensors
want=$("$P/bin/seq2seq" translate --model $MODEL --beam 4 --nbest 2 "go ." "i lost ." 2>&1)
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -pedantic examples/translate.c $(pkg-config --cflags --libs seq2seq) \
     -o "$TMP/tr_shared" 2>"$TMP/cc.err"; then
  got=$(LD_LIBRARY_PATH="$P/lib" "$TMP/tr_shared" $MODEL "go ." "i lost ." 2>&1)
  if [ "$got" = "$want" ] && [ -n "$got" ]; then ok example_shared; else bad example_shared "$got" "want: $want"; fi
  if LD_LIBRARY_PATH="$P/lib" ldd "$TMP/tr_shared" | grep -q "libs2s.so.${ver%%.*} => $P/lib"; then ok example_uses_shared
  else bad example_uses_shared "$(LD_LIBRARY_PATH="$P/lib" ldd "$TMP/tr_shared" | grep s2s)"; fi
else
  bad example_shared "$(head -5 "$TMP/cc.err")"
fi
# shellcheck disable=SC2046
if cc -std=c11 examples/translate.c $(pkg-config --cflags --libs seq2seq-static) -o "$TMP/tr_static" 2>"$TMP/cc.err"; then
  got=$(env -u LD_LIBRARY_PATH "$TMP/tr_static" $MODEL "go ." "i lost ." 2>&1)
  if [ "$got" = "$want" ] && ! ldd "$TMP/tr_static" | grep -q libs2s; then ok example_static
  else bad example_static "$got" "want: $want"; fi
else
  bad example_static "$(head -5 "$TMP/cc.err")"
fi
if command -v c++ >/dev/null; then
  if printf '#include <seq2seq.h>\nint main() { s2s_err e; return s2s_translator_open(0, 0, 0, &e) == S2S_ERR_INPUT ? 0 : 1; }\n' \
       | c++ -x c++ -Wall -Wextra -Werror -pedantic -I"$P/include" -fsyntax-only - 2>"$TMP/cxx.err"; then ok header_is_cxx
  else bad header_is_cxx "$(head -5 "$TMP/cxx.err")"; fi
else
  skip header_is_cxx "no C++ compiler"
fi
finish
