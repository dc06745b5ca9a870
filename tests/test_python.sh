#!/usr/bin/env bash
# The Python package with Debian's python3 (tests/test_python.py: against the library `make`
# built, build/libs2s.so, and the program), then `pip install --no-build-isolation` of a copy of
# python/ into a fresh venv, offline, and the installed package translating with the library it
# bundled. Skipped on other builds (the sanitizers' library would need its runtime preloaded).
source tests/lib.sh
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then skip python "no $PY"; finish; exit; fi
if [ "$S2S" != "./seq2seq" ] || [ ! -e build/libs2s.so.1 ]; then
  skip python "runs on the default build (make test), not on $S2S"; finish; exit
fi
out=$(S2S_LIBRARY=build/libs2s.so.1 "$PY" tests/test_python.py 2>&1); rc=$?
printf '%s\n' "$out" | grep -v '^counts:'
set -- $(printf '%s\n' "$out" | grep '^counts:' | tail -n 1)
if [ $# -eq 4 ]; then T_PASS=$((T_PASS + $2)); T_FAIL=$((T_FAIL + $3)); T_SKIP=$((T_SKIP + $4)); fi
if [ $# -ne 4 ] || { [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; }; then bad python_tests "exit $rc without a count"; fi

# the documented offline install (README "From Python"), on a copy so the checkout stays clean
if "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  cp -r python "$TMP/pkg" && rm -rf "$TMP/pkg/build" "$TMP/pkg"/*.egg-info
  if "$PY" -m venv --system-site-packages "$TMP/venv" >"$TMP/venv.log" 2>&1 &&
     S2S_LIBRARY="$PWD/build/libs2s.so.1" "$TMP/venv/bin/pip" install --no-index --no-build-isolation "$TMP/pkg" \
       >"$TMP/pip.log" 2>&1; then
    got=$(cd "$TMP" && env -u S2S_LIBRARY "$TMP/venv/bin/python" -c \
      'import seq2seq, sys; print(seq2seq._lib.lib._name.startswith(sys.prefix), seq2seq.Translator(sys.argv[1]).translate("go ."))' \
      "$OLDPWD/tests/fixtures/torch_tiny_attn.safetensors" 2>&1)
    want=$($S2S translate --model tests/fixtures/torch_tiny_attn.safetensors "go .")
    if [ "$got" = "True $want" ]; then ok pip_install_offline; else bad pip_install_offline "$got" "want: True $want"; fi
  else
    bad pip_install_offline "$(tail -5 "$TMP/venv.log" "$TMP/pip.log")"
  fi
else
  skip pip_install_offline "no venv/ensurepip (python3-venv)"
fi
finish
