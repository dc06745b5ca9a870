# The page of `seq2seq serve` in a real browser: headless Chromium through chromedriver and
# Debian's python3-selenium (tests/page_check.py). The server runs on a port the kernel picks
# and is stopped here, whatever happens. S2S_SCREENSHOT=FILE.png also saves the page.
. tests/lib.sh
MODEL=${S2S_PAGE_MODEL:-tests/fixtures/torch_tiny_attn.safetensors}
SENTENCE=${S2S_PAGE_SENTENCE:-"I'm home."}
missing=""
for b in /usr/bin/chromium /usr/bin/chromedriver; do [ -x "$b" ] || missing="$missing $b"; done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || missing="$missing python3-selenium"
if [ -n "$missing" ]; then
  skip page_in_browser "not installed:$missing (scripts/deps.sh installs them)"
  finish; exit
fi

$S2S serve --model "$MODEL" --port 0 >"$TMP/url" 2>"$TMP/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/url" ] && break; sleep 0.05; done
url=$(head -n 1 "$TMP/url")
if [ -z "$url" ]; then
  bad page_server_starts "$(cat "$TMP/err")"; finish; exit
fi
shot=()
[ -n "${S2S_SCREENSHOT:-}" ] && shot=(--screenshot "$S2S_SCREENSHOT")
out=$(timeout 120 /usr/bin/python3 tests/page_check.py "$url" "$SENTENCE" "${shot[@]}" 2>&1)
rc=$?
# page_check prints its own PASS/FAIL lines: count them here
while IFS= read -r line; do
  case "$line" in
    PASS\ *) ok "${line#PASS }" ;;
    FAIL\ *) bad "${line#FAIL }" ;;
    *) echo "$line" ;;
  esac
done <<<"$out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then bad page_check_runs "exit $rc"; fi
kill -TERM $pid
wait $pid; rc=$?
if [ $rc -eq 0 ]; then ok page_server_stops_cleanly; else bad page_server_stops_cleanly "exit $rc" "$(cat "$TMP/err")"; fi
trap 'rm -rf "$TMP"' EXIT
finish
