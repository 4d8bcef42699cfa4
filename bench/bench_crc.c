/*
 * bench_crc.c - the two things every append computes besides copying its
 * bytes, CRC-32C and a timestamp, against the fastest ways known for the
 * buffer sizes durlog checksums (issue #17, "the hot path").
 *
 * CRC-32C, ns per call on buffers of 0 to 65536 bytes, 64-byte aligned and
 * one byte off:
 *   dl_crc32c           the library's entry: an atomic load of the function
 *                       chosen at first use, then an indirect call
 *   dl_crc32c_sw        the portable slicing-by-8 tables
 *   hw via pointer      the library's instruction loop (dl_crc32c_hw()),
 *                       called through a pointer the caller already holds:
 *                       dl_crc32c minus its load and its first-use check
 *   hw inline           the same loop inlined into the caller: what no
 *                       dispatch at all would cost
 *   hw 3-way            three independent crc32 streams over thirds of the
 *                       buffer (the instruction's latency is 3 cycles, its
 *                       throughput 1 per cycle), joined with a carry-less
 *                       multiply; a single stream below 3 x 32 bytes
 *   isa-l crc32_iscsi   ISA-L's CRC-32C (Debian's libisal-dev), when built
 *                       with it (DURLOG_HAVE_ISAL)
 * Each call continues the previous call's result, so calls run one after
 * another as a record's CRC does before its header is stored, and the
 * compiler cannot drop any. Every implementation is first checked against
 * dl_crc32c_sw on every length 0..1100 at 16 alignments: a row whose results
 * differ is not timed, the program fails.
 *
 * The clock, ns per call: clock_gettime(CLOCK_REALTIME) and _COARSE, the
 * library's dl_clock_now (as this machine's clock source lets it run, and
 * forced onto the time-stamp counter), rdtsc and rdtscp.
 *
 * Every (row, size) cell is timed once per round, all cells interleaved in
 * each of R rounds (default 7); the tables show medians over the rounds.
 *
 *   build/bench/bench_crc [--rounds R]
 *   build/bench/bench_crc --only ROW --size N --calls C [--offset O]
 *       runs one row C times on one size, untimed: for callgrind, which
 *       counts the instructions (bench/crc_instr.sh takes the difference
 *       between C and 2C calls, so start-up is not counted)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crc32c.h"
#include "lib/benchlib.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <x86intrin.h>
#define HAVE_X86 1
#endif
#ifdef DURLOG_HAVE_ISAL
#include <isa-l/crc.h>
#endif

/* 116-136: a 100-byte record with its header; 192 and 512 place the point
 * where ISA-L overtakes the instruction loop; 4096-65536: batches. */
static const size_t sizes[] = { 0, 8, 16, 32, 64, 100, 116, 128, 136, 192, 256, 512, 1024, 4096, 65536 };
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define MAX_SIZE 65536
/* Offsets of the buffer from a 64-byte boundary: aligned, and one byte off
 * (a record's checksummed bytes start 4 bytes into it, a payload anywhere). */
static const size_t offsets[] = { 0, 1 };
#define NOFFSETS (sizeof offsets / sizeof offsets[0])

/* ---- the CRC rows ---- */

typedef uint32_t crc_loop_fn(uint32_t crc, const unsigned char *buf, size_t len, uint64_t calls);

static uint32_t loop_dispatch(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    for (uint64_t i = 0; i < calls; i++)
        c = dl_crc32c(c, buf, len);
    return c;
}

static uint32_t loop_sw(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    for (uint64_t i = 0; i < calls; i++)
        c = dl_crc32c_sw(c, buf, len);
    return c;
}

static dl_crc32c_fn hw_fn;

static uint32_t loop_hw_pointer(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    /* A volatile read of the pointer, as a caller that cannot see which
     * function it holds would do. */
    dl_crc32c_fn *volatile where = &hw_fn;
    for (uint64_t i = 0; i < calls; i++)
        c = (*where)(c, buf, len);
    return c;
}

