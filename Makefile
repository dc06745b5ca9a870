# seq2seq: d2l's encoder-decoder translator in C.
# `make` builds libs2s.a and the seq2seq CLI; `make test` builds and runs the test suite;
# `make demo` installs missing packages, builds, trains on the corpus and translates.

CC      ?= cc
# CFLAGS is the user's (optimisation, sanitizers); the project's own flags are always added.
# -fno-trapping-math only lets the compiler compute both sides of a select (so the exp/tanh
# loops vectorise) and -fno-math-errno lets sqrt vectorise (we never read errno after math);
# neither changes a result. -ffp-contract=fast lets a*b+c be one fused multiply-add (ISO C
# allows contraction; -std=c11 alone turns it off): the polynomials of exp/tanh and the
# element-wise gates are chains of them (8% on training and translation). Results then differ
# from a build without FMA in the last bits, as BLAS's do. No -ffast-math: no reassociation.
CFLAGS  ?= -O3 -march=native -g
S2S_CFLAGS = -std=c11 -ffp-contract=fast -fno-trapping-math -fno-math-errno -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror -fopenmp -pthread -Iinclude -Isrc
PKGS     = cairo libcurl libzip libcrypto libcjson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS) $(S2S_CFLAGS) $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lopenblas -lutf8proc -lm -fopenmp -pthread

BUILD   ?= build
LIB_SRC  = $(wildcard src/*.c)
CLI_SRC  = $(wildcard cli/*.c)
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test demo clean bench fuzz sanitize tsan

BIN     ?= seq2seq

all: $(BUILD)/libs2s.a $(BIN)

$(BUILD)/%.o: src/%.c $(wildcard src/*.h include/*.h) | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD):
	mkdir -p $(BUILD)/tests

$(BUILD)/libs2s.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_SRC) $(wildcard cli/*.h) $(BUILD)/libs2s.a
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -Icli $(CLI_SRC) $(BUILD)/libs2s.a $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/harness.h $(BUILD)/libs2s.a
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -Itests $< $(BUILD)/libs2s.a $(LDLIBS) -o $@

deps:
	bash scripts/deps.sh

test: deps
	$(MAKE) all $(TEST_BIN)
	bash tests/run.sh $(BUILD)/tests

DATA ?=
demo: deps
	$(MAKE) all
	bash scripts/demo.sh $(DATA)

clean:
	rm -rf build build-* seq2seq

bench: all
	S2S_EXTRA_PKGS="python3-torch time" bash scripts/deps.sh
	/usr/bin/python3 bench/bench.py $(BENCH_ARGS)

fuzz:
	bash scripts/fuzz.sh

# The whole test suite again, built with clang's AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize:
	bash scripts/sanitize.sh

# The public API's threaded test under clang's ThreadSanitizer (no data race on one handle).
tsan:
	bash scripts/tsan.sh
