# durlog build. One plain GNU make; every output goes under $(B) (build/ by
# default; build-asan/ and build-tsan/ for the sanitizer variants).
#
#   make            library (static + shared), the durlog command, tests, benches
#   make demo       builds and runs the origin article's experiment done right
#   make check      installs missing Debian packages, then runs the whole suite
#                   (normal build, ASan+UBSan build, TSan on the threaded tests)
#   make test       the suite on the normal build only
#   make python     the Python package (python/) into $(B)/python/lib, with the
#                   first python3 on PATH (scripts/python-tests.sh)
#   make python-test  builds it and runs its pytest suite (python/tests)
#   make bench      the append, group-commit and async benchmarks (bench/README.md)
#   make bench-open open time of 1, 4 and 10 GiB logs after a reboot (15 GiB)
#   make bench-ship NATS shipping: durlog ship/restore against plain nats.c on a
#                   3-node loopback cluster (bench/nats/ship_bench.sh)
#   make soak       kill loop, multi-process stress, power loss, faults: scaled up
#   make fuzz       libFuzzer on every fuzz target, FUZZ_SECONDS (60) each
#   make install    header(s), both libraries, durlog.pc, man pages, the command
#                   under PREFIX (/usr/local), staged under DESTDIR if given
#   make uninstall  removes exactly what make install put there (same variables)
#   make clean      removes $(B)

B        ?= build
PREFIX   ?= /usr/local
bindir     ?= $(PREFIX)/bin
libdir     ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
mandir     ?= $(PREFIX)/share/man
CC       ?= cc
OPT      ?= -O2
SANITIZE ?=
WERROR   ?= -Werror
PKG_CONFIG ?= pkg-config
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra $(WERROR) \
              -Wshadow -Wstrict-prototypes -Wmissing-prototypes -pthread \
              -fvisibility=hidden $(SANITIZE)
# src/: the library's internal headers, which the command's own files do
# not get (below).
SRC_INCLUDE = -Isrc
CPPFLAGS += -Iinclude $(SRC_INCLUDE)
LDLIBS   += -pthread