#ifdef HAVE_X86
/* The library's instruction loop, written out here so that it can be
 * inlined into the timing loop (the library's copy is behind a pointer). */
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t crc_stream(uint64_t c, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = _mm_crc32_u32((uint32_t)c, v);
        p += 4;
        len -= 4;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t loop_hw_inline(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    for (uint64_t i = 0; i < calls; i++)
        c = ~(uint32_t)crc_stream(~c, buf, len);
    return c;
}

/*
 * Three streams. With the raw (uninverted) CRC register, CRC(A||B) =
 * CRC(A) * x^(8|B|) + CRC(B) mod P, so thirds A, B, C of L bytes each give
 * CRC(A) * x^(16L) + CRC(B) * x^(8L) + CRC(C), C's stream started at 0.
 * The products come from pclmul: for a reflected 32-bit register a and
 * constant k, clmul(a, k) read as a 64-bit reflected value is x * a * k, and
 * crc32 over those 64 bits from 0 multiplies by x^32 mod P; so
 * k = x^(8L - 33) mod P gives a * x^(8L). Constants for the block lengths
 * used are computed once at start-up (three_way_init).
 */
static const size_t block_lens[] = { 4096, 512, 32 };
#define NBLOCKS (sizeof block_lens / sizeof block_lens[0])
static uint64_t k_one[NBLOCKS], k_two[NBLOCKS]; /* x^(8L-33), x^(16L-33) mod P */

/* x^n mod P in the reflected 32-bit form (bit 31 is x^0). */
static uint32_t x_pow_mod(uint64_t n)
{
    uint32_t v = 0x80000000u;
    while (n--)
        v = (v >> 1) ^ (0x82F63B78u & (0u - (v & 1)));
    return v;
}

static void three_way_init(void)
{
    for (size_t b = 0; b < NBLOCKS; b++) {
        k_one[b] = x_pow_mod(8 * block_lens[b] - 33);
        k_two[b] = x_pow_mod(16 * block_lens[b] - 33);
    }
}

__attribute__((target("sse4.2,pclmul")))
static uint32_t crc_three_way(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = ~crc;
    for (size_t b = 0; b < NBLOCKS; b++) {
        size_t l = block_lens[b];
        while (len >= 3 * l) {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < l; i += 8) {
                uint64_t v0, v1, v2;
                memcpy(&v0, p + i, 8);
                memcpy(&v1, p + l + i, 8);
                memcpy(&v2, p + 2 * l + i, 8);
                c = _mm_crc32_u64(c, v0);
                c1 = _mm_crc32_u64(c1, v1);
                c2 = _mm_crc32_u64(c2, v2);
            }
            __m128i prod = _mm_xor_si128(
                _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)c), _mm_cvtsi64_si128((long long)k_two[b]), 0),
                _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)c1), _mm_cvtsi64_si128((long long)k_one[b]), 0));
            c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(prod)) ^ c2;
            p += 3 * l;
            len -= 3 * l;
        }
    }
    return ~(uint32_t)crc_stream(c, p, len);
}

static uint32_t loop_three_way(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    for (uint64_t i = 0; i < calls; i++)
        c = crc_three_way(c, buf, len);
    return c;
}
#endif

#ifdef DURLOG_HAVE_ISAL
/* ISA-L keeps the CRC register as it is between calls, with neither the
 * initial nor the final inversion of the standard CRC-32C: inverting on the
 * way in and out gives dl_crc32c's convention (checked before timing). */
static uint32_t isal_crc(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}

static uint32_t loop_isal(uint32_t c, const unsigned char *buf, size_t len, uint64_t calls)
{
    for (uint64_t i = 0; i < calls; i++)
        c = isal_crc(c, buf, len);
    return c;
}
#endif

struct crc_row {
    const char *name;
    crc_loop_fn *loop;
};

static struct crc_row crc_rows[8];
static int ncrc_rows;

static void add_crc_row(const char *name, crc_loop_fn *loop)
{
    crc_rows[ncrc_rows++] = (struct crc_row){ name, loop };
}

static void set_up_crc_rows(void)
{
    hw_fn = dl_crc32c_hw();
    add_crc_row("dl_crc32c", loop_dispatch);
    add_crc_row("dl_crc32c_sw", loop_sw);
    if (hw_fn)
        add_crc_row("hw via pointer", loop_hw_pointer);
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        add_crc_row("hw inline", loop_hw_inline);
        if (__builtin_cpu_supports("pclmul")) {
            three_way_init();
            add_crc_row("hw 3-way", loop_three_way);
        }
    }
#endif
#ifdef DURLOG_HAVE_ISAL
    add_crc_row("isa-l crc32_iscsi", loop_isal);
