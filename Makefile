# seq2seq: d2l's encoder-decoder translator in C.
# `make` builds libs2s.a, libs2s.so and the seq2seq CLI; `make test` builds and runs the test
# suite; `make demo` installs missing packages, builds, trains on the corpus and translates;
# `make install PREFIX=...` installs the libraries, include/seq2seq.h, a pkg-config file and the
# program.

CC      ?= cc
# CFLAGS is the user's (optimisation, sanitizers); the project's own flags are always added.
# -fno-trapping-math only lets the compiler compute both sides of a select (so the exp/tanh
# loops vectorise) and -fno-math-errno lets sqrt vectorise (we never read errno after math);
# neither changes a result. -ffp-contract=fast lets a*b+c be one fused multiply-add (ISO C
# allows contraction; -std=c11 alone turns it off): the polynomials of exp/tanh and the
# element-wise gates are chains of them (8% on training and translation). Results then differ
# from a build without FMA in the last bits, as BLAS's do. No -ffast-math: no reassociation.
CFLAGS  ?= -O3 -march=native -g
# The library's objects are position-independent, so one set serves libs2s.a and libs2s.so (no
# measurable cost on this machine: d2l's training and translation take the same CPU time), and
# hidden but for what include/seq2seq.h marks S2S_API: the shared library exports the public API
# only, while the program and the tests link the static library and reach everything.
# Warnings are errors for the project's own builds (make test, CI and the sanitizer builds set
# WERROR=1), not for a plain `make` with the user's compiler and CFLAGS, where a new warning
# should not stop the build.
WERROR  ?=
S2S_CFLAGS = -std=c11 -ffp-contract=fast -fno-trapping-math -fno-math-errno -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra $(if $(WERROR),-Werror) -fopenmp -pthread -fPIC -fvisibility=hidden -Iinclude -Isrc
PKGS     = cairo libcurl libzip libcrypto libcjson sentencepiece
# the server's library, for the program and the tests only (libs2s does not link it)
SRV_PKGS = libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SRV_CFLAGS := $(shell pkg-config --cflags $(SRV_PKGS) 2>/dev/null)
SRV_LIBS   := $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS) $(S2S_CFLAGS) $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lopenblas -lutf8proc -lm -fopenmp -pthread -lstdc++
# The one C++ file (src/s2s_spm.cc, SentencePiece behind a C API), built with the user's CFLAGS.
CXX     ?= g++
S2S_CXXFLAGS = -std=c++17 -Wall -Wextra $(if $(WERROR),-Werror) -fPIC -fvisibility=hidden -Iinclude -Isrc

