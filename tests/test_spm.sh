# The program in SentencePiece mode (--tokenizer spm) on the tiny corpus: raw cased text in,
# detokenized cased text out, the tokenizer inside the model file (and Python's sentencepiece
# reading it as the README shows), every command, exact resume, and one-line errors for bad
# models, options and input.
. tests/lib.sh
TINY=tests/data/tiny.tsv
SMALL="--embed 16 --hidden 16 --batch 8 --lr 0.01 --steps 16"
FOREIGN=tests/fixtures/spm_foreign.model

# --- training and translating ---------------------------------------------------------
if $S2S train --data $TINY --tokenizer spm $SMALL --epochs 80 --seed 3 --out "$TMP/a.st" >"$TMP/a.out" 2>"$TMP/a.err" &&
   grep -qE '^loss [0-9]+\.[0-9]{3}, ' "$TMP/a.out" &&
   grep -qE '^seq2seq: SentencePiece \(unigram, one model per side\) trained in [0-9.]+ s: [0-9]+/[0-9]+ pieces$' "$TMP/a.err" &&
   grep -qE '^seq2seq: tokens per sentence: source [0-9.]+ \(longest [0-9]+\), target ' "$TMP/a.err"; then ok spm_train
else bad spm_train "$(cat "$TMP/a.out" "$TMP/a.err" | tail -5)"; fi
loss=$(awk '/^loss/ {sub(",", "", $2); print $2}' "$TMP/a.out")
if awk -v l="$loss" 'BEGIN { exit !(l < 0.1) }'; then ok spm_train_learns; else bad spm_train_learns "final loss $loss"; fi

# cased, detokenized output for raw input (these are training pairs the model has learnt)
out=$($S2S translate --model "$TMP/a.st" "Go." "I'm home." "He's calm." 2>&1)
want=$'Va !\nJe suis chez moi.\nIl est calme.'
if [ "$out" = "$want" ]; then ok spm_translate_cased; else bad spm_translate_cased "$out"; fi
out2=$(printf "Go.\r\nI'm home.\nHe's calm.\n" | $S2S translate --model "$TMP/a.st" --threads 2 --batch 2)
if [ "$out" = "$out2" ]; then ok spm_translate_stdin; else bad spm_translate_stdin "$out2"; fi
out=$($S2S translate --model "$TMP/a.st" --beam 3 --nbest 2 "I'm home.")
if [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] && printf '%s\n' "$out" | grep -qP '^-?[0-9]+\.[0-9]{4}\tJe suis chez moi\.$'; then
  ok spm_nbest; else bad spm_nbest "$out"; fi
out=$(printf "Go.\tVa !\n" | $S2S translate --model "$TMP/a.st" --with-ref)
if [ "$out" = "Go. => Va !, bleu 1.000" ]; then ok spm_with_ref; else bad spm_with_ref "$out"; fi

# eval: BLEU of the detokenized output against the raw (cased) references
out=$($S2S eval --model "$TMP/a.st" --data $TINY --count 40)
bleu=$(printf '%s\n' "$out" | awk '/^corpus BLEU/ {print $3}')
if printf '%s\n' "$out" | grep -q 'case:mixed|eff:no|tok:13a' && awk -v b="$bleu" 'BEGIN { exit !(b > 50) }'; then
  ok spm_eval; else bad spm_eval "$out"; fi
# the same number from the translations and `bleu` on the raw references
cut -f1 $TINY | $S2S translate --model "$TMP/a.st" >"$TMP/hyp.txt"
cut -f2 $TINY >"$TMP/ref.txt"
b2=$($S2S bleu --ref "$TMP/ref.txt" "$TMP/hyp.txt" | sed -E 's/^BLEU\|[^=]*= ([0-9.]+) .*/\1/')
if [ -n "$bleu" ] && [ "$bleu" = "$b2" ]; then ok spm_eval_is_bleu_on_raw_refs; else bad spm_eval_is_bleu_on_raw_refs "$bleu vs $b2"; fi

# the heatmap's labels are the pieces
if $S2S attention --model "$TMP/a.st" "I'm home." -o "$TMP/att.svg" >/dev/null && [ -s "$TMP/att.svg" ]; then ok spm_attention
else bad spm_attention; fi

