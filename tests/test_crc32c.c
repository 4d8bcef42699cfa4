/* CRC-32C: every implementation the library can select (the table code,
 * the CPU's instruction, ISA-L when built with it, and dl_crc32c's own
 * choice, which splits by length) against published test vectors (RFC 3720
 * B.4 and the common "123456789" check value), against a bit-at-a-time
 * reference written here from the polynomial on every length 0..1100 at
 * every alignment 0..15, and when continued from another's result. */
#include "harness.h"
#include "crc32c.h"

struct vector { const char *what; unsigned char data[48]; size_t len; uint32_t crc; };

static struct vector vectors[5];

static void make_vectors(void)
{
    vectors[0] = (struct vector){ "check value 123456789", "123456789", 9, 0xE3069283u };
    vectors[1] = (struct vector){ "32 bytes of zeros (RFC 3720)", {0}, 32, 0x8A9136AAu };
    vectors[2] = (struct vector){ "32 bytes of 0xFF (RFC 3720)", {0}, 32, 0x62A8AB43u };
    memset(vectors[2].data, 0xff, 32);
    vectors[3] = (struct vector){ "32 incrementing bytes (RFC 3720)", {0}, 32, 0x46DD794Eu };
    vectors[4] = (struct vector){ "32 decrementing bytes (RFC 3720)", {0}, 32, 0x113FDB5Cu };
    for (int i = 0; i < 32; i++) {
        vectors[3].data[i] = (unsigned char)i;
        vectors[4].data[i] = (unsigned char)(31 - i);
    }
}

struct impl { const char *name; dl_crc32c_fn fn; };

static struct impl impls[4];
static int nimpls;

/* Every implementation this build can select on this CPU. */
static void find_impls(void)
{
    impls[nimpls++] = (struct impl){ "software (dl_crc32c_sw)", dl_crc32c_sw };
    if (dl_crc32c_hw())
        impls[nimpls++] = (struct impl){ "instruction (dl_crc32c_hw)", dl_crc32c_hw() };
    if (dl_crc32c_isal())
        impls[nimpls++] = (struct impl){ "ISA-L (dl_crc32c_isal)", dl_crc32c_isal() };
    impls[nimpls++] = (struct impl){ "dl_crc32c", dl_crc32c };
}

/* One byte into the CRC register, a bit at a time: the definition itself
 * (reflected polynomial 0x82F63B78), sharing nothing with the library. */
static uint32_t reference_byte(uint32_t reg, unsigned char byte)
{
    reg ^= byte;
    for (int k = 0; k < 8; k++)
        reg = (reg >> 1) ^ ((reg & 1) ? 0x82F63B78u : 0);
    return reg;
}

static uint32_t reference(const unsigned char *p, size_t len)
{
    uint32_t reg = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        reg = reference_byte(reg, p[i]);
    return ~reg;
}

static void every_implementation_matches_published_vectors(void)
{
    for (int m = 0; m < nimpls; m++)
        for (int i = 0; i < 5; i++) {
            uint32_t got = impls[m].fn(0, vectors[i].data, vectors[i].len);
            if (got != vectors[i].crc)
                fprintf(stderr, "  %s, %s: got %08x want %08x\n", impls[m].name,
                        vectors[i].what, got, vectors[i].crc);
            CHECK(got == vectors[i].crc);
        }
    /* The reference too, or agreeing with it would prove nothing. */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U64(reference(vectors[i].data, vectors[i].len), vectors[i].crc);
}

static void this_machine_has_an_instruction_path(void)
{
    /* x86-64 with SSE4.2 or ARMv8 with CRC on this project's machines: a
     * build that lost the instruction path would pass the rest on tables. */
    CHECK(dl_crc32c_hw() != NULL);
}

static void isa_l_is_there_when_built_with_it(void)
{
#if defined(DURLOG_HAVE_ISAL) && defined(__x86_64__)
    CHECK(dl_crc32c_isal() != NULL);
#else
    SKIP_UNLESS(0, "built without ISA-L (libisal-dev, x86-64 only)");
#endif
}

static void implementations_match_the_reference_on_every_length_and_alignment(void)
{
    /* AREA: room for MAX_LEN bytes at every alignment, a multiple of the
     * 64 bytes asked of aligned_alloc (C11 requires one). */
    enum { MAX_LEN = 1100, ALIGNMENTS = 16, AREA = (MAX_LEN + ALIGNMENTS + 63) / 64 * 64 };
    unsigned char *area = aligned_alloc(64, AREA);
    REQUIRE(area);
    test_fill(area, AREA, 7);
    int reported = 0;
    for (size_t off = 0; off < ALIGNMENTS; off++) {
        const unsigned char *p = area + off;
        uint32_t reg = 0xFFFFFFFFu; /* the reference's register over p[0..len) */
        for (size_t len = 0; len <= MAX_LEN; len++) {
            uint32_t want = ~reg;
            for (int m = 0; m < nimpls; m++) {
                uint32_t got = impls[m].fn(0, p, len);
                if (got != want && reported++ < 10) {
                    fprintf(stderr, "  %s: %zu bytes at alignment %zu: got %08x want %08x\n",
                            impls[m].name, len, off, got, want);
                    th_failed_current = 1;
                }
            }
            if (len < MAX_LEN)
                reg = reference_byte(reg, p[len]);
        }
    }
    CHECK(reported == 0);
    free(area);
}