BUILD   ?= build
LIB_SRC  = $(wildcard src/*.c)
CLI_SRC  = $(wildcard cli/*.c)
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/%.o) $(BUILD)/s2s_spm.o
# the HTTP server (`seq2seq serve`): its own archive, so the library stays free of libmicrohttpd
SRV_SRC  = $(wildcard server/*.c)
SRV_OBJ  = $(SRV_SRC:server/%.c=$(BUILD)/%.o) $(BUILD)/s2s_page.o

# MPI: data-parallel training across processes (src/s2s_dist.h). The libraries hold the
# one-process src/s2s_dist.c; with MPI=1, the default when Open MPI's mpicc is on the PATH, the
# program links src/mpi/s2s_dist_mpi.c ahead of libs2s.a, whose one-process s2s_dist.o the
# linker then leaves out (MPI=0: without it). The program only initialises MPI when an MPI
# launcher started it, so without mpirun a build with MPI does what one without it does.
MPI     ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell mpicc --showme:compile)
MPI_LIBS   := $(shell mpicc --showme:link)
DIST_OBJ    = $(BUILD)/s2s_dist_mpi.o
endif
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test demo clean bench bench-serve bench-allreduce fuzz sanitize tsan install FORCE

BIN     ?= seq2seq
# The library's version is the public header's; the shared library's SONAME carries its major.
VERSION := $(shell sed -n 's/^\#define S2S_VERSION_STRING "\(.*\)"/\1/p' include/seq2seq.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SO       = $(BUILD)/libs2s.so

all: $(BUILD)/libs2s.a $(SO) $(BUILD)/libs2s_serve.a $(BIN)

# Everything is rebuilt when the flags change (a plain `make`, then `make test` with -Werror).
$(BUILD)/flags: FORCE | $(BUILD)
	@echo '$(CC) $(ALL_CFLAGS) $(CXX) $(S2S_CXXFLAGS) MPI=$(MPI)' | cmp -s - $@ || \
	    echo '$(CC) $(ALL_CFLAGS) $(CXX) $(S2S_CXXFLAGS) MPI=$(MPI)' > $@

$(BUILD)/%.o: src/%.c $(wildcard src/*.h include/*.h) Makefile $(BUILD)/flags | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: server/%.c $(wildcard src/*.h server/*.h include/*.h) $(BUILD)/flags | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(SRV_CFLAGS) -Iserver -c $< -o $@

# the page, compiled in: server/page.html stays the file to read and edit
$(BUILD)/s2s_page.c: server/page.html scripts/embed.sh | $(BUILD)
	sh scripts/embed.sh s2s_page_html < $< > $@

$(BUILD)/s2s_page.o: $(BUILD)/s2s_page.c
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/s2s_spm.o: src/s2s_spm.cc src/s2s_spm.h src/s2s_common.h include/seq2seq.h $(BUILD)/flags | $(BUILD)
	@echo "  CXX     $<"
	@$(CXX) $(CFLAGS) $(S2S_CXXFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/s2s_dist_mpi.o: src/mpi/s2s_dist_mpi.c $(wildcard src/*.h include/*.h) $(BUILD)/flags | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -c $< -o $@

$(BUILD):
	mkdir -p $(BUILD)/tests

$(BUILD)/libs2s.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# libs2s.so.VERSION with SONAME libs2s.so.MAJOR, and the two links a build and a link step use.
$(SO): $(LIB_OBJ)
	@echo "  LD      $@.$(VERSION)"
	@$(CC) -shared -Wl,-soname,libs2s.so.$(MAJOR) -Wl,--no-undefined $(CFLAGS) -fopenmp -pthread $^ \
	    $(LDLIBS) -o $@.$(VERSION)
	@ln -sf libs2s.so.$(VERSION) $@.$(MAJOR) && ln -sf libs2s.so.$(VERSION) $@

$(BUILD)/libs2s_serve.a: $(SRV_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_SRC) $(wildcard cli/*.h server/*.h) $(BUILD)/libs2s.a $(BUILD)/libs2s_serve.a $(DIST_OBJ) $(BUILD)/flags
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -Icli -Iserver $(CLI_SRC) $(DIST_OBJ) $(BUILD)/libs2s_serve.a $(BUILD)/libs2s.a $(SRV_LIBS) \
	    $(LDLIBS) $(MPI_LIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/harness.h $(BUILD)/libs2s.a $(BUILD)/libs2s_serve.a $(BUILD)/flags
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -Itests -Iserver $< $(BUILD)/libs2s_serve.a $(BUILD)/libs2s.a $(SRV_LIBS) $(LDLIBS) -o $@

deps:
	bash scripts/deps.sh

test: deps
	$(MAKE) WERROR=1 all $(TEST_BIN)
	WERROR=1 bash tests/run.sh $(BUILD)/tests  # (tests that run make build with the same flags)

DATA ?=
demo: deps
	$(MAKE) all
	bash scripts/demo.sh $(DATA)

clean:
	rm -rf build build-* seq2seq

# make install PREFIX=/usr/local [DESTDIR=...]: the program, both libraries, the public header and
# pkg-config files: `pkg-config --cflags --libs seq2seq` (libs2s.so) or seq2seq-static (libs2s.a;
# Debian ships its dependencies' shared libraries only, so not `--static`).
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/seq2seq
	install -m 644 include/seq2seq.h $(DESTDIR)$(PREFIX)/include/seq2seq.h
	install -m 644 $(BUILD)/libs2s.a $(DESTDIR)$(LIBDIR)/libs2s.a
	install -m 755 $(SO).$(VERSION) $(DESTDIR)$(LIBDIR)/libs2s.so.$(VERSION)
	ln -sf libs2s.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libs2s.so.$(MAJOR)
	ln -sf libs2s.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libs2s.so
	for pc in seq2seq seq2seq-static; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(VERSION)|; s|@PKGS@|$(PKGS)|' \
	        scripts/$$pc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/$$pc.pc || exit 1; done

bench: all
	S2S_EXTRA_PKGS="python3-torch time" bash scripts/deps.sh
	/usr/bin/python3 bench/bench.py $(BENCH_ARGS)

# The gradient exchange's cost under mpirun, ours and MPI_Allreduce, 2 and 4 ranks on this machine
# (docs/SCALING.md); BENCH_LOCK=FILE runs it under flock.
$(BUILD)/bench_allreduce: bench/allreduce.c $(DIST_OBJ) $(BUILD)/libs2s.a $(BUILD)/flags
	@$(CC) $(ALL_CFLAGS) $< $(DIST_OBJ) $(BUILD)/libs2s.a $(LDLIBS) $(MPI_LIBS) -o $@

bench-allreduce: $(BUILD)/bench_allreduce
	$(if $(filter 1,$(MPI)),,@echo "bench-allreduce needs MPI=1 (Open MPI's mpicc)"; exit 1)
	$(if $(BENCH_LOCK),flock $(BENCH_LOCK)) bash bench/allreduce.sh $(BUILD)/bench_allreduce

# seq2seq serve under bounded load (wrk) against the batched CLI; BENCH_LOCK=FILE runs it under flock
bench-serve: all
	S2S_EXTRA_PKGS="wrk" bash scripts/deps.sh
	$(if $(BENCH_LOCK),flock $(BENCH_LOCK)) /usr/bin/python3 bench/serve.py $(BENCH_ARGS)

fuzz:
	bash scripts/fuzz.sh

# The whole test suite again, built with clang's AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize:
	bash scripts/sanitize.sh

# The public API's threaded test under clang's ThreadSanitizer (no data race on one handle).
tsan:
	bash scripts/tsan.sh
