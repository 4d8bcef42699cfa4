/* CRC-32C: both implementations against published test vectors (RFC 3720
 * B.4 and the common "123456789" check value), and against each other. */
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

static void software_crc_matches_published_vectors(void)
{
    for (int i = 0; i < 5; i++) {
        uint32_t got = dl_crc32c_sw(0, vectors[i].data, vectors[i].len);
        if (got != vectors[i].crc)
            fprintf(stderr, "  %s: got %08x want %08x\n", vectors[i].what, got, vectors[i].crc);
        CHECK(got == vectors[i].crc);
    }
}

static void hardware_crc_matches_published_vectors(void)
{
    dl_crc32c_fn hw = dl_crc32c_hw();
    REQUIRE(hw != NULL); /* x86-64 with SSE4.2 or ARMv8 with CRC on this project's machines */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U64(hw(0, vectors[i].data, vectors[i].len), vectors[i].crc);
    CHECK_EQ_U64(dl_crc32c(0, "123456789", 9), 0xE3069283u);
}

static void implementations_agree_on_every_length_and_alignment(void)
{
    dl_crc32c_fn hw = dl_crc32c_hw();
    REQUIRE(hw != NULL);
    unsigned char buf[1100];
    test_fill(buf, sizeof buf, 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += (len < 64 ? 1 : 37))
            CHECK_EQ_U64(hw(0, buf + off, len), dl_crc32c_sw(0, buf + off, len));
}

static void crc_can_be_extended_in_pieces(void)
{
    unsigned char buf[300];
    test_fill(buf, sizeof buf, 3);
    uint32_t whole = dl_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 13) {
        CHECK_EQ_U64(dl_crc32c(dl_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
        CHECK_EQ_U64(dl_crc32c_sw(dl_crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut), whole);
    }
}

TEST_MAIN(
    make_vectors();
    RUN(software_crc_matches_published_vectors);
    RUN(hardware_crc_matches_published_vectors);
    RUN(implementations_agree_on_every_length_and_alignment);
    RUN(crc_can_be_extended_in_pieces);
)