info=$($S2S info "$TMP/a.st")
if printf '%s\n' "$info" | grep -qE '^tokenizer +spm \(SentencePiece models of [0-9]+/[0-9]+ pieces in the file\)$'; then
  ok spm_info; else bad spm_info "$info"; fi
out=$($S2S tokenize --model "$TMP/a.st" "I'm home.")
if [ "$out" = "▁I ' m ▁home ." ]; then ok spm_tokenize; else bad spm_tokenize "$out"; fi
ids=$($S2S tokenize --model "$TMP/a.st" --ids "I'm home.")
if [ "$(echo $ids | wc -w)" -eq 5 ]; then ok spm_tokenize_ids; else bad spm_tokenize_ids "$ids"; fi

# --- same options, same file; resume is exact --------------------------------------------
$S2S train --data $TINY --tokenizer spm $SMALL --epochs 6 --seed 7 --dropout 0.2 --log-every 1 --out "$TMP/r6.st" 2>"$TMP/r6.err" >/dev/null
$S2S train --data $TINY --tokenizer spm $SMALL --epochs 3 --seed 7 --dropout 0.2 --log-every 1 --out "$TMP/r3.st" 2>/dev/null >/dev/null
$S2S train --data $TINY --tokenizer spm $SMALL --epochs 6 --seed 7 --dropout 0.2 --log-every 1 --out "$TMP/r3.st" --resume 2>"$TMP/r3.err" >/dev/null
$S2S train --data $TINY --tokenizer spm $SMALL --epochs 6 --seed 7 --dropout 0.2 --log-every 1 --out "$TMP/s6.st" 2>/dev/null >/dev/null
if cmp -s "$TMP/r6.st" "$TMP/s6.st"; then ok spm_deterministic; else bad spm_deterministic; fi
if cmp -s "$TMP/r6.st" "$TMP/r3.st"; then ok spm_resume_exact; else bad spm_resume_exact "$(tail -3 "$TMP/r3.err")"; fi
expect_error spm_resume_other_tokenizer 'started with --tokenizer spm, now d2l' \
  $S2S train --data $TINY $SMALL --epochs 6 --seed 7 --dropout 0.2 --out "$TMP/r3.st" --resume
expect_error spm_resume_other_vocab_size 'started with --vocab-size 8000, now 50' \
  $S2S train --data $TINY --vocab-size 50 $SMALL --epochs 6 --seed 7 --dropout 0.2 --out "$TMP/r3.st" --resume

# --- the other ways to get SentencePiece models ---------------------------------------------
$S2S train --data $TINY --spm-joint $SMALL --epochs 2 --out "$TMP/j.st" 2>"$TMP/j.err" >/dev/null
if grep -qE 'one joint model\) trained in [0-9.]+ s: ([0-9]+)/\1 pieces' "$TMP/j.err" &&
   [ "$(sed -n 's/^src_vocab *//p' <($S2S info "$TMP/j.st"))" = "$(sed -n 's/^tgt_vocab *//p' <($S2S info "$TMP/j.st"))" ]; then
  ok spm_joint; else bad spm_joint "$(cat "$TMP/j.err")"; fi
if $S2S train --data $TINY --spm-type bpe --vocab-size 60 $SMALL --epochs 2 --out "$TMP/b.st" 2>"$TMP/b.err" >/dev/null &&
   grep -qE '\(bpe, one model per side\) trained in [0-9.]+ s: [0-9]+/[0-9]+ pieces' "$TMP/b.err" &&
   [ "$(sed -n 's/^tgt_vocab *//p' <($S2S info "$TMP/b.st"))" -le 60 ]; then ok spm_bpe; else bad spm_bpe "$(cat "$TMP/b.err")"; fi
# a model spm_train wrote (its own ids, no <pad>, byte fallback) for both sides
if $S2S train --data $TINY --spm-model $FOREIGN $SMALL --epochs 40 --out "$TMP/f.st" >/dev/null 2>"$TMP/f.err" &&
   out=$($S2S translate --model "$TMP/f.st" "I'm home." "☃") && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] &&
   [ "$($S2S tokenize --model "$TMP/f.st" --target "Je ☃")" = "▁Je ▁ <0xE2> <0x98> <0x83>" ]; then ok spm_model_file