static void implementations_agree_on_long_buffers(void)
{
    /* Batches of 4 KiB to 64 KiB and more: where dl_crc32c hands off to
     * ISA-L when built with it. */
    static const size_t lens[] = { 4096, 4097, 65536, 65536 + 13, 300000 };
    size_t max = 300000 + 16;
    unsigned char *buf = malloc(max);
    REQUIRE(buf);
    test_fill(buf, max, 11);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 16; off += 5) {
            uint32_t want = reference(buf + off, lens[i]);
            for (int m = 0; m < nimpls; m++) {
                uint32_t got = impls[m].fn(0, buf + off, lens[i]);
                if (got != want)
                    fprintf(stderr, "  %s: %zu bytes at %zu: got %08x want %08x\n",
                            impls[m].name, lens[i], off, got, want);
                CHECK(got == want);
            }
        }
    free(buf);
}

static void crc_can_be_continued_by_any_implementation(void)
{
    /* crc(a||b) == crc(crc(a), b) at every cut, with a and b's halves done
     * by any two implementations: they must share one convention for the
     * running value, not just the final one. */
    enum { LEN = 1100 };
    unsigned char buf[LEN];
    test_fill(buf, sizeof buf, 3);
    uint32_t whole = reference(buf, LEN);
    int reported = 0;
    for (int a = 0; a < nimpls; a++)
        for (int b = 0; b < nimpls; b++)
            for (size_t cut = 0; cut <= LEN; cut += (a == b ? 1 : 7)) {
                uint32_t got = impls[b].fn(impls[a].fn(0, buf, cut), buf + cut, LEN - cut);
                if (got != whole && reported++ < 10) {
                    fprintf(stderr, "  %s then %s, cut at %zu: got %08x want %08x\n",
                            impls[a].name, impls[b].name, cut, got, whole);
                    th_failed_current = 1;
                }
            }
    CHECK(reported == 0);
}

/* dl_crc32c_u64, which starts a record's checksum, is dl_crc32c over the
 * number's 8 little-endian bytes, from any running value. */
static void eight_bytes_of_a_number_are_eight_bytes(void)
{
    uint64_t v = 0x0123456789abcdefull;
    for (int i = 0; i < 200; i++) {
        unsigned char b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(v >> (8 * k));
        uint32_t start = (uint32_t)(v >> 7);
        CHECK_EQ_U64(dl_crc32c_u64(start, v), dl_crc32c_sw(start, b, 8));
        CHECK_EQ_U64(dl_crc32c_u64(0, v), dl_crc32c_sw(0, b, 8));
        v = v * 6364136223846793005ull + 1442695040888963407ull;
    }
}

/* dl_crc32c_shift: the checksum of A||B from those of A and B, and back
 * (resynchronising after damage solves for a record's number with it). */
static void checksums_combine_and_shift_back(void)
{
    static unsigned char buf[70000];
    test_fill(buf, sizeof buf, 99);
    size_t cuts[] = { 0, 1, 3, 8, 255, 4096, 65537 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t a = cuts[i], b = sizeof buf - a;
        uint32_t ca = dl_crc32c(0, buf, a), cb = dl_crc32c(0, buf + a, b);
        CHECK_EQ_U64(dl_crc32c_shift(ca, b, 0) ^ cb, dl_crc32c(0, buf, sizeof buf));
        CHECK_EQ_U64(dl_crc32c_shift(dl_crc32c_shift(ca, b, 0), b, 1), ca);
    }
    /* x's order modulo the polynomial is 2^31 - 1: a shift by that many
     * bits (or a multiple of 8 of them) is no shift. */
    CHECK_EQ_U64(dl_crc32c_shift(0x12345678u, 2147483647ull, 0), 0x12345678u);
    CHECK_EQ_U64(dl_crc32c_shift(0x12345678u, 1ull << 40, 0),
                 dl_crc32c_shift(0x12345678u, (1ull << 40) % 2147483647ull, 0));
    CHECK(dl_crc32c_shift(0x12345678u, 1, 0) != 0x12345678u);
}

TEST_MAIN(
    make_vectors();
    find_impls();
    RUN(every_implementation_matches_published_vectors);
    RUN(this_machine_has_an_instruction_path);
    RUN(isa_l_is_there_when_built_with_it);
    RUN(implementations_match_the_reference_on_every_length_and_alignment);
    RUN(implementations_agree_on_long_buffers);
    RUN(crc_can_be_continued_by_any_implementation);
    RUN(eight_bytes_of_a_number_are_eight_bytes);
    RUN(checksums_combine_and_shift_back);
)
