# The build with a user's own CFLAGS: warnings stop the project's builds (WERROR=1: make test,
# CI), not a plain `make`; and the code has none at -O1 either (`make CFLAGS="-O1 -g"` failed on
# a format-truncation warning that -O3 does not see).
. tests/lib.sh
if [ "$S2S" != ./seq2seq ]; then
  skip build_user_cflags "runs once, on the default build (make test), not on $S2S"; finish; exit
fi
if env -u WERROR -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -n CFLAGS="-O1 -g" BUILD="$TMP/n" BIN="$TMP/n/seq2seq" "$TMP/n/seq2seq" 2>/dev/null | grep -q -- '-Werror'; then
  bad plain_make_no_werror "a plain make with the user's CFLAGS builds with -Werror"
else ok plain_make_no_werror; fi
if make -s -n WERROR=1 BUILD="$TMP/n" BIN="$TMP/n/seq2seq" "$TMP/n/seq2seq" 2>/dev/null | grep -q -- '-Werror'; then
  ok werror_for_the_project
else bad werror_for_the_project "WERROR=1 does not add -Werror"; fi
if nice make -s WERROR=1 CFLAGS="-O1 -g" BUILD="$TMP/b" BIN="$TMP/b/seq2seq" "$TMP/b/seq2seq" >"$TMP/log" 2>&1 &&
   "$TMP/b/seq2seq" --version >/dev/null; then ok build_o1_no_warning
else bad build_o1_no_warning "$(grep -E 'error|warning' "$TMP/log" | head -3)"; fi
finish