else bad spm_model_file "$(tail -3 "$TMP/f.err")" "$out"; fi
if command -v spm_train >/dev/null; then
  cut -f1 $TINY >"$TMP/en.txt"; cut -f2 $TINY >"$TMP/fr.txt"
  for s in en fr; do
    spm_train --input="$TMP/$s.txt" --model_prefix="$TMP/$s" --vocab_size=70 --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
  done
  # spm_train's pieces: <unk> <s> </s> and the rest; the vocabulary: <unk> <pad> <bos> <eos> and the rest
  if $S2S train --data $TINY --spm-src "$TMP/en.model" --spm-tgt "$TMP/fr.model" $SMALL --epochs 2 --out "$TMP/st.st" --quiet >/dev/null &&
     [ "$(sed -n 's/^src_vocab *//p' <($S2S info "$TMP/st.st"))" = $(($(wc -l <"$TMP/en.vocab") + 1)) ] &&
     [ "$(sed -n 's/^tgt_vocab *//p' <($S2S info "$TMP/st.st"))" = $(($(wc -l <"$TMP/fr.vocab") + 1)) ]; then ok spm_src_tgt_files
  else bad spm_src_tgt_files "$($S2S info "$TMP/st.st" 2>&1 | tail -3)"; fi
else skip spm_src_tgt_files "spm_train (Debian package sentencepiece) is not installed"; fi

# --- validation: cased BLEU on detokenized output ---------------------------------------------
if $S2S train --data $TINY --tokenizer spm $SMALL --epochs 20 --valid-pairs 5 --valid-every 10 --out "$TMP/v.st" 2>"$TMP/v.err" >/dev/null &&
   grep -qE '^epoch 20/20 loss [0-9.]+, [0-9.]+ tokens/sec, valid loss [0-9.]+, valid BLEU [0-9.]+$' "$TMP/v.err"; then
  ok spm_validation; else bad spm_validation "$(tail -3 "$TMP/v.err")"; fi

# --- bad input: a translation or one line; nothing crashes --------------------------------------
long=$(head -c 10000 /dev/zero | tr '\0' 'x')
out=$(printf 'Go.\n\n   \n%s\nJe ☃ 日本 𝄞\n' "$long" | $S2S translate --model "$TMP/a.st"); rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 5 ] && [ "$(printf '%s\n' "$out" | sed -n 2p)" = "" ] &&
   [ "$(printf '%s\n' "$out" | sed -n 3p)" = "" ] && [ "$(printf '%s\n' "$out" | sed -n 1p)" = "Va !" ]; then ok spm_odd_lines
else bad spm_odd_lines "rc $rc" "$out"; fi
expect_error spm_invalid_utf8 'standard input: line 2: invalid UTF-8' \
  sh -c "printf 'Go.\ncaf\351\n' | $S2S translate --model $TMP/a.st"
printf 'Go.\tVa !\nGo\351.\tVa !\n' >"$TMP/badutf.tsv"
expect_error spm_train_invalid_utf8 'badutf.tsv: line 2: invalid UTF-8' \
  $S2S train --data "$TMP/badutf.tsv" --tokenizer spm --epochs 1 --out "$TMP/x.st"

# a corrupt SentencePiece model inside the model file: the base64 overwritten in the middle
cp "$TMP/a.st" "$TMP/corrupt.st"
off=$(grep -boa '"spm.src":"' "$TMP/corrupt.st" | head -1 | cut -d: -f1)
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' | dd of="$TMP/corrupt.st" bs=1 seek=$((off + 400)) conv=notrunc 2>/dev/null
expect_error spm_corrupt_model_in_file 'corrupt.st: (metadata "spm.src"|the SentencePiece model in "spm.src")' \
  $S2S translate --model "$TMP/corrupt.st" "Go."
printf 'not a model at all' >"$TMP/junk.model"
expect_error spm_junk_model_option 'junk.model: not a SentencePiece model' \
  $S2S train --data $TINY --spm-model "$TMP/junk.model" --epochs 1 --out "$TMP/x.st"
expect_error spm_foreign_file_option 'tiny.tsv: ' \
  $S2S train --data $TINY --spm-model $TINY --epochs 1 --out "$TMP/x.st"
expect_error spm_model_with_d2l 'spm-model goes with --tokenizer spm' \
  $S2S train --data $TINY --tokenizer d2l --spm-model $FOREIGN --epochs 1 --out "$TMP/x.st"