# The version comes from the header's DURLOG_VERSION_* macros, so the file
# names, the soname, durlog.pc and durlog_version() cannot disagree.
version_part = $(shell sed -n 's/^\#define DURLOG_VERSION_$(1) *\([0-9][0-9]*\) *$$/\1/p' include/durlog.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION_MINOR := $(call version_part,MINOR)
VERSION_PATCH := $(call version_part,PATCH)
ifeq ($(and $(VERSION_MAJOR),$(VERSION_MINOR),$(VERSION_PATCH)),)
$(error include/durlog.h must define DURLOG_VERSION_MAJOR, _MINOR and _PATCH as plain numbers)
endif
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

# The shared library: the real file carries the whole version; programs
# record the soname (from 1.0 the major version, bumped on an incompatible
# change), and the linker's -ldurlog finds the unversioned name. Before 1.0 every
# minor release may change the ABI (0.2 renumbered the levels), so there the
# soname carries the minor version too: a program built against 0.1 is never
# run against 0.2.
SO_REAL   := libdurlog.so.$(VERSION)
ifeq ($(VERSION_MAJOR),0)
SO_NAME   := libdurlog.so.0.$(VERSION_MINOR)
else
SO_NAME   := libdurlog.so.$(VERSION_MAJOR)
endif
SO_LINK   := libdurlog.so
# The symbols the shared library exports: every public function by name,
# under one version node (tests/abi.sh checks it against the headers).
SO_MAP    := src/libdurlog.map

HEADERS   := $(sort $(wildcard include/*.h))
MAN1      := $(sort $(wildcard man/*.1))
MAN3      := $(sort $(wildcard man/*.3))
LIB_SRC   := $(sort $(wildcard src/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
DEMO_SRC  := $(sort $(wildcard demo/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

# The static library and every program are built from plain objects, the
# shared library from position-independent copies under $(B)/pic/: -fPIC is
# what a shared library needs and what a static link can do without.
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
LIB_PIC   := $(LIB_SRC:%.c=$(B)/pic/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(B)/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
DEMOS     := $(DEMO_SRC:demo/%.c=$(B)/demo/%)
# Fuzz targets built with the normal compiler and fuzz/replay.c as main():
# they replay the committed corpus in the suite (`make fuzz` uses libFuzzer).
FUZZERS   := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
PROGRAMS  := $(B)/durlog $(TESTS) $(BENCHES) $(DEMOS) $(FUZZERS) $(B)/fuzz/make_seeds
ALL_OBJ   := $(LIB_OBJ) $(LIB_PIC) $(CLI_OBJ) \
             $(addsuffix .o,$(TESTS) $(BENCHES) $(DEMOS) $(FUZZERS) $(B)/fuzz/make_seeds) \
             $(B)/fuzz/replay.o

all: $(B)/libdurlog.a $(B)/$(SO_LINK) $(PROGRAMS)

# ---- the benchmark library (bench/lib/, bench/README.md) ----
# Linked into every benchmark, the demo and the durlog command (`durlog
# bench`); fuzz/fuzz_cli.c compiles its sources in with the command's.
# The programs link its objects before libdurlog.a, which they call.
BENCHLIB_OBJ := $(patsubst %.c,$(B)/%.o,$(sort $(wildcard bench/lib/*.c)))
# The command's own files see only the public headers (include/), as any
# program of a user's would: src/ is not on their include path.
$(CLI_OBJ): SRC_INCLUDE :=
CLI_OBJ      += $(BENCHLIB_OBJ)
ALL_OBJ      += $(BENCHLIB_OBJ)
$(BENCHES) $(DEMOS): $(B)/%: $(B)/%.o $(BENCHLIB_OBJ) $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)
# ---- end of the benchmark library ----

# io_uring engine: with liburing as pkg-config knows it (Debian's
# liburing-dev; scripts/deps.sh installs it); without it the library builds
# with the thread engine only. durlog.pc then requires liburing for static
# links.
PC_REQUIRES_PRIVATE :=
ifeq ($(shell $(PKG_CONFIG) --exists liburing 2>/dev/null && echo yes),yes)
CPPFLAGS += -DDURLOG_HAVE_LIBURING $(shell $(PKG_CONFIG) --cflags liburing)
LDLIBS   += $(shell $(PKG_CONFIG) --libs liburing)
PC_REQUIRES_PRIVATE += liburing
endif

# ISA-L's CRC-32C for buffers of 256 bytes and more, on x86-64 (src/crc32c.c;
# bench/README.md "bench_crc" measured it there only): with libisal as
# pkg-config knows it (Debian's libisal-dev; scripts/deps.sh installs it);
# without it, the CPU's instruction loop does every length. durlog.pc then
# requires libisal too, for static links.
ifneq ($(filter x86_64-%,$(shell $(CC) -dumpmachine)),)
ifeq ($(shell $(PKG_CONFIG) --exists libisal 2>/dev/null && echo yes),yes)
CPPFLAGS += -DDURLOG_HAVE_ISAL $(shell $(PKG_CONFIG) --cflags libisal)
LDLIBS   += $(shell $(PKG_CONFIG) --libs libisal)
PC_REQUIRES_PRIVATE += libisal
endif
endif

# -MMD -MP: each object gets a .d file beside it naming the headers it
# included (read back below), so a header change rebuilds exactly the
# objects that use it. The Makefile is a prerequisite so that changed flags
# rebuild everything.
COMPILE = $(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(COMPILE)

$(B)/pic/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(COMPILE) -fPIC

-include $(ALL_OBJ:.o=.d)

$(B)/libdurlog.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# --no-undefined: the library names every library it needs (liburing,
# libisal), so a program links with -ldurlog alone. Not with sanitizers: clang leaves
# their run-time to the program that loads the library.
SO_NO_UNDEFINED := $(if $(SANITIZE),,-Wl,--no-undefined)

$(B)/$(SO_REAL): $(LIB_PIC) $(SO_MAP)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -shared -Wl,-soname,$(SO_NAME) \
	    -Wl,--version-script,$(SO_MAP) $(SO_NO_UNDEFINED) -o $@ $(LIB_PIC) $(LDLIBS)

$(B)/$(SO_NAME): $(B)/$(SO_REAL)
	ln -sfn $(SO_REAL) $@

$(B)/$(SO_LINK): $(B)/$(SO_NAME)
	ln -sfn $(SO_NAME) $@

$(B)/durlog: $(CLI_OBJ) $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $(CLI_OBJ) $(SHIP_LINK) $(B)/libdurlog.a $(LDLIBS)

# Tests link the static library so they can reach internal (dl_) symbols too.
$(B)/tests/%: $(B)/tests/%.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/fuzz/fuzz_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/fuzz/make_seeds: $(B)/fuzz/make_seeds.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmark peers, used when installed (scripts/bench-deps.sh installs them).
ifneq ($(wildcard /usr/include/rocksdb/c.h),)
$(B)/bench/bench_sync.o: CFLAGS += -DDURLOG_HAVE_ROCKSDB
$(B)/bench/bench_sync: LDLIBS += -lrocksdb
endif

# The plain nats.c baseline for the NATS shipping benchmarks (issue #20,
# bench/nats/nats_plain.c): built only where pkg-config knows libnats
# (Debian's libnats-dev). It uses nothing of durlog, so it stays out of the
# bench/*.c glob and links libnats alone.
ifeq ($(shell $(PKG_CONFIG) --exists libnats 2>/dev/null && echo yes),yes)
NATS_BENCH := $(B)/bench/nats/nats_plain
all: $(NATS_BENCH)
ALL_OBJ += $(NATS_BENCH).o
-include $(NATS_BENCH).d
$(NATS_BENCH).o: CPPFLAGS += $(shell $(PKG_CONFIG) --cflags libnats)
$(NATS_BENCH): $(NATS_BENCH).o
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libnats) -pthread
endif

# ---- libdurlog-ship (ship/, its header ship/durlog_ship.h): shipping a log
# to NATS JetStream and restoring it (issue #20). Built only where
# pkg-config knows libnats (Debian's libnats-dev), as a library of its own,
# so that libdurlog never depends on libnats; the durlog command gets its
# `ship` and `restore` commands then (without it, they say it is missing).
# It compiles its own copy of src/crc32c.c, renamed (dls_), since the shared
# libdurlog does not export libdurlog's.
ifeq ($(shell $(PKG_CONFIG) --exists libnats 2>/dev/null && echo yes),yes)
SHIP_SRC   := $(sort $(wildcard ship/*.c))
SHIP_OBJ   := $(SHIP_SRC:%.c=$(B)/%.o) $(B)/ship/crc32c.o
NATS_LIBS  := $(shell $(PKG_CONFIG) --libs libnats)
SHIP_RENAME := -Ddl_crc32c=dls_crc_any -Ddl_crc32c_hw=dls_crc_hw -Ddl_crc32c_isal=dls_crc_isal \
               -Ddl_crc32c_shift=dls_crc_shift -Ddl_crc32c_sw=dls_crc_sw -Ddl_crc32c_u64=dls_crc_u64
$(SHIP_OBJ): CPPFLAGS += -Iship $(SHIP_RENAME) $(shell $(PKG_CONFIG) --cflags libnats)
$(B)/ship/crc32c.o: src/crc32c.c Makefile
	@mkdir -p $(dir $@)
	$(COMPILE)
ALL_OBJ  += $(SHIP_OBJ)
-include $(SHIP_OBJ:.o=.d)
$(B)/libdurlog-ship.a: $(SHIP_OBJ)
	@rm -f $@
	ar rcs $@ $^
all: $(B)/libdurlog-ship.a
$(B)/cli/cmd_ship.o: CPPFLAGS += -Iship -DDURLOG_HAVE_SHIP
$(B)/durlog: $(B)/libdurlog-ship.a
$(B)/durlog: LDLIBS += $(NATS_LIBS)
SHIP_LINK := $(B)/libdurlog-ship.a
endif

# The shipping-lag benchmark (bench/nats/ship_lag.c, issue #20): a program
# of a user's linking libdurlog-ship, so built only where it is (libnats).
ifdef SHIP_LINK
SHIP_LAG := $(B)/bench/nats/ship_lag
all: $(SHIP_LAG)
ALL_OBJ += $(SHIP_LAG).o
-include $(SHIP_LAG).d
$(SHIP_LAG).o: CPPFLAGS += -Iship
$(SHIP_LAG): $(SHIP_LAG).o $(BENCHLIB_OBJ) $(B)/libdurlog-ship.a $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(NATS_LIBS) $(LDLIBS)
endif

deps:
	@scripts/deps.sh

demo: all
	$(B)/demo/demo

test: all
	@B=$(B) tests/run.sh

# The Python package, built with the first python3 on PATH (or DURLOG_PYTHON)
# into $(B)/python/lib: PYTHONPATH=$(B)/python/lib:$$(scripts/pyshim.sh) python3
# then imports it. It compiles libdurlog's sources in itself.
python:
	@B=$(B) scripts/python-tests.sh --build-only

python-test:
	@B=$(B) scripts/python-tests.sh

# The whole suite: what .ci/run and the README run.
check: deps
	@scripts/check.sh

bench: all
	$(B)/bench/bench_append
	$(B)/bench/bench_sync
	$(B)/bench/bench_async
	$(B)/bench/bench_readers
	$(B)/bench/bench_procs
	$(B)/bench/bench_put
	$(B)/bench/bench_crc
	$(B)/bench/bench_trim
	$(B)/bench/bench_open --sizes 1 $(B)/bench-open

# The open-time benchmark at every size the issue names (1, 4 and 10 GiB:
# writes about 15 GiB; root, to drop the page cache) and the side-by-side
# comparison with the commit before issue #14 (bench/README.md).
bench-open: all
	$(B)/bench/bench_open $(B)/bench-open
bench-compare:
	bash bench/compare_prev.sh

# The NATS shipping benchmarks of issue #20 (bench/README.md "NATS shipping"):
# a 3-node cluster on loopback, durlog ship/restore against plain nats.c.
bench-ship: all
	B=$(B) bash bench/nats/ship_bench.sh

# Long runs kept out of the default suite: 20,000 kills, 8 x 500,000 records,
# 80,000 power-loss states, every n of the fault-injection loop.
soak: all
	@DURLOG_KILL_ROUNDS=20000 DURLOG_STRESS_RECORDS=250000 DURLOG_POWERLOSS_STATES=2000 \
	 DURLOG_INJECT_ALL=1 B=$(B) tests/run.sh '^test_(processes|powerloss|inject)$$'

# libFuzzer runs of every fuzz target (clang; scripts/fuzz-deps.sh installs
# it): FUZZ_SECONDS each, on a copy of the committed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# Regenerates the committed seed corpus (after a format change).
fuzz-seeds: all
	mkdir -p fuzz/corpus/segments
	$(B)/fuzz/make_seeds fuzz/corpus/segments $(B)/seed-scratch fuzz/corpus/index

# libFuzzer on the sparse index's parser and lookups only, briefly
# (FUZZ_INDEX_SECONDS, 30): not part of the default suite, which replays
# fuzz/corpus/index through it (tests/fuzz_corpus.sh).
FUZZ_INDEX_SECONDS ?= 30
fuzz-index:
	@scripts/fuzz.sh $(FUZZ_INDEX_SECONDS) fuzz_index

# What `make install` puts under $(DESTDIR) (tests/abi.sh checks that it
# is exactly this): `make uninstall` removes these files and no directory,
# which may have been there before. The man pages are every man/*.3: a page
# per function or group of functions, and a one-line ".so man3/PAGE.3" page
# for each other function of the headers (installed as they are, as
# liburing's are), so that `man FUNCTION` finds every public function.
INSTALLED := $(bindir)/durlog \
             $(HEADERS:include/%=$(includedir)/%) \
             $(addprefix $(libdir)/,libdurlog.a $(SO_REAL) $(SO_NAME) $(SO_LINK) pkgconfig/durlog.pc) \
             $(MAN1:man/%=$(mandir)/man1/%) $(MAN3:man/%=$(mandir)/man3/%) \
             $(if $(SHIP_LINK),$(includedir)/durlog_ship.h $(libdir)/libdurlog-ship.a)

# durlog.pc names its directories relative to ${prefix} where they are
# under it, so that `pkg-config --define-variable=prefix=...` can move them.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

# DESTDIR may hold spaces (every use is quoted); the directories under it
# are make words (INSTALLED) and may not: refused rather than split, since a
# split name would have uninstall remove files outside DESTDIR.
INSTALL_DIRS_OK = @case "$(PREFIX)$(bindir)$(libdir)$(includedir)$(mandir)" in \
	  *[[:space:]]*) echo "make: PREFIX, bindir, libdir, includedir and mandir may not contain spaces" >&2; exit 2;; esac

install: $(B)/libdurlog.a $(B)/$(SO_REAL) $(B)/durlog $(SHIP_LINK)
	$(INSTALL_DIRS_OK)
	install -d "$(DESTDIR)$(bindir)" "$(DESTDIR)$(includedir)" "$(DESTDIR)$(libdir)/pkgconfig" \
	           "$(DESTDIR)$(mandir)/man1" "$(DESTDIR)$(mandir)/man3"
	install -m 755 $(B)/durlog "$(DESTDIR)$(bindir)/"
	install -m 644 $(HEADERS) "$(DESTDIR)$(includedir)/"
	install -m 644 $(B)/libdurlog.a "$(DESTDIR)$(libdir)/"
	install -m 755 $(B)/$(SO_REAL) "$(DESTDIR)$(libdir)/"
	ln -sfn $(SO_REAL) "$(DESTDIR)$(libdir)/$(SO_NAME)"
	ln -sfn $(SO_NAME) "$(DESTDIR)$(libdir)/$(SO_LINK)"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_dir,$(libdir))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_dir,$(includedir))|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES_PRIVATE)|' \
	    durlog.pc.in >"$(DESTDIR)$(libdir)/pkgconfig/durlog.pc"
	$(if $(MAN1),install -m 644 $(MAN1) "$(DESTDIR)$(mandir)/man1/")
	$(if $(MAN3),install -m 644 $(MAN3) "$(DESTDIR)$(mandir)/man3/")
	$(if $(SHIP_LINK),install -m 644 ship/durlog_ship.h "$(DESTDIR)$(includedir)/")
	$(if $(SHIP_LINK),install -m 644 $(SHIP_LINK) "$(DESTDIR)$(libdir)/")

uninstall:
	$(INSTALL_DIRS_OK)
	@for f in $(INSTALLED); do rm -f "$(DESTDIR)$$f" || exit 1; done

# Everything built lives under $(B), so this removes the one build asked for
# (make clean B=build-asan) and nothing else.
clean:
	rm -rf $(B)

.PHONY: all deps demo test python python-test check bench bench-open bench-compare bench-ship soak fuzz fuzz-seeds fuzz-index install uninstall clean
.SECONDARY:
