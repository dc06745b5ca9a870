#!/usr/bin/env bash
# Installs the Debian packages the project builds against, only those missing.
set -euo pipefail
# SentencePiece: the library (--tokenizer spm), spm_train (models trained outside, as tests
# make one) and the Python module (the README's snippet, tested)
pkgs=(build-essential pkg-config libopenblas-dev libcjson-dev libutf8proc-dev libzip-dev
      libcairo2-dev libcurl4-openssl-dev libssl-dev libmicrohttpd-dev openmpi-bin libopenmpi-dev
      libsentencepiece-dev sentencepiece python3-sentencepiece
      python3 python3-venv python3-pip python3-setuptools python3-wheel  # python/: tests, offline pip install
      chromium chromium-driver python3-selenium)  # the server's page, tested in a browser
[ -n "${S2S_EXTRA_PKGS:-}" ] && pkgs+=(${S2S_EXTRA_PKGS})
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