expect_error spm_vocab_size_with_model 'vocab-size sets how a SentencePiece model is trained' \
  $S2S train --data $TINY --spm-model $FOREIGN --vocab-size 100 --epochs 1 --out "$TMP/x.st"
expect_error spm_src_alone '--spm-src and --spm-tgt go together' \
  $S2S train --data $TINY --spm-src $FOREIGN --epochs 1 --out "$TMP/x.st"
expect_error spm_bad_tokenizer "--tokenizer: 'bpe' is not d2l or spm" \
  $S2S train --data $TINY --tokenizer bpe --epochs 1 --out "$TMP/x.st"
expect_error spm_bad_coverage 'character-coverage: 0.5 is out of range' \
  $S2S train --data $TINY --character-coverage 0.5 --epochs 1 --out "$TMP/x.st"
expect_error spm_out_is_model 'is the same file as --spm-model' \
  $S2S train --data $TINY --spm-model "$TMP/junk.model" --epochs 1 --out "$TMP/junk.model"
if [ "$(cat "$TMP/junk.model")" = "not a model at all" ]; then ok spm_out_is_model_untouched; else bad spm_out_is_model_untouched; fi

# --- Python's sentencepiece reads the tokenizer from the model file, as the README shows -------
if /usr/bin/python3 -c 'import sentencepiece' 2>/dev/null; then
  # the README's snippet, verbatim but for the file name, then checks on what it loaded
  awk '/^<!-- python-spm-snippet -->/ {on = 1; next} on && /^```python/ {next} on && /^```/ {exit} on' README.md |
    sed "s|enfr.safetensors|$TMP/a.st|" >"$TMP/snippet.py"
  cat >>"$TMP/snippet.py" <<'EOF'
import sys
meta = json.loads(open(sys.argv[1], "rb").read()[8:8 + struct.unpack("<Q", open(sys.argv[1], "rb").read(8))[0]])["__metadata__"]
vocab = json.loads(meta["tgt_vocab"])
assert vocab == [tgt.id_to_piece(i) for i in range(tgt.get_piece_size())], "ids differ"
print(" ".join(src.encode(sys.argv[2], out_type=str)))
EOF
  out=$(/usr/bin/python3 "$TMP/snippet.py" "$TMP/a.st" "He's calm." 2>&1)
  ours=$($S2S tokenize --model "$TMP/a.st" "He's calm.")
  if [ "$(grep -c . "$TMP/snippet.py")" -gt 8 ] && [ "$(printf '%s\n' "$out" | tail -1)" = "$ours" ] &&
     printf '%s\n' "$out" | grep -qx 'Je suis chez moi.'; then ok spm_python_reads_model_file
  else bad spm_python_reads_model_file "$out" "ours: $ours"; fi
else skip spm_python_reads_model_file "python3-sentencepiece is not installed"; fi
# training through the library's API (Python's seq2seq package): the same file as seq2seq train's
if [ "$S2S" = "./seq2seq" ] && [ -e build/libs2s.so.1 ] && [ -x /usr/bin/python3 ]; then
  if S2S_LIBRARY=build/libs2s.so.1 PYTHONPATH=python /usr/bin/python3 -c '
import sys, seq2seq
seq2seq.train(sys.argv[1], epochs=80, out=sys.argv[2], tokenizer="spm", embed=16, hidden=16, batch=8, lr=0.01,
              num_steps=16, seed=3)' $TINY "$TMP/py.st" >"$TMP/py.out" 2>&1 && cmp -s "$TMP/py.st" "$TMP/a.st"; then
    ok spm_api_training_is_the_programs
  else bad spm_api_training_is_the_programs "$(tail -3 "$TMP/py.out")" "files differ or training failed"; fi
else skip spm_api_training_is_the_programs "runs on the default build with build/libs2s.so.1"; fi
# the weights load into the PyTorch reference with strict=True (when torch is there)
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if /usr/bin/python3 -c "import sys; sys.path.insert(0, 'tools'); import d2l_ref; d2l_ref.load_model('$TMP/a.st')" 2>"$TMP/py.err"; then
    ok spm_weights_load_in_pytorch; else bad spm_weights_load_in_pytorch "$(tail -3 "$TMP/py.err")"; fi
else skip spm_weights_load_in_pytorch "python3-torch is not installed"; fi
finish
