#!/usr/bin/python3
"""Drives the page of `seq2seq serve` in headless Chromium (chromedriver, Debian's
python3-selenium): types a sentence, clicks Translate, and checks what the page shows against
the server's own API: the translation, the n-best list with its scores, and the heatmap of the
chosen hypothesis (one cell per (target, source) token pair, the tokens as axis labels, a
cell's weight on hover), first the best one's, then another's after clicking it in the list.

    page_check.py URL SENTENCE [--screenshot FILE.png]

Prints PASS/FAIL lines and exits non-zero on any failure (tests/test_page.sh runs it)."""
import json
import shutil
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BEAM, NBEST = 4, 3
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else "\n  " + detail))
    failures += not ok


def check_heatmap(d, name, src, att):
    """The heatmap drawn: one cell per (target, source) pair, the tokens as labels, the API's
    weights. Returns its cells."""
    rows, cols = len(att["tgt_tokens"]), len(src)
    cells = d.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")
    check(name + "_cells", len(cells) == rows * cols,
          "%d cells for %d target x %d source tokens" % (len(cells), rows, cols))
    pairs = {(int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))) for c in cells}
    check(name + "_one_cell_per_pair", pairs == {(i, j) for i in range(rows) for j in range(cols)})
    labels = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#heatmap text")]
    check(name + "_labels", all(tok in labels for tok in src + att["tgt_tokens"])
          and "Keys" in labels and "Queries" in labels, "labels %r" % labels)
    worst = max([abs(float(c.get_attribute("data-weight")) -
                     att["weights"][int(c.get_attribute("data-row"))][int(c.get_attribute("data-col"))])
                 for c in cells] or [1])
    check(name + "_weights", worst < 1e-6, "largest difference %g" % worst)
    return cells


def api(url, sentence):
    body = json.dumps({"text": [sentence], "beam": BEAM, "nbest": NBEST, "attention": True}).encode()
    req = urllib.request.Request(url + "v1/translate", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["translations"][0]


def main():
    url, sentence = sys.argv[1], sys.argv[2]
    shot = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--screenshot" else None
    want = api(url, sentence)
    profile = tempfile.mkdtemp(prefix="s2s-chromium.")
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for f in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1000,900", "--user-data-dir=" + profile]:
        o.add_argument(f)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    try:
        d.set_page_load_timeout(30)
        d.get(url)
        check("page_title", "seq2seq" in d.title, d.title)
        box = d.find_element(By.ID, "src")
        box.clear()
        box.send_keys(sentence)
        for field, v in (("beam", BEAM), ("nbest", NBEST)):
            e = d.find_element(By.ID, field)
            e.clear()
            e.send_keys(str(v))
        d.find_element(By.ID, "translate").click()
        wait = WebDriverWait(d, 30)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".result .translation"))
        text = d.find_element(By.CSS_SELECTOR, ".result .translation").text
        best = want["hypotheses"][0]["text"]
        check("page_translation", text == best, "page %r, API %r" % (text, best))
        items = d.find_elements(By.CSS_SELECTOR, ".result ol.nbest li")
        shown = [(li.find_element(By.CSS_SELECTOR, ".hyp").text, li.find_element(By.CSS_SELECTOR, ".score").text)
                 for li in items]
        expect = [(h["text"], "%.4f" % h["score"]) for h in want["hypotheses"]]
        check("page_nbest_with_scores", shown == expect and len(shown) == NBEST, "page %r, API %r" % (shown, expect))

        src = want["src_tokens"]
        att = want["hypotheses"][0]["attention"]
        rows, cols = len(att["tgt_tokens"]), len(src)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell"))
        cells = check_heatmap(d, "page_heatmap", src, att)
        # another hypothesis chosen in the n-best list: its own heatmap
        other = want["hypotheses"][1]["attention"]
        items[1].click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")) == len(other["tgt_tokens"]) * cols
                   and "translation 2" in d.find_element(By.ID, "caption").text)
        check_heatmap(d, "page_chosen_hypothesis_heatmap", src, other)
        items[0].click()
        wait.until(lambda d: "the best translation" in d.find_element(By.ID, "caption").text)
        cells = d.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")
        i, j = rows - 1, cols - 1
        cell = d.find_element(By.CSS_SELECTOR, '#heatmap rect.cell[data-row="%d"][data-col="%d"]' % (i, j))
        ActionChains(d).move_to_element(cell).perform()
        tip = d.find_element(By.ID, "tip")
        wait.until(lambda d: tip.is_displayed())
        w = "%.4f" % att["weights"][i][j]
        check("page_hover_weight", tip.is_displayed() and tip.text.endswith(w) and att["tgt_tokens"][i] in tip.text,
              "tip %r, want ...%s" % (tip.text, w))
        errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
        check("page_no_console_errors", not errors, repr(errors))
        if shot:  # hover the strongest weight, as a reader would
            top = max(cells, key=lambda c: float(c.get_attribute("data-weight")))
            ActionChains(d).move_to_element(top).perform()
            d.set_window_size(780, 900)
            d.set_window_size(780, 120 + d.execute_script("return document.body.scrollHeight"))
            top = max(d.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell"),
                      key=lambda c: float(c.get_attribute("data-weight")))
            ActionChains(d).move_to_element(top).perform()
            d.save_screenshot(shot)
            print("  screenshot: " + shot)
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