#endif
}

/* Every row against the table code, on every length 0..1100 at every
 * alignment 0..15, from a nonzero starting CRC (continuation) and from 0. */
static void check_crc_rows(const unsigned char *area)
{
    static const uint32_t starts[] = { 0, 0x12345678u };
    for (int r = 0; r < ncrc_rows; r++)
        for (size_t off = 0; off < 16; off++)
            for (size_t len = 0; len <= 1100; len++)
                for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
                    uint32_t start = starts[i];
                    uint32_t want = dl_crc32c_sw(start, area + off, len);
                    uint32_t got = crc_rows[r].loop(start, area + off, len, 1);
                    if (got != want)
                        bench_die("%s: CRC of %zu bytes at offset %zu from %08x is %08x, "
                                  "the table code's %08x", crc_rows[r].name, len, off,
                                  start, got, want);
                }
    static const unsigned char check[] = "123456789";
    for (int r = 0; r < ncrc_rows; r++)
        if (crc_rows[r].loop(0, check, 9, 1) != 0xE3069283u)
            bench_die("%s: CRC of \"123456789\" is not e3069283", crc_rows[r].name);
}

/* ---- the clock rows ---- */

static struct dl_clock lib_clock, tsc_clock;

static uint64_t clock_read(int which)
{
    struct timespec ts;
    switch (which) {
    case 0:
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    case 1:
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    case 2:
        return dl_clock_now(&lib_clock);
    case 3:
        return dl_clock_now(&tsc_clock);
#ifdef HAVE_X86
    case 4:
        return __rdtsc();
    case 5: {
        unsigned aux;
        return __rdtscp(&aux);
    }
#endif
    }
    return 0;
}

static const char *clock_names[] = {
    "clock_gettime(CLOCK_REALTIME)", "clock_gettime(CLOCK_REALTIME_COARSE)",
    "dl_clock_now (as chosen here)", "dl_clock_now (forced onto the TSC)",
    "rdtsc", "rdtscp",
};
#ifdef HAVE_X86
#define NCLOCKS 6
#else
#define NCLOCKS 4
#endif

/* Where untimed results go, so that no loop is optimised away. */
static volatile uint64_t sink;

static void __attribute__((noinline)) clock_loop(int which, uint64_t calls)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < calls; i++)
        s += clock_read(which);
    sink += s;
}

/* ---- running ---- */

/* Calls per timed cell: about 4 MB of checksummed bytes, at least 2,000. */
static uint64_t calls_for(size_t len)
{
    uint64_t n = (4u << 20) / (len + 32);
    return n < 2000 ? 2000 : n;
}

static unsigned char *new_area(void)
{
    unsigned char *area = aligned_alloc(64, MAX_SIZE + 64);
    if (!area)
        bench_die("out of memory");
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < MAX_SIZE + 64; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        area[i] = (unsigned char)x;
    }
    return area;
}

static int run_one(const char *only, size_t size, uint64_t calls, size_t offset)
{
    unsigned char *area = new_area();
    if (size > MAX_SIZE || offset > 63)
        bench_die("--size at most %d, --offset at most 63", MAX_SIZE);
    for (int r = 0; r < ncrc_rows; r++)
        if (strcmp(crc_rows[r].name, only) == 0) {
            sink += crc_rows[r].loop(0, area + offset, size, calls);
            free(area);
            return 0;
        }
    for (int k = 0; k < NCLOCKS; k++)
        if (strcmp(clock_names[k], only) == 0) {
            clock_loop(k, calls);
            free(area);
            return 0;
        }
    fprintf(stderr, "bench_crc: no row named \"%s\"; rows:", only);
    for (int r = 0; r < ncrc_rows; r++)
        fprintf(stderr, " \"%s\"", crc_rows[r].name);
    for (int k = 0; k < NCLOCKS; k++)
        fprintf(stderr, " \"%s\"", clock_names[k]);
    fprintf(stderr, "\n");
    free(area);
    return 2;
}

int main(int argc, char **argv)
{
    int rounds = 7;
    const char *only = NULL;
    size_t one_size = 116, one_offset = 0;
    uint64_t one_calls = 1000000;
    const struct bench_opt opts[] = {
        BENCH_OPT_RANGE("--rounds", 'i', &rounds, 1, 99),
        BENCH_OPT("--only", 's', &only),
        BENCH_OPT_RANGE("--size", 'z', &one_size, 0, MAX_SIZE),
        BENCH_OPT_RANGE("--calls", 'u', &one_calls, 1, 0),
        BENCH_OPT_RANGE("--offset", 'z', &one_offset, 0, 63),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts,
                         "usage: bench_crc [--rounds R]\n"
                         "       bench_crc --only ROW --size N --calls C [--offset O]"))
        return 2;
    set_up_crc_rows();
    dl_clock_init(&lib_clock);
    dl_clock_init(&tsc_clock);
#ifdef HAVE_X86
    tsc_clock.use_counter = 1;
#endif
    if (only)
        return run_one(only, one_size, one_calls, one_offset);

    unsigned char *area = new_area();
    check_crc_rows(area);

    size_t cells = (size_t)ncrc_rows * NSIZES * NOFFSETS;
    double *ns = calloc(cells * (size_t)rounds, sizeof *ns);
    double *clock_ns = calloc((size_t)NCLOCKS * (size_t)rounds, sizeof *clock_ns);
    if (!ns || !clock_ns)
        bench_die("out of memory");
    uint32_t c = 0;
    for (int round = 0; round < rounds; round++) {
        /* Rows inside sizes: neighbouring cells of a row are timed at
         * different moments of the round, every row at each moment. */
        for (size_t o = 0; o < NOFFSETS; o++)
            for (size_t s = 0; s < NSIZES; s++)
                for (int r = 0; r < ncrc_rows; r++) {
                    uint64_t calls = calls_for(sizes[s]);
                    uint64_t t0 = bench_now_ns();
                    c = crc_rows[r].loop(c, area + offsets[o], sizes[s], calls);
                    uint64_t t1 = bench_now_ns();
                    size_t cell = ((size_t)r * NOFFSETS + o) * NSIZES + s;
                    ns[cell * (size_t)rounds + (size_t)round] = (double)(t1 - t0) / (double)calls;
                }
        for (int k = 0; k < NCLOCKS; k++) {
            uint64_t calls = 2000000;
            uint64_t t0 = bench_now_ns();
            clock_loop(k, calls);
            uint64_t t1 = bench_now_ns();
            clock_ns[(size_t)k * (size_t)rounds + (size_t)round] = (double)(t1 - t0) / (double)calls;
        }
    }
    sink += c;

    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    char source[32] = "unknown";
    if (f) {
        if (fgets(source, sizeof source, f))
            source[strcspn(source, "\n")] = '\0';
        fclose(f);
    }
    printf("bench_crc: CRC-32C and the clock, medians over %d interleaved rounds (%s, "
           "clock source %s)\n", rounds, cpu, source);
    for (size_t o = 0; o < NOFFSETS; o++) {
        printf("\nCRC-32C, ns per call, buffer %s (bytes/ns in brackets from 1024 bytes up)\n",
               offsets[o] ? "one byte past a 64-byte boundary" : "64-byte aligned");
        printf("%-20s", "bytes");
        for (size_t s = 0; s < NSIZES; s++)
            printf(" %11zu", sizes[s]);
        printf("\n");
        for (int r = 0; r < ncrc_rows; r++) {
            printf("%-20s", crc_rows[r].name);
            for (size_t s = 0; s < NSIZES; s++) {
                size_t cell = ((size_t)r * NOFFSETS + o) * NSIZES + s;
                double m = bench_median(ns + cell * (size_t)rounds, rounds);
                char text[32];
                if (sizes[s] >= 1024)
                    snprintf(text, sizeof text, "%.0f (%.1f)", m, (double)sizes[s] / m);
                else
                    snprintf(text, sizeof text, "%.1f", m);
                printf(" %11s", text);
            }
            printf("\n");
        }
    }
    struct timespec res;
    clock_getres(CLOCK_REALTIME_COARSE, &res);
    printf("\nclock, ns per call (CLOCK_REALTIME_COARSE ticks every %.3f ms here)\n",
           (double)res.tv_nsec / 1e6);
    for (int k = 0; k < NCLOCKS; k++)
        printf("%-38s %8.1f\n", clock_names[k],
               bench_median(clock_ns + (size_t)k * (size_t)rounds, rounds));
    free(ns);
    free(clock_ns);
    free(area);
    return 0;
}
