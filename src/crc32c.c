/*
 * crc32c.c - CRC-32C in software (slicing-by-8 tables) and with the CPU's
 * instruction (SSE4.2 on x86-64, the CRC extension on ARMv8), chosen once at
 * first use; on x86-64 built with ISA-L (Debian's libisal-dev), buffers of
 * DL_CRC_ISAL_MIN bytes and more go to ISA-L's crc32_iscsi instead. The
 * tables are built at run time from the polynomial, once, under
 * pthread_once; after that everything here is read-only.
 *
 * Why this split (bench/README.md "bench_crc" has the numbers): a record
 * (100 bytes of payload, 116-136 checksummed) takes 14-16 ns with the plain
 * instruction loop and 35-39 ns with ISA-L, whose folding code starts at
 * 256 bytes and whose path below that is slower than the loop; from 256
 * bytes on ISA-L is faster, about 5x at 4-64 KiB.
 */
#include "crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define DL_CRC_X86 1
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#define DL_CRC_ARM 1
#endif

#if defined(DURLOG_HAVE_ISAL) && defined(DL_CRC_X86)
#include <isa-l/crc.h>
#define DL_CRC_ISAL 1
/* The shortest buffer handed to ISA-L: where its folding code starts and it
 * overtakes the instruction loop (bench_crc: 25 ns against 29-31 at 256
 * bytes; at 192 bytes ISA-L's shorter path takes 47 ns against 22). */
#define DL_CRC_ISAL_MIN 256
/* crc32_iscsi takes an int length: longer buffers go in pieces of this. */
#define DL_CRC_ISAL_CHUNK ((size_t)1 << 30)
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static uint32_t crc_first_call(uint32_t crc, const void *buf, size_t len);
/* What dl_crc32c calls: crc_first_call until it has chosen. */
static _Atomic(dl_crc32c_fn) crc_best = crc_first_call;

static void build_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    /* Table k advances a byte that sits k positions further back. */
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
                              crc_table[0][crc_table[k - 1][i] & 0xff];
}

static uint32_t crc_sw_raw(uint32_t c, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#ifdef DL_CRC_X86
/* Unaligned 8-byte loads cost nothing extra on x86-64, so no alignment
 * prologue: a record's checksummed bytes start 4 bytes into it. Inline:
 * crc_x86_isal calls it for short buffers. */
__attribute__((target("sse4.2")))
static inline uint32_t crc_x86(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc;
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
    return ~(uint32_t)c;
}
#endif

#ifdef DL_CRC_ISAL
/* ISA-L keeps the CRC register as it is between calls, without the standard
 * CRC-32C's inversion on the way in and out: inverting here gives this
 * file's convention (tests/test_crc32c.c checks it against the vectors).
 * Not inlined into crc_x86_isal: its loop's registers would be saved and
 * restored there on every short buffer's call too. */
__attribute__((noinline))
static uint32_t crc_isal(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t c = ~crc;
    while (len) {
        size_t n = len < DL_CRC_ISAL_CHUNK ? len : DL_CRC_ISAL_CHUNK;
        /* ISA-L's prototype lacks const; it only reads the buffer. */
        c = crc32_iscsi((unsigned char *)p, (int)n, c);
        p += n;
        len -= n;
    }
    return ~c;
}

__attribute__((target("sse4.2")))
static uint32_t crc_x86_isal(uint32_t crc, const void *buf, size_t len)
{
    if (len < DL_CRC_ISAL_MIN)
        return crc_x86(crc, buf, len);
    return crc_isal(crc, buf, len);
}
#endif

#ifdef DL_CRC_ARM
__attribute__((target("+crc")))
static uint32_t crc_arm(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __crc32cb(c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __crc32cd(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __crc32cb(c, *p++);
    return ~c;
}
#endif

uint32_t dl_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, build_tables);
    return ~crc_sw_raw(~crc, buf, len);
}

static dl_crc32c_fn detect_hw(void)
{
#ifdef DL_CRC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        return crc_x86;
#endif
#ifdef DL_CRC_ARM
    if (getauxval(AT_HWCAP) & HWCAP_CRC32)
        return crc_arm;
#endif
    return NULL;
}

dl_crc32c_fn dl_crc32c_hw(void)
{
    return detect_hw();
}

dl_crc32c_fn dl_crc32c_isal(void)
{
#ifdef DL_CRC_ISAL
    return crc_isal;
#else
    return NULL;
#endif
}

static void choose_best(void)
{
    dl_crc32c_fn best = detect_hw();
#ifdef DL_CRC_ISAL
    if (best == crc_x86)
        best = crc_x86_isal;
#endif
    atomic_store_explicit(&crc_best, best ? best : dl_crc32c_sw, memory_order_release);
}

/* Kept out of dl_crc32c, which would otherwise save and restore registers
 * around the pthread_once call on every call (bench/crc_instr.sh: 13 of the
 * 20 instructions the dispatch cost over the inlined loop). */
static uint32_t crc_first_call(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&best_once, choose_best);
    return atomic_load_explicit(&crc_best, memory_order_acquire)(crc, buf, len);
}

#ifdef DL_CRC_X86
__attribute__((target("sse4.2")))
static uint32_t crc_x86_u64(uint32_t crc, uint64_t v)
{
    return ~(uint32_t)_mm_crc32_u64(~crc, v);
}
#endif

uint32_t dl_crc32c_u64(uint32_t crc, uint64_t v)
{
#ifdef DL_CRC_X86
    dl_crc32c_fn best = atomic_load_explicit(&crc_best, memory_order_acquire);
#ifdef DL_CRC_ISAL
    if (best == crc_x86_isal)
        return crc_x86_u64(crc, v);
#endif
    if (best == crc_x86)
        return crc_x86_u64(crc, v);
#endif
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return dl_crc32c(crc, b, sizeof b);
}

uint32_t dl_crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* One load and a jump on the hot path. */
    return atomic_load_explicit(&crc_best, memory_order_acquire)(crc, buf, len);
}

/* GF(2) polynomial arithmetic modulo the CRC polynomial, in the CRC's
 * reflected bit order (bit 31 is x^0), as zlib's crc32_combine does. */
#define DL_CRC_POLY 0x82F63B78u

static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    if (!a) /* (the loop below ends at a's lowest set bit) */
        return 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ DL_CRC_POLY : b >> 1;
    }
    return p;
}

/* x's multiplicative order modulo the CRC32C polynomial: 2^31 - 1 (a prime;
 * the polynomial is (x + 1) times a primitive one of degree 31), so
 * x^-e = x^(order - e mod order). tests/test_crc32c.c checks it. */
#define DL_CRC_X_ORDER 2147483647u

/* x^e modulo the polynomial, by squaring. */
static uint32_t xpowmodp(uint64_t e)
{
    uint32_t p = 1u << 31, sq = 1u << 30; /* x^0, x^1 */
    e %= DL_CRC_X_ORDER;
    while (e) {
        if (e & 1)
            p = multmodp(sq, p);
        sq = multmodp(sq, sq);
        e >>= 1;
    }
    return p;
}

uint32_t dl_crc32c_shift(uint32_t crc, uint64_t bytes, int back)
{
    uint64_t e = (bytes % DL_CRC_X_ORDER) * 8 % DL_CRC_X_ORDER;
    if (back && e)
        e = DL_CRC_X_ORDER - e;
    return multmodp(xpowmodp(e), crc);
}
