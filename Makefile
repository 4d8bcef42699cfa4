# durlog build. One plain GNU make; every output goes under $(B) (build/ by
# default; build-asan/ and build-tsan/ for the sanitizer variants).
#
#   make            library (static + shared), the durlog command, tests, benches
#   make demo       builds and runs the origin article's experiment done right
#   make check      installs missing Debian packages, then runs the whole suite
#                   (normal build, ASan+UBSan build, TSan on the threaded tests)
#   make test       the suite on the normal build only
#   make bench      the append, group-commit and async benchmarks (bench/README.md)
#   make bench-open open time of 1, 4 and 10 GiB logs after a reboot (15 GiB)
#   make soak       kill loop, multi-process stress, power loss, faults: scaled up
#   make fuzz       libFuzzer on every fuzz target, FUZZ_SECONDS (60) each
#   make install    PREFIX=/usr/local

B        ?= build
PREFIX   ?= /usr/local
CC       ?= cc
OPT      ?= -O2
SANITIZE ?=
WERROR   ?= -Werror
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra $(WERROR) \
              -Wshadow -Wstrict-prototypes -Wmissing-prototypes -pthread \
              -fvisibility=hidden $(SANITIZE)
CPPFLAGS += -Iinclude -Isrc
LDLIBS   += -pthread

LIB_SRC   := $(sort $(wildcard src/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
DEMO_SRC  := $(sort $(wildcard demo/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(B)/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
DEMOS     := $(DEMO_SRC:demo/%.c=$(B)/demo/%)
# Fuzz targets built with the normal compiler and fuzz/replay.c as main():
# they replay the committed corpus in the suite (`make fuzz` uses libFuzzer).
FUZZERS   := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)

all: $(B)/libdurlog.a $(B)/libdurlog.so $(B)/durlog $(TESTS) $(BENCHES) $(DEMOS) \
     $(FUZZERS) $(B)/fuzz/make_seeds

$(B)/%.o: %.c $(wildcard include/*.h src/*.h cli/*.h tests/*.h bench/*.h fuzz/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -fPIC -c $< -o $@

$(B)/libdurlog.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libdurlog.so: $(LIB_OBJ)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -shared -Wl,-soname,libdurlog.so.0 -o $@ $^ $(LDLIBS)

$(B)/durlog: $(CLI_OBJ) $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the static library so they can reach internal (dl_) symbols too.
$(B)/tests/%: $(B)/tests/%.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

# fuzz_cli.c compiles the command's sources in.
$(B)/fuzz/fuzz_cli.o: $(CLI_SRC)

$(B)/fuzz/fuzz_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/fuzz/make_seeds: $(B)/fuzz/make_seeds.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/demo/%: $(B)/demo/%.o $(B)/libdurlog.a
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $^ $(LDLIBS)

# io_uring engine: with Debian's liburing-dev (scripts/deps.sh installs it);
# without it the library builds with the thread engine only.
ifneq ($(wildcard /usr/include/liburing.h),)
CPPFLAGS += -DDURLOG_HAVE_LIBURING
LDLIBS   += -luring
URING_LIBS = -luring
endif

# Benchmark peers, used when installed (scripts/bench-deps.sh installs them).
ifneq ($(wildcard /usr/include/rocksdb/c.h),)
$(B)/bench/bench_sync.o: CFLAGS += -DDURLOG_HAVE_ROCKSDB
$(B)/bench/bench_sync: LDLIBS += -lrocksdb
endif

deps:
	@scripts/deps.sh

demo: all
	$(B)/demo/demo

test: all
	@B=$(B) tests/run.sh

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
	$(B)/bench/bench_open --sizes 1 $(B)/bench-open

# The open-time benchmark at every size the issue names (1, 4 and 10 GiB:
# writes about 15 GiB; root, to drop the page cache) and the side-by-side
# comparison with the commit before issue #14 (bench/README.md).
bench-open: all
	$(B)/bench/bench_open $(B)/bench-open
bench-compare:
	bash bench/compare_prev.sh

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
	$(B)/fuzz/make_seeds fuzz/corpus/segments $(B)/seed-scratch

VERSION := $(shell sed -n 's/^\#define DURLOG_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/durlog.h | paste -sd.)

install: $(B)/libdurlog.a $(B)/libdurlog.so $(B)/durlog
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	           $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 man/durlog.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/durlog.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@URING_LIBS@|$(URING_LIBS)|' durlog.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/durlog.pc
	install -m 644 include/durlog.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libdurlog.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libdurlog.so $(DESTDIR)$(PREFIX)/lib/libdurlog.so.0
	ln -sf libdurlog.so.0 $(DESTDIR)$(PREFIX)/lib/libdurlog.so
	install -m 755 $(B)/durlog $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-asan build-tsan build-fuzz

.PHONY: all deps demo test check bench bench-open bench-compare soak fuzz fuzz-seeds install clean
.SECONDARY:
